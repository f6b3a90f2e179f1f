package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/evalctl/evalctl/llm"
)

// CacheStats counts cache use. It is safe for concurrent use.
type CacheStats struct{ Hits, Misses int64 }

func (c *CacheStats) hit()  { atomic.AddInt64(&c.Hits, 1) }
func (c *CacheStats) miss() { atomic.AddInt64(&c.Misses, 1) }

// Snapshot reads the counters.
func (c *CacheStats) Snapshot() (hits, misses int64) {
	return atomic.LoadInt64(&c.Hits), atomic.LoadInt64(&c.Misses)
}

// Cached wraps a client with the response cache. endpoint identifies where
// requests go (provider and base URL), so that two servers never share
// entries. With read false the cache is bypassed but still filled.
func (s *Store) Cached(inner llm.Client, endpoint string, read bool, stats *CacheStats) llm.Client {
	return &cached{s: s, inner: inner, endpoint: endpoint, read: read, write: true, stats: stats}
}

// CacheLookup wraps a client with a read-only view of the response cache:
// hits are served, misses go to inner and are not stored (a dry run).
func (s *Store) CacheLookup(inner llm.Client, endpoint string) llm.Client {
	return &cached{s: s, inner: inner, endpoint: endpoint, read: true}
}

type cached struct {
	s        *Store
	inner    llm.Client
	endpoint string
	read     bool
	write    bool
	stats    *CacheStats
}

type cachedResponse struct {
	Text         string         `json:"text"`
	FinishReason string         `json:"finish_reason"`
	ToolCalls    []llm.ToolCall `json:"tool_calls,omitempty"`
	Usage        llm.Usage      `json:"usage"`
	LatencyNS    int64          `json:"latency_ns"`
}

// CacheKey is the hex SHA-256 of the canonical form of a request to endpoint.
func CacheKey(endpoint string, req llm.Request) string {
	b, _ := json.Marshal(struct {
		Endpoint string        `json:"endpoint"`
		Model    string        `json:"model"`
		Messages []llm.Message `json:"messages"`
		Params   llm.Params    `json:"params"`
		JSON     bool          `json:"json"`
		Schema   *llm.Schema   `json:"schema,omitempty"`
		Sample   int           `json:"sample"`
		Tools    []llm.Tool    `json:"tools,omitempty"`
		Parallel *bool         `json:"parallel_tool_calls,omitempty"`
	}{endpoint, req.Model, req.Messages, req.Params, req.JSON, req.Schema, req.Sample, req.Tools, req.ParallelToolCalls})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (c *cached) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	key := CacheKey(c.endpoint, req)
	if c.read {
		var raw string
		err := c.s.r.QueryRowContext(ctx, `SELECT response FROM response_cache WHERE key = ?`, key).Scan(&raw)
		if err == nil {
			var cr cachedResponse
			if json.Unmarshal([]byte(raw), &cr) == nil {
				if c.stats != nil {
					c.stats.hit()
				}
				return llm.Response{Text: cr.Text, FinishReason: cr.FinishReason, ToolCalls: cr.ToolCalls, Usage: cr.Usage,
					Latency: time.Duration(cr.LatencyNS), Cached: true}, nil
			}
		}
	}
	if c.stats != nil {
		c.stats.miss()
	}
	resp, err := c.inner.Complete(ctx, req)
	if err == nil && c.write {
		raw, _ := json.Marshal(cachedResponse{resp.Text, resp.FinishReason, resp.ToolCalls, resp.Usage, int64(resp.Latency)})
		now := time.Now().UnixNano()
		// Committed before the answer is used: whatever a vendor has answered
		// survives a crash, and a resume takes it from here instead of asking
		// again. A failed write only costs the cache entry; the store reports
		// the failure when the run ends.
		c.s.exec(func(tx *txn) error {
			_, err := tx.Exec(`INSERT INTO response_cache(key, model, response, created_at) VALUES (?,?,?,?)
				ON CONFLICT(key) DO UPDATE SET model = excluded.model, response = excluded.response, created_at = excluded.created_at`,
				key, req.Model, string(raw), now)
			return err
		})
	}
	return resp, err
}
