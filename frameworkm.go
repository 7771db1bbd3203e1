// Package frameworkm is the composition root of Framework M: it reads the
// configuration, builds every adapter it names from explicit factory maps, and
// assembles the App that serves the API.
//
//	cfg, err := frameworkm.LoadConfig("framework_config.toml")
//	app, err := frameworkm.New(cfg, frameworkm.WithDocType[Invoice](InvoiceMeta))
//	e := echo.New()
//	app.Mount(e) // /api/v1/… routes, /healthz, /readyz
//	app.Start(ctx)
package frameworkm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	goredis "github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/permission/cedar"
	"github.com/framework-m/framework-m/adapters/permission/citadel"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	tenantheader "github.com/framework-m/framework-m/adapters/tenant/header"
	"github.com/framework-m/framework-m/adapters/tenant/implicit"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/errorlog"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/core/settings"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Built-in adapter factories, by configuration name.
var (
	builtinTenantResolvers = map[string]TenantResolverFactory{
		"single": func(d Deps) (ports.TenantResolver, error) { return implicit.New(d.Config.Tenancy.DefaultTenantID), nil },
		"multi":  func(d Deps) (ports.TenantResolver, error) { return tenantheader.New(d.Config.Tenancy), nil },
	}
	builtinPermBackends = map[string]PermissionFactory{
		"rbac": func(d Deps) (ports.PermissionEvaluator, error) { return newRBAC(d), nil },
		"citadel": func(d Deps) (ports.PermissionEvaluator, error) {
			opts := []citadel.Option{citadel.WithLogger(d.Logger)}
			if d.Config.Permissions.Citadel.Fallback == citadel.FallbackRBAC {
				opts = append(opts, citadel.WithFallback(newRBAC(d)))
			}
			return citadel.New(d.Config.Permissions.Citadel, opts...)
		},
		"cedar": func(d Deps) (ports.PermissionEvaluator, error) {
			return cedar.New(d.Registry, d.Config.Permissions.Cedar, cedar.WithLogger(d.Logger))
		},
	}
)

// newRBAC builds the rule evaluator with the tenant's Custom Permission rows.
func newRBAC(d Deps) *rbac.Adapter {
	p := d.Config.Permissions
	return rbac.New(d.Registry, rbac.Options{
		AdminRoles:  p.AdminRoles,
		AdminBypass: p.AdminBypass,
		Source:      rbac.NewCustom(d.Repository, d.Registry, time.Duration(p.CustomCacheSeconds)*time.Second, d.Logger),
	})
}

// App is an assembled Framework M application.
type App struct {
	// Config is the configuration the app was built from.
	Config config.Config
	// Logger is the app's logger.
	Logger *slog.Logger
	// Registry holds every DocType, built-in and the app's.
	Registry *doctype.Registry
	// DB is the GORM handle of the document store.
	DB *gorm.DB
	// Repository is the tenant-scoped document store.
	Repository *db.Repository
	// Permissions authorizes document operations.
	Permissions ports.PermissionEvaluator
	// Tenants resolves each request's tenant.
	Tenants ports.TenantResolver
	// Resources is the generic document service (permissions, validation, hooks).
	Resources *resource.Service
	// Settings serves System Settings.
	Settings *settings.Service
	// Auth is the authentication chain.
	Auth *auth.Chain
	// Errors records unexpected errors as Error Log documents.
	Errors ports.ErrorRecorder
	// Users reads, authenticates, creates and changes users.
	Users *auth.UserManager
	// AuthService runs logins, logouts and credential checks.
	AuthService *auth.Service
	// Accounts serves the user's own account: preferences, export, erasure.
	Accounts *auth.Accounts

	closers        []func() error
	redis          goredis.UniversalClient
	rateLimiter    ports.RateLimiter
	quietBootstrap bool

	web       *web.Server
	handler   http.Handler
	handlerMu sync.Mutex

	mu        sync.Mutex
	started   bool
	closed    bool
	workerCtx context.Context
	pending   []func(ctx context.Context)
	stop      context.CancelFunc
	workers   sync.WaitGroup
}

// New builds an App from cfg: it opens the database, registers the built-in and
// the app's DocTypes, migrates them when [database] auto_migrate is on, and
// builds every adapter the configuration names.
func New(cfg config.Config, opts ...Option) (*App, error) {
	o := &options{authStrategies: maps.Clone(builtinAuthStrategies), permBackends: maps.Clone(builtinPermBackends), tenantResolvers: maps.Clone(builtinTenantResolvers)}
	for _, opt := range opts {
		opt(o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkNames(cfg, o); err != nil {
		return nil, err
	}
	log := o.logger
	if log == nil {
		log = NewLogger(cfg.App, os.Stderr)
	}

	reg := doctype.NewRegistry()
	if err := doctypes.Register(reg); err != nil {
		return nil, fmt.Errorf("register built-in doctypes: %w", err)
	}
	if err := doctypes.RegisterIdentity(reg, cfg.Auth.Mode != "federated"); err != nil {
		return nil, fmt.Errorf("register identity doctypes: %w", err)
	}
	for _, d := range o.doctypes {
		if _, err := reg.Register(d.typ, d.meta); err != nil {
			return nil, fmt.Errorf("register doctype: %w", err)
		}
	}

	ctx := context.Background()
	gdb, err := db.Open(ctx, cfg.Database, cfg.App.DataDir, log)
	if err != nil {
		return nil, err
	}
	app := &App{Config: cfg, Logger: log, Registry: reg, DB: gdb, quietBootstrap: o.quietBootstrap}
	ok := false
	defer func() {
		if !ok {
			for _, c := range app.closers {
				_ = c()
			}
			_ = db.Close(gdb)
		}
	}()
	app.Repository = db.New(gdb, reg)
	if cfg.Database.AutoMigrate {
		if err := app.Repository.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	deps := Deps{Config: cfg, Logger: log, Registry: reg, DB: gdb, Repository: app.Repository}

	app.Permissions, err = o.permBackends[cfg.Permissions.Backend](deps)
	if err != nil {
		return nil, fmt.Errorf("permissions.backend %q: %w", cfg.Permissions.Backend, err)
	}
	app.Tenants, err = o.tenantResolvers[cfg.Tenancy.Mode](deps)
	if err != nil {
		return nil, fmt.Errorf("tenancy.mode %q: %w", cfg.Tenancy.Mode, err)
	}
	app.Resources = resource.New(app.Repository, reg, app.Permissions, log)
	if inv, ok := app.Permissions.(interface{ Invalidate(tenant string) }); ok {
		app.Resources.OnChange(doctypes.CustomPermissionDocType, func(ctx context.Context, _ resource.Event) {
			inv.Invalidate(ports.TenantIDFrom(ctx))
		})
	}
	app.Settings = settings.New(app.Resources, doctypes.SystemSettingsDocType, settings.DefaultTTL)
	app.Errors = errorlog.New(app.Repository, doctypes.ErrorLogDocType, doctypes.NewErrorLog, cfg.Tenancy.DefaultTenantID)

	id, err := buildIdentity(app, log)
	if err != nil {
		return nil, err
	}
	app.AuthService, app.Users, app.Accounts = id.service, id.service.Users, id.accounts
	deps.AuthService, deps.Hydrator = id.service, id.hydrator
	app.startIdentityWorkers(id)
	limiter, err := app.limiter()
	if err != nil {
		return nil, err
	}

	strategies := slices.Clone(o.authenticators)
	for _, name := range cfg.Auth.Strategies {
		s, err := o.authStrategies[name](deps)
		if err != nil {
			return nil, fmt.Errorf("auth.strategies: %q: %w", name, err)
		}
		strategies = append(strategies, s)
	}
	app.Auth = auth.NewChain(strategies...)

	app.web = web.New(web.Deps{
		Config:         cfg,
		Logger:         log,
		Registry:       reg,
		Resources:      app.Resources,
		Settings:       app.Settings,
		Auth:           app.Auth,
		Errors:         app.Errors,
		Ready:          app.Repository.Ping,
		Routes:         o.routes,
		AuthService:    app.AuthService,
		Accounts:       app.Accounts,
		GatewayHeaders: append(id.hydrator.IdentityHeaders(), cfg.Tenancy.TenantHeader, cfg.Tenancy.AttributesHeader),
		Tenants:        app.Tenants,
		RateLimiter:    limiter,
	})
	ok = true
	return app, nil
}

// checkNames reports every adapter name the configuration uses that no factory provides.
func checkNames(cfg config.Config, o *options) error {
	cerr := &config.Error{}
	known := func(m []string) string {
		sort.Strings(m)
		if len(m) == 0 {
			return "none are available"
		}
		return "available: " + strings.Join(m, ", ")
	}
	for i, s := range cfg.Auth.Strategies {
		if _, ok := o.authStrategies[s]; !ok {
			cerr.Problems = append(cerr.Problems, config.Problem{
				Key:    fmt.Sprintf("auth.strategies[%d]", i),
				Reason: fmt.Sprintf("unknown strategy %q (%s)", s, known(slices.Collect(maps.Keys(o.authStrategies)))),
			})
		}
	}
	if _, ok := o.permBackends[cfg.Permissions.Backend]; !ok {
		cerr.Problems = append(cerr.Problems, config.Problem{
			Key:    "permissions.backend",
			Reason: fmt.Sprintf("unknown backend %q (%s)", cfg.Permissions.Backend, known(slices.Collect(maps.Keys(o.permBackends)))),
		})
	}
	if len(cerr.Problems) > 0 {
		return cerr
	}
	return nil
}

// NewLogger returns the slog logger [app] log_level and log_format describe.
func NewLogger(cfg config.App, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	ho := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// Mount registers the app's routes and middleware on e, and makes e answer
// errors in the framework's JSON error shape.
func (a *App) Mount(e *echo.Echo) { a.web.Mount(e) }

// Handler returns an http.Handler serving the app's routes (a new Echo instance
// with the routes mounted, made once).
func (a *App) Handler() http.Handler {
	a.handlerMu.Lock()
	defer a.handlerMu.Unlock()
	if a.handler == nil {
		a.handler = a.web.Echo()
	}
	return a.handler
}

// SystemContext returns a context acting as the framework itself in tenant
// (the default tenant when empty): for migrations, jobs and tests.
func (a *App) SystemContext(ctx context.Context, tenant string) context.Context {
	if tenant == "" {
		tenant = a.Config.Tenancy.DefaultTenantID
	}
	return ports.WithUser(ports.WithTenantID(ctx, tenant), &ports.SystemUser)
}

// Go runs fn as a background worker from Start on (at once if the app has
// started): fn gets a context cancelled at Shutdown, which waits for it to return.
func (a *App) Go(fn func(ctx context.Context)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
	case a.started:
		a.launch(fn)
	default:
		a.pending = append(a.pending, fn)
	}
}

func (a *App) launch(fn func(ctx context.Context)) {
	ctx := a.workerCtx
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		fn(ctx)
	}()
}

// Start creates the bootstrap admin when configured (or logs how to create a
// first admin) and starts the app's background workers. It returns at once.
func (a *App) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("frameworkm: app is shut down")
	}
	if a.started {
		return nil
	}
	if err := a.bootstrapAdmin(ctx); err != nil {
		return err
	}
	a.started = true
	a.workerCtx, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	for _, fn := range a.pending {
		a.launch(fn)
	}
	a.pending = nil
	return nil
}

// Shutdown stops background workers, waits for them (bounded by ctx) and closes
// the database. It is safe to call more than once.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	if a.stop != nil {
		a.stop()
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: workers still running: %w", ctx.Err())
	}
	for _, c := range a.closers {
		err = errors.Join(err, c())
	}
	return errors.Join(err, db.Close(a.DB))
}

// Serve starts the app and serves HTTP on [app] address until ctx is done, then
// drains in-flight requests (up to [app] shutdown_timeout_seconds) and shuts
// the app down. ready, when not nil, receives the bound address once listening.
func (a *App) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", a.Config.App.Address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.Config.App.Address, err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened.
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	if err := a.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Duration(a.Config.App.ReadTimeoutSeconds) * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Logger.Info("listening", "address", "http://"+ln.Addr().String())
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	timeout := time.Duration(a.Config.App.ShutdownTimeoutSeconds) * time.Second
	a.Logger.Info("shutting down", "drain_timeout", timeout)
	drain, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	shutErr := srv.Shutdown(drain)
	if shutErr != nil {
		// Requests still running after the drain timeout are cut off before
		// the database closes under them.
		a.Logger.Warn("requests still running after the drain timeout; closing their connections", "err", shutErr)
		_ = srv.Close()
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	stop, cancelStop := context.WithTimeout(context.Background(), timeout)
	defer cancelStop()
	return errors.Join(serveErr, shutErr, a.Shutdown(stop))
}
