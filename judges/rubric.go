package judges

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/evalctl/evalctl/scorers"
)

// rubricJudge scores an answer on an integer scale (G-Eval style: the
// criteria, a described scale, reasoning before the score), normalised to
// 0–1; it passes at pass_at or above.
type rubricJudge struct {
	*base
	criteria string
	scale    string
	lo, hi   int
	passAt   int
	allowed  []string
}

func newRubric(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		common   `yaml:",inline"`
		Criteria string         `yaml:"criteria"`
		Scale    map[int]string `yaml:"scale"`
		PassAt   *int           `yaml:"pass_at"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Criteria) == "" {
		return nil, scorers.SpecError(spec, "rubric needs criteria (what the score measures)")
	}
	if len(p.Scale) < 2 {
		return nil, scorers.SpecError(spec, "rubric needs a scale of at least two scores, e.g. scale: {1: \"wrong\", 3: \"partly right\", 5: \"fully right\"}")
	}
	j := &rubricJudge{criteria: strings.TrimSpace(p.Criteria)}
	var points []int
	for k := range p.Scale {
		points = append(points, k)
	}
	sort.Ints(points)
	j.lo, j.hi = points[0], points[len(points)-1]
	if j.hi-j.lo > 20 {
		return nil, scorers.SpecError(spec, "rubric scale from %d to %d is too wide (at most 21 points)", j.lo, j.hi)
	}
	var b strings.Builder
	for _, k := range points {
		fmt.Fprintf(&b, "%d: %s\n", k, strings.TrimSpace(p.Scale[k]))
	}
	j.scale = strings.TrimRight(b.String(), "\n")
	for v := j.lo; v <= j.hi; v++ {
		j.allowed = append(j.allowed, strconv.Itoa(v))
	}
	j.passAt = j.lo + (j.hi-j.lo+1)/2 + (j.hi-j.lo+1)%2 // the upper half: 4 of 1–5, 3 of 1–4
	if p.PassAt != nil {
		if *p.PassAt < j.lo || *p.PassAt > j.hi {
			return nil, scorers.SpecError(spec, "pass_at %d is outside the scale %d–%d", *p.PassAt, j.lo, j.hi)
		}
		j.passAt = *p.PassAt
	}
	var err error
	if j.base, err = p.build(spec, env, "rubric", []string{"criteria", "scale", "question", "answer", "tag", "min", "max"}, []string{"answer", "tag"}); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *rubricJudge) Score(ctx context.Context, s scorers.Sample) scorers.Feedback {
	q := question(s)
	prompt, err := j.render(map[string]string{"criteria": j.criteria, "scale": j.scale, "question": q, "answer": s.Answer,
		"min": strconv.Itoa(j.lo), "max": strconv.Itoa(j.hi)}, q, s.Answer)
	if err != nil {
		return scorers.Feedback{Scorer: j.name, Err: err.Error()}
	}
	fb := scorers.Feedback{Scorer: j.name, JudgeModel: judgeNames(j.models)}
	votes := j.ask(ctx, prompt, "score", j.allowed, true, []string{q, s.Answer}, &fb)
	if len(votes) > 1 {
		fb.Votes = votes
	}
	var scores []int
	for _, v := range votes {
		if n, err := strconv.Atoi(v.Value); err == nil && v.Value != "" {
			scores = append(scores, n)
		}
	}
	if len(scores) == 0 {
		fb.Err = firstErr(votes)
		return fb
	}
	sort.Ints(scores)
	med := scores[(len(scores)-1)/2] // the lower median: a cautious score
	agree := 0
	for _, n := range scores {
		if n == med {
			agree++
		}
	}
	norm := float64(med-j.lo) / float64(j.hi-j.lo)
	pass := med >= j.passAt
	fb.Value, fb.Score, fb.Pass = med, &norm, &pass
	for _, v := range votes {
		if v.Value == strconv.Itoa(med) {
			fb.Rationale = v.Rationale
			break
		}
	}
	if len(votes) > 1 {
		a := float64(agree) / float64(len(scores))
		fb.Agreement = &a
	}
	return fb
}
