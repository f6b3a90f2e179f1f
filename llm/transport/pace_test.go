package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// limitedServer is a vendor with a token-bucket request limit of perSec a
// second (a burst of one second's worth) that it does not announce, unless
// headers is set: excess requests get 429 with "Retry-After: 1" and
// nothing else, as plain servers send it.
type limitedServer struct {
	*httptest.Server
	ok, refused atomic.Int64
}

func newLimitedServer(t *testing.T, perSec float64, headers bool) *limitedServer {
	lim := rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec)))
	s := &limitedServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headers {
			w.Header().Set("X-Ratelimit-Limit-Requests", strconv.Itoa(int(perSec*60)))
			w.Header().Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(int(max(0, lim.Tokens()))))
			w.Header().Set("X-Ratelimit-Reset-Requests", "1s")
		}
		if !lim.Allow() {
			s.refused.Add(1)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		s.ok.Add(1)
		time.Sleep(5 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// hammer sends n requests from 16 workers and fails the test on any error.
func hammer(t *testing.T, tr *Transport, url string, n int) {
	t.Helper()
	client := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				resp, err := client.Get(url)
				if err != nil {
					t.Errorf("request failed: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
}

// An unannounced limit of 10 requests a second and 16 callers: every
// request succeeds although max_attempts is 2 (429s do not spend attempts),
// and the pacer keeps the refusals under 10% of the requests. Without a
// pacer most requests are refused.
func TestPacerFindsAnUnannouncedLimit(t *testing.T) {
	const n = 60
	policy := Policy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second, MaxWait: time.Minute}

	paced := newLimitedServer(t, 10, false)
	tr := New(nil, policy)
	tr.Pacer = NewPacer()
	hammer(t, tr, paced.URL, n)
	share := float64(paced.refused.Load()) / float64(paced.refused.Load()+paced.ok.Load())
	t.Logf("paced: %d answered, %d refused (%.1f%%); pacing %+v", paced.ok.Load(), paced.refused.Load(), 100*share, tr.Pacer.Paced())
	if paced.ok.Load() != n {
		t.Errorf("%d of %d requests answered", paced.ok.Load(), n)
	}
	if share >= 0.10 {
		t.Errorf("%.1f%% of requests refused with pacing, want under 10%%", 100*share)
	}
	if p := tr.Pacer.Paced(); len(p) != 1 || p[0].RPM <= 0 || p[0].RPM > 1.5*600 {
		t.Errorf("pacing %+v, want one endpoint paced near 600 rpm", p)
	}

	unpaced := newLimitedServer(t, 10, false)
	hammer(t, New(nil, Policy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second, MaxWait: time.Minute}), unpaced.URL, n)
	t.Logf("unpaced: %d answered, %d refused", unpaced.ok.Load(), unpaced.refused.Load())
	if unpaced.refused.Load() < unpaced.ok.Load() {
		t.Errorf("without a pacer only %d refusals for %d answers: the test does not load the limit", unpaced.refused.Load(), unpaced.ok.Load())
	}
}

// x-ratelimit-limit-requests sets the rate at once, per model: no slow
// start, no probing, (almost) no refusals.
func TestPacerReadsRateLimitHeaders(t *testing.T) {
	srv := newLimitedServer(t, 20, true)
	tr := New(nil, Policy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second, MaxWait: time.Minute})
	tr.Pacer = NewPacer()
	ctx := WithModel(context.Background(), "gpt-x")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := tr.Pacer.Paced()
	if len(p) != 1 || p[0].Model != "gpt-x" || p[0].RPM != 1200 {
		t.Fatalf("after one answer with headers: %+v, want gpt-x at 1200 rpm", p)
	}
	hammer(t, tr, srv.URL, 60) // requests without a model share the endpoint's
	t.Logf("%d answered, %d refused", srv.ok.Load(), srv.refused.Load())
}

// A 429 does not spend an attempt: a call refused eight times with
// max_attempts 2 still succeeds; a call refused for longer than MaxWait
// ends with the 429.
func TestRateLimitWaitsWithinMaxWait(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 8 || r.URL.Path == "/always" {
			w.Header().Set("Retry-After-Ms", "5")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	tr := New(nil, Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: 200 * time.Millisecond})
	client := &http.Client{Transport: tr}
	ctx, trace := WithTrace(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after eight 429s: %v %v", err, resp)
	}
	if a, retries, _ := trace.Snapshot(); a != 9 || len(retries) != 8 {
		t.Errorf("attempts %d, retries %v", a, retries)
	}
	resp, err = client.Get(srv.URL + "/always")
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("refused for longer than max_wait: %v %v, want the 429", err, resp)
	}
}

// A dead endpoint (connection refused, or a server answering HTML) stops
// every call after a few failures in a row, with one error naming the
// endpoint and the cause; an endpoint that answered once is never dead.
func TestDeadEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/v1/chat/completions"
	ln.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>login</html>")
	}))
	defer html.Close()
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangup.Close()
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Close() // reads the request, answers nothing
		}
	}()
	for _, tc := range []struct {
		name, url, cause string
	}{
		{"refused", closed, "connection refused"},
		{"html", html.URL + "/v1/chat/completions", "not the API's JSON"},
		{"hangs up", "http://" + hangup.Addr().String() + "/v1/chat/completions", "closed the connection without an answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(nil, Policy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
			client := &http.Client{Transport: tr}
			var last error
			calls := 0
			for ; calls < 10; calls++ {
				resp, err := client.Get(tc.url)
				if err != nil {
					last = err
					break
				}
				resp.Body.Close()
			}
			var ee *EndpointError
			if !errors.As(last, &ee) {
				t.Fatalf("after %d calls: %v, want an EndpointError", calls, last)
			}
			if ee.Cause == "" || !strings.Contains(ee.Error(), tc.cause) || !strings.Contains(ee.Error(), "/v1/chat/completions") {
				t.Errorf("error %q lacks the endpoint or %q", ee, tc.cause)
			}
			if ee.Failures != deadAfter {
				t.Errorf("dead after %d failures, want %d", ee.Failures, deadAfter)
			}
		})
	}
	t.Run("answered once", func(t *testing.T) {
		var down atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, "<html>maintenance</html>")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{}`)
		}))
		defer srv.Close()
		client := &http.Client{Transport: New(nil, Policy{MaxAttempts: 2, BaseDelay: time.Millisecond})}
		for i := range 8 {
			down.Store(i > 0)
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatalf("call %d: %v: an endpoint that answered once was declared dead", i, err)
			}
			resp.Body.Close()
		}
	})
}

// x-ratelimit-remaining-requests at 0, or remaining tokens under a
// twentieth of the limit, hold the model until the allowance is back
// (at most a second, and at most two paced intervals).
func TestPacerHoldsOnExhaustedAllowance(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    map[string]string
		held bool
	}{
		{"requests left", map[string]string{"X-Ratelimit-Limit-Requests": "600", "X-Ratelimit-Remaining-Requests": "3", "X-Ratelimit-Reset-Requests": "100ms"}, false},
		{"no request left", map[string]string{"X-Ratelimit-Limit-Requests": "600", "X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "100ms"}, true},
		{"tokens left", map[string]string{"X-Ratelimit-Limit-Tokens": "100000", "X-Ratelimit-Remaining-Tokens": "60000", "X-Ratelimit-Reset-Tokens": "6m0s"}, false},
		{"few tokens left", map[string]string{"X-Ratelimit-Limit-Tokens": "100000", "X-Ratelimit-Remaining-Tokens": "900", "X-Ratelimit-Reset-Tokens": "6m0s"}, true},
		{"garbage", map[string]string{"X-Ratelimit-Remaining-Requests": "zero", "X-Ratelimit-Reset-Requests": "soon"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPacer()
			tk, err := p.acquire(context.Background(), "m", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range tc.h {
				h.Set(k, v)
			}
			before := time.Now()
			p.done(tk, http.StatusOK, h, 0)
			ps := tk.ps // the endpoint's, or the model's once headers name its limits
			if p.perModel.Load() {
				ps = p.get("m")
			}
			held := ps.heldUntil.After(before)
			if held != tc.held {
				t.Errorf("held %v, want %v", held, tc.held)
			}
			if held && ps.heldUntil.Sub(before) > time.Second+50*time.Millisecond {
				t.Errorf("held for %s, want at most a second", ps.heldUntil.Sub(before))
			}
		})
	}
}
