import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres.js';
import { createDatabase, POSTGRES_OPTED_OUT, type TestDatabase } from '../support/postgres.js';
import { usageRecord } from '../support/records.js';

/**
 * A transaction that fails with a deadlock or serialization error is run again from the start, and
 * the retry counts nothing twice. The failures are real PostgreSQL errors, raised by a trigger that
 * fails the first attempts (a sequence is not rolled back, so it counts attempts across retries).
 */
let db: TestDatabase;
let store: PostgresStore;
let sql: pg.Client;

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  db = await createDatabase();
  store = new PostgresStore(db.url, { poolMax: 2 });
  await store.migrate();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  await sql.query(`
    CREATE TABLE fail_plan (code TEXT NOT NULL, times INT NOT NULL);
    CREATE SEQUENCE attempts;
    CREATE FUNCTION fail_first() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE plan fail_plan;
    BEGIN
      SELECT * INTO plan FROM fail_plan;
      IF FOUND AND nextval('attempts') <= plan.times THEN
        RAISE EXCEPTION 'injected failure' USING ERRCODE = plan.code;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER fail_first AFTER INSERT OR UPDATE ON usage_events FOR EACH STATEMENT EXECUTE FUNCTION fail_first();`);
});
afterAll(async () => {
  await sql?.end();
  await store?.close();
  await db?.drop();
});

async function failNext(code: string, times: number) {
  await sql.query('DELETE FROM fail_plan');
  await sql.query('INSERT INTO fail_plan VALUES ($1, $2)', [code, times]);
  await sql.query(`SELECT setval('attempts', 1, false)`);
}

async function totals() {
  const { rows } = await sql.query('SELECT COALESCE(SUM(events), 0)::int AS events, COALESCE(SUM(cost_nanos), 0)::int AS cost FROM usage_daily');
  return rows[0];
}

describe.skipIf(POSTGRES_OPTED_OUT)('PostgreSQL transaction retries', () => {
  it.each([['40P01', 'deadlock'], ['40001', 'serialization failure']])('an insert that meets %s (%s) twice is retried and counted once', async (code) => {
    const before = await totals();
    await failNext(code, 2);
    expect(await store.insertBatch([usageRecord(`${code}-a`), usageRecord(`${code}-b`)])).toEqual([true, true]);
    expect(await totals()).toEqual({ ...before, events: before.events + 2 });
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('a reprice that meets a deadlock is retried and moves the rollup once', async () => {
    await failNext('40P01', 1);
    const result = await store.reprice({ from: 0, to: Date.UTC(2030, 0, 1), models: null }, (r) => {
      r.cost_nanos = 1000;
      r.cost_source = 'computed';
    });
    expect(result).toEqual({ examined: 4, changed: 4 });
    expect(await totals()).toMatchObject({ events: 4, cost: 4000 });
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('other errors are not retried', async () => {
    await failNext('23514', 1);
    await expect(store.insertBatch([usageRecord('check-a')])).rejects.toMatchObject({ code: '23514' });
    expect(await store.insertBatch([usageRecord('check-a')])).toEqual([true]);
  });

  it('gives up after five attempts', async () => {
    await failNext('40P01', 10);
    await expect(store.insertBatch([usageRecord('never')])).rejects.toMatchObject({ code: '40P01' });
    expect((await sql.query(`SELECT last_value FROM attempts`)).rows[0].last_value).toBe('5');
    await sql.query('DELETE FROM fail_plan');
  });
});
