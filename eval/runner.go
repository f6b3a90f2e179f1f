package eval

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
)

// Result is a finished cell.
type Result struct {
	Cell
	System       string // rendered system prompt ("" for none)
	Input        string // rendered user prompt
	Answer       string
	FinishReason string
	Usage        llm.Usage
	Latency      time.Duration
	Attempts     int
	// Err is the generation error; then Answer is empty and Feedback nil.
	Err *llm.Error
	// Feedback holds one entry per plan scorer, in plan order.
	Feedback []scorers.Feedback
}

// Status is how a run ended.
type Status string

// Run statuses.
const (
	StatusRunning     Status = "running"
	StatusComplete    Status = "complete"
	StatusIncomplete  Status = "incomplete"
	StatusInterrupted Status = "interrupted"
)

// Sink receives a run's results. Put is called from one goroutine at a time.
type Sink interface {
	Begin(p *Plan) error
	Put(r Result) error
	End(s Status) error
}

// Progress is a snapshot for progress displays.
type Progress struct {
	Done, Total  int
	GenErrors    int
	ScorerErrors int
	Usage        llm.Usage
	Elapsed      time.Duration
}

// Summary is what a run did.
type Summary struct {
	Progress
	Status Status
	// Fatal is the provider error that stopped the run, if any.
	Fatal *llm.Error
}

// Gate caps the LLM calls in flight and notices fatal provider errors.
type Gate struct {
	n     int
	sem   *semaphore.Weighted
	mu    sync.Mutex
	fatal func(*llm.Error)
	calls atomic.Int64
}

// NewGate returns a gate letting n calls through at once.
func NewGate(n int) *Gate {
	n = max(1, n)
	return &Gate{n: n, sem: semaphore.NewWeighted(int64(n))}
}

// Wrap returns a client whose calls pass through the gate.
func (g *Gate) Wrap(c llm.Client) llm.Client { return gated{g, c} }

// Calls returns the number of calls that went through the gate.
func (g *Gate) Calls() int64 { return g.calls.Load() }

func (g *Gate) onFatal(f func(*llm.Error)) {
	g.mu.Lock()
	g.fatal = f
	g.mu.Unlock()
}

type gated struct {
	g *Gate
	c llm.Client
}

func (x gated) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	if err := x.g.sem.Acquire(ctx, 1); err != nil {
		return llm.Response{}, &llm.Error{Kind: llm.KindCanceled, Msg: "canceled"}
	}
	x.g.calls.Add(1)
	resp, err := x.c.Complete(ctx, req)
	x.g.sem.Release(1)
	if e := llm.AsError(err); e != nil && e.Kind.Fatal() {
		x.g.mu.Lock()
		f := x.g.fatal
		x.g.mu.Unlock()
		if f != nil {
			f(e)
		}
	}
	return resp, err
}

// Runner executes plans.
type Runner struct {
	// Gate bounds LLM calls; the plan's model clients and the judges' clients
	// must be wrapped by it.
	Gate *Gate
	// Progress, when set, is called after each result (from one goroutine).
	Progress func(Progress)
	// Skip, when set, reports cells already done (resume).
	Skip func(Cell) bool
}

type fatalCause struct{ e *llm.Error }

func (f fatalCause) Error() string { return f.e.Error() }

// Run executes every cell of p and streams results to sink. It returns an error
// only when the sink fails; provider failures are in the results and Summary.
func (r *Runner) Run(ctx context.Context, p *Plan, sink Sink) (Summary, error) {
	start := time.Now()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var fatalOnce sync.Once
	var fatal *llm.Error
	r.Gate.onFatal(func(e *llm.Error) {
		fatalOnce.Do(func() { fatal = e; cancel(fatalCause{e}) })
	})
	defer r.Gate.onFatal(nil)

	if err := sink.Begin(p); err != nil {
		return Summary{}, err
	}
	cells := p.Cells()
	sum := Summary{Progress: Progress{Total: len(cells)}}
	results := make(chan Result, 64)
	var sinkErr error
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for res := range results {
			if sinkErr != nil {
				continue
			}
			if err := sink.Put(res); err != nil {
				sinkErr = err
				cancel(err)
				continue
			}
			sum.Done++
			sum.Usage = sum.Usage.Add(res.Usage)
			if res.Err != nil {
				sum.GenErrors++
			}
			for _, fb := range res.Feedback {
				sum.Usage = sum.Usage.Add(fb.Usage)
				if fb.Err != "" {
					sum.ScorerErrors++
				}
			}
			sum.Elapsed = time.Since(start)
			if r.Progress != nil {
				r.Progress(sum.Progress)
			}
		}
	}()

	g := new(errgroup.Group)
	// Cells in flight: enough to keep the gate full while some cells are
	// between calls, few enough to bound memory.
	g.SetLimit(2*r.Gate.n + 2)
	for _, c := range cells {
		if runCtx.Err() != nil {
			break
		}
		if r.Skip != nil && r.Skip(c) {
			sum.Total--
			continue
		}
		g.Go(func() error {
			if res, ok := r.runCell(runCtx, p, c); ok {
				results <- res
			}
			return nil
		})
	}
	g.Wait()
	close(results)
	<-collected
	sum.Elapsed = time.Since(start)
	sum.Fatal = fatal

	switch {
	case sinkErr != nil:
		sink.End(StatusIncomplete)
		return sum, sinkErr
	case ctx.Err() != nil:
		sum.Status = StatusInterrupted
	case fatal != nil || sum.Done < sum.Total:
		sum.Status = StatusIncomplete
	default:
		sum.Status = StatusComplete
	}
	if err := sink.End(sum.Status); err != nil {
		return sum, err
	}
	return sum, nil
}

// runCell generates and scores one cell. ok is false when the cell was
// abandoned because the run was canceled.
func (r *Runner) runCell(ctx context.Context, p *Plan, c Cell) (Result, bool) {
	res := Result{Cell: c}
	var msgs []llm.Message
	if p.System != nil {
		sys, err := p.System.Render(c.Row.Vars)
		if err != nil {
			res.Err = &llm.Error{Kind: llm.KindClient, Model: c.Model.Ref.String(), Msg: err.Error()}
			return res, true
		}
		res.System = sys
		msgs = append(msgs, llm.Message{Role: "system", Content: sys})
	}
	input, err := c.Prompt.Render(c.Row.Vars)
	if err != nil {
		res.Err = &llm.Error{Kind: llm.KindClient, Model: c.Model.Ref.String(), Msg: err.Error()}
		return res, true
	}
	res.Input = input
	msgs = append(msgs, llm.Message{Role: "user", Content: input})

	resp, err := c.Model.Client.Complete(ctx, llm.Request{Model: c.Model.Ref.Model, Messages: msgs, Params: c.Model.Params})
	res.Usage, res.Latency, res.Attempts = resp.Usage, resp.Latency, resp.Attempts
	if err != nil {
		e := llm.AsError(err)
		if e.Kind == llm.KindCanceled || (ctx.Err() != nil && !e.Kind.Fatal()) {
			// Interrupted, or stopped by another cell's fatal error: not this
			// cell's outcome, so it is left for a resume to redo.
			return res, false
		}
		if e.Model == "" {
			e.Model = c.Model.Ref.String()
		}
		res.Err = e
		return res, true
	}
	res.Answer, res.FinishReason = resp.Text, resp.FinishReason

	sample := scorers.Sample{RowID: c.Row.ID, Vars: c.Row.Vars, Prompt: c.Prompt.Name, Model: c.Model.Ref.String(),
		System: res.System, Input: input, Answer: resp.Text, Latency: resp.Latency, Usage: resp.Usage}
	res.Feedback = make([]scorers.Feedback, len(p.Scorers))
	var wg sync.WaitGroup
	for i, s := range p.Scorers {
		wg.Go(func() {
			fb := s.Score(ctx, sample)
			fb.Scorer = s.Name()
			res.Feedback[i] = fb
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		for _, fb := range res.Feedback {
			if fb.Err != "" {
				return res, false // a judge was cut short: redo the cell on resume
			}
		}
	}
	return res, true
}

// Tee returns a sink that forwards to every sink in order, stopping at the
// first error.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

func (t tee) Begin(p *Plan) error {
	for _, s := range t {
		if err := s.Begin(p); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Put(r Result) error {
	for _, s := range t {
		if err := s.Put(r); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) End(st Status) error {
	var first error
	for _, s := range t {
		if err := s.End(st); err != nil && first == nil {
			first = err
		}
	}
	return first
}
