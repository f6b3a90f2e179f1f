package reports

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

// traceRecords are cells with every kind of trace: an agent with tool
// calls (one failed, one cached), a plain cell with judge calls, a failed
// generation, an agent that reached max_steps, and a cell recorded before
// traces.
func traceRecords() []eval.Record {
	t0 := time.Date(2026, 11, 22, 22, 10, 0, 123456789, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms)*time.Millisecond + 7) }
	agent := eval.VariantSpec{ID: "a1b2c3d4e5f6", Label: "searcher", Prompt: eval.PromptRef{Name: "basic", Version: "0badcafe"},
		Model: eval.ModelSpec{Ref: "sim:a"}, Agent: &eval.AgentSpec{Tools: []eval.ToolServerSpec{{Name: "web", Command: []string{"evalctl", "sim", "mcp"}}}, MaxSteps: 3}}
	plain := eval.VariantSpec{ID: "0f0f0f0f0f0f", Prompt: eval.PromptRef{Name: "basic", Version: "0badcafe"}, Model: eval.ModelSpec{Ref: "azure:gpt-4o"}}
	pass, fail := true, false
	one, zero := 1.0, 0.0
	return []eval.Record{
		{Index: 0, RowID: "q1", Line: 2, Vars: map[string]string{"question": "What is Git?", "expectations": "mentions commits"},
			Variant: agent, Input: "Question: What is Git?", System: "You are terse.", Answer: "A version control system.", FinishReason: "stop",
			Usage: llm.Usage{PromptTokens: 300, CompletionTokens: 40}, Attempts: 2,
			Steps: []trace.Span{
				{Kind: trace.KindGeneration, Step: 1, Start: at(0), End: at(120), Model: "sim:a", Input: "[user]\nQuestion: What is Git?", Output: "Let me search.",
					ToolCalls: 2, FinishReason: "tool_calls", Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 20}, Attempts: 1},
				{Kind: trace.KindTool, Step: 1, Start: at(121), End: at(171), Server: "web", Tool: "web_search", CallID: "call_1",
					Args: `{"q":"git"}`, Output: "Git is a distributed version control system.\nMore lines.", Cached: true},
				{Kind: trace.KindTool, Step: 1, Start: at(121), End: at(30121), Server: "web", Tool: "fetch", CallID: "call_2",
					Args: `{"url":"https://git-scm.com"}`, Error: "no result within 30s", ErrorKind: trace.ToolTimeout},
				{Kind: trace.KindGeneration, Step: 2, Start: at(30200), End: at(30500), Model: "sim:a", FinishReason: "stop",
					Usage: llm.Usage{PromptTokens: 200, CompletionTokens: 20}, Attempts: 1, Truncated: true},
			},
			Feedback: []scorers.Feedback{
				{Scorer: "words", Value: 4.0, Pass: &fail, Score: &zero},
				{Scorer: "correctness", Value: true, Pass: &pass, Score: &one, Rationale: "It says version control.", JudgeModel: "sim:judge",
					Spans: []trace.Span{{Kind: trace.KindJudge, Scorer: "correctness", Start: at(31000), End: at(31400), Model: "sim:judge",
						Input: "[user]\nIs <answer>A version control system.</answer> correct?", Output: `{"verdict":"yes"}`, FinishReason: "stop",
						Usage: llm.Usage{PromptTokens: 80, CompletionTokens: 6}, Attempts: 1}}},
				{Scorer: "skipped", Skipped: true},
			}},
		{Index: 1, RowID: "q2", Line: 3, Vars: map[string]string{"question": "What is a commit?"}, Variant: plain,
			Input: "Question: What is a commit?", System: "Be brief.", Answer: "A snapshot. sk-secret-123456789", FinishReason: "stop", Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, Attempts: 1,
			Steps: []trace.Span{{Kind: trace.KindGeneration, Step: 1, Start: at(5), End: at(805), Model: "azure:gpt-4o", FinishReason: "stop",
				Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}, Attempts: 1}},
			Feedback: []scorers.Feedback{
				{Scorer: "english", Value: "yes", Pass: &pass, Score: &one, Rationale: "English.", JudgeModel: "sim:judge",
					Spans: []trace.Span{
						{Kind: trace.KindJudge, Scorer: "english", Start: at(900), End: at(950), Model: "sim:judge", Error: "sim:judge: server (HTTP 500)", ErrorKind: "server", Attempts: 1},
						{Kind: trace.KindJudge, Scorer: "english", Start: at(1000), End: at(1100), Model: "sim:judge", Output: "yes", Attempts: 1},
					}},
				{Scorer: "safety", Err: "judge reply unparseable", JudgeModel: "sim:judge",
					Spans: []trace.Span{{Kind: trace.KindJudge, Scorer: "safety", Start: at(900), End: at(990), Model: "sim:judge", Output: "hmm"}}},
			}},
		{Index: 2, RowID: "q3", Line: 4, Vars: map[string]string{"question": "Why?"}, Variant: plain, Input: "Question: Why?", Attempts: 3,
			Err: &llm.Error{Kind: llm.KindRateLimited, Status: 429, Model: "azure:gpt-4o", Msg: "slow down", Attempts: 3},
			Steps: []trace.Span{{Kind: trace.KindGeneration, Step: 1, Start: at(10), End: at(2010), Model: "azure:gpt-4o", Attempts: 3,
				Error: "azure:gpt-4o: rate_limited (HTTP 429): slow down after 3 attempts", ErrorKind: "rate_limited"}}},
		{Index: 3, RowID: "q3", Line: 4, Vars: map[string]string{"question": "Why?"}, Variant: agent, Input: "Question: Why?", Attempts: 1,
			Err: &llm.Error{Kind: llm.KindMaxSteps, Model: "sim:a", Msg: "no final answer after 1 steps: the model kept calling tools (agent max_steps)", Attempts: 1},
			Steps: []trace.Span{
				{Kind: trace.KindGeneration, Step: 1, Start: at(20), End: at(40), Model: "sim:a", Output: "Searching.", ToolCalls: 1, FinishReason: "tool_calls", Attempts: 1},
				{Kind: trace.KindTool, Step: 1, Start: at(41), End: at(42), Server: "web", Tool: "web_search", CallID: "c9", Args: "not json", Output: "Error: arguments are not a JSON object",
					Error: "arguments are not a JSON object", ErrorKind: trace.ToolBadArgs},
			}},
		{Index: 4, RowID: "q4", Line: 5, Vars: map[string]string{"question": "Old?"}, Variant: plain, Input: "Question: Old?", Answer: "Before traces."},
	}
}

func writeTraces(t *testing.T, recs []eval.Record) ([]byte, OTLPStats) {
	t.Helper()
	var b bytes.Buffer
	st, err := WriteOTLP(&b, func(fn func(eval.Record) error) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}, OTLPOptions{RunID: "20261122-221000-abcdef", Version: "v1.2.3",
		Redact: func(s string) string { return strings.ReplaceAll(s, "sk-secret-123456789", "[REDACTED]") }})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), st
}

// validateOTLP decodes OTLP/JSON as the protobuf schema's TracesData (the
// shape of ExportTraceServiceRequest), unknown fields refused, after turning
// the hex ids into the base64 that protobuf's JSON mapping reads (the OTLP
// spec's note on JSON). It checks ids, parents and times.
func validateOTLP(t *testing.T, data []byte) *tracepb.TracesData {
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
				want := map[string]int{"traceId": 32, "spanId": 16, "parentSpanId": 16}[k]
				if s, ok := val.(string); ok && want > 0 {
					b, err := hex.DecodeString(s)
					if err != nil || len(s) != want {
						t.Errorf("%s %q: want %d hex digits", k, s, want)
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
	type key struct{ trace, span string }
	spans := map[key]*tracepb.Span{}
	for _, rs := range td.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				spans[key{string(s.TraceId), string(s.SpanId)}] = s
			}
		}
	}
	for k, s := range spans {
		if len(s.TraceId) != 16 || len(s.SpanId) != 8 {
			t.Errorf("span %s: trace id of %d bytes, span id of %d", s.Name, len(s.TraceId), len(s.SpanId))
		}
		if s.StartTimeUnixNano == 0 || s.EndTimeUnixNano < s.StartTimeUnixNano {
			t.Errorf("span %s: times %d..%d", s.Name, s.StartTimeUnixNano, s.EndTimeUnixNano)
		}
		if len(s.ParentSpanId) == 0 {
			continue
		}
		p, ok := spans[key{k.trace, string(s.ParentSpanId)}]
		if !ok {
			t.Errorf("span %s: its parent is not in its trace", s.Name)
			continue
		}
		if s.StartTimeUnixNano < p.StartTimeUnixNano {
			t.Errorf("span %s starts before its parent %s", s.Name, p.Name)
		}
	}
	return &td
}

// attrMap flattens a span's attributes to text, for assertions.
func attrMap(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		b, _ := protojson.Marshal(kv.Value)
		m[kv.Key] = string(b)
	}
	return m
}

func TestOTLPExportIsValidAndFollowsTheConventions(t *testing.T) {
	data, st := writeTraces(t, traceRecords())
	golden(t, "traces.golden.json", data)
	if st.Cells != 4 || st.Untraced != 1 || st.Spans != 17 {
		t.Errorf("stats %+v, want 4 cells (17 spans) and 1 untraced", st)
	}
	if bytes.Contains(data, []byte("sk-secret")) {
		t.Error("a secret reached the export")
	}
	again, _ := writeTraces(t, traceRecords())
	if !bytes.Equal(data, again) {
		t.Error("two exports of one run differ: ids and layout must be deterministic")
	}
	td := validateOTLP(t, data)
	rs := td.ResourceSpans[0]
	res := map[string]string{}
	for _, kv := range rs.Resource.Attributes {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	if res["service.name"] != "evalctl" || res["evalctl.version"] != "v1.2.3" {
		t.Errorf("resource %v", res)
	}
	byName := map[string][]*tracepb.Span{}
	for _, s := range rs.ScopeSpans[0].Spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	want := map[string]int{"invoke_agent searcher": 2, "chat a": 3, "execute_tool web_search": 2, "execute_tool fetch": 1,
		"evaluate correctness": 1, "chat judge": 4, "chat gpt-4o": 2, "evaluate english": 1, "evaluate safety": 1}
	for name, n := range want {
		if len(byName[name]) != n {
			t.Errorf("%d spans named %q, want %d", len(byName[name]), name, n)
		}
	}
	id := OTLPTraceID("20261122-221000-abcdef", 0)
	agent := byName["invoke_agent searcher"][0]
	if !bytes.Equal(agent.TraceId, id[:]) || agent.ParentSpanId != nil {
		t.Errorf("the agent span is not cell 0's root")
	}
	a := attrMap(agent)
	for k, v := range map[string]string{"gen_ai.operation.name": `{"stringValue":"invoke_agent"}`, "gen_ai.agent.name": `{"stringValue":"searcher"}`,
		"evalctl.run.id": `{"stringValue":"20261122-221000-abcdef"}`, "evalctl.cell.index": `{"intValue":"0"}`, "evalctl.row.id": `{"stringValue":"q1"}`,
		"evalctl.variant.id": `{"stringValue":"a1b2c3d4e5f6"}`, "evalctl.variant.label": `{"stringValue":"searcher"}`,
		"evalctl.score.words": `{"doubleValue":4}`, "evalctl.score.words.pass": `{"boolValue":false}`, "evalctl.score.correctness": `{"boolValue":true}`} {
		if a[k] != v {
			t.Errorf("agent span: %s = %s, want %s", k, a[k], v)
		}
	}
	if _, ok := a["evalctl.score.skipped"]; ok {
		t.Error("a skipped verdict was exported")
	}
	gen := attrMap(byName["chat a"][0])
	for k, v := range map[string]string{"gen_ai.operation.name": `{"stringValue":"chat"}`, "gen_ai.provider.name": `{"stringValue":"sim"}`,
		"gen_ai.request.model": `{"stringValue":"a"}`, "gen_ai.usage.input_tokens": `{"intValue":"100"}`, "gen_ai.usage.output_tokens": `{"intValue":"20"}`,
		"gen_ai.response.finish_reasons": `{"arrayValue":{"values":[{"stringValue":"tool_calls"}]}}`} {
		if gen[k] != v {
			t.Errorf("chat span: %s = %s, want %s", k, gen[k], v)
		}
	}
	if !strings.Contains(gen["gen_ai.output.messages"], `tool_call`) {
		t.Errorf("the first generation's output lacks its tool calls: %s", gen["gen_ai.output.messages"])
	}
	fetch := byName["execute_tool fetch"][0]
	fa := attrMap(fetch)
	if fetch.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || fa["error.type"] != `{"stringValue":"timeout"}` ||
		fa["gen_ai.tool.name"] != `{"stringValue":"fetch"}` || fa["gen_ai.tool.call.id"] != `{"stringValue":"call_2"}` {
		t.Errorf("failed tool span: status %v, attributes %v", fetch.Status, fa)
	}
	plain := attrMap(byName["chat gpt-4o"][0])
	if plain["gen_ai.provider.name"] != `{"stringValue":"azure.ai.openai"}` || plain["evalctl.score.english"] != `{"stringValue":"yes"}` ||
		plain["evalctl.score.safety.error"] == "" {
		t.Errorf("plain cell's root: %v", plain)
	}
	for _, s := range byName["chat judge"] {
		if attrMap(s)["evalctl.scorer"] == "" {
			t.Errorf("judge span without evalctl.scorer")
		}
	}
}

func TestOTLPRoundTrip(t *testing.T) {
	recs := traceRecords()
	data, _ := writeTraces(t, recs)
	cells, err := ReadOTLP("traces.json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	traced := recs[:4]
	if len(cells) != len(traced) {
		t.Fatalf("read %d cells, want %d", len(cells), len(traced))
	}
	timeEqual := cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
	for i, c := range cells {
		want, got := traced[i], c.Record
		id := OTLPTraceID("20261122-221000-abcdef", want.Index)
		if c.TraceID != hex.EncodeToString(id[:]) {
			t.Errorf("cell %d: trace id %s", i, c.TraceID)
		}
		if d := cmp.Diff(want.Steps, got.Steps, timeEqual); d != "" {
			t.Errorf("cell %d: steps differ (-exported +imported):\n%s", i, d)
		}
		answer := strings.ReplaceAll(want.Answer, "sk-secret-123456789", "[REDACTED]")
		if got.RowID != want.RowID || got.Input != want.Input || got.System != want.System || got.Answer != answer ||
			got.FinishReason != want.FinishReason || got.Usage != want.Usage || got.Attempts != want.Attempts {
			t.Errorf("cell %d: read %+v", i, got)
		}
		if d := cmp.Diff(want.Vars, got.Vars); d != "" {
			t.Errorf("cell %d: vars differ:\n%s", i, d)
		}
		v := got.Variant
		if v.Label != want.Variant.Label || v.Prompt != want.Variant.Prompt || v.Model.Ref != want.Variant.Model.Ref {
			t.Errorf("cell %d: variant %+v", i, v)
		}
		if d := cmp.Diff(want.Err, got.Err); d != "" {
			t.Errorf("cell %d: error differs:\n%s", i, d)
		}
	}
}

// A trace of another application, written the way OpenTelemetry's GenAI
// instrumentations write them: spans out of order (exporters batch by end
// time), no evalctl attributes, structured messages.
const foreignTrace = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop-assistant"}}]},
"scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.openai"},"spans":[
{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"EEE19B7EC3C1B173","name":"execute_tool get_weather","kind":1,
 "startTimeUnixNano":"1700000000300000000","endTimeUnixNano":"1700000000400000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},{"key":"gen_ai.tool.name","value":{"stringValue":"get_weather"}},
 {"key":"gen_ai.tool.call.id","value":{"stringValue":"call_VSP"}},{"key":"gen_ai.tool.call.arguments","value":{"kvlistValue":{"values":[{"key":"location","value":{"stringValue":"Paris"}}]}}},
 {"key":"gen_ai.tool.call.result","value":{"stringValue":"rainy, 57°F"}}]},
{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B175","parentSpanId":"EEE19B7EC3C1B173","name":"chat gpt-4o","kind":3,
 "startTimeUnixNano":1700000000500000000,"endTimeUnixNano":1700000000900000000,
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
 {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":200}},
 {"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"It is rainy in Paris.\"}],\"finish_reason\":\"stop\"}]"}},
 {"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}}]},
{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B173","name":"invoke_agent weather","kind":1,
 "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}}]},
{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B172","parentSpanId":"EEE19B7EC3C1B173","name":"chat gpt-4o","kind":3,
 "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
 "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
 {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
 {"key":"gen_ai.system_instructions","value":{"stringValue":"[{\"type\":\"text\",\"content\":\"You help shoppers.\"}]"}},
 {"key":"gen_ai.input.messages","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"role","value":{"stringValue":"user"}},
   {"key":"parts","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[{"key":"type","value":{"stringValue":"text"}},{"key":"content","value":{"stringValue":"Weather in Paris?"}}]}}]}}}]}}]}}},
 {"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"call_VSP\",\"name\":\"get_weather\",\"arguments\":{\"location\":\"Paris\"}}],\"finish_reason\":\"tool_call\"}]"}}]}
]}]}]}`

func TestOTLPImportOfAnotherApplicationsTrace(t *testing.T) {
	cells, err := ReadOTLP("prod.json", strings.NewReader(foreignTrace))
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 1 {
		t.Fatalf("%d cells", len(cells))
	}
	r := cells[0].Record
	if cells[0].TraceID != "5b8efff798038103d269b633813fc60c" || r.Input != "Weather in Paris?" || r.System != "You help shoppers." ||
		r.Answer != "It is rainy in Paris." || r.Variant.Model.Ref != "openai:gpt-4o" || r.FinishReason != "stop" || r.Err != nil {
		t.Errorf("read %+v", r)
	}
	ns := func(n int64) time.Time { return time.Unix(0, 1700000000000000000+n) }
	want := []trace.Span{
		{Kind: trace.KindGeneration, Step: 1, Start: ns(0), End: ns(250000000), Model: "openai:gpt-4o", ToolCalls: 1},
		{Kind: trace.KindTool, Step: 1, Start: ns(300000000), End: ns(400000000), Tool: "get_weather", CallID: "call_VSP",
			Args: `{"location":"Paris"}`, Output: "rainy, 57°F"},
		{Kind: trace.KindGeneration, Step: 2, Start: ns(500000000), End: ns(900000000), Model: "openai:gpt-4o", FinishReason: "stop",
			Usage: llm.Usage{PromptTokens: 200}},
	}
	if d := cmp.Diff(want, r.Steps, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
}

func TestOTLPImportErrorsNameThePlace(t *testing.T) {
	span := func(fields string) string {
		return `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","startTimeUnixNano":"1","endTimeUnixNano":"2",` + fields + `}]}]}]}`
	}
	tests := []struct{ name, in, want string }{
		{"not JSON", "{\n  \"resourceSpans\": [,]}", "t.json:2:21: not OTLP/JSON"},
		{"not traces", `{"resourceMetrics":[]}`, "t.json: not OTLP/JSON traces: no resourceSpans"},
		{"base64 ids", span(`"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXM="`),
			"t.json: resourceSpans[0].scopeSpans[0].spans[0]: traceId: \"W47/95gDgQPSabYzgT/GDA==\" is not 32 hex digits"},
		{"short span id", span(`"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee1"`), "spans[0]: spanId: \"eee1\" is not 16 hex digits"},
		{"zero trace id", span(`"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b174"`), "traceId: \"00000000000000000000000000000000\" is all zeros"},
		{"bad time", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}`, "want unix nanoseconds"},
		{"no spans", `{"resourceSpans":[]}`, "t.json: no spans"},
		{"duplicate span id", `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat m","startTimeUnixNano":"1","endTimeUnixNano":"2"},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"EEE19B7EC3C1B174","name":"execute_tool t","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`,
			"t.json: resourceSpans[0].scopeSpans[0].spans[1]: spanId eee19b7ec3c1b174 is used twice in trace 5b8efff798038103d269b633813fc60c (also resourceSpans[0].scopeSpans[0].spans[0])"},
		{"unknown kind name", span(`"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","kind":"CLIENT"`),
			`kind: "CLIENT" is not a span kind (SPAN_KIND_UNSPECIFIED, SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER, or 0 to 5)`},
		{"unknown status code", span(`"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","status":{"code":"ERROR"}`),
			`status code: "ERROR" is not a status code (STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR, or 0 to 2)`},
		{"nothing GenAI", `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /cart","startTimeUnixNano":"1","endTimeUnixNano":"2",
 "attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}}]}]}]}]}`,
			"t.json: no GenAI spans (1 span, none a chat, execute_tool, invoke_agent or evaluate span, nor with gen_ai.* or evalctl.* attributes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadOTLP("t.json", strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func ExampleOTLPTraceID() {
	id := OTLPTraceID("20261122-221000-abcdef", 3)
	fmt.Println(len(hex.EncodeToString(id[:])))
	// Output: 32
}

// Spans whose parents loop still make a cell (the earliest span is its root).
func TestOTLPImportOfLoopingParents(t *testing.T) {
	in := `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b175","name":"chat m","startTimeUnixNano":"2","endTimeUnixNano":"3"},
{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","parentSpanId":"eee19b7ec3c1b174","name":"execute_tool t","startTimeUnixNano":"1","endTimeUnixNano":"4"}]}]}]}`
	cells, err := ReadOTLP("loop.json", strings.NewReader(in))
	if err != nil || len(cells) != 1 || len(cells[0].Record.Steps) != 2 {
		t.Fatalf("%v %+v", err, cells)
	}
}

// Spans that are not GenAI spans (an HTTP server's, a database's) make no
// cell: a trace of nothing else is skipped, and counted; in a trace with
// GenAI spans they are neither steps nor its root.
func TestOTLPImportSkipsSpansThatAreNotGenAI(t *testing.T) {
	const tr = "5b8efff798038103d269b633813fc60c"
	const other = "6b8efff798038103d269b633813fc60c"
	in := `{"resourceSpans":[{"scopeSpans":[{"spans":[
{"traceId":"` + other + `","spanId":"aaa19b7ec3c1b171","name":"GET /health","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1","endTimeUnixNano":"2",
 "attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}}]},
{"traceId":"` + other + `","spanId":"aaa19b7ec3c1b172","parentSpanId":"aaa19b7ec3c1b171","name":"SELECT","kind":3,"startTimeUnixNano":"1","endTimeUnixNano":"2"},
{"traceId":"` + tr + `","spanId":"eee19b7ec3c1b171","name":"POST /ask","kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"9",
 "status":{"code":"STATUS_CODE_ERROR","message":"HTTP 500"}},
{"traceId":"` + tr + `","spanId":"eee19b7ec3c1b172","parentSpanId":"eee19b7ec3c1b171","name":"chat gpt-4o","kind":"SPAN_KIND_CLIENT",
 "startTimeUnixNano":"2","endTimeUnixNano":"3",
 "attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
 {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"content\":\"Hi?\"}]"}},
 {"key":"gen_ai.output.messages","value":{"stringValue":"[{\"role\":\"assistant\",\"content\":\"Hello.\"}]"}}]}]}]}]}`
	res, err := ReadOTLPTraces("t.json", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cells) != 1 || res.SkippedTraces != 1 || res.SkippedSpans != 3 {
		t.Fatalf("%d cells, skipped %d traces and %d spans; want 1, 1 and 3", len(res.Cells), res.SkippedTraces, res.SkippedSpans)
	}
	c := res.Cells[0]
	r := c.Record
	if c.TraceID != tr || !strings.HasSuffix(c.Place, "spans[3]") || r.Input != "Hi?" || r.Answer != "Hello." || r.Err != nil || len(r.Steps) != 1 ||
		r.Variant.Model.Ref != "openai:gpt-4o" {
		t.Errorf("cell %+v at %s", r, c.Place)
	}
}

// Span kinds and status codes may be enum names, as the protobuf JSON
// mapping allows, or numbers.
func TestOTLPImportEnumNames(t *testing.T) {
	tests := []struct {
		kind, status string
		failed       bool
	}{
		{kind: `3`, status: `2`, failed: true},
		{kind: `"SPAN_KIND_CLIENT"`, status: `"STATUS_CODE_ERROR"`, failed: true},
		{kind: `"3"`, status: `"STATUS_CODE_OK"`},
		{kind: `"SPAN_KIND_INTERNAL"`, status: `"STATUS_CODE_UNSET"`},
		{kind: `0`, status: `0`},
	}
	for _, tc := range tests {
		t.Run(tc.kind+" "+tc.status, func(t *testing.T) {
			in := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b171",
"name":"chat m","kind":` + tc.kind + `,"status":{"code":` + tc.status + `,"message":"boom"},"startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}`
			cells, err := ReadOTLP("t.json", strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if got := cells[0].Record.Err != nil; got != tc.failed {
				t.Errorf("failed = %v, want %v (%+v)", got, tc.failed, cells[0].Record)
			}
		})
	}
}
