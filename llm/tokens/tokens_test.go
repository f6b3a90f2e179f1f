package tokens

import (
	"strings"
	"testing"
)

// Counts checked against OpenAI's tiktoken (o200k_base).
func TestCount(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"hello world", 2},
		{"Hello, world!", 4},
		{strings.Repeat(" word", 10), 10},
	} {
		if got := Count(tc.s); got != tc.want {
			t.Errorf("Count(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
	if got := Chat("hello world"); got != 2+PerMessage+PerReply {
		t.Errorf("Chat = %d", got)
	}
}

func TestInvalidUTF8(t *testing.T) {
	if Count("\xff\xfe abc") <= 0 {
		t.Error("invalid UTF-8 counted as nothing")
	}
}

func BenchmarkCount(b *testing.B) {
	s := strings.Repeat("Explain the difference between verification and validation in software engineering. ", 8)
	Count(s)
	b.ResetTimer()
	for b.Loop() {
		Count(s)
	}
}
