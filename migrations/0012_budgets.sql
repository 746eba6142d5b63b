-- Budgets (docs/budgets.md): what is watched, which thresholds were crossed in which window, and
-- the notifications waiting to be delivered. Scope, thresholds and targets are JSON text: they are
-- read whole with their budget and never queried by their parts.
CREATE TABLE budgets (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  scope       TEXT NOT NULL,                       -- {"project": [...], "agent": [...], ...}
  time_window TEXT NOT NULL,                       -- day, week, month, 24h, 7d, 30d
  tz          TEXT NOT NULL,
  limit_nanos INTEGER NOT NULL,
  thresholds  TEXT NOT NULL,                       -- [50, 80, 100]: percent of the limit
  targets     TEXT NOT NULL,                       -- [{"type", "url", "secret"}], secrets included
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);

-- One row per threshold crossed in one window (window_start 0 for a rolling window): the row's
-- insert is what sends the alert, so a crossing alerts once however many evaluations see it.
CREATE TABLE budget_crossings (
  budget_id    TEXT NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
  window_start INTEGER NOT NULL,
  threshold    REAL NOT NULL,
  crossed_at   INTEGER NOT NULL,                   -- epoch ms
  spend_nanos  INTEGER NOT NULL,
  PRIMARY KEY (budget_id, window_start, threshold)
);

-- The notification outbox: written in the transaction that records the crossing, sent by whichever
-- collector leases the row first, retried with backoff until delivered or out of attempts.
CREATE TABLE budget_outbox (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery_id   TEXT NOT NULL UNIQUE,
  budget_id     TEXT NOT NULL,
  target        TEXT NOT NULL,                     -- the target as it was when enqueued, secret included
  target_key    TEXT NOT NULL,                     -- budget id and the target's URL: what /readyz reports by
  body          TEXT NOT NULL,                     -- the JSON notification
  attempts      INTEGER NOT NULL DEFAULT 0,
  next_at       INTEGER NOT NULL,                  -- epoch ms of the next attempt
  lease_until   INTEGER NOT NULL DEFAULT 0,
  delivered_at  INTEGER,
  failed_at     INTEGER,                           -- set when the attempts ran out
  last_error    TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX budget_outbox_due ON budget_outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX budget_outbox_target ON budget_outbox (target_key, seq);
