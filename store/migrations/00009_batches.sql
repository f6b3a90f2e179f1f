-- +goose Up
-- Batches sent through a provider's Batch API (batch: true): recorded as
-- soon as they are created, with the keys (response-cache keys) of their
-- requests, so that a process started after one that was killed waits for
-- them instead of paying for the requests again. Once a batch's results are
-- read, its answers go to the response cache in the transaction that sets
-- collected_at, and its requests' rows are deleted.
CREATE TABLE batches (
    endpoint     TEXT NOT NULL,      -- hash of the provider and base URL
    id           TEXT NOT NULL,      -- the provider's batch id
    model        TEXT NOT NULL,
    requests     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,   -- unix nanoseconds
    collected_at INTEGER,            -- NULL while open
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
