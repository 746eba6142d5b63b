/**
 * JSON written straight as UTF-8 into one buffer, for content that is hashed and then dropped (a log
 * record's content id): the bytes are exactly those of the same JSON built as a string and encoded,
 * without the string and the pieces it is concatenated from (a third of what reading a Codex record
 * allocated, docs/benchmarks.md, "OTLP CPU, session 13"). The buffer is reused: what `bytes`
 * returns is valid until the next `reset`.
 */
const START_BYTES = 16 * 1024;
/** Past this a buffer grown for one large record is not kept for the next. */
const KEPT_BYTES = 1024 * 1024;

export class JsonBytes {
  private buf = Buffer.allocUnsafeSlow(START_BYTES);
  private pos = 0;

  reset(): void {
    this.pos = 0;
    // A record of tens of MiB would otherwise hold its buffer for the life of the process.
    if (this.buf.length > KEPT_BYTES) this.buf = Buffer.allocUnsafeSlow(START_BYTES);
  }

  /** The bytes written since `reset`. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
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
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}
