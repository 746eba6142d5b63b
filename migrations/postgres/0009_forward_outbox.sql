-- The forward outbox: each accepted OTLP request's body, written in the transaction that stores its
-- usage events, and deleted once the upstream has it (docs/forwarding.md).
CREATE TABLE forward_outbox (
  seq BIGSERIAL PRIMARY KEY,                       -- delivery order within a signal
  signal TEXT NOT NULL,                            -- traces | logs | metrics
  encoding TEXT NOT NULL,                          -- json | protobuf: how the body is encoded
  created_at BIGINT NOT NULL,                      -- epoch ms of the commit
  bytes INTEGER NOT NULL,                          -- length of body
  body BYTEA NOT NULL
);
CREATE INDEX forward_outbox_signal ON forward_outbox (signal, seq);

-- The outbox's size, kept by statement-level triggers, so bounding it never sums the table. Its one
-- row is the last lock an ingest transaction takes (after the rollup rows), so collectors queue on
-- it in one order and never deadlock.
CREATE TABLE forward_outbox_size (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  entries BIGINT NOT NULL,
  bytes BIGINT NOT NULL
);
INSERT INTO forward_outbox_size (id, entries, bytes) VALUES (1, 0, 0);

CREATE FUNCTION forward_outbox_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE forward_outbox_size s SET entries = s.entries + n.entries, bytes = s.bytes + n.bytes
  FROM (SELECT count(*) AS entries, coalesce(sum(bytes), 0) AS bytes FROM added) n
  WHERE s.id = 1 AND n.entries > 0;
  RETURN NULL;
END $$;
CREATE FUNCTION forward_outbox_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE forward_outbox_size s SET entries = s.entries - n.entries, bytes = s.bytes - n.bytes
  FROM (SELECT count(*) AS entries, coalesce(sum(bytes), 0) AS bytes FROM removed) n
  WHERE s.id = 1 AND n.entries > 0;
  RETURN NULL;
END $$;
CREATE TRIGGER forward_outbox_added AFTER INSERT ON forward_outbox
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION forward_outbox_added();
CREATE TRIGGER forward_outbox_removed AFTER DELETE ON forward_outbox
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION forward_outbox_removed();
