package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/store"
)

// syncBuffer is a buffer a running command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serving is an `evalctl view` running in-process.
type serving struct {
	url    string // as printed: with the token when one was made
	stderr *syncBuffer
	stop   func() int
}

// startView runs `evalctl view ARGS` until stop, once it prints its address.
func startView(t *testing.T, env map[string]string, args ...string) serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errb := &syncBuffer{}
	sys := &IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, Getwd: os.Getwd,
		Context: func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }, Args: append([]string{"view"}, args...)}
	done := make(chan int, 1)
	go func() { done <- Main(sys) }()
	addr := regexp.MustCompile(`(?:open|at) (http://\S+?/(?:\?token=[0-9a-f]+)?)[ \n]`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := addr.FindStringSubmatch(errb.String()); m != nil {
			s := serving{url: m[1], stderr: errb}
			s.stop = func() int { cancel(); return <-done }
			t.Cleanup(func() { cancel() })
			return s
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("evalctl view exited %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("evalctl view printed no address: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestViewStartupErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("this is not a database, not at all, just text that goes on for a while"), 0o644)
	good := filepath.Join(dir, "good.db")
	st, err := store.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec(`CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)`); err != nil {
		t.Fatal(err)
	}
	fdb.Close()
	foreignBytes, _ := os.ReadFile(foreign)
	old := filepath.Join(dir, "old.db")
	if st, err := store.OpenAt(context.Background(), old, 6); err != nil {
		t.Fatal(err)
	} else {
		st.Close()
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing store", []string{"--store", filepath.Join(dir, "nope.db")}, "no run store at " + filepath.Join(dir, "nope.db") + ": record a run first"},
		{"store is a directory", []string{"--store", dir}, "is a directory"},
		{"not a store", []string{"--store", garbage}, "not an evalctl store (the file is not a SQLite database)"},
		{"not a store, read-only", []string{"--store", garbage, "--read-only"}, "not an evalctl store"},
		{"another program's database", []string{"--store", foreign}, "not an evalctl store (a SQLite database with 1 tables of another program"},
		{"another program's database, read-only", []string{"--store", foreign, "--read-only"}, "not an evalctl store"},
		{"an older store, read-only", []string{"--store", old, "--read-only"}, "schema version 6, older than this evalctl's"},
		{"port in use", []string{"--store", good, "--addr", busy.Addr().String()}, busy.Addr().String() + " is in use"},
		{"bad address", []string{"--store", good, "--addr", "127.0.0.1:99999"}, "--addr 127.0.0.1:99999"},
		{"unknown flag", []string{"--store", good, "--port", "1"}, "unknown flag: --port"},
	} {
		r := run(t, nil, nil, append([]string{"view"}, tc.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line with %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); err == nil {
		t.Error("view created the store it did not find")
	}
	if b, _ := os.ReadFile(foreign); !bytes.Equal(b, foreignBytes) {
		t.Error("view wrote into another program's database")
	}
	if v := schemaVersion(t, old); v != 6 {
		t.Errorf("view --read-only migrated an old store to version %d", v)
	}
}

// schemaVersion reads a store's schema version without opening it as a store.
func schemaVersion(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int64
	if err := db.QueryRow(`SELECT MAX(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestViewReadOnlyWritesNothing: --read-only serves every page from a store
// whose file it never writes, and refuses label writes.
func TestViewReadOnlyWritesNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	if r := run(t, nil, nil, "run", "--config", project(t, nil), "--store", db); r.code != ExitOK {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	before, _ := os.ReadFile(db)
	v := startView(t, nil, "--store", db, "--addr", "127.0.0.1:0", "--read-only")
	get := func(path string) string {
		res, err := http.Get(v.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("/%s: %d", path, res.StatusCode)
		}
		return string(b)
	}
	m := regexp.MustCompile(`href="/runs/([^"/?]+)"`).FindStringSubmatch(get(""))
	if m == nil {
		t.Fatal("the runs page links no run")
	}
	for _, path := range []string{"runs/" + m[1], "runs/" + m[1] + "?order=review", "runs/" + m[1] + "/cells/1", "trend", "prompts"} {
		get(path)
	}
	if code := v.stop(); code != ExitOK {
		t.Errorf("stopped: exit %d: %s", code, v.stderr.String())
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Error("view --read-only changed the store file")
	}
}

func TestViewNeedsATokenOffLoopback(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	if r := run(t, nil, nil, "run", "--config", project(t, nil), "--store", db); r.code != ExitOK {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	v := startView(t, nil, "--store", db, "--addr", "0.0.0.0:0")
	m := regexp.MustCompile(`^http://[^/]+:(\d+)/\?token=([0-9a-f]{32,})$`).FindStringSubmatch(v.url)
	if m == nil || !strings.Contains(v.stderr.String(), "printed once") {
		t.Fatalf("no token printed: %s", v.stderr.String())
	}
	base := "http://127.0.0.1:" + m[1]
	for _, path := range []string{"/", "/assets/view.js", "/trend", "/prompts"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", path, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Authorization", "Bearer "+m[2])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d", res.StatusCode)
	}
	if code := v.stop(); code != ExitOK {
		t.Errorf("stopped: exit %d", code)
	}
	// A token given in the environment is used, and never printed.
	v = startView(t, map[string]string{"EVALCTL_VIEW_TOKEN": "from-the-env-0123456789"}, "--store", db, "--addr", "0.0.0.0:0", "--read-only")
	if strings.Contains(v.stderr.String(), "from-the-env") || !strings.Contains(v.stderr.String(), "read-only") {
		t.Errorf("stderr: %s", v.stderr.String())
	}
	v.stop()
}

// Labels given in the page are stored, survive a restart and change what
// evalctl judge calibrate says; they export and import as CSV.
func TestViewLabelsChangeCalibration(t *testing.T) {
	files := map[string]string{
		"questions.csv":     numberedQuestions(12),
		"prompts/basic.txt": "Question: {question}",
		"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, use: [basic, concise], system: ''}
models: [sim:a]
scorers:
  - {name: long_enough, type: word_count, min: 70}
`,
	}
	cfg := project(t, files)
	db := filepath.Join(t.TempDir(), "s.db")
	if r := run(t, nil, nil, "run", "--config", cfg, "--store", db); r.code != ExitOK {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, nil, "judge", "calibrate", "--store", db); r.code != ExitUsage || !strings.Contains(r.stderr, "has no human labels: label its answers in evalctl view") {
		t.Errorf("calibrate without labels: %d %s", r.code, r.stderr)
	}
	// The scorer's verdicts, by cell.
	st, _ := store.Open(db)
	last, _ := st.Run(context.Background(), "last")
	verdict := map[int]bool{}
	st.EachRecord(context.Background(), last, true, func(r eval.Record) error { verdict[r.Index] = *r.Feedback[0].Pass; return nil })
	st.Close()

	v := startView(t, map[string]string{"USER": "ann"}, "--store", db, "--addr", "127.0.0.1:0")
	page, err := http.Get(v.url + "runs/" + last.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	csrf := regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]+)">`).FindSubmatch(body)[1]
	label := func(cell int, value string) {
		b, _ := json.Marshal(map[string]any{"cell": cell, "criterion": "long_enough", "value": value})
		req, _ := http.NewRequest("POST", v.url+"runs/"+last.ID+"/labels", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", string(csrf))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("label %d: %d", cell, res.StatusCode)
		}
	}
	// People agree with the scorer on every answer but one.
	for i := range len(verdict) {
		label(i, passFail(verdict[i]))
	}
	first := 0
	label(first, passFail(!verdict[first]))
	v.stop() // a restart: the labels are in the store

	kappa := func(args ...string) float64 {
		t.Helper()
		r := run(t, nil, nil, append([]string{"judge", "calibrate", last.ID, "--store", db, "--json"}, args...)...)
		if r.code != ExitOK {
			t.Fatalf("calibrate: %d %s", r.code, r.stderr)
		}
		var out []struct {
			Kappa *float64 `json:"kappa"`
			N     int      `json:"answers"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 || out[0].Kappa == nil || out[0].N != len(verdict) {
			t.Fatalf("calibrate: %s %v", r.stdout, err)
		}
		return *out[0].Kappa
	}
	k1 := kappa()
	if k1 >= 1 || k1 <= 0 {
		t.Errorf("κ with one disagreement: %v", k1)
	}
	if r := run(t, nil, nil, "judge", "calibrate", last.ID, "--store", db); !strings.Contains(r.stdout, "the labels stored with it ("+strconv.Itoa(len(verdict))+")") ||
		strings.Count(r.stdout, "human ") != 1 {
		t.Errorf("calibrate:\n%s", r.stdout)
	}
	// Reports show the labels beside the verdicts with the agreement.
	n := len(verdict)
	want := fmt.Sprintf("People labelled long_enough on %d answers: they agree with its verdict on %d of %d", n, n-1, n)
	for _, format := range []string{"table", "md"} {
		if r := run(t, nil, nil, "report", last.ID, "--store", db, "--format", format); r.code != ExitOK || !strings.Contains(strings.ReplaceAll(r.stdout, `\_`, "_"), want) {
			t.Errorf("report --format %s: %d, lacks %q:\n%s", format, r.code, want, r.stdout)
		}
	}
	if r := run(t, nil, nil, "report", last.ID, "--store", db, "--format", "json"); !strings.Contains(r.stdout, `"human_agreement"`) {
		t.Errorf("report.json lacks human_agreement:\n%s", r.stdout)
	}
	// Export, then calibrate against the file: the same κ.
	csvPath := filepath.Join(t.TempDir(), "labels.csv")
	if r := run(t, nil, nil, "judge", "labels", "export", last.ID, "--store", db, "-o", csvPath); r.code != ExitOK {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	if k := kappa("--labels", csvPath); k != k1 {
		t.Errorf("κ from the exported file %v, from the store %v", k, k1)
	}
	exported, _ := os.ReadFile(csvPath)
	if !strings.HasPrefix(string(exported), "row_id,prompt,model,repeat,variant,scorer,label,comment,author,labelled_at\n") || !strings.Contains(string(exported), ",ann,") {
		t.Errorf("export:\n%s", exported)
	}
	// Importing it again adds nothing; importing a correction changes κ.
	if r := run(t, nil, nil, "judge", "labels", "import", csvPath, last.ID, "--store", db); r.code != ExitOK || !strings.Contains(r.stderr, "0 labels of") {
		t.Errorf("re-import: %d %s", r.code, r.stderr)
	}
	fix := strings.Replace(string(exported), ","+passFail(!verdict[first])+",", ","+passFail(verdict[first])+",", 1)
	os.WriteFile(csvPath, []byte(fix), 0o644)
	if r := run(t, nil, nil, "judge", "labels", "import", csvPath, last.ID, "--store", db, "--author", "bob"); r.code != ExitOK || !strings.Contains(r.stderr, fmt.Sprintf("1 labels of %s stored", csvPath)) {
		t.Errorf("import: %d %s", r.code, r.stderr)
	}
	r := run(t, nil, nil, "judge", "calibrate", last.ID, "--store", db, "--json")
	if !strings.Contains(r.stdout, `"kappa": 1`) && !strings.Contains(r.stdout, `"accuracy": 1`) {
		t.Errorf("after the correction:\n%s", r.stdout)
	}
	// A label file naming an unknown scorer is refused at its line.
	os.WriteFile(csvPath, []byte("row_id,prompt,model,scorer,label\nq000,basic,sim:a,nope,pass\n"), 0o644)
	if r := run(t, nil, nil, "judge", "labels", "import", csvPath, "--store", db); r.code != ExitUsage || !strings.Contains(r.stderr, "labels.csv:2: field scorer") {
		t.Errorf("unknown scorer: %d %s", r.code, r.stderr)
	}
}
