package batch_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/batch"
	"github.com/evalctl/evalctl/llm/transport"
)

const okLine = `{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"req_1","body":{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4.1-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello sk-secret-key-123"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}},"error":null}`

func errLine(id string, status int, code, msg string) string {
	c := "null"
	if code != "" {
		c = `"` + code + `"`
	}
	return `{"id":"batch_req_x","custom_id":"` + id + `","response":{"status_code":` + itoa(status) + `,"request_id":"req_x","body":{"error":{"message":"` + msg + `","type":"t","param":null,"code":` + c + `}}},"error":null}`
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func TestParseResults(t *testing.T) {
	red := &transport.Redactor{}
	red.Add("sk-secret-key-123")
	for _, tc := range []struct {
		name   string
		line   string
		kind   llm.Kind // KindUnknown with ok: an answer
		ok     bool
		status int
		code   string
	}{
		{"answer", okLine, 0, true, 0, ""},
		{"server error", errLine("a", 500, "", "boom"), llm.KindServer, false, 500, ""},
		{"rate limited", errLine("a", 429, "rate_limit_exceeded", "slow down"), llm.KindRateLimited, false, 429, "rate_limit_exceeded"},
		{"quota, whatever the status", errLine("a", 400, "insufficient_quota", "no money"), llm.KindRateLimited, false, 400, "insufficient_quota"},
		{"bad request", errLine("a", 400, "", "bad param"), llm.KindClient, false, 400, ""},
		{"auth", errLine("a", 401, "invalid_api_key", "sk-secret-key-123 is wrong"), llm.KindAuth, false, 401, "invalid_api_key"},
		{"unknown model", errLine("a", 404, "model_not_found", "gone"), llm.KindNotFound, false, 404, "model_not_found"},
		{"expired", `{"id":"x","custom_id":"a","response":null,"error":{"code":"batch_expired","message":"too late"}}`, llm.KindTimeout, false, 0, batch.CodeExpired},
		{"cancelled", `{"id":"x","custom_id":"a","response":null,"error":{"code":"batch_cancelled","message":"stopped"}}`, llm.KindCanceled, false, 0, batch.CodeCancelled},
		{"other batch error", `{"custom_id":"a","error":{"code":"weird","message":"?"}}`, llm.KindUnknown, false, 0, "weird"},
		{"numeric code", `{"custom_id":"a","error":{"code":42,"message":"?"}}`, llm.KindUnknown, false, 0, "42"},
		{"neither", `{"custom_id":"a"}`, llm.KindMalformed, false, 0, ""},
		{"200 that is not a completion", `{"custom_id":"a","response":{"status_code":200,"body":"hello"}}`, llm.KindMalformed, false, 200, ""},
		{"200 without choices", `{"custom_id":"a","response":{"status_code":200,"body":{"choices":[]}}}`, llm.KindMalformed, false, 200, ""},
		{"odd status", `{"custom_id":"a","response":{"status_code":99,"body":{}}}`, llm.KindMalformed, false, 99, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := batch.ParseResults([]byte(tc.line+"\n"), "openai", red)
			if err != nil {
				t.Fatal(err)
			}
			o, found := got["a"]
			if !found || len(got) != 1 {
				t.Fatalf("%v", got)
			}
			if tc.ok {
				r := o.Response
				if o.Err != nil || r.Text != "Hello [REDACTED]" || r.Usage.Total() != 11 || r.FinishReason != "stop" || r.Attempts != 1 {
					t.Errorf("%+v %v", r, o.Err)
				}
				return
			}
			if o.Err == nil || o.Err.Kind != tc.kind || o.Err.Status != tc.status || o.Code != tc.code || o.Err.Msg == "" {
				t.Fatalf("%+v %+v, want %v %d %q", o, o.Err, tc.kind, tc.status, tc.code)
			}
			if strings.Contains(o.Err.Error(), "sk-secret-key-123") {
				t.Errorf("secret in %v", o.Err)
			}
		})
	}
}

func TestParseResultsSkipsWhatItCannotRead(t *testing.T) {
	data := strings.Join([]string{
		errLine("a", 500, "", "first an error"),
		okLine, // then an answer for a: the answer wins
		"not json",
		`{"response":null}`, // no custom id
		errLine("b", 500, "", "b fails"),
		errLine("b", 400, "", "b fails again"), // the first error wins
		"",
	}, "\r\n")
	got, err := batch.ParseResults([]byte(data), "openai", nil)
	if err == nil || !strings.Contains(err.Error(), "2 unreadable lines") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("err %v", err)
	}
	if len(got) != 2 || got["a"].Err != nil || got["b"].Err == nil || got["b"].Err.Status != 500 {
		t.Errorf("%+v", got)
	}
}

// The results files are the vendor's text: whatever they hold, parsing
// neither panics nor yields an outcome that is both or neither.
func FuzzParseResults(f *testing.F) {
	f.Add([]byte(okLine + "\n" + errLine("b", 429, "rate_limit_exceeded", "x") + "\n"))
	f.Add([]byte(`{"custom_id":"a","response":null,"error":{"code":"batch_expired","message":"late"}}`))
	f.Add([]byte(`{"custom_id":"a","response":{"status_code":200,"body":{"choices":[{"message":{"tool_calls":[{"id":"1","function":{"name":"f","arguments":"{"}}]}}],"usage":{"prompt_tokens":-5,"completion_tokens":99999999999}}}}`))
	f.Add([]byte(`{"custom_id":"a","error":{}}`))
	f.Add([]byte("\n\n{}\n[]\nnull\n\"x\"\n{\"custom_id\":7}"))
	f.Add([]byte(`{"custom_id":"\u0000","response":{"status_code":-1,"body":{"error":{"code":{"a":1},"message":5}}}}`))
	red := &transport.Redactor{}
	red.Add("sk-fuzz-secret-000")
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := batch.ParseResults(data, "openai", red)
		if got == nil {
			t.Fatal("nil map")
		}
		if err != nil && strings.Contains(err.Error(), "sk-fuzz-secret-000") {
			t.Errorf("secret in %v", err)
		}
		for id, o := range got {
			if id == "" {
				t.Error("empty custom id")
			}
			if o.Err == nil {
				if o.Code != "" {
					t.Errorf("%q: an answer with code %q", id, o.Code)
				}
				u := o.Response.Usage
				if u.PromptTokens < 0 || u.CompletionTokens < 0 || u.PromptTokens > 1<<30 || u.CompletionTokens > 1<<30 {
					t.Errorf("%q: usage %+v", id, u)
				}
				if strings.Contains(o.Response.Text, "sk-fuzz-secret-000") {
					t.Errorf("%q: secret in the answer", id)
				}
				continue
			}
			if o.Err.Msg == "" || o.Err.Attempts != 1 || len(o.Err.Msg) > 2000 {
				t.Errorf("%q: error %+v", id, o.Err)
			}
			if strings.Contains(o.Err.Error(), "sk-fuzz-secret-000") {
				t.Errorf("%q: secret in %v", id, o.Err)
			}
			if !utf8.ValidString(o.Err.Msg) && utf8.Valid(data) {
				t.Errorf("%q: message not UTF-8", id)
			}
		}
	})
}
