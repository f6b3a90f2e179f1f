-- +goose Up
-- Traces: a cell's steps (its generation calls and, for an agent, its tool calls) and the
-- judge calls of each verdict, as JSON arrays of trace.Span. Empty for runs recorded before.
ALTER TABLE cells ADD COLUMN steps TEXT NOT NULL DEFAULT '';
ALTER TABLE feedback ADD COLUMN spans TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE feedback DROP COLUMN spans;
ALTER TABLE cells DROP COLUMN steps;
