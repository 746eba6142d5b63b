/**
 * Attribute keys recognised in a body's bytes without decoding them: of a span's keys only the few
 * that the rules read become strings (the table's own, one per name), the others are passed over. A
 * scanned body's strings are valid UTF-8 (scan.ts), and equal UTF-8 bytes are equal strings.
 */

/** What is known of a name; 0 for a key the table does not hold. */
export type NameFlags = number;

interface Entry {
  bytes: Buffer;
  name: string;
  flags: NameFlags;
}

/** A few of the key's bytes and its length: the known names differ there, most other keys too. */
function sample(buf: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length === 0) return 0;
  return (((length & 0xff) * 0x100 + buf[start + (length >> 1)]!) * 0x100 + buf[end - 1]!) * 0x40 + (buf[start + (length >> 2)]! & 0x3f);
}

/** Whether `length` bytes of `a` from `aStart` equal those of `b` from `bStart`. */
export function sameBytes(a: Buffer, aStart: number, b: Buffer, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

export class WireNames {
  private readonly entries = new Map<number, Entry[]>();
  private readonly prefix: Buffer;
  /** The name `flags` found last: the table's string, or a key with the prefix, decoded. */
  name = '';
  /** Whether the key `flags` looked at last is one of the table's names: its bytes are then valid UTF-8. */
  known = false;

  /** `prefixFlags`: the flags of every key that starts with `prefix` and is not in `names`. */
  constructor(names: ReadonlyMap<string, NameFlags>, prefix: string, private readonly prefixFlags: NameFlags) {
    for (const [name, flags] of names) {
      const bytes = Buffer.from(name, 'utf8');
      const key = sample(bytes, 0, bytes.length);
      const list = this.entries.get(key) ?? [];
      list.push({ bytes, name, flags });
      this.entries.set(key, list);
    }
    this.prefix = Buffer.from(prefix, 'utf8');
  }

  /** The flags of the key in `buf[start, end)`, its string then in `name`; 0 (and no string made) for any other key. */
  flags(buf: Buffer, start: number, end: number): NameFlags {
    const list = this.entries.get(sample(buf, start, end));
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const entry = list[i]!;
        if (end - start === entry.bytes.length && sameBytes(buf, start, entry.bytes, 0, entry.bytes.length)) {
          this.name = entry.name;
          this.known = true;
          return entry.flags;
        }
      }
    }
    this.known = false;
    if (end - start < this.prefix.length || !sameBytes(buf, start, this.prefix, 0, this.prefix.length)) return 0;
    this.name = buf.toString('utf8', start, end);
    return this.prefixFlags;
  }
}
