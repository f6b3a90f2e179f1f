package scorers

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

func registerBuiltins(r *Registry) {
	r.Register("word_count", newWordCount)
	r.Register("contains", func(s Spec, e Env) (Scorer, error) { return newContains(s, e, false) })
	r.Register("not_contains", func(s Spec, e Env) (Scorer, error) { return newContains(s, e, true) })
	r.Register("regex", newRegex)
	r.Register("equals", newEquals)
	r.Register("is_json", newIsJSON)
	registerTrajectory(r)
}

// CountWords counts runs of letters, digits and joining punctuation, so
// "don't", "e-mail" and "3.14" are one word each and Markdown symbols are none.
func CountWords(s string) int {
	n, in := 0, false
	for _, r := range s {
		w := unicode.IsLetter(r) || unicode.IsDigit(r) || (in && (r == '\'' || r == '’' || r == '-' || r == '.' || r == '_'))
		if w && !in {
			n++
		}
		in = w
	}
	return n
}

type wordCount struct {
	name     string
	min, max *int
}

func newWordCount(spec Spec, env Env) (Scorer, error) {
	var p struct {
		Min *int `yaml:"min"`
		Max *int `yaml:"max"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	if p.Min == nil && p.Max == nil {
		return nil, specErr(spec, "word_count needs min, max or both")
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		return nil, specErr(spec, "min %d is above max %d", *p.Min, *p.Max)
	}
	return &wordCount{spec.Name, p.Min, p.Max}, nil
}

func (w *wordCount) Name() string { return w.name }
func (w *wordCount) Score(_ context.Context, s Sample) Feedback {
	n := CountWords(s.Answer)
	pass := (w.min == nil || n >= *w.min) && (w.max == nil || n <= *w.max)
	var bounds []string
	if w.min != nil {
		bounds = append(bounds, fmt.Sprintf("min %d", *w.min))
	}
	if w.max != nil {
		bounds = append(bounds, fmt.Sprintf("max %d", *w.max))
	}
	fb := Passed(pass, pass, fmt.Sprintf("%d words (%s)", n, strings.Join(bounds, ", ")))
	fb.Scorer = w.name
	return fb
}

// valueSource is a literal value or a dataset column.
type valueSource struct {
	Value  *string  `yaml:"value"`
	Values []string `yaml:"values"`
	Column string   `yaml:"column"`
}

func (v valueSource) check(spec Spec, env Env, allowMany bool) error {
	n := 0
	if v.Value != nil {
		n++
	}
	if len(v.Values) > 0 {
		if !allowMany {
			return specErr(spec, "takes value or column, not values")
		}
		n++
	}
	if v.Column != "" {
		n++
		if !env.HasColumn(v.Column) {
			return specErr(spec, "column %q is not in the dataset (columns: %s)", v.Column, strings.Join(env.Columns, ", "))
		}
	}
	if n != 1 {
		if allowMany {
			return specErr(spec, "needs exactly one of value, values or column")
		}
		return specErr(spec, "needs exactly one of value or column")
	}
	return nil
}

// get returns the values for a sample; ok is false when the column is empty.
func (v valueSource) get(s Sample) ([]string, bool) {
	switch {
	case v.Value != nil:
		return []string{*v.Value}, true
	case len(v.Values) > 0:
		return v.Values, true
	}
	c := s.Vars[v.Column]
	if strings.TrimSpace(c) == "" {
		return nil, false
	}
	return []string{c}, true
}

type contains struct {
	name       string
	src        valueSource
	ignoreCase bool
	any        bool
	negate     bool
}

func newContains(spec Spec, env Env, negate bool) (Scorer, error) {
	var p struct {
		valueSource `yaml:",inline"`
		IgnoreCase  bool `yaml:"ignore_case"`
		Any         bool `yaml:"any"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	if err := p.valueSource.check(spec, env, true); err != nil {
		return nil, err
	}
	return &contains{spec.Name, p.valueSource, p.IgnoreCase, p.Any, negate}, nil
}

func (c *contains) Name() string { return c.name }
func (c *contains) Score(_ context.Context, s Sample) Feedback {
	vals, ok := c.src.get(s)
	if !ok {
		return Feedback{Scorer: c.name, Skipped: true, Rationale: fmt.Sprintf("column %q is empty", c.src.Column)}
	}
	ans := s.Answer
	if c.ignoreCase {
		ans = strings.ToLower(ans)
	}
	var found, missing []string
	for _, v := range vals {
		needle := v
		if c.ignoreCase {
			needle = strings.ToLower(v)
		}
		if strings.Contains(ans, needle) {
			found = append(found, v)
		} else {
			missing = append(missing, v)
		}
	}
	var pass bool
	var why string
	switch {
	case c.negate:
		pass = len(found) == 0
		why = "contains none of the forbidden strings"
		if !pass {
			why = "contains " + quoteList(found)
		}
	case c.any:
		pass = len(found) > 0
		why = "contains " + quoteList(found)
		if !pass {
			why = "contains none of " + quoteList(vals)
		}
	default:
		pass = len(missing) == 0
		why = "contains " + quoteList(found)
		if !pass {
			why = "missing " + quoteList(missing)
		}
	}
	fb := Passed(pass, pass, why)
	fb.Scorer = c.name
	return fb
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

type regexScorer struct {
	name   string
	re     *regexp.Regexp
	negate bool
}

func newRegex(spec Spec, env Env) (Scorer, error) {
	var p struct {
		Pattern    string `yaml:"pattern"`
		IgnoreCase bool   `yaml:"ignore_case"`
		Negate     bool   `yaml:"negate"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	if p.Pattern == "" {
		return nil, specErr(spec, "regex needs a pattern")
	}
	pat := p.Pattern
	if p.IgnoreCase {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, specErr(spec, "bad pattern: %v", err)
	}
	return &regexScorer{spec.Name, re, p.Negate}, nil
}

func (r *regexScorer) Name() string { return r.name }
func (r *regexScorer) Score(_ context.Context, s Sample) Feedback {
	m := r.re.FindString(s.Answer)
	matched := r.re.MatchString(s.Answer)
	pass := matched != r.negate
	why := "no match for /" + r.re.String() + "/"
	if matched {
		why = fmt.Sprintf("matches %q", truncate(m, 80))
	}
	fb := Passed(pass, matched, why)
	fb.Scorer = r.name
	return fb
}

type equals struct {
	name       string
	src        valueSource
	ignoreCase bool
	trim       bool
}

func newEquals(spec Spec, env Env) (Scorer, error) {
	var p struct {
		valueSource `yaml:",inline"`
		IgnoreCase  bool  `yaml:"ignore_case"`
		Trim        *bool `yaml:"trim"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	if err := p.valueSource.check(spec, env, false); err != nil {
		return nil, err
	}
	return &equals{spec.Name, p.valueSource, p.IgnoreCase, p.Trim == nil || *p.Trim}, nil
}

func (e *equals) Name() string { return e.name }
func (e *equals) Score(_ context.Context, s Sample) Feedback {
	vals, ok := e.src.get(s)
	if !ok {
		return Feedback{Scorer: e.name, Skipped: true, Rationale: fmt.Sprintf("column %q is empty", e.src.Column)}
	}
	a, b := s.Answer, vals[0]
	if e.trim {
		a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	}
	pass := a == b || (e.ignoreCase && strings.EqualFold(a, b))
	why := "equals the expected value"
	if !pass {
		why = fmt.Sprintf("expected %q, got %q", truncate(b, 80), truncate(a, 80))
	}
	fb := Passed(pass, pass, why)
	fb.Scorer = e.name
	return fb
}

type isJSON struct {
	name   string
	fences bool
}

func newIsJSON(spec Spec, env Env) (Scorer, error) {
	var p struct {
		AllowFences bool `yaml:"allow_fences"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	return &isJSON{spec.Name, p.AllowFences}, nil
}

func (j *isJSON) Name() string { return j.name }
func (j *isJSON) Score(_ context.Context, s Sample) Feedback {
	text := strings.TrimSpace(s.Answer)
	if j.fences {
		text = StripFences(text)
	}
	var v any
	err := json.Unmarshal([]byte(text), &v)
	why := "valid JSON"
	if err != nil {
		why = "not valid JSON: " + err.Error()
	}
	fb := Passed(err == nil, err == nil, why)
	fb.Scorer = j.name
	return fb
}

// StripFences removes one surrounding Markdown code fence (```json ... ```).
func StripFences(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") {
		return s
	}
	nl := strings.IndexByte(t, '\n')
	if nl < 0 {
		return s
	}
	body := t[nl+1:]
	if i := strings.LastIndex(body, "```"); i >= 0 {
		body = body[:i]
	}
	return strings.TrimSpace(body)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
