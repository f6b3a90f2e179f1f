package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/openai"
	"github.com/evalctl/evalctl/llm/transport"
)

// Error codes of requests that a batch did not run, as OpenAI writes them
// in error files.
const (
	CodeExpired   = "batch_expired"
	CodeCancelled = "batch_cancelled"
)

// Outcome is what became of one request: a Response, or an Err.
//
// Kinds of Err: a request answered with an HTTP error status gets the kind
// the interactive client gives that status (429 and the codes
// rate_limit_exceeded and insufficient_quota → KindRateLimited, 5xx →
// KindServer, other 4xx → KindClient, 401/403 → KindAuth, 404 →
// KindNotFound); a 200 whose body is not a chat completion is
// KindMalformed. A request the batch never ran has Code batch_expired
// (KindTimeout: not answered within the completion window; it may be sent
// again, in a new batch or interactively) or batch_cancelled
// (KindCanceled); other codes of that kind are KindUnknown.
type Outcome struct {
	// Response is the answer when Err is nil. A batch has no per-request
	// latency: Latency is 0 and Attempts 1.
	Response llm.Response
	Err      *llm.Error
	// Code is the vendor's error code, when it gave one
	// ("batch_expired", "rate_limit_exceeded", ...).
	Code string
}

// Expired reports whether the request was not run before its batch's
// completion window ended.
func (o Outcome) Expired() bool { return o.Code == CodeExpired }

// resultLine is a line of an output or error file.
type resultLine struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *vendorError `json:"error"`
}

type vendorError struct {
	Code    json.RawMessage `json:"code"` // a string, sometimes a number or null
	Message string          `json:"message"`
	Type    string          `json:"type"`
}

func (e *vendorError) code() string {
	if e == nil || len(e.Code) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(e.Code, &s) == nil {
		return s
	}
	if string(e.Code) == "null" {
		return ""
	}
	return strings.Trim(string(e.Code), `"`)
}

// ParseResults reads the lines of a batch's output or error file: untrusted
// vendor text. Every line with a custom id gets an Outcome, whatever else is
// wrong with it (a 200 that is not a chat completion is a KindMalformed
// error). Lines that cannot be read at all, or that have no custom id, are
// skipped and counted in the error, which comes with the outcomes of the
// other lines. When a custom id appears twice, an answer beats an error, and
// otherwise the first line wins. provider names the models in errors
// ("openai:MODEL"); red scrubs secrets from texts and messages.
func ParseResults(data []byte, provider string, red *transport.Redactor) (map[string]Outcome, error) {
	out := map[string]Outcome{}
	bad, firstBad := 0, ""
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var l resultLine
		err := json.Unmarshal(line, &l)
		if err == nil && l.CustomID == "" {
			err = fmt.Errorf("no custom_id")
		}
		if err != nil {
			if bad == 0 {
				firstBad = fmt.Sprintf("line %d: %v", n, err)
			}
			bad++
			continue
		}
		o := outcome(&l, provider, red)
		if prev, dup := out[l.CustomID]; dup && (prev.Err == nil || o.Err != nil) {
			continue
		}
		out[l.CustomID] = o
	}
	if bad > 0 {
		return out, fmt.Errorf("batch results: %d unreadable lines (%s)", bad, red.Redact(firstBad))
	}
	return out, nil
}

func outcome(l *resultLine, provider string, red *transport.Redactor) Outcome {
	fail := func(kind llm.Kind, status int, model, code, msg string) Outcome {
		e := &llm.Error{Kind: kind, Status: status, Msg: truncate(red.Redact(msg), 500), Attempts: 1}
		if model != "" {
			e.Model = provider + ":" + model
		}
		return Outcome{Err: e, Code: code}
	}
	if l.Response == nil {
		if l.Error == nil {
			return fail(llm.KindMalformed, 0, "", "", "a result line with neither a response nor an error")
		}
		code := l.Error.code()
		msg := strings.TrimPrefix(code+": "+strings.TrimSpace(l.Error.msg()), ": ")
		if msg == "" {
			msg = "the batch did not run this request, and gave no reason"
		}
		switch {
		case code == CodeExpired:
			return fail(llm.KindTimeout, 0, "", code, msg)
		case code == CodeCancelled:
			return fail(llm.KindCanceled, 0, "", code, msg)
		case rateCode(code):
			return fail(llm.KindRateLimited, 0, "", code, msg)
		}
		return fail(llm.KindUnknown, 0, "", code, msg)
	}
	status := l.Response.StatusCode
	var head struct {
		Model string       `json:"model"`
		Error *vendorError `json:"error"`
	}
	json.Unmarshal(l.Response.Body, &head) // best effort: the model and error of the body
	model := truncate(red.Redact(head.Model), 200)
	if status < 200 || status > 299 {
		code, msg := head.Error.code(), head.Error.msg()
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", status)
			if len(l.Response.Body) > 0 {
				msg += ": " + string(l.Response.Body)
			}
		}
		kind := openai.KindForStatus(status)
		if rateCode(code) || status == http.StatusTooManyRequests {
			kind = llm.KindRateLimited
		}
		if kind == llm.KindUnknown {
			kind = llm.KindMalformed // a status no API answers with
		}
		return fail(kind, status, model, code, msg)
	}
	var resp goopenai.ChatCompletionResponse
	if err := json.Unmarshal(l.Response.Body, &resp); err != nil {
		return fail(llm.KindMalformed, status, model, "", "response body is not a chat completion: "+err.Error())
	}
	r, ok := openai.FromChatResponse(resp, red)
	if !ok {
		return fail(llm.KindMalformed, status, model, "", "response has no choices")
	}
	r.Attempts = 1
	return Outcome{Response: r}
}

func (e *vendorError) msg() string {
	if e == nil {
		return ""
	}
	return e.Message
}

func rateCode(code string) bool {
	return code == "rate_limit_exceeded" || code == "insufficient_quota" || code == "token_limit_exceeded"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
