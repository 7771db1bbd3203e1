package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrPrivateAddress is returned (wrapped) when an outbound call would reach
// a private, loopback or link-local address not in the allow-list.
var ErrPrivateAddress = errors.New("refused to connect to a private address")

// ClientOptions configure NewHTTPClient.
type ClientOptions struct {
	// AllowedPrivateHosts are host names, IP addresses or CIDRs that may be
	// reached although private, loopback or link-local.
	AllowedPrivateHosts []string
	// Timeout bounds each request (10s when not positive).
	Timeout time.Duration
	// MaxResponseBytes caps each response body (1 MiB when not positive).
	MaxResponseBytes int64
}

// NewHTTPClient returns the SSRF-safe client of outbound provider calls: it
// refuses, after DNS resolution and at every redirect, to connect to
// private, loopback, link-local, multicast or unspecified addresses unless
// allow-listed; it ignores proxy settings (a proxy would hide the address),
// times out, and cuts response bodies at MaxResponseBytes.
func NewHTTPClient(o ClientOptions) (*http.Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 1 << 20
	}
	var prefixes []netip.Prefix
	hosts := map[string]bool{}
	for _, h := range o.AllowedPrivateHosts {
		if p, err := netip.ParsePrefix(h); err == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if h == "" {
			return nil, fmt.Errorf("allowed private host: empty")
		}
		hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	allowedIP := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		trusted := hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
		d := &net.Dialer{
			Timeout: o.Timeout,
			Control: func(_, address string, _ syscall.RawConn) error {
				if trusted {
					return nil
				}
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("%w: %s", ErrPrivateAddress, address)
				}
				a := ap.Addr().Unmap()
				if private(a) && !allowedIP(a) {
					return fmt.Errorf("%w: %s (%s)", ErrPrivateAddress, host, a)
				}
				return nil
			},
		}
		return d.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Timeout:   o.Timeout,
		Transport: limitedTransport{next: tr, max: o.MaxResponseBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
				return errors.New("redirect to a non-http URL")
			}
			return nil
		},
	}, nil
}

// private reports whether a is an address an outbound call must not reach
// by default.
func private(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// blocked are the other ranges an outbound call must not reach: shared
// address space, "this network", site-local IPv6, and the IPv6 forms that
// carry an IPv4 address a NAT64 or 6to4 gateway would reach (IPv4-
// compatible, NAT64, 6to4).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("fec0::/10"), netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
}

// limitedTransport cuts response bodies at max bytes.
type limitedTransport struct {
	next http.RoundTripper
	max  int64
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if res.ContentLength > t.max {
		res.Body.Close()
		return nil, fmt.Errorf("response of %s is larger than %d bytes", req.URL.Host, t.max)
	}
	res.Body = limitedBody{Reader: io.LimitReader(res.Body, t.max), Closer: res.Body}
	return res, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}
