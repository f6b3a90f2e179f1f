package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// SchemaVersion is the schema version this build writes.
const SchemaVersion = 9

// Store is an open run store. It is safe for concurrent use.
type Store struct {
	Path string
	w    *sql.DB // one connection, owned by the writer for batches
	// prepared holds the writer's statements (used by the writer only).
	prepared map[string]*sql.Stmt
	r        *sql.DB // readers
	salt     []byte

	ops    chan op
	done   chan struct{}
	closed sync.Once

	mu  sync.Mutex
	err error // the first failed batch; later flushes report it

	readOnly bool // opened by OpenReadOnly: w and r are one read-only pool
	dialect  *dialect

	sendMu sync.RWMutex // held to send on ops; Close takes it to close ops
	shut   bool
}

// Open opens (creating and migrating as needed) the store at path.
func Open(path string) (*Store, error) {
	return OpenAt(context.Background(), path, SchemaVersion)
}

// OpenAt opens the store migrated up to version (tests use it to write old schemas).
func OpenAt(ctx context.Context, path string, version int64) (*Store, error) {
	if IsURL(path) {
		return openPostgres(ctx, path, version)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
	}
	// An existing file is looked at before anything writes to it (even the
	// switch to WAL rewrites its header).
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 && !fi.IsDir() {
		probe, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(15000)")
		if err != nil {
			return nil, err
		}
		err = checkForeign(ctx, probe, path)
		probe.Close()
		if err != nil {
			return nil, err
		}
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	// Switching a new database to WAL needs a moment alone with the file; a
	// process creating the store at the same time makes it busy briefly.
	for attempt := 0; ; attempt++ {
		err := w.PingContext(ctx)
		if err == nil {
			break
		}
		if attempt == 10 || !busy(err) {
			w.Close()
			if strings.Contains(err.Error(), "not a database") {
				return nil, fmt.Errorf("store %s: %w (the file is not a SQLite database)", path, ErrNotStore)
			}
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
		time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	prov, err := goose.NewProvider(goose.DialectSQLite3, w, sub)
	if err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	return finishOpen(ctx, &Store{Path: path, w: w, r: r, dialect: sqliteDialect}, prov, version)
}

// finishOpen migrates a store's schema to version, reads its salt and
// starts its writer: what both backends share.
func finishOpen(ctx context.Context, s *Store, prov *goose.Provider, version int64) (*Store, error) {
	fail := func(err error) (*Store, error) {
		s.w.Close()
		s.r.Close()
		return nil, err
	}
	if cur, err := prov.GetDBVersion(ctx); err == nil && cur > SchemaVersion {
		return fail(fmt.Errorf("store %s has schema version %d, newer than this evalctl understands (%d): upgrade evalctl", s.Path, cur, SchemaVersion))
	}
	if err := migrate(ctx, prov, version); err != nil {
		return fail(fmt.Errorf("store %s: migrating: %w", s.Path, err))
	}
	s.ops, s.done, s.prepared = make(chan op, 1024), make(chan struct{}), map[string]*sql.Stmt{}
	if err := s.loadSalt(ctx); err != nil {
		return fail(fmt.Errorf("store %s: %w", s.Path, err))
	}
	go s.writer()
	return s, nil
}

// ErrNotStore marks a file that is not an evalctl store (another program's
// database, or not a database at all); evalctl leaves such files untouched.
var ErrNotStore = errors.New("not an evalctl store")

// checkForeign refuses a database that holds tables but no evalctl schema
// version: migrating it would write evalctl's tables into someone else's file.
func checkForeign(ctx context.Context, db *sql.DB, path string) error {
	var tables, versioned int
	err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE name = 'goose_db_version') FROM sqlite_master WHERE type = 'table'`).Scan(&tables, &versioned)
	if err != nil {
		if strings.Contains(err.Error(), "not a database") {
			return fmt.Errorf("store %s: %w (the file is not a SQLite database)", path, ErrNotStore)
		}
		return fmt.Errorf("store %s: %w", path, err)
	}
	if tables > 0 && versioned == 0 {
		return fmt.Errorf("store %s: %w (a SQLite database with %d tables of another program; evalctl leaves it untouched)", path, ErrNotStore, tables)
	}
	return nil
}

// OpenReadOnly opens an existing store without writing to it: no migration,
// no salt, no journal change. The file must hold this build's schema.
// Writes through the returned store fail.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if IsURL(path) {
		return openPostgresReadOnly(ctx, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("store %s is a directory", path)
	}
	dsn := "file:" + path + "?mode=ro&_pragma=busy_timeout(15000)&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if err := checkForeign(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	return readOnly(ctx, db, path, sqliteDialect)
}

// readOnly finishes opening a read-only store on db (both backends): the
// schema must be this build's, the salt is read, nothing is written.
func readOnly(ctx context.Context, db *sql.DB, shown string, d *dialect) (*Store, error) {
	fail := func(err error) (*Store, error) {
		db.Close()
		return nil, err
	}
	var cur int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&cur)
	switch {
	case err != nil && (strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "does not exist")):
		return fail(fmt.Errorf("store %s: %w (an empty database)", shown, ErrNotStore))
	case err != nil:
		return fail(fmt.Errorf("store %s: %w", shown, err))
	case cur > SchemaVersion:
		return fail(fmt.Errorf("store %s has schema version %d, newer than this evalctl understands (%d): upgrade evalctl", shown, cur, SchemaVersion))
	case cur < SchemaVersion:
		return fail(fmt.Errorf("store %s has schema version %d, older than this evalctl's %d, and read-only mode does not upgrade it: open it once without --read-only (any evalctl command migrates it)", shown, cur, SchemaVersion))
	}
	s := &Store{Path: shown, w: db, r: db, ops: make(chan op, 1024), done: make(chan struct{}), prepared: map[string]*sql.Stmt{}, readOnly: true, dialect: d}
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'salt'`).Scan(&s.salt); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fail(fmt.Errorf("store %s: %w", shown, err))
	}
	go s.writer()
	return s, nil
}

func busy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "locked") || strings.Contains(msg, "busy")
}

// migrate brings the schema to version. Two processes may open a new store
// at once (a run and a `runs list`): the loser of the race fails on a table
// the winner just created, so a failure is followed by a fresh look at the
// version before it counts.
func migrate(ctx context.Context, prov *goose.Provider, version int64) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if cur, verr := prov.GetDBVersion(ctx); verr == nil && cur >= version {
			return nil
		}
		if _, err = prov.UpTo(ctx, version); err == nil {
			return nil
		}
		time.Sleep(time.Duration(20*(attempt+1)) * time.Millisecond)
	}
	return err
}

// Close flushes pending writes and closes the database.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		s.sendMu.Lock()
		s.shut = true
		close(s.ops)
		s.sendMu.Unlock()
		<-s.done
		for _, st := range s.prepared {
			st.Close()
		}
		if s.readOnly {
			err = s.r.Close()
			return
		}
		err = errors.Join(s.r.Close(), s.w.Close())
	})
	return err
}

// Salt is a random secret kept in the store. Judges derive their delimiter
// tags from it, so identical judge requests are identical (and cacheable)
// while an answer still cannot predict its tag.
func (s *Store) Salt() []byte { return s.salt }

// loadSalt reads the store's salt, creating it on first use. Another process
// may create it at the same moment: whichever insert lands first wins, and
// both read the winner's.
func (s *Store) loadSalt(ctx context.Context) error {
	err := s.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'salt'`).Scan(&s.salt)
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('salt', ?) ON CONFLICT DO NOTHING`, salt); err != nil {
		return err
	}
	return s.w.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'salt'`).Scan(&s.salt)
}

// op is one unit of work for the writer.
type op struct {
	apply func(tx *txn) error
	flush chan error
}

// txn is a write transaction. A result is a dozen inserts of the same few
// shapes, and the writer commits small batches often, so statements are
// prepared once on the writer's connection and reused by every transaction
// (database/sql binds them to the transaction without preparing again); a
// statement seen for the first time is prepared within its batch, and on the
// connection after the commit.
type txn struct {
	tx       *sql.Tx
	prepared map[string]*sql.Stmt // on the connection, owned by the writer
	stmts    map[string]*sql.Stmt // bound to this transaction
	fresh    []string             // queries to prepare on the connection
}

// Exec runs query with args through a prepared statement.
func (t *txn) Exec(query string, args ...any) (sql.Result, error) {
	st, ok := t.stmts[query]
	if !ok {
		if p, found := t.prepared[query]; found {
			st = t.tx.Stmt(p)
		} else {
			var err error
			if st, err = t.tx.Prepare(query); err != nil {
				return nil, err
			}
			t.fresh = append(t.fresh, query)
		}
		t.stmts[query] = st
	}
	return st.Exec(args...)
}

// writer applies ops in batched transactions (group commit): it takes what
// is queued, up to 256 ops, commits, and goes again, so a lone result is on
// disk at once and a burst shares one transaction.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]op, 0, 256)
	for o := range s.ops {
		batch = append(batch[:0], o)
	drain:
		for len(batch) < cap(batch) {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		err := s.commit(batch)
		for _, o := range batch {
			if o.flush != nil {
				o.flush <- err
			}
		}
	}
}

func (s *Store) commit(batch []op) error {
	// Tried again after a lost connection (a PostgreSQL restart). A commit
	// whose answer was lost may have been applied: the results are upserts,
	// so a second application changes nothing but the calls table, where it
	// counts those calls twice.
	err := s.retry(context.Background(), func() error { return s.commitTx(batch) })
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("store %s: writing results: %w", s.Path, err)
	}
	return s.err
}

func (s *Store) commitTx(batch []op) error {
	tx, err := s.w.Begin()
	if err != nil {
		return err
	}
	t := &txn{tx: tx, prepared: s.prepared, stmts: map[string]*sql.Stmt{}}
	for _, o := range batch {
		if o.apply == nil {
			continue
		}
		if err := o.apply(t); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil { // closes the transaction's statements
		return err
	}
	for _, q := range t.fresh {
		if st, err := s.w.Prepare(q); err == nil {
			s.prepared[q] = st
		}
	}
	return nil
}

// ErrClosed is the error of work handed to a closed store.
var ErrClosed = errors.New("the store is closed")

// send hands an op to the writer, unless the store is closed (a reader
// still at work when its program shuts the store gets ErrClosed).
func (s *Store) send(o op) error {
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.shut {
		return fmt.Errorf("store %s: %w", s.Path, ErrClosed)
	}
	s.ops <- o
	return nil
}

// enqueue hands work to the writer.
func (s *Store) enqueue(apply func(tx *txn) error) {
	if err := s.send(op{apply: apply}); err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
}

// exec hands work to the writer and waits until it is committed.
func (s *Store) exec(apply func(tx *txn) error) error {
	ch := make(chan error, 1)
	if err := s.send(op{apply: apply, flush: ch}); err != nil {
		return err
	}
	return <-ch
}

// Flush waits until everything enqueued so far is committed.
func (s *Store) Flush() error {
	ch := make(chan error, 1)
	if err := s.send(op{flush: ch}); err != nil {
		return err
	}
	return <-ch
}
