package transport

import (
	"math/rand/v2"
	"strings"
	"sync"
)

// Redactor removes registered secrets from text. It is the one place where
// evalctl scrubs API keys out of messages; every error that may carry a
// server's words or a URL passes through it before it is shown or stored.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
}

// Add registers a secret. Values shorter than 8 bytes are ignored: they are
// placeholders ("ollama", "dummy") that would blank out ordinary words, not
// credentials.
func (r *Redactor) Add(secret string) {
	secret = strings.TrimSpace(secret)
	if len(secret) < 8 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if s == secret {
			return
		}
	}
	r.secrets = append(r.secrets, secret)
}

// Redact returns s with every registered secret replaced by "[REDACTED]".
// A nil Redactor returns s unchanged.
func (r *Redactor) Redact(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// jitter returns a uniform value in [-1, 1).
func jitter() float64 { return rand.Float64()*2 - 1 }
