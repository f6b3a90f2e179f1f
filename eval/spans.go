package eval

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/evalctl/evalctl/llm"
	"github.com/evalctl/evalctl/scorers"
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

// take returns the spans recorded for a verdict, named for its scorer,
// their models named by ref ("sim:judge") where the verdict's judges
// (fb.JudgeModel, its votes' judges) tell which provider the bare model
// name of the request was sent to.
func (r *recorder) take(fb scorers.Feedback) []trace.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	refs := map[string]string{}
	for _, ref := range append([]string{fb.JudgeModel}, judgesOf(fb.Votes)...) {
		if _, model, ok := strings.Cut(ref, ":"); ok {
			refs[model] = ref
		}
	}
	for i := range r.spans {
		r.spans[i].Scorer = fb.Scorer
		if ref, ok := refs[r.spans[i].Model]; ok {
			r.spans[i].Model = ref
		}
	}
	return r.spans
}

func judgesOf(votes []scorers.Vote) []string {
	var out []string
	for _, v := range votes {
		out = append(out, v.Judge)
	}
	return out
}

// traceBody is the bound on a span's input and output.
func (p *Plan) traceBody() int {
	if p.TraceBody != 0 {
		return p.TraceBody
	}
	return trace.DefaultMaxBody
}
