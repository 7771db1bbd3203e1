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
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	goredis "github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/adapters/tracing/otlp"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/audit"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/core/email/drafts"
	"github.com/framework-m/framework-m/core/errorlog"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/notify"
	printing "github.com/framework-m/framework-m/core/print"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/core/roles"
	"github.com/framework-m/framework-m/core/settings"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

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
	// Repository is the tenant-scoped document store; every create, update
	// and delete through it emits a change event after commit.
	Repository ports.Repository
	// Changes delivers committed document changes of every DocType.
	Changes *events.Feed
	// Roles knows each tenant's roles: built-in, named by DocType rules, and
	// the tenant's Role rows; it checks assignments and drops disabled roles.
	Roles *roles.Service
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
	// UserAdmin is user administration for admins (/api/v1/users, the CLI).
	UserAdmin *auth.UserAdmin
	// Hub links this instance to the others sharing its database ([hub];
	// nil for one instance).
	Hub ports.Hub
	// Files stores files ([files]): uploads, downloads, attachments.
	Files *files.Service
	// Notifications stores in-app notifications and pushes them to their
	// users' streams ([notifications]).
	Notifications *notify.Service
	// Audit is the audit trail ([audit]; nil when backend = "off").
	Audit *audit.Service
	// Print prints documents to HTML and PDF ([print]).
	Print *printing.Service
	// Email queues emails and sends them in the background ([email]).
	Email *email.Service
	// EmailDrafts keeps users' email drafts ([email.drafts]).
	EmailDrafts *drafts.Service
	// MagicLinks sends sign-in links by email ([auth.magic_link]; nil when
	// off).
	MagicLinks *auth.MagicLinks
	// OAuth signs users in with OAuth2/OIDC providers ([auth.oauth]; nil when off).
	OAuth *auth.OAuth
	// Meter records the app's metrics ([metrics]; ports.NopMeter when off).
	// Apps add their own instruments to it.
	Meter ports.Meter

	store          *db.Repository
	shared         *Shared
	dependencies   []ports.Dependency
	closers        []io.Closer
	bootstrapHint  string
	quietBootstrap bool

	web            *web.Server
	metricsHandler http.Handler
	tracing        *otlp.Tracing
	handler        http.Handler
	handlerMu      sync.Mutex

	mu        sync.Mutex
	started   bool
	closed    bool
	workerCtx context.Context
	pending   []func(ctx context.Context)
	stop      context.CancelFunc
	workers   sync.WaitGroup
}

// New builds an App from cfg: it checks the configuration against the
// registered backends, opens the database, registers the built-in and the
// app's DocTypes, migrates them when [database] auto_migrate is on, and builds
// every adapter the configuration names.
func New(cfg config.Config, opts ...Option) (*App, error) {
	o := newOptions(opts)
	ignored, err := o.check(cfg)
	if err != nil {
		return nil, err
	}
	log := o.logger
	if log == nil {
		log = NewLogger(cfg.App, os.Stderr)
	}
	for _, key := range ignored {
		log.Warn(o.ignoredWarning(key), "section", key)
	}
	app := &App{Config: cfg, Logger: log, shared: &Shared{}, bootstrapHint: o.bootstrapHint(), quietBootstrap: o.quietBootstrap}
	ok := false
	defer func() {
		if !ok {
			_ = app.closeAll(context.Background())
		}
	}()
	if err := app.buildTracing(o); err != nil {
		return nil, err
	}
	if err := app.buildStore(o); err != nil {
		return nil, err
	}
	if err := app.buildMetrics(o); err != nil {
		return nil, err
	}
	deps := Deps{Config: cfg, Logger: log, Registry: app.Registry, Repository: app.Repository, Store: app.store, Purger: app.store,
		Changes: app.Changes, Shared: app.shared, Hydrator: federated.New(cfg.Auth.Headers), Tracer: app.tracer()}
	if err := app.buildHub(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildPermissions(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildTenants(o, deps); err != nil {
		return nil, err
	}
	app.Resources = resource.New(app.Repository, app.Registry, app.Permissions, log)
	if cfg.Permissions.RestrictPermissionChanges {
		app.Resources.RestrictToAdmins(cfg.Permissions.AdminRoles)
	}
	app.buildRoles()
	app.Settings = settings.New(app.Resources, app.Changes, doctypes.SystemSettingsDocType, settings.DefaultTTL)
	app.Errors = errorlog.New(app.Repository, doctypes.ErrorLogDocType, doctypes.NewErrorLog, cfg.Tenancy.DefaultTenantID)
	limiter, err := app.buildRateLimiter(o, deps)
	if err != nil {
		return nil, err
	}
	if err := app.buildIdentity(o, &deps, limiter); err != nil {
		return nil, err
	}
	app.guardUserRecords()
	if err := app.buildAudit(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildFiles(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildNotifications(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildPrint(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildEmail(o, deps); err != nil {
		return nil, err
	}
	if err := app.buildEmailDrafts(); err != nil {
		return nil, err
	}
	if err := app.buildMagicLinks(deps, limiter); err != nil {
		return nil, err
	}
	if err := app.buildOAuth(deps); err != nil {
		return nil, err
	}
	if err := app.buildAuthChain(o, deps); err != nil {
		return nil, err
	}
	// Roles asserted by a gateway must exist and be enabled in the tenant.
	app.Auth.WithCheck("header", app.Roles.CheckPrincipal)
	explainer, _ := app.Permissions.(ports.PermissionExplainer) // nil: decided by a policy service
	app.web = web.New(web.Deps{
		Config:         cfg,
		Logger:         log,
		Registry:       app.Registry,
		Resources:      app.Resources,
		Settings:       app.Settings,
		Auth:           app.Auth,
		Errors:         app.Errors,
		Dependencies:   app.readiness(),
		Routes:         o.routes,
		AuthService:    app.AuthService,
		Accounts:       app.Accounts,
		Users:          app.UserAdmin,
		GatewayHeaders: append(deps.Hydrator.IdentityHeaders(), cfg.Tenancy.TenantHeader, cfg.Tenancy.AttributesHeader),
		Tenants:        app.Tenants,
		RateLimiter:    limiter,
		Roles:          app.Roles,
		Explainer:      explainer,
		Files:          app.Files,
		Notifications:  app.Notifications,
		Activity:       app.activityFeed(),
		Print:          app.Print,
		Email:          app.Email,
		EmailDrafts:    app.EmailDrafts,
		MagicLinks:     app.MagicLinks,
		OAuth:          app.OAuth,
		OpenAPI:        openAPIOptions(cfg),
		Tracer:         app.tracer(),
		Propagator:     app.tracing.Propagator(),
		Meter:          recording(app.Meter),
		MetricsHandler: app.webMetrics(),
		MetricsToken:   cfg.Metrics.Token,
	})
	for _, setup := range o.setups {
		if err := setup(app); err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
	}
	ok = true
	return app, nil
}

// buildRoles makes the tenant's roles the ones that exist: role assignments
// are checked, disabled roles grant nothing, roles in use cannot be deleted.
func (a *App) buildRoles() {
	cfg := a.Config
	a.Roles = roles.New(a.Repository, a.Registry, a.Changes, roles.Options{
		RoleDocType: doctypes.RoleDocType, UserDocType: doctypes.LocalUserDocType,
		PermissionDocType: doctypes.CustomPermissionDocType, AdminRoles: cfg.Permissions.AdminRoles,
		TTL: time.Duration(cfg.Permissions.CustomCacheSeconds) * time.Second, Logger: a.Logger,
	})
	a.Roles.Install(a.Resources)
}

// guardUserRecords keeps the users API's rules — never the last enabled
// admin, never your own admin role — for Local User rows written through the
// generic resource API too.
func (a *App) guardUserRecords() {
	if a.UserAdmin == nil {
		return
	}
	a.Resources.Guard(doctypes.LocalUserDocType, func(ctx context.Context, action ports.Action, before, after any) error {
		old, ok := before.(*doctypes.LocalUser)
		if !ok { // a create demotes nobody
			return nil
		}
		prev := &ports.User{ID: old.Name, Email: old.Email, Roles: old.Roles, IsActive: old.IsActive}
		if action == ports.ActionDelete {
			return a.UserAdmin.GuardRecord(ctx, prev, nil, false)
		}
		next, ok := after.(*doctypes.LocalUser)
		if !ok {
			return nil
		}
		return a.UserAdmin.GuardRecord(ctx, prev, next.Roles, next.IsActive)
	})
}

// buildStore registers the DocTypes, opens and migrates the database, and
// wraps the repository so every write emits a change event after commit.
func (a *App) buildStore(o *options) error {
	reg, err := buildRegistry(a.Config, o)
	if err != nil {
		return err
	}
	a.Registry = reg
	ctx := context.Background()
	gdb, err := db.Open(ctx, a.Config.Database, a.Config.App.DataDir, a.Logger, db.WithTracerProvider(a.tracer()))
	if err != nil {
		return err
	}
	a.DB = gdb
	a.store = db.New(gdb, reg)
	a.adopt(a.store) // Run: SQLite's WAL checkpoints, off the write path
	if a.Config.Database.AutoMigrate {
		if err := a.store.Migrate(ctx); err != nil {
			return err
		}
	}
	a.Changes = &events.Feed{}
	for _, ch := range o.changeHandlers {
		a.Changes.Subscribe(ch.doctype, ch.h)
	}
	a.Repository = events.NewRepository(a.store, a.Changes, nil)
	return nil
}

// buildRegistry registers the built-in DocTypes and the app's.
func buildRegistry(cfg config.Config, o *options) (*doctype.Registry, error) {
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
	return reg, nil
}

// adopt finds the optional lifecycles of what a factory built: background
// work (Run(ctx), started with the app) and closing (io.Closer, at Shutdown).
func (a *App) adopt(v any) {
	if r, ok := v.(interface{ Run(ctx context.Context) }); ok {
		a.Go(r.Run)
	}
	if c, ok := v.(io.Closer); ok {
		a.closers = append(a.closers, c)
	}
	if r, ok := v.(ports.Readiness); ok {
		a.dependencies = append(a.dependencies, r.Readiness())
	}
}

// readiness lists what /readyz checks: the database, the shared Redis when an
// adapter opened it, the hub, and every adapter's own (ports.Readiness).
func (a *App) readiness() []ports.Dependency {
	deps := append([]ports.Dependency{{Name: "database", Required: true, Check: a.Repository.Ping}}, a.dependencies...)
	if c, ok := a.shared.client("redis").(*goredis.Client); ok {
		deps = append(deps, ports.Dependency{Name: "redis", Required: redisRequired(a.Config),
			Check: func(ctx context.Context) error { return c.Ping(ctx).Err() }})
	}
	if a.Hub != nil {
		deps = append(deps, ports.Dependency{Name: "hub", Check: func(context.Context) error {
			if !a.Changes.Synced() {
				return errors.New("not subscribed: caches answer from the database")
			}
			return nil
		}})
	}
	return deps
}

// redisRequired reports whether the app cannot serve without [redis]: when it
// holds the sessions or a hub (caches' or notifications'), or the login
// throttle fails closed on it.
// (The API rate limit alone lets requests through.)
func redisRequired(cfg config.Config) bool {
	return cfg.Auth.Session.Backend == "redis" || hubName(cfg) == "redis" || cfg.Notifications.Hub == "redis" ||
		(cfg.RateLimit.Backend == "redis" && cfg.Auth.Throttle.OnError == "closed")
}

// Migrate creates or alters the tables of every registered DocType.
func (a *App) Migrate(ctx context.Context) error { return a.store.Migrate(ctx) }

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
	hint := a.bootstrapHint
	if a.quietBootstrap {
		hint = ""
	}
	b := a.Config.Auth.BootstrapAdmin
	if err := a.Users.BootstrapAdmin(a.SystemContext(ctx, ""), auth.Bootstrap{Email: b.Email, Password: b.Password, Hint: hint}, a.Logger); err != nil {
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
	return errors.Join(err, a.closeAll(ctx))
}

// closeAll closes what the factories built, newest first, then shared
// clients and the database, and last flushes the traces: until ctx's
// deadline, or for at most traceFlushTimeout when it has none.
func (a *App) closeAll(ctx context.Context) error {
	var err error
	for i := len(a.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, a.closers[i].Close())
	}
	a.closers = nil
	err = errors.Join(err, a.shared.Close())
	if a.DB != nil {
		err = errors.Join(err, db.Close(a.DB))
	}
	if a.tracing != nil {
		// Last: it flushes the spans of everything above.
		flush, cancel := context.WithTimeout(ctx, traceFlushTimeout)
		defer cancel()
		err = errors.Join(err, a.tracing.Shutdown(flush))
		a.tracing = nil
	}
	return err
}

// Serve starts the app and serves HTTP on [app] address until ctx is done, then
// drains in-flight requests (up to [app] shutdown_timeout_seconds) and shuts
// the app down. ready, when not nil, receives the bound address once listening.
func (a *App) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	// Start first: a bootstrap admin the password policy refuses stops the
	// server before it says it is listening.
	if err := a.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.Config.App.Address)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", a.Config.App.Address, err), a.Shutdown(context.WithoutCancel(ctx)))
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
