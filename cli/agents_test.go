package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/sim"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/trace"
)

// agentProject is a project with a plain and an agent variant on the same
// simulated model, the tool server being this binary's `sim mcp` with
// extra flags.
func agentProject(t *testing.T, serverArgs string, extra string) string {
	t.Helper()
	return project(t, map[string]string{
		"prompts/tools.txt": "Always use the provided web search tool to complement your answers with relevant and up-to-date links or references.",
		"questions.csv": "Category,Question,Weight,Expectations\n" +
			"Definition,What is an algorithm?,1,\nDefinition,What is a data structure?,1,\nGit,What is version control?,2,\n" +
			"Testing,What is unit testing?,2,\nDesign,What is a design pattern?,3,\nProcess,What is agile software development?,2,\n" +
			"Definition,What is computer science?,1,\nOOP,What is encapsulation?,2,\n",
		"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, system: system}
tools:
  - name: search
    command: [evalctl, sim, mcp` + serverArgs + `]
agent: {max_steps: 4, tool_timeout: 2s}
variants:
  - {label: plain, prompt: basic, model: sim:gpt-5-mini}
  - {label: agent, prompt: basic, model: sim:gpt-5-mini, tools: [search], system_addendum: tools}
judge: sim:judge
scorers:
  - {name: searched, type: tool_called, tool: web_search}
  - {name: one_search, type: trajectory, expected: [web_search], mode: strict}
  - {name: cites_sources, type: cites_sources}
  - {name: steps, type: steps, max_steps: 3}
  - {name: english, type: guidelines, guidelines: The answer should be in English.}
` + extra,
	})
}

// records reads the latest run of the store next to cfg.
func records(t *testing.T, cfg string) (*store.Run, []eval.Record) {
	t.Helper()
	st, err := store.Open(filepath.Join(filepath.Dir(cfg), ".evalctl", "evalctl.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(t.Context())
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	run := runs[0]
	recs, err := st.Records(t.Context(), run)
	if err != nil {
		t.Fatal(err)
	}
	return run, recs
}

func passRate(recs []eval.Record, label, scorer string) (pass, n int) {
	for _, r := range recs {
		if r.Variant.Label != label {
			continue
		}
		for _, fb := range r.Feedback {
			if fb.Scorer == scorer && fb.Pass != nil {
				n++
				if *fb.Pass {
					pass++
				}
			}
		}
	}
	return pass, n
}

func TestAgentVariantEndToEnd(t *testing.T) {
	cfg := agentProject(t, "", "")
	r := run(t, nil, nil, "run", "--config", cfg, "--repeat", "2")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "tools: search (stdio: web_search)") {
		t.Errorf("stderr does not list the tool server:\n%s", r.stderr)
	}
	_, recs := records(t, cfg)
	toolCalls := 0
	for _, rec := range recs {
		if rec.Err != nil {
			t.Fatalf("cell %d: %v", rec.Index, rec.Err)
		}
		gens := 0
		for _, sp := range rec.Steps {
			switch sp.Kind {
			case trace.KindGeneration:
				gens++
			case trace.KindTool:
				toolCalls++
				if sp.Tool == "" || sp.Args == "" || sp.Start.IsZero() || sp.End.Before(sp.Start) {
					t.Errorf("cell %d: tool span without tool, arguments or times: %+v", rec.Index, sp)
				}
				if !sp.Failed() && !strings.Contains(sp.Output, "](https://") {
					t.Errorf("cell %d: tool span result is not the search results: %q", rec.Index, sp.Output)
				}
			}
		}
		if gens == 0 {
			t.Errorf("cell %d has no generation span", rec.Index)
		}
		if rec.Variant.Label == "plain" && len(trace.ToolSpans(rec.Steps)) > 0 {
			t.Errorf("plain cell %d called tools", rec.Index)
		}
		if rec.Variant.Label == "agent" && rec.Variant.Agent == nil {
			t.Errorf("agent cell %d has no agent in its variant", rec.Index)
		}
		for _, fb := range rec.Feedback {
			if fb.JudgeModel != "" && (len(fb.Spans) == 0 || !strings.Contains(fb.Spans[0].Input, "English")) {
				t.Errorf("cell %d: verdict %s has no judge span with its prompt: %+v", rec.Index, fb.Scorer, fb.Spans)
			}
		}
	}
	if toolCalls == 0 {
		t.Fatal("no tool calls at all")
	}
	for _, sc := range []string{"cites_sources", "one_search", "searched"} {
		pp, pn := passRate(recs, "plain", sc)
		ap, an := passRate(recs, "agent", sc)
		if pn == 0 || an == 0 || float64(pp)/float64(pn) == float64(ap)/float64(an) {
			t.Errorf("%s: plain %d/%d, agent %d/%d: want different pass rates", sc, pp, pn, ap, an)
		}
	}

	// Again: every model answer and tool result comes from the caches.
	r = run(t, nil, nil, "run", "--config", cfg, "--repeat", "2")
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	_, again := records(t, cfg)
	for _, rec := range again {
		for _, sp := range rec.Steps {
			if sp.ErrorKind == trace.ToolBadArgs || sp.ErrorKind == trace.ToolUnknown {
				continue // refused before any server call: nothing to cache
			}
			if !sp.Cached && sp.Kind != trace.KindJudge {
				t.Fatalf("re-run cell %d: %s span not from the cache: %+v", rec.Index, sp.Kind, sp)
			}
		}
	}
}

func TestAgentHostileToolServer(t *testing.T) {
	// Every 5th call hangs (cut at tool_timeout), every 4th is a tool
	// error, and the server crashes once at its 3rd call (restarted, its count starts again).
	flag := filepath.Join(t.TempDir(), "crashed")
	cfg := agentProject(t, ", --hang-every, '5', --error-every, '4', --crash-after, '3', --crash-once, "+flag, "max_error_rate: 1\n")
	r := run(t, nil, nil, "run", "--config", cfg, "--repeat", "3")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(flag); err != nil {
		t.Fatalf("the server never crashed: %v", err)
	}
	_, recs := records(t, cfg)
	kinds := map[string]int{}
	for _, rec := range recs {
		for _, sp := range trace.ToolSpans(rec.Steps) {
			kinds[sp.ErrorKind]++
			if sp.ErrorKind != "" && sp.Error == "" && sp.Output == "" {
				t.Errorf("cell %d: failed tool span says nothing: %+v", rec.Index, sp)
			}
		}
	}
	for _, k := range []string{trace.ToolTimeout, trace.ToolError, trace.ToolCrashed, ""} {
		if kinds[k] == 0 {
			t.Errorf("no tool span of kind %q (kinds: %v)", k, kinds)
		}
	}
}

func TestAgentMaxStepsIsAnError(t *testing.T) {
	cfg := agentProject(t, "", "")
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.ReplaceAll(string(data), "model: sim:gpt-5-mini, tools", "model: sim:loop, tools")), 0o644)
	r := run(t, nil, nil, "run", "--config", cfg)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3 (every agent cell failed)\n%s", r.code, r.stderr)
	}
	_, recs := records(t, cfg)
	for _, rec := range recs {
		if rec.Variant.Label != "agent" {
			continue
		}
		if rec.Err == nil || rec.Err.Kind != llm.KindMaxSteps || rec.Answer != "" {
			t.Fatalf("cell %d: err %v answer %q: want a max_steps error and no answer", rec.Index, rec.Err, rec.Answer)
		}
		if st := trace.StatsOf(rec.Steps); st.Steps != 4 || st.ToolCalls < 3 {
			t.Errorf("cell %d: %+v, want 4 steps, the first 3 with tool calls", rec.Index, st)
		}
	}
}

func TestAgentRefusedBeforeAnyCall(t *testing.T) {
	vendor, err := sim.Start("127.0.0.1:0", sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vendor.Close()
	env := map[string]string{"OPENAI_BASE_URL": vendor.URL}
	tests := []struct {
		name, from, to, want string
	}{
		{"server will not start", "command: [evalctl, sim, mcp]", "command: [/nonexistent/mcp-server]", "search"},
		{"server exits at once", "command: [evalctl, sim, mcp]", "command: [sh, -c, 'echo no MCP here; exit 3']", "search"},
		{"scorer names a tool no server offers", "tool: web_search}", "tool: web_fetch}", `scorer "searched" names the tool "web_fetch"`},
		{"undefined server", "tools: [search]", "tools: [serch]", `tool server "serch" is not defined (defined: search)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := agentProject(t, "", "")
			data, _ := os.ReadFile(cfg)
			s := strings.ReplaceAll(string(data), "sim:gpt-5-mini", "openai:gpt-5-mini")
			s = strings.ReplaceAll(s, "judge: sim:judge", "judge: openai:judge")
			if !strings.Contains(s, tc.from) {
				t.Fatalf("config has no %q", tc.from)
			}
			os.WriteFile(cfg, []byte(strings.Replace(s, tc.from, tc.to, 1)), 0o644)
			r := run(t, nil, env, "run", "--config", cfg)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want 2 and %q\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
	if n := vendor.Stats().Requests; n != 0 {
		t.Errorf("%d model calls, want none", n)
	}
}

// TestAgentDryRunStartsNoServer: a dry run only estimates, so it starts no
// tool server: one whose command does not exist, or that would crash,
// still dry-runs with an estimate of the agent's calls; the config is
// still checked.
func TestAgentDryRunStartsNoServer(t *testing.T) {
	tests := []struct {
		name, from, to string
		code           int
		want           string
	}{
		{name: "missing command", from: "command: [evalctl, sim, mcp]", to: "command: [/nonexistent/mcp-server, --api-key, sk-dry-0123456789abcdef]",
			want: "agent steps"},
		{name: "starting would fail", from: "command: [evalctl, sim, mcp]", to: "command: [sh, -c, 'echo started >> " + "MARKER" + "; exit 3']",
			want: "agent steps"},
		{name: "config still checked", from: "tools: [search]", to: "tools: [serch]", code: 2,
			want: `tool server "serch" is not defined (defined: search)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := agentProject(t, "", "")
			marker := filepath.Join(t.TempDir(), "started")
			data, _ := os.ReadFile(cfg)
			s := string(data)
			if !strings.Contains(s, tc.from) {
				t.Fatalf("config has no %q", tc.from)
			}
			os.WriteFile(cfg, []byte(strings.Replace(s, tc.from, strings.ReplaceAll(tc.to, "MARKER", marker), 1)), 0o644)
			r := run(t, nil, nil, "run", "--config", cfg, "--dry-run")
			if r.code != tc.code || !strings.Contains(r.stderr+r.stdout, tc.want) {
				t.Fatalf("exit %d, want %d and %q\n%s\n%s", r.code, tc.code, tc.want, r.stdout, r.stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the dry run started the tool server")
			}
			if tc.code == 0 && (!strings.Contains(r.stderr, "Nothing was sent") || strings.Contains(r.stderr, "tools: search (")) {
				t.Errorf("stderr:\n%s", r.stderr)
			}
		})
	}
}

// A secret given as a tool server's argument is never stored: the
// variant's spec keeps the command with the value redacted, and the
// store's files do not hold it.
func TestAgentSecretArgsNotStored(t *testing.T) {
	const key, tok = "sk-live-0123456789abcdef", "tok-0123456789abcdef"
	// The arguments after -- are the test binary's to ignore (TestMain).
	cfg := agentProject(t, ", --, --api-key="+key+", --token, "+tok, "")
	r := run(t, nil, nil, "run", "--config", cfg, "--limit", "2")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, key) || strings.Contains(r.stdout+r.stderr, tok) {
		t.Errorf("output shows a secret:\n%s\n%s", r.stdout, r.stderr)
	}
	_, recs := records(t, cfg)
	found := false
	for _, rec := range recs {
		if a := rec.Variant.Agent; a != nil {
			found = true
			if got := strings.Join(a.Tools[0].Command[1:], " "); got != "sim mcp -- --api-key=[REDACTED] --token [REDACTED]" {
				t.Errorf("stored command %q", got)
			}
		}
	}
	if !found {
		t.Fatal("no agent cell")
	}
	dir := filepath.Join(filepath.Dir(cfg), ".evalctl")
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), key) || strings.Contains(string(data), tok) {
			i := strings.Index(string(data), key)
			if i < 0 {
				i = strings.Index(string(data), tok)
			}
			t.Errorf("%s holds a secret: %q", f.Name(), data[max(0, i-300):min(len(data), i+100)])
		}
	}
}

// A run's config is stored without its secrets; --resume takes them back
// from the config file, as long as it is the same but for them.
func TestUnredactedConfig(t *testing.T) {
	const file = "tools:\n  - {name: s, command: [srv, --token, tok-0123456789abcdef]}\nmodels: [sim:m]\n"
	const stored = "tools:\n  - {name: s, command: [srv, --token, [REDACTED]]}\nmodels: [sim:m]\n"
	tests := []struct {
		name, stored, file, want, err string
	}{
		{name: "nothing redacted", stored: "models: [sim:m]\n", want: "models: [sim:m]\n"},
		{name: "the same file", stored: stored, file: file, want: file},
		{name: "the file changed", stored: stored, file: strings.Replace(file, "sim:m", "sim:n", 1),
			err: "its stored config had secrets, redacted, and evalctl.yaml cannot restore them: it changed since the run"},
		{name: "the file is gone", stored: stored, err: "cannot restore them: open "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "evalctl.yaml")
			if tc.file != "" {
				os.WriteFile(path, []byte(tc.file), 0o644)
			}
			got, err := unredactedConfig(testApp(), path, tc.stored)
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %q, %v; want %q, %q", got, err, tc.want, tc.err)
			}
		})
	}
}
