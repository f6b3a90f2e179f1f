package store

import (
	"context"
	"strings"
)

// Mean is an average over stored calls.
type Mean struct {
	Value float64
	N     int
}

// History is what earlier runs in a store say about completion lengths.
type History struct {
	// Generation by model ref and prompt name, and by model ref alone.
	Generation      map[[2]string]Mean
	GenerationModel map[string]Mean
	// Judge by judge model ref and scorer name, and by judge model alone.
	Judge      map[[2]string]Mean
	JudgeModel map[string]Mean
}

// CompletionHistory returns the mean completion tokens of the successful
// calls stored so far. Judge feedback sums the calls behind it (samples,
// several judge models, pairwise orders, facts): it counts once per vote,
// and feedback of several judge models counts for each of them.
func (s *Store) CompletionHistory(ctx context.Context) (History, error) {
	h := History{Generation: map[[2]string]Mean{}, GenerationModel: map[string]Mean{},
		Judge: map[[2]string]Mean{}, JudgeModel: map[string]Mean{}}
	rows, err := s.r.QueryContext(ctx, `SELECT model, prompt, SUM(completion_tokens), COUNT(*) FROM cells
		WHERE error_kind = '' AND completion_tokens > 0 GROUP BY model, prompt`)
	if err != nil {
		return h, err
	}
	for rows.Next() {
		var model, prompt string
		var sum float64
		var n int
		if err := rows.Scan(&model, &prompt, &sum, &n); err != nil {
			rows.Close()
			return h, err
		}
		h.Generation[[2]string{model, prompt}] = Mean{sum / float64(n), n}
		m := h.GenerationModel[model]
		h.GenerationModel[model] = Mean{(m.Value*float64(m.N) + sum) / float64(m.N+n), m.N + n}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return h, err
	}
	rows, err = s.r.QueryContext(ctx, `SELECT judge_model, scorer, SUM(completion_tokens),
		SUM(`+s.dialect.voteCount+`) FROM feedback
		WHERE judge_model <> '' AND error = '' AND completion_tokens > 0 GROUP BY judge_model, scorer`)
	if err != nil {
		return h, err
	}
	defer rows.Close()
	for rows.Next() {
		var model, scorer string
		var sum float64
		var n int
		if err := rows.Scan(&model, &scorer, &sum, &n); err != nil {
			return h, err
		}
		for _, jm := range strings.Split(model, "+") {
			h.Judge[[2]string{jm, scorer}] = Mean{sum / float64(n), n}
			m := h.JudgeModel[jm]
			h.JudgeModel[jm] = Mean{(m.Value*float64(m.N) + sum) / float64(m.N+n), m.N + n}
		}
	}
	return h, rows.Err()
}

// AgentMean is what the stored cells of agents did, per cell.
type AgentMean struct {
	// Cells counts the cells measured.
	Cells int
	// Steps and ToolCalls are the mean generation calls and tool calls a cell.
	Steps, ToolCalls float64
	// ResultBytes is the mean size of a tool result in bytes (as stored:
	// the trace bounds it), over Results results.
	ResultBytes float64
	Results     int
}

// add folds in the sums of n more cells.
func (m AgentMean) add(n int, steps, calls, bytes float64) AgentMean {
	out := AgentMean{Cells: m.Cells + n, Results: m.Results + int(calls)}
	out.Steps = (m.Steps*float64(m.Cells) + steps) / float64(out.Cells)
	out.ToolCalls = (m.ToolCalls*float64(m.Cells) + calls) / float64(out.Cells)
	if out.Results > 0 {
		out.ResultBytes = (m.ResultBytes*float64(m.Results) + bytes) / float64(out.Results)
	}
	return out
}

// AgentHistory is what earlier runs in a store say about agents' tool loops.
type AgentHistory struct {
	// Variant by variant ID; Model by model ref, over every agent variant
	// of the model.
	Variant map[string]AgentMean
	Model   map[string]AgentMean
}

// AgentHistory returns the mean steps, tool calls and tool result sizes of
// the stored cells of agents: the variants that runs recorded with tools.
// Cells recorded before traces (store schema 6) are left out; cells that
// failed count, for their calls were made.
func (s *Store) AgentHistory(ctx context.Context) (AgentHistory, error) {
	h := AgentHistory{Variant: map[string]AgentMean{}, Model: map[string]AgentMean{}}
	rows, err := s.r.QueryContext(ctx, s.dialect.agentHistory)
	if err != nil {
		return h, err
	}
	defer rows.Close()
	for rows.Next() {
		var variant, model string
		var n int
		var steps, calls, bytes float64
		if err := rows.Scan(&variant, &model, &n, &steps, &calls, &bytes); err != nil {
			return h, err
		}
		h.Variant[variant] = h.Variant[variant].add(n, steps, calls, bytes)
		h.Model[model] = h.Model[model].add(n, steps, calls, bytes)
	}
	return h, rows.Err()
}
