-- +goose Up
-- PostgreSQL stores begin at schema 7: the SQLite migrations 1 to 7 in
-- one. Later migrations come in pairs, one per backend, with the same
-- version, and TestSchemasMatch keeps the two schemas alike.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    ended_at        BIGINT,
    spec            TEXT NOT NULL,
    config          TEXT NOT NULL DEFAULT '',
    git_commit      TEXT NOT NULL DEFAULT '',
    git_dirty       BOOLEAN NOT NULL DEFAULT FALSE,
    dataset_path    TEXT NOT NULL DEFAULT '',
    dataset_hash    TEXT NOT NULL DEFAULT '',
    evalctl_version TEXT NOT NULL DEFAULT '',
    planned         BIGINT NOT NULL DEFAULT 0,
    host            TEXT NOT NULL DEFAULT '',
    pid             BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE prompt_versions (
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seq        BIGSERIAL,
    PRIMARY KEY (name, version)
);

CREATE TABLE prompt_aliases (
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (name, alias)
);

CREATE TABLE calls (
    id                BIGSERIAL PRIMARY KEY,
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    model             TEXT NOT NULL,
    row_id            TEXT NOT NULL,
    scorer            TEXT NOT NULL DEFAULT '',
    attempts          BIGINT NOT NULL,
    status            TEXT NOT NULL,
    latency_ns        BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cached            BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX calls_run ON calls(run_id);

CREATE TABLE response_cache (
    key        TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE cells (
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx               BIGINT NOT NULL,
    variant           TEXT NOT NULL,
    row_id            TEXT NOT NULL,
    row_line          BIGINT NOT NULL,
    row_vars          TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    system_version    TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL,
    params            TEXT NOT NULL DEFAULT '{}',
    repeat            BIGINT NOT NULL,
    system            TEXT NOT NULL,
    input             TEXT NOT NULL,
    answer            TEXT NOT NULL,
    finish_reason     TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ns        BIGINT NOT NULL,
    attempts          BIGINT NOT NULL,
    cost              DOUBLE PRECISION,
    error_kind        TEXT NOT NULL DEFAULT '',
    error_status      BIGINT NOT NULL DEFAULT 0,
    error             TEXT NOT NULL DEFAULT '',
    cached            BOOLEAN NOT NULL DEFAULT FALSE,
    steps             TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, variant, row_id, repeat)
);
CREATE INDEX cells_order ON cells(run_id, idx);
CREATE INDEX cells_errors ON cells(run_id) WHERE error_kind != '';

CREATE TABLE feedback (
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    assessment        BIGINT NOT NULL,
    variant           TEXT NOT NULL,
    row_id            TEXT NOT NULL,
    repeat            BIGINT NOT NULL,
    scorer            TEXT NOT NULL,
    value             TEXT NOT NULL DEFAULT 'null',
    pass              BOOLEAN,
    score             DOUBLE PRECISION,
    skipped           BOOLEAN NOT NULL DEFAULT FALSE,
    rationale         TEXT NOT NULL DEFAULT '',
    error             TEXT NOT NULL DEFAULT '',
    judge_model       TEXT NOT NULL DEFAULT '',
    raw               TEXT NOT NULL DEFAULT '',
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    latency_ns        BIGINT NOT NULL DEFAULT 0,
    attempts          BIGINT NOT NULL DEFAULT 0,
    votes             TEXT NOT NULL DEFAULT '',
    agreement         DOUBLE PRECISION,
    spans             TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, variant, row_id, repeat, scorer, assessment)
);
CREATE INDEX feedback_errors ON feedback(run_id) WHERE error != '';

CREATE TABLE assessments (
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    scorers    TEXT NOT NULL DEFAULT '[]',
    judge      TEXT NOT NULL DEFAULT '',
    definition TEXT NOT NULL DEFAULT '',
    host       TEXT NOT NULL DEFAULT '',
    pid        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, id)
);

CREATE TABLE labels (
    id         BIGSERIAL PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    variant    TEXT NOT NULL,
    row_id     TEXT NOT NULL,
    repeat     BIGINT NOT NULL,
    criterion  TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (value IN ('pass', 'fail', '')),
    comment    TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    source     TEXT NOT NULL DEFAULT 'view'
);
CREATE INDEX labels_cell ON labels(run_id, variant, row_id, repeat, criterion, id);

-- +goose Down
DROP TABLE labels;
DROP TABLE assessments;
DROP TABLE feedback;
DROP TABLE cells;
DROP TABLE response_cache;
DROP TABLE calls;
DROP TABLE prompt_aliases;
DROP TABLE prompt_versions;
DROP TABLE runs;
DROP TABLE meta;
