package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/evalctl/evalctl/scorers"
)

// pairing holds cells until their pairwise scorers can compare them with
// their baseline cell (the same row and repeat, under the baseline prompt or
// from the baseline model). Cells run row by row, so a candidate waits for a
// moment at most, and a baseline is forgotten once all its candidates are
// judged: memory stays bounded.
type pairing struct {
	p     *Plan
	specs []pairSpec

	mu      sync.Mutex
	bases   map[string]*baseEntry // by spec and pair key
	pending map[int]*pendingCell  // candidates by cell index
}

type pairSpec struct {
	idx    int // position among the plan's scorers
	s      scorers.PairScorer
	prompt string
	model  string
	// cands counts the candidates of each baseline, by the part of their
	// variant that the baseline shares (other).
	cands map[string]int
}

type baseEntry struct {
	other   string // the shared part of the variants (pairSpec.other)
	res     *Result
	waiting []int // candidate cell indexes
	judged  int
}

type pendingCell struct {
	res     Result
	missing int
}

// newPairing returns nil when the plan has no pairwise scorers.
func newPairing(p *Plan) *pairing {
	var specs []pairSpec
	for i, s := range p.Scorers {
		if ps, ok := s.(scorers.PairScorer); ok {
			prompt, model := ps.Baseline()
			spec := pairSpec{idx: i, s: ps, prompt: prompt, model: model, cands: map[string]int{}}
			for _, v := range p.Variants {
				if !spec.isBase(v) {
					spec.cands[spec.other(v)]++
				}
			}
			specs = append(specs, spec)
		}
	}
	if specs == nil {
		return nil
	}
	return &pairing{p: p, specs: specs, bases: map[string]*baseEntry{}, pending: map[int]*pendingCell{}}
}

// validatePairs checks that every pairwise baseline is in the plan.
func validatePairs(p *Plan) error {
	for _, s := range p.Scorers {
		ps, ok := s.(scorers.PairScorer)
		if !ok {
			continue
		}
		prompt, model := ps.Baseline()
		found := false
		for _, v := range p.Variants {
			found = found || (prompt != "" && v.Prompt.Name == prompt) || (model != "" && v.Model.Ref.String() == model)
		}
		if !found {
			what, name := "prompt", prompt
			if model != "" {
				what, name = "model", model
			}
			return fmt.Errorf("scorer %q: its baseline %s %q is not in the run", s.Name(), what, name)
		}
	}
	return nil
}

// isBase reports whether v is a baseline of the comparison: it has the
// baseline prompt (or model).
func (s pairSpec) isBase(v *Variant) bool {
	if s.prompt != "" {
		return v.Prompt.Name == s.prompt
	}
	return v.Model.Ref.String() == s.model
}

// other is what a candidate shares with its baseline: everything of its
// variant but the prompt (or the model) the comparison varies.
func (s pairSpec) other(v *Variant) string {
	sp := v.Spec()
	sp.ID, sp.Label = "", ""
	if s.prompt != "" {
		sp.Prompt = PromptRef{}
	} else {
		sp.Model = ModelSpec{}
	}
	b, _ := json.Marshal(sp)
	return string(b)
}

func (s pairSpec) key(c Cell) string {
	return fmt.Sprintf("%d\x00%s\x00%d\x00%s", s.idx, c.Row.ID, c.Repeat, s.other(c.Variant))
}

func sampleOf(res *Result) scorers.Sample {
	c := res.Cell
	return scorers.Sample{RowID: c.Row.ID, Vars: c.Row.Vars, Prompt: c.Variant.Prompt.Name, Model: c.Variant.Model.Ref.String(),
		System: res.System, Input: res.Input, Answer: res.Answer, Latency: res.Latency, Usage: res.Usage, Steps: res.Steps}
}

type pairJob struct {
	spec pairSpec
	base *Result
	cand int
}

// offer takes a finished cell and returns the cells now complete: the cell
// itself unless it waits for a baseline, and candidates it was the baseline
// of, judged against it. A failed cell passes through.
func (b *pairing) offer(ctx context.Context, res Result) []Result {
	var jobs []pairJob
	b.mu.Lock()
	waits := 0
	for _, s := range b.specs {
		k := s.key(res.Cell)
		e := b.entry(k, s.other(res.Variant))
		if res.Err != nil && !s.isBase(res.Variant) {
			b.judged(s, k, 1) // a failed candidate has nothing to compare
			continue
		}
		if s.isBase(res.Variant) {
			if res.Err == nil && res.Feedback[s.idx].Scorer == "" {
				res.Feedback[s.idx] = scorers.Feedback{Scorer: s.s.Name(), Skipped: true, Rationale: "the baseline of this comparison"}
			}
			r := res
			e.res = &r
			for _, ci := range e.waiting {
				jobs = append(jobs, pairJob{s, e.res, ci})
			}
			e.waiting = nil
			b.judged(s, k, 0) // forgotten now if no candidate is left
			continue
		}
		if res.Feedback[s.idx].Scorer != "" {
			b.judged(s, k, 1) // kept from an earlier attempt of the run
			continue
		}
		waits++
		if e.res != nil {
			jobs = append(jobs, pairJob{s, e.res, res.Index})
		} else {
			e.waiting = append(e.waiting, res.Index)
		}
	}
	var out []Result
	if waits == 0 {
		out = append(out, res)
	} else {
		b.pending[res.Index] = &pendingCell{res: res, missing: waits}
	}
	b.mu.Unlock()

	for _, j := range jobs {
		b.mu.Lock()
		pc := b.pending[j.cand]
		b.mu.Unlock()
		var fb scorers.Feedback
		if j.base.Err != nil {
			fb = scorers.Feedback{Err: "the baseline's answer is missing: its generation failed"}
		} else {
			rec := &recorder{body: b.p.traceBody()}
			jctx := withRecorder(withCall(ctx, Call{Kind: "judge", Prompt: pc.res.Variant.Prompt.Name, Scorer: j.spec.s.Name()}), rec)
			fb = j.spec.s.ScorePair(jctx, sampleOf(j.base), sampleOf(&pc.res))
			fb.Scorer = j.spec.s.Name()
			fb.Spans = rec.take(fb)
		}
		fb.Scorer = j.spec.s.Name()
		b.mu.Lock()
		pc.res.Feedback[j.spec.idx] = fb
		pc.missing--
		if pc.missing == 0 {
			delete(b.pending, j.cand)
			out = append(out, pc.res)
		}
		b.judged(j.spec, j.spec.key(pc.res.Cell), 1)
		b.mu.Unlock()
	}
	return out
}

// entry returns the baseline entry of key k, made when first seen.
func (b *pairing) entry(k, other string) *baseEntry {
	e := b.bases[k]
	if e == nil {
		e = &baseEntry{other: other}
		b.bases[k] = e
	}
	return e
}

// judged counts n more candidates of key k as done, and forgets the entry
// once its baseline has come and every candidate is done. Callers hold b.mu.
func (b *pairing) judged(s pairSpec, k string, n int) {
	e := b.bases[k]
	if e == nil {
		return
	}
	e.judged += n
	if e.res != nil && len(e.waiting) == 0 && e.judged >= s.cands[e.other] {
		delete(b.bases, k)
	}
}

// leftovers returns the candidates whose baseline never came (it was not
// run), with that said in their pairwise feedback.
func (b *pairing) leftovers() []Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Result
	for i, pc := range b.pending {
		for _, s := range b.specs {
			if pc.res.Feedback[s.idx].Scorer == "" {
				pc.res.Feedback[s.idx] = scorers.Feedback{Scorer: s.s.Name(), Err: "the baseline cell was not run"}
			}
		}
		out = append(out, pc.res)
		delete(b.pending, i)
	}
	return out
}
