package cli

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dryTotals reads a dry run's listing (TSV when piped): calls and prompt +
// completion tokens, summed over its lines.
func dryTotals(t *testing.T, out string) (calls, tokens int) {
	t.Helper()
	num := func(s string) int {
		n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			t.Fatalf("not a number %q in %s", s, out)
		}
		return n
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "KIND\tMODEL\tCALLS") {
		t.Fatalf("dry run output:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		calls += num(f[2])
		tokens += num(f[4]) + num(f[5])
	}
	return calls, tokens
}

var summaryRE = regexp.MustCompile(`(\d+) LLM calls, \d+ cache hits, (\d+) tokens`)

// The estimate of a dry run against what the run then used, on the
// simulator: the seed example's prompts and judges (per-row criteria
// included). Completion lengths come from a pilot run in the same store.
func TestDryRunEstimate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join("..", "examples", "se-quiz", "evalctl.yaml")
	args := []string{"run", "--config", cfg, "--store", filepath.Join(dir, "s.db"), "--models", "sim:a,sim:b",
		"--judge", "sim:judge", "--prompts", "basic,academic", "--no-cache", "-j", "32"}
	env := map[string]string{}

	// Without history the call counts are exact; no tokens have been used.
	r := run(t, nil, env, append(args, "--limit", "40", "--dry-run")...)
	if r.code != ExitOK {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "assumed") || !strings.Contains(r.stderr, "Nothing was sent") {
		t.Errorf("a dry run without history must say what it assumed:\n%s%s", r.stdout, r.stderr)
	}
	noHistCalls, noHistTokens := dryTotals(t, r.stdout)

	if r := run(t, nil, env, append(args, "--limit", "10")...); r.code != ExitOK {
		t.Fatalf("pilot: exit %d\n%s", r.code, r.stderr)
	}
	r = run(t, nil, env, append(args, "--limit", "40", "--dry-run")...)
	if r.code != ExitOK {
		t.Fatalf("dry run: exit %d\n%s", r.code, r.stderr)
	}
	estCalls, estTokens := dryTotals(t, r.stdout)
	if !strings.Contains(r.stdout, "mean of stored answers") {
		t.Errorf("the dry run did not use the pilot's history:\n%s", r.stdout)
	}

	r = run(t, nil, env, append(args, "--limit", "40")...)
	if r.code != ExitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	m := summaryRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no summary in %s", r.stderr)
	}
	calls, _ := strconv.Atoi(m[1])
	used, _ := strconv.Atoi(m[2])
	t.Logf("estimate %d calls, %d tokens (%d without history); the run made %d calls and used %d tokens (%.1f%% off; %.1f%% without history)",
		estCalls, estTokens, noHistTokens, calls, used, 100*float64(estTokens-used)/float64(used), 100*float64(noHistTokens-used)/float64(used))
	if estCalls != calls || noHistCalls != calls {
		t.Errorf("estimated %d calls (%d without history), the run made %d", estCalls, noHistCalls, calls)
	}
	if d := float64(estTokens-used) / float64(used); d > 0.10 || d < -0.10 {
		t.Errorf("estimated %d tokens, the run used %d: %.1f%% off (limit 10%%)", estTokens, used, 100*d)
	}
}
