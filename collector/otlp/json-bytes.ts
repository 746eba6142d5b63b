/**
 * JSON written straight as UTF-8 into one buffer, for content that is hashed and then dropped (a log
 * record's content id): the bytes are exactly those of the same JSON built as a string and encoded,
 * without the string and the pieces it is concatenated from (a third of what reading a Codex record
 * allocated, docs/benchmarks.md, "OTLP CPU, session 13"). The buffer is reused: what `bytes`
 * returns is valid until the next `reset`. The content written before the current one is kept in
 * the buffer's other half, so that pieces of it can be copied (`copyLast`) rather than written again.
 */
const START_BYTES = 16 * 1024;
/** Past this a half, a buffer grown for one large record is not kept for the next (the whole is twice it). */
const KEPT_BYTES = 1024 * 1024;

export class JsonBytes {
  /** Two halves: the content being written in one, the last one in the other. */
  private buf = Buffer.allocUnsafeSlow(2 * START_BYTES);
  /** Where the current content starts: 0 or half the buffer. */
  private base = 0;
  private pos = 0;
  /** The last content's length; -1 when it was not kept. */
  private lastLength = -1;
  /** Contents started since the writer was made: names the current one (`content`). */
  private started = 0;

  reset(): void {
    // A record of tens of MiB would otherwise hold its buffer for the life of the process.
    if (this.buf.length > 2 * KEPT_BYTES) {
      this.buf = Buffer.allocUnsafeSlow(2 * START_BYTES);
      this.base = 0;
      this.lastLength = -1;
    } else {
      this.lastLength = this.pos - this.base;
      this.base = this.buf.length / 2 - this.base;
    }
    this.pos = this.base;
    this.started++;
  }

  /** The bytes written since `reset`. */
  bytes(): Buffer {
    return this.buf.subarray(this.base, this.pos);
  }

  /** The content being written, to tell later (`isLast`) whether it is the one that `copyLast` copies from. */
  get content(): number {
    return this.started;
  }

  /** How many bytes the current content has so far: where the next one goes. */
  get length(): number {
    return this.pos - this.base;
  }

  /** Whether `content` is the one written before the current one, and kept. */
  isLast(content: number): boolean {
    return content === this.started - 1 && this.lastLength >= 0;
  }

  /** The last content's bytes from `start` to `end` (as `length` counted them while it was written), copied in. */
  copyLast(start: number, end: number): void {
    this.room(end - start);
    const lastBase = this.buf.length / 2 - this.base;
    this.buf.copyWithin(this.pos, lastBase + start, lastBase + end);
    this.pos += end - start;
  }

  /** Text as it is (JSON already, or what needs no escaping), as UTF-8. */
  text(text: string): void {
    this.room(text.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return this.encoded(text);
      buf[pos++] = c;
    }
    this.pos = pos;
  }

  /** A string quoted as `JSON.stringify` quotes it. */
  quoted(text: string): void {
    this.room(text.length + 2);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 0x22;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // Control characters, `"`, `\` and everything beyond ASCII: JSON.stringify's own quoting.
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return this.encoded(JSON.stringify(text));
      buf[pos++] = c;
    }
    buf[pos++] = 0x22;
    this.pos = pos;
  }

  /**
   * A bigint's decimal digits, as `String(value)` writes them: those of a safe integer without
   * making the string, which for a bigint is a call into the runtime (writing an int value took
   * more than twice the instructions, docs/benchmarks.md, "OTLP logs main thread, session 15").
   */
  integer(value: bigint): void {
    let n = Number(value);
    if (!Number.isSafeInteger(n)) return this.text(String(value));
    this.room(17);
    const buf = this.buf;
    if (n < 0) {
      buf[this.pos++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.pos += digits;
    for (let at = this.pos - 1; digits-- > 0; at--) {
      buf[at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
  }

  /** Bytes written before, copied in. */
  copy(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Any well-formed text (JSON.stringify escapes lone surrogates) as UTF-8, as a string is hashed. */
  private encoded(text: string): void {
    this.room(Buffer.byteLength(text));
    this.pos += this.buf.write(text, this.pos);
  }

  private room(bytes: number): void {
    // The ASCII fast paths ask for a byte a character; `encoded` for the exact length.
    const half = this.buf.length / 2;
    if (this.pos + bytes <= this.base + half) return;
    // Both contents move to their halves of a larger buffer: the last one may still be copied from.
    const grownHalf = Math.max(half * 2, this.pos - this.base + bytes);
    const grown = Buffer.allocUnsafeSlow(2 * grownHalf);
    const base = this.base === 0 ? 0 : grownHalf;
    this.buf.copy(grown, base, this.base, this.pos);
    if (this.lastLength > 0) this.buf.copy(grown, grownHalf - base, half - this.base, half - this.base + this.lastLength);
    this.pos += base - this.base;
    this.base = base;
    this.buf = grown;
  }
}
