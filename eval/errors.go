package eval

import (
	"fmt"
	"strings"
)

// Errors counts what max_error_rate reads. It is the one definition, used
// alike by a run's status and exit code, by runs list and by gates:
// generation errors are counted among the cells done, verdict errors
// (judge and scorer errors, parse errors included) among the verdicts asked
// for, which are the answered cells times the scorers. Each share is held to
// max_error_rate apart; neither is pooled with the other.
type Errors struct {
	Cells, GenErrors        int
	Verdicts, VerdictErrors int
}

// ErrorsOf counts a run's errors from its cells done, their generation
// errors, its verdict errors and its number of scorers.
func ErrorsOf(done, genErrors, verdictErrors, scorers int) Errors {
	return Errors{Cells: done, GenErrors: genErrors, Verdicts: (done - genErrors) * scorers, VerdictErrors: verdictErrors}
}

// Over says, in words, which shares are above max ("" when none is).
func (e Errors) Over(max float64) string {
	var problems []string
	if e.Cells > 0 {
		if r := float64(e.GenErrors) / float64(e.Cells); r > max {
			problems = append(problems, fmt.Sprintf("%d of %d generation calls failed (%.1f%%)", e.GenErrors, e.Cells, 100*r))
		}
	}
	if e.Verdicts > 0 {
		if r := float64(e.VerdictErrors) / float64(e.Verdicts); r > max {
			problems = append(problems, fmt.Sprintf("%d of %d verdicts are errors (%.1f%%)", e.VerdictErrors, e.Verdicts, 100*r))
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("%s, above max_error_rate %.1f%%", strings.Join(problems, "; "), 100*max)
}
