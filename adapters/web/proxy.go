package web

import (
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
)

// trustedProxies parses [auth] trusted_proxies (validated by config).
func trustedProxies(cfg config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range cfg.Auth.TrustedProxies {
		if pr, err := config.ParseProxy(p); err == nil {
			out = append(out, pr)
		}
	}
	return out
}

// peerTrusted reports whether the direct peer (not a forwarded address) is a
// trusted proxy.
func (s *Server) peerTrusted(r *http.Request) bool {
	if len(s.proxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ipExtractor takes the client address from X-Forwarded-For only when the hops
// adding it are trusted proxies; otherwise the direct peer is the client.
func (s *Server) ipExtractor() echo.IPExtractor {
	if len(s.proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range s.proxies {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// dropUntrustedGatewayHeaders removes identity and tenant headers a gateway
// would set when the request did not come through a trusted proxy, and logs it.
func (s *Server) dropUntrustedGatewayHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if len(s.deps.GatewayHeaders) == 0 {
			return next(c)
		}
		if s.peerTrusted(req) {
			// A gateway that appends rather than replaces would pass a client's
			// own header along with its own: refuse any repeated one.
			for _, h := range s.deps.GatewayHeaders {
				if len(req.Header.Values(h)) > 1 {
					return core.Invalidf(h, "was sent more than once")
				}
			}
			return next(c)
		}
		var dropped []string
		for _, h := range s.deps.GatewayHeaders {
			if _, ok := req.Header[http.CanonicalHeaderKey(h)]; ok {
				req.Header.Del(h)
				dropped = append(dropped, h)
			}
		}
		if len(dropped) > 0 && s.untrustedLog.allow() {
			s.log.WarnContext(req.Context(), "ignored gateway headers from an untrusted peer (logged at most every 10s)",
				"peer", req.RemoteAddr, "headers", dropped, "request_id", requestID(c))
		}
		return next(c)
	}
}

// csrf requires the session's CSRF token in X-CSRF-Token on every unsafe
// request authenticated by a session cookie.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		u := userOf(c)
		if u == nil || u.SessionID == "" {
			return next(c)
		}
		if !auth.CheckCSRF(u.CSRFHash, c.Request().Header.Get(HeaderCSRF)) {
			return core.Public(core.ErrForbidden, "missing or invalid CSRF token: send the csrf_token cookie's value in X-CSRF-Token")
		}
		return next(c)
	}
}

// everyTen lets a log line through at most once every ten seconds, so a client
// cannot flood the log.
type everyTen struct{ last atomic.Int64 }

func (e *everyTen) allow() bool {
	now := time.Now().Unix()
	last := e.last.Load()
	return now-last >= 10 && e.last.CompareAndSwap(last, now)
}
