package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
)

func TestPlainProgressLines(t *testing.T) {
	var b bytes.Buffer
	pr := newProgress(&b, false, func() int64 { return 500 }, func() string { return "paced: openai:m at 118 rpm" })
	pr.update(eval.Progress{Done: 10, Total: 100})
	if b.Len() != 0 {
		t.Fatalf("a line before %s: %q", plainEvery, b.String())
	}
	pr.next = time.Now().Add(-time.Second) // as if 10 s had passed
	pr.update(eval.Progress{Done: 40, Total: 100, GenErrors: 1, ScorerErrors: 2, Usage: llm.Usage{PromptTokens: 1500, CompletionTokens: 500}})
	line := b.String()
	for _, want := range []string{"evalctl: 40/100 cells (40%)", "calls/s", "eta ", "2.0k tokens", "3 errors", "paced: openai:m at 118 rpm"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	pr.update(eval.Progress{Done: 41, Total: 100})
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("lines come at most every %s: %q", plainEvery, b.String())
	}
	pr.done()
}
