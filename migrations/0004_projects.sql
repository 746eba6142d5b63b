-- Projects: the unit users watch their spend by. A row exists for every project an event has named,
-- made by a trigger in the same transaction as the event, so no report can show a project that
-- the project list lacks. A project can also be created ahead of its first event.
-- A pinned project has a place in the pin order; an unpinned one has none.

CREATE TABLE projects (
  id          TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL,
  description TEXT    NOT NULL DEFAULT '',
  archived    INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
  is_pinned   INTEGER NOT NULL DEFAULT 0 CHECK (is_pinned IN (0, 1)),
  pin_order   INTEGER,
  created_at  TEXT    NOT NULL,                   -- RFC 3339, UTC
  updated_at  TEXT    NOT NULL,
  CHECK ((is_pinned = 1) = (pin_order IS NOT NULL))
) WITHOUT ROWID;

CREATE UNIQUE INDEX projects_pin_order ON projects (pin_order) WHERE pin_order IS NOT NULL;

INSERT INTO projects (id, name, created_at, updated_at)
  SELECT project, project, strftime('%Y-%m-%dT%H:%M:%fZ', MIN(ts) / 1000.0, 'unixepoch'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM usage_events GROUP BY project;

-- Fires only for events really inserted (a duplicate id is skipped before it); an existing project
-- is left as it is.
CREATE TRIGGER usage_events_project AFTER INSERT ON usage_events
BEGIN
  INSERT INTO projects (id, name, created_at, updated_at)
  VALUES (NEW.project, NEW.project, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  ON CONFLICT (id) DO NOTHING;
END;
