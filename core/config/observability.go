package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// OpenAPI configures the machine-readable description of the API,
// GET /api/v1/openapi.json, and the reference page rendering it, /api/docs.
type OpenAPI struct {
	// Expose says who may read them: "public" (anyone), "authenticated"
	// (signed-in users, who see only the DocTypes they may read) or "off"
	// (404). The document is always available in code (App.OpenAPI) and
	// from the command line (server openapi).
	Expose string `toml:"expose"`
	// Title and Version describe the API in the document ("" : "<[app]
	// name> API" and "1.0.0").
	Title   string `toml:"title"`
	Version string `toml:"version"`
	// Servers are the public base URLs listed in the document ("" lists
	// none: clients use the URL they fetched it from).
	Servers []string `toml:"servers"`
}

// Metrics configures the Prometheus metrics at GET /metrics.
type Metrics struct {
	// Enabled turns metrics on.
	Enabled bool `toml:"enabled"`
	// Address, when set (host:port), serves /metrics on a listener of its
	// own instead of the app's; keep it on a private interface.
	Address string `toml:"address"`
	// Token, when set, is required as "Authorization: Bearer <token>" (401
	// otherwise). On the app's own listener set one unless a proxy keeps
	// /metrics private.
	Token string `toml:"token"`
}

// Tracing configures OpenTelemetry traces exported over OTLP/HTTP.
type Tracing struct {
	// Enabled turns tracing on (off by default).
	Enabled bool `toml:"enabled"`
	// Endpoint is the OTLP/HTTP collector's base URL, e.g.
	// http://127.0.0.1:4318 (traces go to <endpoint>/v1/traces).
	Endpoint string `toml:"endpoint"`
	// SampleRatio is the share of new traces recorded, 0 to 1; a trace
	// started by a trusted proxy's traceparent keeps that sampling decision.
	SampleRatio float64 `toml:"sample_ratio"`
	// ServiceName names this service in the traces ("" uses [app] name).
	ServiceName string `toml:"service_name"`
	// Headers are sent with every export (e.g. an API key of the collector).
	Headers map[string]string `toml:"headers"`
	// Insecure allows a plain http:// endpoint on another host than this
	// one (spans then cross the network unencrypted).
	Insecure bool `toml:"insecure"`
}

// validateObservability checks [openapi], [metrics] and [tracing].
func (c *Config) validateObservability(bad func(key, format string, args ...any), oneOf func(key, val string, allowed ...string)) {
	oneOf("openapi.expose", c.OpenAPI.Expose, "public", "authenticated", "off")
	for i, s := range c.OpenAPI.Servers {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("openapi.servers["+strconv.Itoa(i)+"]", "must be an absolute http(s) URL, not %q", s)
		}
	}
	if a := c.Metrics.Address; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad("metrics.address", "must be host:port such as 127.0.0.1:9090, not %q", a)
		}
	}
	if t := c.Metrics.Token; t != "" && len(t) < 16 {
		bad("metrics.token", "must have at least 16 characters")
	}
	if r := c.Tracing.SampleRatio; !(r >= 0 && r <= 1) {
		bad("tracing.sample_ratio", "must be between 0 and 1, not %v", r)
	}
	if c.Tracing.Enabled {
		u, err := url.Parse(c.Tracing.Endpoint)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("tracing.endpoint", "must be the collector's http(s) URL such as http://127.0.0.1:4318")
		case u.Scheme == "http" && !c.Tracing.Insecure && !loopbackHost(u.Hostname()):
			bad("tracing.endpoint", "plain http to another host sends spans unencrypted: use https, or set insecure = true")
		}
	}
	for k := range c.Tracing.Headers {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " :\r\n") {
			bad("tracing.headers", "%q is not a header name", k)
		}
	}
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
