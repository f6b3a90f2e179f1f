package judges

import (
	"strings"

	"github.com/evalctl/evalctl/scorers"
)

func newExpectations(spec scorers.Spec, env scorers.Env) (scorers.Scorer, error) {
	var p struct {
		common `yaml:",inline"`
		Column string `yaml:"column"`
	}
	if err := scorers.Decode(spec, &p); err != nil {
		return nil, err
	}
	if p.Column == "" {
		p.Column = "expectations"
	}
	if !env.HasColumn(p.Column) {
		return nil, scorers.SpecError(spec, "expectations reads per-row criteria from column %q, which is not in the dataset (columns: %s); set column:", p.Column, strings.Join(env.Columns, ", "))
	}
	b, err := p.build(spec, env, "guidelines", criteriaKeys, []string{"answer", "tag"})
	if err != nil {
		return nil, err
	}
	return &criteriaJudge{base: b, column: p.Column}, nil
}
