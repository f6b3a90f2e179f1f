package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/evalctl/evalctl/eval"
)

// progress draws one self-overwriting status line on a terminal, at most five
// times a second; off a terminal it stays silent.
type progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	last time.Time
	p    eval.Progress
	drew bool
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (pr *progress) update(p eval.Progress) {
	if !pr.tty {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.p = p
	if time.Since(pr.last) < 200*time.Millisecond && p.Done < p.Total {
		return
	}
	pr.last = time.Now()
	rate := float64(p.Done) / max(p.Elapsed.Seconds(), 1e-9)
	eta := "-"
	if rate > 0 {
		eta = (time.Duration(float64(p.Total-p.Done)/rate) * time.Second / time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(pr.w, "\r\033[K%d/%d cells  %.1f cells/s  eta %s  %d tokens  %d errors",
		p.Done, p.Total, rate, eta, p.Usage.Total(), p.GenErrors+p.ScorerErrors)
	pr.drew = true
}

func (pr *progress) done() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.drew {
		fmt.Fprint(pr.w, "\r\033[K")
	}
}
