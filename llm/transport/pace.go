package transport

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Pacer learns, per model, the request rate an endpoint allows without
// being told, and paces attempts to it. It is what lets a run meet a
// vendor's unannounced rate limit without turning most calls into errors.
//
//   - Slow start: a model with no known limit starts with one attempt in
//     flight and gains one slot per success (the in-flight window doubles
//     every round trip, as in TCP), so the first burst meets a limit with one
//     or two refusals, not with -j of them.
//   - Headers: x-ratelimit-limit-requests (OpenAI, Azure) sets the rate at
//     once, as a ceiling; x-ratelimit-remaining-requests or -tokens at 0
//     holds the model's attempts until the matching x-ratelimit-reset-*.
//   - A 429 with no rate known holds the model for its Retry-After, then
//     measures the rate the endpoint admitted (attempts sent in the last two
//     seconds less those refused) and paces just under it.
//   - With a rate known, a 429 cuts it multiplicatively (to Beta of itself)
//     and the rate then grows back along a cubic curve (CUBIC, RFC 9438):
//     quickly at first, flat around the rate that was refused, then probing
//     beyond it. A rate that grows to twice the refused one without a
//     refusal is forgotten (the limit was lifted).
//   - Only a 429 to an attempt sent after the last cut counts: refusals of
//     attempts already in flight say nothing new. Two such 429s in a row with
//     no answer between hold the model for the Retry-After, doubling with
//     each further one.
//
// A configured rpm stays a ceiling apart (Transport.Limiter).
type Pacer struct {
	// Beta is the share of the rate kept after a 429 (default 0.85).
	Beta float64
	// K is the time the rate takes to grow back to the rate that was
	// refused (default 10s).
	K time.Duration
	// MinRate is the lowest paced rate, requests per second (default 0.05).
	MinRate float64

	mu     sync.Mutex
	models map[string]*pace
	// perModel is set once the endpoint announces its limits in headers,
	// which describe the limits of the model asked (as OpenAI's do). Until
	// then the limit is unannounced and its scope unknown, so the endpoint
	// is paced as one: models limited apart then share one learnt rate.
	perModel atomic.Bool
}

// NewPacer returns a pacer with the default constants.
func NewPacer() *Pacer {
	return &Pacer{Beta: 0.85, K: 10 * time.Second, MinRate: 0.05, models: map[string]*pace{}}
}

// Pace is a model's pacing as shown to people.
type Pace struct {
	Model string
	// RPM is the rate the model is sent requests at, in requests per
	// minute: the paced rate, or what was admitted over the last seconds
	// when that is less (0 while it is only holding).
	RPM float64
	// Held is set while the model's attempts wait for a Retry-After or a
	// rate-limit reset.
	Held bool
}

// Paced lists the models being paced after a 429 or by rate-limit headers,
// by name; Model is "" for an endpoint paced as one.
func (p *Pacer) Paced() []Pace {
	p.mu.Lock()
	names := make([]string, 0, len(p.models))
	for k := range p.models {
		names = append(names, k)
	}
	p.mu.Unlock()
	sort.Strings(names)
	var out []Pace
	now := time.Now()
	for _, n := range names {
		if n == "" && p.perModel.Load() {
			continue // superseded by the models' own limits
		}
		ps := p.get(n)
		ps.mu.Lock()
		held := now.Before(ps.heldUntil)
		if ps.known || held {
			pc := Pace{Model: n, Held: held}
			if ps.known {
				// What is sent, where the pace allows more: the rate a person
				// wants to read is the one the run gets.
				pc.RPM = ps.rate * 60
				if sent := ps.admitted(now) * 60; sent > 0 && sent < pc.RPM {
					pc.RPM = sent
				}
			}
			out = append(out, pc)
		}
		ps.mu.Unlock()
	}
	return out
}

func (p *Pacer) get(model string) *pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.models[model]
	if !ok {
		ps = &pace{cwnd: 1, changed: make(chan struct{})}
		p.models[model] = ps
	}
	return ps
}

// pace is one model's state.
type pace struct {
	mu   sync.Mutex
	rate float64   // requests a second, while known
	last time.Time // when the last paced attempt went
	// known is set once a rate is paced; rMax is the rate last refused (or
	// measured), cutAt when the curve restarted from Beta × rMax.
	known   bool
	rMax    float64
	cutAt   time.Time
	ceiling float64 // from x-ratelimit-limit-requests, per second; 0 none
	// Slow start: attempts in flight are bounded by cwnd until it ends
	// (cwnd 0 = unbounded).
	cwnd, inFlight int
	changed        chan struct{} // closed when inFlight or cwnd changes
	heldUntil      time.Time
	// measureAt, when set, is when a hold whose end measures the admitted
	// rate started.
	measureAt time.Time
	epoch     uint64 // bumped at every cut; attempts sent before it are stale
	streak    int    // fresh 429s since the last answer
	// sends counts attempts and refusals by the 100 ms slot they were sent in.
	sends     [32]slot
	firstSent time.Time
}

type slot struct {
	at            int64 // slot number (unix time / 100 ms)
	sent, refused int
}

const slotLen = 100 * time.Millisecond

func slotOf(t time.Time) int64 { return t.UnixNano() / int64(slotLen) }

func (ps *pace) slot(t time.Time) *slot {
	n := slotOf(t)
	s := &ps.sends[n%int64(len(ps.sends))]
	if s.at != n {
		*s = slot{at: n}
	}
	return s
}

// admitted returns the rate, per second, of the attempts sent in the two
// seconds before until that were not refused (those still in flight count as
// admitted), over at least a second.
func (ps *pace) admitted(until time.Time) float64 {
	since := later(until.Add(-2*time.Second), ps.firstSent)
	lo, hi := slotOf(since), slotOf(until)
	n := 0
	for _, s := range ps.sends {
		if s.at >= lo && s.at <= hi {
			n += s.sent - s.refused
		}
	}
	return float64(n) / max(until.Sub(since).Seconds(), 1)
}

// ticket is an attempt let through by the pacer.
type ticket struct {
	model string
	ps    *pace
	epoch uint64
	sent  time.Time
	slow  bool // counted in the slow-start window
}

// errWaitTooLong is returned by acquire when the model's pacing would keep
// the attempt waiting past its deadline.
var errWaitTooLong = errors.New("rate limited: the wait would exceed max_wait")

// acquire waits until the model may send an attempt, or returns
// errWaitTooLong when that would be after deadline (zero: none).
func (p *Pacer) acquire(ctx context.Context, model string, deadline time.Time) (ticket, error) {
	key := ""
	if p.perModel.Load() {
		key = model
	}
	ps := p.get(key)
	for {
		ps.mu.Lock()
		now := time.Now()
		if now.Before(ps.heldUntil) {
			until := ps.heldUntil
			ps.mu.Unlock()
			if !deadline.IsZero() && until.After(deadline) {
				return ticket{}, errWaitTooLong
			}
			if err := sleep(ctx, until.Sub(now)); err != nil {
				return ticket{}, err
			}
			continue
		}
		if !ps.measureAt.IsZero() {
			p.measure(ps, now)
		}
		if ps.cwnd > 0 && ps.inFlight >= ps.cwnd {
			ch := ps.changed
			ps.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return ticket{}, ctx.Err()
			}
			continue
		}
		if ps.known {
			p.grow(ps, now)
		}
		if ps.known && ps.rate > 0 {
			// One attempt a 1/rate: the next turn is taken when it comes, not
			// booked ahead, so a cut slows every waiter at once (a queue of -j
			// attempts booked at the refused rate would be refused again).
			at := ps.last.Add(time.Duration(float64(time.Second) / ps.rate))
			if now.Before(at) {
				ps.mu.Unlock()
				if !deadline.IsZero() && at.After(deadline) {
					return ticket{}, errWaitTooLong
				}
				if err := sleep(ctx, at.Sub(now)); err != nil {
					return ticket{}, err
				}
				continue
			}
			ps.last = now
		}
		t := ticket{model: model, ps: ps, epoch: ps.epoch, sent: time.Now(), slow: ps.cwnd > 0}
		if t.slow {
			ps.inFlight++
		}
		ps.slot(t.sent).sent++
		if ps.firstSent.IsZero() {
			ps.firstSent = t.sent
		}
		ps.mu.Unlock()
		return t, nil
	}
}

// measure ends a hold that followed a 429 with no rate known: the rate the
// endpoint admitted in the two seconds before it, a little under.
func (p *Pacer) measure(ps *pace, now time.Time) {
	est := max(ps.admitted(ps.measureAt), p.MinRate)
	if ps.ceiling > 0 {
		est = min(est, ps.ceiling)
	}
	ps.measureAt = time.Time{}
	p.cut(ps, est, now)
}

// cut restarts the curve from Beta × r.
func (p *Pacer) cut(ps *pace, r float64, now time.Time) {
	ps.known, ps.rMax, ps.cutAt = true, r, now
	ps.rate = max(p.Beta*r, p.MinRate)
	ps.epoch++
	ps.endSlowStart()
}

// grow moves the rate along the cubic curve since the last cut.
func (p *Pacer) grow(ps *pace, now time.Time) {
	if ps.cutAt.IsZero() {
		return // paced at a ceiling from headers
	}
	k := p.K.Seconds()
	c := ps.rMax * (1 - p.Beta) / (k * k * k)
	t := now.Sub(ps.cutAt).Seconds() - k
	r := ps.rMax + c*t*t*t
	if ps.ceiling > 0 {
		r = min(r, ps.ceiling)
	} else if r > 2*ps.rMax && now.Sub(ps.cutAt) > forgetAfter {
		// Twice the refused rate, and no refusal for long: the limit is
		// gone. Slow start again from about the rate paced.
		ps.known, ps.cutAt = false, time.Time{}
		ps.rate = 0
		ps.cwnd, ps.inFlight = max(2, int(math.Ceil(r))), 0
		return
	}
	ps.rate = max(r, p.MinRate)
}

func (ps *pace) endSlowStart() {
	if ps.cwnd > 0 {
		ps.cwnd = 0
		ps.signal()
	}
}

func (ps *pace) signal() {
	close(ps.changed)
	ps.changed = make(chan struct{})
}

// forgetAfter is how long a learnt rate is kept without a refusal, at least.
const forgetAfter = time.Minute

// slowStartEnd is the in-flight window at which slow start ends.
const slowStartEnd = 1024

// done reports an attempt's outcome: status is the HTTP status (0 when no
// response came), h its headers, retryAfter the wait the server asked for.
func (p *Pacer) done(t ticket, status int, h http.Header, retryAfter time.Duration) {
	ps := t.ps
	if ps == nil {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := time.Now()
	if t.slow && ps.cwnd > 0 {
		ps.inFlight--
		if status != 0 && status != http.StatusTooManyRequests {
			ps.cwnd++
			if ps.cwnd >= slowStartEnd {
				ps.cwnd = 0
			}
		}
		ps.signal()
	} else if t.slow {
		ps.inFlight = max(0, ps.inFlight-1)
	}
	if h != nil && h.Get("X-Ratelimit-Limit-Requests") != "" {
		p.perModel.Store(true)
		if ms := p.get(t.model); ms != ps {
			// The ticket's state is the endpoint's; the headers are the model's.
			ps.mu.Unlock()
			ms.mu.Lock()
			p.headers(ms, h, now)
			ms.mu.Unlock()
			ps.mu.Lock()
		} else {
			p.headers(ps, h, now)
		}
	} else if h != nil {
		p.headers(ps, h, now)
	}
	switch {
	case status == http.StatusTooManyRequests:
		// Counted in its send slot, if that slot still holds its second (a
		// slow answer's slot may since have been reused for later sends).
		if n := slotOf(t.sent); ps.sends[n%int64(len(ps.sends))].at == n {
			ps.sends[n%int64(len(ps.sends))].refused++
		}
		if t.epoch != ps.epoch {
			return // sent before the last cut: nothing new
		}
		ps.streak++
		wait := retryAfter // as the server asks; a second when it does not say
		if wait <= 0 {
			wait = time.Second
		}
		switch {
		case !ps.known:
			// Let the attempts in flight come back, then measure.
			ps.epoch++
			ps.endSlowStart()
			ps.measureAt = now
			ps.heldUntil = later(ps.heldUntil, now.Add(wait))
		default:
			cur := ps.rate
			p.cut(ps, cur, now)
			if ps.streak >= 2 {
				hold := wait << min(ps.streak-2, 6)
				ps.heldUntil = later(ps.heldUntil, now.Add(hold))
			}
		}
	case status != 0:
		ps.streak = 0
	}
}

// headers reads OpenAI's and Azure's x-ratelimit-* headers.
func (p *Pacer) headers(ps *pace, h http.Header, now time.Time) {
	if v := h.Get("X-Ratelimit-Limit-Requests"); v != "" {
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n > 0 {
			per := n / 60
			if ps.ceiling != per {
				ps.ceiling = per
				if !ps.known || ps.rate > per {
					ps.known, ps.rMax, ps.cutAt = true, per, time.Time{}
					ps.rate = per
				}
				ps.endSlowStart()
			}
		}
	}
	for _, kind := range []string{"Requests", "Tokens"} {
		rem := h.Get("X-Ratelimit-Remaining-" + kind)
		if rem == "" {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(rem), 64)
		if err != nil {
			continue
		}
		// Requests run out at 0; tokens before, as a request needs many: under
		// a twentieth of the allowance left, wait for it to come back.
		if limit, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-Ratelimit-Limit-"+kind)), 64); kind == "Tokens" && err == nil && limit > 0 {
			if n >= limit/20 {
				continue
			}
		} else if n > 0 {
			continue
		}
		// The reset is when the whole allowance is back; the next request
		// fits long before that, so hold for at most two paced intervals.
		d := min(resetIn(h.Get("X-Ratelimit-Reset-"+kind)), time.Second)
		if ps.ceiling > 0 {
			d = min(d, time.Duration(2/ps.ceiling*float64(time.Second)))
		}
		if d > 0 {
			ps.heldUntil = later(ps.heldUntil, now.Add(d))
		}
	}
}

// resetIn parses x-ratelimit-reset-*: a duration such as "1s", "6m0s",
// "20ms" (OpenAI), or seconds as a number.
func resetIn(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 && !math.IsInf(s, 0) {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
