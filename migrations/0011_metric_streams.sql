-- Where each cumulative metric stream counted by COUNT_METRICS stands: its last counted point.
-- Written in the transaction that stores the events counted from it (docs/otel.md, "Metrics").
-- Times are Unix nanoseconds as decimal text: beyond 2^53, and only ever compared for equality here.
CREATE TABLE metric_streams (
  stream      TEXT PRIMARY KEY,
  start_nanos TEXT NOT NULL,
  time_nanos  TEXT NOT NULL,
  value       REAL NOT NULL,
  updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
