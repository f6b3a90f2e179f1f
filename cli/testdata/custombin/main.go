// Command custombin is the README's extension story as a team would write
// it: evalctl with Go scorers of its own. TestCustomBinary builds and runs it.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/evalctl/evalctl/cli"
	"github.com/evalctl/evalctl/scorers"
)

// noApology fails answers that apologise.
var noApology = scorers.Func("no_apology", func(_ context.Context, s scorers.Sample) scorers.Feedback {
	bad := strings.Contains(strings.ToLower(s.Answer), "sorry")
	return scorers.Passed(!bad, !bad, "looked for an apology")
})

// fragile panics on every answer: a bug in a team's scorer must cost its
// verdicts, not the run.
var fragile = scorers.Func("fragile", func(context.Context, scorers.Sample) scorers.Feedback {
	var m map[string]int
	m["boom"]++
	return scorers.Feedback{}
})

func main() { os.Exit(cli.Main(cli.System(), cli.WithScorers(noApology, fragile))) }
