package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// Rows is the number of documents seeded in the benchmark tenant.
const Rows = 100_000

// Item is the benchmarked DocType.
type Item struct {
	doctype.Base
	Title    string          `json:"title"`
	Category string          `json:"category"`
	Amount   doctype.Decimal `json:"amount"`
	Qty      int             `json:"qty"`
}

var itemMeta = doctype.Meta{
	Name: "Bench Item",
	Permissions: []doctype.Rule{
		{Role: "Reader", Actions: doctype.Read},
		{Role: "Owner", Actions: doctype.Read, IfOwner: true},
	},
	Indexes: [][]string{{"category"}},
}

const tenant = "bench"

type dataset struct {
	cfg   config.Config
	names []string
	err   error
}

var (
	sets   = map[string]*dataset{}
	setsMu sync.Mutex
	tmpDir string
	pgDrop func()
)

func TestMain(m *testing.M) {
	var err error
	tmpDir, err = os.MkdirTemp("", "fm-bench-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	if pgDrop != nil {
		pgDrop()
	}
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// seeded returns a configuration whose database holds Rows items (plus rows of
// another tenant), seeding it once per process.
func seeded(b *testing.B, driver fmtest.Driver) *dataset {
	setsMu.Lock()
	defer setsMu.Unlock()
	if d, ok := sets[string(driver)]; ok {
		if d.err != nil {
			b.Fatal(d.err)
		}
		return d
	}
	d := &dataset{cfg: config.Default()}
	d.cfg.App.DataDir = tmpDir
	d.cfg.App.LogLevel = "error"
	d.cfg.Auth.JWT.Secret = "benchmark-secret-benchmark-secret-0123456789"
	d.cfg.Tenancy.DefaultTenantID = tenant // single-tenant mode, in the seeded tenant
	d.cfg.RateLimit.Enabled = false
	switch driver {
	case fmtest.SQLite:
		d.cfg.Database.Driver = "sqlite"
	case fmtest.Postgres:
		dsn := fmtest.SkipUnlessServer(b, fmtest.EnvPostgresDSN, "PostgreSQL")
		schema := fmt.Sprintf("fm_bench_%d", os.Getpid())
		admin, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			b.Fatal(err)
		}
		if err := admin.Exec(`CREATE SCHEMA IF NOT EXISTS "` + schema + `"`).Error; err != nil {
			b.Fatal(err)
		}
		pgDrop = func() {
			admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`)
			if s, err := admin.DB(); err == nil {
				s.Close()
			}
		}
		d.cfg.Database.Driver = "postgres"
		d.cfg.Database.DSN = fmtest.WithSearchPath(dsn, schema)
	}
	d.names, d.err = seed(d.cfg)
	sets[string(driver)] = d
	if d.err != nil {
		b.Fatal(d.err)
	}
	return d
}

func seed(cfg config.Config) ([]string, error) {
	ctx := context.Background()
	reg := doctype.NewRegistry()
	if _, err := doctype.Register[Item](reg, itemMeta); err != nil {
		return nil, err
	}
	gdb, err := db.Open(ctx, cfg.Database, cfg.App.DataDir, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close(gdb)
	repo := db.New(gdb, reg)
	if err := repo.Migrate(ctx); err != nil {
		return nil, err
	}
	names := make([]string, 0, Rows)
	batch := make([]*Item, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := gdb.Table("bench_item").CreateInBatches(batch, len(batch)).Error
		batch = batch[:0]
		return err
	}
	base := time.Now().UTC().Add(-time.Hour)
	for i := range Rows + Rows/10 {
		t := tenant
		if i >= Rows {
			t = "other" // a neighbour tenant, so scoping has rows to skip
		}
		now := base.Add(time.Duration(i) * time.Millisecond).Truncate(time.Microsecond)
		it := &Item{
			Base:     doctype.Base{TenantID: t, Name: doctype.NewUUIDv7(), Owner: fmt.Sprintf("owner-%d", i%10), CreatedAt: now, ModifiedAt: now, ModifiedBy: "seed", Version: 1},
			Title:    fmt.Sprintf("Item %06d", i),
			Category: fmt.Sprintf("cat-%02d", i%50),
			Amount:   doctype.MustDecimal(fmt.Sprintf("%d.%02d", i%1000, i%100)),
			Qty:      i % 17,
		}
		if t == tenant {
			names = append(names, it.Name)
		}
		batch = append(batch, it)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if cfg.Database.Driver == "postgres" {
		gdb.Exec("VACUUM ANALYZE bench_item")
	}
	return names, nil
}

func openRepo(b *testing.B, d *dataset) *db.Repository {
	reg := doctype.NewRegistry()
	if _, err := doctype.Register[Item](reg, itemMeta); err != nil {
		b.Fatal(err)
	}
	gdb, err := db.Open(context.Background(), d.cfg.Database, d.cfg.App.DataDir, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(gdb) })
	return db.New(gdb, reg)
}

func drivers() []fmtest.Driver { return []fmtest.Driver{fmtest.SQLite, fmtest.Postgres} }

func ctxFor() context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: "bench", Roles: []string{"Reader"}})
}

// BenchmarkRepositoryGet reads one document by name out of 100,000.
func BenchmarkRepositoryGet(b *testing.B) {
	for _, drv := range drivers() {
		b.Run(string(drv), func(b *testing.B) {
			d := seeded(b, drv)
			repo := openRepo(b, d)
			ctx := ctxFor()
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := repo.Get(ctx, "Bench Item", d.names[rng.IntN(len(d.names))]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRepositoryList50 lists a page of 50 out of 100,000 rows.
func BenchmarkRepositoryList50(b *testing.B) {
	cases := []struct {
		name string
		q    ports.Query
	}{
		// newest first, with the total count of all 100,000
		{"newest-with-total", ports.Query{Limit: 50}},
		// newest first, no count
		{"newest", ports.Query{Limit: 50, SkipCount: true}},
		// deep page, no count
		{"offset-5000", ports.Query{Limit: 50, Offset: 5000, SkipCount: true}},
		// filter on an indexed field (2,000 matches) with count
		{"filtered-with-total", ports.Query{Limit: 50, Filters: []ports.Filter{{Field: "category", Op: ports.OpEq, Value: "cat-07"}}}},
	}
	for _, drv := range drivers() {
		for _, tc := range cases {
			b.Run(string(drv)+"/"+tc.name, func(b *testing.B) {
				d := seeded(b, drv)
				repo := openRepo(b, d)
				ctx := ctxFor()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := repo.List(ctx, "Bench Item", tc.q)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Items) != 50 {
						b.Fatalf("got %d items", len(res.Items))
					}
				}
			})
		}
	}
}

// BenchmarkHTTPGetDocument is an in-process GET /api/v1/resource/{doctype}/{name}:
// routing, request id, access log, auth chain, tenant, maintenance check,
// permission check, repository read and JSON encoding.
func BenchmarkHTTPGetDocument(b *testing.B) {
	for _, drv := range drivers() {
		b.Run(string(drv), func(b *testing.B) {
			d := seeded(b, drv)
			cfg := d.cfg
			cfg.Database.AutoMigrate = false
			app, err := frameworkm.New(cfg,
				frameworkm.WithDocType[Item](itemMeta),
				frameworkm.WithAuthenticator(fmtest.Strategy{}),
				frameworkm.WithLogger(frameworkm.NewLogger(config.App{LogLevel: "error"}, os.Stderr)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { app.Shutdown(context.Background()) })
			if err := app.Migrate(context.Background()); err != nil { // the built-in DocTypes
				b.Fatal(err)
			}
			h := app.Handler()
			user := `{"id":"bench","tenant_id":"bench","roles":["Reader"]}`
			rng := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/api/v1/resource/Bench%20Item/"+d.names[rng.IntN(len(d.names))], nil)
				req.Header.Set(fmtest.HeaderUser, user)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkResourceList50 lists 50 of 100,000 rows through the resource
// service (permission check included): a Reader sees every row; an Owner
// sees only the 10,000 rows they own, through row-level security.
func BenchmarkResourceList50(b *testing.B) {
	for _, drv := range drivers() {
		for _, who := range []struct {
			name string
			user *ports.UserContext
		}{
			{"without-rls", &ports.UserContext{ID: "reader", Roles: []string{"Reader"}}},
			{"with-rls", &ports.UserContext{ID: "owner-3", Roles: []string{"Owner"}}},
		} {
			b.Run(string(drv)+"/"+who.name, func(b *testing.B) {
				d := seeded(b, drv)
				cfg := d.cfg
				cfg.Database.AutoMigrate = false
				app, err := frameworkm.New(cfg, frameworkm.WithDocType[Item](itemMeta),
					frameworkm.WithLogger(frameworkm.NewLogger(config.App{LogLevel: "error"}, os.Stderr)))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { app.Shutdown(context.Background()) })
				if err := app.Migrate(context.Background()); err != nil {
					b.Fatal(err)
				}
				ctx := ports.WithUser(ports.WithTenantID(context.Background(), tenant), who.user)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					res, err := app.Resources.List(ctx, "Bench Item", resource.ListParams{Limit: 50})
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Items) != 50 {
						b.Fatalf("got %d items", len(res.Items))
					}
				}
			})
		}
	}
}
