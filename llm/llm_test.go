package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParseModelRef(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "openai:gpt-4.1-mini", want: "openai:gpt-4.1-mini"},
		{in: " ollama:llama3.2:3b ", want: "ollama:llama3.2:3b"},
		{in: "gpt-4", err: `model "gpt-4": want provider:model`},
		{in: "openai:", err: "want provider:model"},
		{in: "Open AI:x", err: `provider "Open AI" must be`},
	}
	for _, tc := range tests {
		got, err := ParseModelRef(tc.in)
		if tc.err != "" {
			if err == nil || !contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("%q: got %v %v", tc.in, got, err)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Kind: KindServer, Status: 500, Model: "openai:x", Msg: "boom", Attempts: 3}
	if got := e.Error(); got != "openai:x: server (HTTP 500): boom after 3 attempts" {
		t.Error(got)
	}
	if AsError(fmt.Errorf("w: %w", context.Canceled)).Kind != KindCanceled {
		t.Error("canceled not classified")
	}
	if !KindAuth.Fatal() || KindServer.Fatal() {
		t.Error("Fatal")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestParamsValidate(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	seed := -7
	tests := []struct {
		name string
		p    Params
		want string // "" for valid
	}{
		{"none set", Params{}, ""},
		{"bounds", Params{Temperature: f(0), TopP: f(1), MaxTokens: 1, Seed: &seed}, ""},
		{"upper bounds", Params{Temperature: f(2), TopP: f(0)}, ""},
		{"temperature above 2", Params{Temperature: f(2.5)}, "temperature: 2.5 is not between 0 and 2"},
		{"negative temperature", Params{Temperature: f(-0.1)}, "temperature: -0.1 is not between 0 and 2"},
		{"NaN temperature", Params{Temperature: f(math.NaN())}, "temperature: NaN is not between 0 and 2"},
		{"infinite temperature", Params{Temperature: f(math.Inf(1))}, "temperature: +Inf is not between 0 and 2"},
		{"top_p above 1", Params{TopP: f(1.5)}, "top_p: 1.5 is not between 0 and 1"},
		{"NaN top_p", Params{TopP: f(math.NaN())}, "top_p: NaN is not between 0 and 1"},
		{"-Inf top_p", Params{TopP: f(math.Inf(-1))}, "top_p: -Inf is not between 0 and 1"},
		{"negative max_tokens", Params{MaxTokens: -5}, "max_tokens: -5 is negative: set at least 1, or leave it out for the provider's default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *ParamError
			if err == nil || err.Error() != tc.want || !errors.As(err, &pe) {
				t.Fatalf("error = %v, want the *ParamError %q", err, tc.want)
			}
		})
	}
}
