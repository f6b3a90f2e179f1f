-- +goose Up
-- Cells of a run shared by several workers (evalctl run --name X on several
-- machines over one PostgreSQL store): each worker claims cells for a lease
-- it renews while it works; a cell is done once its result is stored (in
-- the same transaction). A worker that dies leaves its claims to expire.
CREATE TABLE claims (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    worker      TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0,      -- unix nanoseconds
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, idx)
);

-- +goose Down
DROP TABLE claims;
