-- Saving an install removes the installs it supersedes (the same App on the same workspace):
-- without this index that DELETE read every install, on every install flow, and held the
-- write lock while it did.
CREATE INDEX IF NOT EXISTS installs_by_workspace ON installs (app_name, workspace);
