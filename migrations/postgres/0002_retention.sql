-- Raw retention: raw events before `horizon` (epoch ms, a UTC midnight) have been deleted while
-- their rollups stay. Recorded before any row is deleted, so no reader ever takes a half-pruned
-- range for a complete one; verify and rebuild-rollups compare and rebuild only from here on.
CREATE TABLE raw_retention (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  horizon BIGINT NOT NULL
);
