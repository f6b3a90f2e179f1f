package store

import (
	"context"
	"time"
)

// GetTool returns the tool result cached under key (the tools package's
// CacheKey). It implements tools.Cache with PutTool; tool results share the
// response cache's table, their model column being "tool:" and the tool's
// name. A failed read is a miss.
func (s *Store) GetTool(ctx context.Context, key string) (string, bool) {
	var raw string
	err := s.r.QueryRowContext(ctx,
		`SELECT response FROM response_cache WHERE key = ? AND substr(model, 1, 5) = 'tool:'`, key).Scan(&raw)
	return raw, err == nil
}

// PutTool caches a tool's result under key. It returns once the entry is
// committed, so that a result the model has seen survives a crash and a
// resume takes it from here instead of calling the tool again; a failed
// write costs only the entry (the store reports it when the run ends).
func (s *Store) PutTool(ctx context.Context, key, tool, result string) {
	now := time.Now().UnixNano()
	s.exec(func(tx *txn) error {
		_, err := tx.Exec(`INSERT INTO response_cache(key, model, response, created_at) VALUES (?,?,?,?)
				ON CONFLICT(key) DO UPDATE SET model = excluded.model, response = excluded.response, created_at = excluded.created_at`,
			key, "tool:"+tool, result, now)
		return err
	})
}
