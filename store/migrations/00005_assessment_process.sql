-- +goose Up
-- The process that writes a scoring pass, so that one killed (kill -9) shows as interrupted
-- rather than running for good, as runs do.
ALTER TABLE assessments ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE assessments ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE assessments DROP COLUMN pid;
ALTER TABLE assessments DROP COLUMN host;
