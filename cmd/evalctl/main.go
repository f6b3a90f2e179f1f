// Command evalctl evaluates LLM prompts and models; see `evalctl --help`.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/evalctl/evalctl/cli"
)

func main() { os.Exit(run()) }

// run is main with deferred calls; EVALCTL_CPUPROFILE=FILE writes a CPU
// profile of the invocation (for bench/ and the curious).
func run() int {
	if path := os.Getenv("EVALCTL_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "evalctl: EVALCTL_CPUPROFILE:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "evalctl: EVALCTL_CPUPROFILE:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	return cli.Main(cli.System())
}
