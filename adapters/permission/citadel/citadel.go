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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// Request formats (config.Citadel.Format).
const (
	// FormatCitadel is the Cedar-compatible {principal, action, resource, …} →
	// {allowed, reason, policy_id} exchange.
	FormatCitadel = "citadel"
	// FormatOPA is OPA's Data API: {"input": …} → {"result": …}.
	FormatOPA = "opa"
)

// FallbackRBAC (config.Citadel.Fallback) makes the evaluator given by
// WithFallback decide while the service fails.
const FallbackRBAC = "rbac"

// DefaultTimeout bounds a call when config.Citadel.TimeoutMS is 0.
const DefaultTimeout = 500 * time.Millisecond

// MaxResponseBytes bounds the body of an answer; a longer one is a failure.
const MaxResponseBytes = 1 << 20

// LogInterval is the least time between two warnings about the same kind of
// failure, so that an outage does not flood the log.
const LogInterval = 10 * time.Second

// maxFilterDepth bounds the nesting of "any" groups in returned filters.
const maxFilterDepth = 8

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
	log             *slog.Logger
	warnings        logLimiter
	failing         atomic.Bool
}

// New returns an evaluator calling cfg.Endpoint. The configuration is checked
// here: a missing or non-HTTP endpoint, an unknown format or fallback, a
// negative timeout, or fallback "rbac" without WithFallback is an error
// matching core.ErrValidation.
func New(cfg config.Citadel, opts ...Option) (*Adapter, error) {
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
	verr := &core.ValidationError{}
	if a.endpoint == "" {
		verr.Add("permissions.citadel.endpoint", "is required")
	} else if u, err := url.Parse(a.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		verr.Add("permissions.citadel.endpoint", "must be an http:// or https:// URL")
	} else {
		a.logEndpoint = u.Redacted()
	}
	switch cfg.Format {
	case "", FormatCitadel:
	case FormatOPA:
		a.opa = true
	default:
		verr.Add("permissions.citadel.format", fmt.Sprintf("must be %q or %q, not %q", FormatCitadel, FormatOPA, cfg.Format))
	}
	switch {
	case cfg.TimeoutMS < 0:
		verr.Add("permissions.citadel.timeout_ms", "must not be negative")
	case cfg.TimeoutMS == 0:
		a.timeout = DefaultTimeout
	}
	switch cfg.Fallback {
	case "":
	case FallbackRBAC:
		a.useFallback = true
		if a.fallback == nil {
			verr.Add("permissions.citadel.fallback", `"rbac" needs the RBAC evaluator (citadel.WithFallback)`)
		}
	default:
		verr.Add("permissions.citadel.fallback", fmt.Sprintf("must be empty or %q, not %q", FallbackRBAC, cfg.Fallback))
	}
	if err := verr.Err(); err != nil {
		return nil, fmt.Errorf("citadel: %w", err)
	}
	if a.client == nil {
		a.client = defaultClient()
	}
	a.warnings.last = make(map[string]time.Time)
	a.warnings.suppressed = make(map[string]int)
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

// --- the wire ----------------------------------------------------------------------

// wireRequest is the Cedar-compatible request (the "input" of the OPA format).
type wireRequest struct {
	Principal           string          `json:"principal"`
	Action              string          `json:"action"`
	Resource            string          `json:"resource"`
	TenantID            string          `json:"tenant_id"`
	Context             json.RawMessage `json:"context"`
	PrincipalAttributes map[string]any  `json:"principal_attributes"`
	ResourceAttributes  json.RawMessage `json:"resource_attributes"`
	Roles               []string        `json:"roles"`
	List                bool            `json:"list,omitempty"`
}

var emptyObject = json.RawMessage("{}")

// encode completes w with the resource and document and marshals it in the
// configured format.
func (a *Adapter) encode(w wireRequest, doctype, name string, doc any) ([]byte, error) {
	w.Context = emptyObject
	if doc != nil {
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encode document: %w", err)
		}
		switch {
		case len(raw) > 0 && raw[0] == '{':
			w.Context = raw
		case string(raw) == "null":
		default:
			return nil, fmt.Errorf("encode document: %T is not a JSON object", doc)
		}
		if name == "" {
			var named struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(w.Context, &named) == nil {
				name = named.Name
			}
		}
	}
	if name == "" {
		name = "*"
	}
	w.Resource = doctype + ":" + name
	w.ResourceAttributes = w.Context
	if w.PrincipalAttributes == nil {
		w.PrincipalAttributes = map[string]any{}
	}
	if w.Roles == nil {
		w.Roles = []string{}
	}
	var (
		raw []byte
		err error
	)
	if a.opa {
		raw, err = json.Marshal(struct {
			Input *wireRequest `json:"input"`
		}{&w})
	} else {
		raw, err = json.Marshal(&w)
	}
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return raw, nil
}

// wireDecision is a decision as the service writes it.
type wireDecision struct {
	Allowed        *bool           `json:"allowed"`
	Reason         string          `json:"reason"`
	PolicyID       string          `json:"policy_id"`
	DecisionSource string          `json:"decision_source"`
	Filters        json.RawMessage `json:"filters"`
}

// decision is a parsed answer.
type decision struct {
	allowed  bool
	source   ports.DecisionSource
	reason   string
	policyID string
	filters  []ports.Filter
}

// failure is why the service gave no decision.
type failure struct {
	kind   string // unreachable, timeout, status, invalid
	reason string // for the PolicyResult: short, no endpoint
	err    error  // for the log
}

// call POSTs body and parses the answer (with filters when list).
func (a *Adapter) call(ctx context.Context, body []byte, list bool) (decision, *failure) {
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, a.endpoint, bytes.NewReader(body))
	if err != nil {
		return decision{}, &failure{kind: "unreachable", reason: "policy service request not built", err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if a.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(hreq)
	if err != nil {
		return decision{}, a.transportFailure(cctx, err)
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decision{}, &failure{
			kind:   "status",
			reason: fmt.Sprintf("policy service answered HTTP %d", resp.StatusCode),
			err:    fmt.Errorf("HTTP %s", resp.Status),
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return decision{}, a.transportFailure(cctx, err)
	}
	if len(data) > MaxResponseBytes {
		return decision{}, &failure{
			kind:   "invalid",
			reason: "policy service answer is too large",
			err:    fmt.Errorf("answer longer than %d bytes", MaxResponseBytes),
		}
	}
	d, err := a.parse(data, list)
	if err != nil {
		return decision{}, &failure{kind: "invalid", reason: "policy service answer is invalid: " + err.Error(), err: err}
	}
	if a.failing.Load() && a.failing.Swap(false) {
		a.log.LogAttrs(ctx, slog.LevelInfo, "citadel: policy service answers again", slog.String("endpoint", a.logEndpoint))
	}
	return d, nil
}

// transportFailure classifies an error of sending or reading.
func (a *Adapter) transportFailure(cctx context.Context, err error) *failure {
	if errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return &failure{kind: "timeout", reason: fmt.Sprintf("policy service did not answer within %s", a.timeout), err: err}
	}
	return &failure{kind: "unreachable", reason: "policy service unreachable", err: err}
}

// parse reads an answer in the configured format.
func (a *Adapter) parse(data []byte, list bool) (decision, error) {
	d := decision{source: ports.SourceCustom}
	var w wireDecision
	if a.opa {
		var env struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return d, fmt.Errorf("not an OPA answer: %w", err)
		}
		raw := bytes.TrimSpace(env.Result)
		switch {
		case len(raw) == 0 || string(raw) == "null":
			d.reason = "policy decision is undefined for this request"
			return d, nil
		case string(raw) == "true" || string(raw) == "false":
			d.allowed = string(raw) == "true"
			return d, nil
		case raw[0] != '{':
			return d, errors.New(`"result" is neither a boolean nor an object`)
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return d, fmt.Errorf("result: %w", err)
		}
		if w.Allowed == nil {
			// OPA's way of saying no: the rule is undefined for this input.
			w.Allowed = new(bool)
			if w.Reason == "" {
				w.Reason = `policy decision has no "allowed": denied`
			}
		}
	} else {
		if err := json.Unmarshal(data, &w); err != nil {
			return d, fmt.Errorf("not a decision: %w", err)
		}
		if w.Allowed == nil {
			return d, errors.New(`no "allowed" in the decision`)
		}
	}
	d.allowed, d.reason, d.policyID = *w.Allowed, w.Reason, w.PolicyID
	if src, ok := sources[w.DecisionSource]; ok {
		d.source = src // an unknown source stays custom
	}
	if list && d.allowed {
		fs, err := parseFilters(w.Filters)
		if err != nil {
			return d, fmt.Errorf("filters: %w", err)
		}
		d.filters = fs
	}
	return d, nil
}

var sources = map[string]ports.DecisionSource{
	string(ports.SourceRBAC):   ports.SourceRBAC,
	string(ports.SourceABAC):   ports.SourceABAC,
	string(ports.SourceReBAC):  ports.SourceReBAC,
	string(ports.SourceCombo):  ports.SourceCombo,
	string(ports.SourceCustom): ports.SourceCustom,
}

// --- filters -----------------------------------------------------------------------

// parseFilters reads "filters": absent or null (every row), a list of filters
// (ANDed), or one {"any": [[…], …]} group.
func parseFilters(raw json.RawMessage) ([]ports.Filter, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		fs, err := parseFilterList(raw, 0)
		if err != nil || len(fs) == 0 {
			return nil, err
		}
		return fs, nil
	case '{':
		f, err := parseFilter(raw, 0)
		if err != nil {
			return nil, err
		}
		if !f.IsGroup() {
			return nil, errors.New(`an object must be an {"any": [...]} group; a list of filters must be an array`)
		}
		return []ports.Filter{f}, nil
	}
	return nil, errors.New("neither a list of filters nor an {\"any\": …} group")
}

func parseFilterList(raw json.RawMessage, depth int) ([]ports.Filter, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	fs := make([]ports.Filter, 0, len(items))
	for i, item := range items {
		f, err := parseFilter(item, depth)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// wireFilter is one filter or group as the service writes it.
type wireFilter struct {
	Field *string           `json:"field"`
	Op    *string           `json:"op"`
	Value json.RawMessage   `json:"value"`
	Any   []json.RawMessage `json:"any"`
}

func parseFilter(raw json.RawMessage, depth int) (ports.Filter, error) {
	var w wireFilter
	if err := json.Unmarshal(raw, &w); err != nil {
		return ports.Filter{}, err
	}
	if w.Any != nil {
		if w.Field != nil || w.Op != nil || w.Value != nil {
			return ports.Filter{}, errors.New(`a filter is either {"field", "op", "value"} or {"any": …}, not both`)
		}
		if depth >= maxFilterDepth {
			return ports.Filter{}, errors.New("groups nested too deep")
		}
		groups := make([][]ports.Filter, 0, len(w.Any))
		for i, g := range w.Any {
			if b := bytes.TrimSpace(g); len(b) == 0 || b[0] != '[' {
				return ports.Filter{}, fmt.Errorf("any[%d]: a group must be a list of filters", i)
			}
			fs, err := parseFilterList(g, depth+1)
			if err != nil {
				return ports.Filter{}, fmt.Errorf("any[%d]: %w", i, err)
			}
			groups = append(groups, fs)
		}
		return ports.Filter{Any: groups}, nil
	}
	if w.Field == nil || !validField(*w.Field) {
		return ports.Filter{}, errors.New(`"field" must name a field`)
	}
	if w.Op == nil {
		return ports.Filter{}, errors.New(`"op" is missing`)
	}
	if !ports.Operator(*w.Op).Valid() {
		return ports.Filter{}, fmt.Errorf("unknown operator %q", *w.Op)
	}
	f := ports.Filter{Field: *w.Field, Op: ports.Operator(*w.Op)}
	switch f.Op {
	case ports.OpIsNull, ports.OpIsNotNull:
		return f, nil
	case ports.OpIn, ports.OpNotIn:
		var list []any
		if err := json.Unmarshal(w.Value, &list); err != nil || list == nil {
			return ports.Filter{}, fmt.Errorf("%q needs a list value", f.Op)
		}
		for _, v := range list {
			if !scalar(v) {
				return ports.Filter{}, fmt.Errorf("%q needs a list of strings, numbers or booleans", f.Op)
			}
		}
		f.Value = list
	default:
		var v any
		if err := json.Unmarshal(w.Value, &v); err != nil || !scalar(v) {
			return ports.Filter{}, fmt.Errorf("%q needs a string, number or boolean value", f.Op)
		}
		if _, ok := v.(string); f.Op == ports.OpLike && !ok {
			return ports.Filter{}, fmt.Errorf("%q needs a string value", f.Op)
		}
		f.Value = v
	}
	return f, nil
}

func scalar(v any) bool {
	switch v.(type) {
	case string, float64, bool:
		return true
	}
	return false
}

// validField accepts JSON field names made of letters, digits and underscores.
func validField(s string) bool {
	if s == "" || len(s) > 140 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// --- fallback ----------------------------------------------------------------------

func (a *Adapter) fallbackEvaluate(ctx context.Context, req ports.PolicyRequest, f *failure) (ports.PolicyResult, error) {
	a.warn(ctx, f)
	switch {
	case a.useFallback:
		res, err := a.fallback.Evaluate(ctx, req)
		if err != nil {
			return res, fmt.Errorf("citadel: %s; fallback rbac: %w", f.reason, err)
		}
		res.Reason = f.reason + "; fallback rbac: " + res.Reason
		return res, nil
	case a.fallbackOnError:
		return ports.PolicyResult{Authorized: true, Source: ports.SourceCustom, Reason: f.reason + "; fallback allows (fallback_on_error)"}, nil
	}
	return ports.PolicyResult{Source: ports.SourceCustom, Reason: f.reason + "; fallback denies"}, nil
}

func (a *Adapter) fallbackFilters(ctx context.Context, u *ports.UserContext, doctype string, action ports.Action, f *failure) ([]ports.Filter, error) {
	a.warn(ctx, f)
	switch {
	case a.useFallback:
		fs, err := a.fallback.PermittedFilters(ctx, u, doctype, action)
		if err != nil {
			return nil, fmt.Errorf("citadel: %s; fallback rbac: %w", f.reason, err)
		}
		return fs, nil
	case a.fallbackOnError:
		return nil, nil
	}
	return nil, fmt.Errorf("citadel: %s %s list: %s; fallback denies: %w", doctype, action, f.reason, core.ErrForbidden)
}

// warn logs f, at most once per LogInterval per kind of failure.
func (a *Adapter) warn(ctx context.Context, f *failure) {
	a.failing.Store(true)
	ok, suppressed := a.warnings.allow(f.kind, time.Now())
	if !ok {
		return
	}
	fallback := "deny"
	switch {
	case a.useFallback:
		fallback = FallbackRBAC
	case a.fallbackOnError:
		fallback = "allow"
	}
	a.log.LogAttrs(ctx, slog.LevelWarn, "citadel: policy service failed, fallback decides",
		slog.String("endpoint", a.logEndpoint),
		slog.String("failure", f.kind),
		slog.String("error", f.err.Error()),
		slog.String("fallback", fallback),
		slog.Int("suppressed", suppressed),
	)
}

// logLimiter lets one message per kind through per LogInterval and counts
// the ones it holds back.
type logLimiter struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func (l *logLimiter) allow(kind string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[kind]; ok && now.Sub(last) < LogInterval {
		l.suppressed[kind]++
		return false, 0
	}
	n := l.suppressed[kind]
	l.last[kind], l.suppressed[kind] = now, 0
	return true, n
}

var _ ports.PermissionEvaluator = (*Adapter)(nil)

// Invalidate passes a Custom Permission change on to the RBAC fallback's cache.
func (a *Adapter) Invalidate(tenant string) {
	if inv, ok := a.fallback.(interface{ Invalidate(string) }); ok {
		inv.Invalidate(tenant)
	}
}
