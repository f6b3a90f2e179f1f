package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// A PostgreSQL server that restarts (an upgrade, a failover, an operator's
// pg_ctl restart) closes every connection. Two things keep a run going
// through it instead of stopping every worker of a shared run at its next
// write:
//
//   - a statement refused because the server was shutting the session down
//     (SQLSTATE 57P01–57P03: it did not run) reports driver.ErrBadConn, so
//     database/sql sends it again on a new connection (deadConn);
//   - the writer's transactions and the claims' statements are tried again
//     while the server cannot be reached, for up to reconnectFor
//     (Store.retry).

// reconnectFor bounds the wait for a PostgreSQL server to come back.
const reconnectFor = 2 * time.Minute

// transient reports whether err is a lost or refused connection to
// PostgreSQL: the work may be tried again on a new one.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "08")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed")
}

// retry runs f until it succeeds, fails for good, or fails transiently for
// longer than reconnectFor (PostgreSQL only; SQLite runs f once). f must
// be safe to run again: a transaction, or an idempotent statement.
func (s *Store) retry(ctx context.Context, f func() error) error {
	err := f()
	if s.dialect != postgresDialect || !transient(err) {
		return err
	}
	deadline := time.Now().Add(reconnectFor)
	wait := 100 * time.Millisecond
	for transient(err) && time.Now().Before(deadline) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
		err = f()
	}
	return err
}

// deadConn reports driver.ErrBadConn for a statement the server refused
// because it was ending the session (it did not run), so that database/sql
// tries it on a new connection; other errors pass unchanged.
func deadConn(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03") {
		return driver.ErrBadConn
	}
	return err
}
