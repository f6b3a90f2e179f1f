package trace

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestBound(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		cut  bool
		want string
	}{
		{"short", 100, false, "short"},
		{"unbounded " + strings.Repeat("x", 1000), 0, false, "unbounded " + strings.Repeat("x", 1000)},
		{strings.Repeat("a", 100), 60, true, strings.Repeat("a", 60-len(Marker)) + Marker},
		{strings.Repeat("é", 50), 40, true, ""}, // checked below: valid UTF-8, within bound
	}
	for _, tc := range tests {
		got, cut := Bound(tc.in, tc.n)
		if cut != tc.cut || (tc.want != "" && got != tc.want) {
			t.Errorf("Bound(%.20q, %d) = %.40q, %v", tc.in, tc.n, got, cut)
		}
		if !utf8.ValidString(got) || (tc.n > len(Marker) && len(got) > tc.n) {
			t.Errorf("Bound(%.20q, %d) = %q: invalid or over the bound", tc.in, tc.n, got)
		}
	}
}

func TestStatsOf(t *testing.T) {
	t0 := time.Unix(0, 0)
	spans := []Span{
		{Kind: KindGeneration, Start: t0, End: t0.Add(time.Second)},
		{Kind: KindTool, Start: t0, End: t0.Add(2 * time.Millisecond)},
		{Kind: KindTool, Start: t0, End: t0.Add(3 * time.Millisecond), ErrorKind: ToolTimeout},
		{Kind: KindGeneration},
		{Kind: KindJudge, Start: t0, End: t0.Add(time.Second)},
	}
	st := StatsOf(spans)
	if st.Steps != 2 || st.ToolCalls != 2 || st.ToolErrors != 1 || st.ToolTime != 5*time.Millisecond {
		t.Errorf("%+v", st)
	}
	if n := len(ToolSpans(spans)); n != 2 {
		t.Errorf("%d tool spans", n)
	}
}
