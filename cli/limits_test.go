package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evalctl/evalctl/llm/sim"
)

// simProcess starts `evalctl sim serve` in its own process and returns its
// base URL and a function that stops it and returns what it counted.
func simProcess(t *testing.T, args ...string) (string, func() string) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"sim", "serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() {
		cmd.Process.Kill()
		t.Fatal("the simulator printed nothing")
	}
	m := regexp.MustCompile(`serving (http://\S+/v1)`).FindStringSubmatch(lines.Text())
	if m == nil {
		cmd.Process.Kill()
		t.Fatalf("simulator: %s", lines.Text())
	}
	stopped := false
	stop := func() string {
		if stopped {
			return ""
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		rest, _ := io.ReadAll(stderr)
		cmd.Wait()
		return string(rest)
	}
	t.Cleanup(func() { stop() })
	return m[1], stop
}

// statusCounts reads "by status map[200:102 429:5]" from the simulator's
// last line.
func statusCounts(t *testing.T, line string) map[int]int {
	t.Helper()
	m := regexp.MustCompile(`by status map\[([^\]]*)\]`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no status counts in %q", line)
	}
	out := map[int]int{}
	for _, kv := range strings.Fields(m[1]) {
		k, v, _ := strings.Cut(kv, ":")
		code, _ := strconv.Atoi(k)
		n, _ := strconv.Atoi(v)
		out[code] = n
	}
	return out
}

// A server limited to 120 requests a minute that says so only with 429s
// and "Retry-After: 1", and a config that sets no rpm: the run paces
// itself, every cell is answered and judged, and under 10% of the requests
// are refused. About a minute of wall time (the limit allows 2 calls a
// second); the throughput figure is bench/limits.sh's, not this test's.
func TestUnannouncedRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute at 120 requests a minute")
	}
	t.Parallel()
	url, stop := simProcess(t, "--rpm", "120", "--retry-after", "1s", "--latency", "20ms")
	var rows strings.Builder
	rows.WriteString("id,question\n")
	for i := range 20 {
		rows.WriteString("q" + strconv.Itoa(i) + ",What is concept number " + strconv.Itoa(i) + " of software engineering?\n")
	}
	cfg := project(t, map[string]string{"questions.csv": rows.String(), "evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, use: [basic], system: ''}
models: [openai:gpt-4.1-mini]
judge: openai:judge
concurrency: 16
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: on_topic, type: guidelines, guidelines: The answer is about software engineering.}
  - {name: defines, type: guidelines, guidelines: The answer quotes a definition.}
  - {name: relevance_to_query, type: relevance_to_query}
  - {name: enough_words, type: word_count, min: 11}
`})
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "prompts", "basic.txt"), []byte("Question: {question}"), 0o644)
	r := run(t, nil, map[string]string{"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-test"}, "run", "--config", cfg, "--no-cache")
	last := stop()
	counts := statusCounts(t, last)
	requests := 0
	for _, n := range counts {
		requests += n
	}
	t.Logf("%d requests: %v\n%s", requests, counts, r.stderr)
	if r.code != ExitOK || !strings.Contains(r.stdout, "20 of 20 cells; 0 generation errors and 0 scorer errors") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if counts[200] != 100 {
		t.Errorf("%d answers and verdicts, want 100 (20 cells × (1 answer + 4 verdicts))", counts[200])
	}
	if share := float64(counts[429]) / float64(requests); share >= 0.10 {
		t.Errorf("%.1f%% of requests answered 429, want under 10%%", 100*share)
	}
	if !strings.Contains(r.stderr, "paced: openai at ") {
		t.Errorf("the progress line never said the run was paced:\n%s", r.stderr)
	}
}

// Endpoints where nothing will work stop the run at once: exit 2, one line
// naming the endpoint and the cause, and no retry storm.
func TestDeadEndpointsFailFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!doctype html><title>Sign in</title>")
	}))
	defer html.Close()
	for _, tc := range []struct {
		name, base string
		want       []string
	}{
		{"connection refused", dead, []string{"endpoint " + dead + "/chat/completions", "connection refused"}},
		{"html with 200", html.URL + "/v1", []string{"endpoint " + html.URL + "/v1/chat/completions", "answered HTTP 200 with text/html", "not the API's JSON"}},
		{"not a URL", "localhost:8080/v1", []string{`base URL "localhost:8080/v1" is not an http:// or https:// URL`}},
		{"no host", "http:///v1", []string{`has no host`}},
		{"bad port", "http://127.0.0.1:99999/v1", []string{`has port 99999, not one from 1 to 65535`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := project(t, map[string]string{"evalctl.yaml": "dataset: questions.csv\nmodels: [openai:gpt-4.1-mini]\njudge: openai:judge\nscorers:\n  - {name: english, type: guidelines, guidelines: In English.}\n"})
			start := time.Now()
			r := run(t, nil, map[string]string{"OPENAI_BASE_URL": tc.base, "OPENAI_API_KEY": "sk-test"}, "run", "--config", cfg)
			t.Logf("exit %d after %s", r.code, time.Since(start).Round(time.Millisecond))
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "sk-test") {
				t.Errorf("the key leaked:\n%s", r.stderr)
			}
		})
	}
}

// A judge outage: every verdict fails while the answers are fine. The run
// is incomplete everywhere (exit 3, stored, listed), gates refuse it, and a
// resume against a healthy judge asks for exactly the failed verdicts and
// no answer.
func TestResumeRedoesFailedVerdicts(t *testing.T) {
	gen, _ := sim.Start("127.0.0.1:0", sim.Options{Seed: 2})
	defer gen.Close()
	down, _ := sim.Start("127.0.0.1:0", sim.Options{FailRate: 1})
	defer down.Close()
	cfg := project(t, map[string]string{"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts}
models: [openai:gpt-4.1-mini]
judge: backup:judge
providers:
  backup: {base_url: "${JUDGE_URL}", max_attempts: 1}
scorers:
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
  - {name: enough_words, type: word_count, min: 11}
`})
	env := map[string]string{"OPENAI_BASE_URL": gen.URL, "OPENAI_API_KEY": "sk-test", "JUDGE_URL": down.URL}
	r := run(t, nil, env, "run", "--config", cfg)
	if r.code != ExitIncomplete || !strings.Contains(r.stderr, "4 of 8 verdicts are errors (50.0%), above max_error_rate 5.0%") {
		t.Fatalf("judge outage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	answers := gen.Stats().Generation

	r = run(t, nil, env, "runs", "list", "--config", cfg, "--json")
	var listed []struct {
		Status        string `json:"status"`
		GenErrors     int    `json:"generation_errors"`
		VerdictErrors int    `json:"verdict_errors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("runs list --json: %v\n%s", err, r.stdout)
	}
	if l := listed[0]; l.Status != "incomplete" || l.GenErrors != 0 || l.VerdictErrors != 4 {
		t.Errorf("listed as %+v, want incomplete with 4 verdict errors", l)
	}
	r = run(t, nil, env, "runs", "list", "--config", cfg)
	if !strings.Contains(r.stdout, "verdict errors") {
		t.Errorf("runs list has no verdict errors column:\n%s", r.stdout)
	}
	r = run(t, nil, env, "gate", "last", "--config", cfg, "--fail-under", "enough_words=0.5")
	if r.code != ExitGate || !strings.Contains(r.stderr, "gates refused") || !strings.Contains(r.stderr, "is incomplete") {
		t.Errorf("gate on an incomplete run: exit %d\n%s", r.code, r.stderr)
	}

	healthy, _ := sim.Start("127.0.0.1:0", sim.Options{Seed: 2})
	defer healthy.Close()
	env["JUDGE_URL"] = healthy.URL
	r = run(t, nil, env, "run", "--resume", "last", "--config", cfg)
	if r.code != ExitOK || !strings.Contains(r.stdout, "4 of 4 cells; 0 generation errors and 0 scorer errors") {
		t.Fatalf("resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := healthy.Stats().Judge; got != 4 {
		t.Errorf("the resume asked for %d verdicts; 4 had failed", got)
	}
	if got := gen.Stats().Generation; got != answers {
		t.Errorf("the resume asked for %d answers again", got-answers)
	}
	r = run(t, nil, env, "gate", "last", "--config", cfg, "--fail-under", "enough_words=0.5")
	if r.code != ExitOK {
		t.Errorf("gate on the finished run: exit %d\n%s", r.code, r.stderr)
	}
}
