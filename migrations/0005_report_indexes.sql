-- Raw reports sum the metric columns over a time range, often grouped by run. Carrying those
-- columns in the two indexes lets SQLite answer from the index alone: no lookup into the table per
-- event, and for runs no sort either (the run index is already in group order). The run index
-- covers events without a run too, so a report grouped by run can scan it whole.
DROP INDEX usage_events_ts;
CREATE INDEX usage_events_ts ON usage_events (ts, input_tokens, output_tokens, cache_read_tokens,
  cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);

DROP INDEX usage_events_run_ts;
CREATE INDEX usage_events_run_ts ON usage_events (run_id, ts, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, cost_source);
