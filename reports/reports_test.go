package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reports -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// fixture builds a plan and results with every outcome: pass, fail, scorer
// error, skipped, numeric, generation error, and text that CSV must quote.
func fixture(t *testing.T) (*eval.Plan, []eval.Result) {
	t.Helper()
	ds, err := datasets.ParseCSV("q.csv", []byte("id,question,expectations\nq1,\"What is an \"\"algorithm\"\", briefly?\",\"should mention \"\"finite\"\"\"\nq2,What is Git?,\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	basic, _ := prompts.Parse("basic", "", "Question: {question}")
	academic, _ := prompts.Parse("academic", "", "Question: {question}\nBe rigorous.")
	ma := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	mb := &eval.Model{Ref: llm.ModelRef{Provider: "openai", Model: "gpt-4.1-mini"}}
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: eval.Product(nil, []*prompts.Template{basic, academic}, []*eval.Model{ma, mb}),
		Scorers: []scorers.Scorer{fakeScorer("english"), fakeScorer("software_engineering_related"), fakeScorer("length"), fakeScorer("correctness")},
		Prices:  map[string]llm.Price{"openai:gpt-4.1-mini": {Input: 0.40, Output: 1.60}}}
	yes, no := true, false
	one, zero, n42 := 1.0, 0.0, 42.0
	pass := scorers.Feedback{Value: "yes", Pass: &yes, Score: &one, Rationale: "In English.", JudgeModel: "sim:judge", Raw: `{"result":"yes"}`, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 12}, Latency: 30 * time.Millisecond}
	fail := scorers.Feedback{Value: "no", Pass: &no, Score: &zero, Rationale: "Says nothing about \"software\",\nat all.", JudgeModel: "sim:judge", Raw: "{\"result\": \"no\"}", Usage: llm.Usage{PromptTokens: 90, CompletionTokens: 10}, Latency: 25 * time.Millisecond}
	errd := scorers.Feedback{Err: "unparseable verdict: no verdict in the judge's reply", JudgeModel: "sim:judge", Raw: "maybe"}
	skip := scorers.Feedback{Skipped: true, Rationale: `no guidelines in column "expectations" for this row`}
	num := scorers.Feedback{Value: 42.0, Score: &n42, Rationale: "42 words"}
	var results []eval.Result
	for _, c := range plan.Cells() {
		r := eval.Result{Cell: c, Input: "Question: " + c.Row.Vars["question"], Answer: "An answer, with \"quotes\" and <b>tags</b>.",
			FinishReason: "stop", Usage: llm.Usage{PromptTokens: 20 + c.Index, CompletionTokens: 100}, Latency: time.Duration(100+10*c.Index) * time.Millisecond, Attempts: 1}
		corr := skip
		if c.Row.ID == "q1" {
			corr = pass
		}
		switch c.Index {
		case 3:
			r.Answer, r.FinishReason, r.Usage = "", "", llm.Usage{}
			r.Err = &llm.Error{Kind: llm.KindServer, Status: 500, Model: "openai:gpt-4.1-mini", Msg: "boom", Attempts: 5}
			r.Attempts = 5
		case 5:
			r.Feedback = []scorers.Feedback{pass, errd, num, corr}
		default:
			sw := pass
			if c.Index%2 == 0 {
				sw = fail
			}
			r.Feedback = []scorers.Feedback{pass, sw, num, corr}
		}
		for i := range r.Feedback {
			r.Feedback[i].Scorer = plan.Scorers[i].Name()
		}
		results = append(results, r)
	}
	return plan, results
}

type fakeScorer string

func (f fakeScorer) Name() string { return string(f) }
func (f fakeScorer) Score(context.Context, scorers.Sample) scorers.Feedback {
	return scorers.Feedback{}
}

func TestGoldenTable(t *testing.T) {
	plan, results := fixture(t)
	c := NewComparison(plan.Layout())
	// Order of arrival must not matter.
	for i := len(results) - 1; i >= 0; i-- {
		c.Add(results[i].Record())
	}
	c.Finish()
	var b bytes.Buffer
	if err := WriteTable(&b, c); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
	g := c.Groups[3] // academic × openai:gpt-4.1-mini: one answer, one generation error
	if g.Cells != 2 || g.GenErrors != 1 || g.Scorers[0].Pass != 1 {
		t.Errorf("group %+v", g)
	}
}

func TestGoldenCSV(t *testing.T) {
	plan, results := fixture(t)
	var a, f bytes.Buffer
	if err := WriteAnswersCSV(&a, plan.Layout(), Slice(results), CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFeedbackCSV(&f, Slice(results), CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "answers.golden.csv", a.Bytes())
	golden(t, "feedback.golden.csv", f.Bytes())
}

// formulas are answers a spreadsheet would run (OWASP, CSV Injection).
var formulas = []string{`=HYPERLINK("http://x","y")`, `=cmd|' /C calc'!A0`, "+1", "-2", "@SUM(A1)", "\tleading tab", "\rleading CR"}

// formulaFixture is one model's answers to questions, ids and dataset text
// that look like formulas, judged by rationales, errors and raw replies that
// do too, with a numeric scorer whose negative scores are evalctl's own.
func formulaFixture(t *testing.T) (*eval.Plan, []eval.Result) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,question,note\n")
	for i, f := range formulas {
		fmt.Fprintf(&b, "%s,\"%s\",%s\n", []string{"@id1", "-2", "+3", "=4", "q5", "q6", "q7"}[i], strings.ReplaceAll(f, `"`, `""`), []string{"=1+1", "", "-x", "", "@y", "", "ok"}[i])
	}
	ds, err := datasets.ParseCSV("f.csv", []byte(b.String()), ',')
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := prompts.Parse("-basic", "", "{question}")
	m := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: eval.Product(nil, []*prompts.Template{tpl}, []*eval.Model{m}),
		Scorers: []scorers.Scorer{fakeScorer("=judge"), fakeScorer("delta")}}
	var results []eval.Result
	for _, c := range plan.Cells() {
		i := c.Index
		r := eval.Result{Cell: c, Input: c.Row.Vars["question"], Answer: formulas[i], FinishReason: "stop",
			Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 3}, Latency: 20 * time.Millisecond, Attempts: 1}
		yes := i%2 == 0
		one, delta := 1.0, -0.5*float64(i+1)
		judged := scorers.Feedback{Scorer: "=judge", Value: formulas[(i+1)%len(formulas)], Pass: &yes, Score: &one,
			Rationale: formulas[(i+2)%len(formulas)], JudgeModel: "sim:judge", Raw: formulas[(i+3)%len(formulas)],
			Usage: llm.Usage{PromptTokens: 50, CompletionTokens: 5}, Latency: 10 * time.Millisecond}
		if i == 6 {
			judged = scorers.Feedback{Scorer: "=judge", Err: "-unparseable: " + formulas[0], JudgeModel: "sim:judge", Raw: "@maybe"}
		}
		r.Feedback = []scorers.Feedback{judged, {Scorer: "delta", Value: delta, Score: &delta, Rationale: "-0.5 a step"}}
		if i == 5 {
			r.Answer, r.FinishReason, r.Feedback = "", "", nil
			r.Err = &llm.Error{Kind: llm.KindServer, Status: 500, Model: "sim:a", Msg: "=boom", Attempts: 2}
		}
		results = append(results, r)
	}
	return plan, results
}

// Every CSV writer neutralises formula-like text with a leading quote, and
// --csv-raw (CSVOptions.Raw) writes it as it is. evalctl's own numbers (a
// negative score, tokens, latency) are never quoted.
func TestGoldenCSVFormulas(t *testing.T) {
	plan, results := formulaFixture(t)
	lay := plan.Layout()
	for _, o := range []CSVOptions{{}, {Raw: true}} {
		suffix := ""
		if o.Raw {
			suffix = "-raw"
		}
		var a, f, w bytes.Buffer
		if err := WriteAnswersCSV(&a, plan.Layout(), Slice(results), o); err != nil {
			t.Fatal(err)
		}
		if err := WriteFeedbackCSV(&f, Slice(results), o); err != nil {
			t.Fatal(err)
		}
		if err := WriteWideCSV(&w, lay, Slice(results), o); err != nil {
			t.Fatal(err)
		}
		golden(t, "formulas-answers"+suffix+".golden.csv", a.Bytes())
		golden(t, "formulas-feedback"+suffix+".golden.csv", f.Bytes())
		golden(t, "formulas-wide"+suffix+".golden.csv", w.Bytes())

		// Read back: the answers column holds every formula, quoted or not.
		for name, buf := range map[string]*bytes.Buffer{"answers": &a, "wide": &w} {
			recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			col := slices.Index(recs[0], "answer")
			for i, rec := range recs[1:] {
				want := formulas[i]
				if i == 5 {
					want = "" // a generation error
				}
				if !o.Raw && want != "" {
					want = "'" + want
				}
				if rec[col] != want {
					t.Errorf("%s%s row %d: answer %q, want %q", name, suffix, i, rec[col], want)
				}
			}
		}
		recs, err := csv.NewReader(bytes.NewReader(f.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		numeric := map[string]bool{"repeat": true, "value": true, "pass": true, "score": true, "skipped": true,
			"judge_prompt_tokens": true, "judge_completion_tokens": true, "judge_latency_ms": true}
		for _, rec := range recs[1:] {
			for j, cell := range rec {
				name := recs[0][j]
				switch {
				case name == "score" && rec[5] == "delta" && !strings.HasPrefix(cell, "-") && cell != "0":
					t.Errorf("feedback%s: score %q is evalctl's number and must stay as it is", suffix, cell)
				case !o.Raw && !(numeric[name] && rec[5] == "delta") && cell != "" && strings.IndexByte(formulaStart, cell[0]) >= 0:
					t.Errorf("feedback: %s cell %q starts a formula", name, cell)
				}
			}
		}
	}
}

func TestScorerCell(t *testing.T) {
	tests := []struct {
		s    ScorerStat
		want string
	}{
		{ScorerStat{Pass: 3, Fail: 1}, "75.0%"},
		{ScorerStat{Pass: 1, Fail: 1, Errors: 2}, "50.0% (2 err)"},
		{ScorerStat{Pass: 0, Fail: 2, Skipped: 10}, "0.0% of 2"},
		{ScorerStat{Sum: 10, N: 4}, "2.5"},
		{ScorerStat{Errors: 3}, "- (3 err)"},
		{ScorerStat{Skipped: 3}, "-"},
	}
	for _, tc := range tests {
		if got := scorerCell(tc.s); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestWrapName(t *testing.T) {
	if got := wrapName("software_engineering_related", 13); got != "software_\nengineering_\nrelated" {
		t.Errorf("%q", got)
	}
	if got := wrapName("english", 13); got != "english" {
		t.Errorf("%q", got)
	}
}

func TestWriteFileAtomicKeepsTheOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "answers.csv")
	os.WriteFile(path, []byte("good"), 0o644)
	err := WriteFileAtomic(path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return io.ErrUnexpectedEOF
	})
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(path); string(b) != "good" {
		t.Errorf("file = %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary file left behind: %v", entries)
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.EqualFold(string(b), "new") {
		t.Errorf("file = %q", b)
	}
}

func TestRepeatsVoteByMajority(t *testing.T) {
	lay, rs := synthetic("v", 4, func(i int) bool { return true }, func(int) float64 { return 1 })
	lay.Repeat = 3
	var all []eval.Result
	// Question i passes in the first (4-i) of 3 repeats: q0 3/3, q1 3/3, q2 2/3, q3 1/3.
	for rep := range 3 {
		for i, r := range rs {
			p := rep < 4-i
			r.Repeat = rep
			r.Feedback = []scorers.Feedback{{Scorer: "english", Pass: &p}, r.Feedback[1]}
			all = append(all, r)
		}
	}
	c := Compare(lay, all)
	s := c.Groups[0].Scorers[0]
	if s.Pass != 3 || s.Fail != 1 || s.Repeats != 3 {
		t.Fatalf("%+v", s)
	}
	// Per-repeat pass rates: repeat 0 all four, repeat 1 three, repeat 2 two:
	// 1, 0.75, 0.5 → sample sd 0.25.
	if math.Abs(s.Spread-0.25) > 1e-12 {
		t.Errorf("spread %v", s.Spread)
	}
	if got := scorerCell(s); got != "75.0% ±25.0" {
		t.Errorf("cell %q", got)
	}
}

func TestGoldenJUnitMarkdownWideCSV(t *testing.T) {
	plan, results := fixture(t)
	lay := plan.Layout()
	var j, m, wcsv bytes.Buffer
	if err := WriteJUnit(&j, "20261122-120000-abcdef", lay, Slice(results)); err != nil {
		t.Fatal(err)
	}
	meta := RunMeta{ID: "20261122-120000-abcdef", Name: "nightly", Status: "complete", GitCommit: "0123456789abcdef", GitDirty: true}
	if err := WriteMarkdown(&m, meta, Compare(lay, results)); err != nil {
		t.Fatal(err)
	}
	if err := WriteWideCSV(&wcsv, lay, Slice(results), CSVOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.xml", j.Bytes())
	golden(t, "report.golden.md", m.Bytes())
	golden(t, "wide.golden.csv", wcsv.Bytes())
	// The JUnit counts add up: 7 answered cells × 4 scorers + 1 generation error.
	for _, want := range []string{`tests="29"`, `errors="2"`, `<failure message="Says nothing about &#34;software&#34;,&#xA;at all." type="fail">`} {
		if !strings.Contains(j.String(), want) {
			t.Errorf("junit lacks %s", want)
		}
	}
}

func TestJSONReportMatchesItsSchema(t *testing.T) {
	plan, results := fixture(t)
	meta := RunMeta{ID: "20261122-120000-abcdef", Name: "nightly", Tags: map[string]string{"pr": "7"}, Status: "complete",
		StartedAt: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), EndedAt: time.Date(2026, 11, 22, 12, 3, 0, 0, time.UTC),
		DatasetPath: "q.csv", DatasetHash: "ab12", Version: "dev"}
	var b bytes.Buffer
	if err := WriteJSON(&b, meta, Compare(plan.Layout(), results)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.json", b.Bytes())
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(filepath.Join("schema", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("report.json does not match reports/schema/report.schema.json: %v", err)
	}
	// The schema is strict: an unknown field fails, so it cannot drift silently.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(strings.Replace(b.String(), `"cells_planned"`, `"cells_plannd"`, 1)))
	if sch.Validate(bad) == nil {
		t.Error("the schema accepts a misspelt field")
	}
}

// TestHumanLabelsInReports: labels people gave (records carry the latest of
// each criterion) are counted against the verdicts, in the notes every
// report prints, in report.json (valid against its schema) and beside the
// verdicts of report.html's answers.
func TestHumanLabelsInReports(t *testing.T) {
	plan, results := fixture(t)
	l := plan.Layout()
	var recs []eval.Record
	labels, compared, agree := 0, 0, 0
	for i, r := range results {
		rec := r.Record()
		for _, fb := range rec.Feedback {
			if fb.Scorer != "english" {
				continue
			}
			value := []string{"pass", "fail"}[i%2]
			rec.Human = append(rec.Human, eval.HumanLabel{Criterion: "english", Value: value, Author: "ann", Comment: map[bool]string{true: "<b>too short</b>"}[i%3 == 0]})
			labels++
			if fb.Err == "" && !fb.Skipped && fb.Pass != nil {
				compared++
				if (*fb.Pass) == (value == "pass") {
					agree++
				}
			}
		}
		// A comment alone is not a verdict: it is not counted.
		rec.Human = append(rec.Human, eval.HumanLabel{Criterion: "length", Comment: "fine", Author: "bob"})
		recs = append(recs, rec)
	}
	c := NewComparison(l)
	for _, r := range recs {
		c.Add(r)
	}
	c.Finish()
	h := c.HumanAgreements()
	if len(h) != 1 || h[0].Criterion != "english" || h[0].Labels != labels || h[0].Compared != compared || h[0].Agree != agree || compared == 0 {
		t.Fatalf("human agreement %+v; want english %d labels, %d compared, %d alike", h, labels, compared, agree)
	}
	want := fmt.Sprintf("People labelled english on %d answers: they agree with its verdict on %d of %d", labels, agree, compared)
	if notes := strings.Join(c.Notes(), "\n"); !strings.Contains(notes, want) {
		t.Errorf("notes lack %q:\n%s", want, notes)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, RunMeta{ID: "r1", Status: "complete"}, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"human_agreement"`) {
		t.Error("report.json has no human_agreement")
	}
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("schema", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(js.Bytes()))
	if err := sch.Validate(doc); err != nil {
		t.Errorf("report.json with human labels does not match its schema: %v", err)
	}
	var page bytes.Buffer
	each := func(fn func(eval.Record) error) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	if err := WriteHTML(&page, RunMeta{ID: "r1", Status: "complete"}, l, each, c); err != nil {
		t.Fatal(err)
	}
	data := string(pageData(t, page.String()))
	if !strings.Contains(data, `"h":[["pass","ann",`) || !strings.Contains(data, `\u003cb\u003etoo short`) {
		t.Errorf("report.html does not carry the labels beside the verdicts: %.400s", data)
	}
}
