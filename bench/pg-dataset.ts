/**
 * The report dataset of `npm run bench -- --postgres`: the benchmark's fleet (bench/events.ts) over
 * 60 days, priced as the collector would, with one rare agent. `loadDataset` has the server make it
 * with `INSERT … SELECT` from generate_series, through the partitioned table (so the statement-level
 * triggers keep the rollup) and usage_event_ids, half a million events a statement, four statements
 * at once: generating, sending and parsing ten million events in Node and inserting them batch by
 * batch took longer than the rest of the benchmark. `checkDataset` proves the server's rows equal
 * to what `datasetRecords` makes here on a sample of events, and the rollup equal to the raw sums.
 */
import pg from 'pg';
import type { UsageRecord } from '../src/event/schema.js';
import type { PriceLookup } from '../src/pricing/index.js';
import { unitPrices } from '../src/pricing/cost.js';
import type { PostgresStore } from '../src/store/postgres.js';
import { AGENTS, DAY_S, EVENTS_PER_RUN, makeEvent, makeRecords, MODELS, PROJECTS, RARE_RUNS, TASKS_PER_AGENT, USERS } from './events.js';

const DAY_MS = DAY_S * 1000;
/** One event in RARE_EVERY is sent by RARE_AGENT: the one /v1/events is asked about. */
const RARE_EVERY = 100_000;
export const RARE_AGENT = 'agent-rare';
const ID_PREFIX = 'bench';
/** Events per INSERT statement: the trigger folds each statement's rows into the rollup at once. */
const CHUNK = 500_000;
/**
 * Statements at once: their triggers queue on the shared rollup rows (in key order, so without
 * deadlock), while generating and storing the events proceeds side by side.
 */
const LOADERS = 4;
/** Events compared field by field between the server's rows and this process's. */
const SAMPLES = 2_000;

export interface Dataset {
  total: number;
  now: number;
  pricer: PriceLookup;
}

/** The first half of the events in the 30 days before `now`, the second in the 30 days before those. */
function base(n: number, { total, now }: Dataset): number {
  return n < total / 2 ? now : now - 30 * DAY_MS;
}

/** Events first … first + count - 1 of the dataset, made here. */
function datasetRecords(first: number, count: number, dataset: Dataset): UsageRecord[] {
  const records: UsageRecord[] = [];
  for (let n = first; n < first + count; ) {
    const end = n < dataset.total / 2 ? Math.min(first + count, Math.ceil(dataset.total / 2)) : first + count;
    records.push(...makeRecords(n, end - n, dataset.pricer, base(n, dataset)));
    n = end;
  }
  records.forEach((r, i) => {
    if ((first + i) % RARE_EVERY === 0) r.agent_id = RARE_AGENT;
  });
  return records;
}

/** events.ts's hash() on unsigned 32-bit values held in bigints: Math.imul's low 32 bits, in two 16-bit halves. */
const HASH_FUNCTION = `CREATE FUNCTION bench_hash(n bigint, salt bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE h bigint := (n # salt) & 4294967295;
BEGIN
  h := (h * ${0x9e3779b1 & 0xffff} + (((h * ${0x9e3779b1 >>> 16}) & 65535) << 16)) & 4294967295;
  h := h # (h >> 15);
  h := (h * ${0x85ebca6b & 0xffff} + (((h * ${0x85ebca6b >>> 16}) & 65535) << 16)) & 4294967295;
  RETURN h # (h >> 13);
END $$`;

/**
 * events.ts's makeEvent() for events $1 … $2 - 1, normalised and priced ($3: now, $4: the total,
 * $5 …: the models with their unit prices in pico-dollars per token, $11: the attributes as JSON).
 * Each OFFSET 0 keeps a level from being folded into the next, so every hash is computed once per run or event.
 */
const GENERATE_SQL = `
  WITH models AS (
    SELECT * FROM unnest($5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
      WITH ORDINALITY AS m (model, provider, p_input, p_output, p_cache_read, p_cache_write, position)
  ), runs AS MATERIALIZED (
    SELECT run, r, CASE WHEN r7 % ${RARE_RUNS} = 0 THEN ${AGENTS} ELSE r % ${AGENTS} END AS agent
    FROM (SELECT run, bench_hash(run, 1) AS r, bench_hash(run, 7) AS r7
      FROM generate_series($1::bigint / ${EVENTS_PER_RUN}, ($2::bigint - 1) / ${EVENTS_PER_RUN}) AS run OFFSET 0) AS hashed
  ), events AS (
    SELECT *, 200 + h3 % 12000 AS input FROM (
      SELECT runs.*, step, n, bench_hash(n, 2) AS h2, bench_hash(n, 3) AS h3, bench_hash(n, 4) AS h4,
        bench_hash(n, 5) AS h5, bench_hash(n, 6) AS h6,
        CASE WHEN n < $4::bigint / 2.0 THEN $3::bigint ELSE $3::bigint - ${30 * DAY_MS} END AS base
      FROM runs, generate_series(0, ${EVENTS_PER_RUN - 1}) AS step, LATERAL (SELECT run * ${EVENTS_PER_RUN} + step AS n) AS numbered
      WHERE n >= $1 AND n < $2 OFFSET 0) AS hashed
  ), priced AS (
    SELECT e.*, m.model, m.provider, m.p_input, m.p_output, m.p_cache_read, m.p_cache_write,
      starts_with(m.model, 'text-embedding') AS embedding,
      CASE WHEN starts_with(m.model, 'text-embedding') THEN 0 ELSE 20 + h4 % 1500 END AS output,
      CASE WHEN step > 0 THEN floor(input * 0.6::float8)::bigint ELSE 0 END AS cache_read,
      CASE WHEN step = 0 THEN floor(input * 0.3::float8)::bigint ELSE 0 END AS cache_write
    FROM events e JOIN models m ON m.position = (e.agent + (e.h2 % 3) * 5) % ${MODELS.length} + 1
    OFFSET 0
  ), costed AS (
    SELECT *, GREATEST(0, input - cache_read - cache_write) * p_input + cache_read * p_cache_read
      + cache_write * p_cache_write + output * p_output AS pico
    FROM priced OFFSET 0
  )
  SELECT '${ID_PREFIX}-' || n AS id,
    base - (r % ${30 * DAY_S}) * 1000 + (step - ${EVENTS_PER_RUN}) * 2000 AS ts,
    (ARRAY[${PROJECTS.map((p) => `'${p}'`).join(', ')}])[agent % ${PROJECTS.length} + 1] AS project,
    CASE WHEN n % ${RARE_EVERY} = 0 THEN '${RARE_AGENT}' ELSE 'agent-' || agent END AS agent_id,
    model, provider, CASE WHEN embedding THEN 'embeddings' ELSE 'chat' END AS operation,
    'agent-' || agent || '-task-' || (r >> 8) % ${TASKS_PER_AGENT} AS task_label,
    'run-' || run AS run_id, 'step-' || step AS step_id, 'session-' || run / 4 AS session_id,
    'user-' || (r >> 16) % ${USERS} AS user_id,
    input AS input_tokens, output AS output_tokens, cache_read AS cache_read_tokens, cache_write AS cache_write_tokens,
    CASE WHEN starts_with(model, 'o') THEN output / 2 ELSE 0 END AS reasoning_tokens,
    pico / 1000 + CASE WHEN pico % 1000 * 2 >= 1000 THEN 1 ELSE 0 END AS cost_nanos, 'computed' AS cost_source,
    300 + h5 % 20000 AS duration_ms, CASE WHEN h6 % 50 = 0 THEN 'error' ELSE 'ok' END AS status,
    $11::text AS attributes, base AS received_at
  FROM costed`;

const COLUMNS = 'id, ts, project, agent_id, model, provider, operation, task_label, run_id, step_id, session_id, user_id, ' +
  'input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source, duration_ms, status, attributes, received_at';

/** The ids first, as the store inserts them, then the events: one statement, so one trigger call. */
const INSERT_SQL = `
  WITH generated AS MATERIALIZED (${GENERATE_SQL}), ids AS (
    INSERT INTO usage_event_ids (project, id, ts) SELECT project, id, ts FROM generated ORDER BY project, id
  )
  INSERT INTO usage_events (${COLUMNS}) SELECT ${COLUMNS} FROM generated`;

/** The models' unit prices, as the pricer applies them at `now` (the sample check catches a price that changed within the 60 days). */
function modelParams({ pricer, now }: Dataset): unknown[] {
  const units = MODELS.map(([model, provider]) => {
    const entry = pricer.lookup(model, provider, new Date(now));
    if (!entry) throw new Error(`the benchmark's model ${model} (${provider}) has no price`);
    return unitPrices(entry);
  });
  return [
    MODELS.map(([model]) => model), MODELS.map(([, provider]) => provider),
    units.map((u) => u.input), units.map((u) => u.output), units.map((u) => u.cacheRead), units.map((u) => u.cacheWrite),
  ];
}

/** The indexes (and the constraints they back) of the tables the dataset fills. */
const INDEXES_SQL = `
  SELECT i.indrelid::regclass::text AS "table", i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition,
    c.conname AS "constraint", pg_get_constraintdef(c.oid) AS constraint_definition
  FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')
  WHERE i.indrelid IN ('usage_events'::regclass, 'usage_event_ids'::regclass)`;

interface Index {
  table: string;
  name: string;
  definition: string;
  constraint: string | null;
  constraint_definition: string | null;
}

/**
 * Makes the dataset in `db`, whose partitions already cover its 60 days; returns events per second.
 * The indexes are dropped meanwhile and built again after (on every partition), which sorts each
 * key once instead of inserting ten million keys one by one; the rows still go through the
 * partitioned table, so its triggers fill the rollup and the projects as in service.
 */
export async function loadDataset(db: pg.Client, url: string, dataset: Dataset): Promise<number> {
  await db.query(HASH_FUNCTION);
  const fixed = [dataset.now, dataset.total, ...modelParams(dataset), JSON.stringify(makeEvent(0, ID_PREFIX, dataset.now).attributes)];
  const started = performance.now();
  const { rows: indexes } = await db.query<Index>(INDEXES_SQL);
  for (const index of indexes) {
    await db.query(index.constraint
      ? `ALTER TABLE ${index.table} DROP CONSTRAINT ${index.constraint}`
      : `DROP INDEX ${index.name}`);
  }
  let next = 0;
  await Promise.all(Array.from({ length: LOADERS }, async () => {
    const loader = new pg.Client({ connectionString: url });
    await loader.connect();
    try {
      for (let first = next; first < dataset.total; first = next) {
        next += CHUNK;
        await loader.query(INSERT_SQL, [first, Math.min(dataset.total, first + CHUNK), ...fixed]);
      }
    } finally {
      await loader.end();
    }
  }));
  await db.query(`SET maintenance_work_mem = '512MB'`);
  for (const index of indexes) {
    // A partitioned table's index reads "ON ONLY": built so, it would cover none of the partitions.
    await db.query(index.constraint
      ? `ALTER TABLE ${index.table} ADD CONSTRAINT ${index.constraint} ${index.constraint_definition}`
      : index.definition.replace(' ON ONLY ', ' ON '));
  }
  await db.query('RESET maintenance_work_mem');
  return dataset.total / ((performance.now() - started) / 1000);
}

/**
 * Throws unless events spread over the whole dataset (the first of them a rare agent's) equal
 * field by field what this process makes, every id is in usage_event_ids, and `verify` finds the
 * rollup equal to the raw sums.
 */
export async function checkDataset(db: pg.Client, store: PostgresStore, dataset: Dataset): Promise<void> {
  const numbers = Array.from({ length: SAMPLES }, (_, i) => Math.floor((i * dataset.total) / SAMPLES) + (i % EVENTS_PER_RUN));
  const expected = numbers.filter((n) => n < dataset.total).map((n) => datasetRecords(n, 1, dataset)[0]!);
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM usage_events WHERE id = ANY($1::text[]) ORDER BY id`, [expected.map((r) => r.id)]);
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const record of expected) {
    const row = byId.get(record.id);
    const differs = Object.entries(record).filter(([field, value]) => String(row?.[field]) !== String(value));
    if (differs.length > 0) {
      throw new Error(`event ${record.id} differs from the server's: ${differs.map(([f, v]) => `${f} ${JSON.stringify(v)} here, ${JSON.stringify(row?.[f])} there`).join('; ')}`);
    }
  }
  const { rows: [counts] } = await db.query<{ events: string; ids: string }>(
    'SELECT (SELECT COUNT(*) FROM usage_events) AS events, (SELECT COUNT(*) FROM usage_event_ids) AS ids');
  if (Number(counts!.events) !== dataset.total || Number(counts!.ids) !== dataset.total) {
    throw new Error(`expected ${dataset.total} events and ids, found ${counts!.events} and ${counts!.ids}`);
  }
  const verified = await store.verify();
  if (!verified.ok) throw new Error(`the rollup differs from the raw sums in ${verified.mismatches} rows`);
}
