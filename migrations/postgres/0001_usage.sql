-- Raw usage events and their daily rollup, the same tables as on SQLite. Absent dimensions are ''
-- rather than NULL so the rollup key treats them as one value. Money is integer nano-dollars.
-- Text columns use the "C" collation so that ORDER BY sorts by code point, as SQLite does,
-- whatever locale the cluster was created with.

CREATE TABLE usage_events (
  seq                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id                 TEXT COLLATE "C" NOT NULL UNIQUE,
  ts                 BIGINT NOT NULL,             -- epoch milliseconds, UTC
  project            TEXT COLLATE "C" NOT NULL,
  agent_id           TEXT COLLATE "C" NOT NULL,
  model              TEXT COLLATE "C" NOT NULL,
  provider           TEXT COLLATE "C" NOT NULL DEFAULT '',
  operation          TEXT COLLATE "C" NOT NULL DEFAULT '',
  task_label         TEXT COLLATE "C" NOT NULL DEFAULT '',
  run_id             TEXT COLLATE "C" NOT NULL DEFAULT '',
  step_id            TEXT COLLATE "C" NOT NULL DEFAULT '',
  session_id         TEXT COLLATE "C" NOT NULL DEFAULT '',
  user_id            TEXT COLLATE "C" NOT NULL DEFAULT '',
  input_tokens       BIGINT NOT NULL DEFAULT 0,
  output_tokens      BIGINT NOT NULL DEFAULT 0,
  cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
  cache_write_tokens BIGINT NOT NULL DEFAULT 0,
  reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
  cost_nanos         BIGINT NOT NULL DEFAULT 0,
  cost_source        TEXT COLLATE "C" NOT NULL CHECK (cost_source IN ('reported', 'computed', 'unpriced')),
  duration_ms        BIGINT,
  status             TEXT COLLATE "C" NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error')),
  attributes         TEXT,                        -- JSON object as sent, or NULL
  received_at        BIGINT NOT NULL
);

CREATE INDEX usage_events_ts ON usage_events (ts);
CREATE INDEX usage_events_project_ts ON usage_events (project, ts);
CREATE INDEX usage_events_agent_ts ON usage_events (agent_id, ts);
CREATE INDEX usage_events_model_ts ON usage_events (model, ts);
CREATE INDEX usage_events_run_ts ON usage_events (run_id, ts) WHERE run_id <> '';
-- Reports list the models without a price; few events are unpriced, so this stays small.
CREATE INDEX usage_events_unpriced_ts ON usage_events (ts) WHERE cost_source = 'unpriced';

CREATE TABLE usage_daily (
  day                 DATE NOT NULL,              -- UTC
  project             TEXT COLLATE "C" NOT NULL,
  agent_id            TEXT COLLATE "C" NOT NULL,
  model               TEXT COLLATE "C" NOT NULL,
  provider            TEXT COLLATE "C" NOT NULL,
  task_label          TEXT COLLATE "C" NOT NULL,
  events              BIGINT NOT NULL,
  input_tokens        BIGINT NOT NULL,
  output_tokens       BIGINT NOT NULL,
  cache_read_tokens   BIGINT NOT NULL,
  cache_write_tokens  BIGINT NOT NULL,
  reasoning_tokens    BIGINT NOT NULL,
  cost_nanos          BIGINT NOT NULL,
  reported_cost_nanos BIGINT NOT NULL,
  unpriced_events     BIGINT NOT NULL,
  PRIMARY KEY (day, project, agent_id, model, provider, task_label)
);

CREATE FUNCTION usage_day(ts BIGINT) RETURNS DATE
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (to_timestamp(ts / 1000) AT TIME ZONE 'UTC')::date;

-- One statement-level trigger per INSERT: it sees only the rows really inserted (ON CONFLICT DO
-- NOTHING leaves duplicates out of the transition table), folds them into one row per rollup key,
-- and upserts those in key order. A row-level trigger would lock the shared rollup rows in arrival
-- order, and concurrent collectors then deadlock on each other; with one fixed order they queue.
CREATE FUNCTION usage_events_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO usage_daily AS d (day, project, agent_id, model, provider, task_label, events,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_nanos, reported_cost_nanos, unpriced_events)
  SELECT usage_day(ts), project, agent_id, model, provider, task_label, COUNT(*),
    SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
    SUM(reasoning_tokens), SUM(cost_nanos),
    SUM(CASE WHEN cost_source = 'reported' THEN cost_nanos ELSE 0 END),
    COUNT(*) FILTER (WHERE cost_source = 'unpriced')
  FROM inserted
  GROUP BY 1, 2, 3, 4, 5, 6
  ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (day, project, agent_id, model, provider, task_label) DO UPDATE SET
    events              = d.events + excluded.events,
    input_tokens        = d.input_tokens + excluded.input_tokens,
    output_tokens       = d.output_tokens + excluded.output_tokens,
    cache_read_tokens   = d.cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens  = d.cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens    = d.reasoning_tokens + excluded.reasoning_tokens,
    cost_nanos          = d.cost_nanos + excluded.cost_nanos,
    reported_cost_nanos = d.reported_cost_nanos + excluded.reported_cost_nanos,
    unpriced_events     = d.unpriced_events + excluded.unpriced_events;
  RETURN NULL;
END $$;

CREATE TRIGGER usage_events_rollup_insert AFTER INSERT ON usage_events
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_rollup_insert();

-- A repriced event moves its rollup row by the difference; only cost fields change after insert
-- (the rollup key never does), so old and new rows pair up by seq. The affected rollup rows are
-- locked first, in key order, for the same reason as above.
CREATE FUNCTION usage_events_rollup_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM usage_daily d
    WHERE (d.day, d.project, d.agent_id, d.model, d.provider, d.task_label) IN
      (SELECT usage_day(ts), project, agent_id, model, provider, task_label FROM old_rows)
    ORDER BY d.day, d.project, d.agent_id, d.model, d.provider, d.task_label
    FOR UPDATE;
  UPDATE usage_daily AS d SET
    cost_nanos          = d.cost_nanos + c.cost_nanos,
    reported_cost_nanos = d.reported_cost_nanos + c.reported_cost_nanos,
    unpriced_events     = d.unpriced_events + c.unpriced_events
  FROM (
    SELECT usage_day(o.ts) AS day, o.project, o.agent_id, o.model, o.provider, o.task_label,
      SUM(n.cost_nanos - o.cost_nanos) AS cost_nanos,
      SUM(CASE WHEN n.cost_source = 'reported' THEN n.cost_nanos ELSE 0 END
        - CASE WHEN o.cost_source = 'reported' THEN o.cost_nanos ELSE 0 END) AS reported_cost_nanos,
      SUM((n.cost_source = 'unpriced')::int - (o.cost_source = 'unpriced')::int) AS unpriced_events
    FROM old_rows o JOIN new_rows n USING (seq)
    GROUP BY 1, 2, 3, 4, 5, 6
  ) c
  WHERE (d.day, d.project, d.agent_id, d.model, d.provider, d.task_label)
      = (c.day, c.project, c.agent_id, c.model, c.provider, c.task_label);
  RETURN NULL;
END $$;

CREATE TRIGGER usage_events_rollup_update AFTER UPDATE ON usage_events
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_rollup_update();
