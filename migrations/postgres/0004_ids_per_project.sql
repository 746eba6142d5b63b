-- An event's id is unique within its project, not across projects: another project's producer may
-- use the same ids, and a retry from one project must never be matched against another's events.
-- Building the new index holds the table's lock: collectors wait until it is done.
ALTER TABLE usage_events ADD CONSTRAINT usage_events_project_id_key UNIQUE (project, id);
ALTER TABLE usage_events DROP CONSTRAINT usage_events_id_key;
