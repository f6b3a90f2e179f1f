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
	// MaxWait bounds the time one call spends waiting for rate limits: the
	// pacing of its model and the Retry-After of its 429s. A 429 does not
	// spend an attempt; a call still refused after MaxWait ends with the 429.
	// 0 means no bound.
	MaxWait time.Duration
	// AttemptTimeout bounds one attempt, reading the body included. 0 = none.
	AttemptTimeout time.Duration
}

// DefaultPolicy suits hosted APIs.
var DefaultPolicy = Policy{
	MaxAttempts:    5,
	BaseDelay:      500 * time.Millisecond,
	MaxDelay:       20 * time.Second,
	MaxWait:        10 * time.Minute,
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
	// Pacer, when set, paces attempts per model at the rate the endpoint
	// allows, learnt from its 429s and rate-limit headers.
	Pacer *Pacer

	health health
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

type modelKey struct{}

// WithModel returns a context whose requests are paced as calls to model
// (vendors limit each model apart).
func WithModel(ctx context.Context, model string) context.Context {
	return context.WithValue(ctx, modelKey{}, model)
}

type onceKey struct{}

// Once returns a context whose requests are not repeated once they may have
// reached the server: a 5xx, a timeout, a network error or a malformed body
// ends the call. Use it for requests that are not idempotent, such as
// creating a Batch API batch, where a retry after a lost answer could create
// (and pay for) a second one; the caller checks what the server did. A 429
// is still waited for and retried: the server refused the request.
func Once(ctx context.Context) context.Context { return context.WithValue(ctx, onceKey{}, true) }

type fileKey struct{}

// File returns a context whose requests download a file (a Batch API output
// file is JSON Lines, not one JSON value): a successful answer is taken as it
// is, whatever its content type, instead of being retried as malformed or
// counted against the endpoint's health.
func File(ctx context.Context) context.Context { return context.WithValue(ctx, fileKey{}, true) }

// AttemptError is returned when the last attempt failed without a response.
type AttemptError struct {
	Attempts int
	Timeout  bool // the last attempt ran out of time
	// RateLimited is set when the call waited MaxWait for its model's rate
	// limit without being sent.
	RateLimited bool
	Err         error
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
	var deadline time.Time
	if t.Policy.MaxWait > 0 {
		deadline = time.Now().Add(t.Policy.MaxWait)
	}
	var refused *http.Response // the last 429, returned when waiting ends
	for attempt := 1; ; {
		resp, retryAfter, reason, err := t.attempt(ctx, tr, base, req, body, deadline)
		if ctx.Err() != nil {
			tr.add("")
			return nil, ctx.Err()
		}
		if errors.Is(err, errWaitTooLong) {
			tr.add("")
			if refused != nil {
				return refused, nil
			}
			return nil, &AttemptError{Attempts: attempt, RateLimited: true, Err: err}
		}
		if reason == "429" {
			// A refusal for the rate is not a failed attempt: wait as told
			// (or back off) and try again, within MaxWait.
			refused = resp
			delay := retryAfter
			if delay <= 0 {
				delay = bo.NextBackOff()
			}
			delay += time.Duration(float64(delay) * 0.1 * jitter())
			if !deadline.IsZero() && time.Now().Add(delay).After(deadline) {
				tr.add("")
				return resp, nil
			}
			tr.add(reason)
			t0 := time.Now()
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			tr.queued(time.Since(t0))
			continue
		}
		once, _ := ctx.Value(onceKey{}).(bool)
		if reason == "" || attempt >= t.Policy.MaxAttempts || errors.Is(err, errDeadEndpoint) || once {
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
		attempt++
	}
}

// attempt performs one try. It returns the response (body fully read), the
// server's requested wait, and a non-empty reason when the try should be
// retried ("429" for a refusal for the rate).
func (t *Transport) attempt(ctx context.Context, tr *Trace, base http.RoundTripper, req *http.Request, body []byte, deadline time.Time) (*http.Response, time.Duration, string, error) {
	if err := t.health.check(); err != nil {
		return nil, 0, "", err
	}
	waitStart := time.Now()
	var tk ticket
	if t.Pacer != nil {
		model, _ := ctx.Value(modelKey{}).(string)
		var err error
		if tk, err = t.Pacer.acquire(ctx, model, deadline); err != nil {
			return nil, 0, "", err
		}
	}
	if t.Limiter != nil {
		if err := t.Limiter.Wait(ctx); err != nil {
			t.Pacer.done(tk, 0, nil, 0)
			return nil, 0, "", err
		}
	}
	if t.Sem != nil {
		select {
		case t.Sem <- struct{}{}:
			defer func() { <-t.Sem }()
		case <-ctx.Done():
			t.Pacer.done(tk, 0, nil, 0)
			return nil, 0, "", ctx.Err()
		}
	}
	if t.Limiter != nil || t.Sem != nil || t.Pacer != nil {
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
	if err != nil {
		t.Pacer.done(tk, 0, nil, 0)
		if cause := deadCause(err); cause != "" {
			if dead := t.health.bad(req.URL, cause); dead != nil {
				return nil, 0, "", dead
			}
		}
		return nil, 0, reasonFor(err), err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Pacer.done(tk, 0, nil, 0)
		return nil, 0, reasonFor(err), err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	retryAfter := RetryAfter(resp.Header, time.Now())
	t.Pacer.done(tk, resp.StatusCode, resp.Header, retryAfter)
	if file, _ := ctx.Value(fileKey{}).(bool); file && resp.StatusCode/100 == 2 {
		t.health.good()
		return resp, 0, "", nil
	}
	valid := json.Valid(data)
	if valid {
		t.health.good()
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return resp, retryAfter, "429", nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return resp, retryAfter, strconv.Itoa(resp.StatusCode), nil
	case resp.StatusCode/100 == 2 && resp.StatusCode != http.StatusNoContent && !valid && !isJSON(resp.Header):
		ct := resp.Header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		if dead := t.health.bad(req.URL, fmt.Sprintf("answered HTTP %d with %s, not the API's JSON", resp.StatusCode, ct)); dead != nil {
			return nil, 0, "", dead
		}
		return resp, 0, "", nil
	case resp.StatusCode/100 == 2 && !valid:
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
