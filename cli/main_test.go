package cli

import (
	"os"
	"slices"
	"testing"
)

// TestMain lets the test binary stand in for evalctl when a run starts a
// tool server with command: [evalctl, sim, mcp] ("evalctl" is the running
// binary): a real process speaking MCP over stdio, as in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "sim" && os.Args[2] == "mcp" {
		// Arguments after "--" stand for a real server's own (an API key):
		// the stand-in ignores them.
		if i := slices.Index(os.Args, "--"); i > 0 {
			os.Args = os.Args[:i]
		}
		os.Exit(Main(System()))
	}
	os.Exit(m.Run())
}
