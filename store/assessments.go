package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/evalctl/evalctl/eval"
)

// RunAssessment is the number of a run's own scoring pass.
const RunAssessment = 1

// Assessment is one scoring pass over a run's answers: the run's own, or an
// `evalctl score`. Its verdicts are kept apart from every other pass's, so
// re-judging never overwrites the verdicts a gate was checked on.
type Assessment struct {
	ID        int
	Kind      string // "run" or "score"
	Status    eval.Status
	StartedAt time.Time
	EndedAt   time.Time
	Scorers   []string // the scorers this pass scored
	Judge     string   // the default judge model
	// Definition is the scorers as configured (YAML), for the record.
	Definition string
}

// Assessments lists a run's assessments, oldest first.
func (s *Store) Assessments(ctx context.Context, runID string) ([]Assessment, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, status, started_at, ended_at, scorers, judge, definition, host, pid
		FROM assessments WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Assessment
	for rows.Next() {
		var a Assessment
		var status, sc string
		var started int64
		var ended sql.NullInt64
		var host string
		var pid int
		if err := rows.Scan(&a.ID, &a.Kind, &status, &started, &ended, &sc, &a.Judge, &a.Definition, &host, &pid); err != nil {
			return nil, err
		}
		a.Status, a.StartedAt = eval.Status(status), time.Unix(0, started)
		if a.Status == eval.StatusRunning && a.Kind == "score" && pid != 0 && !(&Run{Host: host, PID: pid}).alive() {
			a.Status = eval.StatusInterrupted // its process died without saying so
		}
		if ended.Valid {
			a.EndedAt = time.Unix(0, ended.Int64)
		}
		if err := json.Unmarshal([]byte(sc), &a.Scorers); err != nil {
			return nil, fmt.Errorf("run %s: assessment %d: unreadable scorers: %w", runID, a.ID, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// BeginAssessment records a new scoring pass over run runID's answers and
// returns its number.
func (s *Store) BeginAssessment(ctx context.Context, runID string, scorers []string, judge, definition string) (int, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	sc, _ := json.Marshal(scorers)
	var id int
	host, _ := os.Hostname()
	err := s.w.QueryRowContext(ctx, `INSERT INTO assessments(run_id, id, kind, status, started_at, scorers, judge, definition, host, pid)
		VALUES (?, (SELECT COALESCE(MAX(id), 0) + 1 FROM assessments WHERE run_id = ?), 'score', 'running', ?, ?, ?, ?, ?, ?)
		RETURNING id`, runID, runID, time.Now().UnixNano(), string(sc), judge, definition, host, os.Getpid()).Scan(&id)
	return id, err
}

// EndAssessment records how a scoring pass ended.
func (s *Store) EndAssessment(ctx context.Context, runID string, id int, st eval.Status) error {
	if err := s.Flush(); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE assessments SET status = ?, ended_at = ? WHERE run_id = ? AND id = ?`,
		string(st), time.Now().UnixNano(), runID, id)
	return err
}

// Verdicts says, for each scorer of a run, which assessment its verdicts
// are read from: run.Assessment when set (it must exist), else the latest
// complete assessment that scored it, else the latest that did. An
// interrupted re-scoring thus never mixes into the column it would replace.
func (s *Store) Verdicts(ctx context.Context, run *Run) (map[string]int, error) {
	as, err := s.Assessments(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	if run.Assessment != 0 {
		for _, a := range as {
			if a.ID == run.Assessment {
				for _, sc := range a.Scorers {
					out[sc] = a.ID
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("run %s has no assessment %d (see evalctl runs show %s)", run.ID, run.Assessment, run.ID)
	}
	for _, sc := range run.Spec.Layout.Scorers {
		best, bestComplete := 0, 0
		for _, a := range as {
			if !slices.Contains(a.Scorers, sc) {
				continue
			}
			best = a.ID
			if a.Status == eval.StatusComplete || a.Kind == "run" {
				bestComplete = a.ID
			}
		}
		if bestComplete != 0 {
			best = bestComplete
		}
		if best != 0 {
			out[sc] = best
		}
	}
	return out, nil
}

// verdictSources returns a filter keeping the verdicts that Verdicts picks.
func (s *Store) verdictSources(ctx context.Context, run *Run) (func(scorer string, assessment int) bool, error) {
	m, err := s.Verdicts(ctx, run)
	if err != nil {
		return nil, err
	}
	return func(scorer string, assessment int) bool { return m[scorer] == assessment }, nil
}
