-- The usage table, column for column the SQLite usage.db schema (observe/usage.py), same meaning:
-- ts is epoch seconds, tokens are counts, latencies milliseconds, cost_usd an estimate in US dollars.
CREATE TABLE IF NOT EXISTS usage (
  ts DOUBLE PRECISION NOT NULL,
  request_id TEXT,
  session_id TEXT,
  route TEXT,
  provider TEXT,
  model TEXT,
  client_model TEXT,
  status INTEGER,
  input_tokens BIGINT DEFAULT 0,
  output_tokens BIGINT DEFAULT 0,
  cache_read_tokens BIGINT DEFAULT 0,
  cache_write_tokens BIGINT DEFAULT 0,
  latency_ms DOUBLE PRECISION,
  ttfb_ms DOUBLE PRECISION,
  cost_usd DOUBLE PRECISION DEFAULT 0,
  endpoint TEXT,
  error_type TEXT
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts);
