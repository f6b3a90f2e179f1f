package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations_postgres/*.sql
var pgMigrations embed.FS

// pgFirstVersion is the schema a PostgreSQL store begins at (its first
// migration holds SQLite's first seven).
const pgFirstVersion = 7

// migrationLock is the advisory lock key under which a store migrates
// ("evalctl" in ASCII).
const migrationLock int64 = 0x6576616c63746c

// IsURL reports whether a store location names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsURL(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

// Redact returns a store location fit to print: a URL's password is
// replaced by ***.
func Redact(location string) string {
	if !IsURL(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return "postgres://…" // unparseable: print none of it
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "***")
		u.RawQuery = q.Encode()
	}
	return strings.Replace(u.String(), "%2A%2A%2A", "***", -1)
}

// Password returns the password a store URL carries ("" for none), so
// that callers can keep it out of what they print.
func Password(location string) string {
	if !IsURL(location) {
		return ""
	}
	u, err := url.Parse(location)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	return u.Query().Get("password")
}

// pgConnect opens a pool on a PostgreSQL store URL, its statements
// renumbered (rebind). readOnly makes every transaction read-only.
func pgConnect(ctx context.Context, location string, readOnly bool) (*sql.DB, string, error) {
	shown := Redact(location)
	cfg, err := pgx.ParseConfig(location)
	if err != nil {
		return nil, shown, fmt.Errorf("store %s: not a PostgreSQL URL: %v", shown, pgErrText(err, location))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "evalctl"
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if _, set := cfg.RuntimeParams["synchronous_commit"]; !set {
		// As SQLite's synchronous=NORMAL in WAL mode: a commit is in the
		// server's log when it returns, and on disk a moment later, so a
		// crash of the database server (not of evalctl) may lose the last
		// moment's results, which a resume then asks again. A URL may ask
		// for more (?options=-c%20synchronous_commit%3Don).
		cfg.RuntimeParams["synchronous_commit"] = "off"
	}
	db := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, shown, fmt.Errorf("store %s: %s", shown, pgErrText(err, location))
	}
	return db, shown, nil
}

// pgErrText words a connection error in one line, without the password.
func pgErrText(err error, location string) string {
	var pe *pgconn.PgError
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.As(err, &pe) && pe.Code == "28P01":
		msg = "password authentication failed for user " + pe.Message[strings.LastIndex(pe.Message, " ")+1:]
	case errors.As(err, &pe) && pe.Code == "3D000":
		msg = pe.Message + " (create it first: createdb, or CREATE DATABASE)"
	case errors.As(err, &pe):
		msg = pe.Message
	case errors.As(err, &ne) && ne.Timeout():
		msg = "no answer from the server (timed out): is PostgreSQL running there?"
	case strings.Contains(msg, "connection refused"):
		msg = "connection refused: is PostgreSQL running and listening there?"
	}
	if p := Password(location); len(p) > 0 {
		msg = strings.ReplaceAll(msg, p, "***")
	}
	return msg
}

func openPostgres(ctx context.Context, location string, version int64) (*Store, error) {
	w, shown, err := pgConnect(ctx, location, false)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := checkForeignPG(ctx, w, shown); err != nil {
		w.Close()
		return nil, err
	}
	if version < pgFirstVersion {
		w.Close()
		return nil, fmt.Errorf("store %s: PostgreSQL stores begin at schema %d", shown, pgFirstVersion)
	}
	sub, _ := fs.Sub(pgMigrations, "migrations_postgres")
	prov, err := goose.NewProvider(goose.DialectPostgres, w, sub)
	if err != nil {
		w.Close()
		return nil, err
	}
	r, _, err := pgConnect(ctx, location, false)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	// Processes opening a new store at once (workers of a shared run)
	// migrate one at a time: an advisory lock on the writer's one
	// connection, waited for without polling; closing a connection that
	// failed releases it.
	if _, err := w.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrationLock); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store %s: %w", shown, err)
	}
	st, err := finishOpen(ctx, &Store{Path: shown, w: w, r: r, dialect: postgresDialect}, prov, version)
	if err != nil {
		return nil, err
	}
	if _, err := w.ExecContext(ctx, `SELECT pg_advisory_unlock(?)`, migrationLock); err != nil {
		st.Close()
		return nil, fmt.Errorf("store %s: %w", shown, err)
	}
	return st, nil
}

// checkForeignPG refuses a database (its current schema) that holds
// another program's tables and no evalctl schema version.
func checkForeignPG(ctx context.Context, db *sql.DB, shown string) error {
	var tables, versioned int
	err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE table_name = 'goose_db_version')
		FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables, &versioned)
	if err != nil {
		return fmt.Errorf("store %s: %w", shown, err)
	}
	if tables > 0 && versioned == 0 {
		return fmt.Errorf("store %s: %w (its schema holds %d tables of another program; evalctl leaves it untouched: give evalctl a database of its own)", shown, ErrNotStore, tables)
	}
	return nil
}

func openPostgresReadOnly(ctx context.Context, location string) (*Store, error) {
	db, shown, err := pgConnect(ctx, location, true)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	if err := checkForeignPG(ctx, db, shown); err != nil {
		db.Close()
		return nil, err
	}
	return readOnly(ctx, db, shown, postgresDialect)
}
