//go:build race

package tools

// raceEnabled: the race detector makes moving tens of MiB through JSON
// slow enough to skip the tests that do.
const raceEnabled = true
