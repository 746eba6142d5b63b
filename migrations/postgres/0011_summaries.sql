-- Summaries beside usage_daily, kept by the same statement-level trigger, so that the questions
-- whose answers scanned millions of events read a few hundred thousand rows at most
-- (docs/scaling.md, "Summaries"; src/store/postgres-summaries.ts picks one per question):
--   usage_daily_notask  usage_daily without the task: a rollup report that neither groups nor
--                       filters by task reads an eighth of the rows (tasks are the widest key part);
--   usage_slots         15-minute UTC slots × project, agent, model, provider: every zone's offset
--                       is a whole number of 15 minutes, so a slot lies in one local hour of any
--                       zone, and reports by hour or by local day group slots instead of events;
--   usage_runs          UTC day × project, agent, task, run: reports by run.
-- The sums are numeric, like usage_daily's, so a row never overflows (migration 0005).
-- usage_daily_notask keeps the whole history, as usage_daily does; slots and runs stand for raw
-- events, so retention deletes them before the raw horizon with the events.

LOCK TABLE usage_events IN SHARE MODE;

CREATE FUNCTION usage_slot(ts BIGINT) RETURNS BIGINT
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN ts - ((ts % 900000) + 900000) % 900000;

-- Every rollup the insert and update triggers keep, in the order they lock them: its key as
-- computed from an event, its key columns, and what it is kept from (raw events from the raw
-- horizon on, or usage_daily over the whole history). One list, so the triggers, the backfill
-- below, verify and rebuild-rollups cannot disagree on a key.
CREATE FUNCTION usage_rollups() RETURNS TABLE (rollup TEXT, keys TEXT, columns TEXT, kept_from TEXT)
  LANGUAGE sql IMMUTABLE AS $$
  VALUES
    ('usage_daily', 'usage_day(ts), project, agent_id, model, provider, task_label', 'day, project, agent_id, model, provider, task_label', 'raw'),
    ('usage_daily_notask', 'usage_day(ts), project, agent_id, model, provider', 'day, project, agent_id, model, provider', 'usage_daily'),
    ('usage_slots', 'usage_slot(ts), project, agent_id, model, provider', 'ts, project, agent_id, model, provider', 'raw'),
    ('usage_runs', 'usage_day(ts), project, agent_id, task_label, run_id', 'day, project, agent_id, task_label, run_id', 'raw')
$$;

-- The three tables: their key columns (a UTC day, a slot's first millisecond as BIGINT, or text
-- in the "C" collation as in usage_daily) and the metric columns of usage_daily after migration 0005.
DO $$
DECLARE
  r RECORD;
BEGIN
  FOR r IN SELECT * FROM usage_rollups() WHERE rollup <> 'usage_daily' LOOP
    EXECUTE format('CREATE TABLE %I (%s, events BIGINT NOT NULL, input_tokens NUMERIC NOT NULL, output_tokens NUMERIC NOT NULL, '
      'cache_read_tokens NUMERIC NOT NULL, cache_write_tokens NUMERIC NOT NULL, reasoning_tokens NUMERIC NOT NULL, '
      'cost_nanos NUMERIC NOT NULL, reported_cost_nanos NUMERIC NOT NULL, unpriced_events BIGINT NOT NULL, PRIMARY KEY (%s))',
      r.rollup,
      (SELECT string_agg(format('%I %s NOT NULL', col, CASE col WHEN 'day' THEN 'DATE' WHEN 'ts' THEN 'BIGINT' ELSE 'TEXT COLLATE "C"' END), ', ')
        FROM unnest(string_to_array(r.columns, ', ')) AS col),
      r.columns);
  END LOOP;
END $$;

-- The metric columns of every rollup, and how a group of events (or of usage_daily rows) sums into them.
CREATE FUNCTION usage_rollup_metrics(kept_from TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE
  RETURN CASE kept_from WHEN 'raw' THEN
    'COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), '
    'SUM(reasoning_tokens), SUM(cost_nanos), SUM(CASE WHEN cost_source = ''reported'' THEN cost_nanos ELSE 0 END), '
    'COUNT(*) FILTER (WHERE cost_source = ''unpriced'')'
  ELSE
    'SUM(events), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), '
    'SUM(reasoning_tokens), SUM(cost_nanos), SUM(reported_cost_nanos), SUM(unpriced_events)'
  END;

-- The rows `target` should hold, as a query: from the raw events from the horizon on, or from usage_daily.
CREATE FUNCTION usage_rollup_expected(target TEXT) RETURNS TEXT LANGUAGE sql STABLE
  RETURN (SELECT CASE r.kept_from WHEN 'raw' THEN
      format('SELECT %s, %s FROM usage_events WHERE ts >= COALESCE((SELECT horizon FROM raw_retention WHERE id = 1), 0) GROUP BY %s',
        r.keys, usage_rollup_metrics('raw'), r.keys)
    ELSE
      format('SELECT %s, %s FROM usage_daily GROUP BY %s', r.columns, usage_rollup_metrics(r.kept_from), r.columns)
    END
    FROM usage_rollups() r WHERE r.rollup = target);

-- Which of `target`'s rows should match usage_rollup_expected: all of them, or for slots and runs
-- those from the horizon on (retention deletes the older ones with the raw events).
CREATE FUNCTION usage_rollup_kept(target TEXT) RETURNS TEXT LANGUAGE sql STABLE
  RETURN (SELECT CASE WHEN r.kept_from <> 'raw' THEN 'TRUE'
      WHEN r.columns LIKE 'day,%' THEN 'day >= usage_day(COALESCE((SELECT horizon FROM raw_retention WHERE id = 1), 0))'
      ELSE 'ts >= COALESCE((SELECT horizon FROM raw_retention WHERE id = 1), 0)' END
    FROM usage_rollups() r WHERE r.rollup = target);

-- verify: `target`'s rows that differ from what it is kept from, counted from both sides.
CREATE FUNCTION usage_rollup_mismatches(target TEXT) RETURNS BIGINT LANGUAGE plpgsql STABLE AS $$
DECLARE
  kept CONSTANT TEXT := format('SELECT * FROM %I WHERE %s', target, usage_rollup_kept(target));
  mismatches BIGINT;
BEGIN
  EXECUTE format('SELECT (SELECT COUNT(*) FROM (%1$s EXCEPT %2$s) AS missing) + (SELECT COUNT(*) FROM (%2$s EXCEPT %1$s) AS extra)',
    usage_rollup_expected(target), kept) INTO mismatches;
  RETURN mismatches;
END $$;

-- rebuild-rollups: `target`'s rows replaced by what they should be (the caller holds the locks).
CREATE FUNCTION usage_rollup_rebuild(target TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DELETE FROM %I WHERE %s', target, usage_rollup_kept(target));
  EXECUTE format('INSERT INTO %I %s', target, usage_rollup_expected(target));
END $$;

-- Retention: up to `max_rows` rows of each rollup kept from raw events that are before the
-- horizon, so that no DELETE runs long; returns how many went.
CREATE FUNCTION usage_rollup_prune(max_rows INTEGER) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
  deleted BIGINT;
  total BIGINT := 0;
BEGIN
  FOR r IN SELECT * FROM usage_rollups() WHERE kept_from = 'raw' AND rollup <> 'usage_daily' LOOP
    EXECUTE format('DELETE FROM %1$I WHERE ctid = ANY(ARRAY(SELECT ctid FROM %1$I WHERE NOT (%2$s) LIMIT %3$s))',
      r.rollup, usage_rollup_kept(r.rollup), max_rows);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    total := total + deleted;
  END LOOP;
  RETURN total;
END $$;

-- One aggregated upsert per rollup and statement, in key order (see migration 0001: concurrent
-- collectors then queue on shared rows instead of deadlocking; every transaction takes the
-- rollups in the same order too). The function is written out from the list once, here, so that
-- its statements are plain SQL whose plans PL/pgSQL keeps, not planned again at every batch.
DO $do$
DECLARE
  r RECORD;
  body TEXT := '';
BEGIN
  FOR r IN SELECT * FROM usage_rollups() LOOP
    body := body || format($sql$
  INSERT INTO %1$I AS d (%2$s, events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    reasoning_tokens, cost_nanos, reported_cost_nanos, unpriced_events)
  SELECT %3$s, %4$s FROM inserted GROUP BY %3$s ORDER BY %3$s
  ON CONFLICT (%2$s) DO UPDATE SET
    events              = d.events + excluded.events,
    input_tokens        = d.input_tokens + excluded.input_tokens,
    output_tokens       = d.output_tokens + excluded.output_tokens,
    cache_read_tokens   = d.cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens  = d.cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens    = d.reasoning_tokens + excluded.reasoning_tokens,
    cost_nanos          = d.cost_nanos + excluded.cost_nanos,
    reported_cost_nanos = d.reported_cost_nanos + excluded.reported_cost_nanos,
    unpriced_events     = d.unpriced_events + excluded.unpriced_events;$sql$,
      r.rollup, r.columns, r.keys, usage_rollup_metrics('raw'));
  END LOOP;
  EXECUTE format('CREATE OR REPLACE FUNCTION usage_events_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS %L',
    'BEGIN' || body || E'\n  RETURN NULL;\nEND');
END $do$;

-- A reprice moves every rollup's rows by the difference (only cost fields change after insert),
-- locking each rollup's rows first in key order, as migration 0001 did for usage_daily.
CREATE OR REPLACE FUNCTION usage_events_rollup_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
BEGIN
  FOR r IN SELECT * FROM usage_rollups() LOOP
    EXECUTE format('SELECT 1 FROM %1$I WHERE (%2$s) IN (SELECT %3$s FROM old_rows) ORDER BY %2$s FOR UPDATE',
      r.rollup, r.columns, r.keys);
    EXECUTE format($sql$
      UPDATE %1$I AS d SET
        cost_nanos          = d.cost_nanos + c.cost_nanos,
        reported_cost_nanos = d.reported_cost_nanos + c.reported_cost_nanos,
        unpriced_events     = d.unpriced_events + c.unpriced_events
      FROM (
        SELECT %3$s,
          SUM(new_cost - cost_nanos),
          SUM(CASE WHEN new_source = 'reported' THEN new_cost ELSE 0 END - CASE WHEN cost_source = 'reported' THEN cost_nanos ELSE 0 END),
          SUM((new_source = 'unpriced')::int - (cost_source = 'unpriced')::int)
        FROM (SELECT o.*, n.cost_nanos AS new_cost, n.cost_source AS new_source FROM old_rows o JOIN new_rows n USING (seq)) AS e
        GROUP BY %3$s
      ) AS c (%2$s, cost_nanos, reported_cost_nanos, unpriced_events)
      WHERE (%4$s) = (%5$s)$sql$,
      r.rollup, r.columns, r.keys,
      regexp_replace(r.columns, '(\w+)', 'd.\1', 'g'), regexp_replace(r.columns, '(\w+)', 'c.\1', 'g'));
  END LOOP;
  RETURN NULL;
END $$;

-- The new rollups from what they are kept from: collectors wait on the lock meanwhile (the time
-- grows with the raw events kept; docs/scaling.md gives it at 10 M events).
DO $$
DECLARE
  r RECORD;
BEGIN
  FOR r IN SELECT * FROM usage_rollups() WHERE rollup <> 'usage_daily' LOOP
    PERFORM usage_rollup_rebuild(r.rollup);
  END LOOP;
END $$;
