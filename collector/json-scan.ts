import { isUtf8 } from 'node:buffer';
import { ApiError } from '../src/http/errors.js';
import { excerpt, EXCERPT_LENGTH } from '../src/excerpt.js';
import { invalidUtf8, MAX_NESTING, overCount, tooDeep } from './decode-limits.js';
import type { ElementProblem, JsonLimits } from './json.js';

/**
 * The byte walk under every JSON body (`json.ts`): the grammar, the limits and the field of any
 * invalid UTF-8, before JSON.parse builds anything.
 */

export function scanBody(body: Buffer, limits: JsonLimits): Scanned {
  // isUtf8 is native and fast; only a body that fails it is walked again for the offending field.
  return scanJson(body, limits, isUtf8(body) ? -1 : firstInvalidUtf8(body));
}

export const notJson = (reason: string) => new ApiError(400, 'bad_json', `body is not valid JSON: ${reason}`);

const enum Expect { Value, Key, Next }

const OPEN_OBJECT = 0x7b, CLOSE_OBJECT = 0x7d, OPEN_ARRAY = 0x5b, CLOSE_ARRAY = 0x5d;
const BACKSLASH = 0x5c, COLON = 0x3a, MINUS = 0x2d;
export const QUOTE = 0x22, COMMA = 0x2c;

/** Bytes of numbers and literals. The scan lets JSON.parse judge them; it only has to skip them. */
const SCALAR = new Uint8Array(256);
for (const c of '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-') SCALAR[c.charCodeAt(0)] = 1;
export const SPACE = new Uint8Array(256);
for (const c of ' \t\n\r') SPACE[c.charCodeAt(0)] = 1;

/** Up to 15 digits are always below 2^53. */
const SAFE_DIGITS = 15;

export interface Scanned {
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
