package transport

import (
	"context"
	"sync"
)

// Adaptive bounds the attempts in flight to one endpoint and adapts the bound
// to the endpoint's answers, additive increase / multiplicative decrease as in
// TCP: a 429 halves it, at most once per window (the refusals of requests that
// were already in flight at a cut say nothing new), and each success grows it
// by 1/limit, about one slot per round of calls, up to Max. It lets a run find
// a vendor's limit without being told it.
type Adaptive struct {
	Max int
	Min int

	mu       sync.Mutex
	cond     *sync.Cond
	limit    float64
	inFlight int
	window   int // answers still due from before the last cut
	cuts     int
}

// NewAdaptive starts at max attempts in flight.
func NewAdaptive(max int) *Adaptive {
	a := &Adaptive{Max: max, Min: 1, limit: float64(max)}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// Limit returns the current bound.
func (a *Adaptive) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit)
}

// Cuts returns how often the bound was cut.
func (a *Adaptive) Cuts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cuts
}

// acquire waits for a slot or for ctx.
func (a *Adaptive) acquire(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	defer stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.inFlight >= int(a.limit) {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.cond.Wait()
	}
	a.inFlight++
	return nil
}

// release frees a slot and adapts the bound to the answer.
func (a *Adaptive) release(rateLimited, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	fresh := a.window == 0 // this answer was sent after the last cut
	if !fresh {
		a.window--
	}
	switch {
	case rateLimited && fresh:
		a.limit = max(float64(a.Min), a.limit/2)
		a.window = a.inFlight
		a.cuts++
	case ok && fresh:
		a.limit = min(float64(a.Max), a.limit+1/a.limit)
	}
	a.cond.Broadcast()
}
