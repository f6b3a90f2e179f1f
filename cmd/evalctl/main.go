// Command evalctl evaluates LLM prompts and models; see `evalctl --help`.
package main

import (
	"os"

	"github.com/evalctl/evalctl/cli"
)

func main() { os.Exit(cli.Main(cli.System())) }
