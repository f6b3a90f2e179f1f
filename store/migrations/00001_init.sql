-- +goose Up
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    tags            TEXT NOT NULL DEFAULT '{}',   -- JSON object
    status          TEXT NOT NULL,                -- running | complete | incomplete | interrupted
    started_at      INTEGER NOT NULL,             -- unix nanoseconds
    ended_at        INTEGER,
    spec            TEXT NOT NULL,                -- JSON: what the run planned and how to re-plan it
    config          TEXT NOT NULL DEFAULT '',     -- evalctl.yaml as written (before ${VAR} expansion)
    git_commit      TEXT NOT NULL DEFAULT '',
    git_dirty       INTEGER NOT NULL DEFAULT 0,
    dataset_path    TEXT NOT NULL DEFAULT '',
    dataset_hash    TEXT NOT NULL DEFAULT '',
    evalctl_version TEXT NOT NULL DEFAULT '',
    planned         INTEGER NOT NULL DEFAULT 0,
    host            TEXT NOT NULL DEFAULT '',
    pid             INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE prompt_versions (
    name       TEXT NOT NULL,
    version    TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE prompt_aliases (
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (name, alias)
);

CREATE TABLE cells (
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx               INTEGER NOT NULL,
    row_id            TEXT NOT NULL,
    row_line          INTEGER NOT NULL,
    row_vars          TEXT NOT NULL,              -- JSON object
    prompt            TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    model             TEXT NOT NULL,
    params            TEXT NOT NULL DEFAULT '{}', -- JSON
    repeat            INTEGER NOT NULL,
    system            TEXT NOT NULL,
    input             TEXT NOT NULL,
    answer            TEXT NOT NULL,
    finish_reason     TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_ns        INTEGER NOT NULL,
    attempts          INTEGER NOT NULL,
    cost              REAL,
    error_kind        TEXT NOT NULL DEFAULT '',
    error_status      INTEGER NOT NULL DEFAULT 0,
    error             TEXT NOT NULL DEFAULT '',
    cached            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, row_id, prompt, model, repeat)
);

CREATE TABLE feedback (
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    row_id            TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    model             TEXT NOT NULL,
    repeat            INTEGER NOT NULL,
    scorer            TEXT NOT NULL,
    value             TEXT NOT NULL DEFAULT 'null', -- JSON
    pass              INTEGER,
    score             REAL,
    skipped           INTEGER NOT NULL DEFAULT 0,
    rationale         TEXT NOT NULL DEFAULT '',
    error             TEXT NOT NULL DEFAULT '',
    judge_model       TEXT NOT NULL DEFAULT '',
    raw               TEXT NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    latency_ns        INTEGER NOT NULL DEFAULT 0,
    attempts          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, row_id, prompt, model, repeat, scorer)
);

CREATE TABLE calls (
    id                INTEGER PRIMARY KEY,
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,              -- generation | judge
    model             TEXT NOT NULL,
    row_id            TEXT NOT NULL,
    scorer            TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL,
    status            TEXT NOT NULL,              -- ok, or the error kind
    latency_ns        INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cached            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_run ON calls(run_id);

-- +goose Down
DROP TABLE calls;
DROP TABLE feedback;
DROP TABLE cells;
DROP TABLE prompt_aliases;
DROP TABLE prompt_versions;
DROP TABLE runs;
DROP TABLE meta;
