import type { AnyValue, AttributeValue } from './common.js';
import { eachField, FIRST, MISSING_KEY, recurringValues, within, Wire, WireType, type Issue } from './protobuf-reader.js';

/**
 * Reading an OTLP AnyValue and KeyValue from the wire (protobuf-reader.ts says how a body is read):
 * a scalar alone for the attributes spans keep, whole for log records.
 */

// AnyValue's oneof members (common.proto).
const STRING = 1, BOOL = 2, INT = 3, DOUBLE = 4, ARRAY = 5, KVLIST = 6, BYTES = 7, STRINDEX = 8;
/** The wire type each member is read from; any other is skipped as unknown. */
const MEMBER_WIRE = [-1, WireType.Length, WireType.Varint, WireType.Varint, WireType.Fixed64, WireType.Length, WireType.Length, WireType.Length, WireType.Varint];

/** The next member of an AnyValue, its tag read; 0 for a field skipped as unknown. */
function nextMember(r: Wire): number {
  const tag = r.tag();
  const member = tag >>> 3;
  const wire = tag & 7;
  if (member <= STRINDEX && member !== 0 && MEMBER_WIRE[member] === wire) return member;
  r.skip(wire);
  return 0;
}

/** A string, bool, int or double member's value. */
function scalarMember(r: Wire, member: number): AttributeValue {
  return member === STRING ? r.recurring(r.end(), recurringValues) : member === BOOL ? r.bool() : member === INT ? r.int64() : r.double();
}

const skipMember = (wire: Wire, tag: number): void => wire.skip(tag & 7);

/**
 * The scalar an AnyValue holds, from one or more of its encodings (a KeyValue's value sent twice is
 * merged); undefined when its last member is no scalar, or it has none (what KeyValues drops).
 * `passOver` passes over a member that is no scalar, its tag read (the one-pass read of spans walks
 * it by the scan's rules: traces-one-pass.ts).
 */
export function scalarValue(
  r: Wire, end: number, current: AttributeValue | undefined, passOver: (wire: Wire, tag: number, end: number) => void = skipMember,
): AttributeValue | undefined {
  let value = current;
  while (r.pos < end) {
    const member = nextMember(r);
    if (member === 0) continue;
    if (member <= DOUBLE) value = scalarMember(r, member);
    else {
      passOver(r, (member << 3) | MEMBER_WIRE[member]!, end);
      value = undefined;
    }
  }
  r.atEnd(end);
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
    const member = nextMember(r);
    if (member === 0) continue;
    const merging = member === state.member && (member === ARRAY || member === KVLIST);
    if (!merging) {
      state.issue = undefined;
      state.count = 0;
    }
    state.member = member;
    if (member <= DOUBLE) state.value = scalarMember(r, member);
    else if (member === BYTES) {
      const bytesEnd = r.end();
      state.value = Buffer.from(r.buf.subarray(r.pos, bytesEnd));
      r.pos = bytesEnd;
    } else if (member === STRINDEX) {
      r.skip(WireType.Varint);
      state.value = null;
    } else if (member === ARRAY) {
      const values = merging ? (state.value as AnyValue[]) : [];
      state.value = values;
      r.enterList();
      eachField(r, r.end(), FIRST, (elementEnd) => {
        const element = wholeValue(r, elementEnd);
        state.issue ??= within(element.issue, 'arrayValue', 'values', state.count);
        state.count++;
        values.push(element.value);
      });
      r.leaveList();
    } else {
      const entries: Entries = merging ? (state.value as Entries) : new Map();
      state.value = entries;
      r.enterList();
      eachField(r, r.end(), FIRST, (entryEnd) => {
        const issue = wholeKeyValue(r, entryEnd, entries);
        state.issue ??= within(issue, 'kvlistValue', 'values', state.count);
        state.count++;
      });
      r.leaveList();
    }
  }
  r.atEnd(end);
  return state;
}

/**
 * One KeyValue read whole into `into` (a key without value maps to null); its issue, if any: a
 * missing key, or one within its value.
 */
export function wholeKeyValue(r: Wire, end: number, into: { set(key: string, value: AnyValue): unknown }): Issue | undefined {
  let key = '';
  // Nearly every value is a scalar, read without the state an array or kvlist needs.
  let value: AttributeValue | null = null;
  let state: WholeState | undefined;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | WireType.Length)) key = r.recurring(r.end());
    else if (tag === ((2 << 3) | WireType.Length)) {
      const valueEnd = r.end();
      const scalar: AttributeValue | null | undefined = state === undefined ? scalarsOnly(r, valueEnd, value) : undefined;
      if (scalar !== undefined) value = scalar;
      // A scalar member never merges with a later one: member 0 stands for it.
      else state = wholeValue(r, valueEnd, state ?? { member: 0, value, issue: undefined, count: 0 });
    } else r.skip(tag & 7);
  }
  r.atEnd(end);
  if (key === '') return { path: ['key'], message: MISSING_KEY };
  if (state?.issue) return within(state.issue, 'value');
  into.set(key, state ? state.value : value);
  return undefined;
}

/**
 * What `wholeValue` makes of an AnyValue whose members are all scalars: the last one, else `current`;
 * undefined, with `pos` back at the start, when a member is not a scalar.
 */
function scalarsOnly(r: Wire, end: number, current: AttributeValue | null): AttributeValue | null | undefined {
  const start = r.mark();
  let value = current;
  while (r.pos < end) {
    const member = nextMember(r);
    if (member === 0) continue;
    if (member > DOUBLE) {
      r.rewind(start);
      return undefined;
    }
    value = scalarMember(r, member);
  }
  r.atEnd(end);
  return value;
}
