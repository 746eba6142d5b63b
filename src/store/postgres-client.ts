import type pg from 'pg';

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
