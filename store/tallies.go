package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Tally counts the verdicts of one scorer on one variant's answers, as
// reports.Comparison counts them: errors and skips apart, then passes and
// fails (with repeats, per question: a question passes when most of its
// decided repeats pass, a tie fails), or for numeric scorers the sum and
// number of scores (with repeats, of each question's mean).
type Tally struct {
	Variant, Scorer             string
	Pass, Fail, Errors, Skipped int
	Sum                         float64
	N                           int
	// Judged counts the verdicts an LLM judge gave; JudgeTokens sums their
	// tokens.
	Judged      int
	JudgeTokens int
}

// Tallies counts run's verdicts per variant and scorer, from the
// assessment each scorer is read from (Verdicts), in the database: one pass
// over the run's verdicts, that returns a row per variant and scorer (per
// question with repeats), not the run. Pairs without verdicts are left
// out; the rest come in the run's scorer order, then variant order.
func (s *Store) Tallies(ctx context.Context, run *Run) ([]Tally, error) {
	pick, err := s.Verdicts(ctx, run)
	if err != nil {
		return nil, err
	}
	var conds []string
	args := []any{run.ID}
	for _, sc := range run.Spec.Layout.Scorers {
		if a, ok := pick[sc]; ok {
			conds = append(conds, `(f.scorer = ? AND f.assessment = ?)`)
			args = append(args, sc, a)
		}
	}
	if len(conds) == 0 {
		return nil, nil
	}
	picked := `f.run_id = ? AND (` + strings.Join(conds, " OR ") + `)`
	// Per variant and scorer: errors, skips, judge figures, and (without
	// repeats) the outcomes.
	rows, err := s.r.QueryContext(ctx, `SELECT f.scorer, f.variant, count(*) FILTER (WHERE f.error != ''),
		count(*) FILTER (WHERE f.error = '' AND f.skipped),
		count(*) FILTER (WHERE `+decided+` AND f.pass = TRUE), count(*) FILTER (WHERE `+decided+` AND f.pass = FALSE),
		coalesce(sum(f.score) FILTER (WHERE `+decided+` AND f.pass IS NULL), 0), count(f.score) FILTER (WHERE `+decided+` AND f.pass IS NULL),
		count(*) FILTER (WHERE f.judge_model != ''), coalesce(sum(f.prompt_tokens + f.completion_tokens), 0)
		FROM feedback f WHERE `+picked+` GROUP BY f.scorer, f.variant`, args...)
	if err != nil {
		return nil, err
	}
	type key struct{ scorer, variant string }
	by := map[key]*Tally{}
	for rows.Next() {
		var t Tally
		var errs, skips, pass, fail, n, judged, tokens float64
		if err := rows.Scan(&t.Scorer, &t.Variant, &errs, &skips, &pass, &fail, &t.Sum, &n, &judged, &tokens); err != nil {
			rows.Close()
			return nil, err
		}
		t.Errors, t.Skipped, t.Pass, t.Fail, t.N, t.Judged, t.JudgeTokens = int(errs), int(skips), int(pass), int(fail), int(n), int(judged), int(tokens)
		by[key{t.Scorer, t.Variant}] = &t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if run.Spec.Layout.Repeat > 1 {
		// Fold repeats per question.
		rows, err := s.r.QueryContext(ctx, `SELECT scorer, variant, count(*) FILTER (WHERE p > q), count(*) FILTER (WHERE p <= q AND p + q > 0),
			coalesce(sum(m), 0), count(m) FROM (
			SELECT f.scorer, f.variant, f.row_id, count(*) FILTER (WHERE `+decided+` AND f.pass = TRUE) AS p,
				count(*) FILTER (WHERE `+decided+` AND f.pass = FALSE) AS q,
				avg(f.score) FILTER (WHERE `+decided+` AND f.pass IS NULL) AS m
			FROM feedback f WHERE `+picked+` GROUP BY f.scorer, f.variant, f.row_id) per_question
			GROUP BY scorer, variant`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k key
			var pass, fail, sum, n float64
			if err := rows.Scan(&k.scorer, &k.variant, &pass, &fail, &sum, &n); err != nil {
				rows.Close()
				return nil, err
			}
			if t := by[k]; t != nil {
				t.Pass, t.Fail, t.Sum, t.N = int(pass), int(fail), sum, int(n)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var out []Tally
	for _, sc := range run.Spec.Layout.Scorers {
		for _, v := range run.Spec.Layout.AllVariants() {
			if t := by[key{sc, v.ID}]; t != nil {
				out = append(out, *t)
			}
		}
	}
	return out, nil
}

// decided is the SQL condition that a verdict f is neither an error nor a skip.
const decided = `f.error = '' AND NOT f.skipped`

// VariantStat sums one variant's cells.
type VariantStat struct {
	Variant string
	// Cells counts the cells stored, GenErrors those without an answer.
	Cells, GenErrors int
	// PromptTokens and CompletionTokens sum the generation calls.
	PromptTokens, CompletionTokens int
	// P50 is the median latency of the answered cells (0 for none).
	P50 time.Duration
}

// VariantStats sums run's cells per variant, in the order of the run's
// variants. It reads a few numbers a cell.
func (s *Store) VariantStats(ctx context.Context, run *Run) ([]VariantStat, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT variant, error_kind != '', prompt_tokens, completion_tokens, latency_ns
		FROM cells WHERE run_id = ?`, run.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	by := map[string]*VariantStat{}
	lat := map[string][]int64{}
	for rows.Next() {
		var v string
		var failed bool
		var pt, ct int
		var ns int64
		if err := rows.Scan(&v, &failed, &pt, &ct, &ns); err != nil {
			return nil, err
		}
		st := by[v]
		if st == nil {
			st = &VariantStat{Variant: v}
			by[v] = st
		}
		st.Cells++
		st.PromptTokens += pt
		st.CompletionTokens += ct
		if failed {
			st.GenErrors++
		} else {
			lat[v] = append(lat[v], ns)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []VariantStat
	for _, vs := range run.Spec.Layout.AllVariants() {
		st := by[vs.ID]
		if st == nil {
			st = &VariantStat{Variant: vs.ID}
		}
		if l := lat[vs.ID]; len(l) > 0 {
			slices.Sort(l)
			st.P50 = time.Duration(l[(len(l)-1)/2])
		}
		out = append(out, *st)
	}
	return out, nil
}
