import { isUtf8 } from 'node:buffer';
import { ApiError } from '../src/http/errors.js';
import { excerpt, EXCERPT_LENGTH } from '../src/excerpt.js';
import { invalidUtf8, MAX_NESTING, overCount, tooDeep, type CountLimit } from './decode-limits.js';

/**
 * JSON bodies: a scan of the bytes first, which holds the limits and finds the field of any invalid
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

function scanBody(body: Buffer, limits: JsonLimits): Scanned {
  // isUtf8 is native and fast; only a body that fails it is walked again for the offending field.
  return scanJson(body, limits, isUtf8(body) ? -1 : firstInvalidUtf8(body));
}

function parseText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw notJson(where === '' ? (error as Error).message : `${where}: ${(error as Error).message}`);
  }
}

const notJson = (reason: string) => new ApiError(400, 'bad_json', `body is not valid JSON: ${reason}`);

const enum Expect { Value, Key, Next }

const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a, MINUS = 0x2d;

/** Bytes of numbers and literals. The scan lets JSON.parse judge them; it only has to skip them. */
const SCALAR = new Uint8Array(256);
for (const c of '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-') SCALAR[c.charCodeAt(0)] = 1;
const SPACE = new Uint8Array(256);
for (const c of ' \t\n\r') SPACE[c.charCodeAt(0)] = 1;

/** Up to 15 digits are always below 2^53. */
const SAFE_DIGITS = 15;

interface Scanned {
  /**
   * [start, end) of what the text to parse has in place of the body's bytes, in the body's order:
   * integers beyond 2^53 when `exactIntegers` asks for them (quoted), and strings over `long`'s bytes.
   */
  rewrites: number[];
  /** [start, end) of each element of the counted arrays, in the body's order. */
  elements: number[];
  /** The first problem of each element over the `each` limits, by its number. */
  problems: Map<number, ElementProblem>;
}

/** Per nesting level: what the scan needs to go on and to name where it is. */
interface Levels {
  isArray: Uint8Array;
  /** The level is the counted array. */
  isCounted: Uint8Array;
  /** Arrays: the element being read. */
  index: Int32Array;
  /** Objects: the quoted name of the member being read (-1: none yet). */
  keyStart: Int32Array;
  keyEnd: Int32Array;
}

/**
 * Walks the JSON grammar over the bytes with nothing allocated but the level stacks: counts values
 * and the counted array's elements, holds the nesting limit, and reports invalid UTF-8 at
 * `invalidAt` as the field it falls in. Returns the byte ranges to rewrite (`Scanned.rewrites`). A
 * syntax error is refused here too, so JSON.parse never meets a prefix the scan did not count.
 * (Plain locals, no closures over them: this loop runs over every byte of every JSON body.)
 */
function scanJson(buf: Buffer, limits: JsonLimits, invalidAt: number): Scanned {
  const { values: valueLimit, counted, exactIntegers, long } = limits;
  const n = buf.length;
  const levels: Levels = {
    isArray: new Uint8Array(MAX_NESTING), isCounted: new Uint8Array(MAX_NESTING), index: new Int32Array(MAX_NESTING),
    keyStart: new Int32Array(MAX_NESTING), keyEnd: new Int32Array(MAX_NESTING),
  };
  const { isArray, isCounted, index, keyStart, keyEnd } = levels;
  const rewrites: number[] = [];
  const elements: number[] = [];
  const problems = new Map<number, ElementProblem>();
  const each = counted?.each;
  /** The value count before the element being read. */
  let elementValues = 0;
  /** The last element with a problem noted: only its first is. */
  let noted = -1;
  /** The depth inside the counted array whose element is being read, or -1. */
  let elementDepth = -1;
  let values = 0;
  let counts = 0;
  let depth = 0;
  let pos = 0;
  let expect = Expect.Value;

  for (;;) {
    while (pos < n && SPACE[buf[pos]!]) pos++;
    if (expect === Expect.Value) {
      if (pos >= n) throw unexpected(buf, pos);
      if (++values > valueLimit.limit) throw overCount(pathOf(buf, levels, depth), valueLimit);
      if (depth > 0 ? isCounted[depth - 1] : counted?.depth === 0) {
        if (++counts > counted!.count.limit) throw overCount(pathOf(buf, levels, depth), counted!.count);
        elements.push(pos);
        elementDepth = depth;
        elementValues = values - 1;
      }
      if (each && elementDepth >= 0 && noted !== counts - 1 && values - elementValues > each.values) noted = noteProblem(problems, counts - 1, buf, levels, depth, 'values');
      const c = buf[pos]!;
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (depth === MAX_NESTING) throw tooDeep(pathOf(buf, levels, depth));
        const array = c === OPEN_ARRAY;
        isArray[depth] = array ? 1 : 0;
        isCounted[depth] = array && counted !== undefined && depth === counted.depth && depth > 0 && !isArray[depth - 1]
          && counted.keys.includes(keyText(buf, keyStart[depth - 1]!, keyEnd[depth - 1]!)) ? 1 : 0;
        index[depth] = 0;
        keyStart[depth] = -1;
        depth++;
        pos++;
        while (pos < n && SPACE[buf[pos]!]) pos++;
        if (buf[pos] === (array ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          depth--;
          pos++;
          expect = Expect.Next;
        } else if (!array) {
          expect = Expect.Key;
        }
        continue;
      }
      if (c === QUOTE) {
        const start = pos;
        pos = stringEnd(buf, pos, invalidAt, levels, depth, false);
        if (long && pos - start - 2 > long.bytes && depth > 0 && !isArray[depth - 1]
          && long.fields.has(keyText(buf, keyStart[depth - 1]!, keyEnd[depth - 1]!)) && isLong(buf, start, pos, long.bytes)) {
          rewrites.push(start, pos);
          long.found.push(pathOf(buf, levels, depth));
        }
        if (each && elementDepth >= 0 && noted !== counts - 1 && pos - start - 2 > each.stringBytes) noted = noteProblem(problems, counts - 1, buf, levels, depth, 'stringBytes');
      } else {
        const start = pos;
        while (pos < n && SCALAR[buf[pos]!]) pos++;
        if (pos === start) throw unexpected(buf, pos);
        if (exactIntegers && pos - start > SAFE_DIGITS && isUnsafeInteger(buf, start, pos)) rewrites.push(start, pos);
      }
      expect = Expect.Next;
    } else if (expect === Expect.Key) {
      if (buf[pos] !== QUOTE) throw unexpected(buf, pos);
      const start = pos;
      pos = stringEnd(buf, pos, invalidAt, levels, depth, true);
      if (long && pos - start - 2 > long.bytes && isLong(buf, start, pos, long.bytes)) rewrites.push(start, pos);
      keyStart[depth - 1] = start;
      keyEnd[depth - 1] = pos;
      if (each && elementDepth >= 0 && noted !== counts - 1 && pos - start - 2 > each.stringBytes) noted = noteProblem(problems, counts - 1, buf, levels, depth, 'stringBytes');
      while (pos < n && SPACE[buf[pos]!]) pos++;
      if (buf[pos] !== COLON) throw unexpected(buf, pos);
      pos++;
      expect = Expect.Value;
    } else {
      if (depth === elementDepth) {
        elements.push(pos);
        elementDepth = -1;
      }
      if (depth === 0) {
        if (pos < n) throw unexpected(buf, pos);
        return { rewrites, elements, problems };
      }
      const d = depth - 1;
      const c = buf[pos];
      if (c === COMMA) {
        pos++;
        if (isArray[d]) {
          index[d] = index[d]! + 1;
          expect = Expect.Value;
        } else {
          keyStart[d] = -1;
          expect = Expect.Key;
        }
      } else if (c === (isArray[d] ? CLOSE_ARRAY : CLOSE_OBJECT)) {
        depth--;
        pos++;
      } else {
        throw unexpected(buf, pos);
      }
    }
  }
}

/**
 * The offset just past the string that starts at `start`. Refuses an unterminated string, and one
 * holding the invalid UTF-8 at `invalidAt` (`member`: the string is a member name).
 */
function stringEnd(buf: Buffer, start: number, invalidAt: number, levels: Levels, depth: number, member: boolean): number {
  let quote = buf.indexOf(QUOTE, start + 1);
  // A quote after an odd run of backslashes is escaped. Each run is walked once: linear.
  while (quote >= 0 && isEscaped(buf, quote, start)) quote = buf.indexOf(QUOTE, quote + 1);
  if (quote < 0) throw unexpected(buf, buf.length);
  if (invalidAt > start && invalidAt < quote) throw invalidUtf8(pathOf(buf, levels, depth), member);
  return quote + 1;
}

/** Notes element `n`'s problem (its first: the one its answer names) and returns `n`. */
function noteProblem(problems: Map<number, ElementProblem>, n: number, buf: Buffer, levels: Levels, depth: number, over: ElementProblem['over']): number {
  problems.set(n, { path: pathOf(buf, levels, depth), over });
  return n;
}

/** `events[3].attributes.team`: where the scan is, each member name cut. */
function pathOf(buf: Buffer, { isArray, index, keyStart, keyEnd }: Levels, depth: number): string {
  let out = '';
  for (let d = 0; d < depth; d++) {
    if (isArray[d]) out += `[${index[d]}]`;
    else if (keyStart[d]! >= 0) out += (out === '' ? '' : '.') + excerpt(keyText(buf, keyStart[d]!, keyEnd[d]!));
  }
  return out;
}

function unexpected(buf: Buffer, pos: number): ApiError {
  return notJson(pos >= buf.length ? 'unexpected end of the body' : `unexpected ${describeByte(buf[pos]!)} at byte ${pos}`);
}

function isEscaped(buf: Buffer, quote: number, stringStart: number): boolean {
  let backslashes = 0;
  for (let i = quote - 1; i > stringStart && buf[i] === BACKSLASH; i--) backslashes++;
  return backslashes % 2 === 1;
}

/**
 * Bytes of a member name read at most: more than an excerpt of it quotes (over EXCERPT_LENGTH
 * characters of 4 bytes), so a name of megabytes is not decoded whole to be cut.
 */
const KEY_BYTES_READ = 4 * (EXCERPT_LENGTH + 2);

/** A member name as JSON.parse would read it (escapes resolved), from its quoted bytes; a longer one than KEY_BYTES_READ begins so. */
function keyText(buf: Buffer, start: number, end: number): string {
  if (end - start - 2 > KEY_BYTES_READ) return buf.toString('utf8', start + 1, start + 1 + KEY_BYTES_READ);
  if (!buf.subarray(start, end).includes(BACKSLASH)) return buf.toString('utf8', start + 1, end - 1);
  try {
    return JSON.parse(buf.toString('utf8', start, end)) as string;
  } catch {
    return buf.toString('utf8', start + 1, end - 1);
  }
}

function describeByte(byte: number): string {
  return byte >= 0x21 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

function isUnsafeInteger(buf: Buffer, start: number, end: number): boolean {
  for (let i = buf[start] === MINUS ? start + 1 : start; i < end; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  return !Number.isSafeInteger(Number(buf.toString('latin1', start, end)));
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

/**
 * Whether the quoted string [start, end), more than `bytes` bytes long as written, decodes to more
 * than `bytes` bytes of UTF-8: only escapes make it shorter (`\u00e9` is 2 bytes, `\n` one).
 */
function isLong(buf: Buffer, start: number, end: number, bytes: number): boolean {
  let escape = buf.indexOf(BACKSLASH, start + 1);
  if (escape < 0 || escape >= end) return true;
  let length = escape - start - 1;
  for (let i = escape; i < end - 1; ) {
    if (buf[i] !== BACKSLASH) {
      length++;
      i++;
    } else if (buf[i + 1] !== 0x75) {
      length++;
      i += 2;
    } else {
      const unit = parseInt(buf.toString('latin1', i + 2, i + 6), 16);
      const low = buf[i + 6] === BACKSLASH && buf[i + 7] === 0x75 ? parseInt(buf.toString('latin1', i + 8, i + 12), 16) : -1;
      // A surrogate pair is one character of 4 bytes; a lone surrogate becomes U+FFFD, 3 bytes.
      const pair = unit >= 0xd800 && unit < 0xdc00 && low >= 0xdc00 && low < 0xe000;
      length += pair ? 4 : unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
      i += pair ? 12 : 6;
    }
    if (length > bytes) return true;
  }
  return false;
}

/**
 * The offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or -1. Only runs on a body `isUtf8` refused.
 */
export function firstInvalidUtf8(buf: Uint8Array): number {
  for (let i = 0; i < buf.length; ) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const extra = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
    if (extra === 0 || i + extra >= buf.length) return i;
    const second = buf[i + 1]!;
    const low = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const high = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    if (second < low || second > high) return i;
    for (let k = 2; k <= extra; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    i += extra + 1;
  }
  return -1;
}
