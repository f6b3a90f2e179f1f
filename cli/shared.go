package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// A run shared by workers: with a PostgreSQL store, `evalctl run --name X`
// started on several machines (or CI jobs) at once joins one run. Each
// process is a worker: it claims cells a few at a time, renews its leases
// while it works, and when nothing is left to claim it waits for the cells
// other workers hold (taking over those whose leases expire: a killed
// worker's). The worker that finds every cell done ends the run and prints
// its report; the others print what they did. Response caches and rate
// limits stay per process.

// planDigest identifies what a run computes: workers join a run only when
// they plan the same cells.
func planDigest(r *store.Run) string {
	b, _ := json.Marshal(struct {
		Layout  eval.Layout
		Dataset string
	}{r.Spec.Layout, r.DatasetHash})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// worker is this process's part in a shared run: eval.Claims over the store.
type worker struct {
	st    *store.Store
	run   string
	id    string
	batch int
	lease time.Duration
	// poll is how often a worker with nothing to claim looks again.
	poll time.Duration
	// waiting is told, the first time, that the worker waits for others.
	waiting func(store.Outstanding)
	said    bool // Next runs on the runner's scheduling goroutine only
}

func newWorker(st *store.Store, runID string, batch int, lease time.Duration) *worker {
	return &worker{st: st, run: runID, id: store.NewWorkerID(), batch: max(1, batch), lease: lease, poll: min(time.Second, lease/4)}
}

// Next claims the next cells; with none free it waits while other workers
// hold some, and returns none once every cell left is this worker's.
func (w *worker) Next(ctx context.Context) ([]int, error) {
	lastClaimable := 0
	for {
		idx, err := w.st.ClaimCells(ctx, w.run, w.id, w.batch, w.lease)
		if err != nil || len(idx) > 0 {
			return idx, err
		}
		o, err := w.st.Outstanding(ctx, w.run, w.id)
		if err != nil {
			return nil, err
		}
		if o.Others == 0 {
			return nil, nil
		}
		if o.Claimable > 0 && o.Claimable != lastClaimable {
			lastClaimable = o.Claimable
			continue // freed or expired meanwhile
		}
		if !w.said && w.waiting != nil {
			w.said = true
			w.waiting(o)
		}
		wait := w.poll
		if d := o.NextExpiry; d > 0 && d < wait {
			wait = d + 10*time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// heartbeat renews the worker's leases until stop is called.
func (w *worker) heartbeat() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.st.RenewClaims(ctx, w.run, w.id, w.lease)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// joinShared joins the running run of the same name and plan, or records
// run as a new shared run. It returns the run this worker works on.
func joinShared(a *app, st *store.Store, run *store.Run) (*store.Run, error) {
	want := planDigest(run)
	got, joined, err := st.JoinOrCreate(context.Background(), run, func(r *store.Run) bool { return planDigest(r) == want })
	if err != nil {
		return nil, fmt.Errorf("recording the run: %w", err)
	}
	if joined {
		fmt.Fprintf(a.io.Stderr, "evalctl: joined run %s (%q, started %s on %s): %d of %d cells done; this worker takes a share of the rest\n",
			got.ID, got.Name, got.StartedAt.Local().Format("15:04:05"), got.Host, got.Done, got.Planned)
	} else {
		fmt.Fprintf(a.io.Stderr, "evalctl: run %s (%q) is shared: `evalctl run --name %s` with the same plan on this store joins it\n",
			got.ID, got.Name, got.Name)
	}
	return got, nil
}

// finishShared ends this worker's part of a shared run. It returns the
// run-level summary when this worker ended the run (and reports it), or
// nil with the error to return when it did not.
func finishShared(a *app, st *store.Store, w *worker, run *store.Run, plan *eval.Plan, sum eval.Summary, maxRate float64) (*eval.Summary, error) {
	bg := context.Background()
	if sum.Status != eval.StatusComplete {
		// Interrupted, stopped by a fatal error or a budget: what this
		// worker holds goes back to the others at once.
		if err := st.ReleaseClaims(bg, run.ID, w.id); err != nil {
			fmt.Fprintf(a.io.Stderr, "evalctl: releasing this worker's cells: %v (they return to the others when their leases expire)\n", err)
		}
		fmt.Fprintf(a.io.Stderr, "evalctl: run %s goes on with its other workers; with none left, `evalctl run --name %s` (same plan) joins it again\n", run.ID, run.Name)
		return nil, exitStatus(sum, plan, maxRate)
	}
	stored, err := st.Run(bg, run.ID)
	if err != nil {
		return nil, err
	}
	status := eval.StatusComplete
	if stored.Errors().Over(maxRate) != "" {
		status = eval.StatusIncomplete
	}
	ended, err := st.FinishShared(bg, run.ID, status)
	if err != nil {
		return nil, err
	}
	if !ended {
		fmt.Fprintf(a.io.Stderr, "evalctl: run %s: this worker did %d cells in %s; the worker that ends the run reports it (evalctl report %s)\n",
			run.ID, sum.Done, sum.Elapsed.Round(10*time.Millisecond), run.ID)
		return nil, nil
	}
	all := sum
	all.Status = status
	all.Done, all.Total = stored.Done, stored.Planned
	all.GenErrors, all.ScorerErrors = stored.GenErrors, stored.VerdictErrors
	return &all, nil
}
