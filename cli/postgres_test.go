package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/internal/pgtest"
	"github.com/evalctl/evalctl/llm/sim"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgStore is a PostgreSQL database of the test's own.
func pgStore(t *testing.T) string { return pgtest.Database(t, "evalctl_cli") }

// TestPostgresStore: the same run on a PostgreSQL store and on a SQLite
// file prints the same table, and every reader works on it; the password
// of the URL is kept out of everything evalctl prints and stores.
func TestPostgresStore(t *testing.T) {
	url := pgStore(t)
	password := ""
	if cfg, err := pgx.ParseConfig(url); err == nil {
		password = cfg.Password
	}
	cfg := project(t, nil)
	liteDB := t.TempDir() + "/s.db"
	lite := run(t, nil, nil, "run", "--config", cfg, "--store", liteDB)
	pg := run(t, nil, nil, "run", "--config", cfg, "--store", url)
	if lite.code != ExitOK || pg.code != ExitOK {
		t.Fatalf("sqlite %d %s; postgres %d %s", lite.code, lite.stderr, pg.code, pg.stderr)
	}
	// The run's table is what the store gives back.
	clean := regexp.MustCompile(`\d+(\.\d+)?\s?(µs|ms|s)\b`)
	if rep := run(t, nil, nil, "report", "last", "--store", url); clean.ReplaceAllString(rep.stdout, "…") != clean.ReplaceAllString(pg.stdout, "…") {
		t.Errorf("report differs from the run's table:\n--- run\n%s\n--- report\n%s", pg.stdout, rep.stdout)
	}
	// Judges fence answers with tags made from each store's own salt, so
	// the simulated judges' words differ between stores; the answers and the
	// Go scorers' verdicts do not.
	generation := func(store string) string {
		r := run(t, nil, nil, "report", "last", "--store", store, "--format", "json")
		var doc struct {
			Groups []struct {
				Variant          string
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
				Scorers          []struct {
					Name       string
					Pass, Fail int
				}
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("report.json: %v", err)
		}
		var b strings.Builder
		for _, g := range doc.Groups {
			fmt.Fprintf(&b, "%s %d %d", g.Variant, g.PromptTokens, g.CompletionTokens)
			for _, sc := range g.Scorers {
				if sc.Name == "enough_words" {
					fmt.Fprintf(&b, " %d/%d", sc.Pass, sc.Fail)
				}
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	if a, b := generation(liteDB), generation(url); a != b {
		t.Errorf("answers differ:\n--- sqlite\n%s--- postgres\n%s", a, b)
	}
	// Resume, score, report, runs, gate: each reads it.
	env := map[string]string{"EVALCTL_STORE": url}
	for _, args := range [][]string{
		{"run", "--config", cfg, "--resume", "last"},
		{"score", "last", "--config", cfg},
		{"report", "last", "--format", "json"},
		{"runs", "list"},
		{"runs", "show", "last"},
		{"prompts", "list"},
		{"judge", "labels", "export", "last"},
	} {
		r := run(t, nil, env, args...)
		if r.code != ExitOK {
			t.Errorf("%s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		if password != "" && (strings.Contains(r.stdout, password) || strings.Contains(r.stderr, password)) {
			t.Errorf("%s printed the password", strings.Join(args, " "))
		}
	}
	if password != "" && (strings.Contains(pg.stderr, password) || strings.Contains(pg.stdout, password)) {
		t.Error("run printed the password")
	}
	// Nothing stored holds the password (the run keeps its options).
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM runs WHERE strpos(spec, $1) > 0 OR strpos(config, $1) > 0`, password).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d runs store the password (%v)", n, err)
	}
}

// TestPostgresBadURLs: an unreachable server, a wrong password, a database
// that does not exist, another program's database and a newer schema are
// one line each and exit 2, without the password.
func TestPostgresBadURLs(t *testing.T) {
	url := pgStore(t)
	cfg, _ := pgx.ParseConfig(url)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	port := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	wrong := strings.Replace(url, ":"+cfg.Password+"@", ":not-the-password-4711@", 1)
	missing := strings.Replace(url, "/"+cfg.Database, "/no_such_database_here", 1)
	foreign := pgStore(t)
	if db, err := sql.Open("pgx", foreign); err == nil {
		db.Exec(`CREATE TABLE invoices(id int)`)
		db.Close()
	}
	newer := pgStore(t)
	if r := run(t, nil, nil, "runs", "list", "--store", newer); r.code != ExitOK {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	if db, err := sql.Open("pgx", newer); err == nil {
		db.Exec(`INSERT INTO goose_db_version(version_id, is_applied) VALUES (99, TRUE)`)
		db.Close()
	}
	for _, tc := range []struct{ name, url, want string }{
		{"unreachable", fmt.Sprintf("postgres://evalctl:secret-pw-123@127.0.0.1:%d/x?sslmode=disable", port), "connection refused"},
		{"wrong password", wrong, "password authentication failed"},
		{"no database", missing, `database "no_such_database_here" does not exist`},
		{"another program's", foreign, "not an evalctl store"},
		{"newer schema", newer, "newer than this evalctl understands"},
		{"not a URL", "postgres://[::1", "not a PostgreSQL URL"},
	} {
		r := run(t, nil, nil, "runs", "list", "--store", tc.url)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want exit 2 and one line with %q", tc.name, r.code, r.stderr, tc.want)
		}
		for _, secret := range []string{"secret-pw-123", "not-the-password-4711", cfg.Password} {
			if secret != "" && strings.Contains(r.stderr, secret) {
				t.Errorf("%s: the password is in %q", tc.name, r.stderr)
			}
		}
	}
}

// TestSharedRunSurvivesAKilledWorker: three `evalctl run --name X`
// processes on one PostgreSQL store share one run; one is SIGKILLed while
// it works. The others take over its cells once its leases expire: every
// cell is stored once, the run completes once with one report, and the
// vendor answers at most the cells plus the killed worker's calls in
// flight.
func TestSharedRunSurvivesAKilledWorker(t *testing.T) {
	url := pgStore(t)
	bin := binary(t)
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{Latency: 40 * time.Millisecond, Jitter: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	cfg := bigProject(t, "") // 2,000 cells
	const j = 8
	procs := startWorkers(t, 3, bin, vendor.URL, "run", "--config", cfg, "--store", url, "--name", "nightly-shared", "-j", fmt.Sprint(j), "--lease", "2s")
	// Once all three work on the run, kill the one that joined last.
	deadline := time.Now().Add(60 * time.Second)
	var victim *proc
	for victim == nil {
		joined := 0
		for _, p := range procs {
			if strings.Contains(p.stderr.String(), "joined run") {
				joined++
				victim = p
			}
		}
		if joined < 2 {
			victim = nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workers did not join one run:\n%s\n%s\n%s", procs[0].stderr.String(), procs[1].stderr.String(), procs[2].stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for vendor.Stats().Generation < 600 {
		if time.Now().After(deadline) {
			t.Fatal("the run did not get going")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	reports := 0
	for _, p := range procs {
		if p == victim {
			continue
		}
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("a surviving worker failed: %v\n%s", err, p.stderr.String())
			}
		case <-time.After(60 * time.Second):
			db, _ := sql.Open("pgx", url)
			rows, _ := db.Query(`SELECT worker, done, count(*), min(lease_until) - (extract(epoch from now()) * 1e9)::bigint FROM claims GROUP BY 1, 2`)
			var b strings.Builder
			for rows != nil && rows.Next() {
				var w string
				var done bool
				var n, ahead int64
				rows.Scan(&w, &done, &n, &ahead)
				fmt.Fprintf(&b, "%s done=%v %d cells, lease ends in %v\n", w, done, n, time.Duration(ahead))
			}
			t.Fatalf("a worker did not finish:\n%s\nclaims:\n%s", p.stderr.String(), b.String())
		}
		if strings.Contains(p.stdout.String(), "enough_words") {
			reports++
		}
	}
	if reports != 1 {
		t.Errorf("%d workers printed the run's report, want 1", reports)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var runs, complete, cells, open int
	db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE status = 'complete') FROM runs`).Scan(&runs, &complete)
	db.QueryRow(`SELECT count(*) FROM cells`).Scan(&cells)
	db.QueryRow(`SELECT count(*) FROM claims WHERE NOT done`).Scan(&open)
	if runs != 1 || complete != 1 || cells != 2000 || open != 0 {
		t.Errorf("%d runs (%d complete), %d cells, %d cells not done; want 1 complete run of 2,000 cells", runs, complete, cells, open)
	}
	gen := vendor.Stats().Generation
	t.Logf("the vendor answered %d generation calls for 2,000 cells", gen)
	if gen > 2000+j {
		t.Errorf("%d generation calls: more than the cells and the killed worker's %d in flight", gen, j)
	}
}

// TestSharedRunSurvivesDroppedConnections: the server ends every session
// of the store's database several times mid-run (as a restart or a
// failover does); the workers reconnect and the run completes once, every
// cell stored once.
func TestSharedRunSurvivesDroppedConnections(t *testing.T) {
	url := pgStore(t)
	bin := binary(t)
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{Latency: 40 * time.Millisecond, Jitter: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	cfg := bigProject(t, "") // 2,000 cells
	procs := startWorkers(t, 2, bin, vendor.URL, "run", "--config", cfg, "--store", url, "--name", "dropped", "-j", "8", "--lease", "2s")
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	deadline := time.Now().Add(60 * time.Second)
	for _, at := range []int64{300, 900, 1500} {
		for vendor.Stats().Generation < at {
			if time.Now().After(deadline) {
				t.Fatalf("the run stopped before %d answers:\n%s\n%s", at, procs[0].stderr.String(), procs[1].stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		var n int
		if err := db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		t.Logf("after %d answers: ended %d sessions", at, n)
	}
	reports := 0
	for _, p := range procs {
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("a worker failed: %v\n%s", err, p.stderr.String())
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("a worker did not finish:\n%s", p.stderr.String())
		}
		if strings.Contains(p.stdout.String(), "enough_words") {
			reports++
		}
	}
	var runs, complete, cells int
	db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE status = 'complete') FROM runs`).Scan(&runs, &complete)
	db.QueryRow(`SELECT count(*) FROM cells`).Scan(&cells)
	if runs != 1 || complete != 1 || cells != 2000 || reports != 1 {
		t.Errorf("%d runs (%d complete), %d cells, %d reports; want 1 complete run of 2,000 cells, reported once", runs, complete, cells, reports)
	}
}

// proc is an evalctl process a test started.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	exited         chan error
}

// startWorkers starts n evalctl processes with the same arguments (killed
// when the test ends).
func startWorkers(t *testing.T, n int, bin, vendor string, args ...string) []*proc {
	t.Helper()
	var procs []*proc
	for range n {
		p := &proc{}
		p.cmd, p.stdout, p.stderr, p.exited = startRun(t, bin, vendor, args...)
		procs = append(procs, p)
	}
	return procs
}
