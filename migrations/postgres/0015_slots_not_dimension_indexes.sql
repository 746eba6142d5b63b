-- Raw events by project, agent or model are found through the 15-minute slots that hold them
-- (usage_slots, migration 0011), not through an index per dimension on every partition: those
-- three indexes took an entry per inserted event each, where the slots' indexes below take one
-- per new slot row (a batch of 1,000 events makes a hundred-odd), and a batch cost the server
-- more CPU than the unpartitioned schema's did (docs/benchmarks.md, "PostgreSQL ingest, session 13").
-- GET /v1/events filtered by one of them reads the slots that hold the value, latest first, and
-- their events through the ts index (src/store/postgres-events.ts), as SQLite reads hours
-- (migration 0014 there).
--
-- Not CONCURRENTLY: migrations run in a transaction. Building an index on usage_slots holds
-- inserts (their trigger writes slots) for the time of one sort of the slots kept, a few seconds
-- at ten million raw events; dropping an index rewrites nothing. Collectors wait meanwhile, and
-- their clients retry on 503 as during any migration.
CREATE INDEX usage_slots_project ON usage_slots (project, ts);
CREATE INDEX usage_slots_agent ON usage_slots (agent_id, ts);
CREATE INDEX usage_slots_model ON usage_slots (model, ts);

-- On the parent, so every partition's index goes with it (the pre-partitioning table's too).
DROP INDEX usage_events_project_ts;
DROP INDEX usage_events_agent_ts;
DROP INDEX usage_events_model_ts;
