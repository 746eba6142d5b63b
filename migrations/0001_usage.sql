-- Raw usage events and their daily rollup. Absent dimensions are '' rather than NULL so that the
-- rollup's primary key (and ON CONFLICT) treats them as one value, and raw and rollup group alike.
-- Money is integer nano-dollars: sums are exact and the rollup equals the raw sums to the unit.

CREATE TABLE usage_events (
  seq                INTEGER PRIMARY KEY,
  id                 TEXT    NOT NULL UNIQUE,
  ts                 INTEGER NOT NULL,            -- epoch milliseconds, UTC
  project            TEXT    NOT NULL,
  agent_id           TEXT    NOT NULL,
  model              TEXT    NOT NULL,
  provider           TEXT    NOT NULL DEFAULT '',
  operation          TEXT    NOT NULL DEFAULT '',
  task_label         TEXT    NOT NULL DEFAULT '',
  run_id             TEXT    NOT NULL DEFAULT '',
  step_id            TEXT    NOT NULL DEFAULT '',
  session_id         TEXT    NOT NULL DEFAULT '',
  user_id            TEXT    NOT NULL DEFAULT '',
  input_tokens       INTEGER NOT NULL DEFAULT 0,
  output_tokens      INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
  cache_write_tokens INTEGER NOT NULL DEFAULT 0,
  reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
  cost_nanos         INTEGER NOT NULL DEFAULT 0,
  cost_source        TEXT    NOT NULL CHECK (cost_source IN ('reported', 'computed', 'unpriced')),
  duration_ms        INTEGER,
  status             TEXT    NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error')),
  attributes         TEXT,                        -- JSON object, or NULL
  received_at        INTEGER NOT NULL
);

CREATE INDEX usage_events_ts ON usage_events (ts);
CREATE INDEX usage_events_project_ts ON usage_events (project, ts);
CREATE INDEX usage_events_agent_ts ON usage_events (agent_id, ts);
CREATE INDEX usage_events_model_ts ON usage_events (model, ts);
CREATE INDEX usage_events_run_ts ON usage_events (run_id, ts) WHERE run_id <> '';

CREATE TABLE usage_daily (
  day                 TEXT    NOT NULL,           -- YYYY-MM-DD, UTC
  project             TEXT    NOT NULL,
  agent_id            TEXT    NOT NULL,
  model               TEXT    NOT NULL,
  provider            TEXT    NOT NULL,
  task_label          TEXT    NOT NULL,
  events              INTEGER NOT NULL,
  input_tokens        INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cache_read_tokens   INTEGER NOT NULL,
  cache_write_tokens  INTEGER NOT NULL,
  reasoning_tokens    INTEGER NOT NULL,
  cost_nanos          INTEGER NOT NULL,
  reported_cost_nanos INTEGER NOT NULL,
  unpriced_events     INTEGER NOT NULL,
  PRIMARY KEY (day, project, agent_id, model, provider, task_label)
) WITHOUT ROWID;

-- Fires only for rows really inserted: an id already stored is skipped by ON CONFLICT DO NOTHING
-- on usage_events, so a duplicate changes neither table.
CREATE TRIGGER usage_events_rollup AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_daily (day, project, agent_id, model, provider, task_label, events,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_nanos, reported_cost_nanos, unpriced_events)
  VALUES (strftime('%Y-%m-%d', NEW.ts / 1000, 'unixepoch'), NEW.project, NEW.agent_id, NEW.model,
    NEW.provider, NEW.task_label, 1, NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
    NEW.cache_write_tokens, NEW.reasoning_tokens, NEW.cost_nanos,
    CASE WHEN NEW.cost_source = 'reported' THEN NEW.cost_nanos ELSE 0 END,
    NEW.cost_source = 'unpriced')
  ON CONFLICT (day, project, agent_id, model, provider, task_label) DO UPDATE SET
    events              = events + 1,
    input_tokens        = input_tokens + excluded.input_tokens,
    output_tokens       = output_tokens + excluded.output_tokens,
    cache_read_tokens   = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens  = cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens    = reasoning_tokens + excluded.reasoning_tokens,
    cost_nanos          = cost_nanos + excluded.cost_nanos,
    reported_cost_nanos = reported_cost_nanos + excluded.reported_cost_nanos,
    unpriced_events     = unpriced_events + excluded.unpriced_events;
END;
