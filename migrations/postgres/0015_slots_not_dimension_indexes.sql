-- Raw events by project or model are found through the 15-minute slots that hold them
-- (usage_slots, migration 0011), not through an index per dimension on every partition: those
-- two indexes took an entry per inserted event each, where the slots' indexes below take one per
-- new slot row (a batch of 1,000 events makes a hundred-odd), and a batch cost the server more
-- CPU than the unpartitioned schema's did (docs/benchmarks.md, "PostgreSQL ingest, session 13").
-- GET /v1/events filtered by one of them reads the slots that hold the value, latest first, and
-- their events through the ts index (src/store/postgres-events.ts), as SQLite reads hours
-- (migration 0014 there). The index by agent stays: a rare agent's page would read every event of
-- its slots, about 1,700 a slot at ten million events over 60 days, where the index reads its own.
--
-- Not CONCURRENTLY: migrations run in a transaction. Building an index on usage_slots holds
-- inserts (their trigger writes slots) for the time of one sort of the slots kept, seconds at ten
-- million raw events; dropping an index rewrites nothing. Collectors wait meanwhile, and their
-- clients retry on 503 as during any migration.
CREATE INDEX usage_slots_project ON usage_slots (project, ts);
CREATE INDEX usage_slots_model ON usage_slots (model, ts);

-- On the parent, so every partition's index goes with it (the pre-partitioning table's too).
DROP INDEX usage_events_project_ts;
DROP INDEX usage_events_model_ts;
