package sim

import (
	"strings"
	"sync"

	"github.com/evalctl/evalctl/llm/tokens"
)

// lineCounts remembers the token counts of lines. A judge prompt repeats the
// lines of its template, its criteria, its question and (across judges) its
// answer, so counting line by line with a memo costs the simulator a fifth
// of counting every prompt whole: it shares the cores with the client in
// benchmarks, and a vendor's CPU is not what they measure.
type lineCounts struct {
	mu sync.Mutex
	m  map[string]int
}

const maxLines = 100_000

// count returns the tokens of s: its lines counted apart, each run of
// newlines as one token. A token spanning a line end (".\n") is counted as
// two, so the count can exceed OpenAI's by a token or so per line.
func (c *lineCounts) count(s string) int {
	n := 0
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return n + c.line(s)
		}
		n += c.line(s[:i])
		j := i
		for j < len(s) && s[j] == '\n' {
			j++
		}
		n++ // the newlines
		s = s[j:]
	}
	return n
}

func (c *lineCounts) line(s string) int {
	if s == "" {
		return 0
	}
	c.mu.Lock()
	n, ok := c.m[s]
	c.mu.Unlock()
	if ok {
		return n
	}
	n = tokens.Count(s)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxLines {
		c.m = map[string]int{}
	}
	c.m[s] = n
	c.mu.Unlock()
	return n
}

// chat returns the prompt tokens of messages, with OpenAI's chat framing.
func (c *lineCounts) chat(contents []string) int {
	n := tokens.PerReply
	for _, s := range contents {
		n += tokens.PerMessage + c.count(s)
	}
	return n
}
