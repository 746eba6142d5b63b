import { MAX_NESTING } from '../decode-limits.js';
import { MAX_OTLP_STRING_BYTES } from './long-strings.js';
import { Wire } from './protobuf-reader.js';
import { isUtf8Text } from './scan.js';

/**
 * The wire reader for the one-pass reads of log records (log-records.ts) and spans
 * (traces-one-pass.ts): bytes the scan has not
 * walked, checked as they are read. Every check the scan would make on them is made here, some
 * more strictly (a long string and deep lists of values are left to
 * the scan), and a body that fails one is not refused here: `LeftToScan` is thrown, and the body is
 * scanned and read again the two-pass way, whose error names the first problem in the scan's order.
 * So a body read through to its end by this reader is one the scan passes, read the same way.
 *
 * It holds because, inside a LogRecord, the reader reads every string and message field the scan
 * would walk (LogRecord, KeyValue, AnyValue, ArrayValue, KeyValueList: none is skipped), and none of
 * those messages has a packed field: a field the reader skips needs only its length checked. Inside
 * a Span, what the reader skips (events, links, values it does not keep) is walked by the scan's own
 * rules (scan.ts's `FieldScan`, traces-one-pass.ts), its values counted here (`count`).
 */
export class LeftToScan extends Error {}

/**
 * Arrays and key-value lists inside each other in one value. A key-value list nests three messages
 * (KeyValueList, KeyValue, AnyValue; an array two) and a record's values start at message level 5
 * at most (the request at 0), so lists this deep stay within MAX_NESTING whatever their kinds:
 * deeper ones are left to the scan, which refuses key-value lists from 20 deep.
 */
const MAX_LISTS = Math.floor((MAX_NESTING - 6) / 3);

/** The largest fifth byte of a tag (no bits beyond 32) and of a length (none beyond 31), as the scan's `varint32` holds them. */
const TAG_FIFTH_BYTE_MAX = 0x0f;
const LENGTH_FIFTH_BYTE_MAX = 0x07;

export class CheckedWire extends Wire {
  private lists = 0;
  /** The values counted at `mark`: bytes read again are not counted again. */
  private valuesAtMark = 0;

  constructor(
    buf: Buffer,
    /** Values the scan counted around the records: each tag read here counts one more. */
    private values: number,
    private readonly maxValues: number,
  ) {
    super(buf);
  }

  /**
   * Reads ahead over bytes the scan has walked (resources, scopes): nothing to count. A check that
   * the scan does not make (lists nested deeper than read here) sends the body to the two-pass read.
   */
  override another(): CheckedWire {
    return new CheckedWire(this.buf, 0, Infinity);
  }

  /** A tag: a field number other than 0, a wire type protobuf has. */
  override tag(): number {
    if (++this.values > this.maxValues) throw new LeftToScan('too many values');
    const tag = this.byte() ?? this.varint32(TAG_FIFTH_BYTE_MAX);
    const wire = tag & 7;
    if (tag < 8 || wire === 3 || wire === 4 || wire > 5) throw new LeftToScan('not a tag');
    return tag;
  }

  /** A length that ends within the body (within its message: `atEnd`). */
  override end(): number {
    const length = this.byte() ?? this.varint32(LENGTH_FIFTH_BYTE_MAX);
    const end = length + this.pos;
    if (end > this.buf.length) throw new LeftToScan('past the body');
    return end;
  }

  override uint32(): number {
    this.checkVarint();
    return super.uint32();
  }

  override bool(): boolean {
    this.checkVarint();
    return super.bool();
  }

  override int64(): bigint {
    this.checkVarint();
    return super.int64();
  }

  override fixed64(): bigint {
    this.checkFixed(8);
    return super.fixed64();
  }

  override double(): number {
    this.checkFixed(8);
    return super.double();
  }

  /** Valid UTF-8 of at most MAX_OTLP_STRING_BYTES (`recurring` takes its known strings without a check: equal bytes to ASCII ones). */
  override string(end: number): string {
    if (end - this.pos > MAX_OTLP_STRING_BYTES || !isUtf8Text(this.buf, this.view, this.pos, end)) throw new LeftToScan('not a string read here');
    return super.string(end);
  }

  override skip(wire: number): void {
    if (wire === 0) this.checkVarint();
    else if (wire === 1) this.checkFixed(8);
    else if (wire === 5) this.checkFixed(4);
    super.skip(wire);
  }

  override mark(): number {
    this.valuesAtMark = this.values;
    return this.pos;
  }

  override rewind(mark: number): void {
    this.values = this.valuesAtMark;
    this.pos = mark;
  }

  override atEnd(end: number): void {
    if (this.pos !== end) throw new LeftToScan('a field runs past its message');
  }

  override enterList(): void {
    if (++this.lists > MAX_LISTS) throw new LeftToScan('lists nested deeply');
  }

  override leaveList(): void {
    this.lists--;
  }

  /** Values counted by a walk over bytes this wire passed over (scan.ts's `FieldScan`), counted here too. */
  count(values: number): void {
    this.values += values;
    if (this.values > this.maxValues) throw new LeftToScan('too many values');
  }

  /**
   * A varint of one byte, read; undefined (nothing read) for any other: nearly every tag and length
   * is one byte, read here without `varint32`'s loop.
   */
  private byte(): number | undefined {
    const { buf, pos } = this;
    if (pos >= buf.length || buf[pos]! >= 0x80) return undefined;
    this.pos = pos + 1;
    return buf[pos]!;
  }

  /** A tag or a length as `Wire.uint32` reads it, of at most five bytes, the fifth at most `fifthMax`. */
  private varint32(fifthMax: number): number {
    const { buf } = this;
    let value = 0;
    for (let i = 0, shift = 0; i < 5 && this.pos < buf.length; i++, shift += 7) {
      const b = buf[this.pos++]!;
      if (i === 4 && b > fifthMax) break;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) return value >>> 0;
    }
    throw new LeftToScan('an invalid or truncated varint');
  }

  /** A varint value of at most ten bytes within the body, as the scan holds them. */
  private checkVarint(): void {
    const { buf } = this;
    for (let p = this.pos, stop = Math.min(p + 10, buf.length); p < stop; ) if (buf[p++]! < 0x80) return;
    throw new LeftToScan('a long or truncated varint');
  }

  private checkFixed(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw new LeftToScan('past the body');
  }
}
