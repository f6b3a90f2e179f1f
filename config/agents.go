package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ToolServerConfig is an MCP tool server: a command speaking MCP over
// stdio ({name: search, command: [evalctl, sim, mcp], env: {…}}), or the
// URL of a streamable HTTP endpoint ({name: docs, url: http://…/mcp}).
type ToolServerConfig struct {
	Name    string            `yaml:"name"`
	Command []string          `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Line    int               `yaml:"-"`
}

var toolServerName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// UnmarshalYAML decodes strictly and checks that the server is reachable
// one way exactly.
func (t *ToolServerConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &lineError{n.Line, "tools: each is a mapping: {name: search, command: [evalctl, sim, mcp]} or {name: docs, url: http://127.0.0.1:9000/mcp}"}
	}
	type plain ToolServerConfig
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*t = ToolServerConfig(p)
	t.Line = n.Line
	return t.check()
}

func (t *ToolServerConfig) check() error {
	switch {
	case !toolServerName.MatchString(t.Name):
		return &lineError{t.Line, fmt.Sprintf("tools: name %q: a tool server needs a name of letters, digits, '_', '-' or '.', starting with a letter", t.Name)}
	case len(t.Command) > 0 && t.URL != "":
		return &lineError{t.Line, fmt.Sprintf("tools: %s: give command: (stdio) or url: (streamable HTTP), not both", t.Name)}
	case len(t.Command) == 0 && t.URL == "":
		return &lineError{t.Line, fmt.Sprintf("tools: %s: give command: [program, args…] (stdio) or url: (streamable HTTP)", t.Name)}
	case len(t.Command) > 0 && strings.TrimSpace(t.Command[0]) == "":
		return &lineError{t.Line, fmt.Sprintf("tools: %s: command: the program is empty", t.Name)}
	case t.URL != "" && !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://"):
		return &lineError{t.Line, fmt.Sprintf("tools: %s: url %q: want http:// or https://", t.Name, t.URL)}
	case t.URL != "" && len(t.Env) > 0:
		return &lineError{t.Line, fmt.Sprintf("tools: %s: env: is for command: servers; an HTTP server takes headers:", t.Name)}
	case len(t.Command) > 0 && len(t.Headers) > 0:
		return &lineError{t.Line, fmt.Sprintf("tools: %s: headers: are for url: servers; a command takes env:", t.Name)}
	}
	return nil
}

// ToolRef is a variant's tool server: a name of the top-level tools:, or a
// server defined in place.
type ToolRef struct {
	Name   string
	Server *ToolServerConfig // nil for a name
}

// UnmarshalYAML accepts a name or a server mapping.
func (r *ToolRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		r.Name = n.Value
		return nil
	}
	var s ToolServerConfig
	if err := s.UnmarshalYAML(n); err != nil {
		return err
	}
	r.Name, r.Server = s.Name, &s
	return nil
}

// AgentConfig sets how an agent variant runs its tool loop. Unset fields
// take the top-level agent:'s, then the defaults.
type AgentConfig struct {
	// MaxSteps bounds the model's turns (default 10); reaching it is an
	// error, never an answer.
	MaxSteps int `yaml:"max_steps"`
	// ToolTimeout cuts one tool call (default 30s).
	ToolTimeout time.Duration `yaml:"tool_timeout"`
	// ParallelToolCalls lets the model ask for several calls at once
	// (default true); they run concurrently.
	ParallelToolCalls *bool `yaml:"parallel_tool_calls"`
	// MaxResultBytes cuts a tool result shown to the model (default 16 KiB;
	// top-level agent: only).
	MaxResultBytes int  `yaml:"max_result_bytes"`
	Line           int  `yaml:"-"`
	set            bool // present in the file
}

// UnmarshalYAML decodes strictly and checks the values.
func (a *AgentConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain AgentConfig
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*a = AgentConfig(p)
	a.Line, a.set = n.Line, true
	switch {
	case a.MaxSteps < 0 || a.MaxSteps > 1000:
		return &lineError{lineOr(keyLine(n, "max_steps"), n.Line), fmt.Sprintf("agent: max_steps %d: want 1 to 1000 (default 10)", a.MaxSteps)}
	case a.ToolTimeout < 0:
		return &lineError{lineOr(keyLine(n, "tool_timeout"), n.Line), "agent: tool_timeout must not be negative (default 30s)"}
	case a.MaxResultBytes < 0:
		return &lineError{lineOr(keyLine(n, "max_result_bytes"), n.Line), "agent: max_result_bytes must not be negative (default 16384)"}
	}
	return nil
}

func lineOr(l, def int) int {
	if l > 0 {
		return l
	}
	return def
}

// Over returns a with unset fields taken from base.
func (a AgentConfig) Over(base AgentConfig) AgentConfig {
	if a.MaxSteps == 0 {
		a.MaxSteps = base.MaxSteps
	}
	if a.ToolTimeout == 0 {
		a.ToolTimeout = base.ToolTimeout
	}
	if a.ParallelToolCalls == nil {
		a.ParallelToolCalls = base.ParallelToolCalls
	}
	if a.MaxResultBytes == 0 {
		a.MaxResultBytes = base.MaxResultBytes
	}
	return a
}

// TraceConfig sets what traces keep.
type TraceConfig struct {
	// MaxBodyBytes bounds the text a span keeps (a prompt, a reply, a tool
	// result): default 16 KiB; -1 keeps everything.
	MaxBodyBytes int `yaml:"max_body_bytes"`
}

// ToolServer returns the named top-level tool server.
func (c *Config) ToolServer(name string) (ToolServerConfig, bool) {
	for _, t := range c.Tools {
		if t.Name == name {
			return t, true
		}
	}
	return ToolServerConfig{}, false
}

// checkTools checks tool server names and the variants' references.
func (c *Config) checkTools() error {
	seen := map[string]int{}
	for _, t := range c.Tools {
		if l, dup := seen[t.Name]; dup {
			return &lineError{t.Line, fmt.Sprintf("tools: %s is defined twice (also line %d)", t.Name, l)}
		}
		seen[t.Name] = t.Line
	}
	inline := map[string]int{}
	check := func(kind string, vs []VariantConfig) error {
		for _, v := range vs {
			if v.Agent.MaxResultBytes != 0 {
				return &lineError{v.Agent.Line, fmt.Sprintf("%s: agent: max_result_bytes is set for the whole run: move it to the top-level agent:", kind)}
			}
			for _, r := range v.Tools {
				if r.Server != nil {
					if l, dup := seen[r.Name]; dup {
						return &lineError{r.Server.Line, fmt.Sprintf("%s: tool server %s is defined at line %d too: name the top-level one, or rename this one", kind, r.Name, l)}
					}
					if l, dup := inline[r.Name]; dup {
						return &lineError{r.Server.Line, fmt.Sprintf("%s: tool server %s is defined in place at line %d too: define it once under tools: and name it, or rename one", kind, r.Name, l)}
					}
					inline[r.Name] = r.Server.Line
					continue
				}
				if _, ok := seen[r.Name]; !ok {
					names := make([]string, 0, len(c.Tools))
					for _, t := range c.Tools {
						names = append(names, t.Name)
					}
					hint := "define it under tools: {name: " + r.Name + ", command: [...]}"
					if len(names) > 0 {
						hint = "defined: " + strings.Join(names, ", ")
					}
					return &lineError{v.Line, fmt.Sprintf("%s: tool server %q is not defined (%s)", kind, r.Name, hint)}
				}
			}
			if (v.SystemAddendum != "" || v.Agent.set) && len(v.Tools) == 0 {
				return &lineError{v.Line, fmt.Sprintf("%s: system_addendum: and agent: are for variants with tools: name their tool servers", kind)}
			}
		}
		return nil
	}
	if err := check("variants", c.Variants); err != nil {
		return err
	}
	if err := check("agents", c.Agents); err != nil {
		return err
	}
	for _, a := range c.Agents {
		if len(a.Tools) == 0 {
			return &lineError{a.Line, "agents: an agent needs tools: [SERVER, ...] (a variant without tools goes under variants: or models:)"}
		}
	}
	if c.Trace.MaxBodyBytes < -1 {
		return c.at("trace", "max_body_bytes: want -1 (no bound), 0 (the default, 16384) or more")
	}
	return nil
}
