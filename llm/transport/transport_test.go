package transport

import (
	"context"
	"net/http"
	"net/http/httptest"
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

func TestOnceIsNotRepeated(t *testing.T) {
	tests := []struct {
		name     string
		codes    []int // the server's answers, in turn
		wantTry  int
		wantCode int
	}{
		{"a 500 ends the call", []int{500, 200}, 1, 500},
		{"a 429 is waited for", []int{429, 200}, 2, 200},
		{"success", []int{200}, 1, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				code := tc.codes[min(n, len(tc.codes)-1)]
				n++
				w.Header().Set("Retry-After-Ms", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			client := &http.Client{Transport: New(nil, Policy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxWait: time.Minute})}
			req, _ := http.NewRequestWithContext(Once(context.Background()), "POST", srv.URL, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n != tc.wantTry || resp.StatusCode != tc.wantCode {
				t.Errorf("%d tries ending %d, want %d ending %d", n, resp.StatusCode, tc.wantTry, tc.wantCode)
			}
		})
	}
}

// A downloaded JSONL file is neither a malformed answer to retry nor a
// sign of a wrong endpoint, whatever its content type.
func TestFileDownloads(t *testing.T) {
	for _, ctype := range []string{"application/json", "application/octet-stream", ""} {
		t.Run(ctype, func(t *testing.T) {
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n++
				if ctype != "" {
					w.Header().Set("Content-Type", ctype)
				}
				w.Write([]byte("{\"a\":1}\n{\"b\":2}\n"))
			}))
			defer srv.Close()
			client := &http.Client{Transport: New(nil, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond})}
			for range deadAfter + 1 {
				req, _ := http.NewRequestWithContext(File(context.Background()), "GET", srv.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			if n != deadAfter+1 {
				t.Errorf("%d attempts for %d downloads", n, deadAfter+1)
			}
		})
	}
}
