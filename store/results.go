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
		if _, err := tx.Exec(`INSERT OR REPLACE INTO feedback(run_id, row_id, prompt, model, repeat, scorer, value, pass, score, skipped,
			rationale, error, judge_model, raw, prompt_tokens, completion_tokens, latency_ns, attempts)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			runID, r.Row.ID, r.Prompt.Name, model, r.Repeat, fb.Scorer, string(value), pass, score, fb.Skipped,
			fb.Rationale, fb.Err, fb.JudgeModel, fb.Raw, fb.Usage.PromptTokens, fb.Usage.CompletionTokens, int64(fb.Latency), fb.Attempts); err != nil {
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
// the run's scorer order; a scorer with no stored feedback is left out.
func (s *Store) Results(ctx context.Context, run *Run) ([]eval.Result, error) {
	lay := run.Spec.Layout
	tpls := map[string]*prompts.Template{}
	for _, p := range lay.Prompts {
		tpls[p.Name] = &prompts.Template{Name: p.Name, Version: p.Version}
	}
	models := map[string]*eval.Model{}
	for _, m := range lay.Models {
		ref, err := llm.ParseModelRef(m.Ref)
		if err != nil {
			return nil, err
		}
		models[m.Ref] = &eval.Model{Ref: ref, Params: m.Params}
	}
	order := map[string]int{}
	for i, sc := range lay.Scorers {
		order[sc] = i
	}

	type key struct {
		row, prompt, model string
		repeat             int
	}
	fbs := map[key][]scorers.Feedback{}
	rows, err := s.r.QueryContext(ctx, `SELECT row_id, prompt, model, repeat, scorer, value, pass, score, skipped, rationale, error,
		judge_model, raw, prompt_tokens, completion_tokens, latency_ns, attempts FROM feedback WHERE run_id = ?`, run.ID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var k key
		var fb scorers.Feedback
		var value string
		var pass sql.NullBool
		var score sql.NullFloat64
		var lat int64
		if err := rows.Scan(&k.row, &k.prompt, &k.model, &k.repeat, &fb.Scorer, &value, &pass, &score, &fb.Skipped, &fb.Rationale,
			&fb.Err, &fb.JudgeModel, &fb.Raw, &fb.Usage.PromptTokens, &fb.Usage.CompletionTokens, &lat, &fb.Attempts); err != nil {
			rows.Close()
			return nil, err
		}
		json.Unmarshal([]byte(value), &fb.Value)
		if pass.Valid {
			fb.Pass = &pass.Bool
		}
		if score.Valid {
			fb.Score = &score.Float64
		}
		fb.Latency = time.Duration(lat)
		fbs[k] = append(fbs[k], fb)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = s.r.QueryContext(ctx, `SELECT idx, row_id, row_line, row_vars, prompt, model, repeat, system, input, answer, finish_reason,
		prompt_tokens, completion_tokens, latency_ns, attempts, error_kind, error_status, error, cached
		FROM cells WHERE run_id = ? ORDER BY idx`, run.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eval.Result
	for rows.Next() {
		var r eval.Result
		row := &datasets.Row{}
		var vars, prompt, model, kind, msg string
		var status int
		var lat int64
		if err := rows.Scan(&r.Index, &row.ID, &row.Line, &vars, &prompt, &model, &r.Repeat, &r.System, &r.Input, &r.Answer,
			&r.FinishReason, &r.Usage.PromptTokens, &r.Usage.CompletionTokens, &lat, &r.Attempts, &kind, &status, &msg, &r.Cached); err != nil {
			return nil, err
		}
		json.Unmarshal([]byte(vars), &row.Vars)
		r.Row, r.Latency = row, time.Duration(lat)
		if r.Prompt = tpls[prompt]; r.Prompt == nil {
			return nil, fmt.Errorf("run %s: cell with prompt %q outside the run's layout", run.ID, prompt)
		}
		if r.Model = models[model]; r.Model == nil {
			return nil, fmt.Errorf("run %s: cell with model %q outside the run's layout", run.ID, model)
		}
		if kind != "" {
			r.Err = &llm.Error{Kind: kindOf(kind), Status: status, Model: model, Msg: msg, Attempts: r.Attempts}
		} else {
			list := fbs[key{row.ID, prompt, model, r.Repeat}]
			r.Feedback = make([]scorers.Feedback, 0, len(list))
			for _, sc := range lay.Scorers {
				for _, fb := range list {
					if fb.Scorer == sc {
						r.Feedback = append(r.Feedback, fb)
					}
				}
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func kindOf(s string) llm.Kind {
	for k := llm.KindUnknown; k <= llm.KindCanceled; k++ {
		if k.String() == s {
			return k
		}
	}
	return llm.KindUnknown
}
