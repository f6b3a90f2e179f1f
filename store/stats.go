package store

import "sync/atomic"

func (c *CacheStats) hit()  { atomic.AddInt64(&c.Hits, 1) }
func (c *CacheStats) miss() { atomic.AddInt64(&c.Misses, 1) }

// Snapshot reads the counters.
func (c *CacheStats) Snapshot() (hits, misses int64) {
	return atomic.LoadInt64(&c.Hits), atomic.LoadInt64(&c.Misses)
}
