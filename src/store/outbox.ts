import type { SqlRow } from './query-builder.js';
import type { OutboxEntry, OutboxRow } from './types.js';

/** What both stores share about the forward outbox (table forward_outbox, docs/forwarding.md). */

/** Its size (kept by triggers) and the commit time of its oldest entry. */
export const OUTBOX_SIZE_SQL = 'SELECT entries, bytes, (SELECT created_at FROM forward_outbox ORDER BY seq LIMIT 1) AS oldest FROM forward_outbox_size WHERE id = 1';

/** The leading rows whose bytes fit in `maxBytes`, and always the first, by seq. */
export function fitting(sizes: readonly (readonly [number, number])[], maxBytes: number): number[] {
  const seqs: number[] = [];
  let total = 0;
  for (const [seq, bytes] of sizes) {
    if (seqs.length > 0 && total + bytes > maxBytes) break;
    seqs.push(Number(seq));
    total += Number(bytes);
  }
  return seqs;
}

export function outboxRow(signal: OutboxEntry['signal'], row: SqlRow): OutboxRow {
  return { signal, seq: Number(row.seq), encoding: row.encoding as OutboxEntry['encoding'], createdAt: Number(row.created_at), body: row.body as unknown as Buffer };
}


/** Of the oldest rows (by seq), those to delete so that `excess` bytes go; fewer when they hold less. */
export function oldestToDrop(sizes: readonly (readonly [number, number])[], excess: number): { seqs: number[]; bytes: number } {
  const seqs: number[] = [];
  let bytes = 0;
  for (const [seq, size] of sizes) {
    if (bytes >= excess) break;
    seqs.push(Number(seq));
    bytes += Number(size);
  }
  return { seqs, bytes };
}

/** Rows read per round while trimming. */
export const TRIM_ROWS = 1000;
