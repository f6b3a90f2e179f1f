package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/evalctl/evalctl/eval"
)

// A run shared by workers. With a PostgreSQL store, `evalctl run --name X`
// started on several machines joins one run: the first to come creates it
// with a claim row per cell, and every worker claims cells in small batches
// (FOR UPDATE SKIP LOCKED: no two workers get one cell), renews the lease
// of what it holds while it works, and marks a cell done in the transaction
// that stores its result. A worker that dies stops renewing: once its
// leases expire the others take its cells. The run ends once, by the worker
// that finds every cell done.

// Shared reports whether the store can hold a run shared by workers on
// several machines (PostgreSQL).
func (s *Store) Shared() bool { return s.dialect == postgresDialect }

// NewWorkerID names a worker: host, process and random bits.
func NewWorkerID() string {
	host, _ := os.Hostname()
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// JoinOrCreate finds the running run named r.Name whose plan same accepts
// and returns it (joined true), or else records r as a new run with a claim
// per planned cell. Workers starting at once are serialised by an advisory
// lock on the name, so they join one run.
func (s *Store) JoinOrCreate(ctx context.Context, r *Run, same func(*Run) bool) (*Run, bool, error) {
	if !s.Shared() {
		return nil, false, errors.New("runs shared by workers need a PostgreSQL store")
	}
	if err := s.Flush(); err != nil {
		return nil, false, err
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext(?))`, "evalctl-run:"+r.Name); err != nil {
		return nil, false, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext(?))`, "evalctl-run:"+r.Name)
	rows, err := conn.QueryContext(ctx, `SELECT `+runColumns+` FROM runs r WHERE r.name = ? AND r.status = 'running'
		AND EXISTS (SELECT 1 FROM claims c WHERE c.run_id = r.id) ORDER BY r.started_at DESC`, r.Name)
	if err != nil {
		return nil, false, err
	}
	var found []*Run
	for rows.Next() {
		run, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, false, err
		}
		found = append(found, run)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	for _, run := range found {
		if same(run) {
			joined, err := s.RunByID(ctx, run.ID)
			return joined, true, err
		}
	}
	if err := s.createRun(ctx, conn, r, true); err != nil {
		return nil, false, err
	}
	return r, false, nil
}

// ClaimCells gives worker up to n cells of run that nobody holds (never
// claimed, or their lease expired), for lease, in cell order.
func (s *Store) ClaimCells(ctx context.Context, runID, worker string, n int, lease time.Duration) (out []int, err error) {
	err = s.retry(ctx, func() error {
		out, err = s.claimCells(ctx, runID, worker, n, lease)
		return err
	})
	return out, err
}

func (s *Store) claimCells(ctx context.Context, runID, worker string, n int, lease time.Duration) ([]int, error) {
	rows, err := s.r.QueryContext(ctx, `UPDATE claims SET worker = ?, lease_until = `+serverNow+` + ?
		WHERE run_id = ? AND idx IN (SELECT idx FROM claims WHERE run_id = ? AND NOT done AND (worker = '' OR lease_until < `+serverNow+`)
			ORDER BY idx LIMIT ? FOR UPDATE SKIP LOCKED)
		RETURNING idx`, worker, int64(lease), runID, runID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// RenewClaims extends worker's leases on its unfinished cells of run.
func (s *Store) RenewClaims(ctx context.Context, runID, worker string, lease time.Duration) error {
	return s.retry(ctx, func() error {
		_, err := s.r.ExecContext(ctx, `UPDATE claims SET lease_until = `+serverNow+` + ? WHERE run_id = ? AND worker = ? AND NOT done`,
			int64(lease), runID, worker)
		return err
	})
}

// ReleaseClaims gives back worker's unfinished cells of run, for others to
// take at once (a worker stopped by Ctrl-C).
func (s *Store) ReleaseClaims(ctx context.Context, runID, worker string) error {
	if err := s.Flush(); err != nil {
		return err
	}
	return s.retry(ctx, func() error {
		_, err := s.w.ExecContext(ctx, `UPDATE claims SET worker = '', lease_until = 0 WHERE run_id = ? AND worker = ? AND NOT done`, runID, worker)
		return err
	})
}

// Outstanding is what is left of a shared run besides one worker's own
// cells: Others counts the cells not done that the worker does not hold,
// Claimable those of them nobody holds (free, or their lease expired), and
// NextExpiry is how long until the first live lease of another worker ends.
type Outstanding struct {
	Others, Claimable int
	NextExpiry        time.Duration
}

// serverNow is the database server's clock in unix nanoseconds: leases
// are set and compared on the one clock every worker shares, whatever
// the machines' own clocks say.
const serverNow = `CAST(extract(epoch from clock_timestamp()) * 1000000000 AS BIGINT)`

// Outstanding counts what is left of run besides worker's cells.
func (s *Store) Outstanding(ctx context.Context, runID, worker string) (o Outstanding, err error) {
	err = s.retry(ctx, func() error {
		o, err = s.outstanding(ctx, runID, worker)
		return err
	})
	return o, err
}

func (s *Store) outstanding(ctx context.Context, runID, worker string) (Outstanding, error) {
	var o Outstanding
	var next sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE worker <> ?),
		count(*) FILTER (WHERE worker = '' OR lease_until < `+serverNow+`),
		min(lease_until - `+serverNow+`) FILTER (WHERE worker <> ? AND worker <> '' AND lease_until >= `+serverNow+`)
		FROM claims WHERE run_id = ? AND NOT done`, worker, worker, runID).Scan(&o.Others, &o.Claimable, &next)
	if next.Valid {
		o.NextExpiry = time.Duration(next.Int64)
	}
	return o, err
}

// FinishShared ends a shared run once: it records status only when every
// cell is done and the run is still running, and reports whether this call
// did (the worker that ends the run reports it).
func (s *Store) FinishShared(ctx context.Context, runID string, status eval.Status) (ended bool, err error) {
	if err := s.Flush(); err != nil {
		return false, err
	}
	err = s.retry(ctx, func() error {
		ended, err = s.finishShared(ctx, runID, status)
		return err
	})
	return ended, err
}

func (s *Store) finishShared(ctx context.Context, runID string, status eval.Status) (bool, error) {
	now := time.Now().UnixNano()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, ended_at = ? WHERE id = ? AND status = 'running'
		AND NOT EXISTS (SELECT 1 FROM claims WHERE run_id = ? AND NOT done)`, string(status), now, runID, runID)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE assessments SET status = ?, ended_at = ? WHERE run_id = ? AND id = ?`,
		string(status), now, runID, RunAssessment); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// SharedSink returns the sink of a worker of a shared run: each result is
// stored with its cell's claim marked done, in one transaction; its End
// does not end the run (FinishShared does).
func (s *Store) SharedSink(id string) eval.Sink {
	return &runSink{s: s, id: id, assessment: RunAssessment, shared: true}
}
