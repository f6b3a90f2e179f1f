package scorers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evalctl/evalctl/trace"
)

// ToolNamer is implemented by scorers whose configuration names tools, so
// that a run can refuse, before any model call, a scorer naming a tool that
// no server offers.
type ToolNamer interface {
	// ToolNames returns the tool names given in the configuration; a scorer
	// that reads them per row from a dataset column returns none.
	ToolNames() []string
}

func registerTrajectory(r *Registry) {
	r.Register("tool_called", newToolCalled)
	r.Register("tool_args", newToolArgs)
	r.Register("trajectory", newTrajectory)
	r.Register("steps", newSteps)
	r.Register("cites_sources", newCitesSources)
}

// toolSpans returns the sample's tool calls whose tool is tool (any tool
// when tool is empty), and the names of the other tools called.
func toolSpans(s Sample, tool string) (calls []trace.Span, others []string) {
	for _, sp := range trace.ToolSpans(s.Steps) {
		if tool == "" || sp.Tool == tool {
			calls = append(calls, sp)
		} else {
			others = append(others, sp.Tool)
		}
	}
	return calls, others
}

// tally lists names with their counts, in order of first appearance:
// "web_search ×2, fetch ×1".
func tally(names []string) string {
	var order []string
	n := map[string]int{}
	for _, x := range names {
		if n[x] == 0 {
			order = append(order, x)
		}
		n[x]++
	}
	parts := make([]string, len(order))
	for i, x := range order {
		parts[i] = fmt.Sprintf("%s ×%d", orUnnamed(x), n[x])
	}
	return strings.Join(parts, ", ")
}

func orUnnamed(tool string) string {
	if tool == "" {
		return "(unnamed tool)"
	}
	return tool
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// elsewhere says which other tools the agent called, for a rationale about
// a tool it did not call.
func elsewhere(others []string) string {
	if len(others) == 0 {
		return "; the agent called no tool"
	}
	return "; the agent called " + tally(others)
}

func namesOf(tool string) []string {
	if tool == "" {
		return nil
	}
	return []string{tool}
}

// toolCalled counts the calls of a tool (or of any tool) against bounds.
type toolCalled struct {
	name string
	tool string
	min  int
	max  *int
}

func newToolCalled(spec Spec, env Env) (Scorer, error) {
	var p struct {
		Tool string `yaml:"tool"`
		Min  *int   `yaml:"min"`
		Max  *int   `yaml:"max"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	t := &toolCalled{name: spec.Name, tool: strings.TrimSpace(p.Tool), min: 1, max: p.Max}
	if p.Max != nil && *p.Max == 0 {
		t.min = 0 // {tool: X, max: 0}: X is never called
	}
	if p.Min != nil {
		t.min = *p.Min
	}
	switch {
	case t.min < 0:
		return nil, specErr(spec, "min %d is negative", t.min)
	case p.Max != nil && *p.Max < 0:
		return nil, specErr(spec, "max %d is negative", *p.Max)
	case p.Max != nil && t.min > *p.Max:
		return nil, specErr(spec, "min %d is above max %d", t.min, *p.Max)
	}
	return t, nil
}

func (t *toolCalled) Name() string        { return t.name }
func (t *toolCalled) ToolNames() []string { return namesOf(t.tool) }

// Score counts the tool's calls; failed calls count as called.
func (t *toolCalled) Score(_ context.Context, s Sample) Feedback {
	calls, others := toolSpans(s, t.tool)
	n, failed := len(calls), 0
	var names []string
	for _, c := range calls {
		names = append(names, c.Tool)
		if c.Failed() {
			failed++
		}
	}
	pass := n >= t.min && (t.max == nil || n <= *t.max)
	var why string
	if t.tool != "" {
		why = fmt.Sprintf("called %s %s", t.tool, plural(n, "time", "times"))
	} else {
		why = "made " + plural(n, "tool call", "tool calls")
		if n > 0 {
			why += " (" + tally(names) + ")"
		}
	}
	if failed > 0 {
		why += fmt.Sprintf(", %s failed, counted as called", plural(failed, "call", "calls"))
	}
	bounds := []string{fmt.Sprintf("min %d", t.min)}
	if t.max != nil {
		bounds = append(bounds, fmt.Sprintf("max %d", *t.max))
	}
	why += " (" + strings.Join(bounds, ", ") + ")"
	if t.tool != "" && n == 0 {
		why += elsewhere(others)
	}
	fb := Passed(pass, n, why)
	fb.Scorer = t.name
	return fb
}

// toolArgs checks that some call of a tool has arguments that contain a
// JSON subset and/or match a pattern.
type toolArgs struct {
	name   string
	tool   string
	subset any    // decoded with UseNumber
	want   string // the subset as compact JSON, for rationales
	re     *regexp.Regexp
}

func newToolArgs(spec Spec, env Env) (Scorer, error) {
	var p struct {
		Tool   string `yaml:"tool"`
		Subset any    `yaml:"subset"`
		Regex  string `yaml:"regex"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	t := &toolArgs{name: spec.Name, tool: strings.TrimSpace(p.Tool)}
	if p.Subset == nil && p.Regex == "" {
		return nil, specErr(spec, "tool_args needs subset (argument values the call must have), regex (a pattern for the arguments' JSON), or both")
	}
	if p.Subset != nil {
		if _, ok := p.Subset.(map[string]any); !ok {
			return nil, specErr(spec, "subset must be a mapping of argument names to values, e.g. subset: {max_results: 3}")
		}
		v, err := plainJSON(p.Subset)
		if err != nil {
			return nil, specErr(spec, "subset: %v", err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, specErr(spec, "subset is not JSON: %v", err)
		}
		if t.subset, err = decodeJSON(string(b)); err != nil {
			return nil, specErr(spec, "subset is not JSON: %v", err)
		}
		t.want = string(b)
	}
	if p.Regex != "" {
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			return nil, specErr(spec, "bad regex: %v", err)
		}
		t.re = re
	}
	return t, nil
}

func (t *toolArgs) Name() string        { return t.name }
func (t *toolArgs) ToolNames() []string { return namesOf(t.tool) }

// Score passes when at least one call matches; value is the number of
// calls that do.
func (t *toolArgs) Score(_ context.Context, s Sample) Feedback {
	calls, others := toolSpans(s, t.tool)
	label := t.tool
	if label == "" {
		label = "tool"
	}
	var conds []string
	if t.subset != nil {
		conds = append(conds, "containing "+t.want)
	}
	if t.re != nil {
		conds = append(conds, "matching /"+t.re.String()+"/")
	}
	cond := strings.Join(conds, " and ")
	if len(calls) == 0 {
		fb := Passed(false, 0, fmt.Sprintf("no %s call, so no arguments %s%s", label, cond, elsewhere(others)))
		if t.tool == "" {
			fb.Rationale = fmt.Sprintf("no tool call, so no arguments %s", cond)
		}
		fb.Scorer = t.name
		return fb
	}
	matched, first := 0, -1
	var seen []string
	for i, c := range calls {
		ok, valid := true, true
		if t.subset != nil {
			got, err := decodeJSON(c.Args)
			valid = err == nil
			ok = valid && jsonContains(got, t.subset)
		}
		if ok && t.re != nil {
			ok = t.re.MatchString(c.Args)
		}
		if ok {
			matched++
			if first < 0 {
				first = i
			}
		}
		if len(seen) < 3 {
			a := truncate(c.Args, 120)
			if !valid {
				a += " (not valid JSON)"
			}
			seen = append(seen, a)
		}
	}
	var why string
	if matched > 0 {
		why = fmt.Sprintf("%d of %s has arguments %s: %s", matched, plural(len(calls), label+" call", label+" calls"), cond, truncate(calls[first].Args, 160))
	} else {
		why = fmt.Sprintf("none of %s has arguments %s; seen: %s", plural(len(calls), label+" call", label+" calls"), cond, strings.Join(seen, "; "))
		if len(calls) > len(seen) {
			why += fmt.Sprintf("; and %d more", len(calls)-len(seen))
		}
	}
	fb := Passed(matched > 0, matched, why)
	fb.Scorer = t.name
	return fb
}

// plainJSON turns a value decoded from YAML into one that marshals to the
// JSON it reads as: mapping keys become strings (1: x is "1": "x"), and a
// date, which YAML would turn into a time, is refused.
func plainJSON(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := plainJSON(x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			y, err := plainJSON(x)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = y
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := plainJSON(x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	case time.Time:
		return nil, fmt.Errorf("%s reads as a date in YAML: quote it to match a string", v.Format(time.DateOnly))
	}
	return v, nil
}

// decodeJSON decodes one JSON value, keeping numbers as json.Number.
func decodeJSON(s string) (any, error) {
	if !json.Valid([]byte(s)) {
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// jsonContains reports whether got contains want: objects recursively (every
// key of want is in got, with a value that contains want's), everything else
// equal.
func jsonContains(got, want any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return jsonEqual(got, want)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range w {
		gv, ok := g[k]
		if !ok || !jsonContains(gv, wv) {
			return false
		}
	}
	return true
}

// jsonEqual compares decoded JSON values; numbers compare as numbers (3,
// 3.0 and 3e0 are equal).
func jsonEqual(a, b any) bool {
	switch b := b.(type) {
	case map[string]any:
		a, ok := a.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, bv := range b {
			av, ok := a[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	case []any:
		a, ok := a.([]any)
		return ok && slices.EqualFunc(a, b, jsonEqual)
	case json.Number:
		a, ok := a.(json.Number)
		return ok && numbersEqual(a, b)
	case string:
		a, ok := a.(string)
		return ok && a == b
	case bool:
		a, ok := a.(bool)
		return ok && a == b
	case nil:
		return a == nil
	}
	return false
}

// numbersEqual compares JSON numbers: integers exactly (however long),
// others as float64.
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	isInt := func(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }
	if isInt(a) && isInt(b) {
		x, ok1 := new(big.Int).SetString(string(a), 10)
		y, ok2 := new(big.Int).SetString(string(b), 10)
		return ok1 && ok2 && x.Cmp(y) == 0
	}
	x, err1 := strconv.ParseFloat(string(a), 64)
	y, err2 := strconv.ParseFloat(string(b), 64)
	return err1 == nil && err2 == nil && x == y
}

// The trajectory modes.
const (
	ModeStrict    = "strict"    // the same tools in the same order
	ModeUnordered = "unordered" // the same tools, as many times each, in any order
	ModeSubset    = "subset"    // only expected tools, each at most as many times as expected
	ModeSuperset  = "superset"  // every expected tool, at least as many times as expected
)

var trajectoryModes = []string{ModeStrict, ModeUnordered, ModeSubset, ModeSuperset}

// trajectory compares the sequence of tools called with an expected one.
type trajectory struct {
	name     string
	expected []string
	column   string
	mode     string
}

// toolList is a list of tool names in YAML: a sequence, or a string in the
// column format ("web_search > fetch").
type toolList []string

// UnmarshalYAML implements yaml's obsolete Unmarshaler, which spares the
// package an import of yaml.
func (l *toolList) UnmarshalYAML(unmarshal func(any) error) error {
	var many []string
	if err := unmarshal(&many); err == nil {
		for i, n := range many {
			many[i] = strings.TrimSpace(n)
			if many[i] == "" {
				return errors.New("expected: a tool name is empty")
			}
		}
		*l = many
		return nil
	}
	var one string
	if err := unmarshal(&one); err != nil {
		return errors.New("expected: want a list of tool names")
	}
	names, err := ParseToolList(one)
	if err != nil {
		return fmt.Errorf("expected: %v", err)
	}
	*l = names
	return nil
}

func newTrajectory(spec Spec, env Env) (Scorer, error) {
	var p struct {
		Expected *toolList `yaml:"expected"`
		Column   string    `yaml:"column"`
		Mode     string    `yaml:"mode"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	t := &trajectory{name: spec.Name, column: p.Column, mode: p.Mode}
	if (p.Expected == nil) == (p.Column == "") {
		return nil, specErr(spec, "trajectory needs either expected (a list of tool names) or column (a dataset column of them)")
	}
	if p.Expected != nil {
		t.expected = *p.Expected
	}
	if p.Column != "" && !env.HasColumn(p.Column) {
		return nil, specErr(spec, "column %q is not in the dataset (columns: %s)", p.Column, strings.Join(env.Columns, ", "))
	}
	if t.mode == "" {
		t.mode = ModeStrict
	}
	if !slices.Contains(trajectoryModes, t.mode) {
		return nil, specErr(spec, "unknown mode %q (one of: %s)", t.mode, strings.Join(trajectoryModes, ", "))
	}
	return t, nil
}

func (t *trajectory) Name() string { return t.name }

// ToolNames returns the expected tools (none when they come from a column).
func (t *trajectory) ToolNames() []string {
	var out []string
	for _, n := range t.expected {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Score compares the tools called, in order, with the expected ones.
func (t *trajectory) Score(_ context.Context, s Sample) Feedback {
	want := t.expected
	if t.column != "" {
		cell := s.Vars[t.column]
		if strings.TrimSpace(cell) == "" {
			return Feedback{Scorer: t.name, Skipped: true, Rationale: fmt.Sprintf("column %q is empty", t.column)}
		}
		var err error
		if want, err = ParseToolList(cell); err != nil {
			return Feedback{Scorer: t.name, Err: fmt.Sprintf("column %q: %v", t.column, err)}
		}
	}
	var got []string
	for _, sp := range trace.ToolSpans(s.Steps) {
		got = append(got, sp.Tool)
	}
	missing, extra := multisetDiff(want, got)
	var pass bool
	var diff string
	switch t.mode {
	case ModeStrict:
		pass = slices.Equal(want, got)
		if !pass {
			i := 0
			for i < len(want) && i < len(got) && want[i] == got[i] {
				i++
			}
			switch {
			case i == len(want):
				diff = fmt.Sprintf("extra calls from call %d: %s", i+1, seq(got[i:]))
			case i == len(got):
				diff = fmt.Sprintf("missing calls from call %d: %s", i+1, seq(want[i:]))
			default:
				diff = fmt.Sprintf("call %d is %s, expected %s", i+1, orUnnamed(got[i]), orUnnamed(want[i]))
			}
		}
	case ModeUnordered:
		pass = len(missing) == 0 && len(extra) == 0
		diff = joinDiff(missing, extra)
	case ModeSubset:
		pass = len(extra) == 0
		diff = joinDiff(nil, extra)
	case ModeSuperset:
		pass = len(missing) == 0
		diff = joinDiff(missing, nil)
	}
	why := fmt.Sprintf("%s: expected %s, got %s", t.mode, seq(want), seq(got))
	if !pass && diff != "" {
		why += "; " + diff
	}
	fb := Passed(pass, pass, why)
	fb.Scorer = t.name
	return fb
}

func seq(names []string) string {
	if len(names) == 0 {
		return "no tool calls"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = orUnnamed(n)
	}
	return strings.Join(q, " > ")
}

func joinDiff(missing, extra []string) string {
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+tally(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "extra "+tally(extra))
	}
	return strings.Join(parts, "; ")
}

// multisetDiff returns the names of want not matched in got and those of got
// not matched in want, each in its own order.
func multisetDiff(want, got []string) (missing, extra []string) {
	left := map[string]int{}
	for _, g := range got {
		left[g]++
	}
	for _, w := range want {
		if left[w] > 0 {
			left[w]--
		} else {
			missing = append(missing, w)
		}
	}
	need := map[string]int{}
	for _, w := range want {
		need[w]++
	}
	for _, g := range got {
		if need[g] > 0 {
			need[g]--
		} else {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

// ParseToolList reads an expected tool sequence from a dataset cell: a JSON
// array of names (`["web_search", "fetch"]`), or names separated by commas
// or ">" (`web_search > fetch`). Names are trimmed; empty names between
// separators are errors. An empty cell (or "[]") is an empty list.
func ParseToolList(cell string) ([]string, error) {
	s := strings.TrimSpace(cell)
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "[") {
		var names []string
		dec := json.NewDecoder(strings.NewReader(s))
		if err := dec.Decode(&names); err != nil {
			return nil, fmt.Errorf("not a JSON array of tool names: %v", cleanJSONErr(err))
		}
		if rest := strings.TrimSpace(s[dec.InputOffset():]); rest != "" {
			return nil, fmt.Errorf("not a JSON array of tool names: %q after the array", truncate(rest, 20))
		}
		out := make([]string, 0, len(names))
		for i, n := range names {
			n = strings.TrimSpace(n)
			if n == "" {
				return nil, fmt.Errorf("tool name %d of the array is empty", i+1)
			}
			out = append(out, n)
		}
		return out, nil
	}
	parts := strings.Split(strings.ReplaceAll(s, ">", ","), ",")
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("tool name %d of %q is empty", i+1, truncate(s, 80))
		}
		out = append(out, p)
	}
	return out, nil
}

func cleanJSONErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "an element is not a string"
	}
	return err.Error()
}

// steps bounds the agent's generation steps and its failed tool calls.
type steps struct {
	name      string
	maxSteps  *int
	maxErrors *int
}

func newSteps(spec Spec, env Env) (Scorer, error) {
	var p struct {
		MaxSteps      *int `yaml:"max_steps"`
		MaxToolErrors *int `yaml:"max_tool_errors"`
	}
	if err := decode(spec, &p); err != nil {
		return nil, err
	}
	switch {
	case p.MaxSteps == nil && p.MaxToolErrors == nil:
		return nil, specErr(spec, "steps needs max_steps, max_tool_errors or both")
	case p.MaxSteps != nil && *p.MaxSteps < 1:
		return nil, specErr(spec, "max_steps %d is below 1 (every answer takes a step)", *p.MaxSteps)
	case p.MaxToolErrors != nil && *p.MaxToolErrors < 0:
		return nil, specErr(spec, "max_tool_errors %d is negative", *p.MaxToolErrors)
	}
	return &steps{spec.Name, p.MaxSteps, p.MaxToolErrors}, nil
}

func (st *steps) Name() string { return st.name }

// Score counts generation steps and failed tool calls; value is the number
// of steps.
func (st *steps) Score(_ context.Context, s Sample) Feedback {
	stats := trace.StatsOf(s.Steps)
	if stats.Steps == 0 {
		return Feedback{Scorer: st.name, Err: "the cell's trace holds no generation step (recorded before evalctl kept traces?)"}
	}
	pass := true
	var parts []string
	if st.maxSteps != nil {
		pass = stats.Steps <= *st.maxSteps
		parts = append(parts, fmt.Sprintf("%s (max %d)", plural(stats.Steps, "step", "steps"), *st.maxSteps))
	} else {
		parts = append(parts, plural(stats.Steps, "step", "steps"))
	}
	if st.maxErrors != nil {
		pass = pass && stats.ToolErrors <= *st.maxErrors
		p := fmt.Sprintf("%d of %s failed (max %d)", stats.ToolErrors, plural(stats.ToolCalls, "tool call", "tool calls"), *st.maxErrors)
		var failed []string
		for _, sp := range trace.ToolSpans(s.Steps) {
			if sp.Failed() && len(failed) < 5 {
				kind := sp.ErrorKind
				if kind == "" {
					kind = "error"
				}
				failed = append(failed, fmt.Sprintf("%s (%s)", orUnnamed(sp.Tool), kind))
			}
		}
		if len(failed) > 0 {
			p += ": " + strings.Join(failed, ", ")
		}
		parts = append(parts, p)
	}
	fb := Passed(pass, stats.Steps, strings.Join(parts, "; "))
	fb.Scorer = st.name
	return fb
}
