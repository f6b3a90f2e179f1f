package providers

import (
	"fmt"

	"github.com/evalctl/evalctl/llm/sim"
)

// newSim starts the built-in simulator in-process, on a loopback port, with
// the faults and limits of providers.sim.simulate.
func newSim(e Env) (Endpoint, error) {
	opts := sim.Options{}
	if s := e.Config.Simulate; s != nil {
		opts = sim.Options{Latency: s.Latency, Jitter: s.Jitter, RPM: s.RPM, TPM: s.TPM, FailRate: s.FailRate,
			RateLimitRate: s.RateLimitRate, HangRate: s.HangRate, GarbageRate: s.GarbageRate, Seed: s.Seed,
			RateLimitHeaders: s.RateLimitHeaders, RetryAfter: s.RetryAfter,
			BatchDelay: s.BatchDelay, BatchFailRate: s.BatchFailRate, BatchExpireRate: s.BatchExpireRate}
	}
	base := e.Config.BaseURL
	var stop func() error
	if !e.Dry {
		srv, err := sim.Start("127.0.0.1:0", opts)
		if err != nil {
			return Endpoint{}, fmt.Errorf("starting the simulator: %w", err)
		}
		stop = srv.Close
		base = srv.URL
	}
	ep := openAICompatible(e, base, e.apiKey(""))
	// An in-process simulator gets a new port each run; its answers depend
	// only on its options.
	ep.Cache = fmt.Sprintf("sim %+v", e.Config.Simulate)
	ep.Close = stop
	return ep, nil
}
