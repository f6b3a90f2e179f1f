package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

const malicious = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script></pre><b>pwned</b>`

func TestGoldenHTML(t *testing.T) {
	plan, results := fixture(t)
	var b bytes.Buffer
	meta := RunMeta{ID: "20261122-120000-abcdef", Name: "nightly", Status: "complete", StartedAt: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	if err := WriteHTML(&b, meta, plan.Layout(), Slice(results), Compare(plan.Layout(), results)); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.golden.html", b.Bytes())
	if strings.Contains(b.String(), "<b>tags</b>") {
		t.Error("an answer appears as markup in the page source")
	}
}

// bigRun makes n answers of realistic length across 4 prompts × 2 models and
// 7 scorers, with one malicious answer.
func bigRun(n int) (eval.Layout, []eval.Result) {
	names := []string{"english", "software_engineering_related", "reference_to_definition", "relevance_to_query", "enough_words", "not_too_many_words", "correctness"}
	var tpls []*prompts.Template
	for _, p := range []string{"basic", "concise", "practical", "academic"} {
		tpls = append(tpls, &prompts.Template{Name: p, Version: "v" + p[:3]})
	}
	models := []*eval.Model{{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}, {Ref: llm.ModelRef{Provider: "openai", Model: "gpt-4.1-mini"}}}
	lay := eval.Layout{Scorers: names, Rows: n / 8, Repeat: 1, Columns: []string{"category", "question", "weight"}}
	variants := eval.Product(nil, tpls, models)
	for _, v := range variants {
		lay.Variants = append(lay.Variants, v.Spec())
	}
	// Random words from a 3,000-word vocabulary: text that compresses worse
	// than English, so the size check errs on the safe side.
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 3000)
	for i := range words {
		b := make([]byte, 3+rng.IntN(8))
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(b)
	}
	var rs []eval.Result
	for i := range n {
		row := &datasets.Row{ID: fmt.Sprintf("q%05d", i/8), Line: i/8 + 2, Vars: map[string]string{
			"category": []string{"Git", "DDD", "Testing", "Lincense"}[i/8%4], "question": fmt.Sprintf("What is concept %d?", i/8), "weight": fmt.Sprint(i/8%4 + 1)}}
		var ans strings.Builder
		for range 160 + i%140 {
			ans.WriteString(words[rng.IntN(len(words))])
			ans.WriteByte(' ')
		}
		r := eval.Result{Cell: eval.Cell{Index: i, Row: row, Variant: variants[i/2%4*2+i%2]},
			System: "You are a university professor preparing model answers for a software engineering examination.",
			Input:  "Category: " + row.Vars["category"] + "\nQuestion: " + row.Vars["question"] + "\nDifficulty: " + row.Vars["weight"] + "/4\nProvide a clear and accurate answer suitable for an exam context.",
			Answer: ans.String(), FinishReason: "stop", Usage: llm.Usage{PromptTokens: 60, CompletionTokens: 300}, Latency: time.Duration(800+i%400) * time.Millisecond, Attempts: 1}
		if i == 5 {
			r.Answer = malicious
		}
		if i%97 == 13 {
			r.Answer, r.Err = "", &llm.Error{Kind: llm.KindServer, Status: 500, Model: r.Variant.Model.Ref.String(), Msg: "boom", Attempts: 5}
		}
		if r.Err == nil {
			for j, name := range names {
				pass := (i*31+j*17)%10 < 8
				one := map[bool]float64{true: 1, false: 0}[pass]
				fb := scorers.Feedback{Scorer: name, Value: map[bool]string{true: "yes", false: "no"}[pass], Pass: &pass, Score: &one,
					Rationale:  fmt.Sprintf("The answer %s the criterion for concept %d.", map[bool]string{true: "meets", false: "misses"}[pass], i/8),
					JudgeModel: "sim:judge", Usage: llm.Usage{PromptTokens: 400, CompletionTokens: 30}, Latency: 600 * time.Millisecond, Attempts: 1}
				if j == 6 && i/8%5 != 0 {
					fb = scorers.Feedback{Scorer: name, Skipped: true, Rationale: "no expectations for this row"}
				}
				r.Feedback = append(r.Feedback, fb)
			}
		}
		rs = append(rs, r)
	}
	return lay, rs
}

func TestHTMLSize(t *testing.T) {
	lay, rs := bigRun(10000)
	var b bytes.Buffer
	if err := WriteHTML(&b, RunMeta{ID: "big"}, lay, Slice(rs), Compare(lay, rs)); err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000 answers: %.1f MB", float64(b.Len())/1e6)
	if b.Len() > 20e6 {
		t.Errorf("the report of 10,000 answers is %.1f MB, over 20 MB", float64(b.Len())/1e6)
	}
}

// TestHTMLInBrowser opens a report in Debian's Chromium with playwright-core
// (installed by .ci/run; see reports/browser). Outside CI it is skipped when
// they are missing; in CI it fails.
func TestHTMLInBrowser(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	_, errNode := exec.LookPath("node")
	_, errChromium := os.Stat(chromium)
	_, errPW := os.Stat(filepath.Join("browser", "node_modules", "playwright-core"))
	if errNode != nil || errChromium != nil || errPW != nil {
		msg := fmt.Sprintf("browser test needs node, %s and playwright-core (cd reports/browser && npm install): %v %v %v", chromium, errNode, errChromium, errPW)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	lay, rs := bigRun(400)
	dir := t.TempDir()
	meta := RunMeta{ID: "20261122-120000-abcdef", Name: "browser", Status: "complete", StartedAt: time.Now(), DatasetPath: "questions.csv"}
	cmp := Compare(lay, rs)
	write := func(name string, f func(*bytes.Buffer) error) string {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	html := write("report.html", func(b *bytes.Buffer) error { return WriteHTML(b, meta, lay, Slice(rs), cmp) })
	js := write("report.json", func(b *bytes.Buffer) error { return WriteJSON(b, meta, cmp) })
	// An agent's run: its drill-down shows the trace.
	aplan, ars := agentFixture(t)
	alay := aplan.Layout()
	agentHTML := write("agent.html", func(b *bytes.Buffer) error {
		return WriteHTML(b, RunMeta{ID: "20261122-120000-a9e47", Name: "agents", Status: "complete", StartedAt: time.Now()}, alay, Slice(ars), Compare(alay, ars))
	})
	var kinds []string
	for _, s := range ars[1].Steps {
		kinds = append(kinds, s.Kind)
	}
	failing := 0
	for _, r := range rs {
		for _, fb := range r.Feedback {
			if fb.Pass != nil && !*fb.Pass && fb.Err == "" && !fb.Skipped {
				failing++
				break
			}
		}
	}
	shots := os.Getenv("EVALCTL_ARTIFACTS")
	if shots == "" {
		shots = dir
	}
	os.MkdirAll(shots, 0o755)
	expect, _ := json.Marshal(map[string]any{"html": html, "json": js, "screenshot": filepath.Join(shots, "report.png"),
		"failing": failing, "malicious": malicious,
		"agent": map[string]any{"html": agentHTML, "cell": ars[1].Index, "kinds": kinds, "tool_result": toolMalice,
			"long_cell": ars[3].Index, "excerpt": pageExcerpt, "marker": trace.Marker, "screenshot": filepath.Join(shots, "agent.png")}})
	ep := filepath.Join(dir, "expect.json")
	os.WriteFile(ep, expect, 0o644)
	cmd := exec.Command("node", "check.mjs", ep)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("browser check failed: %v", err)
	}
}
