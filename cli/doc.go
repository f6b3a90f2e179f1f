// Package cli is evalctl's command tree. Main runs it against an IO, the only
// seam to the operating system (standard streams, environment, working
// directory, signals), so tests run the real tree in-process with buffers.
//
// The package is public on purpose: a team builds its own binary with custom
// Go scorers:
//
//	func main() { os.Exit(cli.Main(cli.System(), cli.WithScorers(myScorer))) }
package cli
