// Package view is evalctl's web app, `evalctl view`: a net/http server over
// the run store that lists runs, shows a run with server-side filtering and
// paging, a cell with its messages, verdicts and trace, compares two runs,
// draws the trend of a run's scorers across runs, browses prompt versions,
// and lets people label answers (pass or fail per criterion, with a
// comment), kept in the store with author and time.
//
// It reads the store live while runs write to it: SQLite in WAL mode lets
// readers and a writer work at once, and a run's summary is recomputed
// when its cells or assessments change.
//
// Safe by default: a Server answers only requests that name a loopback host
// unless it has a token, and with a token it refuses every request without
// it (401, assets included). Label writes are POSTs checked for their
// origin (net/http's CrossOriginProtection) and for a per-server token
// carried in a header or form field; read-only servers refuse them. Every
// text from a run is rendered as text: pages are html/template, fragments
// are set by the script from the server's own escaped HTML or with
// textContent, and the Content-Security-Policy allows no inline script.
package view
