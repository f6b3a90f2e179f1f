package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/evalctl/evalctl/llm/tokens"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, url, key string, body any) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url+"/chat/completions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp, m
}

func chat(model, system, user string) map[string]any {
	return map[string]any{"model": model, "messages": []map[string]string{{"role": "system", "content": system}, {"role": "user", "content": user}}}
}

func content(m map[string]any) string {
	return m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
}

func TestAnswersDependOnModelAndPrompt(t *testing.T) {
	srv, err := Start("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	words := func(model, prompt string) (int, string) {
		_, m := post(t, srv.URL, "", chat(model, "You are a professor.", "Category: Git\nQuestion: What is a commit?\n"+prompt))
		c := content(m)
		return len(strings.Fields(c)), c
	}
	concise, c1 := words("a", "Answer the question above.")
	academic, _ := words("a", "Provide a rigorous, academically sound answer.")
	again, c2 := words("a", "Answer the question above.")
	_, other := words("b", "Answer the question above.")
	if concise >= academic {
		t.Errorf("concise %d words, academic %d", concise, academic)
	}
	if again != concise || c1 != c2 {
		t.Error("not deterministic")
	}
	if other == c1 {
		t.Error("models answer alike")
	}
	if !strings.Contains(strings.ToLower(c1), "a commit") {
		t.Errorf("answer does not address the question: %q", c1)
	}
}

func TestUsageAndMaxTokens(t *testing.T) {
	srv, _ := Start("127.0.0.1:0", Options{})
	defer srv.Close()
	body := chat("a", "", "Question: What is software?\nProvide a rigorous, academic answer.")
	body["max_tokens"] = 20
	_, m := post(t, srv.URL, "", body)
	u := m["usage"].(map[string]any)
	if u["completion_tokens"].(float64) > 20 || u["prompt_tokens"].(float64) == 0 {
		t.Errorf("usage %v", u)
	}
	// Usage is counted with OpenAI's tokenizer and chat framing (line by
	// line: within a token a line of OpenAI's count).
	if want := tokens.Chat("", "Question: What is software?\nProvide a rigorous, academic answer."); abs(int(u["prompt_tokens"].(float64))-want) > 1 {
		t.Errorf("prompt_tokens %v, want %d", u["prompt_tokens"], want)
	}
	if got, want := int(u["completion_tokens"].(float64)), tokens.Count(content(m)); got != want {
		t.Errorf("completion_tokens %d, want %d", got, want)
	}
	if fr := m["choices"].([]any)[0].(map[string]any)["finish_reason"]; fr != "length" {
		t.Errorf("finish_reason %v", fr)
	}
}

func TestJudgeReplies(t *testing.T) {
	srv, _ := Start("127.0.0.1:0", Options{})
	defer srv.Close()
	judge := func(criteria, answer string) map[string]string {
		p := fmt.Sprintf("Judge.\n\n<<<CRITERIA-ab12>>>\n%s\n<<<END-CRITERIA-ab12>>>\n\n<<<QUESTION-ab12>>>\nQuestion: What is an algorithm?\n<<<END-QUESTION-ab12>>>\n\n<<<ANSWER-ab12>>>\n%s\n<<<END-ANSWER-ab12>>>\n\nReply {\"rationale\": \"...\", \"result\": \"yes\" or \"no\"}", criteria, answer)
		_, m := post(t, srv.URL, "", map[string]any{"model": "judge", "messages": []map[string]string{{"role": "user", "content": p}}})
		var v map[string]string
		if err := json.Unmarshal([]byte(content(m)), &v); err != nil {
			t.Fatalf("judge reply is not JSON: %v", err)
		}
		return v
	}
	if v := judge("The answer should be in English.", "An algorithm is a finite sequence of steps."); v["result"] != "yes" || v["rationale"] == "" {
		t.Errorf("%v", v)
	}
	if v := judge("The answer should be in English.", "Un algoritmo è una sequenza finita di passi."); v["result"] != "no" {
		t.Errorf("%v", v)
	}
	if v := judge(`should mention "inputs" and "outputs"`, "It maps inputs to outputs."); v["result"] != "yes" {
		t.Errorf("%v", v)
	}
	if v := judge(`should mention "inputs"; should not say "magic"`, "Inputs by magic."); v["result"] != "no" {
		t.Errorf("%v", v)
	}
	if srv.Stats().Judge != 4 {
		t.Errorf("stats %+v", srv.Stats())
	}
}

func TestVendorErrors(t *testing.T) {
	srv, _ := Start("127.0.0.1:0", Options{APIKey: "sk-good-000000", Models: []string{"a"}, RPM: 60})
	defer srv.Close()
	resp, m := post(t, srv.URL, "sk-bad-999999", chat("a", "", "hi"))
	if resp.StatusCode != 401 || !strings.Contains(fmt.Sprint(m["error"]), "sk-bad-999999") {
		t.Errorf("401: %d %v", resp.StatusCode, m)
	}
	resp, _ = post(t, srv.URL, "sk-good-000000", chat("nope", "", "hi"))
	if resp.StatusCode != 404 {
		t.Errorf("unknown model: %d", resp.StatusCode)
	}
	resp, _ = post(t, srv.URL, "sk-good-000000", chat("a", "", "hi"))
	if resp.StatusCode != 200 {
		t.Errorf("first request: %d", resp.StatusCode)
	}
	resp, m = post(t, srv.URL, "sk-good-000000", chat("a", "", "hi again"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Retry-After-Ms") == "" {
		t.Errorf("over the RPM limit: %d %v %v", resp.StatusCode, resp.Header, m)
	}
	resp, _ = post(t, srv.URL, "sk-good-000000", map[string]any{"model": "a"})
	if resp.StatusCode != 400 {
		t.Errorf("no messages: %d", resp.StatusCode)
	}
}

func TestFaultsAreDeterministicPerAttempt(t *testing.T) {
	outcomes := func() []int {
		srv, _ := Start("127.0.0.1:0", Options{FailRate: 0.3, RateLimitRate: 0.2, GarbageRate: 0.1, Seed: 9})
		defer srv.Close()
		var codes []int
		for i := range 40 {
			resp, _ := post(t, srv.URL, "", chat("a", "", fmt.Sprintf("q%d", i%10)))
			codes = append(codes, resp.StatusCode)
		}
		return codes
	}
	a, b := outcomes(), outcomes()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("fault sequence differs:\n%v\n%v", a, b)
	}
	seen := map[int]bool{}
	for _, c := range a {
		seen[c] = true
	}
	if !seen[200] || !seen[500] || !seen[429] {
		t.Errorf("codes %v", a)
	}
}

func TestTemperatureVariesRepeats(t *testing.T) {
	srv, _ := Start("127.0.0.1:0", Options{})
	defer srv.Close()
	body := chat("a", "", "Question: What is a branch?")
	_, m1 := post(t, srv.URL, "", body)
	_, m2 := post(t, srv.URL, "", body)
	if content(m1) != content(m2) {
		t.Error("without a temperature, identical requests must get identical answers")
	}
	body["temperature"] = 0.9
	seen := map[string]bool{}
	for range 6 {
		_, m := post(t, srv.URL, "", body)
		seen[content(m)] = true
	}
	if len(seen) < 2 {
		t.Error("with temperature 0.9, repeats never vary")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
