-- +goose Up
-- Human labels: a person's verdict (pass or fail, with an optional comment) on one answer for one
-- criterion (a scorer's name). Labels are only ever inserted: the latest for an answer and
-- criterion is its label, the earlier ones its history. value is '' for a comment without a verdict.
CREATE TABLE labels (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    variant    TEXT NOT NULL,
    row_id     TEXT NOT NULL,
    repeat     INTEGER NOT NULL,
    criterion  TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (value IN ('pass', 'fail', '')),
    comment    TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL,              -- unix nanoseconds
    source     TEXT NOT NULL DEFAULT 'view'   -- view | import
);
CREATE INDEX labels_cell ON labels(run_id, variant, row_id, repeat, criterion, id);

-- A run's error counts (runs list, every page of evalctl view) read these instead of every cell
-- and verdict of the run: errors are few, so the indexes cost the writer next to nothing.
CREATE INDEX cells_errors ON cells(run_id) WHERE error_kind != '';
CREATE INDEX feedback_errors ON feedback(run_id) WHERE error != '';

-- +goose Down
DROP INDEX feedback_errors;
DROP INDEX cells_errors;
DROP TABLE labels;
