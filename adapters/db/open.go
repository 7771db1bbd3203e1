// Package db is the GORM adapter of the Repository port: it opens SQLite (the
// embedded default) or PostgreSQL from config, migrates every registered DocType
// and serves documents through one generic, tenant-scoped repository.
package db

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"

	"github.com/framework-m/framework-m/core/config"
)

// DefaultSQLiteFile is the database file under data_dir when no DSN is set.
const DefaultSQLiteFile = "framework_m.db"

// sqliteParams are the pragmas every SQLite connection gets unless the DSN sets
// them: WAL (readers never block the writer), a busy timeout instead of
// immediate "database is locked" errors, IMMEDIATE transactions (no deadlocking
// lock upgrades) and foreign keys on.
var sqliteParams = [][2]string{
	{"_journal_mode", "WAL"},
	{"_busy_timeout", "5000"},
	{"_txlock", "immediate"},
	{"_foreign_keys", "on"},
	{"_synchronous", "NORMAL"},
}

// Open connects to the database cfg describes. dataDir holds the SQLite file
// when cfg.DSN is empty. WithTracerProvider traces its statements.
func Open(ctx context.Context, cfg config.Database, dataDir string, log *slog.Logger, opts ...Option) (*gorm.DB, error) {
	if log == nil {
		log = slog.Default()
	}
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	gcfg := func() *gorm.Config { // gorm.Open keeps and fills the one it gets
		return &gorm.Config{
			Logger:                 &slogLogger{log: log, slow: 500 * time.Millisecond},
			TranslateError:         true,
			SkipDefaultTransaction: true,
			PrepareStmt:            false,
			NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		}
	}
	var (
		dial   gorm.Dialector
		memory bool
		dsn    string
	)
	switch cfg.Driver {
	case "sqlite", "":
		d, mem, err := sqliteDSN(cfg.DSN, dataDir)
		if err != nil {
			return nil, err
		}
		memory, dsn = mem, d
		dial = sqliteDialector{sqlite.Dialector{DSN: dsn}}
	case "postgres":
		d, err := postgresDialector(postgresDSN(cfg))
		if err != nil {
			return nil, err
		}
		dial = d
	default:
		return nil, fmt.Errorf("database.driver: unknown driver %q", cfg.Driver)
	}
	gdb, err := connect(ctx, cfg.Driver, dial, gcfg())
	if err != nil {
		return nil, err
	}
	sqlDB, _ := gdb.DB()
	switch {
	case cfg.Driver == "postgres":
		// Two pools: writes and transactions, and reads beside them, so
		// writes waiting on a lock (a series counter another instance holds)
		// never keep reads waiting for a connection.
		sizePool(sqlDB, cfg.MaxWriteConns, cfg.MaxIdleConns)
		var read *gorm.DB
		var d gorm.Dialector
		if d, err = postgresDialector(withRuntimeParam(postgresDSN(cfg), "default_transaction_read_only", "on")); err != nil {
			break
		}
		if read, err = connect(ctx, cfg.Driver, d, gcfg()); err != nil {
			break
		}
		rdb, _ := read.DB()
		sizePool(rdb, cfg.MaxOpenConns, cfg.MaxIdleConns)
		if err = gdb.Use(&split{read: read, log: log}); err != nil {
			_ = rdb.Close()
		}
	case memory:
		// Every connection to :memory: is a new empty database: keep one,
		// which reads and writes; writes still queue fairly for it.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetConnMaxIdleTime(0)
		err = gdb.Use(&split{slot: make(writeSlot, 1)})
	default:
		// One writer, kept open (Run sets a pragma on it), and a pool of
		// read-only connections beside it.
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
		sqlDB.SetConnMaxIdleTime(0)
		var read, ckpt *gorm.DB
		read, err = connect(ctx, cfg.Driver, sqliteDialector{sqlite.Dialector{DSN: withParam(dsn, "_query_only=1")}}, gcfg())
		if err == nil {
			// The checkpointer's own connection (see Repository.Run).
			if ckpt, err = connect(ctx, cfg.Driver, sqliteDialector{sqlite.Dialector{DSN: dsn}}, gcfg()); err != nil {
				if rdb, e := read.DB(); e == nil {
					_ = rdb.Close()
				}
				break
			}
			cdb, _ := ckpt.DB()
			cdb.SetMaxOpenConns(1)
			cdb.SetConnMaxIdleTime(0)
			readers := cfg.MaxOpenConns
			if readers <= 0 {
				readers = 10
			}
			rdb, _ := read.DB()
			rdb.SetMaxOpenConns(readers)
			rdb.SetMaxIdleConns(readers)
			rdb.SetConnMaxIdleTime(5 * time.Minute)
			err = gdb.Use(&split{read: read, checkpoint: ckpt, slot: make(writeSlot, 1), log: log})
			if err != nil {
				_ = rdb.Close()
				_ = cdb.Close()
			}
		}
	}
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open %s database: %w", cfg.Driver, err)
	}
	if err := Trace(gdb, o.tracer); err != nil {
		_ = Close(gdb)
		return nil, err
	}
	if path := sqliteFile(cfg.DSN, dataDir); path != "" && (cfg.Driver == "sqlite" || cfg.Driver == "") {
		// The database holds password and key hashes: owner only.
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Warn("could not restrict the database file's permissions", "file", p, "err", err)
			}
		}
	}
	return gdb, nil
}

// connect opens a GORM handle on dial and checks the database answers.
func connect(ctx context.Context, driver string, dial gorm.Dialector, gcfg *gorm.Config) (*gorm.DB, error) {
	gdb, err := gorm.Open(dial, gcfg)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", driver, err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", driver, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", driver, err)
	}
	return gdb, nil
}

// sqliteDSN builds the SQLite DSN: the configured one, or DATA_DIR/framework_m.db,
// with the default pragmas added where absent.
func sqliteDSN(dsn, dataDir string) (string, bool, error) {
	if dsn == "" {
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return "", false, fmt.Errorf("create data_dir %q: %w", dataDir, err)
		}
		dsn = "file:" + filepath.Join(dataDir, DefaultSQLiteFile)
	}
	memory := strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
	if !memory {
		path := strings.TrimPrefix(dsn, "file:")
		path, _, _ = strings.Cut(path, "?")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", false, fmt.Errorf("create database directory %q: %w", dir, err)
			}
		}
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, p := range sqliteParams {
		if memory && p[0] == "_journal_mode" {
			continue
		}
		if !strings.Contains(dsn, p[0]+"=") {
			dsn += sep + p[0] + "=" + p[1]
			sep = "&"
		}
	}
	return dsn, memory, nil
}

// withParam adds one query parameter to dsn.
func withParam(dsn, param string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + param
	}
	return dsn + "?" + param
}

// sqliteDialector is GORM's SQLite dialect with one change: doctype.Decimal
// columns are TEXT, because SQLite's NUMERIC affinity turns "12.50" into the
// float 12.5 and rounds beyond 15 digits. The repository compares and sorts
// them by value with CAST.
type sqliteDialector struct{ sqlite.Dialector }

// DataTypeOf makes Decimal columns text.
func (d sqliteDialector) DataTypeOf(f *schema.Field) string {
	if f.IndirectFieldType == decimalType {
		return "text"
	}
	return d.Dialector.DataTypeOf(f)
}

// Migrator is SQLite's migrator, asking this dialect for column types.
func (d sqliteDialector) Migrator(db *gorm.DB) gorm.Migrator {
	return sqlite.Migrator{Migrator: migrator.Migrator{Config: migrator.Config{
		DB:                          db,
		Dialector:                   d,
		CreateIndexAfterCreateTable: true,
	}}}
}

// Close closes the database's connections (an SQLite database's reader
// pool too).
func Close(gdb *gorm.DB) error {
	var errs []error
	if sp := splitOf(gdb); sp != nil {
		for _, h := range []*gorm.DB{sp.read, sp.checkpoint} {
			if h == nil {
				continue
			}
			if hdb, err := h.DB(); err == nil {
				errs = append(errs, hdb.Close())
			}
		}
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return err
	}
	return errors.Join(append(errs, sqlDB.Close())...)
}

// slogLogger sends GORM's log to slog: failed statements at debug (callers
// decide whether an error matters), slow statements at warn.
type slogLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func (l *slogLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (l *slogLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(msg, args...))
}
func (l *slogLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
}
func (l *slogLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}
func (l *slogLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && l.log.Enabled(ctx, slog.LevelDebug):
		sql, _ := fc()
		l.log.DebugContext(ctx, "sql error", "err", err, "sql", sql, "elapsed", elapsed)
	case elapsed > l.slow:
		sql, rows := fc()
		l.log.WarnContext(ctx, "slow sql", "sql", redactSQL(sql), "rows", rows, "elapsed", elapsed)
	case l.log.Enabled(ctx, slog.LevelDebug-4):
		sql, rows := fc()
		l.log.Log(ctx, slog.LevelDebug-4, "sql", "sql", sql, "rows", rows, "elapsed", elapsed)
	}
}

// redactSQL cuts a statement at its first quoted literal, so logs never carry
// the values (secrets, personal data) bound into it.
func redactSQL(sql string) string {
	if i := strings.IndexByte(sql, '\''); i >= 0 {
		return sql[:i] + "…"
	}
	return sql
}

// sqliteFile returns the SQLite database file of dsn ("" for memory or other drivers).
func sqliteFile(dsn, dataDir string) string {
	if dsn == "" {
		return filepath.Join(dataDir, DefaultSQLiteFile)
	}
	if strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory") {
		return ""
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	return path
}

// OnStatement calls fn after every statement run through gdb (on SQLite, its
// reader pool's too), with the statement's SQL: a way for tests to count
// queries. Register it before use; name tells registrations apart.
func OnStatement(gdb *gorm.DB, name string, fn func(ctx context.Context, sql string)) error {
	handles := []*gorm.DB{gdb}
	if sp := splitOf(gdb); sp != nil && sp.read != nil {
		handles = append(handles, sp.read)
	}
	cb := func(tx *gorm.DB) { fn(tx.Statement.Context, tx.Statement.SQL.String()) }
	for _, h := range handles {
		c := h.Callback()
		for _, err := range []error{
			c.Query().After("gorm:query").Register(name, cb),
			c.Row().After("gorm:row").Register(name, cb),
			c.Raw().After("gorm:raw").Register(name, cb),
			c.Create().After("gorm:create").Register(name, cb),
			c.Update().After("gorm:update").Register(name, cb),
			c.Delete().After("gorm:delete").Register(name, cb),
		} {
			if err != nil {
				return fmt.Errorf("register %s: %w", name, err)
			}
		}
	}
	return nil
}

// sizePool caps a PostgreSQL pool (0: no cap) and its idle connections.
func sizePool(sqlDB *sql.DB, open, idle int) {
	if open > 0 {
		sqlDB.SetMaxOpenConns(open)
	}
	if idle > 0 {
		sqlDB.SetMaxIdleConns(idle)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
}

// TCP keepalives of PostgreSQL connections, both ways: the app notices a
// server that vanished (host down, partition) and the server ends the
// sessions, and releases the locks, of an app instance that vanished, in
// about keepAliveIdle + keepAliveCount × keepAliveInterval instead of the
// systems' default of two hours.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	// connectTimeout bounds a connection attempt the DSN does not bound
	// (connect_timeout).
	connectTimeout = 10 * time.Second
)

// postgresDialector is GORM's PostgreSQL dialect on pgx, dialing with the
// keepalives above.
func postgresDialector(dsn string) (gorm.Dialector, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database.dsn: %w", err)
	}
	d := &net.Dialer{
		Timeout: cmp.Or(pc.ConnectTimeout, connectTimeout),
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount,
		},
	}
	pc.DialFunc = d.DialContext
	return postgres.New(postgres.Config{Conn: stdlib.OpenDB(*pc)}), nil
}

// postgresDSN adds the framework's session settings to cfg.DSN as runtime
// parameters, unless the DSN sets them: lock_timeout,
// idle_in_transaction_session_timeout, statement_timeout and the server's
// keepalives.
func postgresDSN(cfg config.Database) string {
	dsn := cfg.DSN
	for _, p := range []struct {
		key string
		v   int
	}{
		{"lock_timeout", cfg.LockTimeoutMS},
		{"idle_in_transaction_session_timeout", cfg.IdleInTransactionTimeoutMS},
		{"statement_timeout", cfg.StatementTimeoutMS},
		{"tcp_keepalives_idle", int(keepAliveIdle / time.Second)},
		{"tcp_keepalives_interval", int(keepAliveInterval / time.Second)},
		{"tcp_keepalives_count", keepAliveCount},
	} {
		if p.v > 0 {
			dsn = withRuntimeParam(dsn, p.key, strconv.Itoa(p.v))
		}
	}
	return dsn
}

// withRuntimeParam sets a PostgreSQL runtime parameter in dsn (URL or
// key=value form) unless dsn sets it.
func withRuntimeParam(dsn, key, value string) string {
	if strings.Contains(dsn, key+"=") {
		return dsn
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return withParam(dsn, key+"="+value)
	}
	return dsn + " " + key + "=" + value
}
