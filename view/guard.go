package view

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
)

// NewToken returns a random token for a server that others can reach.
func NewToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// securityHeaders are sent with every response.
var securityHeaders = map[string]string{
	// Scripts and styles come from the server's own assets only: no inline
	// script, so even markup that slipped into a page could not run.
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	// The token may be in the address of the first request: it is never
	// sent on to another site.
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// guard wraps the routes in the checks every request passes: the host (a
// loopback server answers only loopback names, against DNS rebinding), the
// token (when the server has one), and for requests that write, the origin,
// the CSRF token and read-only mode.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if s.opts.Loopback && s.opts.Token == "" && !loopbackHost(r.Host) {
			http.Error(w, "403: this evalctl view answers on localhost only (its address names another host)", http.StatusForbidden)
			return
		}
		if s.opts.Token != "" {
			ok, fromQuery := s.authorized(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="evalctl view"`)
				http.Error(w, "401: this evalctl view needs its token: open the address it printed (…/?token=…)", http.StatusUnauthorized)
				return
			}
			if fromQuery {
				// Keep the token in an HttpOnly cookie, out of the address bar,
				// history and bookmarks.
				http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: s.opts.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					u := *r.URL
					q := u.Query()
					q.Del("token")
					u.RawQuery = q.Encode()
					http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
					return
				}
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := s.origin.Check(r); err != nil {
				http.Error(w, "403: cross-origin request refused", http.StatusForbidden)
				return
			}
			if !s.csrfOK(w, r) {
				http.Error(w, "403: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
				return
			}
			if s.opts.ReadOnly {
				http.Error(w, "403: this evalctl view is read-only (started with --read-only)", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the token, and whether in its query.
func (s *Server) authorized(r *http.Request) (ok, fromQuery bool) {
	if t := r.URL.Query().Get("token"); t != "" {
		return equal(t, s.opts.Token), true
	}
	if c, err := r.Cookie(s.cookie); err == nil && equal(c.Value, s.opts.Token) {
		return true, false
	}
	if h, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return equal(strings.TrimSpace(h), s.opts.Token), false
	}
	return false, false
}

// csrfOK reports whether a writing request carries the server's CSRF token,
// in the X-CSRF-Token header or the csrf form field.
func (s *Server) csrfOK(w http.ResponseWriter, r *http.Request) bool {
	t := r.Header.Get("X-CSRF-Token")
	if t == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		t = r.PostFormValue("csrf")
	}
	return t != "" && equal(t, s.csrf)
}

// maxBody bounds what a writing request may send.
const maxBody = 64 << 10

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// cookieName names the token cookie after the token, so that two servers on
// one host (cookies ignore ports) keep theirs apart.
func cookieName(token string) string {
	h := sha256.Sum256([]byte(token))
	return "evalctl_view_" + hex.EncodeToString(h[:4])
}

// loopbackHost reports whether a Host header names this machine's loopback:
// localhost (or a name under it) or a loopback address, with any port.
func loopbackHost(host string) bool {
	h := host
	if x, _, err := net.SplitHostPort(host); err == nil {
		h = x
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// localPath returns p when it is a path on this server, else fallback: a
// form's way back is never another site.
func localPath(p, fallback string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return fallback
	}
	return p
}
