-- Budgets (docs/budgets.md): what is watched, which thresholds were crossed in which window, and
-- the notifications waiting to be delivered. Scope, thresholds and targets are JSON text: they are
-- read whole with their budget and never queried by their parts.
CREATE TABLE budgets (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  scope       TEXT NOT NULL,
  time_window TEXT NOT NULL,
  tz          TEXT NOT NULL,
  limit_nanos BIGINT NOT NULL,
  thresholds  TEXT NOT NULL,
  targets     TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- One row per threshold crossed in one window (window_start 0 for a rolling window): the row's
-- insert is what sends the alert, so a crossing alerts once however many collectors see it.
CREATE TABLE budget_crossings (
  budget_id    TEXT NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
  window_start BIGINT NOT NULL,
  threshold    DOUBLE PRECISION NOT NULL,
  crossed_at   BIGINT NOT NULL,
  spend_nanos  BIGINT NOT NULL,
  PRIMARY KEY (budget_id, window_start, threshold)
);

-- The notification outbox: written in the transaction that records the crossing, sent by whichever
-- collector leases the row first (FOR UPDATE SKIP LOCKED), retried with backoff.
CREATE TABLE budget_outbox (
  seq           BIGSERIAL PRIMARY KEY,
  delivery_id   TEXT NOT NULL UNIQUE,
  budget_id     TEXT NOT NULL,
  target        TEXT NOT NULL,
  target_key    TEXT NOT NULL,
  body          TEXT NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  next_at       BIGINT NOT NULL,
  lease_until   BIGINT NOT NULL DEFAULT 0,
  delivered_at  BIGINT,
  failed_at     BIGINT,
  last_error    TEXT,
  created_at    BIGINT NOT NULL
);
CREATE INDEX budget_outbox_due ON budget_outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX budget_outbox_target ON budget_outbox (target_key, seq);
