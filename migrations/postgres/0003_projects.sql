-- Projects: the unit users watch their spend by. A row exists for every project an event has named,
-- made by a trigger in the same transaction as the event, so no report can show a project that
-- the project list lacks. A project can also be created ahead of its first event.
-- A pinned project has a place in the pin order; an unpinned one has none.

CREATE TABLE projects (
  id          TEXT COLLATE "C" PRIMARY KEY,
  name        TEXT COLLATE "C" NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  archived    BOOLEAN NOT NULL DEFAULT FALSE,
  is_pinned   BOOLEAN NOT NULL DEFAULT FALSE,
  pin_order   INTEGER,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (is_pinned = (pin_order IS NOT NULL))
);

CREATE UNIQUE INDEX projects_pin_order ON projects (pin_order) WHERE pin_order IS NOT NULL;

INSERT INTO projects (id, name, created_at)
  SELECT project, project, to_timestamp(MIN(ts) / 1000.0) FROM usage_events GROUP BY project;

-- Statement-level, like the rollup: it sees only the rows really inserted (duplicates never reach
-- the transition table) and adds their new projects in id order, so concurrent collectors naming
-- the same new project wait on each other instead of deadlocking.
CREATE FUNCTION usage_events_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO projects (id, name)
  SELECT DISTINCT project, project FROM inserted ORDER BY project
  ON CONFLICT (id) DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER usage_events_projects AFTER INSERT ON usage_events
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION usage_events_projects();
