#!/usr/bin/env node
// Regenerates src/pricing/prices.json from the catalogue bundled in @pydantic/genai-prices.
// Run: `node scripts/update-prices.mjs` (after bumping the devDependency). Plain ESM JavaScript so it
// runs on Node 20 without a TypeScript loader. See docs/pricing.md for what is kept and why.
import { readFileSync, writeFileSync } from 'node:fs';
import { calcPrice, waitForUpdate } from '@pydantic/genai-prices';

const ROOT = new URL('../', import.meta.url);
const OUT = new URL('src/pricing/prices.json', ROOT);
const PKG = JSON.parse(readFileSync(new URL('node_modules/@pydantic/genai-prices/package.json', ROOT), 'utf8'));
const SOURCE = `@pydantic/genai-prices ${PKG.version}`;
const TODAY = new Date().toISOString().slice(0, 10);

// Catalogue provider id -> ours: the first-party APIs, then hosts of the major open models (Llama, Qwen,
// gpt-oss, DeepSeek, Kimi, GLM). Aggregators (OpenRouter) and clouds with their own ids (Bedrock) are left out.
const PROVIDERS = new Map([
  ['openai', 'openai'], ['anthropic', 'anthropic'], ['google', 'google'], ['mistral', 'mistral'],
  ['deepseek', 'deepseek'], ['x-ai', 'xai'], ['moonshotai', 'moonshotai'], ['zhipuai', 'zhipuai'],
  ['groq', 'groq'], ['together', 'together'], ['fireworks', 'fireworks'], ['cerebras', 'cerebras'],
]);
// Token rates the usage event cannot tell apart from text tokens; named in the entry's note.
const UNSPLIT_RATES = ['input_audio_mtok', 'output_audio_mtok', 'cache_audio_read_mtok', 'input_image_mtok',
  'output_image_mtok', 'cache_image_read_mtok', 'input_video_mtok', 'output_video_mtok', 'output_reasoning_mtok',
  'cache_write_1h_mtok'];

const baseOf = (v) => (typeof v === 'object' && v !== null ? v.base : v);

/** The model id the catalogue itself resolves `name` to for this provider: every alias we ship is one it matches. */
function catalogueModel(providerId, name) {
  try {
    const r = calcPrice({ input_tokens: 1, output_tokens: 1 }, name, { providerId });
    return r && r.provider.id === providerId ? r.model.id : undefined;
  } catch {
    return undefined;
  }
}

/** Literal strings in a match rule; regex clauses are skipped (snapshot-date regexes are covered by suffix stripping). */
function literals(rule) {
  if ('or' in rule) return rule.or.flatMap(literals);
  if ('and' in rule) return rule.and.flatMap(literals);
  const v = rule.equals ?? rule.starts_with ?? rule.ends_with ?? rule.contains;
  return v === undefined ? [] : [v];
}

// A starts_with literal like "claude-sonnet-4-2025" or "gpt-4o-2024-" is a prefix, not a name anyone sends; fine-tuned
// models ("ft:gpt-4o-2024-08-06:org::id") carry job suffixes our exact matching never reduces, so their rules are dropped.
const looksLikeName = (s) => !/[-.@:/_]$/.test(s) && !/-20\d\d$/.test(s) && !s.startsWith('ft:');

/** Canonical id plus aliases, all confirmed against the catalogue's own matching; case-insensitive duplicates dropped. */
function namesOf(providerId, model) {
  const seen = new Set();
  const names = [];
  for (const n of [model.id, ...literals(model.match)]) {
    if (seen.has(n.toLowerCase()) || !looksLikeName(n) || catalogueModel(providerId, n) !== model.id) continue;
    seen.add(n.toLowerCase());
    names.push(n);
  }
  return names;
}

/**
 * Splits the catalogue's conditional prices into periods by start_date. Time-of-day windows (DeepSeek peak and
 * off-peak) cannot be expressed in our table: within a period the dearest window is kept, an upper bound.
 */
function periods(prices) {
  if (!Array.isArray(prices)) return [{ from: undefined, set: prices, windows: false }];
  const out = [];
  prices.forEach(({ constraint, prices: set }, i) => {
    const type = constraint?.type;
    if ((type === undefined) !== (i === 0)) throw new Error('expected exactly one unconstrained price, listed first');
    if (type === 'start_date' && constraint.start_date <= (out.at(-1).from ?? '')) throw new Error('start dates out of order');
    if (type === 'time_of_date') out.at(-1).sets.push(set);
    else out.push({ from: constraint?.start_date, sets: [set] });
  });
  return out.map((p) => ({
    from: p.from,
    set: p.sets.reduce((a, b) => (baseOf(b.input_mtok) > baseOf(a.input_mtok) ? b : a)),
    windows: p.sets.length > 1,
  }));
}

/** One table entry for a price set, or undefined when the set is not priced per token (audio hours, pages). */
function entry(provider, names, period) {
  const { set, windows } = period;
  const keys = Object.keys(set);
  if (set.input_mtok === undefined && keys.length > 0) return undefined;
  const notes = [];
  if (keys.length === 0) notes.push('free of charge per the catalogue');
  if (set.input_mtok !== undefined && set.output_mtok === undefined) notes.push('no output price listed');
  const tiered = keys.filter((k) => typeof set[k] === 'object');
  if (tiered.length) {
    const starts = [...new Set(tiered.flatMap((k) => set[k].tiers.map((t) => t.start)))];
    notes.push(`base tier applied; the catalogue charges more above ${starts.join('/')} input tokens`);
  }
  if (windows) notes.push('time-of-day pricing: the peak rate is applied (an upper bound)');
  const unsplit = UNSPLIT_RATES.filter((k) => k in set);
  if (unsplit.length) notes.push(`not applied: ${unsplit.join(', ')}`);
  const e = {
    provider,
    model: names[0],
    ...(names.length > 1 ? { aliases: names.slice(1).sort() } : {}),
    input: baseOf(set.input_mtok) ?? 0,
    output: baseOf(set.output_mtok) ?? 0,
    ...(set.cache_read_mtok !== undefined ? { cache_read: baseOf(set.cache_read_mtok) } : {}),
    ...(set.cache_write_mtok !== undefined ? { cache_write: baseOf(set.cache_write_mtok) } : {}),
    ...(period.from ? { effective_from: period.from } : {}),
    source: SOURCE,
    as_of: TODAY,
    ...(notes.length ? { note: notes.join('; ') } : {}),
  };
  for (const k of ['input', 'output', 'cache_read', 'cache_write']) {
    if (e[k] !== undefined && Math.round(e[k] * 1e6) / 1e6 !== e[k]) {
      throw new Error(`${provider}/${e.model}: ${k} ${e[k]} has more than 6 decimals`);
    }
  }
  return e;
}

/**
 * Our formula must agree with the catalogue's own arithmetic on a small usage (below every tier) at noon inside the
 * entry's period; this checks that we read its semantics (cache counts inside input, absent cache price = input
 * price) right. Skipped for time windows and per-request fees, which the catalogue adds and we do not.
 */
function verify(catalogueId, catalogueModelId, e, period, nextFrom) {
  if (period.windows) return;
  const usage = { input_tokens: 10_000, cache_read_tokens: 3_000, cache_write_tokens: 1_000, output_tokens: 2_000 };
  const dayBefore = (d) => new Date(Date.parse(d) - 86_400_000).toISOString().slice(0, 10);
  const day = e.effective_from ?? (nextFrom ? dayBefore(nextFrom) : TODAY);
  const r = calcPrice(usage, catalogueModelId, { providerId: catalogueId, timestamp: new Date(`${day}T12:00:00Z`) });
  if (!r || 'requests_kcount' in r.model_price) return;
  const ours = (6_000 * e.input + 3_000 * (e.cache_read ?? e.input) + 1_000 * (e.cache_write ?? e.input)
    + 2_000 * e.output) / 1e6;
  if (Math.abs(ours - r.total_price) > 1e-12) {
    throw new Error(`${e.provider}/${e.model}: ours ${ours} != catalogue ${r.total_price}`);
  }
}

const entryKey = (e) => `${e.provider}/${e.model}/${e.effective_from ?? ''}`;
const previous = (() => {
  try {
    return new Map(JSON.parse(readFileSync(OUT, 'utf8')).prices.map((e) => [entryKey(e), e]));
  } catch {
    return new Map(); // first run: no earlier file
  }
})();
/** Keeps the earlier as_of when nothing but the date would change, so a regeneration diff shows real changes only. */
function keepAsOf(e) {
  const old = previous.get(entryKey(e));
  return old && JSON.stringify({ ...old, as_of: e.as_of }) === JSON.stringify(e) ? { ...e, as_of: old.as_of } : e;
}

// waitForUpdate() resolves to the bundled catalogue when no remote update source is configured: no network.
const catalogue = await waitForUpdate();
const prices = [];
const skipped = [];
for (const p of catalogue) {
  const provider = PROVIDERS.get(p.id);
  if (!provider) continue;
  for (const m of p.models) {
    const names = namesOf(p.id, m);
    const ps = periods(m.prices);
    const entries = names.length ? ps.map((period) => entry(provider, names, period)) : [undefined];
    if (entries.some((e) => e === undefined)) {
      skipped.push(`${p.id}/${m.id}`);
      continue;
    }
    entries.forEach((e, i) => verify(p.id, m.id, e, ps[i], ps[i + 1]?.from));
    prices.push(...entries.map(keepAsOf));
  }
}

const lower = (s) => s.toLowerCase();
prices.sort((a, b) => a.provider.localeCompare(b.provider) || lower(a.model).localeCompare(lower(b.model))
  || (a.effective_from ?? '').localeCompare(b.effective_from ?? ''));
const file = {
  comment: `Generated by scripts/update-prices.mjs from ${SOURCE}. Do not edit: override prices with PRICES_FILE`
    + ' (docs/pricing.md).',
  prices,
};
writeFileSync(OUT, `${JSON.stringify(file, null, 2)}\n`);
const models = new Set(prices.map((e) => `${e.provider}/${e.model}`)).size;
console.log(`wrote ${prices.length} entries for ${models} models to src/pricing/prices.json`);
console.log(`skipped (not priced per token, or no name the catalogue matches): ${skipped.join(', ') || 'none'}`);
