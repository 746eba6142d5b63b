import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres.js';
import { createDatabase, POSTGRES_OPTED_OUT, type TestDatabase, sqlPool } from '../support/postgres.js';
import { rng } from '../support/random.js';

/**
 * usage_day, the UTC day every rollup row is keyed by, is integer arithmetic since migration 0013:
 * it must give the day the timestamp conversion of migration 0001 gave for every timestamp, or
 * events of one day would split across two rollup rows (and verify would count them as missing).
 */
let db: TestDatabase;
let sql: pg.Pool;

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  db = await createDatabase();
  const store = new PostgresStore(db.url, { poolMax: 1 });
  await store.migrate();
  await store.close();
  sql = sqlPool(db.url, 1);
});
afterAll(async () => {
  await sql?.end();
  await db?.drop();
});

const DAY_MS = 86_400_000;

describe.skipIf(POSTGRES_OPTED_OUT)('usage_day on PostgreSQL', () => {
  it('gives the day of the timestamp conversion, at midnights, before 1970 and far ahead', async () => {
    const r = rng(20261205);
    const midnights = [-3, -1, 0, 1, 20_000, 2_932_896].map((d) => d * DAY_MS);
    const timestamps = [
      ...midnights.flatMap((m) => [m - 1001, m - 1000, m - 999, m - 1, m, m + 1, m + 999, m + 1000]),
      ...Array.from({ length: 2000 }, () => r.int(-10 * 365 * DAY_MS, 200 * 365 * DAY_MS)),
    ];
    const { rows } = await sql.query<{ ts: string; day: string; converted: string }>(
      `SELECT ts::text, usage_day(ts)::text AS day, ((to_timestamp(ts / 1000) AT TIME ZONE 'UTC')::date)::text AS converted
       FROM unnest($1::bigint[]) AS t (ts)`,
      [timestamps],
    );
    expect(rows.filter((row) => row.day !== row.converted)).toEqual([]);
    expect(rows).toHaveLength(timestamps.length);
  });
});
