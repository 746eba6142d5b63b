-- Cheaper work per batch for the statement-level trigger (docs/benchmarks.md, "PostgreSQL ingest,
-- session 11"); what the rollups hold does not change.
--
-- usage_daily and usage_daily_notask are mostly updated: in service each batch adds to the rows of
-- today's keys, rows that every batch of the day meets again. A full page cannot keep an
-- updated row's new version, so such an update also added an entry to the primary key and moved
-- the row to another page; with a quarter of each page kept free it stays on its page (a HOT
-- update: no index entry, less WAL). usage_slots and usage_runs are mostly appended (a new slot
-- or run each time) and read whole by raw reports, so they stay packed. Only pages written from now
-- on keep the room: nothing is rewritten, and the ALTER takes a SHARE UPDATE EXCLUSIVE lock
-- that lets collectors go on.
ALTER TABLE usage_daily SET (fillfactor = 75);
ALTER TABLE usage_daily_notask SET (fillfactor = 75);

-- The UTC day of an epoch-ms timestamp in integer arithmetic instead of a timestamp conversion
-- per event (three rollups compute it for every row a batch inserts): the same day for every ts
-- the conversion accepted (ts / 1000 truncates toward zero as before, then whole days count from 1970-01-01).
CREATE OR REPLACE FUNCTION usage_day(ts BIGINT) RETURNS DATE
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN DATE '1970-01-01' + (((ts / 1000) - (((ts / 1000) % 86400) + 86400) % 86400) / 86400)::integer;
