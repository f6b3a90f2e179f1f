package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/tokens"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/trace"
)

// dryTotals reads a dry run's listing (TSV when piped): calls and prompt +
// completion tokens, summed over its lines.
func dryTotals(t *testing.T, out string) (calls, tokens int) {
	t.Helper()
	num := func(s string) int {
		n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			t.Fatalf("not a number %q in %s", s, out)
		}
		return n
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "KIND\tMODEL\tCALLS") {
		t.Fatalf("dry run output:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		calls += num(f[2])
		tokens += num(f[4]) + num(f[5])
	}
	return calls, tokens
}

var summaryRE = regexp.MustCompile(`(\d+) LLM calls, \d+ cache hits, (\d+) tokens`)

// The estimate of a dry run against what the run then used, on the
// simulator: the seed example's prompts and judges (per-row criteria
// included). Completion lengths come from a pilot run in the same store.
func TestDryRunEstimate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join("..", "examples", "se-quiz", "evalctl.yaml")
	args := []string{"run", "--config", cfg, "--store", filepath.Join(dir, "s.db"), "--models", "sim:a,sim:b",
		"--judge", "sim:judge", "--prompts", "basic,academic", "--no-cache", "-j", "32"}
	env := map[string]string{}

	// Without history the call counts are exact; no tokens have been used.
	r := run(t, nil, env, append(args, "--limit", "40", "--dry-run")...)
	if r.code != ExitOK {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "assumed") || !strings.Contains(r.stderr, "Nothing was sent") {
		t.Errorf("a dry run without history must say what it assumed:\n%s%s", r.stdout, r.stderr)
	}
	noHistCalls, noHistTokens := dryTotals(t, r.stdout)

	if r := run(t, nil, env, append(args, "--limit", "10")...); r.code != ExitOK {
		t.Fatalf("pilot: exit %d\n%s", r.code, r.stderr)
	}
	r = run(t, nil, env, append(args, "--limit", "40", "--dry-run")...)
	if r.code != ExitOK {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	estCalls, estTokens := dryTotals(t, r.stdout)
	if !strings.Contains(r.stdout, "mean of stored answers") {
		t.Errorf("the dry run did not use the pilot's history:\n%s", r.stdout)
	}

	r = run(t, nil, env, append(args, "--limit", "40")...)
	if r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	m := summaryRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no summary in %s", r.stderr)
	}
	calls, _ := strconv.Atoi(m[1])
	used, _ := strconv.Atoi(m[2])
	t.Logf("estimate %d calls, %d tokens (%d without history); the run made %d calls and used %d tokens (%.1f%% off; %.1f%% without history)",
		estCalls, estTokens, noHistTokens, calls, used, 100*float64(estTokens-used)/float64(used), 100*float64(noHistTokens-used)/float64(used))
	if estCalls != calls || noHistCalls != calls {
		t.Errorf("estimated %d calls (%d without history), the run made %d", estCalls, noHistCalls, calls)
	}
	if d := float64(estTokens-used) / float64(used); d > 0.10 || d < -0.10 {
		t.Errorf("estimated %d tokens, the run used %d: %.1f%% off (limit 10%%)", estTokens, used, 100*d)
	}
}

// toolsNotCalled is an agent's toolbox in a dry run: it offers tools, and
// fails the test if one is called (a dry run calls no tool).
type toolsNotCalled struct{ t *testing.T }

func (x toolsNotCalled) Tools() []llm.Tool {
	return []llm.Tool{
		{Name: "search", Description: "Searches the web for a query.", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`)},
		{Name: "fetch", Description: "Fetches a page.", Parameters: json.RawMessage(`{"type":"object","properties":{"url":{"type":"string"}}}`)},
	}
}

func (x toolsNotCalled) Call(context.Context, llm.ToolCall) eval.ToolResult {
	x.t.Error("a dry run called a tool")
	return eval.ToolResult{ErrKind: trace.ToolError, Err: "not in a dry run"}
}

// dryLines runs a plan through a dry run over the store and returns its
// listing by kind (TSV fields by header) and its summary.
func dryLines(t *testing.T, st *store.Store, plan *eval.Plan) (map[string]map[string]string, string) {
	t.Helper()
	ctx := context.Background()
	d, err := newDryEstimate(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	// As prepare wires a dry run: the tally around the estimator.
	for _, v := range plan.Variants {
		v.Model.Client = d.tally.Wrap(v.Model.Ref.Provider, d.client(v.Model.Ref.Provider))
	}
	sum, err := d.run(ctx, plan, eval.NewCallLimit(4))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := d.write(&app{io: &IO{Stdout: &out, Stderr: &errb}}, plan, sum, 0, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	head := strings.Split(lines[0], "\t")
	byKind := map[string]map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		row := map[string]string{}
		for i, h := range head {
			row[h] = f[i]
		}
		byKind[row["KIND"]] = row
	}
	t.Logf("%s%s", out.String(), errb.String())
	return byKind, errb.String()
}

// The dry run of an agent: its steps and tool calls per cell come from the
// store's history of the variant, else of its model with tools, else an
// assumption (said so), never beyond max_steps; every step resends the
// prompt, the tool definitions and the tool results so far. The estimator
// asks for no tool call, so no tool runs, and a plain variant's line is as
// before. The plan is built in the test (evalctl.yaml has no agents yet).
func TestDryRunEstimatesAgentLoops(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var csv strings.Builder
	csv.WriteString("id,question\n")
	for i := range 10 {
		fmt.Fprintf(&csv, "q%d,What happened in year %d of the Roman Republic?\n", i, 100+i)
	}
	ds, err := datasets.ParseCSV("q.csv", []byte(csv.String()), ',')
	if err != nil {
		t.Fatal(err)
	}
	tpl, _ := prompts.Parse("basic", "", "Question: {question}")
	model := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	toolbox := toolsNotCalled{t}
	web := eval.AgentSpec{Tools: []eval.ToolServerSpec{{Name: "web", Command: []string{"web-mcp"}}}, MaxSteps: 10}
	plain := eval.NewVariant("plain", tpl, nil, model)
	agent := eval.NewAgentVariant("agent", tpl, nil, model, &eval.Agent{Tools: toolbox, Spec: web})
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: []*eval.Variant{plain, agent}}
	num := func(s string) int {
		n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			t.Fatalf("not a number: %q", s)
		}
		return n
	}
	b, _ := json.Marshal(toolbox.Tools())
	toolTokens := tokens.Count(string(b))

	// Without history: 2 steps and 1 tool call a cell, assumed.
	lines, summary := dryLines(t, st, plan)
	gen, ag := lines["generation"], lines["agent"]
	if gen == nil || ag == nil {
		t.Fatalf("lines %v", lines)
	}
	if num(gen["CALLS"]) != 10 || num(ag["CALLS"]) != 20 || num(ag["TOOL_CALLS"]) != 10 || ag["STEPS_PER_CELL"] != "2.0" {
		t.Errorf("calls: generation %s, agent %s (%s a cell, %s tool calls)", gen["CALLS"], ag["CALLS"], ag["STEPS_PER_CELL"], ag["TOOL_CALLS"])
	}
	if !strings.Contains(ag["STEPS_ESTIMATE"], "assumed 2 steps") || !strings.Contains(ag["STEPS_ESTIMATE"], "assumed 250 tokens a tool result") {
		t.Errorf("the estimate does not say what it assumed: %q", ag["STEPS_ESTIMATE"])
	}
	if !strings.Contains(summary, "30 LLM calls (10 generation, 20 agent steps, 0 judge)") || !strings.Contains(summary, "about 10 tool calls") {
		t.Errorf("summary: %s", summary)
	}
	// Step 1 sends what the plain variant sends and the tool definitions;
	// step 2 that again with one tool call and its result (250 + 30 tokens).
	plainPrompt := num(gen["PROMPT_TOKENS"])
	if got, want := num(ag["PROMPT_TOKENS"]), 2*(plainPrompt+10*toolTokens)+10*(assumeResultTokens+eval.ToolCallTokens); got != want {
		t.Errorf("agent prompt tokens %d, want %d", got, want)
	}
	if gen["STEPS_PER_CELL"] != "" || gen["TOOL_CALLS"] != "" {
		t.Errorf("a plain line has agent figures: %v", gen)
	}

	// History: an earlier run of the variant, 3 steps and 2 tool calls a
	// cell, results of 400 bytes (100 tokens).
	past := &store.Run{ID: store.NewRunID(time.Now()), StartedAt: time.Now(), Spec: store.Spec{Layout: plan.Layout()}, Planned: 4}
	if err := st.CreateRun(ctx, past); err != nil {
		t.Fatal(err)
	}
	sink := st.Sink(past.ID)
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i := range 4 {
		r := eval.Result{Cell: eval.Cell{Index: i, Row: &ds.Rows[i], Variant: agent}, Input: "Q", Answer: "A", FinishReason: "stop",
			Usage: llm.Usage{PromptTokens: 300, CompletionTokens: 90}, Attempts: 1}
		for s := 1; s <= 3; s++ {
			r.Steps = append(r.Steps, trace.Span{Kind: trace.KindGeneration, Step: s, Start: t0, End: t0})
			if s < 3 {
				r.Steps = append(r.Steps, trace.Span{Kind: trace.KindTool, Step: s, Tool: "search", Start: t0, End: t0, Output: strings.Repeat("abcd", 100)})
			}
		}
		sink.Put(r)
	}
	if err := sink.End(eval.StatusComplete); err != nil {
		t.Fatal(err)
	}
	lines, summary = dryLines(t, st, plan)
	gen, ag = lines["generation"], lines["agent"]
	if num(ag["CALLS"]) != 30 || num(ag["TOOL_CALLS"]) != 20 || ag["STEPS_PER_CELL"] != "3.0" {
		t.Errorf("with history: agent %s calls (%s a cell), %s tool calls", ag["CALLS"], ag["STEPS_PER_CELL"], ag["TOOL_CALLS"])
	}
	if !strings.Contains(ag["STEPS_ESTIMATE"], "mean of 4 stored cells of the variant; tool results as stored") {
		t.Errorf("basis %q", ag["STEPS_ESTIMATE"])
	}
	if got, want := num(ag["PROMPT_TOKENS"]), 3*(num(gen["PROMPT_TOKENS"])+10*toolTokens)+10*3*(100+eval.ToolCallTokens); got != want {
		t.Errorf("agent prompt tokens with history %d, want %d", got, want)
	}
	if !strings.Contains(summary, "40 LLM calls (10 generation, 30 agent steps, 0 judge)") {
		t.Errorf("summary: %s", summary)
	}

	// Another agent of the model, with other tools and max_steps 2: no
	// history of its own, so the model's, cut at its max_steps.
	capped := web
	capped.Tools, capped.MaxSteps = []eval.ToolServerSpec{{Name: "calc", URL: "http://127.0.0.1:1/mcp"}}, 2
	other := eval.NewAgentVariant("other", tpl, nil, model, &eval.Agent{Tools: toolbox, Spec: capped})
	lines, _ = dryLines(t, st, &eval.Plan{Dataset: ds, Rows: ds.Rows, Variants: []*eval.Variant{other}})
	ag = lines["agent"]
	if num(ag["CALLS"]) != 20 || ag["STEPS_PER_CELL"] != "2.0" || !strings.Contains(ag["STEPS_ESTIMATE"], "stored agent cells of the model") {
		t.Errorf("another agent of the model: %v", ag)
	}
	if _, ok := lines["generation"]; ok {
		t.Error("an agent's calls are counted as plain generations")
	}
}
