package cli

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evalctl/evalctl/trace"
)

// referenceServers returns the directory of the reference MCP servers'
// executables (npm, installed by .ci/run): servers evalctl's authors did
// not write. Outside CI the test is skipped when they are missing.
func referenceServers(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("EVALCTL_MCP_SERVERS")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("..", "tools", "testdata", "mcp-servers", "node_modules", ".bin"))
	}
	_, errNode := exec.LookPath("node")
	_, errBin := os.Stat(filepath.Join(dir, "mcp-server-everything"))
	if errNode != nil || errBin != nil {
		msg := fmt.Sprintf("reference MCP servers need node and npm packages (cd tools/testdata/mcp-servers && npm ci): %v %v", errNode, errBin)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// referenceProject asks a simulated agent to use named tools of the
// reference "everything" server (the simulated model calls the tool its
// prompt names, with arguments from the tool's schema).
func referenceProject(t *testing.T, server string) string {
	return project(t, map[string]string{
		"prompts/echo.txt": "Question: {question}\nUse the echo tool.",
		"prompts/env.txt":  "Question: {question}\nUse the get-env tool.",
		"prompts/slow.txt": "Question: {question}\nUse the trigger-long-running-operation tool.",
		"prompts/sum.txt":  "Question: {question}\nUse the get-sum tool.",
		"questions.csv":    "Category,Question,Weight,Expectations\nDefinition,What is an algorithm?,1,\nGit,What is a commit?,2,\n",
		"evalctl.yaml": `dataset: questions.csv
prompts: {dir: prompts, system: ""}
tools:
  - ` + server + `
agent: {max_steps: 3, tool_timeout: 1s}
agents:
  - {label: echo, prompt: echo, model: sim:gpt-5-mini, tools: [everything]}
  - {label: env, prompt: env, model: sim:gpt-5-mini, tools: [everything]}
  - {label: slow, prompt: slow, model: sim:gpt-5-mini, tools: [everything]}
  - {label: sum, prompt: sum, model: sim:gpt-5-mini, tools: [everything]}
scorers:
  - {name: echoed, type: tool_called, tool: echo, min: 0}
  - {name: summed, type: tool_args, tool: get-sum, subset: {a: 3, b: 3}}
max_error_rate: 1
`,
	})
}

func checkReferenceRun(t *testing.T, cfg, secret string) {
	t.Helper()
	r := run(t, nil, map[string]string{"REF_TOKEN": secret}, "run", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	_, recs := records(t, cfg)
	seen := map[string]trace.Span{}
	for _, rec := range recs {
		for _, sp := range trace.ToolSpans(rec.Steps) {
			if _, ok := seen[sp.Tool]; !ok || !sp.Failed() {
				seen[sp.Tool] = sp
			}
		}
	}
	if sp := seen["echo"]; sp.Failed() || !strings.Contains(sp.Output, "Echo:") {
		t.Errorf("echo: %+v", sp)
	}
	if sp := seen["get-sum"]; sp.Failed() || !strings.Contains(sp.Output, "6") {
		t.Errorf("get-sum: %+v", sp)
	}
	if sp := seen["trigger-long-running-operation"]; sp.ErrorKind != trace.ToolTimeout {
		t.Errorf("a 3 s operation under a 1 s tool_timeout: %+v", sp)
	}
	if secret != "" {
		sp := seen["get-env"]
		if sp.Failed() || !strings.Contains(sp.Output, "EVALCTL_REF_TOKEN") {
			t.Errorf("get-env: %+v", sp)
		}
		db, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), ".evalctl", "evalctl.db"))
		wal, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), ".evalctl", "evalctl.db-wal"))
		if strings.Contains(string(db)+string(wal), secret) || strings.Contains(r.stdout+r.stderr, secret) {
			t.Error("the server's secret env value reached the store or the output")
		}
	}
}

func TestAgentReferenceServerStdio(t *testing.T) {
	bin := referenceServers(t)
	secret := "ref-secret-5c1e8a7f0b"
	// The secret comes from the environment, as a config should write it
	// (the config is stored as written).
	cfg := referenceProject(t, fmt.Sprintf("{name: everything, command: [%q], env: {EVALCTL_REF_TOKEN: \"${REF_TOKEN}\"}}",
		filepath.Join(bin, "mcp-server-everything")))
	checkReferenceRun(t, cfg, secret)
}

func TestAgentReferenceServerHTTP(t *testing.T) {
	bin := referenceServers(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(filepath.Join(bin, "mcp-server-everything"), "streamableHttp")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 300 {
			t.Fatalf("the reference server did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg := referenceProject(t, fmt.Sprintf("{name: everything, url: \"http://%s/mcp\"}", addr))
	checkReferenceRun(t, cfg, "")
}
