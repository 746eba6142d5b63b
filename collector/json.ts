import type { CountLimit } from './decode-limits.js';
import { COMMA, notJson, QUOTE, scanBody, SPACE } from './json-scan.js';

/**
 * JSON bodies: a scan of the bytes first (`json-scan.ts`), which holds the limits and finds the field of any invalid
 * UTF-8 without building anything, then `JSON.parse`, of the whole body or element by element. Without the scan, 6 KB of gzip (two million
 * `{}`) made JSON.parse build objects for seconds and gigabytes before any count could be checked.
 */

/** An array whose elements count against a limit of their own. */
export interface CountedArray {
  /** The member holding the array (any of these names: OTLP/JSON takes both spellings of a field)... */
  keys: readonly string[];
  /** ...and how many objects and arrays enclose the array (1: a member of the root object; 0: no array, the root value is the one element). */
  depth: number;
  count: CountLimit;
  /** Bounds on each element: one beyond them is not parsed, and `CutJson.problem` says where it went over. */
  each?: ElementLimits;
}

export interface ElementLimits {
  /** Values in one element, itself included. */
  values: number;
  /** Bytes between the quotes of any string in it (member names too). */
  stringBytes: number;
}

/** Where an element went over its `ElementLimits`, and which. */
export interface ElementProblem {
  path: string;
  over: 'values' | 'stringBytes';
}

export interface JsonLimits {
  /** Every value (object, array, string, number, literal) counts one. */
  values: CountLimit;
  counted?: CountedArray;
  /** Integers beyond 2^53 come back as decimal strings, so nothing reads them as an inexact float. */
  exactIntegers?: boolean;
  long?: LongStringRule;
}

/**
 * Strings of more than `bytes` bytes of UTF-8 (decoded: escapes count as what they stand for) are
 * never decoded: member names, and the values of the `fields` members, are each read as
 * `placeholder`, and such a value's path is added to `found`. Other values are read as they are.
 */
export interface LongStringRule {
  bytes: number;
  fields: ReadonlySet<string>;
  placeholder: string;
  found: string[];
}

/** The body's JSON value, or a 400 (413 beyond a count) naming where the body went wrong. */
export function parseJson(body: Buffer, limits: JsonLimits): unknown {
  const { rewrites } = scanBody(body, limits);
  return parseText(rewritten(body, 0, body.length, rewrites, 0, limits.long).text, '');
}

/** A JSON body whose counted elements are read one at a time (`cutJson`). */
export interface CutJson {
  /** The body's value with each element of the counted arrays replaced by its number: 0, 1, … in the body's order. */
  outline: unknown;
  /** Element `n`'s value; `where` names it when its text is not valid JSON. */
  element(n: number, where: string): unknown;
  /** Where element `n` went over the counted array's `each` limits, if it did: it is then not to be parsed. */
  problem(n: number): ElementProblem | undefined;
}

/**
 * The body checked as `parseJson` checks it, then parsed in parts: the outline at once, each
 * counted element when asked. Parsing a large body element by element lets the caller give the
 * event loop a turn between elements.
 */
export function cutJson(body: Buffer, limits: JsonLimits): CutJson {
  const { rewrites, elements, problems } = scanBody(body, limits);
  const count = elements.length / 2;
  const { long } = limits;
  // The first rewrite at or after each element's start.
  const firstRewrite = new Int32Array(count);
  let outline = '';
  let from = 0;
  let u = 0;
  for (let n = 0; n < count; n++) {
    const quoted = rewritten(body, from, elements[2 * n]!, rewrites, u, long);
    firstRewrite[n] = quoted.next;
    outline += quoted.text + n;
    from = elements[2 * n + 1]!;
    for (u = quoted.next; u < rewrites.length && rewrites[u]! < from; u += 2);
  }
  outline += rewritten(body, from, body.length, rewrites, u, long).text;
  /** The text of elements first to last, and what is between them. */
  const text = (first: number, last: number) => rewritten(body, elements[2 * first]!, elements[2 * last + 1]!, rewrites, firstRewrite[first]!, long).text;
  // Elements read in order are parsed a run at a time, as one array: a JSON.parse and a string
  // each cost more than a 500-byte event's parsing itself (docs/benchmarks.md, "JSON ingest CPU,
  // session 13"). Each is handed out once, as parsing it alone would make a fresh one.
  let ahead: unknown[] = [];
  let aheadFrom = 0;
  let previous = -2;
  /** A run that did not parse is read element by element up to here, so the bad one is named. */
  let singlyThrough = -1;
  const element = (n: number, where: string): unknown => {
    const inOrder = n === previous + 1;
    previous = n;
    const value = n >= aheadFrom ? ahead[n - aheadFrom] : undefined;
    if (value !== undefined) {
      ahead[n - aheadFrom] = undefined;
      return value;
    }
    const last = inOrder && n > singlyThrough ? runEnd(body, elements, problems, n) : n;
    if (last > n) {
      try {
        ahead = JSON.parse(`[${text(n, last)}]`) as unknown[];
        aheadFrom = n;
        return element(n, where);
      } catch {
        singlyThrough = last;
      }
    }
    return parseText(text(n, n), where);
  };
  return { outline: parseText(outline, ''), element, problem: (n) => problems.get(n) };
}

/** At most this many elements, or bytes of them, are parsed at once (the event loop waits for it). */
const RUN_ELEMENTS = 64;
const RUN_BYTES = 64 * 1024;

/**
 * The last element of the run starting at `first` that is parsed with it: siblings in one array
 * (only a comma between them), none over its limits (those are never parsed), within the bounds.
 */
function runEnd(body: Buffer, elements: readonly number[], problems: ReadonlyMap<number, ElementProblem>, first: number): number {
  const count = elements.length / 2;
  const start = elements[2 * first]!;
  let last = first;
  while (last + 1 < count && last + 1 - first < RUN_ELEMENTS && elements[2 * last + 3]! - start <= RUN_BYTES
    && !problems.has(last + 1) && onlyComma(body, elements[2 * last + 1]!, elements[2 * last + 2]!)) last++;
  return last;
}

/** Whether [from, to) holds one comma and whitespace. */
function onlyComma(body: Buffer, from: number, to: number): boolean {
  let commas = 0;
  for (let i = from; i < to; i++) {
    if (body[i] === COMMA) commas++;
    else if (!SPACE[body[i]!]) return false;
  }
  return commas === 1;
}

function parseText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw notJson(where === '' ? (error as Error).message : `${where}: ${(error as Error).message}`);
  }
}

/**
 * The text of [start, end) with the rewrites in it made, those from index `first` of `rewrites` on:
 * an unsafe integer put in double quotes, a long string replaced by `long`'s placeholder; `next`:
 * the index of the first one at or after `end`.
 */
function rewritten(buf: Buffer, start: number, end: number, rewrites: readonly number[], first: number, long: LongStringRule | undefined): { text: string; next: number } {
  let text = '';
  let from = start;
  let i = first;
  for (; i < rewrites.length && rewrites[i]! < end; i += 2) {
    const replaced = buf[rewrites[i]!] === QUOTE ? JSON.stringify(long!.placeholder) : `"${buf.toString('latin1', rewrites[i], rewrites[i + 1])}"`;
    text += buf.toString('utf8', from, rewrites[i]) + replaced;
    from = rewrites[i + 1]!;
  }
  return { text: text + buf.toString('utf8', from, end), next: i };
}

