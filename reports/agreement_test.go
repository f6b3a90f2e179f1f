package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/evalctl/evalctl/scorers"
)

// Two judges on 10 answers: both yes on 5, both no on 2, A yes B no on 2, A
// no B yes on 1. By hand: po = 7/10; A says yes 7 times, B 6 times, so
// pe = 0.7·0.6 + 0.3·0.4 = 0.54, and κ = (0.7 − 0.54) / 0.46 = 0.3478.
// A pairwise scorer judged 8 pairs, 2 of them differently in each order.
func TestJudgeAgreementAndPositionBias(t *testing.T) {
	plan, results := fixture(t)
	c := NewComparison(plan.Layout())
	pairs := [][2]string{{"yes", "yes"}, {"yes", "yes"}, {"yes", "yes"}, {"yes", "yes"}, {"yes", "yes"},
		{"no", "no"}, {"no", "no"}, {"yes", "no"}, {"yes", "no"}, {"no", "yes"}}
	for i, p := range pairs {
		r := results[0]
		votes := []scorers.Vote{{Judge: "openai:a", Value: p[0]}, {Judge: "openai:b", Value: p[1]}}
		if i == 0 { // a judge's samples fold into its majority
			votes = append(votes, scorers.Vote{Judge: "openai:a", Sample: 1, Value: "yes"}, scorers.Vote{Judge: "openai:a", Sample: 2, Value: "no"})
		}
		r.Feedback = append([]scorers.Feedback(nil), r.Feedback...)
		r.Feedback[0].Votes = votes
		c.Add(r.Record())
	}
	for i := range 8 {
		r := results[1]
		r.Feedback = append([]scorers.Feedback(nil), r.Feedback...)
		agree := 1.0
		if i < 2 {
			agree = 0
		}
		r.Feedback[1].Votes = []scorers.Vote{{Judge: "sim:j", Order: "AB", Value: "B"}, {Judge: "sim:j", Order: "BA", Value: "A"}}
		r.Feedback[1].Agreement = &agree
		c.Add(r.Record())
	}
	c.Finish()
	ag := c.JudgeAgreements()
	if len(ag) != 1 || ag[0].Scorer != "english" || ag[0].Method != "cohen" || ag[0].N != 10 {
		t.Fatalf("agreements %+v", ag)
	}
	if math.Abs(ag[0].Kappa.Kappa-0.16/0.46) > 1e-9 {
		t.Errorf("kappa %v, want %v", ag[0].Kappa.Kappa, 0.16/0.46)
	}
	pb := c.PositionBiases()
	if len(pb) != 1 || pb[0].Pairs != 8 || pb[0].Inconsistent != 2 || pb[0].Rate() != 0.25 {
		t.Fatalf("position bias %+v", pb)
	}
	notes := strings.Join(c.Notes(), "\n")
	for _, want := range []string{"Judges of english (openai:a, openai:b) agree: Cohen's κ = 0.35", "position bias 25.0%", "on 2 of 8 pairs"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}
