import type { AnyValue } from './common.js';

/**
 * One Map for the attributes of record after record, where each record is handed on and dropped
 * before the next is read (the wire logs path, log-records.ts): an emitter's records mostly carry
 * the same keys in the same order, so each record's values overwrite the last one's in place instead
 * of filling a new Map that grows 4 → 8 → 16 → 32 entries (1.7 KB a Claude Code record,
 * docs/benchmarks.md, "OTLP logs main thread, session 14"). What `finish` returns holds exactly the
 * keys, order and values a new Map filled by the same `set` calls would.
 */
export class ReusedAttributes {
  private map = new Map<string, AnyValue>();
  /** The map's keys in their order. */
  private keys: string[] = [];
  /** How many of `keys` the record being read has set, in order. */
  private matched = 0;
  /** The record's keys left the last one's order: the rest of it goes into a Map of its own. */
  private diverged = false;

  start(): void {
    // A record that left the order and was never finished (its request failed) left its own Map.
    if (this.diverged) this.keys = [...this.map.keys()];
    this.matched = 0;
    this.diverged = false;
  }

  set(key: string, value: AnyValue): void {
    if (!this.diverged) {
      if (this.keys[this.matched] === key) {
        this.map.set(key, value);
        this.matched++;
        return;
      }
      // A key out of the last record's order (or one sent twice): the keys matched so far, in a new
      // Map; a fresh instance's empty one will do (logs-protobuf.ts makes one a record where none is reused).
      const own = this.map.size === 0 ? this.map : new Map<string, AnyValue>();
      for (let i = 0; i < this.matched; i++) own.set(this.keys[i]!, this.map.get(this.keys[i]!)!);
      this.map = own;
      this.diverged = true;
    }
    this.map.set(key, value);
  }

  /** The record's attributes; valid until the next `start`. */
  finish(): ReadonlyMap<string, AnyValue> {
    if (this.diverged) this.keys = [...this.map.keys()];
    else if (this.matched < this.keys.length) {
      for (let i = this.matched; i < this.keys.length; i++) this.map.delete(this.keys[i]!);
      this.keys.length = this.matched;
    }
    return this.map;
  }
}
