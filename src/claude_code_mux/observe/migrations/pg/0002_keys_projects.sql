-- Which virtual key made a request and which project it belongs to (issue 17): the SQLite usage.db gained the
-- same columns; budgets read spend by them, so they are indexed with the time.
ALTER TABLE usage ADD COLUMN IF NOT EXISTS key_name TEXT;
ALTER TABLE usage ADD COLUMN IF NOT EXISTS project TEXT;
CREATE INDEX IF NOT EXISTS usage_key_name ON usage (key_name, ts);
CREATE INDEX IF NOT EXISTS usage_project ON usage (project, ts);
CREATE INDEX IF NOT EXISTS usage_session_id ON usage (session_id, ts);
