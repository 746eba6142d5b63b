-- Raw events by project, agent or model are found through the hours they occur in, not through an
-- index per dimension. The indexes on (project, ts), (agent_id, ts) and (model, ts) took more
-- insert time than anything else in the schema and wrote more than half of the WAL pages
-- (docs/benchmarks.md).
DROP INDEX usage_events_project_ts;
DROP INDEX usage_events_agent_ts;
DROP INDEX usage_events_model_ts;

-- Each rollup row says which UTC hours of its day hold its events: bit h of `hours` is set when
-- one falls in hour h (0-23). A list of events filtered by project, agent or model reads only those
-- hours. Kept by the rollup's own upsert, so it costs ingest one OR per event, and checked and
-- rebuilt with the rollup's sums.
ALTER TABLE usage_daily ADD COLUMN hours INTEGER NOT NULL DEFAULT 0;

UPDATE usage_daily SET hours = raw.hours
FROM (SELECT date(ts / 86400000 + 2440587.5) AS day, project, agent_id, model, provider, task_label,
        SUM(DISTINCT 1 << (ts / 3600000 % 24)) AS hours
      FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6) AS raw
WHERE usage_daily.day = raw.day AND usage_daily.project = raw.project AND usage_daily.agent_id = raw.agent_id
  AND usage_daily.model = raw.model AND usage_daily.provider = raw.provider AND usage_daily.task_label = raw.task_label;

-- 0009's trigger with `hours`.
DROP TRIGGER usage_events_rollup;
CREATE TRIGGER usage_events_rollup AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_daily (day, project, agent_id, model, provider, task_label, events,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_nanos, reported_cost_nanos, unpriced_events, hours)
  VALUES (date(NEW.ts / 86400000 + 2440587.5), NEW.project, NEW.agent_id, NEW.model,
    NEW.provider, NEW.task_label, 1, NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
    NEW.cache_write_tokens, NEW.reasoning_tokens, NEW.cost_nanos,
    CASE WHEN NEW.cost_source = 'reported' THEN NEW.cost_nanos ELSE 0 END,
    NEW.cost_source = 'unpriced', 1 << (NEW.ts / 3600000 % 24))
  ON CONFLICT (day, project, agent_id, model, provider, task_label) DO UPDATE SET
    events                 = events + 1,
    input_tokens           = (input_tokens + excluded.input_tokens) & 4611686018427387903,
    input_tokens_hi        = input_tokens_hi + ((input_tokens + excluded.input_tokens) >> 62),
    output_tokens          = (output_tokens + excluded.output_tokens) & 4611686018427387903,
    output_tokens_hi       = output_tokens_hi + ((output_tokens + excluded.output_tokens) >> 62),
    cache_read_tokens      = (cache_read_tokens + excluded.cache_read_tokens) & 4611686018427387903,
    cache_read_tokens_hi   = cache_read_tokens_hi + ((cache_read_tokens + excluded.cache_read_tokens) >> 62),
    cache_write_tokens     = (cache_write_tokens + excluded.cache_write_tokens) & 4611686018427387903,
    cache_write_tokens_hi  = cache_write_tokens_hi + ((cache_write_tokens + excluded.cache_write_tokens) >> 62),
    reasoning_tokens       = (reasoning_tokens + excluded.reasoning_tokens) & 4611686018427387903,
    reasoning_tokens_hi    = reasoning_tokens_hi + ((reasoning_tokens + excluded.reasoning_tokens) >> 62),
    cost_nanos             = (cost_nanos + excluded.cost_nanos) & 4611686018427387903,
    cost_nanos_hi          = cost_nanos_hi + ((cost_nanos + excluded.cost_nanos) >> 62),
    reported_cost_nanos    = (reported_cost_nanos + excluded.reported_cost_nanos) & 4611686018427387903,
    reported_cost_nanos_hi = reported_cost_nanos_hi + ((reported_cost_nanos + excluded.reported_cost_nanos) >> 62),
    unpriced_events        = unpriced_events + excluded.unpriced_events,
    hours                  = hours | excluded.hours;
END;

-- Within those hours the time index answers the filter itself: it carries the three dimensions, so
-- SQLite reads no table row for an event it passes over (nor for a raw report filtered by them).
DROP INDEX usage_events_ts;
CREATE INDEX usage_events_ts ON usage_events (ts, project, agent_id, model, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);
