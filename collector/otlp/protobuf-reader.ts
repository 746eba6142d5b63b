import { badRequest } from '../../src/http/errors.js';
import { describeIssue } from '../../src/event/validate.js';
import type { AnyValue, AttributeValue } from './common.js';

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
 * varint at most ten bytes, every string valid UTF-8, the counts and the nesting within their limits.
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

export class Wire {
  pos = 0;
  constructor(readonly buf: Buffer) {}

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
    const value = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return value;
  }

  double(): number {
    const value = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return value;
  }

  /** A length-delimited field's end; `pos` is then at its first byte. */
  end(): number {
    const length = this.uint32();
    return this.pos + length;
  }

  string(end: number): string {
    const value = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
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

// AnyValue's oneof members (common.proto).
const STRING = 1, BOOL = 2, INT = 3, DOUBLE = 4, ARRAY = 5, KVLIST = 6, BYTES = 7, STRINDEX = 8;
/** The wire type each member is read from; any other is skipped as unknown. */
const MEMBER_WIRE = [-1, WireType.Length, WireType.Varint, WireType.Varint, WireType.Fixed64, WireType.Length, WireType.Length, WireType.Length, WireType.Varint];

/**
 * The scalar an AnyValue holds, from one or more of its encodings (a KeyValue's value sent twice is
 * merged); undefined when its last member is no scalar, or it has none (what KeyValues drops).
 */
export function scalarValue(r: Wire, end: number, current: AttributeValue | undefined): AttributeValue | undefined {
  let value = current;
  while (r.pos < end) {
    const tag = r.uint32();
    const member = tag >>> 3;
    const wire = tag & 7;
    if (member > STRINDEX || member === 0 || MEMBER_WIRE[member] !== wire) {
      r.skip(wire);
      continue;
    }
    if (member === STRING) value = r.string(r.end());
    else if (member === BOOL) value = r.bool();
    else if (member === INT) value = r.int64();
    else if (member === DOUBLE) value = r.double();
    else {
      r.skip(wire);
      value = undefined;
    }
  }
  return value;
}

/** What a kvlist value is built from: its entries in order (a key sent twice keeps its first place and last value). */
type Entries = Map<string, AnyValue>;

/** An AnyValue being read whole, as the members seen so far leave it. */
interface WholeState {
  member: number;
  value: AnyValue;
  /** The first issue within the member that stands: a later member replaces it and its issues. */
  issue: Issue | undefined;
  /** Array and kvlist members merge with a later encoding of the same member: its elements so far. */
  count: number;
}

/** An AnyValue kept whole (logs-request.ts's WholeValue): null when it has no member. */
export function wholeValue(r: Wire, end: number, state: WholeState = { member: 0, value: null, issue: undefined, count: 0 }): WholeState {
  while (r.pos < end) {
    const tag = r.uint32();
    const member = tag >>> 3;
    const wire = tag & 7;
    if (member > STRINDEX || member === 0 || MEMBER_WIRE[member] !== wire) {
      r.skip(wire);
      continue;
    }
    const merging = member === state.member && (member === ARRAY || member === KVLIST);
    if (!merging) {
      state.issue = undefined;
      state.count = 0;
    }
    state.member = member;
    if (member === STRING) state.value = r.string(r.end());
    else if (member === BOOL) state.value = r.bool();
    else if (member === INT) state.value = r.int64();
    else if (member === DOUBLE) state.value = r.double();
    else if (member === BYTES) {
      const bytesEnd = r.end();
      state.value = Buffer.from(r.buf.subarray(r.pos, bytesEnd));
      r.pos = bytesEnd;
    }
    else if (member === STRINDEX) {
      r.skip(wire);
      state.value = null;
    } else if (member === ARRAY) {
      const values = merging ? (state.value as AnyValue[]) : [];
      state.value = values;
      const arrayEnd = r.end();
      while (r.pos < arrayEnd) {
        const t = r.uint32();
        if (t !== ((1 << 3) | WireType.Length)) {
          r.skip(t & 7);
          continue;
        }
        const element = wholeValue(r, r.end());
        state.issue ??= within(element.issue, 'arrayValue', 'values', state.count);
        state.count++;
        values.push(element.value);
      }
    } else {
      const entries: Entries = merging ? (state.value as Entries) : new Map();
      state.value = entries;
      const listEnd = r.end();
      while (r.pos < listEnd) {
        const t = r.uint32();
        if (t !== ((1 << 3) | WireType.Length)) {
          r.skip(t & 7);
          continue;
        }
        const issue = wholeKeyValue(r, r.end(), entries);
        state.issue ??= within(issue, 'kvlistValue', 'values', state.count);
        state.count++;
      }
    }
  }
  return state;
}

/**
 * One KeyValue read whole into `into` (a key without value maps to null); its issue, if any: a
 * missing key, or one within its value.
 */
export function wholeKeyValue(r: Wire, end: number, into: Map<string, AnyValue>): Issue | undefined {
  let key = '';
  let value: WholeState | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | WireType.Length)) key = r.string(r.end());
    else if (tag === ((2 << 3) | WireType.Length)) value = wholeValue(r, r.end(), value);
    else r.skip(tag & 7);
  }
  if (key === '') return { path: ['key'], message: MISSING_KEY };
  if (value?.issue) return within(value.issue, 'value');
  into.set(key, value ? value.value : null);
  return undefined;
}

/** An InstrumentationScope's name and version, merged over its encodings. */
export function scope(r: Wire, end: number, into: { name: string; version: string }): void {
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === ((1 << 3) | WireType.Length)) into.name = r.string(r.end());
    else if (tag === ((2 << 3) | WireType.Length)) into.version = r.string(r.end());
    else r.skip(tag & 7);
  }
}
