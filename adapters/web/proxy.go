package web

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/framework-m/framework-m/core"
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

// peerTrusted reports whether the direct peer (not a forwarded address) is
// one of proxies.
func peerTrusted(proxies []netip.Prefix, r *http.Request) bool {
	if len(proxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ipExtractor takes the client address from X-Forwarded-For only when the hops
// adding it are trusted proxies; otherwise the direct peer is the client.
func ipExtractor(proxies []netip.Prefix) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// gatewayGuard keeps identity and tenant headers that only a trusted gateway
// may set away from requests that did not come through one.
type gatewayGuard struct {
	headers []string
	proxies []netip.Prefix
	log     *slog.Logger

	untrustedLog everyTen
}

// drop removes the gateway headers when the request did not come through a
// trusted proxy, and logs it.
func (g *gatewayGuard) drop(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if len(g.headers) == 0 {
			return next(c)
		}
		if peerTrusted(g.proxies, req) {
			// A gateway that appends rather than replaces would pass a client's
			// own header along with its own: refuse any repeated one.
			for _, h := range g.headers {
				if len(req.Header.Values(h)) > 1 {
					return core.Invalidf(h, "was sent more than once")
				}
			}
			return next(c)
		}
		var dropped []string
		for _, h := range g.headers {
			if _, ok := req.Header[http.CanonicalHeaderKey(h)]; ok {
				req.Header.Del(h)
				dropped = append(dropped, h)
			}
		}
		if len(dropped) > 0 && g.untrustedLog.allow() {
			g.log.WarnContext(req.Context(), "ignored gateway headers from an untrusted peer (logged at most every 10s)",
				"peer", req.RemoteAddr, "headers", dropped, "request_id", requestID(c))
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
