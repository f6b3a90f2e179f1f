package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/evalctl/evalctl/datasets"
	"github.com/evalctl/evalctl/gates/spec"
	"github.com/evalctl/evalctl/llm"
)

// Config is the content of evalctl.yaml.
type Config struct {
	// Dataset is a .csv, .tsv or .jsonl file.
	Dataset string `yaml:"dataset"`
	// DatasetEncoding is the dataset file's character encoding when it is
	// not UTF-8: an IANA charset name such as latin1, windows-1252,
	// shift_jis or utf-16 (decoded to UTF-8 before parsing). Default utf-8,
	// where bytes that are not UTF-8 are an error.
	DatasetEncoding string `yaml:"dataset_encoding"`
	// MaxCellBytes caps one dataset cell in bytes (0: the default, 1 MiB):
	// a larger cell is refused before any call.
	MaxCellBytes int `yaml:"max_cell_bytes"`
	// Limit evaluates only the first N rows (0: all).
	Limit int `yaml:"limit"`
	// Shard is "i/n" from --shard (a run over the i-th of n parts of the
	// rows); not read from the file.
	Shard   string        `yaml:"-"`
	Prompts PromptsConfig `yaml:"prompts"`
	Models  []ModelConfig `yaml:"models"`
	// Variants, when set, list what produces answers by hand instead of
	// every prompt × model: each a prompt, a model with its parameters, an
	// optional system prompt and label. Two may share a prompt or a model.
	Variants []VariantConfig `yaml:"variants"`
	// Agents are variants with tools, added to the variants above (every
	// prompt × model, or those listed): each a prompt, a model, tools: and
	// optionally system_addendum:, agent: and a label.
	Agents AgentVariants `yaml:"agents"`
	// Tools are the MCP tool servers that variants name in their tools:.
	Tools []ToolServerConfig `yaml:"tools"`
	// Agent holds the defaults of agent variants' tool loops.
	Agent AgentConfig `yaml:"agent"`
	// Trace bounds what traces keep.
	Trace TraceConfig `yaml:"trace"`
	// Judge is the model that judges LLM scorers, with its parameters
	// (temperature defaults to 0).
	Judge *ModelConfig `yaml:"judge"`
	// Scorers score every answer, in order.
	Scorers []ScorerConfig `yaml:"scorers"`
	// Concurrency caps LLM calls in flight (default 8).
	Concurrency int `yaml:"concurrency"`
	// Repeat runs each cell N times (default 1).
	Repeat int `yaml:"repeat"`
	// MaxErrorRate is the share of generation or scorer calls that may end in
	// error before the run counts as incomplete (exit 3). Default 0.05.
	MaxErrorRate *float64 `yaml:"max_error_rate"`
	// Out is a directory for answers.csv and feedback.csv.
	Out string `yaml:"out"`
	// Providers configure endpoints by model-ref prefix.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// Gates are the conditions for exit 0 (see packages gates and gates/spec).
	Gates []GateConfig `yaml:"gates"`
	// Limits are per-model limits, by model ref (vendors such as OpenAI
	// limit each model apart): max_concurrency, rpm, tpm. They apply to every
	// use of the model, generation and judging.
	Limits map[string]llm.Limits `yaml:"limits"`
	// Labels is a CSV of human labels of judged answers (row_id, prompt,
	// model, scorer, label), for gates with require_judge_kappa.
	Labels string `yaml:"labels"`
	// Prices override the built-in price table, by model ref, in USD per
	// million input and output tokens.
	Prices map[string]llm.Price `yaml:"prices"`

	// Path is the file the config was read from ("" when built from flags).
	Path string `yaml:"-"`
	// Dir resolves relative paths (the file's directory, or the working directory).
	Dir string `yaml:"-"`
	// Raw is the file as written, before ${VAR} expansion.
	Raw []byte `yaml:"-"`
	// lines holds the line of each top-level key, for errors.
	lines map[string]int
}

// PromptsConfig selects prompt templates.
type PromptsConfig struct {
	// Dir holds the *.txt templates (default "prompts").
	Dir string `yaml:"dir"`
	// System names the template used as the system prompt ("" for none;
	// default "system" when the directory has system.txt).
	System *string `yaml:"system"`
	// Use lists the templates to evaluate (default: all but the system prompt).
	Use []string `yaml:"use"`
}

// ModelConfig is a model reference with its parameters. In YAML it is either a
// string ("openai:gpt-4.1-mini") or a mapping with "model" and parameters.
type ModelConfig struct {
	Model      string `yaml:"model"`
	llm.Params `yaml:",inline"`
	Line       int `yaml:"-"`
}

// VariantConfig is one variant listed by hand:
// {label: hot, prompt: basic, model: openai:gpt-4.1-mini, temperature: 1.0}.
type VariantConfig struct {
	Label string `yaml:"label"`
	// Prompt names a template, or a stored version (basic@production).
	Prompt string `yaml:"prompt"`
	// System names the system prompt template ("" for none; default the
	// prompts: system).
	System      *string `yaml:"system"`
	ModelConfig `yaml:",inline"`
	// Tools names the variant's tool servers (or defines them in place):
	// the variant is an agent.
	Tools []ToolRef `yaml:"tools"`
	// SystemAddendum names a template appended to the system prompt
	// (tools.txt: "Always use the provided web search tool…").
	SystemAddendum string `yaml:"system_addendum"`
	// Agent overrides the top-level agent: settings.
	Agent AgentConfig `yaml:"agent"`
}

// AgentVariants are the agents: list, variants whose errors say agents:.
type AgentVariants []VariantConfig

// UnmarshalYAML decodes each agent as a variant.
func (a *AgentVariants) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		*a = nil
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return &lineError{n.Line, "agents: want a list: [{label: agent, prompt: basic, model: openai:gpt-4.1-mini, tools: [search]}]"}
	}
	out := make(AgentVariants, len(n.Content))
	for i, c := range n.Content {
		if err := out[i].decode(c, "agents"); err != nil {
			return err
		}
	}
	*a = out
	return nil
}

// UnmarshalYAML decodes strictly and checks the parameters.
func (v *VariantConfig) UnmarshalYAML(n *yaml.Node) error { return v.decode(n, "variants") }

// decode decodes a variant of the list named kind (variants, agents).
func (v *VariantConfig) decode(n *yaml.Node, kind string) error {
	type plain struct {
		Label          string      `yaml:"label"`
		Prompt         string      `yaml:"prompt"`
		System         *string     `yaml:"system"`
		Model          string      `yaml:"model"`
		Tools          []ToolRef   `yaml:"tools"`
		SystemAddendum string      `yaml:"system_addendum"`
		Agent          AgentConfig `yaml:"agent"`
		llm.Params     `yaml:",inline"`
	}
	if n.Kind != yaml.MappingNode {
		example := "{label: hot, prompt: basic, model: openai:gpt-4.1-mini, temperature: 1.0}"
		if kind == "agents" {
			example = "{label: agent, prompt: basic, model: openai:gpt-4.1-mini, tools: [search]}"
		}
		return &lineError{n.Line, kind + ": each is a mapping: " + example}
	}
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*v = VariantConfig{Label: p.Label, Prompt: p.Prompt, System: p.System, ModelConfig: ModelConfig{Model: p.Model, Params: p.Params, Line: n.Line},
		Tools: p.Tools, SystemAddendum: p.SystemAddendum, Agent: p.Agent}
	if v.Prompt == "" || v.Model == "" {
		return &lineError{n.Line, kind + ": each needs prompt: and model:"}
	}
	if strings.ContainsAny(v.Label, "/@=,") || strings.TrimSpace(v.Label) != v.Label {
		return &lineError{n.Line, fmt.Sprintf("%s: label %q: a label is named in gates (english@LABEL=0.9), so it cannot hold / @ = , or surrounding spaces", kind, v.Label)}
	}
	return v.ModelConfig.checkParams(n)
}

// UnmarshalYAML accepts a scalar or a mapping.
func (m *ModelConfig) UnmarshalYAML(n *yaml.Node) error {
	m.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&m.Model)
	}
	type plain ModelConfig
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*m = ModelConfig(p)
	m.Line = n.Line
	return m.checkParams(n)
}

// checkParams refuses sampling parameters out of range, on their key's line.
func (m *ModelConfig) checkParams(n *yaml.Node) error {
	var pe *llm.ParamError
	if err := m.Params.Validate(); err != nil && !errors.As(err, &pe) {
		return err
	}
	if pe == nil && m.MaxTokens == 0 && keyLine(n, "max_tokens") > 0 {
		pe = &llm.ParamError{Param: "max_tokens", Msg: "0 is not a limit: set at least 1, or leave it out for the provider's default"}
	}
	if pe == nil {
		return nil
	}
	line := keyLine(n, pe.Param)
	if line == 0 {
		line = n.Line
	}
	return &lineError{line, fmt.Sprintf("model %s: %v", m.Model, pe)}
}

// keyLine returns the line of key in mapping n, or 0.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// Ref parses the model reference.
func (m ModelConfig) Ref() (llm.ModelRef, error) { return llm.ParseModelRef(m.Model) }

// ProviderConfig configures an endpoint. Providers other than the built-in
// openai, ollama and sim are OpenAI-compatible endpoints named freely
// (a "vllm" provider serves "vllm:MODEL" refs).
type ProviderConfig struct {
	// BaseURL of the OpenAI-compatible API, including /v1.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the key (the key
	// itself never goes in the file).
	APIKeyEnv string `yaml:"api_key_env"`
	// APIVersion is Azure OpenAI's api-version (provider azure; default
	// $AZURE_OPENAI_API_VERSION, else 2024-10-21).
	APIVersion string `yaml:"api_version"`
	// Timeout bounds one attempt (default 120s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts per call, retries included (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBaseDelay is the first backoff (default 500ms).
	RetryBaseDelay time.Duration `yaml:"retry_base_delay"`
	// MaxConcurrency caps attempts in flight to this provider (0: only the
	// run's concurrency applies).
	MaxConcurrency int `yaml:"max_concurrency"`
	// RPM caps requests per minute to this provider (0: none).
	RPM int `yaml:"rpm"`
	// TPM caps tokens per minute to this provider (0: none), prompt and
	// completion together, generation and judge calls alike. A call's tokens
	// are estimated before it goes (offline tokenizer) and corrected by the
	// usage the provider reports.
	TPM int `yaml:"tpm"`
	// Adaptive paces the requests to each of this provider's models at the
	// rate the endpoint allows, learnt from its 429s and x-ratelimit-*
	// headers (default true); rpm and tpm stay ceilings.
	Adaptive *bool `yaml:"adaptive"`
	// MaxWait bounds the time one call waits for rate limits (pacing and
	// Retry-After) before it ends as rate_limited (default 10m). A 429 does
	// not spend one of max_attempts.
	MaxWait time.Duration `yaml:"max_wait"`
	// Batch sends this provider's requests (answers and judges alike)
	// through its Batch API, at the batch price: `batch: true`, or a
	// mapping of the settings below.
	Batch *BatchConfig `yaml:"batch"`
	// Simulate configures the built-in simulator (provider "sim" only).
	Simulate *SimConfig `yaml:"simulate"`
}

// BatchConfig is a provider's batch: setting.
type BatchConfig struct {
	// Enabled is false only for `batch: false`.
	Enabled bool `yaml:"-"`
	// Poll is the time between two reads of a batch's state (default 30s).
	Poll time.Duration `yaml:"poll"`
	// Collect is the quiet time after the last request before those
	// gathered go as a batch (default 2s).
	Collect time.Duration `yaml:"collect"`
	// OnFailure says what becomes of the requests a batch did not answer
	// (expired, cancelled, refused, or met a server error or rate limit):
	// "interactive" (default) asks them again at the interactive price;
	// "error" records them as errors.
	OnFailure string `yaml:"on_failure"`
}

// BatchFailure values.
const (
	BatchInteractive = "interactive"
	BatchError       = "error"
)

// On reports whether batching is on.
func (b *BatchConfig) On() bool { return b != nil && b.Enabled }

// UnmarshalYAML takes true, false or a mapping of settings.
func (b *BatchConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return &lineError{n.Line, fmt.Sprintf("batch: %q: want true, false or a mapping (poll, collect, on_failure)", n.Value)}
		}
		*b = BatchConfig{Enabled: on}
		return nil
	}
	type plain BatchConfig
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*b = BatchConfig(p)
	b.Enabled = true
	switch {
	case b.Poll < 0:
		return &lineError{lineOr(keyLine(n, "poll"), n.Line), "batch: poll must not be negative (default 30s)"}
	case b.Collect < 0:
		return &lineError{lineOr(keyLine(n, "collect"), n.Line), "batch: collect must not be negative (default 2s)"}
	case b.OnFailure != "" && b.OnFailure != BatchInteractive && b.OnFailure != BatchError:
		return &lineError{lineOr(keyLine(n, "on_failure"), n.Line), fmt.Sprintf("batch: on_failure %q: want interactive (the default) or error", b.OnFailure)}
	}
	return nil
}

// SimConfig configures the in-process simulator behind sim: models.
type SimConfig struct {
	Latency       time.Duration `yaml:"latency"`
	Jitter        float64       `yaml:"jitter"`
	RPM           int           `yaml:"rpm"`
	TPM           int           `yaml:"tpm"`
	FailRate      float64       `yaml:"fail_rate"`
	RateLimitRate float64       `yaml:"rate_limit_rate"`
	HangRate      float64       `yaml:"hang_rate"`
	GarbageRate   float64       `yaml:"garbage_rate"`
	Seed          uint64        `yaml:"seed"`
	// RateLimitHeaders announces rpm and tpm in x-ratelimit-* headers.
	RateLimitHeaders bool `yaml:"rate_limit_headers"`
	// RetryAfter is the Retry-After of 429s for the limits (whole seconds).
	RetryAfter time.Duration `yaml:"retry_after"`
	// BatchDelay is the time a Batch API batch takes; BatchFailRate and
	// BatchExpireRate make some of its requests fail and some batches
	// expire.
	BatchDelay      time.Duration `yaml:"batch_delay"`
	BatchFailRate   float64       `yaml:"batch_fail_rate"`
	BatchExpireRate float64       `yaml:"batch_expire_rate"`
}

// GateConfig is one gate with the line it was written on.
type GateConfig struct {
	spec.Gate `yaml:",inline"`
	Line      int `yaml:"-"`
}

// UnmarshalYAML decodes strictly and keeps the line.
func (g *GateConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain GateConfig
	var p plain
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*g = GateConfig(p)
	g.Line = n.Line
	return nil
}

// ScorerConfig is one scorer: name, type and type-specific settings.
type ScorerConfig struct {
	Name string
	Type string
	Line int
	path string
	node *yaml.Node
}

// YAML returns the scorer as configured (after ${VAR} expansion), for the
// record of an assessment.
func (s *ScorerConfig) YAML() string {
	if s.node == nil {
		return ""
	}
	node := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "name"}, {Kind: yaml.ScalarNode, Value: s.Name},
		{Kind: yaml.ScalarNode, Value: "type"}, {Kind: yaml.ScalarNode, Value: s.Type}}}
	node.Content = append(node.Content, s.node.Content...)
	b, err := yaml.Marshal(node)
	if err != nil {
		return ""
	}
	return string(b)
}

// ScorersYAML returns the config's scorers as configured, as a YAML list.
func (c *Config) ScorersYAML(only ...string) string {
	var b strings.Builder
	for i := range c.Scorers {
		sc := &c.Scorers[i]
		if len(only) > 0 && !slices.Contains(only, sc.Name) {
			continue
		}
		for j, line := range strings.Split(strings.TrimRight(sc.YAML(), "\n"), "\n") {
			if j == 0 {
				b.WriteString("- " + line + "\n")
			} else {
				b.WriteString("  " + line + "\n")
			}
		}
	}
	return b.String()
}

// UnmarshalYAML keeps the type-specific settings for Decode.
func (s *ScorerConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &lineError{n.Line, "a scorer is a mapping with name, type and settings"}
	}
	s.Line = n.Line
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			if err := v.Decode(&s.Name); err != nil {
				return err
			}
		case "type":
			if err := v.Decode(&s.Type); err != nil {
				return err
			}
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	s.node = rest
	return nil
}

// Decode fills v from the scorer's type-specific settings, rejecting keys v
// does not have.
func (s ScorerConfig) Decode(v any) error {
	if s.node == nil {
		return nil
	}
	err := decodeStrict(s.node, v, "name", "type")
	if err == nil {
		return nil
	}
	var le *lineError
	if !errors.As(err, &le) && !errors.As(typeError(s.node, reflect.TypeOf(v), err), &le) {
		le = &lineError{s.Line, cleanYAMLError(err).Error()}
	}
	le = &lineError{le.line, fmt.Sprintf("scorer %q: %s", s.Name, le.msg)}
	if s.path == "" {
		return le
	}
	return prefixFile(s.path, le)
}

// Defaults.
const (
	DefaultConcurrency  = 8
	DefaultMaxErrorRate = 0.05
	// MaxRepeat bounds repeat: more is a typo, not an evaluation.
	MaxRepeat = 1000
)

// Load reads and validates the file at path.
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: config file not found", path)
		}
		return nil, err
	}
	return Parse(path, raw, getenv)
}

// Parse parses a config file's bytes; path names it in errors and sets Dir.
func Parse(path string, raw []byte, getenv func(string) (string, bool)) (*Config, error) {
	expanded, err := Expand(raw, getenv)
	if err != nil {
		return nil, prefixFile(path, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(expanded, &root); err != nil {
		return nil, prefixFile(path, cleanYAMLError(err))
	}
	cfg := &Config{lines: map[string]int{}}
	if len(root.Content) > 0 {
		top := root.Content[0]
		if err := decodeStrict(top, cfg); err != nil {
			return nil, prefixFile(path, typeError(top, reflect.TypeFor[Config](), err))
		}
		for i := 0; i+1 < len(top.Content); i += 2 {
			cfg.lines[top.Content[i].Value] = top.Content[i].Line
		}
	}
	cfg.Path, cfg.Raw = path, raw
	for i := range cfg.Scorers {
		cfg.Scorers[i].path = path
	}
	for i := range cfg.Gates {
		cfg.Gates[i].Source = fmt.Sprintf("%s:%d", path, cfg.Gates[i].Line)
	}
	cfg.Dir = filepath.Dir(path)
	if err := cfg.validate(); err != nil {
		return nil, prefixFile(path, err)
	}
	return cfg, nil
}

// validate checks values that YAML types cannot.
func (c *Config) validate() error {
	if c.Limit < 0 {
		return errors.New("limit: must be 0 (all rows) or more")
	}
	if c.Concurrency < 0 {
		return errors.New("concurrency: must be at least 1")
	}
	if c.Repeat < 0 || c.Repeat > MaxRepeat {
		return fmt.Errorf("repeat: must be from 1 to %d", MaxRepeat)
	}
	if r := c.MaxErrorRate; r != nil && !(*r >= 0 && *r <= 1) { // NaN too
		return c.at("max_error_rate", fmt.Sprintf("%v is not between 0 and 1", *r))
	}
	for _, g := range c.Gates {
		if err := g.Check(); err != nil {
			return &lineError{g.Line, "gates: " + err.Error()}
		}
	}
	if c.MaxCellBytes < 0 {
		return c.at("max_cell_bytes", fmt.Sprintf("%d is negative (leave it out for the default, %d)", c.MaxCellBytes, datasets.DefaultMaxCellBytes))
	}
	if err := datasets.CheckEncoding(c.DatasetEncoding); err != nil {
		return c.at("dataset_encoding", err.Error())
	}
	for _, m := range c.Models {
		if _, err := m.Ref(); err != nil {
			return &lineError{m.Line, "models: " + err.Error()}
		}
	}
	for _, v := range c.Variants {
		if _, err := v.Ref(); err != nil {
			return &lineError{v.Line, "variants: " + err.Error()}
		}
	}
	for _, v := range c.Agents {
		if _, err := v.Ref(); err != nil {
			return &lineError{v.Line, "agents: " + err.Error()}
		}
	}
	if err := c.checkTools(); err != nil {
		return err
	}
	if c.Judge != nil && c.Judge.Model != "" {
		if _, err := c.Judge.Ref(); err != nil {
			return &lineError{c.Judge.Line, "judge: " + err.Error()}
		}
	}
	for ref, p := range c.Prices {
		if _, err := llm.ParseModelRef(ref); err != nil {
			return fmt.Errorf("prices: %v", err)
		}
		if p.Input < 0 || p.Output < 0 {
			return fmt.Errorf("prices: %s: prices must not be negative", ref)
		}
	}
	for ref, l := range c.Limits {
		if _, err := llm.ParseModelRef(ref); err != nil {
			return fmt.Errorf("limits: %v", err)
		}
		if l.RPM < 0 || l.TPM < 0 || l.MaxConcurrency < 0 {
			return fmt.Errorf("limits: %s: limits must not be negative", ref)
		}
	}
	for name, p := range c.Providers {
		if p.Simulate != nil && name != "sim" {
			return fmt.Errorf("providers.%s: simulate applies only to the sim provider", name)
		}
		if s := p.Simulate; s != nil && (s.BatchDelay < 0 || !(s.BatchFailRate >= 0 && s.BatchFailRate <= 1) || !(s.BatchExpireRate >= 0 && s.BatchExpireRate <= 1)) {
			return fmt.Errorf("providers.%s: simulate: batch_delay must not be negative; batch_fail_rate and batch_expire_rate are between 0 and 1", name)
		}
		if p.Batch.On() && name == "azure" {
			return fmt.Errorf("providers.azure: batch: Azure OpenAI's batch deployments are not supported; leave batch: out for azure")
		}
		if p.MaxAttempts < 0 || p.MaxConcurrency < 0 || p.RPM < 0 || p.TPM < 0 || p.Timeout < 0 || p.MaxWait < 0 {
			return fmt.Errorf("providers.%s: limits must not be negative", name)
		}
	}
	return nil
}

// at is an error about a top-level key, on its line when the file has it.
func (c *Config) at(key, msg string) error {
	if line := c.lines[key]; line > 0 {
		return &lineError{line, key + ": " + msg}
	}
	return errors.New(key + ": " + msg)
}

// Resolve returns p relative to the config's directory, unless absolute.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default} in raw, line by line. "$${"
// stands for a literal "${". References in comments are left alone.
func Expand(raw []byte, getenv func(string) (string, bool)) ([]byte, error) {
	lines := strings.SplitAfter(string(raw), "\n")
	var b strings.Builder
	for i, line := range lines {
		var err error
		out := envRef.ReplaceAllStringFunc(line, func(m string) string {
			if m == "$${" {
				return "${"
			}
			sub := envRef.FindStringSubmatch(m)
			if v, ok := getenv(sub[1]); ok {
				return v
			}
			if strings.Contains(m, ":-") {
				return sub[2]
			}
			idx := strings.Index(line, m)
			if c := strings.Index(line, "#"); c >= 0 && c < idx && (c == 0 || line[c-1] == ' ' || line[c-1] == '\t') {
				return m // inside a comment
			}
			if err == nil {
				err = &lineError{i + 1, fmt.Sprintf("%s is not set (write ${%s:-default} for a default)", m, sub[1])}
			}
			return m
		})
		if err != nil {
			return nil, err
		}
		b.WriteString(out)
	}
	return []byte(b.String()), nil
}

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

var linePrefix = regexp.MustCompile(`^line (\d+): `)

// prefixFile turns "line N: msg" into "path:N: msg".
func prefixFile(path string, err error) error {
	msg := err.Error()
	if m := linePrefix.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", path, m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("%s: %s", path, msg)
}

// cleanYAMLError shortens yaml.v3's messages to their first problem.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return errors.New(strings.TrimPrefix(te.Errors[0], "yaml: "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}
