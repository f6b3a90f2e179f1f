package reports

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
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
	"github.com/evalctl/evalctl/trace"
)

// toolMalice is a tool result that a page must show as text.
const toolMalice = `<script>window.__pwned=3</script><img src=x onerror="window.__pwned=4">result`

// agentFixture is a run of two variants of one prompt and model: plain,
// and an agent with tools. The agent's cells have traces built by hand:
// tool calls that succeed, time out, name an unknown tool, return markup
// and a result longer than the page's excerpt; one cell reaches max_steps.
// Its verdicts carry their judge calls.
func agentFixture(t *testing.T) (*eval.Plan, []eval.Result) {
	t.Helper()
	ds, err := datasets.ParseCSV("q.csv", []byte("id,question\nq1,Who wrote Dune?\nq2,What is the capital of Chad?\nq3,How tall is K2?\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	basic, _ := prompts.Parse("basic", "", "Question: {question}")
	m := &eval.Model{Ref: llm.ModelRef{Provider: "sim", Model: "a"}}
	agent := &eval.Agent{Spec: eval.AgentSpec{Tools: []eval.ToolServerSpec{{Name: "web", Command: []string{"web-mcp"}}},
		MaxSteps: 3, ToolTimeout: 5 * time.Second}}
	plan := &eval.Plan{Dataset: ds, Rows: ds.Rows,
		Variants: []*eval.Variant{eval.NewVariant("plain", basic, nil, m), eval.NewAgentVariant("web-agent", basic, nil, m, agent)},
		Scorers:  []scorers.Scorer{fakeScorer("correct"), fakeScorer("length")}}
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	gen := func(step, from, to, calls int) trace.Span {
		return trace.Span{Kind: trace.KindGeneration, Step: step, Model: "sim:a", Start: at(from), End: at(to), ToolCalls: calls,
			FinishReason: map[bool]string{true: "tool_calls", false: "stop"}[calls > 0], Usage: llm.Usage{PromptTokens: 50 * step, CompletionTokens: 20}, Attempts: 1}
	}
	tool := func(step, from, to int, name, args, out string) trace.Span {
		return trace.Span{Kind: trace.KindTool, Step: step, Server: "web", Tool: name, CallID: "call_" + name, Args: args,
			Start: at(from), End: at(to), Output: out}
	}
	long := strings.Repeat("A long page of search results. ", 200) // 6,200 bytes
	yes, no := true, false
	one, zero := 1.0, 0.0
	var results []eval.Result
	for _, c := range plan.Cells() {
		r := eval.Result{Cell: c, Input: "Question: " + c.Row.Vars["question"], Answer: "Frank Herbert.", FinishReason: "stop",
			Usage: llm.Usage{PromptTokens: 20, CompletionTokens: 10}, Latency: 100 * time.Millisecond, Attempts: 1}
		verdict := scorers.Feedback{Scorer: "correct", Value: "yes", Pass: &yes, Score: &one, Rationale: "Right.", JudgeModel: "sim:judge",
			Usage: llm.Usage{PromptTokens: 120, CompletionTokens: 8}, Latency: 40 * time.Millisecond}
		if c.Variant.Agent == nil {
			r.Steps = []trace.Span{gen(1, 0, 100, 0)}
		} else {
			switch c.Row.ID {
			case "q1":
				search := tool(1, 120, 135, "search", `{"q":"Dune author"}`, "Dune (1965) by Frank Herbert")
				fetch := tool(1, 120, 160, "fetch", `{"url":"https://example.com/<b>dune</b>"}`, toolMalice)
				slow := tool(2, 300, 5300, "search", `{"q":"Frank Herbert"}`, "")
				slow.ErrorKind, slow.Error = trace.ToolTimeout, "no result within 5s (agent tool_timeout)"
				r.Steps = []trace.Span{gen(1, 0, 110, 2), search, fetch, gen(2, 170, 290, 1), slow, gen(3, 5310, 5400, 0)}
				r.Steps[3].Output = "Let me check the author's name."
			case "q2":
				page := tool(1, 110, 400, "fetch", `{"url":"https://example.com/chad"}`, long)
				page.Cached = true
				r.Steps = []trace.Span{gen(1, 0, 100, 1), page, gen(2, 410, 500, 0)}
				r.Answer = "N'Djamena."
			case "q3":
				bad := tool(1, 110, 111, "calculator", `{"expr":"8611"}`, "")
				bad.ErrorKind, bad.Error = trace.ToolUnknown, `the model named tool "calculator", which no server offers`
				last := gen(3, 300, 400, 1)
				r.Steps = []trace.Span{gen(1, 0, 100, 1), bad, gen(2, 120, 200, 1), tool(2, 210, 220, "search", `{"q":"K2 height"}`, "8,611 m"), last}
				r.Answer, r.FinishReason = "", ""
				r.Err = &llm.Error{Kind: llm.KindMaxSteps, Model: "sim:a", Msg: "no final answer after 3 steps: the model kept calling tools (agent max_steps)"}
			}
			u := llm.Usage{}
			for _, s := range r.Steps {
				u = u.Add(s.Usage)
			}
			r.Usage = u
			verdict.Spans = []trace.Span{{Kind: trace.KindJudge, Model: "sim:judge", Scorer: "correct", Start: at(6000), End: at(6040),
				Input:  "[system]\nYou grade answers.\n[user]\n<answer>\n" + r.Answer + "\n</answer>\n<script>window.__pwned=5</script>",
				Output: `{"result":"yes"}`, Usage: llm.Usage{PromptTokens: 120, CompletionTokens: 8}, Attempts: 1}}
			if c.Row.ID == "q2" {
				verdict.Pass, verdict.Score, verdict.Value = &no, &zero, "no"
			}
		}
		if r.Err == nil {
			n := float64(len(r.Answer))
			r.Feedback = []scorers.Feedback{verdict, {Scorer: "length", Value: n, Score: &n}}
		}
		results = append(results, r)
	}
	return plan, results
}

// TestGoldenAgent covers every report of a run with an agent: the agent
// columns appear in the table, Markdown and answers.csv, report.json
// (still valid against its schema) counts steps and tool errors by kind,
// and report.html embeds the traces, cut to the page's excerpt.
func TestGoldenAgent(t *testing.T) {
	plan, results := agentFixture(t)
	lay := plan.Layout()
	cmp := Compare(lay, results)
	meta := RunMeta{ID: "20261122-120000-a9e47", Name: "agents", Status: "complete", StartedAt: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		DatasetPath: "q.csv", DatasetHash: "ab12", Version: "dev"}

	g := cmp.Groups[1]
	if !g.Agent || g.Trace.Cells != 3 || g.Trace.Steps != 8 || g.Trace.ToolCalls != 6 || g.Trace.ToolErrors != 2 ||
		g.Trace.ErrorKinds[trace.ToolTimeout] != 1 || g.Trace.ErrorKinds[trace.ToolUnknown] != 1 {
		t.Errorf("agent figures %+v", g.Trace)
	}
	if d, _ := g.Trace.MeanToolLatency(); d != (15+40+5000+290+1+10)*time.Millisecond/6 {
		t.Errorf("mean tool latency %v", d)
	}
	if cmp.Groups[0].Agent || cmp.Groups[0].Trace.Steps != 3 || cmp.Groups[0].Trace.ToolCalls != 0 {
		t.Errorf("plain figures %+v", cmp.Groups[0].Trace)
	}

	var table, md, js, answers, html bytes.Buffer
	for _, w := range []error{WriteTable(&table, cmp), WriteMarkdown(&md, meta, cmp), WriteJSON(&js, meta, cmp),
		WriteAnswersCSV(&answers, lay, Slice(results), CSVOptions{}), WriteHTML(&html, meta, lay, Slice(results), cmp)} {
		if w != nil {
			t.Fatal(w)
		}
	}
	golden(t, "agent-table.golden", table.Bytes())
	golden(t, "agent-report.golden.md", md.Bytes())
	golden(t, "agent-report.golden.json", js.Bytes())
	golden(t, "agent-answers.golden.csv", answers.Bytes())
	golden(t, "agent-report.golden.html", html.Bytes())

	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("schema", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("report.json does not match its schema: %v", err)
	}

	recs, err := csv.NewReader(bytes.NewReader(answers.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(recs[0], "tool_calls")
	if col < 0 || recs[0][col-1] != "steps" || recs[0][col+1] != "tool_errors" || recs[0][col+2] != "data_id" {
		t.Fatalf("answers.csv header %v", recs[0])
	}
	var got []string
	for _, rec := range recs[1:] {
		got = append(got, rec[col-1]+"/"+rec[col]+"/"+rec[col+1])
	}
	if want := []string{"1/0/0", "3/3/1", "1/0/0", "2/1/0", "1/0/0", "3/2/1"}; !slices.Equal(got, want) {
		t.Errorf("steps/tool calls/tool errors per cell %v, want %v", got, want)
	}

	data := pageData(t, html.String())
	if strings.Contains(html.String(), "window.__pwned") {
		t.Error("a tool result appears in the page source as markup")
	}
	var page struct {
		Groups  []struct{ Agent *jsonAgent } `json:"groups"`
		Answers []struct {
			X []htmlSpan      `json:"x"`
			F [][]any         `json:"f"`
			D [][2]any        `json:"d"`
			G int             `json:"g"`
			R json.RawMessage `json:"r"`
		} `json:"answers"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		t.Fatal(err)
	}
	if page.Groups[1].Agent == nil || page.Groups[1].Agent.ToolCalls != 6 {
		t.Errorf("the page's groups lack agent figures: %+v", page.Groups[1].Agent)
	}
	texts := map[float64]string{}
	for _, a := range page.Answers {
		for _, d := range a.D {
			texts[d[0].(float64)] = d[1].(string)
		}
	}
	var spans, judges int
	for _, a := range page.Answers {
		if a.G == 0 {
			if a.X != nil || len(a.F[0]) > 7 {
				t.Error("a plain answer carries a trace in the page")
			}
			continue
		}
		spans += len(a.X)
		for _, x := range a.X {
			if x.Ou == nil {
				continue
			}
			out := texts[float64(*x.Ou)]
			if len(out) > pageExcerpt {
				t.Errorf("a tool result of %d bytes in the page, over %d", len(out), pageExcerpt)
			}
			if strings.HasPrefix(out, "A long page") && (!x.X || !strings.HasSuffix(out, trace.Marker)) {
				t.Error("the long tool result is not marked as cut")
			}
		}
		if len(a.F) > 0 && len(a.F[0]) > 7 {
			judges++
		}
	}
	if spans != 14 || judges != 2 {
		t.Errorf("the page holds %d agent spans and %d verdicts with judge calls, want 14 and 2", spans, judges)
	}
}

// pageData decodes the data a report.html embeds.
func pageData(t *testing.T, html string) []byte {
	t.Helper()
	const open = `<script type="application/octet-stream" id="evalctl-data">`
	i := strings.Index(html, open)
	j := strings.Index(html[i:], "</script>")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(html[i+len(open) : i+j]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A run without agents keeps its columns, and its page no trace.
func TestNoAgentColumnsWithoutAgents(t *testing.T) {
	plan, results := fixture(t)
	for i := range results {
		// Traced as a run of schema 6 records plain cells: one generation.
		now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		results[i].Steps = []trace.Span{{Kind: trace.KindGeneration, Step: 1, Start: now, End: now.Add(time.Second)}}
	}
	lay := plan.Layout()
	cmp := Compare(lay, results)
	if cmp.Agents() || HasAgents(lay) {
		t.Fatal("a plain run counts as one with agents")
	}
	var table, answers bytes.Buffer
	WriteTable(&table, cmp)
	WriteAnswersCSV(&answers, lay, Slice(results), CSVOptions{})
	golden(t, "table.golden", table.Bytes())
	golden(t, "answers.golden.csv", answers.Bytes())
}
