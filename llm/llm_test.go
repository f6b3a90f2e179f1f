package llm

import (
	"context"
	"fmt"
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
