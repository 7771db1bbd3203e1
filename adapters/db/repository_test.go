package db_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/repotest"
	"github.com/framework-m/framework-m/ports"
)

// forEachDriver runs fn once per database as a subtest. PostgreSQL runs when
// FM_TEST_POSTGRES_DSN is set and skips, saying so, when not (fails under
// FM_REQUIRE_SERVERS).
func forEachDriver(t *testing.T, fn func(t *testing.T, driver fmtest.Driver)) {
	t.Helper()
	for _, d := range []fmtest.Driver{fmtest.SQLite, fmtest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			if d == fmtest.Postgres {
				fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
			}
			fn(t, d)
		})
	}
}

// openDB opens a fresh database (a SQLite file or a PostgreSQL schema) and
// closes it when the test ends.
func openDB(t *testing.T, driver fmtest.Driver) (*gorm.DB, config.Config) {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	return openCfg(t, cfg), cfg
}

func openCfg(t *testing.T, cfg config.Config) *gorm.DB {
	t.Helper()
	gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, fmtest.Logger(t))
	require.NoError(t, err, "open %s", cfg.Database.Driver)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	return gdb
}

// newRepo returns a migrated repository for reg on gdb.
func newRepo(t *testing.T, gdb *gorm.DB, reg *doctype.Registry) *db.Repository {
	t.Helper()
	r := db.New(gdb, reg)
	require.NoError(t, r.Migrate(t.Context()), "migrate")
	return r
}

func TestRepositoryContract(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		repotest.Run(t, func(t *testing.T, reg *doctype.Registry) ports.Repository {
			gdb, _ := openDB(t, driver)
			return newRepo(t, gdb, reg)
		})
	})
}

func TestRepositoryContractSQLiteInMemory(t *testing.T) {
	repotest.Run(t, func(t *testing.T, reg *doctype.Registry) ports.Repository {
		cfg := fmtest.Config(t, fmtest.SQLite)
		cfg.Database.DSN = ":memory:"
		return newRepo(t, openCfg(t, cfg), reg)
	})
}

// Test DocTypes of the adapter-specific tests.

type note struct {
	doctype.Base
	Title string `json:"title"`
}

type evolvingV1 struct {
	doctype.Base
	Title string `json:"title"`
}

type evolvingV2 struct {
	doctype.Base
	Title    string          `json:"title"`
	Extra    string          `json:"extra"`
	Count    int             `json:"count"`
	Price    doctype.Decimal `json:"price"`
	Reviewed *time.Time      `json:"reviewed"`
	Due      time.Time       `json:"due"`
	Flag     bool            `json:"flag"`
}

type evolvingV3 struct {
	doctype.Base
	Extra string `json:"extra"`
}

type indexed struct {
	doctype.Base
	Code   string `json:"code"`
	Region string `json:"region"`
	Status string `json:"status"`
}

type longIndexed struct {
	doctype.Base
	AlphaFieldWithAVeryLongNameNumberOne string `json:"alpha_field_with_a_very_long_name_number_one"`
	AlphaFieldWithAVeryLongNameNumberTwo string `json:"alpha_field_with_a_very_long_name_number_two"`
}

const evolvingTable = "evolving_doc"

func TestMigrateIsIdempotent(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		ctx := ports.WithTenantID(t.Context(), "A")
		gdb, _ := openDB(t, driver)
		reg := doctype.NewRegistry()
		doctype.MustRegister[note](reg, doctype.Meta{Name: "Note"})
		doctype.MustRegister[indexed](reg, doctype.Meta{Name: "Indexed", Unique: [][]string{{"code"}}, Indexes: [][]string{{"status"}}})
		r := newRepo(t, gdb, reg)
		n := &note{Title: "kept"}
		require.NoError(t, r.Create(ctx, "Note", n))
		idx := indexesOf(t, gdb, "indexed")

		require.NoError(t, r.Migrate(t.Context()), "second migrate")
		require.NoError(t, db.New(gdb, reg).Migrate(t.Context()), "migrate by a new repository")

		got, err := r.Get(ctx, "Note", n.Name)
		require.NoError(t, err)
		assert.Equal(t, "kept", got.(*note).Title, "data survives migration")
		assert.Equal(t, idx, indexesOf(t, gdb, "indexed"), "no index added or lost")
	})
}

func TestMigrateAddsColumnsAndNeverDrops(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		ctx := ports.WithTenantID(t.Context(), "A")
		gdb, _ := openDB(t, driver)

		reg1 := doctype.NewRegistry()
		doctype.MustRegister[evolvingV1](reg1, doctype.Meta{Name: "Evolving", Table: evolvingTable})
		r1 := newRepo(t, gdb, reg1)
		old := &evolvingV1{Title: "old"}
		old.Name = "old"
		require.NoError(t, r1.Create(ctx, "Evolving", old))

		reg2 := doctype.NewRegistry()
		doctype.MustRegister[evolvingV2](reg2, doctype.Meta{Name: "Evolving", Table: evolvingTable})
		r2 := newRepo(t, gdb, reg2)
		for _, c := range []string{"extra", "count", "price", "reviewed", "due", "flag"} {
			assert.True(t, gdb.Migrator().HasColumn(evolvingTable, c), "column %s added", c)
		}

		got, err := r2.Get(ctx, "Evolving", "old")
		if assert.NoError(t, err, "a row written before the column existed is readable") {
			doc := got.(*evolvingV2)
			assert.Equal(t, "old", doc.Title)
			assert.Empty(t, doc.Extra)
			assert.Zero(t, doc.Count)
			assert.True(t, doc.Price.IsZero())
			assert.Nil(t, doc.Reviewed)
		}
		res, err := r2.List(ctx, "Evolving", ports.Query{})
		if assert.NoError(t, err, "list rows written before the columns existed") {
			assert.Len(t, res.Items, 1)
		}

		reviewed := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
		fresh := &evolvingV2{Title: "new", Extra: "x", Count: 3, Price: doctype.MustDecimal("2.50"), Reviewed: &reviewed, Due: reviewed, Flag: true}
		require.NoError(t, r2.Create(ctx, "Evolving", fresh))
		res, err = r2.List(ctx, "Evolving", ports.Query{Filters: []ports.Filter{{Field: "extra", Op: ports.OpEq, Value: "x"}}})
		require.NoError(t, err)
		require.Len(t, res.Items, 1)
		doc := res.Items[0].(*evolvingV2)
		assert.Equal(t, 3, doc.Count)
		assert.Zero(t, doc.Price.Cmp(doctype.MustDecimal("2.5")))
		assert.True(t, reviewed.Equal(*doc.Reviewed))

		reg3 := doctype.NewRegistry()
		doctype.MustRegister[evolvingV3](reg3, doctype.Meta{Name: "Evolving", Table: evolvingTable})
		newRepo(t, gdb, reg3)
		assert.True(t, gdb.Migrator().HasColumn(evolvingTable, "title"), "a field removed from the struct keeps its column")
		got, err = r1.Get(ctx, "Evolving", "old")
		require.NoError(t, err)
		assert.Equal(t, "old", got.(*evolvingV1).Title)
	})
}

// indexDesc is one index: whether it is unique, and its columns in order.
type indexDesc struct {
	Unique bool
	Cols   string
}

// indexesOf returns the secondary indexes of table (not the primary key), by name.
func indexesOf(t *testing.T, gdb *gorm.DB, table string) map[string]indexDesc {
	t.Helper()
	out := map[string]indexDesc{}
	if gdb.Name() == "postgres" {
		var rows []struct {
			Name   string
			Unique bool
			Cols   string
		}
		require.NoError(t, gdb.Raw(`
SELECT i.relname AS name, ix.indisunique AS "unique",
       string_agg(a.attname, ',' ORDER BY k.n) AS cols
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class tb ON tb.oid = ix.indrelid
JOIN pg_namespace ns ON ns.oid = tb.relnamespace
CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)
JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
WHERE tb.relname = ? AND ns.nspname = current_schema() AND NOT ix.indisprimary
GROUP BY i.relname, ix.indisunique`, table).Scan(&rows).Error)
		for _, r := range rows {
			out[r.Name] = indexDesc{Unique: r.Unique, Cols: r.Cols}
		}
		return out
	}
	var list []struct {
		Name   string
		Unique bool
		Origin string
	}
	require.NoError(t, gdb.Raw(`SELECT name, "unique", origin FROM pragma_index_list(?)`, table).Scan(&list).Error)
	for _, ix := range list {
		if ix.Origin == "pk" {
			continue
		}
		var cols []string
		require.NoError(t, gdb.Raw(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ix.Name).Scan(&cols).Error)
		out[ix.Name] = indexDesc{Unique: ix.Unique, Cols: strings.Join(cols, ",")}
	}
	return out
}

func TestMigrateCreatesIndexes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		gdb, _ := openDB(t, driver)
		reg := doctype.NewRegistry()
		doctype.MustRegister[indexed](reg, doctype.Meta{
			Name:    "Indexed",
			Unique:  [][]string{{"code"}, {"region", "code"}},
			Indexes: [][]string{{"status"}, {"region", "status"}},
		})
		const longTable = "contract_long_index_table_name_for_testing"
		doctype.MustRegister[longIndexed](reg, doctype.Meta{
			Name:  "Long Indexed",
			Table: longTable,
			Indexes: [][]string{
				{"alpha_field_with_a_very_long_name_number_one"},
				{"alpha_field_with_a_very_long_name_number_two"},
			},
			Unique: [][]string{{"alpha_field_with_a_very_long_name_number_one", "alpha_field_with_a_very_long_name_number_two"}},
		})
		newRepo(t, gdb, reg)

		assertIndexes(t, indexesOf(t, gdb, "indexed"), []indexDesc{
			{Unique: true, Cols: "tenant_id,code"},
			{Unique: true, Cols: "tenant_id,region,code"},
		}, []string{"tenant_id,modified_at", "tenant_id,status", "tenant_id,region,status"})

		long := indexesOf(t, gdb, longTable)
		for name := range long {
			assert.LessOrEqual(t, len(name), 63, "index name %q fits PostgreSQL's identifier limit", name)
		}
		assertIndexes(t, long, []indexDesc{
			{Unique: true, Cols: "tenant_id,alpha_field_with_a_very_long_name_number_one,alpha_field_with_a_very_long_name_number_two"},
		}, []string{
			"tenant_id,modified_at",
			"tenant_id,alpha_field_with_a_very_long_name_number_one",
			"tenant_id,alpha_field_with_a_very_long_name_number_two",
		})
	})
}

// assertIndexes checks got has a unique index on exactly the columns of each
// of unique (more columns would weaken the constraint), and for each of
// prefixes an index whose leading columns are those.
func assertIndexes(t *testing.T, got map[string]indexDesc, unique []indexDesc, prefixes []string) {
	t.Helper()
	for _, want := range unique {
		found := false
		for _, d := range got {
			found = found || d == want
		}
		assert.True(t, found, "a unique index on exactly (%s); indexes: %v", want.Cols, got)
	}
	for _, p := range prefixes {
		found := false
		for _, d := range got {
			found = found || d.Cols == p || strings.HasPrefix(d.Cols, p+",")
		}
		assert.True(t, found, "an index led by (%s); indexes: %v", p, got)
	}
}

func TestMigrateConcurrentlyOnOnePostgresSchema(t *testing.T) {
	fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			cfg := fmtest.Config(t, fmtest.Postgres)
			reg := doctype.NewRegistry()
			doctype.MustRegister[note](reg, doctype.Meta{Name: "Note"})
			doctype.MustRegister[indexed](reg, doctype.Meta{Name: "Indexed", Unique: [][]string{{"code"}}, Indexes: [][]string{{"status"}}})
			doctype.MustRegister[evolvingV2](reg, doctype.Meta{Name: "Evolving", Table: evolvingTable})
			doctype.MustRegister[longIndexed](reg, doctype.Meta{Name: "Long Indexed", Indexes: [][]string{{"alpha_field_with_a_very_long_name_number_one"}}})
			const instances = 4
			repos := make([]*db.Repository, instances)
			for i := range repos {
				repos[i] = db.New(openCfg(t, cfg), reg) // one pool per instance, as separate processes would have
			}
			errs := make([]error, instances)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, r := range repos {
				wg.Go(func() {
					<-start
					errs[i] = r.Migrate(t.Context())
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				assert.NoError(t, err, "instance %d", i)
			}
			ctx := ports.WithTenantID(t.Context(), "A")
			require.NoError(t, repos[0].Create(ctx, "Note", &note{Title: "works"}))
			res, err := repos[3].List(ctx, "Note", ports.Query{})
			require.NoError(t, err)
			assert.Len(t, res.Items, 1)
		})
	}
}

func TestMigrateWithOneConnection(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		cfg := fmtest.Config(t, driver)
		cfg.Database.MaxOpenConns = 1 // max_open_conns = 1 is a valid setting
		gdb := openCfg(t, cfg)
		reg := doctype.NewRegistry()
		doctype.MustRegister[note](reg, doctype.Meta{Name: "Note"})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := db.New(gdb, reg).Migrate(ctx)
		assert.NoError(t, err, "Migrate must not wait for a second connection the pool cannot give")
	})
}

func TestOpenSQLite(t *testing.T) {
	pragma := func(t *testing.T, gdb *gorm.DB, name string) string {
		t.Helper()
		var v string
		require.NoError(t, gdb.Raw("PRAGMA "+name).Scan(&v).Error)
		return v
	}
	t.Run("default file under data_dir with pragmas", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "not", "yet")
		gdb := openCfg(t, config.Config{App: config.App{DataDir: dir}, Database: config.Database{Driver: "sqlite"}})
		_, err := os.Stat(filepath.Join(dir, db.DefaultSQLiteFile))
		assert.NoError(t, err, "the database file is data_dir/%s", db.DefaultSQLiteFile)
		assert.Equal(t, "wal", strings.ToLower(pragma(t, gdb, "journal_mode")))
		assert.Equal(t, "5000", pragma(t, gdb, "busy_timeout"))
		assert.Equal(t, "1", pragma(t, gdb, "foreign_keys"))
		assert.Equal(t, "1", pragma(t, gdb, "synchronous"), "NORMAL")
	})
	t.Run("driver defaults to sqlite", func(t *testing.T) {
		dir := t.TempDir()
		openCfg(t, config.Config{App: config.App{DataDir: dir}})
		_, err := os.Stat(filepath.Join(dir, db.DefaultSQLiteFile))
		assert.NoError(t, err)
	})
	t.Run("user DSN params win", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "app.db")
		gdb := openCfg(t, config.Config{Database: config.Database{Driver: "sqlite", DSN: "file:" + path + "?_busy_timeout=1234&_journal_mode=DELETE"}})
		assert.Equal(t, "1234", pragma(t, gdb, "busy_timeout"))
		assert.Equal(t, "delete", strings.ToLower(pragma(t, gdb, "journal_mode")))
		assert.Equal(t, "1", pragma(t, gdb, "foreign_keys"), "pragmas the DSN does not set are still added")
		_, err := os.Stat(path)
		assert.NoError(t, err, "the DSN's directory is created")
	})
	t.Run("in memory keeps one connection", func(t *testing.T) {
		gdb := openCfg(t, config.Config{Database: config.Database{Driver: "sqlite", DSN: ":memory:", MaxOpenConns: 10}})
		sqlDB, err := gdb.DB()
		require.NoError(t, err)
		assert.Equal(t, 1, sqlDB.Stats().MaxOpenConnections, "every connection to :memory: is another database")
	})
}

func TestOpenErrors(t *testing.T) {
	t.Run("postgres bad DSN", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err := db.Open(ctx, config.Database{
			Driver: "postgres",
			DSN:    "postgres://nobody@127.0.0.1:1/nothing?sslmode=disable&connect_timeout=3",
		}, t.TempDir(), fmtest.Logger(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "connect")
	})
	t.Run("postgres malformed DSN", func(t *testing.T) {
		_, err := db.Open(t.Context(), config.Database{Driver: "postgres", DSN: "postgres://%zz"}, t.TempDir(), fmtest.Logger(t))
		require.Error(t, err)
	})
	t.Run("unknown driver", func(t *testing.T) {
		_, err := db.Open(t.Context(), config.Database{Driver: "oracle"}, t.TempDir(), fmtest.Logger(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "oracle")
	})
	t.Run("sqlite data_dir not creatable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "a-file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := db.Open(t.Context(), config.Database{Driver: "sqlite"}, filepath.Join(file, "sub"), fmtest.Logger(t))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "data_dir")
	})
}

func TestNoTenantWritesNoRow(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		gdb, _ := openDB(t, driver)
		reg := doctype.NewRegistry()
		doctype.MustRegister[note](reg, doctype.Meta{Name: "Note"})
		doctype.MustRegister[evolvingV1](reg, doctype.Meta{Name: "Series Note", Table: evolvingTable, Naming: "SN-.###"})
		r := newRepo(t, gdb, reg)
		n := &note{Title: "orphan"}
		n.TenantID = "A"
		assert.ErrorIs(t, r.Create(t.Context(), "Note", n), core.ErrNoTenant)
		s := &evolvingV1{Title: "orphan"}
		s.TenantID = "A"
		assert.ErrorIs(t, r.Create(t.Context(), "Series Note", s), core.ErrNoTenant)
		for _, table := range []string{"note", evolvingTable, db.SeriesTable} {
			var rows int64
			require.NoError(t, gdb.Table(table).Count(&rows).Error)
			assert.Zero(t, rows, "no row in %s, in any tenant", table)
		}
	})
}

func TestUnknownDocTypeIsNotFound(t *testing.T) {
	gdb, _ := openDB(t, fmtest.SQLite)
	r := newRepo(t, gdb, doctype.NewRegistry())
	ctx := ports.WithTenantID(t.Context(), "A")
	_, err := r.Get(ctx, "Nope", "x")
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = r.List(ctx, "Nope", ports.Query{})
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.ErrorIs(t, r.Create(ctx, "Nope", &note{}), core.ErrNotFound)
	assert.ErrorIs(t, r.Update(ctx, "Nope", &note{}), core.ErrNotFound)
	assert.ErrorIs(t, r.Delete(ctx, "Nope", "x"), core.ErrNotFound)
}
