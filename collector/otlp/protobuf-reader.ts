import { badRequest } from '../../src/http/errors.js';
import { describeIssue } from '../../src/event/validate.js';
import { LONG_STRING, MAX_OTLP_STRING_BYTES } from './long-strings.js';

/**
 * Reading OTLP protobuf straight from the wire, for the signals whose records are mostly thrown
 * away (spans without usage, log records that repeat a call): no message objects, no schema pass
 * over them. It reads a body exactly as protobufjs 8 decodes it and the zod schemas then read that
 * object (request.ts, logs-request.ts), so both give the same records and refuse the same bodies
 * with the same message (test/otlp/protobuf-differential.test.ts):
 * - a field whose wire type is not its declared one is skipped as unknown;
 * - a scalar field sent twice keeps its last value, and an empty string or bytes, or a zero,
 *   is the field unset (proto3: explicit defaults clear the field);
 * - a message field sent twice is merged: repeated fields appended, scalars overwritten;
 * - an AnyValue is the last member of its oneof that was sent (each one clears the others).
 *
 * Only bodies that the scan (scan.ts) has passed are read: every length within its message, every
 * varint at most ten bytes, every string valid UTF-8, the counts and the nesting within their limits;
 * or, through CheckedWire (checked-wire.ts), bytes whose every such check the reading makes itself.
 */

export const enum WireType { Varint = 0, Fixed64 = 1, Length = 2, Fixed32 = 5 }

/** A failed check on a decoded value, as zod would word it; `path` runs from the request down. */
export interface Issue {
  path: (string | number)[];
  message: string;
}

/** A KeyValue without a key: zod's message for the key missing from the decoded object. */
export const MISSING_KEY = 'Invalid input: expected string, received undefined';

/** A required id field that is absent (protobufjs leaves an empty bytes field out). */
const MISSING_ID = 'must be a hex string';

/** An issue one level further up: `segment` before its path. */
export function within(issue: Issue | undefined, ...segments: (string | number)[]): Issue | undefined {
  if (issue) issue.path.unshift(...segments);
  return issue;
}

/** The 400 a request with this issue gets. */
export function issueError(issue: Issue) {
  return badRequest(describeIssue([{ code: 'custom', path: issue.path, message: issue.message, input: undefined }]));
}

/** A binary id field as lowercase hex, '' when unset; an issue when its length is wrong, or (required) it is unset. */
export function idIssue(hex: string, bytes: number, name: string, required: boolean): Issue | undefined {
  if (hex.length === bytes * 2) return undefined;
  if (hex.length === 0) return required ? { path: [name], message: MISSING_ID } : undefined;
  return { path: [name], message: `must be ${bytes} bytes (${bytes * 2} hex digits)` };
}

/** Buffer's own UTF-8 decoder, which its `toString` calls after checking its arguments (node:buffer). */
interface NativeSlices {
  utf8Slice(start: number, end: number): string;
}

/**
 * `Wire.recurring`'s strings, by a hash of their bytes: the last two decoded in each pair of slots,
 * the newer first, so that two that share a hash (`cache_creation_5m_tokens` and `…_1h_tokens`) do
 * not push each other out record after record. Only ASCII strings are kept: equal bytes are an
 * equal string.
 */
const RECURRING_SLOTS = 1024;
const MAX_RECURRING_BYTES = 64;

class RecurringStrings {
  readonly strings: (string | undefined)[] = new Array(RECURRING_SLOTS).fill(undefined);
  /** Each slot's string as its bytes, MAX_RECURRING_BYTES a slot: compared four bytes at a time, not a character at a time. */
  readonly bytes = new Uint8Array(RECURRING_SLOTS * MAX_RECURRING_BYTES);
  readonly view = new DataView(this.bytes.buffer);
}

/**
 * Keys and names (a few dozen an emitter) apart from string values, most of which recur (a model, an
 * event kind, a terminal) but some never do (a time, a request id): those pass through the values'
 * slots without pushing the keys out. A value found skips its UTF-8 check and decoding: 2.3 k
 * instructions a log record (docs/benchmarks.md, "OTLP log records' reading, session 17").
 */
const names = new RecurringStrings();
export const recurringValues = new RecurringStrings();

export class Wire {
  pos = 0;
  /** For the fixed-width numbers and `recurring`'s four-byte compares: DataView's reads are compiled inline, Buffer's readDoubleLE is not. */
  protected readonly view: DataView;
  constructor(readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * A second reader over the same bytes, for what is read ahead of its place (export-reader.ts): of
   * this reader's class, so that the reading functions meet one class of reader per request and V8
   * calls its methods directly, inlined, instead of through a lookup (2.5 k instructions a log
   * record, docs/benchmarks.md, "OTLP log records' reading, session 17").
   */
  another(): Wire {
    return new Wire(this.buf);
  }

  /** A tag, a length, an enum or a uint32: the varint's low 32 bits, as protobufjs reads them (the scan has held it to ten bytes). */
  uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80) return b;
    let value = b & 0x7f;
    for (let shift = 7; shift < 35; shift += 7) {
      b = buf[this.pos++]!;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) return value >>> 0;
    }
    while (buf[this.pos++]! >= 0x80);
    return value >>> 0;
  }

  int32(): number {
    return this.uint32() | 0;
  }

  /** A field's tag. */
  tag(): number {
    return this.uint32();
  }

  /**
   * Where a message read from its start should end. A scanned body's lengths all hold within their
   * messages; a body read unscanned checks them here (checked-wire.ts).
   */
  atEnd(_end: number): void {}

  /** `pos`, to read again from with `rewind` (one place at a time). */
  mark(): number {
    return this.pos;
  }

  rewind(mark: number): void {
    this.pos = mark;
  }

  /** An array or key-value list value entered, and left: the scan has held their nesting to MAX_NESTING. */
  enterList(): void {}
  leaveList(): void {}

  /** A bool as protobufjs reads it: true when any of the varint's bytes has a bit set. */
  bool(): boolean {
    let value = false;
    for (;;) {
      const b = this.buf[this.pos++]!;
      if (b & 0x7f) value = true;
      if (b < 0x80) return value;
    }
  }

  /** A signed int64 varint, exactly: the low 64 bits of the varint, two's complement. */
  int64(): bigint {
    const buf = this.buf;
    const start = this.pos;
    let small = 0;
    // Up to seven bytes (49 bits) fit a double exactly, and are positive.
    for (let i = 0, scale = 1; i < 7; i++, scale *= 0x80) {
      const b = buf[this.pos++]!;
      small += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(small);
    }
    this.pos = start;
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[this.pos++]!;
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, value);
    }
  }

  fixed64(): bigint {
    const value = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return value;
  }

  double(): number {
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** A length-delimited field's end; `pos` is then at its first byte. */
  end(): number {
    const length = this.uint32();
    return this.pos + length;
  }

  /** The string from `pos` to `end`; LONG_STRING, not decoded, for one over MAX_OTLP_STRING_BYTES (the scan noted where). */
  string(end: number): string {
    if (end - this.pos > MAX_OTLP_STRING_BYTES) {
      this.pos = end;
      return LONG_STRING;
    }
    // Buffer's own decoder, without toString's argument checks and encoding lookup (a tenth of
    // the reading's time): the scan has checked the bounds and the UTF-8.
    const value = (this.buf as unknown as NativeSlices).utf8Slice(this.pos, end);
    this.pos = end;
    return value;
  }

  /**
   * A string that recurs from record to record (an attribute key, a scope name; with `values`, an
   * attribute's value): the one decoded before when its bytes are the same, so the records share one
   * string instead of each checking, allocating and hashing its own. Only ASCII strings are kept;
   * the others are decoded as `string` does.
   */
  recurring(end: number, known: RecurringStrings = names): string {
    const { buf, pos } = this;
    const length = end - pos;
    if (length === 0 || length > MAX_RECURRING_BYTES) return this.string(end);
    const slot = (length * 0x9e5 + buf[pos]! * 0x3b + buf[pos + (length >> 1)]! * 0x11 + buf[end - 1]!) & (RECURRING_SLOTS - 2);
    const { view } = this;
    const { strings, bytes } = known;
    for (let way = slot; way < slot + 2; way++) {
      const string = strings[way];
      if (string === undefined || string.length !== length) continue;
      const at = way * MAX_RECURRING_BYTES;
      let i = 0;
      while (i + 4 <= length && view.getUint32(pos + i) === known.view.getUint32(at + i)) i += 4;
      while (i < length && buf[pos + i] === bytes[at + i]) i++;
      if (i === length) {
        this.pos = end;
        return string;
      }
    }
    const value = this.string(end);
    // Only ASCII is kept: the same length alone would also pass bytes that are not UTF-8 (each
    // decoded as one U+FFFD), which CheckedWire would then take from here unchecked.
    let high = 0;
    for (let i = pos; i < end; i++) high |= buf[i]!;
    if (high < 0x80) {
      const at = slot * MAX_RECURRING_BYTES;
      const newer = strings[slot];
      if (newer !== undefined) bytes.copyWithin(at + MAX_RECURRING_BYTES, at, at + newer.length);
      strings[slot + 1] = newer;
      strings[slot] = value;
      for (let i = 0; i < length; i++) bytes[at + i] = buf[pos + i]!;
    }
    return value;
  }

  skip(wire: number): void {
    if (wire === WireType.Varint) while (this.buf[this.pos++]! >= 0x80);
    else if (wire === WireType.Fixed64) this.pos += 8;
    else if (wire === WireType.Fixed32) this.pos += 4;
    else this.pos = this.end();
  }
}

/** A bytes field as lowercase hex ('' for none). */
export function hex(r: Wire, end: number): string {
  const value = r.buf.toString('hex', r.pos, end);
  r.pos = end;
  return value;
}

// Field 1 and 2, length-delimited: the levels of an export request (export-reader.ts), the elements of an array or key-value list.
export const FIRST = (1 << 3) | WireType.Length, SECOND = (2 << 3) | WireType.Length;

/** Calls `read` with the end of each field tagged `tag` from `pos` to `end`, skipping the others. */
export function eachField(r: Wire, end: number, tag: number, read: (fieldEnd: number) => void): void {
  while (r.pos < end) {
    const t = r.tag();
    if (t !== tag) {
      r.skip(t & 7);
      continue;
    }
    const fieldEnd = r.end();
    read(fieldEnd);
    r.pos = fieldEnd;
  }
  r.atEnd(end);
}
