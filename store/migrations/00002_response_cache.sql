-- +goose Up
-- Identical requests (model, messages, params, sample) are answered from here across runs.
CREATE TABLE response_cache (
    key        TEXT PRIMARY KEY,   -- hex SHA-256 of the canonical request
    model      TEXT NOT NULL,
    response   TEXT NOT NULL,      -- JSON: text, finish_reason, usage, latency_ns
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE response_cache;
