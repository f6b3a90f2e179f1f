package tokens

import (
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

var (
	once sync.Once
	enc  tokenizer.Codec
)

func encoding() tokenizer.Codec {
	once.Do(func() {
		if c, err := tokenizer.Get(tokenizer.O200kBase); err == nil {
			enc = c
		}
	})
	return enc
}

// Load reads the embedded encoding now rather than on the first Count.
func Load() { encoding() }

// Count returns the number of tokens in s.
func Count(s string) int {
	if s == "" {
		return 0
	}
	e := encoding()
	if e == nil || !utf8.ValidString(s) {
		// Not reachable with the embedded encoding; keep a sane estimate.
		return (len(s) + 3) / 4
	}
	n, err := e.Count(s)
	if err != nil {
		return (len(s) + 3) / 4
	}
	return n
}

// Per-message framing of the chat format, as OpenAI's cookbook counts it:
// each message costs its content plus 3 tokens (role and separators), and
// every reply is primed with 3 more.
const (
	PerMessage = 3
	PerReply   = 3
)

// Chat returns the prompt tokens of a chat request whose message contents
// are given.
func Chat(contents ...string) int {
	n := PerReply
	for _, c := range contents {
		n += PerMessage + Count(c)
	}
	return n
}
