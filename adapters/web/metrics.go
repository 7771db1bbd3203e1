package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// MetricsPath serves the Prometheus exposition ([metrics] enabled).
const MetricsPath = "/metrics"

// The web adapter's metrics. Their label values come from fixed sets only:
// route templates (never raw paths), a bounded set of methods, status codes,
// strategy names, registered DocType names and the two limit scopes.
const (
	metricRequests     = "fm_http_requests_total"
	metricDuration     = "fm_http_request_duration_seconds"
	metricAuthFailures = "fm_auth_failures_total"
	metricDenials      = "fm_permission_denials_total"
	metricRateLimited  = "fm_rate_limit_rejections_total"
)

// Fixed label values.
const (
	// routeUnmatched is the route of requests no route matched (404s and
	// 405s of /api/v1): their raw paths would let any client add series.
	routeUnmatched = "unmatched"
	// methodOther stands for every method outside the standard ones.
	methodOther = "OTHER"
	// doctypeNone labels denials on routes that name no registered DocType.
	doctypeNone = "(none)"
	// strategyLogin labels failed password logins (POST /auth/login).
	strategyLogin = "login"
	// strategyUnknown labels a refused credential no strategy claims (a
	// principal check's refusal, say).
	strategyUnknown = "unknown"
)

// webMetrics are the instruments of the web adapter. A nil *webMetrics
// records nothing (Deps.Meter nil: metrics off), so callers need no check.
type webMetrics struct {
	requests     ports.Counter
	duration     ports.Histogram
	authFailures ports.Counter
	denials      ports.Counter
	rateLimited  ports.Counter
	// registry turns a URL's DocType into its registered name (nil: none).
	registry *doctype.Registry
}

// newWebMetrics creates the instruments on m (nil: metrics off, nil).
func newWebMetrics(m ports.Meter, registry *doctype.Registry) *webMetrics {
	if m == nil {
		return nil
	}
	return &webMetrics{
		requests: m.Counter(metricRequests,
			"HTTP requests answered, by route template, method and status code.", "route", "method", "status"),
		duration: m.Histogram(metricDuration,
			"Time from the start of the middleware chain to the last byte written, by route template and method.",
			ports.DurationBuckets, "route", "method"),
		authFailures: m.Counter(metricAuthFailures,
			"Requests refused for an invalid credential, by authentication strategy (login: a failed password login).", "strategy"),
		denials: m.Counter(metricDenials,
			"Requests answered 403, by the registered DocType the route names ((none): no DocType).", "doctype"),
		rateLimited: m.Counter(metricRateLimited,
			"Requests refused by a rate limit, by scope (address: per client address; user: per user).", "scope"),
		registry: registry,
	}
}

// observe is the outermost middleware of the framework's routes: it counts
// every request by route template, method and status, and times it.
func (m *webMetrics) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Nothing inside wrote the error: write it now, so its status is
			// counted (what accessLog does).
			c.Error(err)
			err = nil
		}
		route, method := routeLabel(c.Path()), methodLabel(c.Request().Method)
		status := c.Response().Status
		m.requests.Add(1, route, method, statusLabel(status))
		if status != http.StatusSwitchingProtocols {
			// A WebSocket's handler returns when the stream ends: its
			// lifetime is no request latency (fm_websocket_connections
			// counts the streams).
			m.duration.Observe(time.Since(start).Seconds(), route, method)
		}
		return err
	}
}

// routeLabel is the route template of a request: its Echo path pattern, or
// routeUnmatched for the API group's not-found routes (see Mount) and a
// request no route matched.
func routeLabel(path string) string {
	switch path {
	case "", APIPrefix, APIPrefix + "/*":
		return routeUnmatched
	}
	return path
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return methodOther
}

// statusLabels are the status codes as strings, made once.
var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(status int) string {
	if status >= 0 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// authFailed counts a credential the chain refused, under the name of the
// strategy that took it: the first that supports the request (the chain's
// rule).
func (m *webMetrics) authFailed(chain *auth.Chain, h http.Header) {
	if m == nil {
		return
	}
	name := strategyUnknown
	for _, s := range chain.Strategies() {
		if s.Supports(h) {
			name = s.Name()
			break
		}
	}
	m.authFailures.Add(1, name)
}

// errorAnswered counts what an error answer says about auth: a 403 as a
// denial of the DocType the route names, a 401 to a password login as an
// authentication failure.
func (m *webMetrics) errorAnswered(c echo.Context, status int) {
	if m == nil {
		return
	}
	switch status {
	case http.StatusForbidden:
		m.denials.Add(1, m.doctypeLabel(c))
	case http.StatusUnauthorized:
		if isLogin(c.Request()) {
			m.authFailures.Add(1, strategyLogin)
		}
	}
}

// doctypeLabel is the registered name of the DocType the route names in its
// :doctype parameter, or doctypeNone: a name the registry does not know
// never becomes a label value.
func (m *webMetrics) doctypeLabel(c echo.Context) string {
	if m.registry == nil {
		return doctypeNone
	}
	for _, p := range c.ParamNames() {
		if p != "doctype" {
			continue
		}
		if dt, ok := m.registry.Get(param(c, "doctype")); ok {
			return dt.Name
		}
	}
	return doctypeNone
}

// Rate-limit scopes.
const (
	scopeAddress = "address"
	scopeUser    = "user"
)

// limitRejected counts a request a limit of scope refused.
func (m *webMetrics) limitRejected(scope string) {
	if m == nil {
		return
	}
	m.rateLimited.Add(1, scope)
}

// metricsHandler serves GET /metrics, behind a bearer token when one is set.
type metricsHandler struct {
	handler http.Handler
	// tokenSum is the SHA-256 of the token (nil: no token required): the
	// comparison then takes the same time whatever the length sent.
	tokenSum []byte
}

// bindMetrics serves handler (the metrics exposition) at GET /metrics on e,
// behind base; with a token, only to requests carrying Authorization:
// Bearer <token> (others get 401 in the JSON error shape). A nil handler
// binds nothing (metrics off, or on a listener of their own: see
// MetricsServer).
func bindMetrics(e *echo.Echo, base []echo.MiddlewareFunc, handler http.Handler, token string, docs *routeDocs) {
	if handler == nil {
		return
	}
	h := metricsHandler{handler: handler}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		h.tokenSum = sum[:]
	}
	d := route{tag: "Operations", summary: "Prometheus metrics", access: public,
		description: "The Prometheus text exposition: requests by route template, method and status, latencies, auth failures, permission denials, rate-limit rejections, the database pool, the email queue, audit, WebSockets, storage and PDFs. With [metrics] token set, send it as Authorization: Bearer <token> (401 otherwise).",
		responses:   replies(replyAs(http.StatusOK, "the metrics", "text/plain", str()))}
	docs.add(e.GET(MetricsPath, h.serve, base...), d)
}

func (h metricsHandler) serve(c echo.Context) error {
	if h.tokenSum != nil {
		req := c.Request()
		values := req.Header.Values(echo.HeaderAuthorization)
		got, ok := "", len(values) == 1
		if ok {
			got, ok = bearerToken(values[0])
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], h.tokenSum) != 1 || !ok {
			return core.Public(core.ErrUnauthorized, "the metrics token is required: send it as Authorization: Bearer <token>")
		}
	}
	h.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// bearerToken returns the token of an Authorization: Bearer header value.
func bearerToken(v string) (string, bool) {
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// MetricsServer returns the handler of a listener of its own for metrics
// ([metrics] address): GET /metrics serving handler, behind token when it is
// not empty, and the JSON error shape for everything else. log receives its
// errors (nil: slog.Default()).
func MetricsServer(handler http.Handler, token string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	eh := &errorHandler{log: log}
	e.HTTPErrorHandler = eh.handle
	e.Pre(headAsGet(e))
	bindMetrics(e, []echo.MiddlewareFunc{assignRequestID, recoverPanic}, handler, token, nil)
	return e
}
