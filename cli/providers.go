package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/eval"
	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/llm/batch"
	llmproviders "github.com/evalctl/evalctl/llm/providers"
	"github.com/evalctl/evalctl/llm/transport"
	"golang.org/x/time/rate"
)

// providers builds one client per provider, on demand, from the provider's
// factory (package llm/providers) and the transport, limits and cache every
// provider shares; it stops what the factories started (in-process
// simulators).
type providers struct {
	a       *app
	cfg     *config.Config
	limit   *eval.CallLimit
	clients map[string]providerClient // by provider
	models  map[string]llm.Client     // by model ref
	closers []func() error            // what the providers started (simulators)
	pacers  []pacer
	// cache, when set, wraps each client with the response cache.
	cache func(c llm.Client, endpoint string) llm.Client
	// dry, when set, makes a dry run: it returns the client standing for a
	// provider (nothing is sent, no key is needed, no simulator starts), and
	// tally counts the calls.
	dry   func(provider string) llm.Client
	tally *eval.Tally
	// batchAll sends every provider's requests through its Batch API
	// (--batch); ledger, when set, records the batches (the run store).
	batchAll bool
	ledger   func(endpoint string) batch.Ledger

	mu           sync.Mutex
	collectors   []namedCollector
	onBatch      func(string) // told when the batches' states change
	lastBatchKey string
}

func newProviders(a *app, cfg *config.Config, limit *eval.CallLimit) *providers {
	return &providers{a: a, cfg: cfg, limit: limit, clients: map[string]providerClient{}, models: map[string]llm.Client{}}
}

func (p *providers) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// client returns the client for a model: its provider's client, within the
// model's own limits (limits: in evalctl.yaml), the response cache and the
// run's call limit (-j). Every use of a model (generation, judging) gets the same one.
func (p *providers) client(ref llm.ModelRef) (llm.Client, error) {
	if c, ok := p.models[ref.String()]; ok {
		return c, nil
	}
	pr, err := p.provider(ref)
	if err != nil {
		return nil, err
	}
	g := pr.client
	if l, ok := p.cfg.Limits[ref.String()]; ok && p.dry == nil {
		g = llm.Limit(g, l)
	}
	if p.cache != nil {
		g = p.cache(g, pr.endpoint)
	}
	// The call limit sits outside the cache, so a call holds its slot until its
	// answer is committed to the cache: a crash loses at most the calls in
	// flight (-j), never answers waiting for the writer.
	g = p.limit.Wrap(g)
	if pr.batch != nil {
		// A call waiting for its batch holds no slot: the run's every
		// request waits at once, to go in one batch. An agent's steps
		// (requests offering tools) stay interactive: a tool loop cannot
		// wait for a batch at every step.
		b := llm.Client(pr.batch)
		if p.cache != nil {
			b = p.cache(b, pr.endpoint)
		}
		g = toolsApart{batch: p.limit.Observe(b), interactive: g}
	}
	if p.tally != nil {
		g = p.tally.Wrap(ref.Provider, g)
	}
	p.models[ref.String()] = g
	return g, nil
}

// pacer is a provider's pacing of its models.
type pacer struct {
	provider string
	p        *transport.Pacer
}

// pacing says which models are being paced and at what rate, for the
// progress line ("" when none is).
func (p *providers) pacing() string {
	var parts []string
	for _, pc := range p.pacers {
		for _, m := range pc.p.Paced() {
			name := pc.provider + ":" + m.Model
			if m.Model == "" {
				name = pc.provider // the endpoint as one
			}
			s := fmt.Sprintf("%s at %.0f rpm", name, m.RPM)
			if m.Held {
				s = name + " held (rate limited)"
			}
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "" // the batches' states are the progress's note (batchNote)
	}
	return "paced: " + strings.Join(parts, ", ")
}

// checkBaseURL says what is wrong with a base URL, if anything.
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", base, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not an http:// or https:// URL", base)
	case u.Host == "":
		return fmt.Errorf("%q has no host", base)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has port %s, not one from 1 to 65535", base, port)
		}
	}
	return nil
}

// providerClient is a provider's own client (its transport, retries and
// limits) and the endpoint its cache entries belong to.
type providerClient struct {
	client   llm.Client
	endpoint string
	// batch, when set, asks in place of client (batch:).
	batch *batch.Collector
}

// provider returns the client of ref's provider, built once.
func (p *providers) provider(ref llm.ModelRef) (providerClient, error) {
	if c, ok := p.clients[ref.Provider]; ok {
		return c, nil
	}
	pc := p.cfg.Providers[ref.Provider]
	factory, ok := llmproviders.Lookup(ref.Provider)
	if !ok {
		if pc.BaseURL == "" {
			names := llmproviders.Names()
			for n := range p.cfg.Providers {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			return providerClient{}, usageErr("model %s: unknown provider %q (known: %s; define others under providers: with a base_url)",
				ref, ref.Provider, strings.Join(names, ", "))
		}
		factory = llmproviders.Compatible
	}
	ep, err := factory(llmproviders.Env{Ref: ref, Config: pc, Getenv: p.a.io.getenv, Dry: p.dry != nil})
	var setup *llmproviders.SetupError
	switch {
	case errors.As(err, &setup):
		return providerClient{}, exitErr(ExitUsage, setup.Err, setup.Hint)
	case err != nil:
		return providerClient{}, err
	}
	if ep.Close != nil {
		p.closers = append(p.closers, ep.Close)
	}
	p.a.redactor.Add(ep.APIKey)
	if err := checkBaseURL(ep.BaseURL); err != nil && p.dry == nil {
		return providerClient{}, exitErr(ExitUsage, fmt.Errorf("model %s: base URL %v", ref, err),
			"set OPENAI_BASE_URL (or providers."+ref.Provider+".base_url) to the API's http:// or https:// URL, including /v1")
	}

	policy := transport.DefaultPolicy
	if pc.MaxAttempts > 0 {
		policy.MaxAttempts = pc.MaxAttempts
	}
	if pc.Timeout > 0 {
		policy.AttemptTimeout = pc.Timeout
	}
	if pc.RetryBaseDelay > 0 {
		policy.BaseDelay = pc.RetryBaseDelay
	}
	if pc.MaxWait > 0 {
		policy.MaxWait = pc.MaxWait
	}
	base0 := http.DefaultTransport.(*http.Transport).Clone()
	base0.MaxIdleConns = 1024
	base0.MaxIdleConnsPerHost = 1024
	base0.IdleConnTimeout = 90 * time.Second
	tr := transport.New(base0, policy)
	if pc.RPM > 0 {
		perSec := float64(pc.RPM) / 60
		tr.Limiter = rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec)))
	}
	ceiling := pc.MaxConcurrency
	if pc.MaxConcurrency > 0 {
		tr.Sem = make(chan struct{}, ceiling)
	}
	if pc.Adaptive == nil || *pc.Adaptive {
		tr.Pacer = transport.NewPacer()
		p.pacers = append(p.pacers, pacer{ref.Provider, tr.Pacer})
	}
	hc := &http.Client{Transport: tr}
	g := ep.NewClient(hc, p.a.redactor)
	if p.dry != nil {
		g = p.dry(ref.Provider)
	}
	if pc.TPM > 0 && p.dry == nil {
		g = llm.NewTokenLimiter(pc.TPM).Wrap(g)
	}
	pr := providerClient{client: g, endpoint: ep.Cache}
	if bc := p.batchOf(ref.Provider); bc != nil {
		if ref.Provider == "azure" {
			return providerClient{}, usageErr("--batch: model %s: Azure OpenAI's batch deployments are not supported; run azure models without --batch", ref)
		}
		if p.dry == nil {
			pr.batch = p.collector(ref.Provider, bc, ep, hc, g)
		}
	}
	p.clients[ref.Provider] = pr
	return pr, nil
}
