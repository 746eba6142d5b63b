import type pg from 'pg';
import { fitting, oldestToDrop, outboxRow, TRIM_ROWS } from './outbox.js';
import type { SqlRow } from './query-builder.js';
import type { OutboxEntry, OutboxRow, OutboxTake } from './types.js';

/**
 * The forward outbox on PostgreSQL (docs/forwarding.md): each function runs inside the caller's
 * transaction, which the store opens.
 */

/** Advisory lock keys (two ints) under which one collector at a time delivers a signal's outbox rows. */
const FORWARD_LOCK_KEY = 0x746b6677;
const SIGNAL_LOCKS: Record<OutboxEntry['signal'], number> = { traces: 1, logs: 2, metrics: 3 };

const INSERT_OUTBOX_SQL = `INSERT INTO forward_outbox (signal, encoding, created_at, bytes, body)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::bytea[])`;

/** Adds the entries in the transaction of the events they carry. */
export async function insertOutbox(client: pg.PoolClient, outbox: readonly OutboxEntry[]): Promise<void> {
  const now = Date.now();
  await client.query(INSERT_OUTBOX_SQL, [
    outbox.map((e) => e.signal), outbox.map((e) => e.encoding), outbox.map(() => now), outbox.map((e) => e.body.byteLength),
    outbox.map((e) => Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength)),
  ]);
}

/**
 * Hands the signal's oldest rows that fit `take` to `deliver` and deletes those it delivered; null
 * when another collector holds the signal. The transaction holds the signal (advisory lock) and its
 * rows (row locks) while they are delivered: another collector skips the signal, a trim skips the rows.
 */
export async function deliverOutbox(
  client: pg.PoolClient, signal: OutboxEntry['signal'], take: OutboxTake, deliver: (rows: OutboxRow[]) => Promise<number>,
): Promise<number | null> {
  const { rows: [lock] } = await client.query<{ held: boolean }>('SELECT pg_try_advisory_xact_lock($1, $2) AS held', [FORWARD_LOCK_KEY, SIGNAL_LOCKS[signal]]);
  if (!lock!.held) return null;
  const { rows: sizes } = await client.query({
    text: 'SELECT seq, bytes FROM forward_outbox WHERE signal = $1 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED', values: [signal, take.maxEntries], rowMode: 'array',
  });
  const seqs = fitting(sizes as [number, number][], take.maxBytes);
  if (seqs.length === 0) return 0;
  const { rows } = await client.query<SqlRow>('SELECT seq, encoding, created_at, body FROM forward_outbox WHERE seq = ANY($1::bigint[]) ORDER BY seq', [seqs]);
  const done = await deliver(rows.map((row) => outboxRow(signal, row)));
  if (done > 0) await client.query('DELETE FROM forward_outbox WHERE seq = ANY($1::bigint[])', [seqs.slice(0, done)]);
  return seqs.length;
}

/** Drops the oldest rows until the outbox holds at most `maxBytes`, leaving those a sender holds. */
export async function trimOutbox(client: pg.PoolClient, maxBytes: number): Promise<{ entries: number; bytes: number }> {
  const dropped = { entries: 0, bytes: 0 };
  const { rows: [size] } = await client.query<{ bytes: number }>('SELECT bytes FROM forward_outbox_size WHERE id = 1');
  const excess = size!.bytes - maxBytes;
  while (dropped.bytes < excess) {
    // Rows a sender holds are being delivered: they go that way, not here.
    const { rows } = await client.query({ text: 'SELECT seq, bytes FROM forward_outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED', values: [TRIM_ROWS], rowMode: 'array' });
    const { seqs, bytes } = oldestToDrop(rows as [number, number][], excess - dropped.bytes);
    if (seqs.length === 0) break;
    await client.query('DELETE FROM forward_outbox WHERE seq = ANY($1::bigint[])', [seqs]);
    dropped.entries += seqs.length;
    dropped.bytes += bytes;
  }
  return dropped;
}
