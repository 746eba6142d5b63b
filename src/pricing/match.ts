import { unitPrices, type UnitPrices } from './cost.js';
import type { PriceEntry, PriceTable } from './table.js';

/**
 * Deterministic model-name matching (docs/pricing.md, "Matching"). A name is tried as sent (case-insensitive),
 * then without a dated snapshot suffix, then without a leading `provider/` prefix (with and without the suffix).
 * The first form that names a model of the event's provider wins; failing that, the first form that names any
 * model, taking providers in PROVIDER_ORDER. Nothing else: no prefixes, substrings or edit distances.
 */

export interface PricePoint {
  fromMs: number;
  entry: PriceEntry;
  unit: UnitPrices;
}
/** A model's prices ordered by fromMs; the one in effect at t is the last with fromMs ≤ t. */
export type PriceSeries = readonly PricePoint[];

/** Other spellings of our provider ids: OTel `gen_ai.provider.name` values, LiteLLM and OpenRouter prefixes. */
const PROVIDER_ALIASES = new Map<string, string>([
  ['gcp.gemini', 'google'], ['gcp.vertex_ai', 'google'], ['gcp.gen_ai', 'google'], ['gemini', 'google'],
  ['vertex_ai', 'google'], ['vertexai', 'google'],
  ['mistral_ai', 'mistral'], ['mistralai', 'mistral'],
  ['x_ai', 'xai'], ['x-ai', 'xai'],
  ['moonshot', 'moonshotai'],
  ['zhipu', 'zhipuai'],
  ['together_ai', 'together'], ['togetherai', 'together'],
  ['fireworks_ai', 'fireworks'], ['fireworks-ai', 'fireworks'],
]);

export function canonicalProvider(name: string): string {
  const p = name.trim().toLowerCase();
  return PROVIDER_ALIASES.get(p) ?? p;
}

/** When the event names no provider the table has: a model's maker before the hosts that resell it. */
const PROVIDER_ORDER = ['openai', 'anthropic', 'google', 'mistral', 'deepseek', 'xai', 'moonshotai', 'zhipuai',
  'groq', 'together', 'fireworks', 'cerebras'];

/** -YYYY-MM-DD, -YYYYMMDD or @YYYYMMDD (Vertex) at the very end, with a real month and day. */
const MONTH = '(?:0[1-9]|1[0-2])';
const DAY = '(?:0[1-9]|[12]\\d|3[01])';
const SNAPSHOT = new RegExp(`(?:-20\\d\\d-${MONTH}-${DAY}|[-@]20\\d\\d${MONTH}${DAY})$`);

export function priceAt(series: PriceSeries, ts: number): PricePoint | undefined {
  for (let i = series.length - 1; i >= 0; i--) {
    const point = series[i]!;
    if (point.fromMs <= ts) return point;
  }
  return undefined;
}

interface Candidate {
  provider: string;
  series: PriceSeries;
}
interface Form {
  name: string;
  provider: string;
}

function forms(model: string, provider: string, known: ReadonlySet<string>): Form[] {
  const name = model.toLowerCase();
  const out: Form[] = [{ name, provider }];
  const undated = name.replace(SNAPSHOT, '');
  if (undated !== name) out.push({ name: undated, provider });
  const slash = name.indexOf('/');
  const prefix = slash > 0 ? canonicalProvider(name.slice(0, slash)) : '';
  // The prefix names the provider, so it is the hint for the rest ("openai/gpt-4o" sent through OpenRouter).
  if (known.has(prefix)) out.push(...forms(name.slice(slash + 1), prefix, new Set()));
  return out;
}

export interface Matcher {
  /** The prices of the model an event names, or undefined when no rule matches. */
  find(model: string, provider: string): PriceSeries | undefined;
}

// Model strings come from clients, so the cache is bounded; past the limit it starts over rather than grow.
const CACHE_LIMIT = 10_000;

/** Builds the name index once; each (provider, model) string pair is resolved once and then served from a cache. */
export function createMatcher(table: PriceTable): Matcher {
  const rank = (p: string) => {
    const i = PROVIDER_ORDER.indexOf(p);
    return i < 0 ? PROVIDER_ORDER.length : i;
  };
  const models = [...table.models].sort(
    (a, b) => rank(a.provider) - rank(b.provider) || a.provider.localeCompare(b.provider),
  );
  const byName = new Map<string, Candidate[]>();
  for (const m of models) {
    const series = m.prices.map((entry) => ({ fromMs: entry.fromMs, entry, unit: unitPrices(entry) }));
    for (const name of m.names) byName.set(name, [...(byName.get(name) ?? []), { provider: m.provider, series }]);
  }
  const known = new Set(models.map((m) => m.provider));

  const resolve = (model: string, provider: string): PriceSeries | undefined => {
    const list = forms(model, canonicalProvider(provider), known);
    for (const f of list) {
      const hit = byName.get(f.name)?.find((c) => c.provider === f.provider);
      if (hit) return hit.series;
    }
    for (const f of list) {
      const first = byName.get(f.name)?.[0];
      if (first) return first.series;
    }
    return undefined;
  };

  let cache = new Map<string, Map<string, PriceSeries | null>>();
  let size = 0;
  return {
    find(model, provider) {
      const hit = cache.get(provider)?.get(model);
      if (hit !== undefined) return hit ?? undefined;
      const found = resolve(model, provider) ?? null;
      if (size >= CACHE_LIMIT) {
        cache = new Map();
        size = 0;
      }
      let perProvider = cache.get(provider);
      if (!perProvider) cache.set(provider, (perProvider = new Map()));
      perProvider.set(model, found);
      size += 1;
      return found ?? undefined;
    },
  };
}
