package scorers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/scorers"
)

// build makes a scorer from a YAML snippet, the way evalctl.yaml does.
func build(t *testing.T, yamlSpec string, columns ...string) (scorers.Scorer, error) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("scorers:\n  - "+strings.ReplaceAll(yamlSpec, "\n", "\n    ")+"\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sc := cfg.Scorers[0]
	return scorers.NewRegistry().Build(scorers.Spec{Name: sc.Name, Type: sc.Type, Where: "t.yaml:2", Decode: sc.Decode}, scorers.Env{Columns: columns})
}

func TestBuiltins(t *testing.T) {
	vars := map[string]string{"expected": "Paris", "empty": ""}
	tests := []struct {
		spec   string
		answer string
		pass   bool
		skip   bool
		why    string
	}{
		{spec: "type: word_count\nmin: 3", answer: "one two", pass: false, why: "2 words (min 3)"},
		{spec: "type: word_count\nmin: 2\nmax: 4", answer: "don't e-mail 3.14 **now**", pass: true, why: "4 words (min 2, max 4)"},
		{spec: "type: word_count\nmax: 1", answer: "", pass: true, why: "0 words (max 1)"},
		{spec: "type: contains\nvalues: [alpha, beta]", answer: "alpha and beta", pass: true},
		{spec: "type: contains\nvalues: [alpha, beta]", answer: "alpha only", pass: false, why: `missing "beta"`},
		{spec: "type: contains\nvalue: PARIS\nignore_case: true", answer: "It is paris.", pass: true},
		{spec: "type: contains\nvalue: PARIS", answer: "It is paris.", pass: false},
		{spec: "type: contains\nvalues: [x, paris]\nany: true", answer: "paris", pass: true},
		{spec: "type: contains\ncolumn: expected", answer: "Paris!", pass: true},
		{spec: "type: contains\ncolumn: empty", answer: "Paris!", skip: true},
		{spec: "type: not_contains\nvalues: [As an AI]", answer: "As an AI, I cannot", pass: false, why: `contains "As an AI"`},
		{spec: "type: not_contains\nvalues: [As an AI]", answer: "Sure.", pass: true},
		{spec: "type: regex\npattern: '\\d{4}'", answer: "in 1969", pass: true, why: `matches "1969"`},
		{spec: "type: regex\npattern: 'sorry'\nignore_case: true\nnegate: true", answer: "Sorry!", pass: false},
		{spec: "type: equals\ncolumn: expected", answer: " Paris\n", pass: true},
		{spec: "type: equals\nvalue: paris\nignore_case: true\ntrim: false", answer: "Paris", pass: true},
		{spec: "type: equals\nvalue: Rome", answer: "Paris", pass: false, why: `expected "Rome", got "Paris"`},
		{spec: "type: is_json", answer: ` {"a": [1, 2]} `, pass: true},
		{spec: "type: is_json", answer: "```json\n{\"a\":1}\n```", pass: false},
		{spec: "type: is_json\nallow_fences: true", answer: "```json\n{\"a\":1}\n```", pass: true},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d_%s", i, strings.SplitN(tc.spec, "\n", 2)[0]), func(t *testing.T) {
			s, err := build(t, "name: s\n"+tc.spec, "expected", "empty")
			if err != nil {
				t.Fatal(err)
			}
			fb := s.Score(context.Background(), scorers.Sample{Answer: tc.answer, Vars: vars})
			if fb.Scorer != "s" {
				t.Errorf("scorer name %q", fb.Scorer)
			}
			if tc.skip {
				if !fb.Skipped {
					t.Errorf("want skipped, got %+v", fb)
				}
				return
			}
			if fb.Pass == nil || *fb.Pass != tc.pass || fb.Err != "" {
				t.Fatalf("pass = %v, want %v (%+v)", fb.Pass, tc.pass, fb)
			}
			if tc.why != "" && fb.Rationale != tc.why {
				t.Errorf("rationale %q, want %q", fb.Rationale, tc.why)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"name: x\ntype: wordcount", `t.yaml:2: scorer "x": unknown scorer type "wordcount" (one of: cites_sources, contains, equals, is_json, not_contains, regex, steps, tool_args, tool_called, trajectory, word_count)`},
		{"name: x", `scorer "x": missing type`},
		{"name: x\ntype: word_count", "word_count needs min, max or both"},
		{"name: x\ntype: word_count\nmin: 5\nmax: 1", "min 5 is above max 1"},
		{"name: x\ntype: word_count\nminimum: 5", `t.yaml:4: scorer "x": unknown key "minimum" (known here: max, min)`},
		{"name: x\ntype: regex\npattern: '('", "bad pattern"},
		{"name: x\ntype: contains\ncolumn: nope", `column "nope" is not in the dataset (columns: q)`},
		{"name: x\ntype: contains", "needs exactly one of value, values or column"},
		{"name: x\ntype: equals\nvalues: [a]", "takes value or column, not values"},
	}
	for _, tc := range tests {
		_, err := build(t, tc.spec, "q")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestCustomScorer(t *testing.T) {
	r := scorers.NewRegistry()
	r.RegisterScorer(scorers.Func("shouts", func(_ context.Context, s scorers.Sample) scorers.Feedback {
		return scorers.Passed(s.Answer == strings.ToUpper(s.Answer), nil, "")
	}))
	s, err := r.Build(scorers.Spec{Name: "loud", Type: "shouts"}, scorers.Env{})
	if err != nil {
		t.Fatal(err)
	}
	fb := s.Score(context.Background(), scorers.Sample{Answer: "HI"})
	if s.Name() != "loud" || fb.Scorer != "loud" || !*fb.Pass {
		t.Errorf("%s %+v", s.Name(), fb)
	}
}

func FuzzCountWords(f *testing.F) {
	f.Add("don't stop-me now 3.14", "e-mail")
	f.Fuzz(func(t *testing.T, a, b string) {
		// Words never span white space, so counts add up across a space.
		if got, want := scorers.CountWords(a+" "+b), scorers.CountWords(a)+scorers.CountWords(b); got != want {
			t.Fatalf("CountWords(%q + %q) = %d, want %d", a, b, got, want)
		}
		if n := scorers.CountWords(a); n > len(strings.Fields(a))*len(a) {
			t.Fatalf("CountWords(%q) = %d", a, n)
		}
	})
}

func BenchmarkWordCount(b *testing.B) {
	s, _ := scorers.NewRegistry().Build(scorers.Spec{Name: "w", Type: "word_count", Decode: func(v any) error {
		p := v.(*struct {
			Min *int `yaml:"min"`
			Max *int `yaml:"max"`
		})
		n := 11
		p.Min = &n
		return nil
	}}, scorers.Env{})
	ans := strings.Repeat("An algorithm is a finite sequence of well-defined instructions. ", 40)
	b.ReportAllocs()
	for b.Loop() {
		s.Score(context.Background(), scorers.Sample{Answer: ans})
	}
}
