package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/evalctl/evalctl/eval"
)

// progress reports a run's advance on stderr: a live bar (mpb) on a
// terminal, and a plain line every 10 seconds elsewhere (CI logs).
type progress struct {
	w     io.Writer
	calls func() int64
	// pacing says which models are paced and at what rate ("" for none).
	pacing func() string
	start  time.Time

	mu   sync.Mutex
	last eval.Progress
	next time.Time // of the next plain line
	// extra is a word on what the run waits for (a shared run's others).
	extra string

	p   *mpb.Progress
	bar *mpb.Bar
}

const plainEvery = 10 * time.Second

func newProgress(w io.Writer, tty bool, calls func() int64, pacing func() string) *progress {
	pr := &progress{w: w, calls: calls, pacing: pacing, start: time.Now(), next: time.Now().Add(plainEvery)}
	if tty {
		pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))
		pr.bar = pr.p.New(0, mpb.BarStyle(),
			mpb.PrependDecorators(decor.CountersNoUnit("%d/%d cells", decor.WCSyncSpaceR)),
			mpb.AppendDecorators(
				decor.Percentage(decor.WCSyncSpace),
				decor.Any(func(decor.Statistics) string { return "  " + pr.status() }),
			))
	}
	return pr
}

// status is the live figures: calls per second, ETA, tokens, cost, errors.
func (pr *progress) status() string {
	pr.mu.Lock()
	p := pr.last
	pr.mu.Unlock()
	el := time.Since(pr.start).Seconds()
	rate := float64(pr.calls()) / max(el, 1e-9)
	eta := "-"
	if p.Done > 0 && p.Done < p.Total {
		eta = (time.Duration(float64(p.Total-p.Done) * el / float64(p.Done) * float64(time.Second))).Round(time.Second).String()
	}
	cost := ""
	if p.Cost > 0 {
		cost = fmt.Sprintf("  $%.2f", p.Cost)
	}
	paced := ""
	if pr.pacing != nil {
		if s := pr.pacing(); s != "" {
			paced = "  " + s
		}
	}
	pr.mu.Lock()
	extra := pr.extra
	pr.mu.Unlock()
	if extra != "" {
		extra = "  " + extra
	}
	return fmt.Sprintf("%.0f calls/s  eta %s  %s tokens%s  %d errors%s%s", rate, eta, formatCount(p.Usage.Total()), cost, p.GenErrors+p.ScorerErrors, paced, extra)
}

// note shows what the run waits for: beside the bar, or on a line of its own.
func (pr *progress) note(msg string) {
	pr.mu.Lock()
	pr.extra = msg
	pr.mu.Unlock()
	if pr.bar == nil {
		fmt.Fprintf(pr.w, "evalctl: %s\n", msg)
	}
}

func (pr *progress) update(p eval.Progress) {
	pr.mu.Lock()
	pr.last = p
	plain := pr.bar == nil && time.Now().After(pr.next)
	if plain {
		pr.next = time.Now().Add(plainEvery)
	}
	pr.mu.Unlock()
	if pr.bar != nil {
		pr.bar.SetTotal(int64(p.Total), false)
		pr.bar.SetCurrent(int64(p.Done))
		return
	}
	if plain {
		fmt.Fprintf(pr.w, "evalctl: %d/%d cells (%.0f%%)  %s\n", p.Done, p.Total, 100*float64(p.Done)/float64(max(1, p.Total)), pr.status())
	}
}

// done stops the bar, leaving its last state on screen.
func (pr *progress) done() {
	if pr.bar == nil {
		return
	}
	pr.mu.Lock()
	p := pr.last
	pr.mu.Unlock()
	pr.bar.SetTotal(int64(p.Total), true)
	if !pr.bar.Completed() {
		pr.bar.Abort(false)
	}
	pr.p.Wait()
}

func formatCount(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
