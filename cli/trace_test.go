package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/trace"
)

// The -update flag rewrites the cli package's golden files (go test ./cli
// -run Trace -update). It is defined here unless another test file of the
// package defines it (package variables are set before init runs).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func goldenFile(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updateGolden() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run Trace -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./cli -run Trace -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// The run that the trace tests read: it is written straight into a real
// store, since the agent loop's tool side is not part of these tests.
const tracedRunID = "20261122-221000-abcdef"

// testSecret stands for an API key that a model echoed into its answer.
const testSecret = "sk-test-0123456789abcdef"

func tracedRecords() (eval.Layout, []eval.Record) {
	t0 := time.Date(2026, 11, 22, 22, 10, 0, 123456789, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms)*time.Millisecond + 7) }
	agent := eval.VariantSpec{Label: "searcher", Prompt: eval.PromptRef{Name: "basic", Version: "0badcafe"}, Model: eval.ModelSpec{Ref: "sim:a"},
		Agent: &eval.AgentSpec{Tools: []eval.ToolServerSpec{{Name: "web", Command: []string{"evalctl", "sim", "mcp"}}}, MaxSteps: 4}}
	agent.ID = agent.Key()
	plain := eval.VariantSpec{Prompt: eval.PromptRef{Name: "basic", Version: "0badcafe"}, Model: eval.ModelSpec{Ref: "sim:b"}}
	plain.ID = plain.Key()
	pass, fail := true, false
	one, zero := 1.0, 0.0
	lay := eval.Layout{Variants: []eval.VariantSpec{agent, plain}, Scorers: []string{"enough_words", "correctness"}, Rows: 2, Repeat: 1,
		Columns: []string{"id", "question", "expectations"}}
	q1 := map[string]string{"id": "q1", "question": "What is Git?", "expectations": "mentions version control"}
	q2 := map[string]string{"id": "q2", "question": "What is a \x1b[31mcommit\x1b[0m?", "expectations": ""}
	recs := []eval.Record{
		{Index: 0, RowID: "q1", Line: 2, Vars: q1, Variant: agent, System: "You are terse.", Input: "Question: What is Git?",
			Answer: "A distributed version control system.", FinishReason: "stop", Usage: llm.Usage{PromptTokens: 300, CompletionTokens: 40},
			Latency: 420 * time.Millisecond, Attempts: 2,
			Steps: []trace.Span{
				{Kind: trace.KindGeneration, Step: 1, Start: at(0), End: at(120), Model: "sim:a", Output: "Let me search.", ToolCalls: 3,
					FinishReason: "tool_calls", Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 20}, Attempts: 1},
				{Kind: trace.KindTool, Step: 1, Start: at(121), End: at(171), Server: "web", Tool: "web_search", CallID: "call_1",
					Args: `{"q":"what is git"}`, Output: "Git is a distributed version control system.\nIt tracks changes.", Cached: true},
				{Kind: trace.KindTool, Step: 1, Start: at(121), End: at(30121), Server: "web", Tool: "fetch", CallID: "call_2",
					Args: `{"url":"https://git-scm.com"}`, Error: "no result within 30s", ErrorKind: trace.ToolTimeout},
				{Kind: trace.KindTool, Step: 1, Start: at(122), End: at(123), Tool: "calc", CallID: "call_3",
					Args: `{"x":`, Output: "Error: the arguments are not a JSON object", Error: "the arguments are not a JSON object", ErrorKind: trace.ToolBadArgs},
				{Kind: trace.KindGeneration, Step: 2, Start: at(30200), End: at(30500), Model: "sim:a", FinishReason: "stop",
					Usage: llm.Usage{PromptTokens: 200, CompletionTokens: 20}, Attempts: 1},
			},
			Feedback: []scorers.Feedback{
				{Scorer: "enough_words", Value: 5.0, Pass: &fail, Score: &zero, Rationale: "5 words, want at least 11"},
				{Scorer: "correctness", Value: "yes", Pass: &pass, Score: &one, Rationale: "It says version control.", JudgeModel: "sim:judge",
					Usage: llm.Usage{PromptTokens: 80, CompletionTokens: 6}, Attempts: 1,
					Spans: []trace.Span{{Kind: trace.KindJudge, Scorer: "correctness", Start: at(31000), End: at(31400), Model: "sim:judge",
						Input:  "[system]\nYou grade answers.\n[user]\n<answer-x1>A distributed version control system.</answer-x1>\nDoes it mention version control?",
						Output: `{"rationale":"It says version control.","verdict":"yes"}`, FinishReason: "stop",
						Usage: llm.Usage{PromptTokens: 80, CompletionTokens: 6}, Attempts: 1}}},
			}},
		{Index: 1, RowID: "q1", Line: 2, Vars: q1, Variant: plain, Input: "Question: What is Git?",
			Answer: "Git stores snapshots. Key: " + testSecret, FinishReason: "stop", Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 7}, Attempts: 1,
			Steps: []trace.Span{{Kind: trace.KindGeneration, Step: 1, Start: at(3), End: at(803), Model: "sim:b", FinishReason: "stop",
				Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 7}, Attempts: 1}},
			Feedback: []scorers.Feedback{
				{Scorer: "enough_words", Value: 6.0, Pass: &fail, Score: &zero},
				{Scorer: "correctness", Err: "the judge's reply has no verdict", JudgeModel: "sim:judge",
					Spans: []trace.Span{
						{Kind: trace.KindJudge, Scorer: "correctness", Start: at(900), End: at(950), Model: "sim:judge", Attempts: 2,
							Error: "sim:judge: server (HTTP 500) after 2 attempts", ErrorKind: "server"},
					}},
			}},
		{Index: 2, RowID: "q2", Line: 3, Vars: q2, Variant: agent, Input: "Question: What is a commit?", Attempts: 3,
			Err: &llm.Error{Kind: llm.KindRateLimited, Status: 429, Model: "sim:a", Msg: "slow down", Attempts: 3},
			Steps: []trace.Span{{Kind: trace.KindGeneration, Step: 1, Start: at(10), End: at(2010), Model: "sim:a", Attempts: 3,
				Error: "sim:a: rate_limited (HTTP 429): slow down after 3 attempts", ErrorKind: "rate_limited"}}},
		// Recorded before evalctl kept traces: no steps.
		{Index: 3, RowID: "q2", Line: 3, Vars: q2, Variant: plain, Input: "Question: What is a commit?", Answer: "A snapshot.",
			Latency: 300 * time.Millisecond, Attempts: 1,
			Feedback: []scorers.Feedback{{Scorer: "enough_words", Value: 2.0, Pass: &fail, Score: &zero}}},
	}
	return lay, recs
}

// tracedStore writes the traced run into a new store file.
func tracedStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evalctl.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lay, recs := tracedRecords()
	ctx := context.Background()
	run := &store.Run{ID: tracedRunID, Name: "agents", StartedAt: recs[0].Steps[0].Start, Spec: store.Spec{Layout: lay},
		DatasetPath: "questions.csv", Version: "test", Planned: len(recs)}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		st.PutRecord(run.ID, r)
	}
	if err := st.EndRun(ctx, run.ID, eval.StatusComplete); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTraceTimeline(t *testing.T) {
	db := tracedStore(t)
	env := map[string]string{"OPENAI_API_KEY": testSecret}
	var all strings.Builder
	for _, args := range [][]string{
		{"trace", tracedRunID, "0"},
		{"trace", "last", "q1", "--variant", "searcher", "--full"},
		{"trace", "agents", "1"},
		{"trace", "2026", "q2", "--variant", "searcher", "--repeat", "0"},
		{"trace", tracedRunID, "3"},
	} {
		r := run(t, nil, env, append(args, "--store", db)...)
		if r.code != ExitOK {
			t.Fatalf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
		all.WriteString("$ evalctl " + strings.Join(args, " ") + "\n" + r.stdout + "\n")
	}
	out := all.String()
	goldenFile(t, "trace.golden", out)
	if strings.Contains(out, testSecret) {
		t.Error("trace printed an API key")
	}
	if strings.Contains(out, "\x1b") {
		t.Error("trace printed a terminal escape from the dataset")
	}
}

func TestTraceJSON(t *testing.T) {
	db := tracedStore(t)
	r := run(t, nil, nil, "trace", tracedRunID, "0", "--json", "--store", db)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		Run      string       `json:"run"`
		Cell     int          `json:"cell"`
		RowID    string       `json:"row_id"`
		Steps    []trace.Span `json:"steps"`
		Verdicts []struct {
			Scorer string       `json:"scorer"`
			Spans  []trace.Span `json:"spans"`
		} `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	_, recs := tracedRecords()
	if got.Run != tracedRunID || got.RowID != "q1" || len(got.Verdicts) != 1 || got.Verdicts[0].Scorer != "correctness" {
		t.Errorf("got %+v", got)
	}
	if d := cmp.Diff(recs[0].Steps, got.Steps, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("steps differ:\n%s", d)
	}
}

func TestTraceRefusesWhatItCannotFind(t *testing.T) {
	db := tracedStore(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{tracedRunID, "99"}, "run " + tracedRunID + " has no cell 99 (4 cells; a row id works too)"},
		{[]string{tracedRunID, "q9"}, `run ` + tracedRunID + ` has no row "q9"`},
		{[]string{tracedRunID, "q1"}, `row "q1" of run ` + tracedRunID + ` has 2 cells: choose one with --variant (searcher, `},
		{[]string{tracedRunID, "q1", "--variant", "nope"}, `--variant "nope": no variant of run ` + tracedRunID + ` has that label or id`},
		{[]string{tracedRunID, "q1", "--variant", "searcher", "--repeat", "3"}, `row "q1" of run ` + tracedRunID + ` has no cell of that variant and repeat`},
		{[]string{"nope", "0"}, `no such run "nope"`},
		{[]string{tracedRunID, "0", "--repeat", "-1"}, "--repeat must be 0 or more"},
		{[]string{tracedRunID}, "accepts 2 arg(s), received 1"},
	}
	for _, tt := range tests {
		r := run(t, nil, nil, append(append([]string{"trace"}, tt.args...), "--store", db)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("trace %v: exit %d, %s\nwant %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// validOTLP decodes OTLP/JSON into the protobuf schema's TracesData (the
// shape of an ExportTraceServiceRequest), unknown fields refused, after
// turning its hex ids into the base64 that protobuf's JSON mapping expects;
// it checks ids, parents and times, and returns the spans.
func validOTLP(t *testing.T, data []byte) []*tracepb.Span {
	t.Helper()
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				n := map[string]int{"traceId": 32, "spanId": 16, "parentSpanId": 16}[k]
				if s, ok := val.(string); ok && n > 0 {
					b, err := hex.DecodeString(s)
					if err != nil || len(s) != n {
						t.Errorf("%s %q is not %d hex digits", k, s, n)
					}
					x[k] = base64.StdEncoding.EncodeToString(b)
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	b, _ := json.Marshal(doc)
	var td tracepb.TracesData
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(b, &td); err != nil {
		t.Fatalf("not OTLP/JSON per the protobuf schema: %v", err)
	}
	var spans []*tracepb.Span
	byID := map[string]*tracepb.Span{}
	for _, rs := range td.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				spans = append(spans, s)
				byID[string(s.TraceId)+string(s.SpanId)] = s
			}
		}
	}
	for _, s := range spans {
		if s.EndTimeUnixNano < s.StartTimeUnixNano || s.StartTimeUnixNano == 0 {
			t.Errorf("span %s ends before it starts", s.Name)
		}
		if len(s.ParentSpanId) > 0 {
			p := byID[string(s.TraceId)+string(s.ParentSpanId)]
			if p == nil {
				t.Errorf("span %s: no parent in its trace", s.Name)
			} else if s.StartTimeUnixNano < p.StartTimeUnixNano {
				t.Errorf("span %s starts before its parent", s.Name)
			}
		}
	}
	return spans
}

func TestExportOTel(t *testing.T) {
	db := tracedStore(t)
	env := map[string]string{"OPENAI_API_KEY": testSecret}
	out := filepath.Join(t.TempDir(), "traces.json")
	r := run(t, nil, env, "export", "otel", tracedRunID, "-o", out, "--store", db)
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "wrote 3 traces (13 spans) of run "+tracedRunID) || !strings.Contains(r.stderr, "1 cells were recorded before evalctl kept traces") {
		t.Errorf("stderr: %s", r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(testSecret)) || !bytes.Contains(data, []byte("[REDACTED]")) {
		t.Error("the API key in an answer was not redacted")
	}
	spans := validOTLP(t, data)
	names := map[string]int{}
	for _, s := range spans {
		names[s.Name]++
	}
	for name, n := range map[string]int{"invoke_agent searcher": 2, "chat a": 3, "execute_tool web_search": 1, "execute_tool fetch": 1,
		"execute_tool calc": 1, "evaluate correctness": 2, "chat judge": 2, "chat b": 1} {
		if names[name] != n {
			t.Errorf("%d spans named %q, want %d (all: %v)", names[name], name, n, names)
		}
	}

	// -o - writes to stdout: the same document.
	r = run(t, nil, env, "export", "otel", tracedRunID, "-o", "-", "--store", db)
	if r.code != ExitOK || r.stdout != string(data) {
		t.Errorf("-o -: exit %d, %d bytes on stdout, want the file's %d", r.code, len(r.stdout), len(data))
	}
	for _, args := range [][]string{{"export", "otel", tracedRunID}, {"export", "otel", "nope", "-o", "-"}} {
		r = run(t, nil, env, append(args, "--store", db)...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want 2: %s", args, r.code, r.stderr)
		}
	}
}

// storedRun reads a run and its records from a store.
func storedRun(t *testing.T, db, ref string) (*store.Run, []eval.Record) {
	t.Helper()
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.Run(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.Records(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return r, recs
}

// A run with tool steps, exported as OpenTelemetry traces and imported
// back, has the same steps: times to the nanosecond, tools, arguments,
// results and errors.
func TestImportRoundTripOfExportedTraces(t *testing.T) {
	db := tracedStore(t)
	out := filepath.Join(t.TempDir(), "traces.json")
	if r := run(t, nil, nil, "export", "otel", tracedRunID, "-o", out, "--store", db); r.code != ExitOK {
		t.Fatalf("export: exit %d: %s", r.code, r.stderr)
	}
	into := filepath.Join(t.TempDir(), "imported.db")
	r := run(t, nil, nil, "import", out, "--name", "back", "--tag", "src=otel", "--store", into)
	if r.code != ExitOK {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "imported 3 traces (7 steps, 1 failed) of 2 rows × 2 variants") {
		t.Errorf("stderr: %s", r.stderr)
	}
	run2, got := storedRun(t, into, strings.TrimSpace(r.stdout))
	if run2.Name != "back" || run2.Tags["src"] != "otel" || run2.Tags["imported"] != "otlp" || run2.Status != eval.StatusComplete {
		t.Errorf("imported run %+v", run2)
	}
	_, want := tracedRecords()
	want = want[:3] // the untraced cell was not exported
	if len(got) != len(want) {
		t.Fatalf("%d cells imported, want %d", len(got), len(want))
	}
	timeEqual := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
	for i := range want {
		w, g := want[i], got[i]
		if d := cmp.Diff(w.Steps, g.Steps, timeEqual); d != "" {
			t.Errorf("cell %d: steps differ (-exported +imported):\n%s", i, d)
		}
		if g.RowID != w.RowID || g.Input != w.Input || g.System != w.System || g.Variant.ID != w.Variant.ID || g.Variant.Label != w.Variant.Label ||
			g.Variant.Model.Ref != w.Variant.Model.Ref || g.Usage != w.Usage || !cmp.Equal(g.Vars, w.Vars) || (g.Err == nil) != (w.Err == nil) {
			t.Errorf("cell %d: imported %+v\nwant %+v", i, g, w)
		}
		if len(g.Feedback) != 0 {
			t.Errorf("cell %d: an imported run has no verdicts yet, got %v", i, g.Feedback)
		}
	}
	if got[0].Answer != want[0].Answer || got[1].Answer != "Git stores snapshots. Key: "+testSecret {
		t.Errorf("answers %q, %q", got[0].Answer, got[1].Answer)
	}

	// The imported run traces like the original.
	tr := run(t, nil, nil, "trace", "back", "0", "--store", into)
	if tr.code != ExitOK || !strings.Contains(tr.stdout, "web/fetch({\"url\":\"https://git-scm.com\"}) ✗ timeout: no result within 30s") {
		t.Errorf("trace of the imported run: exit %d\n%s%s", tr.code, tr.stdout, tr.stderr)
	}
}
