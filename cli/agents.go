package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/prompts"
	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/store"
	"github.com/evalctl/evalctl/tools"
	"github.com/evalctl/evalctl/trace"
)

// toolServers starts the tool servers that the config's variants and
// agents name (once each, for the whole run), lists their tools, and
// returns them; nil when no variant has tools. A server that will not
// start is a usage error (exit 2), before any model call.
func toolServers(a *app, cfg *config.Config, st *store.Store, readCache bool) (*tools.Set, error) {
	servers := toolServerSpecs(a, cfg)
	if len(servers) == 0 {
		return nil, nil
	}
	opts := tools.Options{Redact: a.redactor.Redact, MaxResultBytes: cfg.Agent.MaxResultBytes, Stderr: a.io.Stderr}
	if st != nil {
		opts.Cache = toolCache{st: st, read: readCache}
	}
	// Ctrl-C while a server starts (a slow npx download, a hung handshake)
	// stops at once.
	ctx, stop := a.io.Context()
	set, err := tools.Start(ctx, servers, opts)
	interrupted := ctx.Err() != nil
	stop()
	if interrupted {
		if set != nil {
			set.Close()
		}
		return nil, exitErr(ExitInterrupted, errors.New("interrupted while the tool servers started"), "")
	}
	if err != nil {
		file := "evalctl.yaml"
		if cfg.Path != "" {
			file = filepath.Base(cfg.Path)
		}
		return nil, exitErr(ExitUsage, err, "check the tools: section of "+file+"; for a command, run it by hand to see its output")
	}
	return set, nil
}

// toolServerSpecs returns the tool servers that the config's variants and
// agents name, once each, and teaches the redactor their secrets and
// those of the tools: that no variant names (the config text is stored
// redacted).
func toolServerSpecs(a *app, cfg *config.Config) []tools.Server {
	for _, s := range cfg.Tools {
		for _, v := range (tools.Server{Command: s.Command, Env: s.Env, Headers: s.Headers}).SecretValues() {
			a.redactor.Add(v)
		}
	}
	var servers []tools.Server
	seen := map[string]bool{}
	add := func(s config.ToolServerConfig) {
		if seen[s.Name] {
			return
		}
		seen[s.Name] = true
		cmd := slices.Clone(s.Command)
		if len(cmd) > 0 && cmd[0] == "evalctl" {
			// "evalctl" is this binary (a team's own build included), on
			// PATH or not: `evalctl sim mcp` works from a fresh checkout.
			if exe, err := os.Executable(); err == nil {
				cmd[0] = exe
			}
		}
		srv := tools.Server{Name: s.Name, Command: cmd, Env: s.Env, URL: s.URL, Headers: s.Headers}
		for _, v := range srv.SecretValues() {
			a.redactor.Add(v)
		}
		servers = append(servers, srv)
	}
	for _, vs := range [][]config.VariantConfig{cfg.Variants, cfg.Agents} {
		for _, v := range vs {
			for _, r := range v.Tools {
				if r.Server != nil {
					add(*r.Server)
				} else if s, ok := cfg.ToolServer(r.Name); ok {
					add(s)
				}
			}
		}
	}
	return servers
}

// notStarted is an agent's toolbox in a dry run, which starts no tool
// server: it offers one stand-in tool per server, so that the estimate
// counts the variant as an agent (the tools' own definitions are not
// known, nor counted), and is never called (the estimator asks for no
// tool).
type notStarted []llm.Tool

func notStartedTools(servers []string) notStarted {
	var x notStarted
	for _, s := range servers {
		x = append(x, llm.Tool{Name: s, Description: "tool server " + s + " (not started in a dry run)",
			Parameters: json.RawMessage(`{"type":"object"}`)})
	}
	return x
}

func (x notStarted) Tools() []llm.Tool { return x }

func (x notStarted) Call(_ context.Context, c llm.ToolCall) eval.ToolResult {
	msg := fmt.Sprintf("a dry run starts no tool server: %s was not called", c.Name)
	return eval.ToolResult{ErrKind: trace.ToolUnavailable, Err: msg}
}

// toolCache is the store's tool-result cache, read or bypassed (--no-cache
// still fills it).
type toolCache struct {
	st   *store.Store
	read bool
}

func (c toolCache) GetTool(ctx context.Context, key string) (string, bool) {
	if !c.read {
		return "", false
	}
	return c.st.GetTool(ctx, key)
}

func (c toolCache) PutTool(ctx context.Context, key, tool, result string) {
	c.st.PutTool(ctx, key, tool, result)
}

// agentOf returns the agent settings of a variant with tools (nil for a
// variant without): its tools from the run's servers (stand-ins when set
// is nil: a dry run starts none), its system addendum and its tool-loop
// settings over the top-level agent:'s.
func agentOf(cfg *config.Config, set *tools.Set, v config.VariantConfig, templates *prompts.Set, redact func(string) string) (*eval.Agent, error) {
	if len(v.Tools) == 0 {
		return nil, nil
	}
	ac := v.Agent.Over(cfg.Agent)
	spec := eval.AgentSpec{MaxSteps: ac.MaxSteps, ToolTimeout: ac.ToolTimeout, Parallel: ac.ParallelToolCalls == nil || *ac.ParallelToolCalls}
	if spec.MaxSteps == 0 {
		spec.MaxSteps = eval.DefaultMaxSteps
	}
	if spec.ToolTimeout == 0 {
		spec.ToolTimeout = eval.DefaultToolTimeout
	}
	var names []string
	for _, r := range v.Tools {
		s := config.ToolServerConfig{}
		if r.Server != nil {
			s = *r.Server
		} else {
			s, _ = cfg.ToolServer(r.Name)
		}
		names = append(names, s.Name)
		// The spec is stored: its command keeps no secret argument (nor a
		// value the redactor knows, an API key passed as ${OPENAI_API_KEY}).
		cmd := tools.Server{Command: s.Command}.RedactedCommand()
		for i := range cmd {
			cmd[i] = redact(cmd[i])
		}
		spec.Tools = append(spec.Tools, eval.ToolServerSpec{Name: s.Name, Command: cmd, URL: redact(s.URL)})
	}
	var box eval.Toolbox = notStartedTools(names)
	if set != nil {
		var err error
		if box, err = set.Subset(names); err != nil {
			return nil, usageErr("variant %s: %v", v.Label, err)
		}
	}
	agent := &eval.Agent{Tools: box, Spec: spec}
	if v.SystemAddendum != "" {
		t, err := templates.Get(v.SystemAddendum)
		if err != nil {
			return nil, usageErr("system_addendum: %v", err)
		}
		agent.Addendum = t
	}
	return agent, nil
}

// checkScorerTools refuses, before any model call, a scorer that names a
// tool no server of the run offers.
func checkScorerTools(set *tools.Set, ss []scorers.Scorer) error {
	for _, s := range ss {
		tn, ok := s.(interface{ ToolNames() []string })
		if !ok {
			continue
		}
		for _, name := range tn.ToolNames() {
			if set == nil {
				return usageErr("scorer %q names the tool %q, but no variant has tools (add tools: to a variant, or agents:)", s.Name(), name)
			}
			if !set.Offers(name) {
				return usageErr("scorer %q names the tool %q, which none of the run's tool servers offers (they offer: %s)", s.Name(), name, strings.Join(offered(set), ", "))
			}
		}
	}
	return nil
}

func offered(set *tools.Set) []string {
	var out []string
	for _, t := range set.Tools() {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// describeTools says what tool servers a run started, for stderr.
func describeTools(set *tools.Set) string {
	if set == nil {
		return ""
	}
	var parts []string
	for _, s := range set.Describe() {
		var names []string
		for _, t := range s.Tools {
			names = append(names, t.Name)
		}
		parts = append(parts, fmt.Sprintf("%s (%s: %s)", s.Name, s.Transport, strings.Join(names, ", ")))
	}
	return "tools: " + strings.Join(parts, "; ")
}
