package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/evalctl/evalctl/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "evalctl",
		Short: "Evaluate LLM prompts × models with code scorers and LLM judges",
		Long: `evalctl asks every model for an answer to every dataset row under every prompt template,
scores each answer with Go scorers and LLM-judged guidelines, and prints a comparison.

  evalctl run --prompts basic,academic --models openai:gpt-4.1-mini,openai:gpt-5-mini

Configuration lives in evalctl.yaml (see examples/se-quiz); flags override it.

` + exitCodesHelp,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("evalctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(NewCmdRun(a, nil), NewCmdScore(a, nil), NewCmdReport(a, nil), NewCmdCompare(a, nil), NewCmdGate(a, nil), newCmdRuns(a), newCmdPrompts(a), newCmdSim(a), newCmdMerge(a), newCmdJudge(a), newCmdVersion(a))
	root.AddCommand(NewCmdTrace(a, nil), newCmdExport(a), NewCmdImport(a, nil))
	root.AddCommand(NewCmdView(a, nil))
	return root
}

func newCmdVersion(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.io.Stdout, "evalctl %s\n", version())
			return nil
		},
	}
}
