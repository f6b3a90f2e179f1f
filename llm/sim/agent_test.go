package sim

import (
	"encoding/json"
	"strings"
	"testing"
)

var searchTool = map[string]any{"type": "function", "function": map[string]any{"name": "web_search",
	"parameters": json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"},"max_results":{"type":"integer"}},"required":["query"]}`)}}

// toolTurn is one request of a tool loop: the question, then per earlier
// round an assistant tool call and its result.
func toolTurn(model string, results ...string) map[string]any {
	msgs := []any{map[string]any{"role": "user", "content": "Question: What is an algorithm?"}}
	for i, r := range results {
		id := "call_" + string(rune('a'+i))
		msgs = append(msgs, map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": id, "type": "function",
			"function": map[string]any{"name": "web_search", "arguments": `{"query":"an algorithm"}`}}}},
			map[string]any{"role": "tool", "tool_call_id": id, "content": r})
	}
	return map[string]any{"model": model, "messages": msgs, "tools": []any{searchTool}}
}

func message(m map[string]any) map[string]any {
	return m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
}

func TestSimulatedModelsCallTools(t *testing.T) {
	srv, err := Start("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	result := "1. [Algorithm - Wikipedia](https://en.wikipedia.org/wiki/Algorithm)\n   An algorithm is a finite sequence of instructions."

	// Across models, most first turns call the search tool with a query,
	// and most answers after a result cite it; a loop model never stops.
	calls, cites := 0, 0
	for _, model := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		_, m := post(t, srv.URL, "", toolTurn(model))
		msg := message(m)
		if tc, ok := msg["tool_calls"].([]any); ok && len(tc) > 0 {
			calls++
			fn := tc[0].(map[string]any)["function"].(map[string]any)
			if fn["name"] != "web_search" || !strings.Contains(fn["arguments"].(string), "algorithm") {
				t.Errorf("model %s: call %v", model, fn)
			}
			if m["choices"].([]any)[0].(map[string]any)["finish_reason"] != "tool_calls" {
				t.Errorf("model %s: finish reason %v", model, m["choices"])
			}
		}
		_, m = post(t, srv.URL, "", toolTurn(model, result))
		if c, _ := message(m)["content"].(string); strings.Contains(c, "https://en.wikipedia.org/wiki/Algorithm") {
			cites++
		}
	}
	if calls < 5 || calls == 10 {
		t.Errorf("%d of 10 models called the tool at once: want most, not all", calls)
	}
	if cites < 3 || cites == 10 {
		t.Errorf("%d of 10 answers cite the result: want some, not all", cites)
	}
	for n := range 6 {
		results := make([]string, n)
		for i := range results {
			results[i] = result
		}
		_, m := post(t, srv.URL, "", toolTurn("loop", results...))
		if tc, _ := message(m)["tool_calls"].([]any); len(tc) == 0 {
			t.Fatalf("sim:loop stopped calling tools after %d rounds", n)
		}
	}
}

func TestToolArgsFollowTheSchema(t *testing.T) {
	got := toolArgs(json.RawMessage(`{"type":"object","properties":{"message":{"type":"string"},"n":{"type":"number"},
		"kind":{"type":"string","enum":["x","y"]},"opt":{"type":"string"}},"required":["message","n","kind"]}`), "q")
	want := map[string]any{"message": "q", "n": 3, "kind": "x"}
	if len(got) != len(want) || got["message"] != "q" || got["n"] != 3 || got["kind"] != "x" {
		t.Errorf("args %v, want %v", got, want)
	}
}
