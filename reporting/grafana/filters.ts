import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { RE2JS } from 're2js';
import { excerpt } from '../../src/excerpt.js';
import { badRequest, quoteInput } from '../../src/http/errors.js';
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

/** Regular expressions are matched by RE2 (the re2js port): time linear in the value, no backtracking. */
const MAX_PATTERN_CHARS = 256;
const MAX_PATTERN_SIZE = 256;
/** Matching all the values of a dimension stops past this much work, in slices that leave the event loop free. */
const MATCH_BUDGET_MS = 1000;
const SLICE_MS = 5;

/**
 * An upper bound, read from the pattern's text, of the atoms RE2 compiles it to: each counts once
 * per repetition around it (`(ab){3}` is 6). Compiling and matching cost grows with it, so a large
 * count (`.{0,1000}`) is refused before it is compiled.
 */
export function patternSize(pattern: string): number {
  const groups = [0];
  let last = 0;
  const add = (n: number) => (groups[groups.length - 1] = groups[groups.length - 1]! + n);
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    const count = ch === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i)) : null;
    if (count) {
      const times = Math.max(Number(count[1]), count[3] ? Number(count[3]) : Number(count[1]) + (count[2] ? 1 : 0));
      add(last * (times - 1));
      last *= times;
      i += count[0].length - 1;
    } else if (ch === '(') {
      groups.push(0);
    } else if (ch === ')' && groups.length > 1) {
      last = groups.pop()! + 1;
      add(last);
    } else if ('*+?|'.includes(ch)) {
      add(1);
    } else {
      if (ch === '\\') i += /^\\[pPx]\{[^}]*\}/.exec(pattern.slice(i))?.[0].length ?? 2;
      else if (ch === '[') i += /^\[\^?\]?(\\.|[^\]])*\]?/.exec(pattern.slice(i))![0].length;
      else i++;
      i--;
      last = 1;
      add(1);
    }
  }
  return groups.reduce((a, b) => a + b, 0);
}

function compileRegex(value: string, at: string): RE2JS {
  if (value.length > MAX_PATTERN_CHARS) throw badRequest(`${at}: the regular expression has ${value.length} characters; at most ${MAX_PATTERN_CHARS}`);
  if (patternSize(value) > MAX_PATTERN_SIZE) {
    throw badRequest(`${at}: the regular expression ${quoteInput(value)} repeats too much (it expands to more than ${MAX_PATTERN_SIZE} atoms); use smaller counts than {m,n}`);
  }
  try {
    return RE2JS.compile(`^(?:${value})$`);
  } catch (error) {
    throw badRequest(`${at}: ${quoteInput(value)} is not a regular expression RE2 accepts (${excerpt((error as Error).message)})`);
  }
}

function matcher(f: AdHocFilter, at: string): (value: string) => boolean {
  const value = f.value ?? '';
  const list = new Set(f.values ?? [value]);
  const compare = (v: string) => {
    const [a, b] = [Number(v), Number(value)];
    return Number.isFinite(a) && Number.isFinite(b) ? a - b : v.localeCompare(value);
  };
  switch (f.operator) {
    case '=': return (v) => v === value;
    case '!=': return (v) => v !== value;
    case '=~': { const r = compileRegex(value, at); return (v) => r.matches(v); }
    case '!~': { const r = compileRegex(value, at); return (v) => !r.matches(v); }
    case '<': return (v) => compare(v) < 0;
    case '>': return (v) => compare(v) > 0;
    case '<=': return (v) => compare(v) <= 0;
    case '>=': return (v) => compare(v) >= 0;
    case '=|': return (v) => list.has(v);
    case '!=|': return (v) => !list.has(v);
    default: throw badRequest(`${at}.operator: ${quoteInput(f.operator)} is not one of =, !=, =~, !~, <, >, <=, >=, =|, !=|`);
  }
}

/** The values that pass `test`, tested a slice at a time with the event loop free in between, within MATCH_BUDGET_MS. */
async function passing(values: readonly string[], test: (v: string) => boolean, at: string): Promise<string[]> {
  const kept: string[] = [];
  const started = performance.now();
  let slice = started;
  for (let i = 0; i < values.length; i++) {
    if (test(values[i]!)) kept.push(values[i]!);
    if ((i & 255) !== 255 || performance.now() - slice < SLICE_MS) continue;
    if (performance.now() - started > MATCH_BUDGET_MS) {
      throw badRequest(`${at}: matching took over ${MATCH_BUDGET_MS} ms at ${i + 1} of ${values.length} values; use a simpler expression or a shorter range`);
    }
    await yieldToLoop();
    slice = performance.now();
  }
  return kept;
}

/**
 * Ad hoc filters become plain value lists: every operator is applied in JavaScript to the values the
 * dimension really has, so regexes never reach SQL and every backend filters the same way. `=` and
 * `=|` name their values already: they need no list of the dimension's values (`distinct`, which
 * may refuse a dimension with too many).
 */
export async function adHocFilters(filters: AdHocFilter[], field: string, distinct: (d: Dimension, field: string) => Promise<string[]>): Promise<Filters> {
  const result: Filters = {};
  for (const [i, f] of filters.entries()) {
    const at = `${field}[${i}]`;
    if (!DIMENSIONS.includes(f.key as Dimension)) throw badRequest(`${at}.key: unknown key ${quoteInput(f.key)}; use one of ${DIMENSIONS.join(', ')}`);
    const d = f.key as Dimension;
    const test = matcher(f, `${at}.value`);
    const named = f.operator === '=' ? [f.value ?? ''] : f.operator === '=|' ? [...new Set(f.values ?? [f.value ?? ''])] : null;
    const allowed = named ?? await passing(await distinct(d, `${at}.key`), test, `${at}.value`);
    const before = result[d];
    result[d] = before ? intersect(before, allowed) : allowed;
  }
  return result;
}

/** The values in both lists, in the order of the first. */
export function intersect(a: readonly string[], b: readonly string[]): string[] {
  const inB = new Set(b);
  return a.filter((v) => inB.has(v));
}
