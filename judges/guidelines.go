package judges

import (
	"context"
	"fmt"
	"strings"

	"github.com/evalctl/evalctl/scorers"
)

// criteriaJudge decides yes/no against fixed criteria or a row's column.
type criteriaJudge struct {
	*base
	criteria []string
	column   string
}

var criteriaKeys = []string{"criteria", "question", "answer", "tag"}

func newGuidelines(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		common     `yaml:",inline"`
		Guidelines stringList `yaml:"guidelines"`
		Column     string     `yaml:"column"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	if (len(p.Guidelines) == 0) == (p.Column == "") {
		return nil, scorers.SpecError(spec, "guidelines needs either guidelines (text) or column (a dataset column of per-row guidelines)")
	}
	if p.Column != "" && !env.HasColumn(p.Column) {
		return nil, scorers.SpecError(spec, "column %q is not in the dataset (columns: %s)", p.Column, strings.Join(env.Columns, ", "))
	}
	b, err := p.build(spec, env, "guidelines", criteriaKeys, []string{"answer", "tag"})
	if err != nil {
		return nil, err
	}
	return &criteriaJudge{base: b, criteria: p.Guidelines, column: p.Column}, nil
}

// fixedCriterion makes a judge of one fixed criterion on the guidelines
// template (relevance_to_query, safety).
func fixedCriterion(criterion string) scorers.Factory {
	return func(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
		var p common
		if err := scorers.Decode(spec, &p); err != nil {
			return nil, err
		}
		b, err := p.build(spec, env, "guidelines", criteriaKeys, []string{"answer", "tag"})
		if err != nil {
			return nil, err
		}
		return &criteriaJudge{base: b, criteria: []string{criterion}}, nil
	}
}

// Score asks the judge models whether the answer meets the criteria.
func (j *criteriaJudge) Score(ctx context.Context, s scorers.Sample) scorers.Feedback {
	criteria := j.criteria
	if j.column != "" {
		c := strings.TrimSpace(s.Vars[j.column])
		if c == "" {
			return scorers.Feedback{Scorer: j.name, Skipped: true, Rationale: fmt.Sprintf("no criteria in column %q for this row", j.column)}
		}
		criteria = []string{c}
	}
	q := question(s)
	prompt, err := j.render(map[string]string{"criteria": criteriaText(criteria), "question": q, "answer": s.Answer}, q, s.Answer)
	if err != nil {
		return scorers.Feedback{Scorer: j.name, Err: err.Error()}
	}
	fb := scorers.Feedback{Scorer: j.name}
	votes := j.ask(ctx, prompt, "result", []string{"yes", "no"}, false, []string{q, s.Answer}, &fb)
	return conclude(fb, votes, j.models)
}

// criteriaText numbers several criteria.
func criteriaText(criteria []string) string {
	if len(criteria) == 1 {
		return criteria[0]
	}
	var b strings.Builder
	for i, c := range criteria {
		fmt.Fprintf(&b, "%d. %s\n", i+1, c)
	}
	return strings.TrimRight(b.String(), "\n")
}

// stringList accepts a string or a list of strings.
type stringList []string

// UnmarshalYAML implements yaml.Unmarshaler without importing the yaml package.
func (l *stringList) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return fmt.Errorf("guidelines: want a string or a list of strings")
	}
	*l = many
	return nil
}
