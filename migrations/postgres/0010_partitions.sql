-- usage_events becomes a table partitioned by month on ts (docs/scaling.md). The existing table is
-- not copied: it is attached whole as the partition of everything before next month
-- (usage_events_legacy), so the switch costs a copy of the ids and metadata changes, not a rewrite
-- of the events. Collectors wait on the table lock meanwhile (docs/scaling.md gives the times).
LOCK TABLE usage_events IN ACCESS EXCLUSIVE MODE;

-- A partitioned table's unique indexes must hold the partition key, and a retry may carry another
-- timestamp (one taken at receive time), so "an id once per project" is kept here: the insert
-- adds the pair first and stores only the events whose pair was new, in the same statement.
-- ts lets retention find the ids of the months it drops.
CREATE TABLE usage_event_ids (
  project TEXT COLLATE "C" NOT NULL,
  id      TEXT COLLATE "C" NOT NULL,
  ts      BIGINT NOT NULL
);
INSERT INTO usage_event_ids (project, id, ts) SELECT project, id, ts FROM usage_events;
ALTER TABLE usage_event_ids ADD PRIMARY KEY (project, id);
CREATE INDEX usage_event_ids_ts ON usage_event_ids (ts);

-- seq keeps counting where the old identity stopped; an identity column cannot move to a
-- partitioned table before PostgreSQL 17, a sequence works on every supported version.
CREATE SEQUENCE usage_events_seq AS BIGINT;
SELECT setval('usage_events_seq', COALESCE(MAX(seq), 0) + 1, false) FROM usage_events;
ALTER TABLE usage_events ALTER COLUMN seq DROP IDENTITY;

DROP TRIGGER usage_events_rollup_insert ON usage_events;
DROP TRIGGER usage_events_rollup_update ON usage_events;
DROP TRIGGER usage_events_projects ON usage_events;
ALTER TABLE usage_events RENAME TO usage_events_legacy;
ALTER INDEX usage_events_ts RENAME TO usage_events_legacy_ts;
ALTER INDEX usage_events_project_ts RENAME TO usage_events_legacy_project_ts;
ALTER INDEX usage_events_agent_ts RENAME TO usage_events_legacy_agent_ts;
ALTER INDEX usage_events_model_ts RENAME TO usage_events_legacy_model_ts;
ALTER INDEX usage_events_run_ts RENAME TO usage_events_legacy_run_ts;
ALTER INDEX usage_events_unpriced_ts RENAME TO usage_events_legacy_unpriced_ts;

-- The same columns, defaults and checks (same names, as ATTACH requires), without a primary key:
-- seq is unique by its sequence, and (ts, seq) is what readers page by.
CREATE TABLE usage_events (LIKE usage_events_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (ts);
ALTER TABLE usage_events ALTER COLUMN seq SET DEFAULT nextval('usage_events_seq');
ALTER SEQUENCE usage_events_seq OWNED BY usage_events.seq;

-- The old table's indexes, so that attaching it reuses them instead of building new ones.
CREATE INDEX usage_events_ts ON usage_events (ts);
CREATE INDEX usage_events_project_ts ON usage_events (project, ts);
CREATE INDEX usage_events_agent_ts ON usage_events (agent_id, ts);
CREATE INDEX usage_events_model_ts ON usage_events (model, ts);
CREATE INDEX usage_events_run_ts ON usage_events (run_id, ts) WHERE run_id <> '';
CREATE INDEX usage_events_unpriced_ts ON usage_events (ts) WHERE cost_source = 'unpriced';

-- Strays: events for a month without a partition (older than the first, or far ahead). Retention
-- deletes them by id, so they have an index of their own on the pair.
CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;
CREATE INDEX usage_events_default_project_id ON usage_events_default (project, id);

CREATE FUNCTION usage_month_start(ts BIGINT, months INTEGER) RETURNS BIGINT
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(ts / 1000) AT TIME ZONE 'UTC') + make_interval(months => months)) * 1000)::bigint;

-- The range partitions with their bounds in epoch ms (MINVALUE as the smallest bigint).
CREATE FUNCTION usage_events_partitions() RETURNS TABLE (name TEXT, lower_ms BIGINT, upper_ms BIGINT)
  LANGUAGE sql STABLE AS $$
  SELECT c.relname::text,
    CASE WHEN b[1] = 'MINVALUE' THEN -9223372036854775808 ELSE b[1]::bigint END,
    CASE WHEN b[2] = 'MAXVALUE' THEN 9223372036854775807 ELSE b[2]::bigint END
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
    regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''?([^'')]+)''?\) TO \(''?([^'')]+)''?\)') AS b
  WHERE i.inhparent = 'usage_events'::regclass AND b IS NOT NULL
$$;

-- Adds the monthly partitions that do not exist yet: from the month of `first_ms` to `ahead`
-- months after this one, and every month the default partition holds strays of (a backfill).
-- Each is made as a table of its own, given its month's strays from the default partition, then
-- attached: ATTACH locks the parent less than CREATE ... PARTITION OF does, so inserts and reports
-- go on meanwhile. Months an existing partition covers (usage_events_legacy) are skipped.
CREATE FUNCTION usage_events_add_partitions(first_ms BIGINT, ahead INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  now_ms CONSTANT BIGINT := (EXTRACT(EPOCH FROM now()) * 1000)::bigint;
  added INTEGER := 0;
  month_lower BIGINT;
  month_upper BIGINT;
  part TEXT;
BEGIN
  -- Several processes run this at start: one at a time, each then sees what the other made.
  PERFORM pg_advisory_xact_lock(7301975232);
  FOR month_lower IN
    SELECT (EXTRACT(EPOCH FROM m) * 1000)::bigint FROM generate_series(
        to_timestamp(usage_month_start(first_ms, 0) / 1000) AT TIME ZONE 'UTC',
        to_timestamp(usage_month_start(now_ms, ahead) / 1000) AT TIME ZONE 'UTC', interval '1 month') AS g (m)
    UNION SELECT usage_month_start(ts, 0) FROM usage_events_default
    ORDER BY 1
  LOOP
    month_upper := usage_month_start(month_lower, 1);
    CONTINUE WHEN EXISTS (SELECT 1 FROM usage_events_partitions() p WHERE p.lower_ms < month_upper AND p.upper_ms > month_lower);
    part := 'usage_events_' || to_char(to_timestamp(month_lower / 1000) AT TIME ZONE 'UTC', 'YYYY_MM');
    EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING ALL)', part);
    EXECUTE format('WITH moved AS (DELETE FROM usage_events_default WHERE ts >= %s AND ts < %s RETURNING *) INSERT INTO %I SELECT * FROM moved',
      month_lower, month_upper, part);
    EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', part, month_lower, month_upper);
    added := added + 1;
  END LOOP;
  RETURN added;
END $$;

-- The old events stay where they are, as the partition of everything before next month; events
-- dated later (clocks far ahead) move to the default partition, which hands them to their months'
-- partitions below. A database without events just drops the old table.
DO $$
DECLARE
  bound CONSTANT BIGINT := usage_month_start((EXTRACT(EPOCH FROM now()) * 1000)::bigint, 1);
BEGIN
  IF EXISTS (SELECT 1 FROM usage_events_legacy) THEN
    WITH moved AS (DELETE FROM usage_events_legacy WHERE ts >= bound RETURNING *)
    INSERT INTO usage_events_default SELECT * FROM moved;
    EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION usage_events_legacy FOR VALUES FROM (MINVALUE) TO (%s)', bound);
  ELSE
    DROP TABLE usage_events_legacy;
  END IF;
END $$;

SELECT usage_events_add_partitions((EXTRACT(EPOCH FROM now()) * 1000)::bigint, 2);

-- The same statement-level triggers as before, now on the partitioned table: they see the rows
-- inserted into (or updated in) any partition, once per statement.
CREATE TRIGGER usage_events_rollup_insert AFTER INSERT ON usage_events
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_rollup_insert();
CREATE TRIGGER usage_events_rollup_update AFTER UPDATE ON usage_events
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_rollup_update();
CREATE TRIGGER usage_events_projects AFTER INSERT ON usage_events
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_projects();
