package frameworkm

import (
	"log/slog"
	"reflect"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/adapters/tracing/otlp"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Option customises New.
type Option func(*options)

type docReg struct {
	typ  reflect.Type
	meta doctype.Meta
}

// options are what New is told: the app's DocTypes and routes, and one
// registry of backends per port.
type options struct {
	doctypes       []docReg
	logger         *slog.Logger
	authenticators []ports.Authenticator
	routes         []func(api *echo.Group)
	quietBootstrap bool
	configSource   string
	changeHandlers []changeHandler
	setups         []func(app *App) error
	meter          ports.Meter
	tracingOpts    []otlp.Option

	strategies  *registry[ports.Authenticator]
	tenants     *registry[ports.TenantResolver]
	permissions *registry[ports.PermissionEvaluator]
	sessions    *registry[ports.SessionStore]
	limiters    *registry[ports.RateLimiter]
	identities  *registry[ports.IdentityProvider]
	tokens      *registry[ports.TokenService]
	hubs        *registry[ports.Hub]
	storages    *registry[ports.Storage]
	audits      *registry[ports.AuditLog]
	renderers   *registry[ports.TemplateRenderer]
	pdfs        *registry[ports.PDFConverter]
	// emailSenders and emailQueues are [email] sender's and [email.queue]
	// backend's.
	emailSenders *registry[ports.EmailSender]
	emailQueues  *registry[ports.EmailQueue]
}

// newOptions returns the built-in backends of every port, then applies opts.
func newOptions(opts []Option) *options {
	o := &options{
		strategies:   newRegistry("auth strategy", "auth.strategy", builtinStrategies),
		tenants:      newRegistry("tenant resolver", "tenancy", builtinTenantResolvers),
		permissions:  newRegistry("permission", "permissions", builtinPermissions),
		sessions:     newRegistry("session store", "auth.session", builtinSessionStores),
		limiters:     newRegistry("rate limiter", "rate_limit", builtinRateLimiters),
		identities:   newRegistry("identity provider", "auth.identity", builtinIdentityProviders),
		tokens:       newRegistry("token service", "auth.tokens", builtinTokenServices),
		hubs:         newRegistry("hub", "hub", builtinHubs),
		storages:     newRegistry("file storage", "files", builtinStorages),
		audits:       newRegistry("audit log", "audit", builtinAudits),
		renderers:    newRegistry("template renderer", "print", builtinRenderers),
		pdfs:         newRegistry("PDF converter", "print", builtinPDFConverters),
		emailSenders: newRegistry("email sender", "email", builtinEmailSenders),
		emailQueues:  newRegistry("email queue", "email.queue", builtinEmailQueues),
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// sectionRegistries lists every registry whose backends may have a section.
func (o *options) sectionRegistries() []sectionRegistry {
	return []sectionRegistry{o.strategies, o.tenants, o.permissions, o.sessions, o.limiters, o.identities, o.tokens, o.hubs, o.storages, o.audits, o.renderers, o.pdfs, o.emailSenders, o.emailQueues}
}

// WithDocType registers the app DocType whose struct is T (embedding doctype.Base).
func WithDocType[T any](meta doctype.Meta) Option {
	return func(o *options) { o.doctypes = append(o.doctypes, docReg{typ: reflect.TypeFor[T](), meta: meta}) }
}

// WithLogger sets the logger (default: from [app] log_level and log_format, to stderr).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAuthenticator puts a ready strategy at the front of the auth chain,
// whatever the configuration says (tests use it for a test strategy).
func WithAuthenticator(a ports.Authenticator) Option {
	return func(o *options) { o.authenticators = append(o.authenticators, a) }
}

// WithRoutes adds the app's own routes under /api/v1, behind the framework's
// middleware: request id, access log, panic recovery, authentication, tenant and
// maintenance mode. Handlers read the principal with ports.UserFrom and the tenant
// with ports.TenantFrom from c.Request().Context(); wrap a route with
// web.RequireUser to refuse anonymous requests.
func WithRoutes(fn func(api *echo.Group)) Option {
	return func(o *options) { o.routes = append(o.routes, fn) }
}

// WithConfigSource names the configuration file the app was started with, for
// messages that tell the operator what to change.
func WithConfigSource(path string) Option { return func(o *options) { o.configSource = path } }

// WithChangeHandler subscribes h to the committed changes of doctype
// (ports.AllDocTypes for every DocType) when the App is built — the way to
// subscribe for apps whose main is frameworkm.Run. After New,
// App.Changes.Subscribe does the same.
func WithChangeHandler(doctype string, h ports.ChangeHandler) Option {
	return func(o *options) { o.changeHandlers = append(o.changeHandlers, changeHandler{doctype, h}) }
}

// WithSetup runs fn on the App at the end of New, every service built and
// before anything is served: the place for app code that needs the App
// (queueing emails from a change handler, say) in apps whose main is
// frameworkm.Run. An error fails New.
func WithSetup(fn func(app *App) error) Option {
	return func(o *options) { o.setups = append(o.setups, fn) }
}

type changeHandler struct {
	doctype string
	h       ports.ChangeHandler
}
