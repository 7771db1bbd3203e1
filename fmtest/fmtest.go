// Package fmtest helps test Framework M apps the way Framework M tests itself:
// a real App on a throwaway SQLite database (or an isolated PostgreSQL schema),
// served over real HTTP, with a test authentication strategy so each request
// can act as any user.
//
//	func TestInvoice(t *testing.T) {
//		app := fmtest.New(t, fmtest.SQLite, frameworkm.WithDocType[Invoice](InvoiceMeta))
//		c := app.As(fmtest.User("ann", "Accounts User"))
//		res := c.Post("/api/v1/resource/Invoice", map[string]any{"customer": "ACME"})
//		res.RequireStatus(t, 201)
//	}
package fmtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// EnvPostgresDSN names the PostgreSQL server the PostgreSQL variants of tests use.
const EnvPostgresDSN = "FM_TEST_POSTGRES_DSN"

// Driver selects the database of a test app.
type Driver string

// Test databases.
const (
	SQLite   Driver = "sqlite"
	Postgres Driver = "postgres"
)

// EnvRequireServers, when set (CI sets it), turns "server not configured" skips
// into failures, so a CI run cannot pass with its integration tests skipped.
const EnvRequireServers = "FM_REQUIRE_SERVERS"

// Drivers returns every test database, SQLite and PostgreSQL: run a suite once
// per driver, each as a subtest, to prove it on both. The PostgreSQL subtest
// skips with a SKIP line naming FM_TEST_POSTGRES_DSN when that variable is
// unset (Config and PostgresSchema do it; fails under FM_REQUIRE_SERVERS), so
// a run without PostgreSQL says so instead of silently running SQLite only.
func Drivers() []Driver {
	return []Driver{SQLite, Postgres}
}

// SkipUnlessServer skips t with a clear message when the server address in
// environment variable env is unset, or fails it under FM_REQUIRE_SERVERS.
// It returns the address.
func SkipUnlessServer(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv(EnvRequireServers) != "" {
		t.Fatalf("fmtest: %s is not set but %s is: the %s tests must run", env, EnvRequireServers, what)
	}
	t.Skipf("fmtest: %s is not set; %s tests skipped", env, what)
	return ""
}

// Config returns a configuration for a test app on driver: a fresh SQLite file
// in t.TempDir(), or a fresh schema on the PostgreSQL of FM_TEST_POSTGRES_DSN
// (dropped when the test ends). Without that variable, Postgres skips the test.
func Config(t testing.TB, driver Driver) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.App.DataDir = t.TempDir()
	cfg.App.Address = "127.0.0.1:0"
	// Cheap password hashing: tests hash a lot; production keeps OWASP's parameters.
	cfg.Auth.Password.Argon2MemoryKiB = 1024
	cfg.Auth.Password.Argon2Iterations = 1
	cfg.Auth.JWT.Secret = "fmtest-secret-" + randomHex(24)
	// The test server speaks plain HTTP, where clients drop Secure cookies.
	cfg.Auth.Session.CookieSecure = false
	// Tests send many requests as one user; tests of the limit lower it.
	cfg.RateLimit.Requests = 1_000_000
	cfg.RateLimit.RequestsPerIP = 1_000_000
	// PDFs come from the Gotenberg of FM_TEST_GOTENBERG_URL (see
	// Gotenberg); without it PDF requests answer HTML at once.
	cfg.Print.PDFBackend = "none"
	switch driver {
	case SQLite, "":
		cfg.Database.Driver = "sqlite"
	case Postgres:
		cfg.Database.Driver = "postgres"
		cfg.Database.DSN = PostgresSchema(t)
		// The hub's channel of this test's instances only: tests running at
		// once on one server do not hear each other's changes.
		cfg.SetSection("hub.postgres", map[string]any{"channel_prefix": "fmt_" + randomHex(6) + "_"})
	default:
		t.Fatalf("fmtest: unknown driver %q", driver)
	}
	return cfg
}

// EnvGotenberg names the environment variable holding the URL of the
// Gotenberg service the print tests convert with.
const EnvGotenberg = "FM_TEST_GOTENBERG_URL"

// Gotenberg points cfg's PDF converter at the Gotenberg service of
// FM_TEST_GOTENBERG_URL, skipping the test without it (failing it under
// FM_REQUIRE_SERVERS).
func Gotenberg(t testing.TB, cfg *config.Config) {
	t.Helper()
	cfg.Print.PDFBackend = "gotenberg"
	cfg.Print.GotenbergURL = SkipUnlessServer(t, EnvGotenberg, "Gotenberg")
}

// MultiTenant switches cfg to multi-tenant mode with the test client's
// address as the trusted gateway: clients then name their tenant in
// X-Tenant-ID, which the client of a TenantUser sends by itself.
func MultiTenant(cfg *config.Config) {
	cfg.Tenancy.Mode = "multi"
	cfg.Auth.TrustedProxies = append(cfg.Auth.TrustedProxies, "127.0.0.1/32", "::1/128")
}

// PostgresSchema creates a schema of its own on FM_TEST_POSTGRES_DSN's server,
// drops it when the test ends, and returns a DSN whose search_path is that
// schema. It skips the test when the variable is unset.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := SkipUnlessServer(t, EnvPostgresDSN, "PostgreSQL")
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "fmtest_" + hex.EncodeToString(b[:])
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("fmtest: connect %s: %v", EnvPostgresDSN, err)
	}
	sqlDB, _ := admin.DB()
	if err := admin.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
		sqlDB.Close()
		t.Fatalf("fmtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`)
		sqlDB.Close()
	})
	return WithSearchPath(base, schema)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WithSearchPath returns dsn (URL or key=value form) with search_path set.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	}
	return dsn + " search_path=" + schema
}

// App is a running test app: the App and an HTTP server serving it.
type App struct {
	*frameworkm.App
	// URL is the base URL of the test server.
	URL    string
	Server *httptest.Server
	// openapi checks the clients' traffic (see ValidateOpenAPI).
	openapi *openAPICheck
}

// New builds an App on driver with the test strategy first in its auth chain,
// serves it on a local port and shuts both down when the test ends.
func New(t testing.TB, driver Driver, opts ...frameworkm.Option) *App {
	t.Helper()
	return NewWithConfig(t, Config(t, driver), opts...)
}

// NewWithConfig is New with a configuration of the caller's.
func NewWithConfig(t testing.TB, cfg config.Config, opts ...frameworkm.Option) *App {
	t.Helper()
	all := append([]frameworkm.Option{
		frameworkm.WithLogger(Logger(t)),
		frameworkm.WithAuthenticator(Strategy{}),
	}, opts...)
	app, err := frameworkm.New(cfg, all...)
	if err != nil {
		t.Fatalf("fmtest: new app: %v", err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatalf("fmtest: start app: %v", err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("fmtest: shutdown: %v", err)
		}
	})
	a := &App{App: app, URL: srv.URL, Server: srv}
	if openAPIByDefault() {
		if _, err := a.validateOpenAPI(t); err != nil {
			t.Fatalf("fmtest: the OpenAPI document: %v", err)
		}
	}
	return a
}

// Logger returns a logger that writes to the test's log, at warn and above
// (set FM_TEST_LOG=debug for everything).
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("FM_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// HeaderUser carries the test strategy's principal as JSON.
const HeaderUser = "X-Fmtest-User"

// Strategy authenticates requests by the JSON UserContext in X-Fmtest-User.
// It exists only in this package: production apps never include it.
type Strategy struct{}

// Name is "fmtest".
func (Strategy) Name() string { return "fmtest" }

// Supports reports whether X-Fmtest-User is present.
func (Strategy) Supports(h http.Header) bool { return h.Get(HeaderUser) != "" }

// Authenticate decodes the principal.
func (Strategy) Authenticate(_ context.Context, h http.Header) (*ports.UserContext, error) {
	var u ports.UserContext
	if err := json.Unmarshal([]byte(h.Get(HeaderUser)), &u); err != nil || u.ID == "" {
		return nil, core.Public(core.ErrUnauthorized, "invalid test user")
	}
	return &u, nil
}

// User returns a principal with id and roles in the default tenant.
func User(id string, roles ...string) *ports.UserContext {
	return &ports.UserContext{ID: id, Email: id + "@example.com", Roles: roles}
}

// TenantUser returns a principal with id and roles in tenant.
func TenantUser(tenant, id string, roles ...string) *ports.UserContext {
	u := User(id, roles...)
	u.TenantID = tenant
	return u
}

// Admin returns a principal with the Admin role in the default tenant.
func Admin() *ports.UserContext { return User("admin", ports.RoleAdmin) }

// CreateUser creates a local user in the default tenant (or tenant, when
// given as the last role prefixed "tenant:") and returns it.
func (a *App) CreateUser(t testing.TB, email, password string, roles ...string) *ports.User {
	t.Helper()
	tenant := ""
	var rs []string
	for _, r := range roles {
		if rest, ok := strings.CutPrefix(r, "tenant:"); ok {
			tenant = rest
			continue
		}
		rs = append(rs, r)
	}
	u, err := a.Users.Create(a.SystemContext(context.Background(), tenant), ports.NewUser{Email: email, Password: password, Roles: rs})
	if err != nil {
		t.Fatalf("fmtest: create user %s: %v", email, err)
	}
	return u
}

// Login logs in over HTTP and returns the access token.
func (a *App) Login(t testing.TB, email, password string) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	a.Anonymous().Post("/api/v1/auth/login", map[string]string{"username": email, "password": password}).RequireStatus(t, http.StatusOK).JSON(t, &tok)
	return tok.AccessToken
}
