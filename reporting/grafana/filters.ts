import { badRequest } from '../../src/http/errors.js';
import { DIMENSIONS, type Dimension, type Filters } from '../../src/store/types.js';

export interface AdHocFilter {
  key: string;
  operator: string;
  value?: string;
  values?: string[];
}

/**
 * Grafana interpolates variables regex-escaped: `gemini-2\.5-flash`, several values as `(a|b)`,
 * "All" as `.*` or `$__all`. Turns that back into the plain values, or null for "no filter".
 */
export function variableValues(text: string): string[] | null {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === '.*' || trimmed === '*' || trimmed === '$__all' || trimmed === 'All') return null;
  const inner = /^\((.*)\)$/s.exec(trimmed)?.[1] ?? trimmed;
  const values: string[] = [];
  let current = '';
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i]!;
    if (ch === '\\' && i + 1 < inner.length) current += inner[++i];
    else if (ch === '|') values.push(current), (current = '');
    else current += ch;
  }
  values.push(current);
  return values;
}

/** Filters from the target's payload fields named after dimensions. */
export function payloadFilters(payload: Record<string, unknown>): Filters {
  const filters: Filters = {};
  for (const d of DIMENSIONS) {
    const raw = payload[d];
    if (raw === undefined || raw === null) continue;
    const values = Array.isArray(raw) ? raw.map(String) : variableValues(String(raw));
    if (values) filters[d] = values;
  }
  return filters;
}

function matcher(f: AdHocFilter): (value: string) => boolean {
  const value = f.value ?? '';
  const list = f.values ?? [value];
  const regex = () => {
    try {
      return new RegExp(`^(?:${value})$`);
    } catch {
      throw badRequest(`filters: "${value}" is not a valid regular expression`);
    }
  };
  const compare = (v: string) => {
    const [a, b] = [Number(v), Number(value)];
    return Number.isFinite(a) && Number.isFinite(b) ? a - b : v.localeCompare(value);
  };
  switch (f.operator) {
    case '=': return (v) => v === value;
    case '!=': return (v) => v !== value;
    case '=~': { const r = regex(); return (v) => r.test(v); }
    case '!~': { const r = regex(); return (v) => !r.test(v); }
    case '<': return (v) => compare(v) < 0;
    case '>': return (v) => compare(v) > 0;
    case '<=': return (v) => compare(v) <= 0;
    case '>=': return (v) => compare(v) >= 0;
    case '=|': return (v) => list.includes(v);
    case '!=|': return (v) => !list.includes(v);
    default: throw badRequest(`filters: operator "${f.operator}" is not one of =, !=, =~, !~, <, >, <=, >=, =|, !=|`);
  }
}

/**
 * Ad hoc filters become plain value lists: every operator is applied in JavaScript to the values the
 * dimension really has, so regexes never reach SQL and every backend filters the same way.
 */
export async function adHocFilters(filters: AdHocFilter[], distinct: (d: Dimension) => Promise<string[]>): Promise<Filters> {
  const result: Filters = {};
  for (const f of filters) {
    if (!DIMENSIONS.includes(f.key as Dimension)) throw badRequest(`filters: unknown key "${f.key}"; use one of ${DIMENSIONS.join(', ')}`);
    const d = f.key as Dimension;
    const test = matcher(f);
    const allowed = (await distinct(d)).filter(test);
    result[d] = result[d] ? result[d]!.filter((v) => allowed.includes(v)) : allowed;
  }
  return result;
}
