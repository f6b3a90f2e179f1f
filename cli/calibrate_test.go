package cli

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// Calibration against human labels with a known answer: the labels agree
// with the scorer on a chosen number of its passes and fails, so the 2×2
// table is known and kappa is computed here by the textbook formula.
func TestJudgeCalibrateAndRequireKappa(t *testing.T) {
	files := map[string]string{
		"questions.csv":     numberedQuestions(12),
		"prompts/basic.txt": "Question: {question}",
		"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, use: [basic, concise], system: ''}
models: [sim:a]
scorers:
  - {name: long_enough, type: word_count, min: 70}
`,
	}
	cfg := project(t, files)
	db := filepath.Join(t.TempDir(), "s.db")
	if r := run(t, nil, nil, "run", "--config", cfg, "--store", db); r.code != ExitOK {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	// The verdicts, in cell order.
	type verdict struct {
		row, prompt string
		pass        bool
	}
	var vs []verdict
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	run1, _ := st.Run(context.Background(), "last")
	st.EachRecord(context.Background(), run1, true, func(r eval.Record) error {
		vs = append(vs, verdict{r.RowID, r.Variant.Prompt.Name, *r.Feedback[0].Pass})
		return nil
	})
	st.Close()
	var passes, fails []verdict
	for _, v := range vs {
		if v.pass {
			passes = append(passes, v)
		} else {
			fails = append(fails, v)
		}
	}
	if len(passes) < 3 || len(fails) < 3 {
		t.Fatalf("the scorer passed %d and failed %d answers; the test needs both", len(passes), len(fails))
	}
	// People agree with the first passes and fails, and disagree with one
	// pass and two fails.
	var labels strings.Builder
	labels.WriteString("row_id,prompt,model,scorer,label\n")
	a, b, c, d := 0, 0, 0, 0 // judge pass & human pass, judge pass & human fail, judge fail & human pass, both fail
	for i, v := range passes {
		h := "pass"
		if i == 0 {
			h, b = "fail", b+1
		} else {
			a++
		}
		fmt.Fprintf(&labels, "%s,%s,sim:a,long_enough,%s\n", v.row, v.prompt, h)
	}
	for i, v := range fails {
		h := "fail"
		if i < 2 {
			h, c = "pass", c+1
		} else {
			d++
		}
		fmt.Fprintf(&labels, "%s,%s,sim:a,long_enough,%s\n", v.row, v.prompt, h)
	}
	labelsPath := filepath.Join(t.TempDir(), "human.csv")
	os.WriteFile(labelsPath, []byte(labels.String()), 0o644)
	n := float64(a + b + c + d)
	po := float64(a+d) / n
	pe := float64(a+b)/n*float64(a+c)/n + float64(c+d)/n*float64(b+d)/n
	kappa := (po - pe) / (1 - pe)
	t.Logf("table: both pass %d, judge pass & human fail %d, judge fail & human pass %d, both fail %d: po %.3f pe %.3f κ %.3f", a, b, c, d, po, pe, kappa)

	r := run(t, nil, nil, "judge", "calibrate", "last", "--store", db, "--labels", labelsPath)
	if r.code != ExitOK {
		t.Fatalf("calibrate: %d %s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`accuracy ([0-9.]+) · fail precision ([0-9.]+) · fail recall ([0-9.]+) · Cohen's κ (-?[0-9.]+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("output:\n%s", r.stdout)
	}
	num := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	// "fail" is the positive class: the judge's fails are d true and c false.
	for _, x := range []struct {
		name      string
		got, want float64
	}{{"accuracy", num(m[1]), po}, {"fail precision", num(m[2]), float64(d) / float64(c+d)},
		{"fail recall", num(m[3]), float64(d) / float64(b+d)}, {"kappa", num(m[4]), kappa}} {
		if math.Abs(x.got-x.want) > 0.0051 { // printed to 2 decimals
			t.Errorf("%s %.2f, want %.4f (table a=%d b=%d c=%d d=%d)", x.name, x.got, x.want, a, b, c, d)
		}
	}
	if strings.Count(r.stdout, "human ") != 3 {
		t.Errorf("want the 3 disagreements listed:\n%s", r.stdout)
	}

	// A gate that requires the judge to agree with people better than it does
	// is refused (exit 1); one that asks less passes.
	gated := func(req float64) result {
		os.WriteFile(filepath.Join(filepath.Dir(cfg), "evalctl.yaml"), []byte(files["evalctl.yaml"]+fmt.Sprintf(
			"labels: %s\ngates:\n  - {scorer: long_enough, min: 0, require_judge_kappa: %v}\n", labelsPath, req)), 0o644)
		return run(t, nil, nil, "gate", "last", "--config", cfg, "--store", db)
	}
	if r := gated(0.95); r.code != ExitGate || !strings.Contains(r.stderr, "refused: the judge of long_enough agrees") {
		t.Errorf("kappa %.2f under 0.95: exit %d %s", kappa, r.code, r.stderr)
	}
	if r := gated(math.Floor(kappa*100)/100 - 0.01); r.code != ExitOK {
		t.Errorf("kappa %.2f over the requirement: exit %d %s", kappa, r.code, r.stderr)
	}
	// A bad labels file is refused before anything, naming the line.
	os.WriteFile(labelsPath, []byte("row_id,prompt,model,scorer,label\nq00,basic,sim:a,long_enough,maybe\n"), 0o644)
	if r := run(t, nil, nil, "judge", "calibrate", "--store", db, "--labels", labelsPath); r.code != ExitUsage || !strings.Contains(r.stderr, "human.csv:2: field label") {
		t.Errorf("bad label: exit %d %s", r.code, r.stderr)
	}
}
