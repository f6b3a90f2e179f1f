package eval

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/trace"
)

// recorder collects the spans of the judge calls made for one verdict:
// the call limit (which every LLM call passes) adds one per call.
type recorder struct {
	body  int
	mu    sync.Mutex
	spans []trace.Span
}

type recorderKey struct{}

func withRecorder(ctx context.Context, r *recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

func recorderOf(ctx context.Context) *recorder {
	r, _ := ctx.Value(recorderKey{}).(*recorder)
	return r
}

// add records a call: the prompt it sent (bounded) and the reply.
func (r *recorder) add(req llm.Request, resp llm.Response, err error, start time.Time) {
	sp := trace.Span{Kind: trace.KindJudge, Model: req.Model, Start: start, End: time.Now(), Usage: resp.Usage,
		Attempts: resp.Attempts, Cached: resp.Cached, FinishReason: resp.FinishReason}
	var in strings.Builder
	for _, m := range req.Messages {
		in.WriteString("[" + m.Role + "]\n" + m.Content + "\n")
	}
	var c1, c2 bool
	sp.Input, c1 = trace.Bound(in.String(), r.body)
	sp.Output, c2 = trace.Bound(resp.Text, r.body)
	sp.Truncated = c1 || c2
	if e := llm.AsError(err); e != nil {
		sp.Error, sp.ErrorKind = e.Error(), e.Kind.String()
	}
	r.mu.Lock()
	r.spans = append(r.spans, sp)
	r.mu.Unlock()
}

// take returns the spans recorded, named for scorer.
func (r *recorder) take(scorer string) []trace.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.spans {
		r.spans[i].Scorer = scorer
	}
	return r.spans
}

// traceBody is the bound on a span's input and output.
func (p *Plan) traceBody() int {
	if p.TraceBody != 0 {
		return p.TraceBody
	}
	return trace.DefaultMaxBody
}
