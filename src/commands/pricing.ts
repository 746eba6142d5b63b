import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { createPricer, describePrices, loadPriceTable } from '../pricing/index.js';
import type { Store } from '../store/types.js';

function instant(name: string, value: string | undefined): number {
  const ms = value === undefined ? NaN : Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(ms)) throw new Error(`--${name}: give a date (YYYY-MM-DD) or an RFC 3339 time`);
  return ms;
}

/** `tokentally prices [--at DATE] [--json]`: the table in effect, built-in merged with PRICES_FILE. */
export function printPrices(config: Config, args: string[]): void {
  const { values } = parseArgs({ args, options: { at: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const at = values.at === undefined ? new Date() : new Date(instant('at', values.at));
  const rows = describePrices(loadPriceTable({ userFile: config.PRICES_FILE }), at);
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const usd = (n: number | null) => (n === null ? '=input' : String(n)).padStart(9);
  console.log(`USD per million tokens in effect at ${at.toISOString()} (cache price "=input": billed as input)`);
  console.log(`${'provider/model'.padEnd(48)} ${'input'.padStart(9)} ${'output'.padStart(9)} ${'cache rd'.padStart(9)} ${'cache wr'.padStart(9)}  origin`);
  for (const r of rows) {
    console.log(`${`${r.provider}/${r.model}`.padEnd(48)} ${usd(r.input)} ${usd(r.output)} ${usd(r.cache_read)} ${usd(r.cache_write)}  ${r.origin}${r.next_change ? ` (changes ${r.next_change})` : ''}`);
  }
}

/** `tokentally reprice --from D --to D [--model M ...]`: recompute non-reported costs; rollups follow. */
export async function reprice(config: Config, store: Store, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, model: { type: 'string', multiple: true } } });
  const from = instant('from', values.from);
  const to = instant('to', values.to);
  if (from >= to) throw new Error('--from: must be before --to');
  const pricer = createPricer(loadPriceTable({ userFile: config.PRICES_FILE }));
  const result = await store.reprice({ from, to, models: values.model ?? null }, (record) => pricer.price(record));
  console.log(`repriced ${result.changed} of ${result.examined} events without a reported cost between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`);
}
