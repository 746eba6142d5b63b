import pg from 'pg';
import { serverSilent } from './unavailable.js';

/**
 * The PostgreSQL connections of a store, and how work runs on them: the pools with their limits,
 * one connection held for a piece of work, and transactions run again after a deadlock. The store's
 * statements are postgres.ts's and its neighbours'.
 */

/**
 * bigint and numeric arrive as text. A bigint column holds what a JavaScript number gave it, so
 * Number() is exact; a sum (numeric) can pass 2^53, and is then kept exact as a BigInt (sums.ts).
 * A narrow sum (BIGINT) past 2^53 comes out as an unsafe number, which has the report read again
 * with the numeric sums (metricsFromRow).
 */
const TYPES = new pg.TypeOverrides();
TYPES.setTypeParser(pg.types.builtins.INT8, Number);
TYPES.setTypeParser(pg.types.builtins.NUMERIC, (text: string) => {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
});

/** How much longer than the server's statement_timeout a query's answer is waited for before the server is taken for gone. */
const SILENCE_MARGIN_MS = 5_000;
/** How long a connection may sit idle before the kernel starts probing whether its server is still there. */
const KEEPALIVE_DELAY_MS = 10_000;

export interface PoolLimits {
  max: number;
  /** How long making a connection (or waiting for a free one) may take (DATABASE_CONNECT_TIMEOUT_MS); unset: for ever. */
  connectTimeoutMs?: number;
  /** The server's statement_timeout (DATABASE_QUERY_TIMEOUT_MS); 0: none. */
  queryTimeoutMs: number;
  /** Every transaction read-only (the commands that only read). */
  readOnly?: boolean;
}

export function makePool(connectionString: string, { max, connectTimeoutMs, queryTimeoutMs, readOnly }: PoolLimits): pg.Pool {
  const pool = new pg.Pool({
    connectionString, max, types: TYPES, application_name: 'tokentally',
    // A server that stops answering without closing the connection (a network partition, a host
    // gone) is otherwise waited for as long as the kernel retries, about a quarter of an hour: so
    // connecting is bounded, idle connections are probed, and the wait for an answer ends a
    // little past the server's own limit (pg then fails the query, and its connection is dropped).
    connectionTimeoutMillis: connectTimeoutMs ?? 0,
    keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    ...(queryTimeoutMs > 0 ? {
      query_timeout: queryTimeoutMs + SILENCE_MARGIN_MS,
      // The server ends a statement running too long itself, so that it stops using the database.
      // Set by a query, not as a startup parameter: poolers such as PgBouncer refuse those, and a
      // URL's own `options` would replace it.
      onConnect: (client: pg.ClientBase) => client.query(`SET statement_timeout = ${queryTimeoutMs}`),
    } : {}),
    ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // A connection that dies while idle must not take the process down: the next query reconnects,
  // and a failing one reaches the caller (insertBatch retries, /readyz says why).
  pool.on('error', () => {});
  return pool;
}

/**
 * Runs `work` on a connection checked out of `pool`, and gives it back. pg-pool hears a connection's
 * 'error' event only while it is idle in the pool: one that dies while checked out (a database
 * restart, a terminated backend, a proxy's cut) reports it as an event that, unheard, ends the
 * process. It is heard here; the query in hand fails, and the connection is dropped rather than
 * given back, as is one whose work failed, since its session's state is then not known.
 */
export async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const dropped = (error: Error) => (broken = error);
  client.on('error', dropped);
  try {
    return await work(client);
  } catch (error) {
    broken ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.off('error', dropped);
    client.release(broken);
  }
}

/** Deadlock and serialization failures: the transaction was rolled back whole and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` in one transaction begun by `begin`, again from the start after a deadlock or
 * serialization failure (with jittered backoff). A rolled-back attempt left nothing behind, so
 * nothing is counted twice.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await withClient(pool, async (client): Promise<{ value: T } | { error: unknown }> => {
      await client.query(begin);
      try {
        const value = await work(client);
        await client.query('COMMIT');
        return { value };
      } catch (error) {
        // Thrown from here, the first error drops the client: one whose server did not answer (a
        // ROLLBACK would wait behind the unanswered query as long again), or whose state a failed
        // ROLLBACK leaves unknown.
        if (serverSilent(error)) throw error;
        await client.query('ROLLBACK').catch(() => Promise.reject(error));
        return { error };
      }
    });
    if ('value' in outcome) return outcome.value;
    const code = (outcome.error as { code?: string }).code;
    if (!code || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw outcome.error;
    await sleep(Math.min(500, 10 * 2 ** attempt) * (0.5 + Math.random()));
  }
}
