package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
)

// Sink returns an eval.Sink that writes results of run id through to the
// store, their verdicts under the run's own assessment (number 1).
func (s *Store) Sink(id string) eval.Sink { return &runSink{s: s, id: id, assessment: RunAssessment} }

// AssessmentSink returns a sink for a scoring pass over run id's stored
// answers: it writes only the verdicts of the assessment, and ends it.
func (s *Store) AssessmentSink(id string, assessment int) eval.Sink {
	return &runSink{s: s, id: id, assessment: assessment, scoreOnly: true}
}

type runSink struct {
	s          *Store
	id         string
	assessment int
	scoreOnly  bool
	// shared marks a worker of a run shared by workers: its results mark
	// their cells' claims done, and its End leaves the run to FinishShared.
	shared bool
}

func (k *runSink) Begin(*eval.Plan) error { return nil }

func (k *runSink) Put(r eval.Result) error {
	rec := r.Record()
	k.s.enqueue(func(tx *txn) error {
		if err := putRecord(tx, k.id, k.assessment, k.scoreOnly, r.Resumed, &rec); err != nil {
			return err
		}
		if k.shared {
			_, err := tx.Exec(`UPDATE claims SET done = TRUE WHERE run_id = ? AND idx = ?`, k.id, rec.Index)
			return err
		}
		return nil
	})
	return nil
}

// PutRecord writes a record into run id as its own (a merge of shards): the
// cell, and its verdicts under the run's own assessment.
func (s *Store) PutRecord(id string, rec eval.Record) {
	s.enqueue(func(tx *txn) error { return putRecord(tx, id, RunAssessment, false, false, &rec) })
}

func (k *runSink) End(st eval.Status) error {
	if k.shared {
		return k.s.Flush()
	}
	if k.scoreOnly {
		return k.s.EndAssessment(context.Background(), k.id, k.assessment, st)
	}
	return k.s.EndRun(context.Background(), k.id, st)
}

// putRecord writes a record: its cell (unless scoreOnly: a scoring pass
// writes verdicts only) and its verdicts under assessment. resumed says the
// answer was stored before (its call is not counted again).
func putRecord(tx *txn, runID string, assessment int, scoreOnly, resumed bool, r *eval.Record) error {
	v := r.Variant
	if !scoreOnly {
		if err := putCell(tx, runID, r, resumed); err != nil {
			return err
		}
	}
	if r.Err != nil {
		// A redone cell that failed now keeps no feedback from before.
		_, err := tx.Exec(`DELETE FROM feedback WHERE run_id = ? AND assessment = ? AND variant = ? AND row_id = ? AND repeat = ?`,
			runID, assessment, v.ID, r.RowID, r.Repeat)
		return err
	}
	for _, fb := range r.Feedback {
		value, err := json.Marshal(fb.Value)
		if err != nil {
			value = []byte("null")
		}
		var pass sql.NullBool
		if fb.Pass != nil {
			pass = sql.NullBool{Bool: *fb.Pass, Valid: true}
		}
		var score sql.NullFloat64
		if fb.Score != nil {
			score = sql.NullFloat64{Float64: *fb.Score, Valid: true}
		}
		votes := ""
		if len(fb.Votes) > 0 {
			b, _ := json.Marshal(fb.Votes)
			votes = string(b)
		}
		var agreement sql.NullFloat64
		if fb.Agreement != nil {
			agreement = sql.NullFloat64{Float64: *fb.Agreement, Valid: true}
		}
		if fb.Reused && scoreOnly {
			continue // another assessment's verdict, carried along
		}
		spans := ""
		if len(fb.Spans) > 0 {
			b, _ := json.Marshal(fb.Spans)
			spans = string(b)
		}
		// Within one assessment a verdict is replaced only when a resume
		// redoes it (it was an error); other assessments are never touched.
		if _, err := tx.Exec(`INSERT INTO feedback(run_id, assessment, variant, row_id, repeat, scorer, value, pass, score, skipped,
			rationale, error, judge_model, raw, prompt_tokens, completion_tokens, latency_ns, attempts, votes, agreement, spans)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT(run_id, variant, row_id, repeat, scorer, assessment) DO UPDATE SET `+updateAll("value", "pass", "score", "skipped",
			"rationale", "error", "judge_model", "raw", "prompt_tokens", "completion_tokens", "latency_ns", "attempts", "votes", "agreement", "spans"),
			runID, assessment, v.ID, r.RowID, r.Repeat, fb.Scorer, string(value), pass, score, fb.Skipped,
			fb.Rationale, fb.Err, fb.JudgeModel, fb.Raw, fb.Usage.PromptTokens, fb.Usage.CompletionTokens, int64(fb.Latency), fb.Attempts,
			votes, agreement, spans); err != nil {
			return err
		}
		if fb.JudgeModel != "" && !fb.Reused && fb.Attempts > 0 {
			st := "ok"
			if fb.Err != "" {
				st = "error"
			}
			if _, err := tx.Exec(`INSERT INTO calls(run_id, kind, model, row_id, scorer, attempts, status, latency_ns, prompt_tokens, completion_tokens)
				VALUES (?,?,?,?,?,?,?,?,?,?)`, runID, "judge", fb.JudgeModel, r.RowID, fb.Scorer, fb.Attempts, st, int64(fb.Latency),
				fb.Usage.PromptTokens, fb.Usage.CompletionTokens); err != nil {
				return err
			}
		}
	}
	return nil
}

// putCell writes a cell's answer (or error) and, unless resumed, its
// generation call.
func putCell(tx *txn, runID string, r *eval.Record, resumed bool) error {
	v := r.Variant
	vars, _ := json.Marshal(r.Vars)
	params, _ := json.Marshal(v.Model.Params)
	var kind, msg string
	var status int
	if r.Err != nil {
		kind, msg, status = r.Err.Kind.String(), r.Err.Msg, r.Err.Status
	}
	model := v.Model.Ref
	sysVersion := ""
	if v.System != nil {
		sysVersion = v.System.Version
	}
	steps := ""
	if len(r.Steps) > 0 {
		b, _ := json.Marshal(r.Steps)
		steps = string(b)
	}
	if _, err := tx.Exec(`INSERT INTO cells(run_id, idx, variant, row_id, row_line, row_vars, prompt, prompt_version, system_version,
		model, params, repeat, system, input, answer, finish_reason, prompt_tokens, completion_tokens, latency_ns, attempts, error_kind,
		error_status, error, cached, steps)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(run_id, variant, row_id, repeat) DO UPDATE SET `+updateAll("idx", "row_line", "row_vars", "prompt", "prompt_version",
		"system_version", "model", "params", "system", "input", "answer", "finish_reason", "prompt_tokens", "completion_tokens", "latency_ns",
		"attempts", "error_kind", "error_status", "error", "cached", "steps"),
		runID, r.Index, v.ID, r.RowID, r.Line, string(vars), v.Prompt.Name, v.Prompt.Version, sysVersion, model, string(params),
		r.Repeat, r.System, r.Input, r.Answer, r.FinishReason, r.Usage.PromptTokens, r.Usage.CompletionTokens,
		int64(r.Latency), r.Attempts, kind, status, msg, r.Cached, steps); err != nil {
		return err
	}
	if resumed {
		return nil
	}
	callStatus := "ok"
	if r.Err != nil {
		callStatus = kind
	}
	_, err := tx.Exec(`INSERT INTO calls(run_id, kind, model, row_id, attempts, status, latency_ns, prompt_tokens, completion_tokens, cached)
		VALUES (?,?,?,?,?,?,?,?,?,?)`, runID, "generation", model, r.RowID, r.Attempts, callStatus, int64(r.Latency),
		r.Usage.PromptTokens, r.Usage.CompletionTokens, r.Cached)
	return err
}

// Records reads a run's records in cell order. It holds the whole run in
// memory: EachRecord streams.
func (s *Store) Records(ctx context.Context, run *Run) ([]eval.Record, error) {
	var out []eval.Record
	err := s.EachRecord(ctx, run, true, func(r eval.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachRecord calls fn with each record of a run as it is read, so a report
// over any number of cells holds one at a time. With ordered set the
// records come in cell order (the database sorts); otherwise in storage
// order. Each record's feedback follows the run's scorer order, matched by
// name, one verdict a scorer: from the assessment run.Assessment (0: each
// scorer's latest complete assessment, see Verdicts); a scorer with no
// verdict is left out.
func (s *Store) EachRecord(ctx context.Context, run *Run, ordered bool, fn func(eval.Record) error) error {
	return s.eachRecord(ctx, run, "", nil, ordered, false, fn)
}

// EachOutcome is EachRecord, in storage order, without the texts that
// outcomes do not need: the records' messages, answers and steps, and their
// verdicts' rationales, raw replies, votes and judge calls are left empty.
// What a paired comparison reads, at a fraction of the cost.
func (s *Store) EachOutcome(ctx context.Context, run *Run, fn func(eval.Record) error) error {
	return s.eachRecord(ctx, run, "", nil, false, true, fn)
}

// eachRecord is EachRecord over the cells c that cond, an SQL condition
// with args, admits ("" for all); light leaves out the texts (EachOutcome).
func (s *Store) eachRecord(ctx context.Context, run *Run, cond string, args []any, ordered, light bool, fn func(eval.Record) error) error {
	lay := run.Spec.Layout
	variants := map[string]eval.VariantSpec{}
	for _, vs := range lay.AllVariants() {
		variants[vs.ID] = vs
	}
	pick, err := s.verdictSources(ctx, run)
	if err != nil {
		return err
	}
	human, err := s.humanLabels(ctx, run)
	if err != nil {
		return err
	}
	q := `SELECT c.idx, c.variant, c.row_id, c.row_line, c.row_vars, c.repeat, c.system, c.input, c.answer, c.finish_reason,
		c.prompt_tokens, c.completion_tokens, c.latency_ns, c.attempts, c.error_kind, c.error_status, c.error, c.cached, c.steps,
		f.assessment, f.scorer, f.value, f.pass, f.score, f.skipped, f.rationale, f.error, f.judge_model, f.raw, f.prompt_tokens,
		f.completion_tokens, f.latency_ns, f.attempts, f.votes, f.agreement, f.spans
		FROM cells c LEFT JOIN feedback f ON f.run_id = c.run_id AND f.variant = c.variant AND f.row_id = c.row_id
			AND f.repeat = c.repeat
		WHERE c.run_id = ?`
	if light {
		q = strings.NewReplacer("c.system,", "'',", "c.input,", "'',", "c.answer,", "'',", "c.steps,", "'',", "f.rationale,", "'',",
			"f.raw,", "'',", "f.votes,", "'',", "f.spans\n", "''\n").Replace(q)
	}
	if cond != "" {
		q += ` AND (` + cond + `)`
	}
	if ordered {
		q += ` ORDER BY c.idx`
	}
	rows, err := s.r.QueryContext(ctx, q, append([]any{run.ID}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()

	var cur *eval.Record
	var fbs []scorers.Feedback
	emit := func() error {
		if cur == nil {
			return nil
		}
		if cur.Err == nil {
			cur.Feedback = make([]scorers.Feedback, 0, len(fbs))
			for _, sc := range lay.Scorers {
				for _, fb := range fbs {
					if fb.Scorer == sc {
						cur.Feedback = append(cur.Feedback, fb)
					}
				}
			}
		}
		if hs := human[labelKey{cur.Variant.ID, cur.RowID, cur.Repeat}]; len(hs) > 0 {
			for _, sc := range lay.Scorers {
				for _, h := range hs {
					if h.Criterion == sc {
						cur.Human = append(cur.Human, h)
					}
				}
			}
		}
		r := *cur
		cur, fbs = nil, fbs[:0]
		return fn(r)
	}
	for rows.Next() {
		var r eval.Record
		var vars, variant, kind, msg string
		var status int
		var lat int64
		var scorer, value, rationale, ferr, judge, raw sql.NullString
		var pass, skipped sql.NullBool
		var score sql.NullFloat64
		var assessment, fpt, fct, flat, fatt sql.NullInt64
		var votes, fspans sql.NullString
		var steps string
		var agreement sql.NullFloat64
		if err := rows.Scan(&r.Index, &variant, &r.RowID, &r.Line, &vars, &r.Repeat, &r.System, &r.Input, &r.Answer,
			&r.FinishReason, &r.Usage.PromptTokens, &r.Usage.CompletionTokens, &lat, &r.Attempts, &kind, &status, &msg, &r.Cached, &steps,
			&assessment, &scorer, &value, &pass, &score, &skipped, &rationale, &ferr, &judge, &raw, &fpt, &fct, &flat, &fatt, &votes, &agreement,
			&fspans); err != nil {
			return err
		}
		if cur == nil || cur.Index != r.Index {
			if err := emit(); err != nil {
				return err
			}
			json.Unmarshal([]byte(vars), &r.Vars)
			if steps != "" {
				if err := json.Unmarshal([]byte(steps), &r.Steps); err != nil {
					return fmt.Errorf("run %s: cell %d: its stored steps are not readable: %v", run.ID, r.Index, err)
				}
			}
			r.Latency = time.Duration(lat)
			vs, ok := variants[variant]
			if !ok {
				return fmt.Errorf("run %s: cell %d of variant %q outside the run's layout", run.ID, r.Index, variant)
			}
			r.Variant = vs
			if kind != "" {
				r.Err = &llm.Error{Kind: kindOf(kind), Status: status, Model: vs.Model.Ref, Msg: msg, Attempts: r.Attempts}
			}
			cur = &r
		}
		if !scorer.Valid || !pick(scorer.String, int(assessment.Int64)) {
			continue // a cell without feedback, or another assessment's verdict
		}
		fb := scorers.Feedback{Scorer: scorer.String, Skipped: skipped.Bool, Rationale: rationale.String, Err: ferr.String,
			JudgeModel: judge.String, Raw: raw.String, Latency: time.Duration(flat.Int64), Attempts: int(fatt.Int64)}
		fb.Usage = llm.Usage{PromptTokens: int(fpt.Int64), CompletionTokens: int(fct.Int64)}
		json.Unmarshal([]byte(value.String), &fb.Value)
		if pass.Valid {
			p := pass.Bool
			fb.Pass = &p
		}
		if score.Valid {
			v := score.Float64
			fb.Score = &v
		}
		if votes.String != "" {
			json.Unmarshal([]byte(votes.String), &fb.Votes)
		}
		if agreement.Valid {
			a := agreement.Float64
			fb.Agreement = &a
		}
		if fspans.String != "" {
			json.Unmarshal([]byte(fspans.String), &fb.Spans)
		}
		fbs = append(fbs, fb)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return emit()
}

func kindOf(s string) llm.Kind {
	for k := llm.KindUnknown; k <= llm.KindLast; k++ {
		if k.String() == s {
			return k
		}
	}
	return llm.KindUnknown
}

// updateAll is the SET list of an upsert that takes every column given
// from the row that was refused (an insert over an existing key replaces
// its values, as SQLite's INSERT OR REPLACE did, in SQL both backends
// speak).
func updateAll(cols ...string) string {
	set := make([]string, len(cols))
	for i, c := range cols {
		set[i] = c + " = excluded." + c
	}
	return strings.Join(set, ", ")
}
