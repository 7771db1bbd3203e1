// Package citadel is the permission evaluator that asks an external policy
// service: a Cedar-compatible authorization endpoint (the Python framework's
// Citadel shape) or OPA's Data API.
//
// Every decision is one POST to the configured endpoint. Format "citadel"
// sends
//
//	{"principal": "ann", "action": "Invoice:read", "resource": "Invoice:INV-1",
//	 "tenant_id": "t", "context": {<the document>}, "principal_attributes": {…},
//	 "resource_attributes": {<the document>}, "roles": ["Accounts User"]}
//
// and expects {"allowed": bool, "reason": "…", "policy_id": "…"}. Format "opa"
// sends {"input": <the same object>} to a Data API path such as
// /v1/data/framework/authz and expects {"result": {"allowed": …, …}} or
// {"result": true|false}; an undefined decision (no "result") is a denial.
//
// The resource is "<DocType>:*" when the request names no document (a list or
// a create form); context and resource_attributes are {} exactly when the
// request carries no document, which is how a policy tells a type-level check
// from a document check. List requests (PermittedFilters) add "list": true,
// and the answer may carry "filters" — a list of {"field", "op", "value"}
// (ANDed, each element possibly an {"any": [[…], …]} group) or one
// {"any": [[…], …]} object (OR of AND-groups) — that become repository
// filters for row-level security. The answer may also name its
// "decision_source" (rbac, abac, rebac, combo, custom; default custom).
//
// A service that is down, slower than timeout_ms, answers a non-2xx status or
// anything that is not a well-formed decision never fails a request: the
// fallback decides. With fallback = "rbac" the evaluator given by
// WithFallback (the RBAC adapter) decides; otherwise fallback_on_error allows
// and its default denies. The decision's reason says that the fallback was
// used and why, and the failure is logged at warn level at most once per ten
// seconds per kind of failure.
package citadel

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/quietlog"
	"github.com/framework-m/framework-m/ports"
)

// Request formats (Config.Format).
const (
	// FormatCitadel is the Cedar-compatible {principal, action, resource, …} →
	// {allowed, reason, policy_id} exchange.
	FormatCitadel = "citadel"
	// FormatOPA is OPA's Data API: {"input": …} → {"result": …}.
	FormatOPA = "opa"
)

// FallbackRBAC (Config.Fallback) makes the evaluator given by
// WithFallback decide while the service fails.
const FallbackRBAC = "rbac"

// DefaultTimeout bounds a call when Config.TimeoutMS is 0.
const DefaultTimeout = 500 * time.Millisecond

// MaxResponseBytes bounds the body of an answer; a longer one is a failure.
const MaxResponseBytes = 1 << 20

// LogInterval is the least time between two warnings about the same kind of
// failure, so that an outage does not flood the log.
const LogInterval = 10 * time.Second

// maxFilterDepth bounds the nesting of "any" groups in returned filters.
const maxFilterDepth = 8

// Config is the [permissions.citadel] section: an external policy service, a
// Cedar-style authorization endpoint or OPA's Data API.
type Config struct {
	// Endpoint receives the decision requests (POST).
	Endpoint string `toml:"endpoint"`
	// Format is "citadel" ({principal, action, resource, …} → {allowed, …}) or
	// "opa" ({"input": …} → {"result": …}).
	Format string `toml:"format"`
	// TimeoutMS bounds each call.
	TimeoutMS int `toml:"timeout_ms"`
	// FallbackOnError allows requests while the service fails (default: deny).
	FallbackOnError bool `toml:"fallback_on_error"`
	// Fallback = "rbac" evaluates DocType rules while the service fails
	// (it wins over FallbackOnError).
	Fallback string `toml:"fallback"`
	// Token is sent as a bearer token, when set.
	Token string `toml:"token"`
}

// DefaultConfig returns the documented defaults of [permissions.citadel].
func DefaultConfig() Config { return Config{Format: FormatCitadel, TimeoutMS: 500} }

// Validate checks the values of a [permissions.citadel] table, selected or
// not; the fields of its *core.ValidationError are keys of the section
// ("endpoint", "format" …).
func (c Config) Validate() error { return c.check("", false, true).Err() }

// Required checks what the backend needs once selected: an endpoint.
func (c Config) Required() error { return c.check("", true, true).Err() }

// check validates c, naming each field with prefix. required asks for an
// endpoint; fromFile refuses timeout_ms = 0 (New, called from code, reads 0
// as DefaultTimeout).
func (c Config) check(prefix string, required, fromFile bool) *core.ValidationError {
	verr := &core.ValidationError{}
	if ep := strings.TrimSpace(c.Endpoint); ep == "" {
		if required {
			verr.Add(prefix+"endpoint", "is required: an http(s) URL such as http://127.0.0.1:8181/v1/data/framework/authz")
		}
	} else if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		verr.Add(prefix+"endpoint", fmt.Sprintf("must be an http(s) URL such as http://127.0.0.1:8181/v1/data/framework/authz, not %q", redact(ep)))
	}
	switch c.Format {
	case "", FormatCitadel, FormatOPA:
	default:
		verr.Add(prefix+"format", fmt.Sprintf("must be one of %s, %s, not %q", FormatCitadel, FormatOPA, c.Format))
	}
	lowest := 0
	if fromFile {
		lowest = 1
	}
	if c.TimeoutMS < lowest || c.TimeoutMS > 60000 {
		verr.Add(prefix+"timeout_ms", fmt.Sprintf("must be between %d and 60000, not %d", lowest, c.TimeoutMS))
	}
	switch c.Fallback {
	case "", FallbackRBAC:
	default:
		verr.Add(prefix+"fallback", fmt.Sprintf(`must be "" or %q, not %q`, FallbackRBAC, c.Fallback))
	}
	return verr
}

// redact hides a URL's password for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// Option configures an Adapter.
type Option func(*Adapter)

// WithFallback sets the evaluator that decides while the service fails when
// the configuration says fallback = "rbac" (the composition root passes the
// RBAC adapter). It is ignored otherwise.
func WithFallback(e ports.PermissionEvaluator) Option {
	return func(a *Adapter) { a.fallback = e }
}

// WithHTTPClient sets the client that calls the service. Its own Timeout, if
// any, applies on top of the configured timeout_ms.
func WithHTTPClient(c *http.Client) Option {
	return func(a *Adapter) {
		if c != nil {
			a.client = c
		}
	}
}

// WithLogger sets the logger of fallback warnings (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(a *Adapter) {
		if l != nil {
			a.log = l
		}
	}
}

// Adapter evaluates permissions with an external policy service. It is safe
// for concurrent use.
type Adapter struct {
	endpoint        string
	logEndpoint     string // endpoint without a password, for logs
	opa             bool
	token           string
	timeout         time.Duration
	fallbackOnError bool
	useFallback     bool
	fallback        ports.PermissionEvaluator
	client          *http.Client
	tracer          trace.TracerProvider // nil: no spans
	log             *slog.Logger
	warnings        quietlog.Limiter
	failing         atomic.Bool
}

// New returns an evaluator calling cfg.Endpoint. The configuration is checked
// here: a missing or non-HTTP endpoint, an unknown format or fallback, a
// negative timeout, or fallback "rbac" without WithFallback is an error
// matching core.ErrValidation.
func New(cfg Config, opts ...Option) (*Adapter, error) {
	a := &Adapter{
		endpoint:        strings.TrimSpace(cfg.Endpoint),
		token:           cfg.Token,
		timeout:         time.Duration(cfg.TimeoutMS) * time.Millisecond,
		fallbackOnError: cfg.FallbackOnError,
		log:             slog.Default(),
	}
	for _, o := range opts {
		o(a)
	}
	verr := cfg.check("permissions.citadel.", true, false)
	if u, err := url.Parse(a.endpoint); err == nil {
		a.logEndpoint = u.Redacted()
	}
	a.opa = cfg.Format == FormatOPA
	if cfg.TimeoutMS == 0 {
		a.timeout = DefaultTimeout
	}
	if cfg.Fallback == FallbackRBAC {
		a.useFallback = true
		if a.fallback == nil {
			verr.Add("permissions.citadel.fallback", `"rbac" needs the RBAC evaluator (citadel.WithFallback)`)
		}
	}
	if err := verr.Err(); err != nil {
		return nil, fmt.Errorf("citadel: %w", err)
	}
	if a.client == nil {
		a.client = defaultClient()
	}
	if a.tracer != nil {
		a.client = traced(a.client, a.tracer)
	}
	a.warnings.Interval = LogInterval
	return a, nil
}

// defaultClient keeps enough idle connections for concurrent decisions and
// does not follow redirects (a redirect is a misconfigured endpoint).
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Evaluate asks the service to decide req; the fallback decides when the
// service fails. An error is returned only when ctx ends first, the document
// cannot be encoded, or the fallback evaluator fails.
func (a *Adapter) Evaluate(ctx context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	if slices.Contains(req.Roles, ports.RoleSystem) {
		// The framework's own reads and writes (settings, error logs, jobs)
		// never depend on the policy service being up.
		return ports.PolicyResult{Authorized: true, Source: ports.SourceCustom, Reason: "system principal"}, nil
	}
	tenant := req.TenantID
	if tenant == "" {
		tenant = ports.TenantIDFrom(ctx)
	}
	body, err := a.encode(wireRequest{
		Principal:           req.PrincipalID,
		Action:              req.DocType + ":" + string(req.Action),
		TenantID:            tenant,
		PrincipalAttributes: req.PrincipalAttributes,
		Roles:               req.Roles,
	}, req.DocType, req.DocName, req.Doc)
	if err != nil {
		return ports.PolicyResult{Source: ports.SourceCustom, Reason: "request not encodable"}, fmt.Errorf("citadel: %s %s: %w", req.DocType, req.Action, err)
	}
	d, fail := a.call(ctx, body, false)
	if fail != nil {
		if err := ctx.Err(); err != nil {
			return ports.PolicyResult{Source: ports.SourceCustom, Reason: "request ended"}, fmt.Errorf("citadel: %s %s: %w", req.DocType, req.Action, err)
		}
		return a.fallbackEvaluate(ctx, req, fail)
	}
	res := ports.PolicyResult{Authorized: d.allowed, Source: d.source, Reason: d.reason, PolicyID: d.policyID}
	if res.Reason == "" {
		res.Reason = "policy service denied"
		if res.Authorized {
			res.Reason = "policy service allowed"
		}
	}
	return res, nil
}

// PermittedFilters asks the service for a type-level list decision
// (resource "<DocType>:*", empty context, "list": true): a denial is
// core.ErrForbidden, an allowance without filters is nil (every row), and
// returned filters restrict the rows. The fallback decides when the service
// fails.
func (a *Adapter) PermittedFilters(ctx context.Context, u *ports.UserContext, doctype string, action ports.Action) ([]ports.Filter, error) {
	if u == nil {
		return nil, fmt.Errorf("citadel: %s %s without a principal: %w", doctype, action, core.ErrForbidden)
	}
	if u.IsSystemUser() {
		return nil, nil
	}
	tenant := ports.TenantIDFrom(ctx)
	if tenant == "" {
		tenant = u.TenantID
	}
	body, err := a.encode(wireRequest{
		Principal:           u.ID,
		Action:              doctype + ":" + string(action),
		TenantID:            tenant,
		PrincipalAttributes: u.Attributes,
		Roles:               u.AllRoles(),
		List:                true,
	}, doctype, "", nil)
	if err != nil {
		return nil, fmt.Errorf("citadel: list %s: %w", doctype, err)
	}
	d, fail := a.call(ctx, body, true)
	if fail != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("citadel: list %s: %w", doctype, err)
		}
		return a.fallbackFilters(ctx, u, doctype, action, fail)
	}
	if !d.allowed {
		reason := d.reason
		if reason == "" {
			reason = "policy service denied"
		}
		return nil, fmt.Errorf("citadel: %s %s list: %s: %w", doctype, action, reason, core.ErrForbidden)
	}
	return d.filters, nil
}
