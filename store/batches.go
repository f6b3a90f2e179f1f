package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/evalctl/evalctl/llm"
)

// BatchLedger records the batches sent to one endpoint through its Batch
// API (it implements llm/batch.Ledger). Request keys are response-cache
// keys (CacheKey), so a batch's answers go to the response cache when it
// is collected: a run started again after a kill finds them there, or
// waits for the batches still open instead of sending their requests again.
type BatchLedger struct {
	s        *Store
	endpoint string
}

// Batches returns the ledger of the batches sent to endpoint (named as
// the response cache names it).
func (s *Store) Batches(endpoint string) *BatchLedger {
	// Kept hashed, as the response cache keeps it: a base URL may hold
	// credentials.
	h := sha256.Sum256([]byte(endpoint))
	return &BatchLedger{s: s, endpoint: hex.EncodeToString(h[:16])}
}

// Open returns the keys of the requests of the batches not yet collected,
// with the batch holding each.
func (l *BatchLedger) Open(ctx context.Context) (map[string]string, error) {
	rows, err := l.s.r.QueryContext(ctx, `SELECT r.key, r.batch_id FROM batch_requests r
		JOIN batches b ON b.endpoint = r.endpoint AND b.id = r.batch_id
		WHERE r.endpoint = ? AND b.collected_at IS NULL`, l.endpoint)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			return nil, err
		}
		out[k] = id
	}
	return out, rows.Err()
}

// rowsPerInsert bounds the rows of one INSERT (SQLite takes up to 32,766
// parameters, PostgreSQL 65,535).
const rowsPerInsert = 500

// Submitted records a batch just created, with its requests' keys. It
// returns once they are committed.
func (l *BatchLedger) Submitted(ctx context.Context, id, model string, keys []string) error {
	now := time.Now().UnixNano()
	return l.s.exec(func(tx *txn) error {
		if _, err := tx.Exec(`INSERT INTO batches(endpoint, id, model, requests, created_at) VALUES (?,?,?,?,?)
			ON CONFLICT(endpoint, id) DO NOTHING`, l.endpoint, id, model, len(keys), now); err != nil {
			return err
		}
		for len(keys) > 0 {
			n := min(len(keys), rowsPerInsert)
			args := make([]any, 0, 3*n)
			for _, k := range keys[:n] {
				args = append(args, l.endpoint, id, k)
			}
			q := `INSERT INTO batch_requests(endpoint, batch_id, key) VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?,?,?),", n), ",") + ` ON CONFLICT DO NOTHING`
			if _, err := tx.Exec(q, args...); err != nil {
				return err
			}
			keys = keys[n:]
		}
		return nil
	})
}

// Collected puts a batch's answers in the response cache and closes the
// batch, in one transaction.
func (l *BatchLedger) Collected(ctx context.Context, id string, answers map[string]llm.Response) error {
	now := time.Now().UnixNano()
	return l.s.exec(func(tx *txn) error {
		var model string
		if err := tx.tx.QueryRow(`SELECT model FROM batches WHERE endpoint = ? AND id = ?`, l.endpoint, id).Scan(&model); err != nil {
			return fmt.Errorf("batch %s: %w", id, err)
		}
		for k, resp := range answers {
			raw, _ := json.Marshal(cachedResponse{resp.Text, resp.FinishReason, resp.ToolCalls, resp.Usage, int64(resp.Latency)})
			if _, err := tx.Exec(`INSERT INTO response_cache(key, model, response, created_at) VALUES (?,?,?,?)
				ON CONFLICT(key) DO UPDATE SET model = excluded.model, response = excluded.response, created_at = excluded.created_at`,
				k, model, string(raw), now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`UPDATE batches SET collected_at = ? WHERE endpoint = ? AND id = ?`, now, l.endpoint, id); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM batch_requests WHERE endpoint = ? AND batch_id = ?`, l.endpoint, id)
		return err
	})
}

// BatchInfo is a batch as the ledger has it.
type BatchInfo struct {
	Endpoint, ID, Model string
	Requests            int
	Created             time.Time
	Collected           time.Time // zero while open
}

// BatchList returns the batches recorded, newest first.
func (s *Store) BatchList(ctx context.Context) ([]BatchInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT endpoint, id, model, requests, created_at, coalesce(collected_at, 0)
		FROM batches ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BatchInfo
	for rows.Next() {
		var b BatchInfo
		var created, collected int64
		if err := rows.Scan(&b.Endpoint, &b.ID, &b.Model, &b.Requests, &created, &collected); err != nil {
			return nil, err
		}
		b.Created = time.Unix(0, created)
		if collected != 0 {
			b.Collected = time.Unix(0, collected)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
