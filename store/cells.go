package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/evalctl/evalctl/eval"
)

// The outcomes a CellQuery selects by.
const (
	OutcomePass     = "pass"     // the scorer passed the answer
	OutcomeFail     = "fail"     // the scorer failed it
	OutcomeError    = "error"    // the scorer could not decide
	OutcomeSkip     = "skip"     // the scorer does not apply to the row
	OutcomeGenError = "generror" // no answer: the generation failed
)

// The human-label states a CellQuery selects by.
const (
	LabelNone     = "none"     // no verdict yet
	LabelAny      = "any"      // a verdict, pass or fail
	LabelDisagree = "disagree" // a verdict that differs from the scorer's
)

// CellQuery selects a page of a run's cells. The database filters, counts
// and orders, so a page costs the same whatever the size of the run.
type CellQuery struct {
	// Variant keeps the cells of one variant (its ID).
	Variant string
	// RowID keeps the cells of one dataset row.
	RowID string
	// Outcome keeps the cells whose verdict of Scorer (of any scorer when
	// Scorer is empty) is OutcomePass, OutcomeFail, OutcomeError or
	// OutcomeSkip; OutcomeGenError keeps the cells without an answer.
	Scorer, Outcome string
	// Label keeps the cells by their human label of Criterion: LabelNone,
	// LabelAny, LabelPass, LabelFail or LabelDisagree.
	Criterion, Label string
	// Text keeps the cells whose answer, prompt or row values contain it
	// (ASCII letters in any case), or whose row id it is.
	Text string
	// Review orders the cells as a review queue for Criterion (which it
	// needs): the answers not labelled yet first, those whose judges'
	// votes disagree before those the judge could not decide, before the
	// rest; then the labelled answers, then those the criterion does not
	// apply to, then the cells without an answer. Otherwise cells come in
	// cell order.
	Review bool
	// Offset and Limit page the cells (Limit 0: 50).
	Offset, Limit int
}

// CellPage is a page of cells.
type CellPage struct {
	// Total counts the cells the query selects, on every page.
	Total   int
	Records []eval.Record
}

// verdictOf returns the SQL condition that the verdict f (of a cell c) is
// one that run's readers use (Verdicts), and its arguments. scorer limits
// it to one scorer.
func verdictOf(pick map[string]int, run *Run, scorer string) (string, []any) {
	var parts []string
	var args []any
	for _, sc := range run.Spec.Layout.Scorers {
		if a, ok := pick[sc]; ok && (scorer == "" || sc == scorer) {
			parts = append(parts, `(f.scorer = ? AND f.assessment = ?)`)
			args = append(args, sc, a)
		}
	}
	if len(parts) == 0 {
		return "FALSE", nil
	}
	return `f.run_id = c.run_id AND f.variant = c.variant AND f.row_id = c.row_id AND f.repeat = c.repeat AND (` +
		strings.Join(parts, " OR ") + `)`, args
}

// outcomeCond is the SQL condition on a verdict f for an outcome.
var outcomeCond = map[string]string{
	OutcomePass:  `f.error = '' AND NOT f.skipped AND f.pass = TRUE`,
	OutcomeFail:  `f.error = '' AND NOT f.skipped AND f.pass = FALSE`,
	OutcomeError: `f.error != ''`,
	OutcomeSkip:  `f.error = '' AND f.skipped`,
}

// latestValue is the SQL expression for the value of the latest label of a
// cell c for the criterion given as its one argument.
const latestValue = `(SELECT l.value FROM labels l WHERE l.run_id = c.run_id AND l.variant = c.variant AND l.row_id = c.row_id
	AND l.repeat = c.repeat AND l.criterion = ? ORDER BY l.id DESC LIMIT 1)`

// where returns the query's SQL conditions on cells c and their arguments.
func (q CellQuery) where(d *dialect, pick map[string]int, run *Run) (string, []any, error) {
	conds := []string{"TRUE"}
	var args []any
	if q.Variant != "" {
		conds, args = append(conds, `c.variant = ?`), append(args, q.Variant)
	}
	if q.RowID != "" {
		conds, args = append(conds, `c.row_id = ?`), append(args, q.RowID)
	}
	switch q.Outcome {
	case "":
	case OutcomeGenError:
		conds = append(conds, `c.error_kind != ''`)
	default:
		oc, ok := outcomeCond[q.Outcome]
		if !ok {
			return "", nil, fmt.Errorf("outcome %q: want pass, fail, error, skip or generror", q.Outcome)
		}
		vc, va := verdictOf(pick, run, q.Scorer)
		conds = append(conds, `EXISTS (SELECT 1 FROM feedback f WHERE `+vc+` AND `+oc+`)`)
		args = append(args, va...)
	}
	if q.Label != "" {
		if q.Criterion == "" {
			return "", nil, errors.New("a label filter needs a criterion")
		}
		switch q.Label {
		case LabelNone:
			conds = append(conds, `coalesce(`+latestValue+`, '') = ''`)
			args = append(args, q.Criterion)
		case LabelAny:
			conds = append(conds, `coalesce(`+latestValue+`, '') != ''`)
			args = append(args, q.Criterion)
		case LabelPass, LabelFail:
			conds = append(conds, latestValue+` = ?`)
			args = append(args, q.Criterion, q.Label)
		case LabelDisagree:
			vc, va := verdictOf(pick, run, q.Criterion)
			conds = append(conds, `EXISTS (SELECT 1 FROM feedback f WHERE `+vc+` AND f.error = '' AND NOT f.skipped AND f.pass IS NOT NULL
				AND `+latestValue+` = CASE WHEN f.pass THEN 'fail' ELSE 'pass' END)`)
			args = append(append(args, va...), q.Criterion)
		default:
			return "", nil, fmt.Errorf("label %q: want none, any, pass, fail or disagree", q.Label)
		}
	}
	if q.Text != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		like := "%" + esc.Replace(q.Text) + "%"
		// Row values are stored as JSON, which writes < > & " and control
		// characters escaped: the text is looked for as JSON writes it.
		enc, _ := json.Marshal(q.Text)
		inVars := "%" + esc.Replace(string(enc[1:len(enc)-1])) + "%"
		op := d.like
		conds = append(conds, `(c.answer `+op+` ? ESCAPE '\' OR c.input `+op+` ? ESCAPE '\' OR c.row_vars `+op+` ? ESCAPE '\' OR c.row_id = ?)`)
		args = append(args, like, like, inVars, q.Text)
	}
	if q.Review {
		if q.Criterion == "" {
			return "", nil, errors.New("a review queue needs a criterion")
		}
	}
	return strings.Join(conds, " AND "), args, nil
}

// reviewFrom joins each cell c to its verdict f of the review's criterion
// and its latest human label h of it; its arguments are the criterion, its
// assessment, the run and the criterion. reviewRank ranks the cells by them.
const (
	reviewFrom = `cells c LEFT JOIN feedback f ON f.run_id = c.run_id AND f.variant = c.variant AND f.row_id = c.row_id
			AND f.repeat = c.repeat AND f.scorer = ? AND f.assessment = ?
		LEFT JOIN (SELECT l.variant, l.row_id, l.repeat, l.value FROM labels l WHERE l.run_id = ? AND l.criterion = ? AND ` + latestLabel + `) h
			ON h.variant = c.variant AND h.row_id = c.row_id AND h.repeat = c.repeat`
	reviewRank = `CASE
		WHEN c.error_kind != '' THEN 5
		WHEN coalesce(h.value, '') != '' THEN 3
		WHEN f.error = '' AND f.skipped THEN 4
		WHEN f.error = '' AND f.agreement < 1 THEN 0
		WHEN f.error = '' AND f.pass IS NOT NULL THEN 2
		ELSE 1 END`
)

// Cells returns a page of run's cells as records (verdicts as EachRecord
// picks them) and how many cells the query selects.
func (s *Store) Cells(ctx context.Context, run *Run, q CellQuery) (CellPage, error) {
	var page CellPage
	pick, err := s.Verdicts(ctx, run)
	if err != nil {
		return page, err
	}
	cond, args, err := q.where(s.dialect, pick, run)
	if err != nil {
		return page, err
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM cells c WHERE c.run_id = ? AND `+cond,
		append([]any{run.ID}, args...)...).Scan(&page.Total); err != nil {
		return page, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	from, order := `cells c`, `c.idx`
	var fromArgs []any
	if q.Review {
		from, order = reviewFrom, reviewRank+`, c.idx`
		fromArgs = []any{q.Criterion, pick[q.Criterion], run.ID, q.Criterion}
	}
	all := append(append(append(fromArgs, run.ID), args...), limit, max(0, q.Offset))
	rows, err := s.r.QueryContext(ctx, `SELECT c.idx FROM `+from+` WHERE c.run_id = ? AND `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`, all...)
	if err != nil {
		return page, err
	}
	var idx []int
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			rows.Close()
			return page, err
		}
		idx = append(idx, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, err
	}
	if page.Records, err = s.records(ctx, run, idx); err != nil {
		return page, err
	}
	return page, nil
}

// Position returns where run's cell idx stands in the query's order now:
// how many selected cells come before it, and whether the query selects it
// at all. A review queue re-sorts as labels arrive (a labelled answer goes
// behind the unlabelled ones), so a cell's neighbours are found from its
// present place, never from the place it had when its page was opened.
func (s *Store) Position(ctx context.Context, run *Run, q CellQuery, idx int) (pos int, in bool, err error) {
	pick, err := s.Verdicts(ctx, run)
	if err != nil {
		return 0, false, err
	}
	cond, args, err := q.where(s.dialect, pick, run)
	if err != nil {
		return 0, false, err
	}
	from, rank := `cells c`, `0`
	var fromArgs []any
	if q.Review {
		from, rank = reviewFrom, reviewRank
		fromArgs = []any{q.Criterion, pick[q.Criterion], run.ID, q.Criterion}
	}
	var r0 int
	err = s.r.QueryRowContext(ctx, `SELECT `+rank+` FROM `+from+` WHERE c.run_id = ? AND c.idx = ?`,
		append(append([]any{}, fromArgs...), run.ID, idx)...).Scan(&r0)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("%w: run %s has no cell %d", ErrNoCell, run.ID, idx)
	}
	if err != nil {
		return 0, false, err
	}
	var n int
	err = s.r.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE c.idx = ?) > 0 FROM `+from+` WHERE c.run_id = ? AND `+cond+`
		AND (`+rank+` < ? OR (`+rank+` = ? AND c.idx <= ?))`,
		append(append(append(append([]any{idx}, fromArgs...), run.ID), args...), r0, r0, idx)...).Scan(&n, &in)
	if err != nil {
		return 0, false, err
	}
	if in {
		n--
	}
	return n, in, nil
}

// records reads the records of the cells numbered idx, in that order.
func (s *Store) records(ctx context.Context, run *Run, idx []int) ([]eval.Record, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	args := make([]any, len(idx))
	pos := map[int]int{}
	for i, x := range idx {
		args[i], pos[x] = x, i
	}
	out := make([]eval.Record, len(idx))
	err := s.eachRecord(ctx, run, `c.idx IN (`+placeholders(len(idx))+`)`, args, true, false, func(r eval.Record) error {
		out[pos[r.Index]] = r
		return nil
	})
	return out, err
}

// Cell returns the record of run's cell number idx (ErrNoCell if none).
func (s *Store) Cell(ctx context.Context, run *Run, idx int) (eval.Record, error) {
	rs, err := s.records(ctx, run, []int{idx})
	if err != nil {
		return eval.Record{}, err
	}
	if len(rs) == 0 || rs[0].Variant.ID == "" {
		return eval.Record{}, fmt.Errorf("%w: run %s has no cell %d", ErrNoCell, run.ID, idx)
	}
	return rs[0], nil
}

// CellIndex returns the number of run's cell of a variant, row and repeat
// (ErrNoCell if none).
func (s *Store) CellIndex(ctx context.Context, run *Run, variant, rowID string, repeat int) (int, error) {
	var idx int
	err := s.r.QueryRowContext(ctx, `SELECT idx FROM cells WHERE run_id = ? AND variant = ? AND row_id = ? AND repeat = ?`,
		run.ID, variant, rowID, repeat).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: run %s has no answer of variant %s to row %s (repeat %d)", ErrNoCell, run.ID, variant, rowID, repeat)
	}
	return idx, err
}

// RunByID returns the run with exactly this id (ErrNoRun if none),
// without reading the others.
func (s *Store) RunByID(ctx context.Context, id string) (*Run, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w %q in %s (see evalctl runs list)", ErrNoRun, id, s.Path)
	}
	return r, err
}
