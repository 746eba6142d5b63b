-- A repriced event moves its rollup row by the difference, so the rollup stays equal to the raw
-- sums without being rebuilt. Only cost fields ever change after insert.
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
