-- Retention finds the ids of the months it drops through the months' own rows instead of an index
-- of usage_event_ids on ts, which cost every insert an index entry per event (docs/benchmarks.md,
-- "PostgreSQL ingest, session 12"). A month past the horizon is detached first (no insert reaches
-- it any more), renamed out of the way of a partition made again for that month, and listed here;
-- its rows are then walked in (ts, seq) order, a bounded number per transaction, deleting their
-- ids, and the cursor moves in the same transaction; once the walk ends the table is dropped. A
-- retention stopped anywhere resumes at the cursor (docs/scaling.md, "Retention by month").
CREATE TABLE usage_events_retiring (
  name      TEXT PRIMARY KEY,
  after_ts  BIGINT NOT NULL DEFAULT -9223372036854775808,
  after_seq BIGINT NOT NULL DEFAULT -9223372036854775808
);

-- Detaches the partitions wholly before `horizon` into usage_events_retiring; returns how many.
-- Detaching locks the parent as dropping did: the caller sets a lock_timeout and tries again.
CREATE FUNCTION usage_events_retire(horizon BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  part TEXT;
  retired TEXT;
  n INTEGER := 0;
BEGIN
  FOR part IN SELECT name FROM usage_events_partitions() WHERE upper_ms <= horizon ORDER BY lower_ms LOOP
    retired := 'usage_events_retiring_' || format('%I', part)::regclass::oid;
    EXECUTE format('ALTER TABLE usage_events DETACH PARTITION %I', part);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', part, retired);
    INSERT INTO usage_events_retiring (name) VALUES (retired);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- A retention that stopped between dropping a month and deleting its ids (possible before this
-- migration) left ids without events, which only the ts index could find: they go now, while it
-- is still there. With no retention set there is no horizon and nothing to do. The horizon goes in
-- as a literal, so the plan is a range scan of the index below it (usually empty), and each id
-- found is looked up among the events by key, never a hash of every event.
DO $$
DECLARE
  horizon BIGINT := (SELECT r.horizon FROM raw_retention AS r WHERE r.id = 1);
BEGIN
  IF horizon IS NULL THEN RETURN; END IF;
  PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
  EXECUTE format('DELETE FROM usage_event_ids AS i WHERE i.ts < %s
    AND NOT EXISTS (SELECT 1 FROM usage_events AS e WHERE e.ts = i.ts AND e.project = i.project AND e.id = i.id)', horizon);
  PERFORM set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true);
END $$;

-- Not CONCURRENTLY: migrations run in a transaction. Dropping an index rewrites nothing; it waits
-- for the statements using its table and holds the next ones for the rest of this transaction.
-- Strays before the horizon are now found by the default partition's ts index and deleted with
-- their ids, so its index on the pair has no reader left.
DROP INDEX usage_events_default_project_id;
-- Last, just before the commit: from here every insert waits for the migration to end.
DROP INDEX usage_event_ids_ts;
