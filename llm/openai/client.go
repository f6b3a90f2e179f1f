package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/transport"
)

// Config configures a client.
type Config struct {
	// Provider is the model-ref prefix this client serves ("openai", "ollama",
	// "sim", ...), used in error messages.
	Provider string
	// BaseURL of the API including the version path, e.g.
	// "https://api.openai.com/v1" or "http://localhost:11434/v1".
	BaseURL string
	APIKey  string
	// HTTPClient carries the transport (retries, limits); nil means a client
	// over transport.New(nil, transport.DefaultPolicy).
	HTTPClient *http.Client
	// Redactor scrubs secrets from error messages and response text; the
	// APIKey is added to it.
	Redactor *transport.Redactor
	// Azure selects Azure OpenAI: BaseURL is the resource endpoint
	// (https://NAME.openai.azure.com), the model of a request is a
	// deployment name, the key goes in an api-key header, and APIVersion is
	// sent as the api-version query parameter.
	Azure      bool
	APIVersion string
}

// Client is an llm.Client for an OpenAI-compatible chat completions API.
type Client struct {
	cfg Config
	api *goopenai.Client
	// noSchema is set once the server refused a json_schema response format.
	noSchema atomic.Bool
}

// New returns a client.
func New(cfg Config) *Client {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: transport.New(nil, transport.DefaultPolicy)}
	}
	if cfg.Redactor == nil {
		cfg.Redactor = &transport.Redactor{}
	}
	cfg.Redactor.Add(cfg.APIKey)
	oc := goopenai.DefaultConfig(cfg.APIKey)
	if cfg.Azure {
		oc = goopenai.DefaultAzureConfig(cfg.APIKey, strings.TrimRight(cfg.BaseURL, "/"))
		oc.APIVersion = cfg.APIVersion
		oc.AzureModelMapperFunc = func(model string) string { return model } // azure:DEPLOYMENT
	} else if cfg.BaseURL != "" {
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	oc.HTTPClient = patchDoer{cfg.HTTPClient}
	return &Client{cfg: cfg, api: goopenai.NewClientWithConfig(oc)}
}

// reasoningModel matches OpenAI models that take max_completion_tokens.
var reasoningModel = regexp.MustCompile(`^(o\d|gpt-5)`)

// ChatRequest maps req to go-openai's chat completion request, as Complete
// sends it. schema selects the json_schema response format for a request
// with a Schema (false: JSON mode, for servers without structured outputs).
// patch holds the fields go-openai would drop from the JSON (explicit
// zeros of temperature and top_p, which its omitempty loses): they must be
// added to the encoded body, as RequestBody does.
func ChatRequest(req llm.Request, schema bool) (cr goopenai.ChatCompletionRequest, patch map[string]any) {
	cr = goopenai.ChatCompletionRequest{Model: req.Model, Seed: req.Params.Seed}
	for _, m := range req.Messages {
		msg := goopenai.ChatCompletionMessage{Role: m.Role, Content: m.Content, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, goopenai.ToolCall{ID: tc.ID, Type: goopenai.ToolTypeFunction,
				Function: goopenai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		cr.Messages = append(cr.Messages, msg)
	}
	for _, t := range req.Tools {
		fd := &goopenai.FunctionDefinition{Name: t.Name, Description: t.Description}
		if len(t.Parameters) > 0 {
			fd.Parameters = t.Parameters
		} else {
			fd.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		cr.Tools = append(cr.Tools, goopenai.Tool{Type: goopenai.ToolTypeFunction, Function: fd})
	}
	if req.ParallelToolCalls != nil && len(req.Tools) > 0 {
		cr.ParallelToolCalls = *req.ParallelToolCalls
	}
	patch = map[string]any{}
	if t := req.Params.Temperature; t != nil {
		cr.Temperature = float32(*t)
		if *t == 0 {
			patch["temperature"] = 0
		}
	}
	if p := req.Params.TopP; p != nil {
		cr.TopP = float32(*p)
		if *p == 0 {
			patch["top_p"] = 0
		}
	}
	if req.Params.MaxTokens > 0 {
		if reasoningModel.MatchString(req.Model) {
			cr.MaxCompletionTokens = req.Params.MaxTokens
		} else {
			// Ollama, vLLM and older compatible servers know only max_tokens.
			//lint:ignore SA1019 max_tokens is what OpenAI-compatible servers understand
			cr.MaxTokens = req.Params.MaxTokens
		}
	}
	if req.JSON || req.Schema != nil {
		cr.ResponseFormat = &goopenai.ChatCompletionResponseFormat{Type: goopenai.ChatCompletionResponseFormatTypeJSONObject}
	}
	if req.Schema != nil && schema {
		cr.ResponseFormat = &goopenai.ChatCompletionResponseFormat{Type: goopenai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &goopenai.ChatCompletionResponseFormatJSONSchema{Name: req.Schema.Name, Schema: req.Schema.Schema, Strict: true}}
	}
	return cr, patch
}

// RequestBody returns the JSON body Complete sends for req (to a non-Azure
// endpoint), byte for byte: go-openai's encoding of ChatRequest with the
// patch appended. The Batch API client writes it into its input files, so
// that a batched request and an interactive one are the same request.
func RequestBody(req llm.Request, schema bool) ([]byte, error) {
	cr, patch := ChatRequest(req, schema)
	if err := goopenai.NewReasoningValidator().Validate(cr); err != nil {
		return nil, err
	}
	body, err := json.Marshal(cr)
	if err != nil {
		return nil, err
	}
	if len(patch) == 0 {
		return body, nil
	}
	return appendFields(body, patch)
}

// Complete implements llm.Client.
func (c *Client) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	cr, patch := ChatRequest(req, !c.noSchema.Load())
	if len(patch) > 0 {
		ctx = context.WithValue(ctx, patchKey{}, patch)
	}
	ctx, trace := transport.WithTrace(transport.WithModel(ctx, req.Model))
	start := time.Now()
	resp, err := c.api.CreateChatCompletion(ctx, cr)
	attempts, _, queued := trace.Snapshot()
	latency := time.Since(start) - queued // the vendor's time, not our own rate limiting
	if attempts == 0 {
		attempts = 1
	}
	if err != nil {
		e := c.classify(ctx, req.Model, err)
		if req.Schema != nil && !c.noSchema.Load() && e.Kind == llm.KindClient && schemaRefused(e.Msg) {
			// A server without structured outputs: from now on ask this
			// provider for JSON mode, and validate the reply ourselves.
			c.noSchema.Store(true)
			return c.Complete(ctx, req)
		}
		e.Attempts = attempts
		return llm.Response{Latency: latency, Attempts: attempts}, e
	}
	out, ok := FromChatResponse(resp, c.cfg.Redactor)
	out.Latency, out.Attempts = latency, attempts
	if !ok {
		return out, &llm.Error{Kind: llm.KindMalformed, Model: c.ref(req.Model), Msg: "response has no choices", Attempts: attempts}
	}
	return out, nil
}

// FromChatResponse maps a chat completion to an llm.Response (without
// latency and attempts), scrubbing secrets from its text and tool
// arguments with red. ok is false when the completion has no choices.
func FromChatResponse(resp goopenai.ChatCompletionResponse, red *transport.Redactor) (out llm.Response, ok bool) {
	if len(resp.Choices) == 0 {
		return llm.Response{}, false
	}
	ch := resp.Choices[0]
	var calls []llm.ToolCall
	for _, tc := range ch.Message.ToolCalls {
		calls = append(calls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: red.Redact(tc.Function.Arguments)})
	}
	return llm.Response{
		ToolCalls: calls,
		// A server may echo the key in a normal answer (a proxy's debug
		// text, a model asked to repeat its request): it is scrubbed here,
		// before the cache, the store or a report sees it, for answers and
		// judge replies alike.
		Text:         red.Redact(ch.Message.Content),
		FinishReason: string(ch.FinishReason),
		Usage:        llm.Usage{PromptTokens: tokenCount(resp.Usage.PromptTokens), CompletionTokens: tokenCount(resp.Usage.CompletionTokens)},
	}, true
}

// tokenCount takes a token count a server reported, within sense: a
// negative or absurd count (a server that lies) counts as 0, so that totals
// and costs stay true sums.
func tokenCount(n int) int {
	if n < 0 || n > 1<<30 {
		return 0
	}
	return n
}

// schemaRefused reports whether a 400 is a server refusing the json_schema
// response format (vLLM without guided decoding, older compatible servers).
func schemaRefused(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "response_format") || strings.Contains(m, "json_schema") || strings.Contains(m, "response format")
}

func (c *Client) ref(model string) string { return c.cfg.Provider + ":" + model }

// classify maps go-openai and transport errors to llm.Error kinds.
func (c *Client) classify(ctx context.Context, model string, err error) *llm.Error {
	return Classify(ctx, err, c.cfg.Provider, model, c.cfg.Redactor)
}

// Classify maps an error of a call made through go-openai over an
// llm/transport client to an *llm.Error: its kind, HTTP status and a
// message scrubbed of secrets by red. provider and model name the model
// ("provider:model") in the error; an empty model leaves it out.
func Classify(ctx context.Context, err error, provider, model string, red *transport.Redactor) *llm.Error {
	e := &llm.Error{}
	if model != "" {
		e.Model = provider + ":" + model
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	var attErr *transport.AttemptError
	var deadErr *transport.EndpointError
	var synErr *json.SyntaxError
	var typErr *json.UnmarshalTypeError
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		e.Kind, e.Msg = llm.KindCanceled, "canceled"
	case errors.As(err, &apiErr):
		e.Status = apiErr.HTTPStatusCode
		e.Kind = KindForStatus(e.Status)
		e.Msg = apiErr.Message
	case errors.As(err, &reqErr):
		e.Status = reqErr.HTTPStatusCode
		e.Kind = KindForStatus(e.Status)
		e.Msg = strings.TrimSpace(truncate(string(reqErr.Body), 200))
		if e.Msg == "" {
			e.Msg = reqErr.HTTPStatus
		}
	case errors.As(err, &deadErr):
		e.Kind, e.Msg = llm.KindUnreachable, deadErr.Error()
	case errors.As(err, &attErr) && attErr.RateLimited:
		e.Kind, e.Msg = llm.KindRateLimited, "still rate limited after waiting max_wait"
	case errors.As(err, &attErr) && transport.HostNotFound(attErr.Err):
		e.Kind, e.Msg = llm.KindUnreachable, "no such host: "+attErr.Err.Error()
	case errors.As(err, &attErr):
		e.Kind, e.Msg = llm.KindNetwork, attErr.Err.Error()
		if attErr.Timeout {
			e.Kind, e.Msg = llm.KindTimeout, "no response within the attempt timeout"
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Msg = llm.KindTimeout, "deadline exceeded"
	case errors.As(err, &synErr), errors.As(err, &typErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		e.Kind, e.Msg = llm.KindMalformed, "response body is not valid JSON: "+err.Error()
	default:
		e.Kind, e.Msg = llm.KindNetwork, err.Error()
	}
	if e.Kind == llm.KindAuth {
		e.Msg += hintAuth(provider)
	}
	e.Msg = red.Redact(e.Msg)
	return e
}

func hintAuth(provider string) string {
	switch provider {
	case "openai":
		return " (check OPENAI_API_KEY)"
	case "azure":
		return " (check AZURE_OPENAI_API_KEY and the deployment name)"
	}
	return ""
}

// KindForStatus is the kind of a call answered with HTTP status code.
func KindForStatus(code int) llm.Kind {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return llm.KindAuth
	case code == http.StatusNotFound:
		return llm.KindNotFound
	case code == http.StatusTooManyRequests:
		return llm.KindRateLimited
	case code == http.StatusRequestTimeout:
		return llm.KindTimeout
	case code >= 500:
		return llm.KindServer
	case code >= 400:
		return llm.KindClient
	}
	return llm.KindUnknown
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

type patchKey struct{}

// patchDoer sets JSON fields that go-openai omits (explicit zeros) on the
// request body before it goes out. go-openai's omitempty guarantees the keys
// are absent, so they are appended to the top-level object as they are.
type patchDoer struct{ c *http.Client }

func (d patchDoer) Do(req *http.Request) (*http.Response, error) {
	patch, _ := req.Context().Value(patchKey{}).(map[string]any)
	if len(patch) == 0 || req.Body == nil {
		return d.c.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	body, err = appendFields(body, patch)
	if err != nil {
		return nil, fmt.Errorf("patching request body: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return d.c.Do(req)
}

// appendFields adds fields to an encoded JSON object, in key order.
func appendFields(obj []byte, fields map[string]any) ([]byte, error) {
	obj = bytes.TrimRight(obj, " \n\r\t")
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("not a JSON object")
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := append([]byte(nil), obj[:len(obj)-1]...)
	empty := len(bytes.TrimSpace(obj[1:len(obj)-1])) == 0
	for _, k := range keys {
		v, err := json.Marshal(fields[k])
		if err != nil {
			return nil, err
		}
		if !empty {
			out = append(out, ',')
		}
		empty = false
		kb, _ := json.Marshal(k)
		out = append(append(append(out, kb...), ':'), v...)
	}
	return append(out, '}'), nil
}
