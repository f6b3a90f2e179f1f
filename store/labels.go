package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
)

// The values of a label.
const (
	LabelPass = "pass"
	LabelFail = "fail"
)

// Label is a person's verdict on one answer (a cell: variant, row and
// repeat of a run) for one criterion, a scorer's name: pass or fail, with an
// optional comment. Labels are never overwritten: each is a new entry, the
// latest for an answer and criterion is its label and the earlier ones are
// its history.
type Label struct {
	ID      int64
	RunID   string
	Variant string
	RowID   string
	Repeat  int
	// Criterion is the scorer whose verdict the label judges.
	Criterion string
	// Value is LabelPass, LabelFail, or "" for a comment without a verdict.
	Value     string
	Comment   string
	Author    string
	CreatedAt time.Time
	// Source is "view" (labelled in evalctl view) or "import" (from a CSV).
	Source string
}

// Pass reports whether the label passes the answer; ok is false for a
// comment without a verdict.
func (l Label) Pass() (pass, ok bool) { return l.Value == LabelPass, l.Value != "" }

// ErrNoCell is returned when a label names an answer that the run does not
// have.
var ErrNoCell = errors.New("no such answer")

// checkLabel refuses a label that could not be read back as a verdict.
func checkLabel(run *Run, l *Label) error {
	switch {
	case l.Value != LabelPass && l.Value != LabelFail && l.Value != "":
		return fmt.Errorf("label %q: want pass or fail", l.Value)
	case l.Value == "" && strings.TrimSpace(l.Comment) == "":
		return errors.New("a label needs pass, fail or a comment")
	case strings.TrimSpace(l.Author) == "":
		return errors.New("a label needs an author")
	case !slices.Contains(run.Spec.Layout.Scorers, l.Criterion):
		return fmt.Errorf("run %s has no scorer %q to label (scorers: %s)", run.ID, l.Criterion, strings.Join(run.Spec.Layout.Scorers, ", "))
	}
	return nil
}

// AddLabels records labels on answers of run, in one transaction: each must
// name a cell the run holds (ErrNoCell otherwise) and one of its scorers.
// Each label gets its ID and, unless set, its time; Source defaults to
// "view". Nothing earlier is changed.
func (s *Store) AddLabels(ctx context.Context, run *Run, labels []*Label) error {
	now := time.Now()
	for _, l := range labels {
		l.RunID = run.ID
		if err := checkLabel(run, l); err != nil {
			return err
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt = now
		}
		if l.Source == "" {
			l.Source = "view"
		}
	}
	// Written apart from the writer's batches: a refused label is the
	// caller's error, not a failed write of results.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, l := range labels {
		err := tx.QueryRowContext(ctx, `INSERT INTO labels(run_id, variant, row_id, repeat, criterion, value, comment, author, created_at, source)
				SELECT ?, ?, CAST(? AS TEXT), CAST(? AS BIGINT), ?, ?, ?, ?, CAST(? AS BIGINT), ? WHERE EXISTS (SELECT 1 FROM cells c
					WHERE c.run_id = ? AND c.variant = ? AND c.row_id = ? AND c.repeat = ? AND c.error_kind = '')
				RETURNING id`,
			l.RunID, l.Variant, l.RowID, l.Repeat, l.Criterion, l.Value, l.Comment, l.Author, l.CreatedAt.UnixNano(), l.Source,
			l.RunID, l.Variant, l.RowID, l.Repeat).Scan(&l.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w in run %s: row %s, variant %s, repeat %d (or it has no answer to label)", ErrNoCell, l.RunID, l.RowID, l.Variant, l.Repeat)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

const labelColumns = `l.id, l.run_id, l.variant, l.row_id, l.repeat, l.criterion, l.value, l.comment, l.author, l.created_at, l.source`

func scanLabel(row interface{ Scan(...any) error }) (Label, error) {
	var l Label
	var created int64
	err := row.Scan(&l.ID, &l.RunID, &l.Variant, &l.RowID, &l.Repeat, &l.Criterion, &l.Value, &l.Comment, &l.Author, &created, &l.Source)
	l.CreatedAt = time.Unix(0, created)
	return l, err
}

// latestLabel is the condition that keeps, of the labels l, the latest for
// each answer and criterion.
const latestLabel = `l.id = (SELECT max(m.id) FROM labels m WHERE m.run_id = l.run_id AND m.variant = l.variant
	AND m.row_id = l.row_id AND m.repeat = l.repeat AND m.criterion = l.criterion)`

// Labels returns run runID's labels, the latest for each answer and
// criterion (history is LabelHistory's), in cell order.
func (s *Store) Labels(ctx context.Context, runID string) ([]Label, error) {
	return s.queryLabels(ctx, `SELECT `+labelColumns+` FROM labels l
		LEFT JOIN cells c ON c.run_id = l.run_id AND c.variant = l.variant AND c.row_id = l.row_id AND c.repeat = l.repeat
		WHERE l.run_id = ? AND `+latestLabel+` ORDER BY c.idx, l.criterion`, runID)
}

// LabelHistory returns every label given to one answer of run runID, for
// every criterion, oldest first.
func (s *Store) LabelHistory(ctx context.Context, runID, variant, rowID string, repeat int) ([]Label, error) {
	return s.queryLabels(ctx, `SELECT `+labelColumns+` FROM labels l
		WHERE l.run_id = ? AND l.variant = ? AND l.row_id = ? AND l.repeat = ? ORDER BY l.id`, runID, variant, rowID, repeat)
}

// CellLabels returns, for the cells of run runID numbered idx, the latest
// label of each criterion, by cell number.
func (s *Store) CellLabels(ctx context.Context, runID string, idx []int) (map[int][]Label, error) {
	out := map[int][]Label{}
	if len(idx) == 0 {
		return out, nil
	}
	args := []any{runID}
	for _, i := range idx {
		args = append(args, i)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT c.idx, `+labelColumns+` FROM cells c
		JOIN labels l ON l.run_id = c.run_id AND l.variant = c.variant AND l.row_id = c.row_id AND l.repeat = c.repeat
		WHERE c.run_id = ? AND c.idx IN (`+placeholders(len(idx))+`) AND `+latestLabel+` ORDER BY c.idx, l.criterion`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var l Label
		var created int64
		if err := rows.Scan(&i, &l.ID, &l.RunID, &l.Variant, &l.RowID, &l.Repeat, &l.Criterion, &l.Value, &l.Comment, &l.Author, &created, &l.Source); err != nil {
			return nil, err
		}
		l.CreatedAt = time.Unix(0, created)
		out[i] = append(out[i], l)
	}
	return out, rows.Err()
}

func (s *Store) queryLabels(ctx context.Context, q string, args ...any) ([]Label, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Label
	for rows.Next() {
		l, err := scanLabel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// placeholders returns n comma-separated "?".
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// LabelVerdict is a human label beside the verdict that its criterion's
// scorer gave the same answer.
type LabelVerdict struct {
	Label
	// Index, Prompt and Model are the cell's number, prompt name and model.
	Index         int
	Prompt, Model string
	// Pass is the scorer's verdict, read as Verdicts picks it: nil when it
	// did not decide (an error, a skip, a numeric score, or no verdict).
	Pass      *bool
	Rationale string
}

// LabelVerdicts returns run's labels with a verdict (the latest of each
// answer and criterion, pass or fail), each beside its scorer's verdict,
// in cell order: what calibration compares.
func (s *Store) LabelVerdicts(ctx context.Context, run *Run) ([]LabelVerdict, error) {
	pick, err := s.Verdicts(ctx, run)
	if err != nil {
		return nil, err
	}
	var conds []string
	var margs []any
	for sc, a := range pick {
		conds = append(conds, `(l.criterion = ? AND f.assessment = ?)`)
		margs = append(margs, sc, a)
	}
	match := "0"
	if len(conds) > 0 {
		match = strings.Join(conds, " OR ")
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+labelColumns+`, c.idx, c.prompt, c.model,
			(SELECT CASE WHEN f.error = '' AND NOT f.skipped THEN f.pass END FROM feedback f
				WHERE f.run_id = l.run_id AND f.variant = l.variant AND f.row_id = l.row_id AND f.repeat = l.repeat
				AND f.scorer = l.criterion AND (`+match+`)),
			coalesce((SELECT f.rationale FROM feedback f
				WHERE f.run_id = l.run_id AND f.variant = l.variant AND f.row_id = l.row_id AND f.repeat = l.repeat
				AND f.scorer = l.criterion AND (`+match+`)), '')
		FROM labels l JOIN cells c ON c.run_id = l.run_id AND c.variant = l.variant AND c.row_id = l.row_id AND c.repeat = l.repeat
		WHERE l.run_id = ? AND l.value != '' AND `+latestLabel+` ORDER BY c.idx, l.criterion`,
		append(append(slices.Clone(margs), margs...), run.ID)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LabelVerdict
	for rows.Next() {
		var v LabelVerdict
		var created int64
		var pass sql.NullBool
		if err := rows.Scan(&v.ID, &v.RunID, &v.Variant, &v.RowID, &v.Repeat, &v.Criterion, &v.Value, &v.Comment, &v.Author, &created, &v.Source,
			&v.Index, &v.Prompt, &v.Model, &pass, &v.Rationale); err != nil {
			return nil, err
		}
		v.CreatedAt = time.Unix(0, created)
		if pass.Valid {
			p := pass.Bool
			v.Pass = &p
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// labelKey names an answer of a run.
type labelKey struct {
	variant, rowID string
	repeat         int
}

// humanLabels returns the latest label of each answer and criterion of
// run, by answer, as records carry them. People label a few hundred
// answers, not a run's every cell: they are read in one query.
func (s *Store) humanLabels(ctx context.Context, run *Run) (map[labelKey][]eval.HumanLabel, error) {
	ls, err := s.queryLabels(ctx, `SELECT `+labelColumns+` FROM labels l WHERE l.run_id = ? AND `+latestLabel+` ORDER BY l.id`, run.ID)
	if err != nil {
		return nil, err
	}
	out := map[labelKey][]eval.HumanLabel{}
	for _, l := range ls {
		k := labelKey{l.Variant, l.RowID, l.Repeat}
		out[k] = append(out[k], eval.HumanLabel{Criterion: l.Criterion, Value: l.Value, Comment: l.Comment, Author: l.Author, At: l.CreatedAt})
	}
	return out, nil
}
