package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/evalctl/evalctl/config"
	"github.com/evalctl/evalctl/store"
)

// StoreOptions locate the run store for the commands that read it.
type StoreOptions struct {
	ConfigPath string
	Store      string
}

func addStoreFlags(cmd *cobra.Command, o *StoreOptions) {
	cmd.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "config whose directory holds the store (default: evalctl.yaml here)")
	cmd.Flags().StringVar(&o.Store, "store", "", "run store: a SQLite file or a postgres:// URL (default: $EVALCTL_STORE, or .evalctl/evalctl.db beside the config)")
}

// open finds and opens the store without validating the rest of the config.
func (o *StoreOptions) open(a *app) (*store.Store, error) {
	var cfg *config.Config
	path := a.configPath(o.ConfigPath)
	if path != "" && o.Store == "" && a.io.getenv("EVALCTL_STORE") == "" {
		if !fileExists(path) {
			return nil, usageErr("%s: config file not found", path)
		}
		cfg = &config.Config{Dir: dirOf(path)}
	}
	return openStore(a, o.Store, cfg)
}

// locate returns the path of the store open would open.
func (o *StoreOptions) locate(a *app) (string, error) {
	dir := ""
	path := a.configPath(o.ConfigPath)
	if path != "" && o.Store == "" && a.io.getenv("EVALCTL_STORE") == "" {
		if !fileExists(path) {
			return "", usageErr("%s: config file not found", path)
		}
		dir = dirOf(path)
	}
	return a.storePath(o.Store, dir), nil
}

func dirOf(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[:i]
	}
	return "."
}

// openStore opens the run store: --store, $EVALCTL_STORE, or
// .evalctl/evalctl.db beside the config (or in the working directory).
func openStore(a *app, flag string, cfg *config.Config) (*store.Store, error) {
	dir := ""
	if cfg != nil {
		dir = cfg.Dir
	}
	st, err := store.Open(a.storePath(flag, dir))
	if err != nil {
		return nil, exitErr(ExitUsage, err, "")
	}
	return st, nil
}
