-- +goose Up
-- Variants: a cell is (row, variant, repeat), where a variant is a prompt version, a system
-- prompt version and a model with its parameters, identified by a digest of that definition.
-- Two variants may share a prompt name or a model (two versions of a prompt, a temperature
-- sweep): cells were keyed by prompt name and model, so such runs lost cells.
-- Assessments: every scoring pass (the run's own, each `evalctl score`) keeps its verdicts;
-- none overwrites another's.
-- Runs recorded before get variant ids "PROMPT@VERSION MODEL" (eval.LegacyVariantID) and one
-- assessment, number 1, holding their verdicts.
CREATE TABLE cells_v4 (
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx               INTEGER NOT NULL,
    variant           TEXT NOT NULL,
    row_id            TEXT NOT NULL,
    row_line          INTEGER NOT NULL,
    row_vars          TEXT NOT NULL,              -- JSON object
    prompt            TEXT NOT NULL,
    prompt_version    TEXT NOT NULL,
    system_version    TEXT NOT NULL DEFAULT '',
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
    PRIMARY KEY (run_id, variant, row_id, repeat)
);
INSERT INTO cells_v4(run_id, idx, variant, row_id, row_line, row_vars, prompt, prompt_version, model, params, repeat,
    system, input, answer, finish_reason, prompt_tokens, completion_tokens, latency_ns, attempts, cost, error_kind,
    error_status, error, cached)
SELECT run_id, idx, prompt || '@' || prompt_version || ' ' || model, row_id, row_line, row_vars, prompt, prompt_version,
    model, params, repeat, system, input, answer, finish_reason, prompt_tokens, completion_tokens, latency_ns, attempts,
    cost, error_kind, error_status, error, cached
FROM cells;

CREATE TABLE feedback_v4 (
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    assessment        INTEGER NOT NULL,
    variant           TEXT NOT NULL,
    row_id            TEXT NOT NULL,
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
    votes             TEXT NOT NULL DEFAULT '',
    agreement         REAL,
    PRIMARY KEY (run_id, variant, row_id, repeat, scorer, assessment)
);
INSERT INTO feedback_v4(run_id, assessment, variant, row_id, repeat, scorer, value, pass, score, skipped, rationale, error,
    judge_model, raw, prompt_tokens, completion_tokens, latency_ns, attempts, votes, agreement)
SELECT f.run_id, 1, c.variant, f.row_id, f.repeat, f.scorer, f.value, f.pass, f.score, f.skipped, f.rationale, f.error,
    f.judge_model, f.raw, f.prompt_tokens, f.completion_tokens, f.latency_ns, f.attempts, f.votes, f.agreement
FROM feedback f JOIN cells_v4 c ON c.run_id = f.run_id AND c.row_id = f.row_id AND c.prompt = f.prompt
    AND c.model = f.model AND c.repeat = f.repeat;

DROP TABLE feedback;
DROP TABLE cells;
ALTER TABLE cells_v4 RENAME TO cells;
ALTER TABLE feedback_v4 RENAME TO feedback;
CREATE INDEX cells_order ON cells(run_id, idx);

CREATE TABLE assessments (
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id         INTEGER NOT NULL,              -- 1: the run's own scoring; then each evalctl score
    kind       TEXT NOT NULL,                 -- run | score
    status     TEXT NOT NULL,                 -- running | complete | incomplete | interrupted
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    scorers    TEXT NOT NULL DEFAULT '[]',    -- JSON array: the scorers this pass scored
    judge      TEXT NOT NULL DEFAULT '',      -- the default judge model
    definition TEXT NOT NULL DEFAULT '',      -- the scorers as configured (YAML)
    PRIMARY KEY (run_id, id)
);
INSERT INTO assessments(run_id, id, kind, status, started_at, ended_at, scorers)
SELECT id, 1, 'run', CASE status WHEN 'running' THEN 'interrupted' ELSE status END, started_at, ended_at,
    COALESCE(json_extract(spec, '$.layout.scorers'), '[]')
FROM runs;

-- +goose Down
SELECT 'down migrations are not supported past variants';
