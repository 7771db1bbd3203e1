package frameworkm

import (
	"log/slog"
	"reflect"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Deps are what adapter factories get to build their adapter.
type Deps struct {
	Config     config.Config
	Logger     *slog.Logger
	Registry   *doctype.Registry
	DB         *gorm.DB
	Repository ports.Repository
	// AuthService runs the credential checks strategies delegate to.
	AuthService *auth.Service
	// Hydrator builds principals from gateway headers (federated identity).
	Hydrator ports.HeaderHydrator
}

// AuthStrategyFactory builds an auth-chain strategy named in [auth] strategies.
type AuthStrategyFactory func(d Deps) (ports.Authenticator, error)

// TenantResolverFactory builds the tenant resolver of a [tenancy] mode.
type TenantResolverFactory func(d Deps) (ports.TenantResolver, error)

// PermissionFactory builds the evaluator named by [permissions] backend.
type PermissionFactory func(d Deps) (ports.PermissionEvaluator, error)

// Option customises New.
type Option func(*options)

type docReg struct {
	typ  reflect.Type
	meta doctype.Meta
}

type options struct {
	doctypes        []docReg
	logger          *slog.Logger
	authStrategies  map[string]AuthStrategyFactory
	authenticators  []ports.Authenticator
	permBackends    map[string]PermissionFactory
	tenantResolvers map[string]TenantResolverFactory
	routes          []func(api *echo.Group)
	quietBootstrap  bool
}

// WithDocType registers the app DocType whose struct is T (embedding doctype.Base).
func WithDocType[T any](meta doctype.Meta) Option {
	return func(o *options) { o.doctypes = append(o.doctypes, docReg{typ: reflect.TypeFor[T](), meta: meta}) }
}

// WithLogger sets the logger (default: from [app] log_level and log_format, to stderr).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAuthStrategy adds an auth strategy factory under name, to be chosen in
// [auth] strategies like a built-in one.
func WithAuthStrategy(name string, f AuthStrategyFactory) Option {
	return func(o *options) { o.authStrategies[name] = f }
}

// WithAuthenticator puts a ready strategy at the front of the auth chain,
// whatever the configuration says (tests use it for a test strategy).
func WithAuthenticator(a ports.Authenticator) Option {
	return func(o *options) { o.authenticators = append(o.authenticators, a) }
}

// WithPermissionBackend adds a permission evaluator factory under name, to be
// chosen with [permissions] backend.
func WithPermissionBackend(name string, f PermissionFactory) Option {
	return func(o *options) { o.permBackends[name] = f }
}

// WithRoutes adds the app's own routes under /api/v1, behind the framework's
// middleware: request id, access log, panic recovery, authentication, tenant and
// maintenance mode. Handlers read the principal with ports.UserFrom and the tenant
// with ports.TenantFrom from c.Request().Context(); wrap a route with
// web.RequireUser to refuse anonymous requests.
func WithRoutes(fn func(api *echo.Group)) Option {
	return func(o *options) { o.routes = append(o.routes, fn) }
}

// WithTenantResolver replaces the tenant resolver of a [tenancy] mode ("single"
// or "multi"): e.g. tenants from subdomains, or from a tenant table.
func WithTenantResolver(mode string, f TenantResolverFactory) Option {
	return func(o *options) { o.tenantResolvers[mode] = f }
}
