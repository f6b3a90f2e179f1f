-- +goose Up
-- See the SQLite migration of the same number.
CREATE TABLE batches (
    endpoint     TEXT NOT NULL,
    id           TEXT NOT NULL,
    model        TEXT NOT NULL,
    requests     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    collected_at BIGINT,
    PRIMARY KEY (endpoint, id)
);
CREATE TABLE batch_requests (
    endpoint TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    PRIMARY KEY (endpoint, batch_id, key)
);

-- +goose Down
DROP TABLE batch_requests;
DROP TABLE batches;
