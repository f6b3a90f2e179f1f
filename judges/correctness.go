package judges

import (
	"context"
	"fmt"
	"strings"

	"github.com/evalctl/evalctl/scorers"
)

// correctnessJudge checks an answer against a row's expected answer, or
// against each of its expected facts (one support check per fact).
type correctnessJudge struct {
	*base
	expected string // column of the expected answer
	facts    string // column of expected facts, one per line (or ';')
}

func newCorrectness(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		common       `yaml:",inline"`
		Expected     string `yaml:"expected"`
		Facts        string `yaml:"facts"`
		FactTemplate string `yaml:"fact_template"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	if (p.Expected == "") == (p.Facts == "") {
		return nil, scorers.SpecError(spec, "correctness needs expected (a column with the expected answer) or facts (a column of expected facts, one per line)")
	}
	for _, c := range []string{p.Expected, p.Facts} {
		if c != "" && !env.HasColumn(c) {
			return nil, scorers.SpecError(spec, "column %q is not in the dataset (columns: %s)", c, strings.Join(env.Columns, ", "))
		}
	}
	j := &correctnessJudge{expected: p.Expected, facts: p.Facts}
	var err error
	if p.Expected != "" {
		j.base, err = p.build(spec, env, "correctness", []string{"expected", "question", "answer", "tag"}, []string{"expected", "answer", "tag"})
	} else {
		c := p.common
		c.Template = p.FactTemplate
		j.base, err = c.build(spec, env, "fact", []string{"fact", "question", "answer", "tag"}, []string{"fact", "answer", "tag"})
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// splitFacts splits a cell of facts at line breaks or semicolons.
func splitFacts(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ';' }) {
		if f = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(f), "-*•")); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (j *correctnessJudge) Score(ctx context.Context, s scorers.Sample) scorers.Feedback {
	q := question(s)
	fb := scorers.Feedback{Scorer: j.name}
	if j.expected != "" {
		exp := strings.TrimSpace(s.Vars[j.expected])
		if exp == "" {
			return scorers.Feedback{Scorer: j.name, Skipped: true, Rationale: fmt.Sprintf("no expected answer in column %q for this row", j.expected)}
		}
		prompt, err := j.render(map[string]string{"expected": exp, "question": q, "answer": s.Answer}, q, s.Answer)
		if err != nil {
			return scorers.Feedback{Scorer: j.name, Err: err.Error()}
		}
		return conclude(fb, j.ask(ctx, prompt, "result", []string{"yes", "no"}, false, []string{q, s.Answer}, &fb), j.models)
	}
	facts := splitFacts(s.Vars[j.facts])
	if len(facts) == 0 {
		return scorers.Feedback{Scorer: j.name, Skipped: true, Rationale: fmt.Sprintf("no expected facts in column %q for this row", j.facts)}
	}
	var all []scorers.Vote
	var missing []string
	supported, decided := 0, 0
	var agreeSum float64
	for _, f := range facts {
		prompt, err := j.render(map[string]string{"fact": f, "question": q, "answer": s.Answer}, q, s.Answer)
		if err != nil {
			return scorers.Feedback{Scorer: j.name, Err: err.Error()}
		}
		votes := j.ask(ctx, prompt, "result", []string{"yes", "no"}, false, []string{q, s.Answer}, &fb)
		for i := range votes {
			votes[i].Fact = f
		}
		all = append(all, votes...)
		value, agree, _, ok := majority(votes, []string{"no", "yes"})
		if !ok {
			fb.JudgeModel, fb.Votes = judgeNames(j.models), all
			fb.Err = fmt.Sprintf("fact %q: %s", f, firstErr(votes))
			return fb
		}
		decided++
		agreeSum += agree
		if value == "yes" {
			supported++
		} else {
			missing = append(missing, f)
		}
	}
	fb.JudgeModel, fb.Votes = judgeNames(j.models), all
	pass := supported == len(facts)
	score := float64(supported) / float64(len(facts))
	agree := agreeSum / float64(decided)
	fb.Value, fb.Pass, fb.Score = fmt.Sprintf("%d/%d facts", supported, len(facts)), &pass, &score
	if len(j.models)*j.samples > 1 {
		fb.Agreement = &agree
	}
	if pass {
		fb.Rationale = fmt.Sprintf("The answer supports all %d expected facts.", len(facts))
	} else {
		fb.Rationale = "The answer does not support: " + strings.Join(missing, "; ")
	}
	return fb
}
