package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/reports"
)

// ExportOTelOptions are the inputs of `evalctl export otel`.
type ExportOTelOptions struct {
	StoreOptions
	// Assessment picks the scoring pass whose verdicts are exported (0: latest).
	Assessment int
	Run        string
	// Output is the file written (atomically), or "-" for stdout.
	Output string
}

// newCmdExport returns `evalctl export`, the parent of its formats.
func newCmdExport(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a stored run for other tools (otel: OpenTelemetry traces)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown export format %q: the formats are: otel", args[0])
			}
			return usageErr("name a format: evalctl export otel RUN -o traces.json")
		},
		RunE: func(cmd *cobra.Command, args []string) error { return nil },
	}
	cmd.AddCommand(NewCmdExportOTel(a, nil))
	return cmd
}

// NewCmdExportOTel returns `evalctl export otel`.
func NewCmdExportOTel(a *app, runF func(*ExportOTelOptions) error) *cobra.Command {
	opts := &ExportOTelOptions{}
	cmd := &cobra.Command{
		Use:   "otel [RUN] -o FILE",
		Short: "Write a run's traces as OpenTelemetry OTLP/JSON, for Jaeger, Tempo, Phoenix or any OTLP backend",
		Long: `Write the traces of a stored run (default: the last) as one OTLP/JSON document (the body of an
OTLP/HTTP export, or a file of the OpenTelemetry collector's file exporter): a trace per cell, with
its generation calls (chat {model}), tool calls (execute_tool {tool}) and judge calls (under an
evaluate {scorer} span), after the OpenTelemetry GenAI semantic conventions, and the cell's
verdicts as evalctl.score.<scorer> attributes of its root span.
RUN is a run id, a unique prefix of one, a run name, or 'last'.

Cells recorded before evalctl kept traces have no spans and are left out (counted on stderr).
evalctl import reads the file back.`,
		Example: `  evalctl export otel last -o traces.json
  evalctl export otel last -o - | curl -H 'Content-Type: application/json' --data-binary @- http://localhost:4318/v1/traces`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Run = "last"
			if len(args) == 1 {
				opts.Run = args[0]
			}
			if opts.Output == "" {
				return usageErr("export otel: want -o FILE (or -o - for stdout)")
			}
			if runF != nil {
				return runF(opts)
			}
			return exportOTel(a, opts)
		},
	}
	addStoreFlags(cmd, &opts.StoreOptions)
	cmd.Flags().IntVar(&opts.Assessment, "assessment", 0, assessmentHelp)
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file (atomically), or - for stdout")
	return cmd
}

func exportOTel(a *app, opts *ExportOTelOptions) error {
	st, err := opts.open(a)
	if err != nil {
		return err
	}
	defer st.Close()
	run, err := findRun(st, opts.Run, false)
	if err != nil {
		return err
	}
	if err := atAssessment(st, run, opts.Assessment); err != nil {
		return err
	}
	a.addEnvSecrets(opts.ConfigPath)
	var stats reports.OTLPStats
	write := func(w io.Writer) error {
		var err error
		stats, err = reports.WriteOTLP(w, eachStored(context.Background(), st, run),
			reports.OTLPOptions{RunID: run.ID, Version: version(), Redact: a.redactor.Redact})
		return err
	}
	if opts.Output == "-" {
		err = write(a.io.Stdout)
	} else {
		err = reports.WriteFileAtomic(opts.Output, write)
	}
	if err != nil {
		return err
	}
	where := opts.Output
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(a.io.Stderr, "evalctl: wrote %d traces (%d spans) of run %s to %s\n", stats.Cells, stats.Spans, run.ID, where)
	if stats.Untraced > 0 {
		fmt.Fprintf(a.io.Stderr, "evalctl: %d cells were recorded before evalctl kept traces: they have no spans and were left out\n", stats.Untraced)
	}
	return nil
}

// addEnvSecrets registers with the redactor the API keys this process can
// see (the providers' environment variables, and those the config names), so
// that text written from the store is scrubbed of them even by commands that
// call no model.
func (a *app) addEnvSecrets(configFlag string) {
	names := []string{"OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"}
	if path := a.configPath(configFlag); path != "" {
		if cfg, err := config.Load(path, a.io.LookupEnv); err == nil {
			for _, p := range cfg.Providers {
				if p.APIKeyEnv != "" {
					names = append(names, p.APIKeyEnv)
				}
			}
		}
	}
	for _, n := range names {
		a.redactor.Add(a.io.getenv(n))
	}
}
