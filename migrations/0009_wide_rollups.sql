-- A rollup row's sums never overflow. SQLite integers stop at 2^63 − 1 and its `+` then turns them
-- into inexact floats without a word, and a row (one UTC day × key) takes events for as long as
-- clients send them, so no cap per event can bound it. Each sum is kept in two columns: the metric's
-- own, always below 2^62 (so for any real row it is the whole sum), and `<metric>_hi`, counting the
-- 2^62s carried out of it. The value is `<metric>_hi` × 2^62 + `<metric>`. Every event's values are
-- below 2^62 (the event schema's caps and the price table's bound), so no addition here overflows.
ALTER TABLE usage_daily ADD COLUMN input_tokens_hi        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN output_tokens_hi       INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN cache_read_tokens_hi   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN cache_write_tokens_hi  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN reasoning_tokens_hi    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN cost_nanos_hi          INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN reported_cost_nanos_hi INTEGER NOT NULL DEFAULT 0;

-- The rows that carried: narrow reports leave the `_hi` columns out (reading them made rollup
-- reports 30-70 % slower) unless their range holds one of these. The index stays empty unless sums
-- pass 2^62; its condition is repeated word for word where reports probe it (src/store/sums.ts).
CREATE INDEX usage_daily_carried ON usage_daily (day) WHERE input_tokens_hi <> 0 OR output_tokens_hi <> 0
  OR cache_read_tokens_hi <> 0 OR cache_write_tokens_hi <> 0 OR reasoning_tokens_hi <> 0 OR cost_nanos_hi <> 0
  OR reported_cost_nanos_hi <> 0;

-- All SET expressions read the row as it was, so each pair is computed from the same old sum.
-- 4611686018427387903 is 2^62 − 1.
DROP TRIGGER usage_events_rollup;
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
    unpriced_events        = unpriced_events + excluded.unpriced_events;
END;

-- A reprice moves the sum by a difference that may be negative: `&` keeps the low part in
-- [0, 2^62) and the arithmetic `>>` borrows from the high one.
DROP TRIGGER usage_events_reprice;
CREATE TRIGGER usage_events_reprice AFTER UPDATE OF cost_nanos, cost_source ON usage_events
BEGIN
  UPDATE usage_daily SET
    cost_nanos             = (cost_nanos - OLD.cost_nanos + NEW.cost_nanos) & 4611686018427387903,
    cost_nanos_hi          = cost_nanos_hi + ((cost_nanos - OLD.cost_nanos + NEW.cost_nanos) >> 62),
    reported_cost_nanos    = (reported_cost_nanos
                               - CASE WHEN OLD.cost_source = 'reported' THEN OLD.cost_nanos ELSE 0 END
                               + CASE WHEN NEW.cost_source = 'reported' THEN NEW.cost_nanos ELSE 0 END) & 4611686018427387903,
    reported_cost_nanos_hi = reported_cost_nanos_hi + ((reported_cost_nanos
                               - CASE WHEN OLD.cost_source = 'reported' THEN OLD.cost_nanos ELSE 0 END
                               + CASE WHEN NEW.cost_source = 'reported' THEN NEW.cost_nanos ELSE 0 END) >> 62),
    unpriced_events        = unpriced_events - (OLD.cost_source = 'unpriced') + (NEW.cost_source = 'unpriced')
  WHERE day = strftime('%Y-%m-%d', OLD.ts / 1000, 'unixepoch') AND project = OLD.project
    AND agent_id = OLD.agent_id AND model = OLD.model AND provider = OLD.provider AND task_label = OLD.task_label;
END;
