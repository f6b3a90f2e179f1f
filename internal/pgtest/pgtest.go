// Package pgtest gives tests a PostgreSQL database of their own on the
// server $EVALCTL_TEST_POSTGRES names (an admin URL of a role that may
// create databases; .ci/run starts Debian's PostgreSQL and sets it).
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// Env is the variable holding the admin URL.
const Env = "EVALCTL_TEST_POSTGRES"

var n atomic.Int64

// Database creates a database for the test, dropped when it ends, and
// returns its URL. Without $EVALCTL_TEST_POSTGRES the test is skipped, or
// fails in CI.
func Database(t testing.TB, prefix string) string {
	t.Helper()
	admin := os.Getenv(Env)
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs $%s (a PostgreSQL admin URL)", Env)
		}
		t.Skipf("no $%s: the PostgreSQL tests need a server", Env)
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("creating a test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	})
	return strings.Replace(admin, "/"+cfg.Database, "/"+name, 1)
}
