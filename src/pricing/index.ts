import type { Pricer } from './pricer.js';
import { costNanos } from './cost.js';
import { createMatcher, priceAt } from './match.js';
import type { PriceEntry, PriceTable } from './table.js';

export { loadPriceTable, PriceFileError } from './table.js';
export type { PriceEntry, PriceTable } from './table.js';
export type { Pricer } from './pricer.js';

export interface PriceLookup extends Pricer {
  /** The entry price() would apply to an event for this model and provider at `at` (default: now). */
  lookup(model: string, provider?: string, at?: Date): PriceEntry | undefined;
}

/**
 * Prices records whose cost_source is 'unpriced' on entry (normalise() marks every event without a reported
 * cost so): the price in effect at the event's own timestamp, never at ingest time. A reported cost is left as
 * it is; a model without a price stays 'unpriced' with cost 0.
 */
export function createPricer(table: PriceTable): PriceLookup {
  const matcher = createMatcher(table);
  const pointFor = (model: string, provider: string, ts: number) => {
    const series = matcher.find(model, provider);
    return series && priceAt(series, ts);
  };
  return {
    price(record) {
      if (record.cost_source !== 'unpriced') return;
      const point = pointFor(record.model, record.provider, record.ts);
      if (!point) return;
      record.cost_nanos = costNanos(record, point.unit);
      record.cost_source = 'computed';
    },
    lookup(model, provider = '', at = new Date()) {
      return pointFor(model, provider, at.getTime())?.entry;
    },
  };
}

/** One line of `tokentally prices`: USD per million tokens; a null cache price means "billed as input". */
export interface PriceRow {
  provider: string;
  model: string;
  aliases: string[];
  input: number;
  output: number;
  cache_read: number | null;
  cache_write: number | null;
  effective_from: string | null;
  /** When a later entry (a scheduled change) takes over, if any. */
  next_change: string | null;
  source: string;
  as_of: string | null;
  origin: PriceEntry['origin'];
  note: string | null;
}

/** The price of every model in effect at `at` (default: now), ordered by provider and model. */
export function describePrices(table: PriceTable, at: Date = new Date()): PriceRow[] {
  const t = at.getTime();
  return table.models.flatMap((m) => {
    let i = m.prices.length - 1;
    while (i >= 0 && m.prices[i]!.fromMs > t) i -= 1;
    const e = m.prices[i];
    if (!e) return [];
    return [{
      provider: m.provider,
      model: m.model,
      aliases: m.names.filter((n) => n !== m.model.toLowerCase()),
      input: e.input,
      output: e.output,
      cache_read: e.cache_read ?? null,
      cache_write: e.cache_write ?? null,
      effective_from: e.effective_from ?? null,
      next_change: m.prices[i + 1]?.effective_from ?? null,
      source: e.source,
      as_of: e.as_of ?? null,
      origin: e.origin,
      note: e.note ?? null,
    }];
  });
}
