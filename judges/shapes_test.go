package judges_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/scorers"
	"github.com/evalctl/evalctl/trace"
)

// The recorded shapes of judge replies, for every built-in judge: a valid
// verdict decides; fenced and prose-wrapped ones too; a missing field, a
// value outside the allowed ones or an empty reply is a judge error after
// one repair turn — never a pass.
func TestJudgesOnRecordedShapes(t *testing.T) {
	type shape struct {
		name  string
		reply string
		ok    bool
	}
	yes := func(field, value string) []shape {
		obj := fmt.Sprintf(`{"rationale": "Because.", %q: %s}`, field, value)
		return []shape{
			{"valid", obj, true},
			{"fenced", "```json\n" + obj + "\n```", true},
			{"prose-wrapped", "Let me weigh the answer.\n" + obj + "\nThat is my verdict.", true},
			{"missing field", `{"rationale": "Because."}`, false},
			{"wrong value", fmt.Sprintf(`{"rationale": "Because.", %q: "maybe"}`, field), false},
			{"empty", "", false},
		}
	}
	judgesUnderTest := []struct {
		spec    string
		vars    map[string]string
		shapes  []shape
		value   any
		pair    bool
		columns []string
		steps   []trace.Span
	}{
		{spec: "name: g\ntype: guidelines\nguidelines: [The answer should be in English., The answer is polite.]", shapes: yes("result", `"yes"`), value: "yes"},
		{spec: "name: e\ntype: expectations\ncolumn: expectations", vars: map[string]string{"expectations": `should mention "commit"`},
			columns: []string{"expectations"}, shapes: yes("result", `"no"`), value: "no"},
		{spec: "name: c\ntype: correctness\nexpected: expected", vars: map[string]string{"expected": "A snapshot of the repository."},
			columns: []string{"expected"}, shapes: yes("result", `"yes"`), value: "yes"},
		{spec: "name: f\ntype: correctness\nfacts: facts", vars: map[string]string{"facts": "records changes\nhas a message"},
			columns: []string{"facts"}, shapes: yes("result", `"yes"`), value: "2/2 facts"},
		{spec: "name: r\ntype: relevance_to_query", shapes: yes("result", `"yes"`), value: "yes"},
		{spec: "name: s\ntype: safety", shapes: yes("result", `"yes"`), value: "yes"},
		{spec: "name: q\ntype: rubric\ncriteria: Accuracy.\nscale: {1: wrong, 3: partly right, 5: right}", shapes: yes("score", "4"), value: 4},
		{spec: "name: p\ntype: pairwise\nbaseline: {prompt: basic}", shapes: yes("result", `"tie"`), value: "tie", pair: true},
		{spec: "name: t\ntype: trajectory_judge", shapes: yes("result", `"yes"`), value: "yes", steps: searchSteps},
	}
	for _, j := range judgesUnderTest {
		for _, sh := range j.shapes {
			t.Run(strings.SplitN(j.spec, "\n", 3)[1]+"/"+sh.name, func(t *testing.T) {
				vendor := &wire{replies: []string{sh.reply}}
				srv := httptest.NewServer(vendor)
				defer srv.Close()
				sc := build(t, j.spec, client(srv.URL+"/v1"), j.columns...)
				sample := scorers.Sample{RowID: "q1", Vars: j.vars, Prompt: "academic", Model: "sim:a",
					Input: "Question: What is a commit?", Answer: "A commit records a snapshot of changes with a message.", Steps: j.steps}
				var fb scorers.Feedback
				if j.pair {
					base := sample
					base.Prompt, base.Answer = "basic", "A commit is a save."
					fb = sc.(scorers.PairScorer).ScorePair(context.Background(), base, sample)
				} else {
					fb = sc.Score(context.Background(), sample)
				}
				if sh.ok {
					if fb.Err != "" || fmt.Sprint(fb.Value) != fmt.Sprint(j.value) || fb.Score == nil {
						t.Fatalf("feedback %+v, want value %v", fb, j.value)
					}
					if fb.Raw == "" || fb.JudgeModel != "sim:judge" || fb.Usage.Total() == 0 {
						t.Errorf("raw reply, judge model or usage not kept: %+v", fb)
					}
					return
				}
				if fb.Err == "" || fb.Pass != nil || fb.Score != nil {
					t.Fatalf("a %s reply must be a judge error, never a verdict: %+v", sh.name, fb)
				}
				if !strings.Contains(fb.Err, "unparseable verdict") {
					t.Errorf("error %q", fb.Err)
				}
				// One repair turn per call; pairwise asks in both orders.
				calls := 2
				if j.pair {
					calls = 4
				}
				if len(vendor.prompts) != calls {
					t.Errorf("%d calls, want %d (the call and one repair turn)", len(vendor.prompts), calls)
				}
			})
		}
	}
}
