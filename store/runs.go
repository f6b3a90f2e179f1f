package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/evalctl/evalctl/eval"
)

// Run is a run's record.
type Run struct {
	ID          string
	Name        string
	Tags        map[string]string
	Status      eval.Status
	StartedAt   time.Time
	EndedAt     time.Time // zero while running
	Spec        Spec
	Config      string // evalctl.yaml as written
	GitCommit   string
	GitDirty    bool
	DatasetPath string
	DatasetHash string
	Version     string
	Planned     int
	Host        string
	PID         int
	// Judge and ScorersConfig record, at creation, the judge model and the
	// scorers as configured: the definition of the run's own assessment.
	Judge, ScorersConfig string

	// Assessment, when set by the caller, is the scoring pass whose
	// verdicts readers use (0: each scorer's latest; see Store.Verdicts).
	Assessment int

	// Counts, filled by Runs and Run: cells done, their generation errors,
	// and the verdicts that are errors (judge, scorer and parse errors).
	Done, GenErrors, VerdictErrors int
}

// Errors counts the run's errors as max_error_rate reads them.
func (r *Run) Errors() eval.Errors {
	return eval.ErrorsOf(r.Done, r.GenErrors, r.VerdictErrors, len(r.Spec.Layout.Scorers))
}

// Spec is what a run planned, and what the command line needs to plan it again.
type Spec struct {
	Layout eval.Layout `json:"layout"`
	// Options are the command's own (opaque to the store).
	Options json.RawMessage `json:"options,omitempty"`
}

// NewRunID returns a sortable, unique run id: the start time and random bits.
func NewRunID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// CreateRun records a new run with status running.
func (s *Store) CreateRun(ctx context.Context, r *Run) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return s.createRun(ctx, conn, r, false)
}

// createRun records a new run on conn; claims adds a claim per planned
// cell (a run shared by workers).
func (s *Store) createRun(ctx context.Context, conn *sql.Conn, r *Run, claims bool) error {
	tags, _ := json.Marshal(nonNil(r.Tags))
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	r.Host, r.PID, r.Status = host, os.Getpid(), eval.StatusRunning
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err = tx.ExecContext(ctx, `INSERT INTO runs(id, name, tags, status, started_at, spec, config, git_commit, git_dirty,
		dataset_path, dataset_hash, evalctl_version, planned, host, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Name, string(tags), string(r.Status), r.StartedAt.UnixNano(), string(spec), r.Config, r.GitCommit, r.GitDirty,
		r.DatasetPath, r.DatasetHash, r.Version, r.Planned, r.Host, r.PID); err != nil {
		return err
	}
	scorers, _ := json.Marshal(nonNilStrings(r.Spec.Layout.Scorers))
	if _, err = tx.ExecContext(ctx, `INSERT INTO assessments(run_id, id, kind, status, started_at, scorers, judge, definition)
		VALUES (?, ?, 'run', 'running', ?, ?, ?, ?)`, r.ID, RunAssessment, r.StartedAt.UnixNano(), string(scorers), r.Judge, r.ScorersConfig); err != nil {
		return err
	}
	if claims {
		if _, err = tx.ExecContext(ctx, `INSERT INTO claims(run_id, idx) SELECT ?, g FROM generate_series(0, CAST(? AS BIGINT) - 1) g`,
			r.ID, r.Planned); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// MarkRunning marks a resumed run as running in this process.
func (s *Store) MarkRunning(ctx context.Context, id string) error {
	host, _ := os.Hostname()
	if _, err := s.w.ExecContext(ctx, `UPDATE runs SET status = 'running', ended_at = NULL, host = ?, pid = ? WHERE id = ?`,
		host, os.Getpid(), id); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE assessments SET status = 'running', ended_at = NULL WHERE run_id = ? AND id = ?`, id, RunAssessment)
	return err
}

// EndRun records how a run ended, after everything enqueued is written.
func (s *Store) EndRun(ctx context.Context, id string, st eval.Status) error {
	if err := s.Flush(); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	if _, err := s.w.ExecContext(ctx, `UPDATE runs SET status = ?, ended_at = ? WHERE id = ?`, string(st), now, id); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE assessments SET status = ?, ended_at = ? WHERE run_id = ? AND id = ?`, string(st), now, id, RunAssessment)
	return err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ErrNoRun is returned when no run matches.
var ErrNoRun = errors.New("no such run")

const runColumns = `r.id, r.name, r.tags, r.status, r.started_at, r.ended_at, r.spec, r.config, r.git_commit, r.git_dirty,
	r.dataset_path, r.dataset_hash, r.evalctl_version, r.planned, r.host, r.pid,
	(SELECT count(*) FROM cells c WHERE c.run_id = r.id),
	(SELECT count(*) FROM cells c WHERE c.run_id = r.id AND c.error_kind != ''),
	(SELECT count(*) FROM feedback f WHERE f.run_id = r.id AND f.error != '')`

func scanRun(row interface{ Scan(...any) error }) (*Run, error) {
	var r Run
	var tags, status, spec string
	var started int64
	var ended sql.NullInt64
	if err := row.Scan(&r.ID, &r.Name, &tags, &status, &started, &ended, &spec, &r.Config, &r.GitCommit, &r.GitDirty,
		&r.DatasetPath, &r.DatasetHash, &r.Version, &r.Planned, &r.Host, &r.PID, &r.Done, &r.GenErrors, &r.VerdictErrors); err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(tags), &r.Tags)
	if err := json.Unmarshal([]byte(spec), &r.Spec); err != nil {
		return nil, fmt.Errorf("run %s: unreadable spec: %w", r.ID, err)
	}
	r.Status = eval.Status(status)
	r.StartedAt = time.Unix(0, started)
	if ended.Valid {
		r.EndedAt = time.Unix(0, ended.Int64)
	}
	if r.Status == eval.StatusRunning && !r.alive() {
		r.Status = eval.StatusInterrupted // its process died without saying so
	}
	return &r, nil
}

// alive reports whether the process that runs r still exists (on this host).
func (r *Run) alive() bool {
	host, _ := os.Hostname()
	if r.Host != host {
		return true // cannot tell: trust the record
	}
	p, err := os.FindProcess(r.PID)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// Alive reports whether the run is still being written by a live process.
func (r *Run) Alive() bool { return r.Status == eval.StatusRunning && r.alive() }

// Runs lists runs, newest first.
func (s *Store) Runs(ctx context.Context) ([]*Run, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+` FROM runs r ORDER BY r.started_at DESC, r.id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run finds a run by id, name (the newest run of that name), unique id
// prefix, or "last".
func (s *Store) Run(ctx context.Context, ref string) (*Run, error) {
	runs, err := s.Runs(ctx)
	if err != nil {
		return nil, err
	}
	if ref == "last" || ref == "latest" {
		if len(runs) == 0 {
			return nil, fmt.Errorf("%w: the store %s has no runs yet", ErrNoRun, s.Path)
		}
		return runs[0], nil
	}
	for _, r := range runs {
		if r.ID == ref {
			return r, nil
		}
	}
	for _, r := range runs { // newest first
		if r.Name != "" && r.Name == ref {
			return r, nil
		}
	}
	var matches []*Run
	for _, r := range runs {
		if strings.HasPrefix(r.ID, ref) {
			matches = append(matches, r)
		}
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("%w %q in %s (see evalctl runs list)", ErrNoRun, ref, s.Path)
	case 1:
		return matches[0], nil
	}
	return nil, fmt.Errorf("run %q is ambiguous: %d runs match (use more of the id)", ref, len(matches))
}

// DeleteRun removes a run and everything recorded under it.
func (s *Store) DeleteRun(ctx context.Context, id string) error {
	if err := s.Flush(); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w %q", ErrNoRun, id)
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// SetScorers records the run's scorer list (after `evalctl score` added some).
func (s *Store) SetScorers(ctx context.Context, r *Run, scorers []string) error {
	r.Spec.Layout.Scorers = scorers
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return err
	}
	if err := s.Flush(); err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `UPDATE runs SET spec = ? WHERE id = ?`, string(spec), r.ID)
	return err
}
