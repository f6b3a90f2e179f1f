package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

// Sink returns an eval.Sink that writes results of run id through to the store.
func (s *Store) Sink(id string) eval.Sink { return &runSink{s: s, id: id} }

type runSink struct {
	s  *Store
	id string
}

func (k *runSink) Begin(*eval.Plan) error { return nil }

func (k *runSink) Put(r eval.Result) error {
	k.s.enqueue(func(tx *txn) error { return putResult(tx, k.id, &r) })
	return nil
}

func (k *runSink) End(st eval.Status) error { return k.s.EndRun(context.Background(), k.id, st) }

func putResult(tx *txn, runID string, r *eval.Result) error {
	vars, _ := json.Marshal(r.Row.Vars)
	params, _ := json.Marshal(r.Model.Params)
	var kind, msg string
	var status int
	if r.Err != nil {
		kind, msg, status = r.Err.Kind.String(), r.Err.Msg, r.Err.Status
	}
	model := r.Model.Ref.String()
	if _, err := tx.Exec(`INSERT OR REPLACE INTO cells(run_id, idx, row_id, row_line, row_vars, prompt, prompt_version, model, params,
		repeat, system, input, answer, finish_reason, prompt_tokens, completion_tokens, latency_ns, attempts, error_kind, error_status, error, cached)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		runID, r.Index, r.Row.ID, r.Row.Line, string(vars), r.Prompt.Name, r.Prompt.Version, model, string(params),
		r.Repeat, r.System, r.Input, r.Answer, r.FinishReason, r.Usage.PromptTokens, r.Usage.CompletionTokens,
		int64(r.Latency), r.Attempts, kind, status, msg, r.Cached); err != nil {
		return err
	}
	if !r.Resumed {
		callStatus := "ok"
		if r.Err != nil {
			callStatus = kind
		}
		if _, err := tx.Exec(`INSERT INTO calls(run_id, kind, model, row_id, attempts, status, latency_ns, prompt_tokens, completion_tokens, cached)
			VALUES (?,?,?,?,?,?,?,?,?,?)`, runID, "generation", model, r.Row.ID, r.Attempts, callStatus, int64(r.Latency),
			r.Usage.PromptTokens, r.Usage.CompletionTokens, r.Cached); err != nil {
			return err
		}
	}
	if r.Err != nil {
		// A redone cell that failed now keeps no feedback from before.
		_, err := tx.Exec(`DELETE FROM feedback WHERE run_id = ? AND row_id = ? AND prompt = ? AND model = ? AND repeat = ?`,
			runID, r.Row.ID, r.Prompt.Name, model, r.Repeat)
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
		if _, err := tx.Exec(`INSERT OR REPLACE INTO feedback(run_id, row_id, prompt, model, repeat, scorer, value, pass, score, skipped,
			rationale, error, judge_model, raw, prompt_tokens, completion_tokens, latency_ns, attempts, votes, agreement)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			runID, r.Row.ID, r.Prompt.Name, model, r.Repeat, fb.Scorer, string(value), pass, score, fb.Skipped,
			fb.Rationale, fb.Err, fb.JudgeModel, fb.Raw, fb.Usage.PromptTokens, fb.Usage.CompletionTokens, int64(fb.Latency), fb.Attempts,
			votes, agreement); err != nil {
			return err
		}
		if fb.JudgeModel != "" && !fb.Reused && fb.Attempts > 0 {
			st := "ok"
			if fb.Err != "" {
				st = "error"
			}
			if _, err := tx.Exec(`INSERT INTO calls(run_id, kind, model, row_id, scorer, attempts, status, latency_ns, prompt_tokens, completion_tokens)
				VALUES (?,?,?,?,?,?,?,?,?,?)`, runID, "judge", fb.JudgeModel, r.Row.ID, fb.Scorer, fb.Attempts, st, int64(fb.Latency),
				fb.Usage.PromptTokens, fb.Usage.CompletionTokens); err != nil {
				return err
			}
		}
	}
	return nil
}

// Results reads a run's results in cell order. Each result's feedback follows
// the run's scorer order; a scorer with no stored feedback is left out. It
// holds the whole run in memory: EachResult streams.
func (s *Store) Results(ctx context.Context, run *Run) ([]eval.Result, error) {
	var out []eval.Result
	err := s.EachResult(ctx, run, true, func(r eval.Result) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachResult calls fn with each result of a run as it is read, so a report
// over any number of cells holds one at a time. With ordered set the results
// come in cell order (the database sorts); otherwise in storage order.
func (s *Store) EachResult(ctx context.Context, run *Run, ordered bool, fn func(eval.Result) error) error {
	lay := run.Spec.Layout
	tpls := map[string]*prompts.Template{}
	for _, p := range lay.Prompts {
		tpls[p.Name] = &prompts.Template{Name: p.Name, Version: p.Version}
	}
	models := map[string]*eval.Model{}
	for _, m := range lay.Models {
		ref, err := llm.ParseModelRef(m.Ref)
		if err != nil {
			return err
		}
		models[m.Ref] = &eval.Model{Ref: ref, Params: m.Params}
	}
	q := `SELECT c.idx, c.row_id, c.row_line, c.row_vars, c.prompt, c.model, c.repeat, c.system, c.input, c.answer, c.finish_reason,
		c.prompt_tokens, c.completion_tokens, c.latency_ns, c.attempts, c.error_kind, c.error_status, c.error, c.cached,
		f.scorer, f.value, f.pass, f.score, f.skipped, f.rationale, f.error, f.judge_model, f.raw, f.prompt_tokens,
		f.completion_tokens, f.latency_ns, f.attempts, f.votes, f.agreement
		FROM cells c LEFT JOIN feedback f ON f.run_id = c.run_id AND f.row_id = c.row_id AND f.prompt = c.prompt
			AND f.model = c.model AND f.repeat = c.repeat
		WHERE c.run_id = ?`
	if ordered {
		q += ` ORDER BY c.idx`
	}
	rows, err := s.r.QueryContext(ctx, q, run.ID)
	if err != nil {
		return err
	}
	defer rows.Close()

	var cur *eval.Result
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
		r := *cur
		cur, fbs = nil, fbs[:0]
		return fn(r)
	}
	for rows.Next() {
		var r eval.Result
		row := &datasets.Row{}
		var vars, prompt, model, kind, msg string
		var status int
		var lat int64
		var scorer, value, rationale, ferr, judge, raw sql.NullString
		var pass, skipped sql.NullBool
		var score sql.NullFloat64
		var fpt, fct, flat, fatt sql.NullInt64
		var votes sql.NullString
		var agreement sql.NullFloat64
		if err := rows.Scan(&r.Index, &row.ID, &row.Line, &vars, &prompt, &model, &r.Repeat, &r.System, &r.Input, &r.Answer,
			&r.FinishReason, &r.Usage.PromptTokens, &r.Usage.CompletionTokens, &lat, &r.Attempts, &kind, &status, &msg, &r.Cached,
			&scorer, &value, &pass, &score, &skipped, &rationale, &ferr, &judge, &raw, &fpt, &fct, &flat, &fatt, &votes, &agreement); err != nil {
			return err
		}
		if cur == nil || cur.Index != r.Index {
			if err := emit(); err != nil {
				return err
			}
			json.Unmarshal([]byte(vars), &row.Vars)
			r.Row, r.Latency = row, time.Duration(lat)
			if r.Prompt = tpls[prompt]; r.Prompt == nil {
				return fmt.Errorf("run %s: cell with prompt %q outside the run's layout", run.ID, prompt)
			}
			if r.Model = models[model]; r.Model == nil {
				return fmt.Errorf("run %s: cell with model %q outside the run's layout", run.ID, model)
			}
			if kind != "" {
				r.Err = &llm.Error{Kind: kindOf(kind), Status: status, Model: model, Msg: msg, Attempts: r.Attempts}
			}
			cur = &r
		}
		if !scorer.Valid {
			continue // a cell without feedback
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
		fbs = append(fbs, fb)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return emit()
}

func kindOf(s string) llm.Kind {
	for k := llm.KindUnknown; k <= llm.KindUnreachable; k++ {
		if k.String() == s {
			return k
		}
	}
	return llm.KindUnknown
}
