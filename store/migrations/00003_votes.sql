-- +goose Up
-- Judges asked several times (samples, several judge models, pairwise in
-- both orders) keep every vote, and how far the votes agreed.
ALTER TABLE feedback ADD COLUMN votes TEXT NOT NULL DEFAULT '';   -- JSON array of scorers.Vote
ALTER TABLE feedback ADD COLUMN agreement REAL;                    -- share of votes agreeing with the verdict

-- +goose Down
ALTER TABLE feedback DROP COLUMN agreement;
ALTER TABLE feedback DROP COLUMN votes;
