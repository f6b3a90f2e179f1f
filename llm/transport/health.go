package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"syscall"
)

// deadAfter is how many attempts in a row must fail in a way that cannot
// heal (connection refused, a body that is not JSON) before an endpoint that
// never answered is declared dead.
const deadAfter = 3

// errDeadEndpoint matches every *EndpointError.
var errDeadEndpoint = errors.New("dead endpoint")

// EndpointError says that an endpoint has never answered and every attempt
// fails the same way: calling it again cannot help, so the run stops.
type EndpointError struct {
	URL      string // the endpoint, without credentials or query
	Cause    string // "connection refused", "answered HTTP 200 with text/html, ..."
	Failures int
}

func (e *EndpointError) Error() string {
	return fmt.Sprintf("endpoint %s: %s (%d attempts in a row, none answered)", e.URL, e.Cause, e.Failures)
}

// Is makes errors.Is(err, errDeadEndpoint) true.
func (e *EndpointError) Is(target error) bool { return target == errDeadEndpoint }

// health tells a dead endpoint from a blip: an endpoint that has answered
// once (any JSON body, errors included) is never declared dead.
type health struct {
	mu    sync.Mutex
	ok    bool
	fails int
	dead  *EndpointError
}

func (h *health) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dead != nil {
		return h.dead
	}
	return nil
}

func (h *health) good() {
	h.mu.Lock()
	h.ok, h.fails = true, 0
	h.mu.Unlock()
}

// bad counts an attempt that failed for cause; it returns the endpoint's
// error once it is dead, and nil while the failure may still be a blip.
func (h *health) bad(u *url.URL, cause string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ok {
		return nil
	}
	h.fails++
	if h.dead == nil && h.fails >= deadAfter {
		h.dead = &EndpointError{URL: endpointOf(u), Cause: cause, Failures: h.fails}
	}
	if h.dead != nil {
		return h.dead
	}
	return nil
}

// endpointOf names an endpoint for people: scheme, host and path, never
// user information or the query.
func endpointOf(u *url.URL) string {
	if u == nil {
		return "?"
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return c.String()
}

// deadCause returns why err means an endpoint that cannot answer, or "" for
// errors that may heal.
func deadCause(err error) string {
	var rec tls.RecordHeaderError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &rec):
		return "not a TLS server (is the base URL http:// rather than https://?)"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "an HTTP server behind an https:// URL"
	case strings.Contains(err.Error(), "unsupported protocol scheme"):
		return "not an http:// or https:// URL"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "closed the connection without an answer"
	}
	return ""
}
