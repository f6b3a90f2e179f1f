package simmcp

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestSearch(t *testing.T) {
	tests := []struct {
		query string
		n     int
		want  []string // URLs, best first
	}{
		{"What is an algorithm?", 1, []string{"https://en.wikipedia.org/wiki/Algorithm"}},
		{"What is computer science?", 1, []string{"https://en.wikipedia.org/wiki/Computer_science"}},
		{"In the context of SE Lifecycle, what is the Waterfall Model?", 1, []string{"https://en.wikipedia.org/wiki/Waterfall_model"}},
		{"In a *nix system shell, how would you to remove directory bar?", 1, []string{"https://www.gnu.org/software/coreutils/manual/coreutils.html"}},
		{"What is the purpose and the effect of the command `git checkout -b NAME`?", 1,
			[]string{"https://git-scm.com/book/en/v2/Git-Branching-Branches-in-a-Nutshell"}},
		{"semantic versioning", 2, []string{"https://semver.org/", "https://semantic-release.gitbook.io/semantic-release/"}},
		{"ALGORITHMS!", 1, []string{"https://en.wikipedia.org/wiki/Algorithm"}}, // case and plurals folded
		{"what is the", 3, nil}, // stopwords only
		{"xylophone", 3, nil},   // nothing matches
		{"algorithm", 0, nil},   // none wanted
		{"git", 50, nil},        // checked below: every page holding "git", no more
	}
	for _, tc := range tests {
		got := Search(tc.query, tc.n)
		if tc.query == "git" {
			if len(got) < 4 || len(got) >= len(corpus) {
				t.Errorf("Search(git) found %d pages", len(got))
			}
			continue
		}
		var urls []string
		for _, p := range got {
			urls = append(urls, p.URL)
		}
		if strings.Join(urls, " ") != strings.Join(tc.want, " ") {
			t.Errorf("Search(%q, %d) = %q, want %q", tc.query, tc.n, urls, tc.want)
		}
	}
	// The same query gets the same answer.
	a, b := Search("distributed systems consistency", 5), Search("distributed systems consistency", 5)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("Search is not deterministic")
		}
	}
}

func TestCorpus(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range corpus {
		if p.Title == "" || !strings.HasPrefix(p.URL, "https://") || len(p.Snippet) < 40 || seen[p.URL] {
			t.Errorf("page %+v", p)
		}
		seen[p.URL] = true
	}
	if len(corpus) < 60 {
		t.Errorf("%d pages", len(corpus))
	}
}

func TestFormat(t *testing.T) {
	got := Format("algorithm", Search("algorithm", 2))
	want := "1. [Algorithm - Wikipedia](https://en.wikipedia.org/wiki/Algorithm)\n" +
		"   An algorithm is a finite sequence of well-defined instructions that takes some input and produces an output, typically used to solve a class of problems or to perform a computation.\n2. ["
	if !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 3 {
		t.Errorf("Format = %q", got)
	}
	if got := Format(`x "y"`, nil); got != `No results for "x \"y\"".` {
		t.Errorf("no results: %q", got)
	}
}

// connect serves o in-process over pipes and returns a client session.
func connect(t *testing.T, o Options) *mcp.ClientSession {
	t.Helper()
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o, sr, sw) }()
	sess, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(ctx, &mcp.IOTransport{Reader: cr, Writer: cw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sess.Close()
		cancel()
		sw.Close()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("Serve: %v", err)
		}
	})
	return sess
}

func call(t *testing.T, ctx context.Context, s *mcp.ClientSession, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	return s.CallTool(ctx, &mcp.CallToolParams{Name: ToolName, Arguments: args})
}

func text(r *mcp.CallToolResult) string { return r.Content[0].(*mcp.TextContent).Text }

func TestFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("error every 2", func(t *testing.T) {
		s := connect(t, Options{ErrorEvery: 2})
		for i, wantErr := range []bool{false, true, false, true} {
			r, err := call(t, ctx, s, map[string]any{"query": "git"})
			if err != nil || r.IsError != wantErr {
				t.Errorf("call %d: %+v %v", i+1, r, err)
			}
		}
	})
	t.Run("hang every 2", func(t *testing.T) {
		s := connect(t, Options{HangEvery: 2})
		if _, err := call(t, ctx, s, map[string]any{"query": "git"}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := call(t, cctx, s, map[string]any{"query": "git"}); err == nil {
			t.Error("call 2 answered")
		}
	})
	t.Run("crash once", func(t *testing.T) {
		var mu sync.Mutex
		var exits []int
		file := filepath.Join(t.TempDir(), "crashed")
		o := Options{CrashAfter: 2, CrashOnce: file, Exit: func(code int) { mu.Lock(); exits = append(exits, code); mu.Unlock() }}
		s := connect(t, o)
		for range 3 {
			call(t, ctx, s, map[string]any{"query": "git"})
		}
		// A second server (the restarted one) finds the file and behaves.
		s2 := connect(t, o)
		for range 3 {
			call(t, ctx, s2, map[string]any{"query": "git"})
		}
		if len(exits) != 1 || exits[0] != 3 {
			t.Errorf("exits = %v", exits)
		}
	})
	t.Run("result bytes", func(t *testing.T) {
		s := connect(t, Options{ResultBytes: 5000})
		r, err := call(t, ctx, s, map[string]any{"query": "git"})
		if err != nil || len(text(r)) < 5000 || !strings.HasPrefix(text(r), "1. [") {
			t.Errorf("%d bytes, %v", len(text(r)), err)
		}
	})
	t.Run("max_results and schema", func(t *testing.T) {
		s := connect(t, Options{})
		r, err := call(t, ctx, s, map[string]any{"query": "git", "max_results": 4})
		if err != nil || strings.Count(text(r), "\n") != 7 {
			t.Errorf("%v %v", r, err)
		}
		r, err = call(t, ctx, s, map[string]any{"query": "git", "max_results": 11})
		if err != nil || !r.IsError {
			t.Errorf("max_results 11: %+v %v", r, err)
		}
		r, err = call(t, ctx, s, map[string]any{"query": "git"})
		if err != nil || strings.Count(text(r), "\n") != 5 {
			t.Errorf("default: %v %v", r, err)
		}
	})
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()
	ctx := context.Background()
	sess, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r, err := call(t, ctx, sess, map[string]any{"query": "What is UML?"})
	if err != nil || !strings.HasPrefix(text(r), "1. [Unified Modeling Language - Wikipedia]") {
		t.Errorf("%v %v", r, err)
	}
}

func FuzzSearch(f *testing.F) {
	for _, s := range []string{"What is an algorithm?", "", "ÅÄÖ ß", "git git git", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		a := Search(q, 3)
		if len(a) > 3 {
			t.Fatal(len(a))
		}
		b := Search(q, 3)
		for i := range a {
			if a[i] != b[i] {
				t.Fatal("not deterministic")
			}
		}
		_ = Format(q, a)
	})
}
