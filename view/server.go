package view

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/evalctl/evalctl/reports"
	"github.com/evalctl/evalctl/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/view.css assets/view.js
var assetFS embed.FS

// Options configure a Server.
type Options struct {
	// Token, when set, is required on every request: in the query of the
	// first (?token=, then kept in a cookie), or as "Authorization: Bearer".
	Token string
	// Loopback says the server listens on a loopback address: without a
	// token it then answers only requests that name a loopback host.
	Loopback bool
	// ReadOnly serves the pages without label writes.
	ReadOnly bool
	// Author signs the labels people give (their name, by default $USER).
	Author string
	// Log receives a line per failed request (nil: discarded).
	Log io.Writer
}

// Server is the web app over one store. It is an http.Handler.
type Server struct {
	st      *store.Store
	opts    Options
	csrf    string
	cookie  string
	origin  *http.CrossOriginProtection
	pages   *template.Template
	handler http.Handler
	sums    *summaries
	log     *log.Logger
	assets  map[string]asset

	cmpMu    sync.Mutex
	compares map[string]*comparison
}

type asset struct {
	body []byte
	kind string
}

// New returns the app over st.
func New(st *store.Store, opts Options) (*Server, error) {
	if opts.Author == "" {
		opts.Author = "anonymous"
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	s := &Server{st: st, opts: opts, csrf: NewToken(), cookie: cookieName(opts.Token), origin: http.NewCrossOriginProtection(),
		sums: newSummaries(st), compares: map[string]*comparison{}, log: log.New(opts.Log, "evalctl view: ", 0)}
	pages, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.assets = map[string]asset{"chart.js": {reports.ChartJS(), "text/javascript; charset=utf-8"}}
	for name, kind := range map[string]string{"view.css": "text/css; charset=utf-8", "view.js": "text/javascript; charset=utf-8"} {
		b, err := fs.ReadFile(assetFS, "assets/"+name)
		if err != nil {
			return nil, err
		}
		s.assets[name] = asset{b, kind}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.runsPage)
	mux.HandleFunc("GET /runs/{id}", s.runPage)
	mux.HandleFunc("GET /runs/{id}/row", s.runRow)
	mux.HandleFunc("GET /runs/{id}/summary", s.summaryFragment)
	mux.HandleFunc("GET /runs/{id}/cells/{idx}", s.cellPage)
	mux.HandleFunc("POST /runs/{id}/labels", s.postLabel)
	mux.HandleFunc("GET /compare", s.comparePage)
	mux.HandleFunc("GET /compare/question", s.questionPage)
	mux.HandleFunc("GET /trend", s.trendPage)
	mux.HandleFunc("GET /prompts", s.promptsPage)
	mux.HandleFunc("GET /assets/{name}", s.serveAsset)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.handler = s.guard(mux)
	return s, nil
}

// ServeHTTP serves the app.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Warm counts the summaries of the newest runs in the background, so that
// their pages open at once.
func (s *Server) Warm(ctx context.Context, n int) {
	runs, err := s.st.Runs(ctx)
	if err != nil {
		return
	}
	for i, run := range runs {
		if i == n || ctx.Err() != nil {
			return
		}
		s.sums.get(ctx, run, time.Hour)
	}
}

func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.kind)
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(a.body)
}

// page is what every page template gets besides its own data.
type page struct {
	Title    string
	Nav      string // the menu entry to mark
	CSRF     string
	ReadOnly bool
	Author   string
	Data     any
}

// render writes template name with data, or the error page when it fails
// (nothing of a half-rendered page is sent).
func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title, nav string, data any) {
	var b bytes.Buffer
	p := page{Title: title, Nav: nav, CSRF: s.csrf, ReadOnly: s.opts.ReadOnly, Author: s.opts.Author, Data: data}
	if err := s.pages.ExecuteTemplate(&b, name, p); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// badRequest is an error in what a request asked for.
type badRequest struct{ error }

func badRequestf(format string, args ...any) error { return badRequest{fmt.Errorf(format, args...)} }

// fail answers with the status an error calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var br badRequest
	switch {
	case errors.Is(err, store.ErrNoRun), errors.Is(err, store.ErrNoCell), errors.Is(err, store.ErrNoPrompt):
		code = http.StatusNotFound
	case errors.As(err, &br):
		code = http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		return // the browser went away
	default:
		s.log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	http.Error(w, fmt.Sprintf("%d: %v", code, err), code)
}

// run reads the run named by the request's path.
func (s *Server) run(r *http.Request) (*store.Run, error) {
	return s.st.RunByID(r.Context(), r.PathValue("id"))
}

// intParam reads a non-negative integer query parameter (def when absent).
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequestf("%s=%q: want a whole number", name, v)
	}
	return n, nil
}
