package judges

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/evalctl/evalctl/scorers"
)

// pairJudge compares an answer with the baseline's answer to the same
// question (the same row and repeat, under the baseline prompt or model),
// in both orders. Agreeing orders decide; disagreeing ones are a tie and
// count as position bias.
type pairJudge struct {
	*base
	criteria      string
	prompt, model string // the baseline
}

func newPairwise(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		common   `yaml:",inline"`
		Criteria string `yaml:"criteria"`
		Baseline struct {
			Prompt string `yaml:"prompt"`
			Model  string `yaml:"model"`
		} `yaml:"baseline"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	if (p.Baseline.Prompt == "") == (p.Baseline.Model == "") {
		return nil, scorers.SpecError(spec, "pairwise needs a baseline: {prompt: NAME} (compare each prompt with it, model by model) or {model: REF} (compare each model with it, prompt by prompt)")
	}
	if p.Baseline.Prompt != "" && len(env.Prompts) > 0 && !slices.Contains(env.Prompts, p.Baseline.Prompt) {
		return nil, scorers.SpecError(spec, "baseline prompt %q is not in the run (prompts: %s)", p.Baseline.Prompt, strings.Join(env.Prompts, ", "))
	}
	if p.Baseline.Model != "" && len(env.Models) > 0 && !slices.Contains(env.Models, p.Baseline.Model) {
		return nil, scorers.SpecError(spec, "baseline model %q is not in the run (models: %s)", p.Baseline.Model, strings.Join(env.Models, ", "))
	}
	if p.Criteria == "" {
		p.Criteria = "Which answer answers the question more correctly, completely and clearly?"
	}
	b, err := p.build(spec, env, "pairwise", []string{"criteria", "question", "answer_a", "answer_b", "tag"}, []string{"answer_a", "answer_b", "tag"})
	if err != nil {
		return nil, err
	}
	return &pairJudge{base: b, criteria: p.Criteria, prompt: p.Baseline.Prompt, model: p.Baseline.Model}, nil
}

// Baseline implements scorers.PairScorer.
func (j *pairJudge) Baseline() (prompt, model string) { return j.prompt, j.model }

// Score implements scorers.Scorer; the runner calls ScorePair instead.
func (j *pairJudge) Score(context.Context, scorers.Sample) scorers.Feedback {
	return scorers.Feedback{Scorer: j.name, Err: "pairwise compares two answers: the runner pairs them"}
}

// ScorePair judges cand against base in both orders. The outcome is the
// candidate's: "win", "loss" or "tie", scored 1, 0 and 0.5.
func (j *pairJudge) ScorePair(ctx context.Context, base, cand scorers.Sample) scorers.Feedback {
	q := question(cand)
	fb := scorers.Feedback{Scorer: j.name, JudgeModel: judgeNames(j.models)}
	var votes []scorers.Vote
	outcome := map[string]string{} // order → candidate's outcome, per judge×sample
	for _, order := range []string{"AB", "BA"} {
		a, b := base.Answer, cand.Answer
		if order == "BA" {
			a, b = cand.Answer, base.Answer
		}
		prompt, err := j.render(map[string]string{"criteria": j.criteria, "question": q, "answer_a": a, "answer_b": b}, q, a, b)
		if err != nil {
			return scorers.Feedback{Scorer: j.name, Err: err.Error()}
		}
		vs := j.ask(ctx, prompt, "result", []string{"a", "b", "tie"}, false, []string{q, a, b}, &fb)
		for i := range vs {
			vs[i].Order = order
			vs[i].Value = strings.ToUpper(vs[i].Value)
			if vs[i].Value == "TIE" {
				vs[i].Value = "tie"
			}
		}
		votes = append(votes, vs...)
	}
	fb.Votes = votes
	// Each order's majority, as the candidate's outcome.
	per := map[string][]scorers.Vote{}
	for _, v := range votes {
		c := v
		switch {
		case v.Value == "tie":
			c.Value = "tie"
		case (v.Value == "B") == (v.Order == "AB"):
			c.Value = "win"
		case v.Value != "":
			c.Value = "loss"
		}
		per[v.Order] = append(per[v.Order], c)
	}
	for _, order := range []string{"AB", "BA"} {
		value, _, _, ok := majority(per[order], []string{"tie", "loss", "win"})
		if !ok {
			fb.Err = fmt.Sprintf("order %s: %s", order, firstErr(per[order]))
			return fb
		}
		outcome[order] = value
	}
	value := outcome["AB"]
	consistent := outcome["AB"] == outcome["BA"]
	if !consistent {
		value = "tie"
	}
	score := map[string]float64{"win": 1, "tie": 0.5, "loss": 0}[value]
	agree := map[bool]float64{true: 1, false: 0}[consistent]
	fb.Value, fb.Score, fb.Agreement = value, &score, &agree
	_, _, why, _ := majority(per["AB"], []string{outcome["AB"]})
	if consistent {
		fb.Rationale = why
	} else {
		fb.Rationale = fmt.Sprintf("Inconsistent across orders (baseline first: %s; candidate first: %s), so a tie. %s", outcome["AB"], outcome["BA"], why)
	}
	return fb
}
