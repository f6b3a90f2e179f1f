package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"
)

// Policy says how often and how patiently a call is retried.
type Policy struct {
	// MaxAttempts is the number of tries in all, at least 1.
	MaxAttempts int
	// BaseDelay is the first backoff; each later one grows by 1.5× with ±50% jitter.
	BaseDelay time.Duration
	// MaxDelay caps one backoff computed by the policy.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest server-requested wait (Retry-After) that is
	// honoured; a longer one ends the call with the 429 instead.
	MaxRetryAfter time.Duration
	// AttemptTimeout bounds one attempt, reading the body included. 0 = none.
	AttemptTimeout time.Duration
}

// DefaultPolicy suits hosted APIs.
var DefaultPolicy = Policy{
	MaxAttempts:    5,
	BaseDelay:      500 * time.Millisecond,
	MaxDelay:       20 * time.Second,
	MaxRetryAfter:  2 * time.Minute,
	AttemptTimeout: 120 * time.Second,
}

// Transport retries and limits requests to one endpoint.
type Transport struct {
	// Base performs single attempts; nil means http.DefaultTransport.
	Base   http.RoundTripper
	Policy Policy
	// Limiter, when set, paces attempts (requests per second with a burst).
	Limiter *rate.Limiter
	// Sem, when set, bounds the attempts in flight (its capacity).
	Sem chan struct{}
	// Adaptive, when set, bounds the attempts in flight and halves the bound
	// on 429s.
	Adaptive *Adaptive
}

// New returns a Transport with policy p over base.
func New(base http.RoundTripper, p Policy) *Transport {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	return &Transport{Base: base, Policy: p}
}

// Trace collects what happened to one call across its attempts.
type Trace struct {
	mu       sync.Mutex
	Attempts int
	// Retries lists why each retried attempt failed ("429", "500", "timeout", ...).
	Retries []string
	// Queued is the time spent waiting for this transport's own rate and
	// concurrency limits: local queueing, not the vendor's latency.
	Queued time.Duration
}

func (t *Trace) queued(d time.Duration) {
	t.mu.Lock()
	t.Queued += d
	t.mu.Unlock()
}

func (t *Trace) add(retryReason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Attempts++
	if retryReason != "" {
		t.Retries = append(t.Retries, retryReason)
	}
}

// Snapshot returns the attempt count, the reasons of retried attempts and the
// time queued behind local limits.
func (t *Trace) Snapshot() (int, []string, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Attempts, append([]string(nil), t.Retries...), t.Queued
}

type traceKey struct{}

// WithTrace returns a context whose requests record their attempts in the
// returned Trace.
func WithTrace(ctx context.Context) (context.Context, *Trace) {
	tr := &Trace{}
	return context.WithValue(ctx, traceKey{}, tr), tr
}

// AttemptError is returned when the last attempt failed without a response.
type AttemptError struct {
	Attempts int
	Timeout  bool // the last attempt ran out of time
	Err      error
}

func (e *AttemptError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("no response within the attempt timeout (%d attempts)", e.Attempts)
	}
	return fmt.Sprintf("%v (%d attempts)", e.Err, e.Attempts)
}

func (e *AttemptError) Unwrap() error { return e.Err }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tr, _ := ctx.Value(traceKey{}).(*Trace)
	if tr == nil {
		tr = &Trace{}
	}
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     t.Policy.BaseDelay,
		RandomizationFactor: 0.5,
		Multiplier:          1.5,
		MaxInterval:         t.Policy.MaxDelay,
	}
	bo.Reset()
	for attempt := 1; ; attempt++ {
		resp, retryAfter, reason, err := t.attempt(ctx, tr, base, req, body)
		if ctx.Err() != nil {
			tr.add("")
			return nil, ctx.Err()
		}
		last := attempt >= t.Policy.MaxAttempts
		if reason == "" || last || (t.Policy.MaxRetryAfter > 0 && retryAfter > t.Policy.MaxRetryAfter) {
			tr.add("")
			if err != nil {
				var ne interface{ Timeout() bool }
				timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
				return nil, &AttemptError{Attempts: attempt, Timeout: timeout, Err: err}
			}
			return resp, nil
		}
		tr.add(reason)
		delay := bo.NextBackOff()
		if retryAfter > 0 {
			// The server knows best; add a little jitter so that a burst of
			// callers told the same time do not return in lockstep.
			delay = retryAfter + time.Duration(float64(retryAfter)*0.1*jitter())
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// attempt performs one try. It returns the response (body fully read), the
// server's requested wait, and a non-empty reason when the try should be
// retried.
func (t *Transport) attempt(ctx context.Context, tr *Trace, base http.RoundTripper, req *http.Request, body []byte) (*http.Response, time.Duration, string, error) {
	waitStart := time.Now()
	if t.Limiter != nil {
		if err := t.Limiter.Wait(ctx); err != nil {
			return nil, 0, "", err
		}
	}
	if t.Sem != nil {
		select {
		case t.Sem <- struct{}{}:
			defer func() { <-t.Sem }()
		case <-ctx.Done():
			return nil, 0, "", ctx.Err()
		}
	}
	if t.Adaptive != nil {
		if err := t.Adaptive.acquire(ctx); err != nil {
			return nil, 0, "", err
		}
	}
	if t.Limiter != nil || t.Sem != nil || t.Adaptive != nil {
		tr.queued(time.Since(waitStart))
	}
	actx, cancel := ctx, context.CancelFunc(func() {})
	if t.Policy.AttemptTimeout > 0 {
		actx, cancel = context.WithTimeout(ctx, t.Policy.AttemptTimeout)
	}
	defer cancel()
	r := req.Clone(actx)
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := base.RoundTrip(r)
	if t.Adaptive != nil {
		defer func() {
			t.Adaptive.release(resp != nil && resp.StatusCode == http.StatusTooManyRequests, err == nil && resp != nil && resp.StatusCode/100 == 2)
		}()
	}
	if err != nil {
		return nil, 0, reasonFor(err), err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, 0, reasonFor(err), err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return resp, RetryAfter(resp.Header, time.Now()), "429", nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return resp, RetryAfter(resp.Header, time.Now()), strconv.Itoa(resp.StatusCode), nil
	case resp.StatusCode/100 == 2 && isJSON(resp.Header) && !json.Valid(data):
		return resp, 0, "malformed", nil
	}
	return resp, 0, "", nil
}

func reasonFor(err error) string {
	if HostNotFound(err) {
		return "" // retrying cannot help
	}
	var ne interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "network"
}

// HostNotFound reports whether err is a DNS lookup that found no such host.
func HostNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// RetryAfter reads the wait a server asks for: "retry-after-ms" (OpenAI), or
// "Retry-After" as seconds or an HTTP date. It returns 0 when there is none.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
