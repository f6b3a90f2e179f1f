package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/evalctl/evalctl/internal/pgtest"
	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// The store's test suite runs once per backend: on SQLite files, then on a
// real PostgreSQL server when $EVALCTL_TEST_POSTGRES names one (an admin
// URL; .ci/run starts Debian's PostgreSQL and sets it). Each test gets a
// database of its own there, dropped when it ends.

// backend is the backend of the pass under way: "sqlite" or "postgres".
var backend = "sqlite"

func TestMain(m *testing.M) {
	code := m.Run()
	admin := os.Getenv(pgtest.Env)
	switch {
	case code != 0:
	case admin == "" && os.Getenv("CI") != "":
		fmt.Fprintln(os.Stderr, "store: CI needs $EVALCTL_TEST_POSTGRES (a PostgreSQL admin URL) to run the suite on PostgreSQL")
		code = 1
	case admin == "":
		fmt.Fprintln(os.Stderr, "store: the suite ran on SQLite only; set $EVALCTL_TEST_POSTGRES=postgres://… to run it on PostgreSQL too")
	default:
		fmt.Fprintln(os.Stderr, "store: the suite again, on PostgreSQL")
		backend = "postgres"
		code = m.Run()
	}
	os.Exit(code)
}

// location returns a new, empty store location for the backend under test:
// a file in a temporary directory, or a database of its own.
func location(t testing.TB) string {
	t.Helper()
	if backend == "sqlite" {
		return filepath.Join(t.TempDir(), "sub", "evalctl.db")
	}
	return pgtest.Database(t, "evalctl_test")
}

// sqliteOnly skips a test of SQLite files on the PostgreSQL pass.
func sqliteOnly(t *testing.T) {
	t.Helper()
	if backend != "sqlite" {
		t.Skip("SQLite files only")
	}
}

// TestSchemasMatch: a PostgreSQL store has the tables and columns of a
// SQLite one (PostgreSQL's prompt_versions adds seq, what SQLite's rowid is).
func TestSchemasMatch(t *testing.T) {
	if backend != "postgres" {
		t.Skip("on the PostgreSQL pass")
	}
	ctx := context.Background()
	lite, err := Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg := open(t)
	columns := func(db *sql.DB, q string) map[string][]string {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]string{}
		for rows.Next() {
			var table, col string
			if err := rows.Scan(&table, &col); err != nil {
				t.Fatal(err)
			}
			if table == "goose_db_version" || table == "sqlite_sequence" || (table == "prompt_versions" && col == "seq") {
				continue
			}
			out[table] = append(out[table], col)
		}
		for _, cols := range out {
			slices.Sort(cols)
		}
		return out
	}
	a := columns(lite.r, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'`)
	b := columns(pg.r, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`)
	if d := cmp.Diff(a, b); d != "" {
		t.Errorf("schemas differ (-sqlite +postgres):\n%s", d)
	}
}
