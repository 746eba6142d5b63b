-- Events without a run (OTLP log records: Claude Code, Codex and Gemini CLI name none) leave the
-- run index. Each put an entry there that no report needed on its own, and that entry was a
-- seventh of a log record's insert CPU and a fifth of its bytes written (docs/benchmarks.md,
-- "Events without a run, session 30"). A report by run now reads the runs through this index and its `''` group
-- through the time index, only in the hours the rollup says hold such events.
DROP INDEX usage_events_run_ts;
CREATE INDEX usage_events_run_ts ON usage_events (run_id, ts, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source) WHERE run_id <> '';

-- The time index tells whether an event has a run, so those hours are read from the index alone.
-- Queries must write the test as `(run_id = '') = 1` for SQLite to take it from the index.
DROP INDEX usage_events_ts;
CREATE INDEX usage_events_ts ON usage_events (ts, project, agent_id, model, (run_id = ''), input_tokens,
  output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);

-- Bit h of `runless_hours` is set when an event of the rollup row has no run and falls in UTC hour
-- h, as `hours` (0014) is for all its events.
ALTER TABLE usage_daily ADD COLUMN runless_hours INTEGER NOT NULL DEFAULT 0;

UPDATE usage_daily SET runless_hours = raw.runless_hours
FROM (SELECT date(ts / 86400000 + 2440587.5) AS day, project, agent_id, model, provider, task_label,
        SUM(DISTINCT (run_id = '') << (ts / 3600000 % 24)) AS runless_hours
      FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6) AS raw
WHERE usage_daily.day = raw.day AND usage_daily.project = raw.project AND usage_daily.agent_id = raw.agent_id
  AND usage_daily.model = raw.model AND usage_daily.provider = raw.provider AND usage_daily.task_label = raw.task_label;

-- 0014's trigger with `runless_hours`.
DROP TRIGGER usage_events_rollup;
CREATE TRIGGER usage_events_rollup AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_daily (day, project, agent_id, model, provider, task_label, events,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_nanos, reported_cost_nanos, unpriced_events, hours, runless_hours)
  VALUES (date(NEW.ts / 86400000 + 2440587.5), NEW.project, NEW.agent_id, NEW.model,
    NEW.provider, NEW.task_label, 1, NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens,
    NEW.cache_write_tokens, NEW.reasoning_tokens, NEW.cost_nanos,
    CASE WHEN NEW.cost_source = 'reported' THEN NEW.cost_nanos ELSE 0 END,
    NEW.cost_source = 'unpriced', 1 << (NEW.ts / 3600000 % 24), (NEW.run_id = '') << (NEW.ts / 3600000 % 24))
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
    hours                  = hours | excluded.hours,
    runless_hours          = runless_hours | excluded.runless_hours;
END;
