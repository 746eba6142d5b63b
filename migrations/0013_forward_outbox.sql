-- The forward outbox: each accepted OTLP request's body, written in the transaction that stores its
-- usage events, and deleted once the upstream has it (docs/forwarding.md). The small columns come
-- before the body, so reading them never walks a large body's overflow pages.
CREATE TABLE forward_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,           -- delivery order within a signal
  signal TEXT NOT NULL,                            -- traces | logs | metrics
  encoding TEXT NOT NULL,                          -- json | protobuf: how the body is encoded
  created_at INTEGER NOT NULL,                     -- epoch ms of the commit
  bytes INTEGER NOT NULL,                          -- length of body
  body BLOB NOT NULL
);
CREATE INDEX forward_outbox_signal ON forward_outbox (signal, seq);

-- The outbox's size, kept by triggers, so bounding it never sums the table.
CREATE TABLE forward_outbox_size (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  entries INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
INSERT INTO forward_outbox_size (id, entries, bytes) VALUES (1, 0, 0);

CREATE TRIGGER forward_outbox_added AFTER INSERT ON forward_outbox BEGIN
  UPDATE forward_outbox_size SET entries = entries + 1, bytes = bytes + NEW.bytes WHERE id = 1;
END;
CREATE TRIGGER forward_outbox_removed AFTER DELETE ON forward_outbox BEGIN
  UPDATE forward_outbox_size SET entries = entries - 1, bytes = bytes - OLD.bytes WHERE id = 1;
END;
