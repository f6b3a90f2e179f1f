package view

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/trace"
)

// malicious is an answer (and a tool result, and a judge prompt) that the
// pages must show as text.
const malicious = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script></pre><b>pwned</b>`

// fixture describes a run written into a real store by writeRun.
type fixture struct {
	name    string
	tags    map[string]string
	rows    int
	repeats int
	// version is the prompt version, seed shifts which answers pass.
	version string
	seed    int
	// keepRunning leaves the run running (its process is this test's).
	keepRunning bool
	// models prefixes the variants' model names (sim:a, sim:b).
	models string
	// skipCells stops after this many cells (0: all).
	stopAfter int
}

var scorerNames = []string{"english", "correctness", "words"}

// fixtureVariants are the run's variants: basic × sim:a, and an agent
// basic × sim:b with a tool.
func fixtureVariants(version, models string) []*eval.Variant {
	tpl := &prompts.Template{Name: "basic", Version: version}
	plain := eval.NewVariant("", tpl, nil, &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: models + "a"}})
	agent := eval.NewAgentVariant("", tpl, nil, &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: models + "b"}},
		&eval.Agent{Spec: eval.AgentSpec{MaxSteps: 4}})
	return []*eval.Variant{plain, agent}
}

// newStore opens a store in a temporary directory.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "evalctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writeRun records a run of f.rows rows × 2 variants × f.repeats cells,
// scored by english (a judge: pass unless (row+seed) % 4 == 0; its votes
// disagree on rows divisible by 5), correctness (a judge that skips odd
// rows) and words (numeric). Cell 5 (when there is one) answers with markup,
// cell 3 failed to answer, and the agent's cells have a trace.
func writeRun(t testing.TB, st *store.Store, f fixture) *store.Run {
	t.Helper()
	ctx := context.Background()
	if f.repeats == 0 {
		f.repeats = 1
	}
	if f.version == "" {
		f.version = "v1aaaaaa"
	}
	vs := fixtureVariants(f.version, f.models)
	lay := eval.Layout{Scorers: scorerNames, Rows: f.rows, Repeat: f.repeats, Columns: []string{"category", "question"}}
	for _, v := range vs {
		lay.Variants = append(lay.Variants, v.Spec())
	}
	run := &store.Run{ID: store.NewRunID(time.Now()), Name: f.name, Tags: f.tags, StartedAt: time.Now(), Spec: store.Spec{Layout: lay},
		Planned: lay.Planned(), DatasetPath: "questions.csv"}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	st.SavePromptVersion(ctx, "basic", f.version, "Question: {question} ("+f.version+")\n")
	sink := st.Sink(run.ID)
	i := 0
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for r := range f.rows {
		row := &datasets.Row{ID: fmt.Sprintf("q%04d", r), Line: r + 2, Vars: map[string]string{
			"category": []string{"Git", "DDD"}[r%2], "question": fmt.Sprintf("What is concept %d?", r)}}
		if r == 7 {
			row.Vars["question"] = `What is concept 7 in <T> & "generics"?`
		}
		for vi, v := range vs {
			for k := range f.repeats {
				if f.stopAfter > 0 && i == f.stopAfter {
					st.Flush()
					return run
				}
				res := eval.Result{Cell: eval.Cell{Index: i, Row: row, Variant: v, Repeat: k}, System: "You are terse.",
					Input: "Question: " + row.Vars["question"], Answer: fmt.Sprintf("Concept %d is a thing (%s, %s).", r, v.Model.Ref, f.version),
					FinishReason: "stop", Usage: llm.Usage{PromptTokens: 20, CompletionTokens: 10 + r%7}, Latency: time.Duration(5+i%9) * time.Millisecond, Attempts: 1}
				if i == 5 {
					res.Answer = malicious
				}
				if vi == 1 {
					res.Steps = []trace.Span{
						{Kind: trace.KindGeneration, Step: 1, Start: base, End: base.Add(40 * time.Millisecond), Model: "sim:b", ToolCalls: 1, Input: "Question: " + row.Vars["question"]},
						{Kind: trace.KindTool, Step: 1, Start: base.Add(41 * time.Millisecond), End: base.Add(90 * time.Millisecond), Server: "web", Tool: "fetch",
							Args: `{"url":"https://example.com/<b>x</b>"}`, Output: malicious},
						{Kind: trace.KindTool, Step: 1, Start: base.Add(91 * time.Millisecond), End: base.Add(200 * time.Millisecond), Server: "web", Tool: "search",
							Args: `{"q":"x"}`, ErrorKind: trace.ToolTimeout, Error: "no result within 100ms"},
						{Kind: trace.KindGeneration, Step: 2, Start: base.Add(201 * time.Millisecond), End: base.Add(250 * time.Millisecond), Model: "sim:b", Output: res.Answer},
					}
				}
				if i == 3 {
					res.Answer, res.Err = "", &llm.Error{Kind: llm.KindServer, Status: 500, Model: v.Model.Ref.String(), Msg: "boom", Attempts: 3}
				} else {
					pass := (r+f.seed)%4 != 0
					en := scorers.Passed(pass, map[bool]string{true: "yes", false: "no"}[pass], fmt.Sprintf("Row %d %s English.", r, map[bool]string{true: "is", false: "is not"}[pass]))
					en.Scorer, en.JudgeModel, en.Usage, en.Attempts = "english", "sim:judge", llm.Usage{PromptTokens: 100, CompletionTokens: 9}, 1
					en.Spans = []trace.Span{{Kind: trace.KindJudge, Start: base, End: base.Add(30 * time.Millisecond), Model: "sim:judge", Scorer: "english",
						Input: "Judge this answer: <answer>" + res.Answer + "</answer>", Output: `{"result":"yes"}`}}
					if r%5 == 0 {
						half := 0.5
						en.Agreement = &half
						en.Votes = []scorers.Vote{{Judge: "sim:judge", Value: "yes"}, {Judge: "sim:other", Value: "no", Rationale: "<i>not</i> really"}}
					}
					co := scorers.Passed(r%3 != 0, r%3 != 0, "Mentions the facts.")
					co.Scorer, co.JudgeModel = "correctness", "sim:judge"
					if r%2 == 1 {
						co = scorers.Feedback{Scorer: "correctness", Skipped: true, Rationale: "no expectations"}
					}
					n := float64(10 + r%7)
					res.Feedback = []scorers.Feedback{en, co, {Scorer: "words", Value: n, Score: &n, Rationale: fmt.Sprintf("%v words", n)}}
				}
				sink.Put(res)
				i++
			}
		}
	}
	if f.keepRunning {
		if err := st.Flush(); err != nil {
			t.Fatal(err)
		}
		return run
	}
	if err := sink.End(eval.StatusComplete); err != nil {
		t.Fatal(err)
	}
	out, err := st.RunByID(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
