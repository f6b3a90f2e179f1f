package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	src := `dataset: q.csv   # ${NOT_SET} in a comment is fine
prompts:
  dir: p
  use: [basic, academic]
models:
  - openai:gpt-4.1-mini
  - model: ollama:llama3.2:3b
    temperature: 0
    max_tokens: 300
judge: sim:judge
concurrency: 4
providers:
  openai:
    base_url: ${BASE:-http://default/v1}
    rpm: 100
  sim:
    simulate:
      latency: 50ms
      fail_rate: 0.1
scorers:
  - name: short
    type: word_count
    max: 100
`
	cfg, err := Parse("dir/evalctl.yaml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dataset != "q.csv" || cfg.Resolve(cfg.Dataset) != filepath.Join("dir", "q.csv") {
		t.Errorf("dataset %q", cfg.Dataset)
	}
	if cfg.DatasetEncoding != "" || cfg.MaxCellBytes != 0 {
		t.Errorf("dataset_encoding %q, max_cell_bytes %d: want the defaults", cfg.DatasetEncoding, cfg.MaxCellBytes)
	}
	if len(cfg.Models) != 2 || cfg.Models[1].Model != "ollama:llama3.2:3b" || *cfg.Models[1].Temperature != 0 || cfg.Models[1].MaxTokens != 300 {
		t.Errorf("models %+v", cfg.Models)
	}
	if cfg.Judge.Model != "sim:judge" || cfg.Judge.Temperature != nil {
		t.Errorf("judge %+v", cfg.Judge)
	}
	if cfg.Providers["openai"].BaseURL != "http://default/v1" || cfg.Providers["sim"].Simulate.Latency != 50*time.Millisecond {
		t.Errorf("providers %+v", cfg.Providers)
	}
	var p struct {
		Max int `yaml:"max"`
	}
	if err := cfg.Scorers[0].Decode(&p); err != nil || p.Max != 100 || cfg.Scorers[0].Type != "word_count" {
		t.Errorf("scorer decode %v %+v", err, p)
	}
	// A key the scorer does not know is an error on its line.
	var q struct {
		Min int `yaml:"min"`
	}
	if err := cfg.Scorers[0].Decode(&q); err == nil || !strings.Contains(err.Error(), `dir/evalctl.yaml:23: scorer "short": unknown key "max" (known here: min)`) {
		t.Errorf("strict scorer decode: %v", err)
	}
}

func TestParseBatch(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want *BatchConfig
	}{
		{"batch: true", &BatchConfig{Enabled: true}},
		{"batch: false", &BatchConfig{}},
		{"batch: {poll: 1m, collect: 5s, on_failure: error}", &BatchConfig{Enabled: true, Poll: time.Minute, Collect: 5 * time.Second, OnFailure: BatchError}},
		{"batch: {}", &BatchConfig{Enabled: true}},
		{"rpm: 10", nil},
	} {
		cfg, err := Parse("c.yaml", []byte("providers:\n  openai:\n    "+tc.src+"\n"), env(nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		got := cfg.Providers["openai"].Batch
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.src, got, tc.want)
		}
		if got.On() != (tc.want != nil && tc.want.Enabled) {
			t.Errorf("%s: On() = %v", tc.src, got.On())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"tool server with command and url", "tools:\n  - {name: s, command: [x], url: http://h/mcp}\n", "c.yaml:2: tools: s: give command: (stdio) or url: (streamable HTTP), not both"},
		{"tool server with neither", "tools:\n  - {name: s}\n", "c.yaml:2: tools: s: give command: [program, args…] (stdio) or url: (streamable HTTP)"},
		{"tool server url not http", "tools:\n  - {name: s, url: ftp://h}\n", `c.yaml:2: tools: s: url "ftp://h": want http:// or https://`},
		{"tool server bad name", "tools:\n  - {name: 's p', command: [x]}\n", `c.yaml:2: tools: name "s p"`},
		{"tool server twice", "tools:\n  - {name: s, command: [x]}\n  - {name: s, command: [y]}\n", "c.yaml:3: tools: s is defined twice (also line 2)"},
		{"tool server misspelt key", "tools:\n  - {name: s, comand: [x]}\n", `c.yaml:2: unknown key "comand"`},
		{"variant names an undefined server", "tools:\n  - {name: search, command: [x]}\nvariants:\n  - {prompt: basic, model: sim:a, tools: [serch]}\n",
			`c.yaml:4: variants: tool server "serch" is not defined (defined: search)`},
		{"agent without tools", "agents:\n  - {prompt: basic, model: sim:a}\n", "c.yaml:2: agents: an agent needs tools:"},
		{"addendum without tools", "variants:\n  - {prompt: basic, model: sim:a, system_addendum: tools}\n", "c.yaml:2: variants: system_addendum: and agent: are for variants with tools:"},
		{"agent max_steps 0 is refused? no: negative", "agent: {max_steps: -1}\n", "c.yaml:1: agent: max_steps -1: want 1 to 1000"},
		{"agent tool_timeout negative", "agent:\n  tool_timeout: -1s\n", "c.yaml:2: agent: tool_timeout must not be negative"},
		{"one inline server name twice", "variants:\n  - {prompt: a, model: sim:a, tools: [{name: s, command: [x]}]}\n  - {prompt: a, model: sim:b, tools: [{name: s, command: [y]}]}\n",
			"c.yaml:3: variants: tool server s is defined in place at line 2 too"},
		{"max_result_bytes per variant", "tools:\n  - {name: s, command: [x]}\nagents:\n  - {prompt: a, model: sim:a, tools: [s], agent: {max_result_bytes: 10}}\n",
			"c.yaml:4: agents: agent: max_result_bytes is set for the whole run"},
		{"agent misspelt key", "agent: {max_step: 3}\n", `c.yaml:1: unknown key "max_step"`},
		{"batch not a boolean", "providers:\n  openai:\n    batch: yes please\n", `c.yaml:3: batch: "yes please": want true, false or a mapping`},
		{"batch on_failure", "providers:\n  openai:\n    batch:\n      on_failure: retry\n", `c.yaml:4: batch: on_failure "retry": want interactive (the default) or error`},
		{"batch poll negative", "providers:\n  openai:\n    batch: {poll: -1s}\n", "c.yaml:3: batch: poll must not be negative"},
		{"batch misspelt key", "providers:\n  openai:\n    batch: {pol: 1s}\n", `c.yaml:3: unknown key "pol" (known here: collect, on_failure, poll)`},
		{"batch on azure", "providers:\n  azure:\n    batch: true\n", "providers.azure: batch: Azure OpenAI's batch deployments are not supported"},
		{"sim batch rates", "providers:\n  sim:\n    simulate: {batch_fail_rate: 2}\n", "providers.sim: simulate: batch_delay must not be negative; batch_fail_rate and batch_expire_rate are between 0 and 1"},
		{"misspelt top-level key", "dataset: q.csv\nconcurency: 3\n", `c.yaml:2: unknown key "concurency" (known here: agent, agents, concurrency, dataset,`},
		{"misspelt nested key", "prompts:\n  dri: p\n", `c.yaml:2: unknown key "dri" (known here: dir, system, use)`},
		{"misspelt model param", "models:\n  - model: openai:x\n    tempreature: 1\n", `c.yaml:3: unknown key "tempreature"`},
		{"misspelt provider key", "providers:\n  openai:\n    base_ulr: x\n", `c.yaml:3: unknown key "base_ulr"`},
		{"wrong type", "concurrency: lots\n", `c.yaml:1: concurrency: want a whole number, got "lots"`},
		{"wrong type in agent", "agent: {max_steps: lots}\n", `c.yaml:1: agent: max_steps: want a whole number, got "lots"`},
		{"agent not a mapping", "agent: [1]\n", "c.yaml:1: agent: want a mapping (key: value), got a list"},
		{"judge not a mapping", "judge: [a]\n", "c.yaml:1: judge: want a mapping (key: value), got a list"},
		{"agent tool_timeout not a duration", "agent:\n  tool_timeout: soon\n", `c.yaml:2: agent: tool_timeout: want a duration (30s, 2m), got "soon"`},
		{"command not a list", "tools:\n  - {name: s, command: x}\n", `c.yaml:2: tools: command: want a list ([a, b]), got "x"`},
		{"tools a mapping", "tools:\n  name: s\n", "c.yaml:2: tools: want a list ([a, b]), got a mapping"},
		{"env a list", "tools:\n  - {name: s, command: [x], env: [A]}\n", "c.yaml:2: tools: env: want a mapping (key: value), got a list"},
		{"agent tools not a list", "tools:\n  - {name: s, command: [x]}\nagents:\n  - {prompt: a, model: sim:a, tools: s}\n", `c.yaml:4: agents: tools: want a list ([a, b]), got "s"`},
		{"variant temperature not a number", "variants:\n  - {prompt: a, model: sim:a,\n     temperature: hot}\n", `c.yaml:3: variants: temperature: want a number, got "hot"`},
		{"scorers not a list", "scorers: x\n", `c.yaml:1: scorers: want a list ([a, b]), got "x"`},
		{"agent without model", "tools:\n  - {name: s, command: [x]}\nagents:\n  - {prompt: basic, tools: [s]}\n", "c.yaml:4: agents: each needs prompt: and model:"},
		{"agent not a mapping entry", "agents:\n  - x\n", "c.yaml:2: agents: each is a mapping: {label: agent, prompt: basic, model: openai:gpt-4.1-mini, tools: [search]}"},
		{"agent label with @", "agents:\n  - {label: a@b, prompt: basic, model: sim:a, tools: [s]}\n", `c.yaml:2: agents: label "a@b": a label is named in gates`},
		{"bad model ref", "models:\n  - gpt-4\n", `c.yaml:2: models: model "gpt-4": want provider:model`},
		{"unset variable", "dataset: q.csv\nout: ${OUT_DIR}\n", "c.yaml:2: ${OUT_DIR} is not set"},
		{"bad rate", "max_error_rate: 2\n", "c.yaml:1: max_error_rate: 2 is not between 0 and 1"},
		{"variant label with @", "variants:\n  - {label: a@b, prompt: basic, model: sim:a}\n", `c.yaml:2: variants: label "a@b": a label is named in gates`},
		{"variant without model", "variants:\n  - {prompt: basic}\n", "c.yaml:2: variants: each needs prompt: and model:"},
		{"variant bad temperature", "variants:\n  - {prompt: basic, model: sim:a,\n     temperature: 3}\n", "c.yaml:3: model sim:a: temperature"},
		{"repeat too many", "repeat: 100000\n", "c.yaml: repeat: must be from 1 to 1000"},
		{"NaN rate", "dataset: q.csv\nmax_error_rate: .nan\n", "c.yaml:2: max_error_rate: NaN is not between 0 and 1"},
		{"gate min over 1", "gates:\n  - {scorer: english, min: 0.9}\n  - {scorer: english, min: 1.5}\n", "c.yaml:3: gates: min 1.5 is not between 0 and 1"},
		{"gate max_error_rate NaN", "gates:\n  - max_error_rate: .nan\n", "c.yaml:2: gates: max_error_rate NaN is not between 0 and 1"},
		{"gate max_drop over 1", "gates:\n  - {scorer: overall, max_drop: 5}\n", "c.yaml:2: gates: max_drop 5 is not between 0 and 1"},
		{"gate max_cost NaN", "gates:\n  - {max_cost: .nan}\n", "c.yaml:2: gates: max_cost NaN is not a cost in USD"},
		{"gate with two conditions", "gates:\n  - {scorer: english, min: 0.5, max_drop: 0.1}\n", "c.yaml:2: gates: a gate sets exactly one of"},
		{"bad yaml", "models: [\n", "c.yaml:"},
		{"bad price ref", "prices:\n  gpt-4: {input: 1, output: 2}\n", `prices: model "gpt-4": want provider:model`},
		{"misspelt price key", "prices:\n  openai:x: {inptu: 1}\n", `c.yaml:2: unknown key "inptu" (known here: input, output)`},
		{"simulate elsewhere", "providers:\n  openai:\n    simulate: {latency: 1s}\n", "simulate applies only to the sim provider"},
		{"NaN temperature", "models:\n  - model: openai:x\n    temperature: .nan\n", "c.yaml:3: model openai:x: temperature: NaN is not between 0 and 2"},
		{"temperature above 2", "models:\n  - openai:y\n  - model: openai:x\n    seed: 1\n    temperature: 2.5\n", "c.yaml:5: model openai:x: temperature: 2.5 is not between 0 and 2"},
		{"infinite temperature", "models:\n  - {model: openai:x, temperature: -.inf}\n", "c.yaml:2: model openai:x: temperature: -Inf is not between 0 and 2"},
		{"top_p above 1", "models:\n  - model: openai:x\n    top_p: 1.5\n", "c.yaml:3: model openai:x: top_p: 1.5 is not between 0 and 1"},
		{"infinite top_p", "models:\n  - model: openai:x\n    top_p: .inf\n", "c.yaml:3: model openai:x: top_p: +Inf is not between 0 and 1"},
		{"negative max_tokens", "models:\n  - model: openai:x\n    max_tokens: -5\n", "c.yaml:3: model openai:x: max_tokens: -5 is negative"},
		{"max_tokens 0", "models:\n  - model: openai:x\n    max_tokens: 0\n", "c.yaml:3: model openai:x: max_tokens: 0 is not a limit: set at least 1, or leave it out"},
		{"judge NaN temperature", "judge:\n  model: sim:j\n  temperature: .NaN\n", "c.yaml:3: model sim:j: temperature: NaN is not between 0 and 2"},
		{"unknown dataset encoding", "dataset: q.csv\ndataset_encoding: latin-9000\n", `c.yaml:2: dataset_encoding: unknown encoding "latin-9000" (use utf-8, or an IANA charset name such as latin1, windows-1252`},
		{"negative max_cell_bytes", "dataset: q.csv\n\nmax_cell_bytes: -1\n", "c.yaml:3: max_cell_bytes: -1 is negative (leave it out for the default, 1048576)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.src), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			// Go's words stay out of it.
			for _, w := range []string{"unmarshal", "!!", "config.", "[]string", "float64", "time.Duration"} {
				if strings.Contains(err.Error(), w) {
					t.Errorf("err = %v: it says %q", err, w)
				}
			}
		})
	}
}

// The ends of every range are allowed, and any seed.
func TestParamRangesAccepted(t *testing.T) {
	src := "models:\n  - {model: openai:a, temperature: 0, top_p: 0, seed: -7, max_tokens: 1}\n  - {model: openai:b, temperature: 2, top_p: 1}\njudge: {model: openai:j, temperature: 0}\n"
	cfg, err := Parse("c.yaml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.Models[0].TopP != 0 || *cfg.Models[0].Seed != -7 || *cfg.Models[1].Temperature != 2 {
		t.Errorf("%+v", cfg.Models)
	}
}

func TestExpand(t *testing.T) {
	got, err := Expand([]byte("a: ${X}\nb: ${Y:-dflt}\nc: $${X}\n"), env(map[string]string{"X": "x1"}))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "a: x1\nb: dflt\nc: ${X}\n" {
		t.Errorf("%q", got)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "evalctl.yaml"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "config file not found") {
		t.Error(err)
	}
}

func TestExampleConfigParses(t *testing.T) {
	path := filepath.Join("..", "examples", "se-quiz", "evalctl.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skip()
	}
	cfg, err := Load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Scorers) != 7 {
		t.Errorf("scorers = %d", len(cfg.Scorers))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("dataset: q.csv\nmodels: [sim:a]\n"))
	f.Add([]byte("scorers:\n  - name: x\n    type: regex\n    pattern: a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Parse("f.yaml", data, env(nil)) // must not panic
	})
}

func TestParseAgents(t *testing.T) {
	src := `tools:
  - name: search
    command: [evalctl, sim, mcp]
    env: {TOKEN: "${TOKEN}"}
agent: {max_steps: 6, tool_timeout: 20s}
variants:
  - {label: plain, prompt: basic, model: sim:a}
agents:
  - label: agent
    prompt: basic
    model: sim:a
    tools: [search, {name: docs, url: "http://127.0.0.1:9/mcp", headers: {Authorization: "Bearer x"}}]
    system_addendum: tools
    agent: {max_steps: 3, parallel_tool_calls: false}
trace: {max_body_bytes: 4096}
`
	cfg, err := Parse("c.yaml", []byte(src), func(k string) (string, bool) { return "t0k3n", k == "TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Agents[0]
	if len(a.Tools) != 2 || a.Tools[0].Name != "search" || a.Tools[0].Server != nil || a.Tools[1].Server == nil || a.Tools[1].Server.URL == "" {
		t.Errorf("tools %+v", a.Tools)
	}
	eff := a.Agent.Over(cfg.Agent)
	if eff.MaxSteps != 3 || eff.ToolTimeout.String() != "20s" || eff.ParallelToolCalls == nil || *eff.ParallelToolCalls {
		t.Errorf("agent settings %+v", eff)
	}
	if s, ok := cfg.ToolServer("search"); !ok || s.Env["TOKEN"] != "t0k3n" {
		t.Errorf("server %+v", s)
	}
	if cfg.Trace.MaxBodyBytes != 4096 || a.SystemAddendum != "tools" || len(cfg.Variants) != 1 {
		t.Errorf("cfg %+v", cfg)
	}
}

// A scorer's own settings of the wrong type name the scorer, the line and
// the key, in YAML words.
func TestScorerDecodeTypeError(t *testing.T) {
	src := "scorers:\n  - name: short\n    type: word_count\n    max: lots\n"
	cfg, err := Parse("c.yaml", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Max int `yaml:"max"`
	}
	err = cfg.Scorers[0].Decode(&p)
	if want := `c.yaml:4: scorer "short": max: want a whole number, got "lots"`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}
