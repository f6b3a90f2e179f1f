package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond},
		{"ms wins", map[string]string{"Retry-After": "3", "Retry-After-Ms": "120"}, 120 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": now.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second},
		{"past date", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-4"}, 0},
	}
	for _, tc := range tests {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		if got := RetryAfter(h, now); got != tc.want {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	var r Redactor
	r.Add("short")
	r.Add("ollama")
	r.Add("sk-live-0123456789")
	if got := r.Redact("key sk-live-0123456789 and short, ollama"); got != "key [REDACTED] and short, ollama" {
		t.Error(got)
	}
	var nilR *Redactor
	if nilR.Redact("x") != "x" {
		t.Error("nil redactor")
	}
}

func TestQueuedTimeIsTraced(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	tr := New(nil, Policy{MaxAttempts: 1})
	tr.Limiter = rate.NewLimiter(rate.Every(50*time.Millisecond), 1)
	client := &http.Client{Transport: tr}
	var queued []time.Duration
	for range 3 {
		ctx, trace := WithTrace(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		n, _, q := trace.Snapshot()
		if n != 1 {
			t.Errorf("attempts %d", n)
		}
		queued = append(queued, q)
	}
	// The first request takes the burst; the later ones wait for the limiter.
	if queued[2] == 0 {
		t.Errorf("queueing behind the rate limiter not traced: %v", queued)
	}
}

// A vendor that refuses more than two requests at once: with adaptation the
// client learns to send about two, and far fewer requests are refused.
func TestAdaptiveConcurrency(t *testing.T) {
	refused := func(adaptive bool) (int64, *Adaptive) {
		var inFlight, n429 atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer inFlight.Add(-1)
			if inFlight.Add(1) > 2 {
				n429.Add(1)
				w.Header().Set("Retry-After-Ms", "2")
				w.WriteHeader(429)
				return
			}
			time.Sleep(3 * time.Millisecond)
			w.WriteHeader(204)
		}))
		defer srv.Close()
		tr := New(nil, Policy{MaxAttempts: 1000, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRetryAfter: time.Second})
		var a *Adaptive
		if adaptive {
			a = NewAdaptive(16)
			tr.Adaptive = a
		}
		client := &http.Client{Transport: tr}
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 10 {
					resp, err := client.Get(srv.URL)
					if err != nil || resp.StatusCode != 204 {
						t.Errorf("request failed: %v %v", err, resp)
						return
					}
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		return n429.Load(), a
	}
	fixed, _ := refused(false)
	adapted, a := refused(true)
	t.Logf("429s for 160 requests: %d at a fixed 16 in flight, %d adaptive (bound now %d after %d cuts)", fixed, adapted, a.Limit(), a.Cuts())
	if a.Cuts() == 0 || a.Limit() >= 16 {
		t.Errorf("the bound never came down: %d after %d cuts", a.Limit(), a.Cuts())
	}
	if adapted*2 > fixed {
		t.Errorf("adaptation did not halve the refusals: %d vs %d", adapted, fixed)
	}
}

func TestAdaptiveBounds(t *testing.T) {
	a := NewAdaptive(8)
	ctx := context.Background()
	for range 3 {
		a.acquire(ctx)
		a.release(true, false)
	}
	if a.Limit() != 1 {
		t.Errorf("after three cuts from 8: %d", a.Limit())
	}
	a.acquire(ctx)
	a.release(true, false)
	if a.Limit() != 1 {
		t.Errorf("the bound went under Min: %d", a.Limit())
	}
	for range 200 {
		a.acquire(ctx)
		a.release(false, true)
	}
	if a.Limit() != 8 {
		t.Errorf("after many successes the bound is %d, want back at 8", a.Limit())
	}
	// A waiter gives up when its context ends.
	a.Max, a.limit = 1, 1
	a.acquire(ctx)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := a.acquire(cctx); err == nil {
		t.Error("acquired a slot that was taken")
	}
}
