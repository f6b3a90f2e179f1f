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
		SUM(CASE WHEN votes = '' THEN 1 ELSE MAX(1, json_array_length(votes)) END) FROM feedback
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
