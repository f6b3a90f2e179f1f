package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
)

func newCmdPrompts(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prompts",
		Short: "The prompt registry: every template version a run used, with aliases",
		Long: `Every run records the versions (content hashes) of the templates it used.
Refer to a stored version as NAME@VERSION, NAME@ALIAS or NAME@latest, also in
evalctl run --prompts basic@production.`,
	}
	opts := &StoreOptions{}
	list := &cobra.Command{
		Use:   "list [NAME]",
		Short: "List stored template versions, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			vs, err := st.PromptVersions(context.Background(), name)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, v := range vs {
				first := strings.SplitN(v.Text, "\n", 2)[0]
				rows = append(rows, []string{v.Name, v.Version, strings.Join(v.Aliases, ","), v.CreatedAt.Local().Format("2006-01-02 15:04"), short(first, 50)})
			}
			return writeListing(a, []string{"name", "version", "aliases", "first used", "first line"}, rows)
		},
	}
	show := &cobra.Command{
		Use:   "show NAME[@VERSION|@ALIAS]",
		Short: "Print a stored template version (default: latest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			name, ref, _ := strings.Cut(args[0], "@")
			v, err := st.PromptVersion(context.Background(), name, ref)
			if err != nil {
				return exitErr(ExitUsage, err, "")
			}
			_, err = io.WriteString(a.io.Stdout, v.Text)
			return err
		},
	}
	diff := &cobra.Command{
		Use:   "diff NAME@A NAME@B",
		Short: "Show a unified diff between two stored template versions",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			var texts, labels [2]string
			for i, arg := range args {
				name, ref, ok := strings.Cut(arg, "@")
				if !ok {
					return usageErr("%q: want NAME@VERSION or NAME@ALIAS", arg)
				}
				v, err := st.PromptVersion(context.Background(), name, ref)
				if err != nil {
					return exitErr(ExitUsage, err, "")
				}
				texts[i], labels[i] = v.Text, v.Name+"@"+v.Version
			}
			out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
				A: difflib.SplitLines(texts[0]), B: difflib.SplitLines(texts[1]),
				FromFile: labels[0], ToFile: labels[1], Context: 3})
			if err != nil {
				return err
			}
			_, err = io.WriteString(a.io.Stdout, out)
			return err
		},
	}
	tag := &cobra.Command{
		Use:   "tag NAME@VERSION ALIAS",
		Short: "Point an alias (e.g. production) at a stored version",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ref, ok := strings.Cut(args[0], "@")
			if !ok {
				return usageErr("%q: want NAME@VERSION", args[0])
			}
			st, err := opts.open(a)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.TagPrompt(context.Background(), name, ref, args[1])
			if err != nil {
				return exitErr(ExitUsage, err, "")
			}
			fmt.Fprintf(a.io.Stderr, "evalctl: %s@%s is now %s@%s\n", v.Name, args[1], v.Name, v.Version)
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, show, diff, tag} {
		addStoreFlags(c, opts)
		cmd.AddCommand(c)
	}
	return cmd
}
