-- Raw events by project, agent or model are found through the hours they occur in, not through an
-- index per dimension. The indexes on (project, ts), (agent_id, ts) and (model, ts) took more
-- insert time than anything else in the schema (about 40 % of the in-process ceiling; they wrote
-- more than half of the WAL pages), where this table takes one lookup per event and a write only
-- for the first event of an hour × project × agent × model (docs/benchmarks.md).
DROP INDEX usage_events_project_ts;
DROP INDEX usage_events_agent_ts;
DROP INDEX usage_events_model_ts;

-- Every hour (ts / 3600000, UTC) that holds a raw event of a project × agent × model: a list of
-- events filtered by those reads the events of these hours only. It may name an hour whose events
-- retention has since deleted, never lack one that holds events.
CREATE TABLE usage_hours (
  hour     INTEGER NOT NULL,
  project  TEXT    NOT NULL,
  agent_id TEXT    NOT NULL,
  model    TEXT    NOT NULL,
  PRIMARY KEY (hour, project, agent_id, model)
) WITHOUT ROWID;

-- Written only for an hour's first event of each key, so an index per dimension costs ingest little.
CREATE INDEX usage_hours_project ON usage_hours (project, hour);
CREATE INDEX usage_hours_agent ON usage_hours (agent_id, hour);
CREATE INDEX usage_hours_model ON usage_hours (model, hour);

INSERT INTO usage_hours (hour, project, agent_id, model)
  SELECT DISTINCT ts / 3600000, project, agent_id, model FROM usage_events;

-- Fires only for events really inserted, as the rollup trigger does.
CREATE TRIGGER usage_events_hours AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_hours (hour, project, agent_id, model) VALUES (NEW.ts / 3600000, NEW.project, NEW.agent_id, NEW.model)
  ON CONFLICT DO NOTHING;
END;

-- Within those hours the time index answers the filter itself: it carries the three dimensions, so
-- SQLite reads no table row for an event it passes over (nor for a raw report filtered by them).
DROP INDEX usage_events_ts;
CREATE INDEX usage_events_ts ON usage_events (ts, project, agent_id, model, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);
