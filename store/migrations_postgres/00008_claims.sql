-- +goose Up
-- See the SQLite migration of the same number.
CREATE TABLE claims (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx         BIGINT NOT NULL,
    worker      TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, idx)
);
CREATE INDEX claims_open ON claims(run_id, idx) WHERE NOT done;

-- +goose Down
DROP TABLE claims;
