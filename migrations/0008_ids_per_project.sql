-- An event's id is unique within its project, not across projects: another project's producer may
-- use the same ids, and a retry from one project must never be matched against another's events.
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt: a new table, the rows
-- copied with their seq, the old table dropped (its indexes and triggers with it), the new one
-- renamed, then the indexes and triggers as 0001, 0002, 0005 and 0007 define them. The triggers
-- come after the copy, so the copied rows are not added to the rollup a second time.
CREATE TABLE usage_events_new (
  seq                INTEGER PRIMARY KEY,
  id                 TEXT    NOT NULL,
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
  received_at        INTEGER NOT NULL,
  UNIQUE (project, id)
);

INSERT INTO usage_events_new (seq, id, ts, project, agent_id, model, provider, operation, task_label, run_id,
  step_id, session_id, user_id, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
  reasoning_tokens, cost_nanos, cost_source, duration_ms, status, attributes, received_at)
SELECT seq, id, ts, project, agent_id, model, provider, operation, task_label, run_id,
  step_id, session_id, user_id, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
  reasoning_tokens, cost_nanos, cost_source, duration_ms, status, attributes, received_at
FROM usage_events ORDER BY seq;

DROP TABLE usage_events;
ALTER TABLE usage_events_new RENAME TO usage_events;

CREATE INDEX usage_events_ts ON usage_events (ts, input_tokens, output_tokens, cache_read_tokens,
  cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);
CREATE INDEX usage_events_project_ts ON usage_events (project, ts);
CREATE INDEX usage_events_agent_ts ON usage_events (agent_id, ts);
CREATE INDEX usage_events_model_ts ON usage_events (model, ts);
CREATE INDEX usage_events_run_ts ON usage_events (run_id, ts, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);

CREATE TRIGGER usage_events_reprice AFTER UPDATE OF cost_nanos, cost_source ON usage_events
BEGIN
  UPDATE usage_daily SET
    cost_nanos          = cost_nanos - OLD.cost_nanos + NEW.cost_nanos,
    reported_cost_nanos = reported_cost_nanos
                          - CASE WHEN OLD.cost_source = 'reported' THEN OLD.cost_nanos ELSE 0 END
                          + CASE WHEN NEW.cost_source = 'reported' THEN NEW.cost_nanos ELSE 0 END,
    unpriced_events     = unpriced_events - (OLD.cost_source = 'unpriced') + (NEW.cost_source = 'unpriced')
  WHERE day = strftime('%Y-%m-%d', OLD.ts / 1000, 'unixepoch') AND project = OLD.project
    AND agent_id = OLD.agent_id AND model = OLD.model AND provider = OLD.provider AND task_label = OLD.task_label;
END;

CREATE TRIGGER usage_events_rollup AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_daily (day, project, agent_id, model, provider, task_label, events,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_nanos, reported_cost_nanos, unpriced_events)
  VALUES (date(NEW.ts / 86400000 + 2440587.5), NEW.project, NEW.agent_id, NEW.model,
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
