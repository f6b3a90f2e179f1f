package reports

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

// synthetic makes a run of n questions where pass(i) decides the "english"
// outcome of question i and "length" scores score(i).
func synthetic(version string, n int, pass func(i int) bool, score func(i int) float64) (eval.Layout, []eval.Result) {
	tpl := &prompts.Template{Name: "basic", Version: version}
	m := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	v := eval.NewVariant("", tpl, nil, m)
	lay := eval.Layout{Variants: []eval.VariantSpec{v.Spec()},
		Scorers: []string{"english", "length"}, Rows: n, Repeat: 1}
	var rs []eval.Result
	for i := range n {
		p := pass(i)
		s := score(i)
		one := 0.0
		if p {
			one = 1
		}
		rs = append(rs, eval.Result{Cell: eval.Cell{Index: i, Row: &datasets.Row{ID: fmt.Sprintf("q%02d", i), Vars: map[string]string{"question": fmt.Sprintf("Question %d?", i)}}, Variant: v},
			Feedback: []scorers.Feedback{{Scorer: "english", Pass: &p, Score: &one}, {Scorer: "length", Score: &s}}})
	}
	return lay, rs
}

func TestCompareRuns(t *testing.T) {
	la, ra := synthetic("aaaa", 30, func(int) bool { return true }, func(i int) float64 { return 100 })
	lb, rb := synthetic("bbbb", 30, func(i int) bool { return i >= 12 }, func(i int) float64 { return 80 + float64(i%3) })
	rc, _ := CompareRuns(RunMeta{ID: "A"}, la, Slice(ra), RunMeta{ID: "B"}, lb, Slice(rb))
	if len(rc.Differences) != 2 {
		t.Fatalf("%d differences", len(rc.Differences))
	}
	eng, length := rc.Differences[0], rc.Differences[1]
	// 12 questions passed in A and fail in B, none the other way:
	// McNemar exact p = 2 · 0.5^12 = 2/4096.
	if eng.Kind != "pass" || eng.Pairs != 30 || len(eng.Regressed) != 12 || len(eng.Improved) != 0 ||
		math.Abs(eng.P-2.0/4096) > 1e-12 || !eng.Significant || eng.A != 1 || math.Abs(eng.B-0.6) > 1e-12 || math.Abs(eng.Delta+0.4) > 1e-12 {
		t.Errorf("english: %+v", eng)
	}
	if eng.Hi >= 0 || eng.Lo < -0.65 {
		t.Errorf("english interval [%v, %v]", eng.Lo, eng.Hi)
	}
	if length.Kind != "score" || !length.Significant || length.Delta > -18 || length.Delta < -20 {
		t.Errorf("length: %+v", length)
	}
	var b bytes.Buffer
	WriteCompareTable(&b, rc)
	for _, want := range []string{"basic@aaaa→bbbb", "p=0.000488 *", "-40.0 pp", "english · basic × sim:a: 12 passed in A and fail in B", "q00  Question 0?", "… and 2 more"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	// Few pairs: no significance claimed.
	la, ra = synthetic("aaaa", 5, func(int) bool { return true }, func(int) float64 { return 1 })
	lb, rb = synthetic("aaaa", 5, func(int) bool { return false }, func(int) float64 { return 0 })
	rc, _ = CompareRuns(RunMeta{}, la, Slice(ra), RunMeta{}, lb, Slice(rb))
	if d := rc.Differences[0]; !d.TooFew || d.Significant || len(d.Regressed) != 5 {
		t.Errorf("five pairs: %+v", d)
	}
}

// Verdicts are matched to columns by scorer name: a cell missing the
// verdict of a scorer in the middle (an interrupted scoring pass) counts
// nothing under it and every other verdict under its own column.
func TestFeedbackMatchedByName(t *testing.T) {
	lay, rs := synthetic("aaaa", 4, func(i int) bool { return i%2 == 0 }, func(i int) float64 { return float64(i) })
	lay.Scorers = []string{"english", "defines", "length"}
	yes := true
	rs[0].Feedback = []scorers.Feedback{{Scorer: "length", Score: new(100.0)}, {Scorer: "english", Pass: &yes}}
	c := Compare(lay, rs)
	g := c.Groups[0]
	if got := g.Scorers[1]; got.Name != "defines" || got.Pass+got.Fail+got.Errors+got.N != 0 {
		t.Errorf("defines has no verdict anywhere, yet counts %+v", got)
	}
	if got := g.Scorers[0]; got.Name != "english" || got.Pass != 2 || got.Fail != 2 {
		t.Errorf("english %+v, want 2 pass 2 fail", got)
	}
	if got := g.Scorers[2]; got.Name != "length" || got.N != 4 || got.Sum != 100+1+2+3 {
		t.Errorf("length %+v, want the four scores", got)
	}
}
