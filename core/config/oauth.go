package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// OAuth configures sign-in with OAuth2/OIDC providers ([auth.oauth]):
// GET /api/v1/auth/oauth/{provider}/start sends the browser to the provider,
// /callback signs the user in. Each provider named in Providers is
// configured in its own table [auth.oauth.NAME] (see OAuthProvider);
// google, github and microsoft have built-in endpoints (OAuthPresets).
type OAuth struct {
	// Enabled turns OAuth sign-in on beside the mode's own; auth mode
	// "social_only" turns it on by itself.
	Enabled bool `toml:"enabled" json:"enabled"`
	// Providers names the providers served, each configured in
	// [auth.oauth.NAME].
	Providers []string `toml:"providers" json:"providers"`
	// BaseURL is the public URL of the app the providers redirect back to
	// (…/api/v1/auth/oauth/NAME/callback); empty derives http://[app]
	// address (dev only). Never taken from the request.
	BaseURL string `toml:"base_url" json:"base_url"`
	// Secret signs the short-lived state cookie (HMAC-SHA256, at least 32
	// bytes); empty derives a key of its own from the HS256 [auth.jwt] secret.
	Secret string `toml:"secret" json:"secret"`
	// AllowedRedirects are absolute URLs a sign-in may send the user to
	// afterwards, besides relative paths of this app.
	AllowedRedirects []string `toml:"allowed_redirects" json:"allowed_redirects"`
	// AllowedPrivateHosts are host names, IP addresses or CIDRs the outbound
	// client may reach although they are private, loopback or link-local.
	AllowedPrivateHosts []string `toml:"allowed_private_hosts" json:"allowed_private_hosts"`
	// StateTTLSeconds is how long a started sign-in may take.
	StateTTLSeconds int `toml:"state_ttl_seconds" json:"state_ttl_seconds"`
	// TimeoutMS bounds each call to a provider.
	TimeoutMS int `toml:"timeout_ms" json:"timeout_ms"`
	// MaxResponseBytes caps each response read from a provider.
	MaxResponseBytes int64 `toml:"max_response_bytes" json:"max_response_bytes"`
	// Provider holds the [auth.oauth.NAME] tables by NAME.
	Provider map[string]OAuthProvider `toml:"provider,omitempty" json:"-"`
}

// OAuthProvider configures one provider ([auth.oauth.NAME]): either Issuer
// (OpenID Connect discovery and ID tokens) or AuthorizationURL, TokenURL
// and UserinfoURL (plain OAuth2, GitHub style; EmailsURL lists the
// verified emails). Empty fields take the built-in preset of NAME.
type OAuthProvider struct {
	ClientID         string `toml:"client_id" json:"client_id"`
	ClientSecret     string `toml:"client_secret" json:"client_secret"`
	Scope            string `toml:"scope" json:"scope"`
	Issuer           string `toml:"issuer" json:"issuer"`
	AuthorizationURL string `toml:"authorization_url" json:"authorization_url"`
	TokenURL         string `toml:"token_url" json:"token_url"`
	UserinfoURL      string `toml:"userinfo_url" json:"userinfo_url"`
	EmailsURL        string `toml:"emails_url" json:"emails_url"`
}

// OAuthPresets are the built-in settings of well-known providers. Microsoft
// needs its tenant: set issuer to
// https://login.microsoftonline.com/<tenant id>/v2.0.
var OAuthPresets = map[string]OAuthProvider{
	"google": {Issuer: "https://accounts.google.com", Scope: "openid email profile"},
	"github": {
		AuthorizationURL: "https://github.com/login/oauth/authorize",
		TokenURL:         "https://github.com/login/oauth/access_token",
		UserinfoURL:      "https://api.github.com/user",
		EmailsURL:        "https://api.github.com/user/emails",
		Scope:            "read:user user:email",
	},
	"microsoft": {Scope: "openid email profile"},
}

// Settings returns provider name's settings over its preset.
func (o OAuth) Settings(name string) OAuthProvider {
	p := o.Provider[name]
	pre := OAuthPresets[name]
	for _, f := range []struct {
		dst *string
		def string
	}{
		{&p.Scope, pre.Scope}, {&p.Issuer, pre.Issuer}, {&p.AuthorizationURL, pre.AuthorizationURL},
		{&p.TokenURL, pre.TokenURL}, {&p.UserinfoURL, pre.UserinfoURL}, {&p.EmailsURL, pre.EmailsURL},
	} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	if p.Issuer != "" && o.Provider[name].AuthorizationURL == "" {
		// An issuer of the app's own replaces a plain-OAuth2 preset.
		if o.Provider[name].Issuer != "" {
			p.AuthorizationURL, p.TokenURL, p.UserinfoURL, p.EmailsURL = "", "", "", ""
		}
	}
	if p.Scope == "" {
		if p.Issuer != "" {
			p.Scope = "openid email profile"
		}
	}
	return p
}

// On reports whether OAuth sign-in is served: mode "social_only", or enabled.
func (o OAuth) On(mode string) bool { return o.Enabled || mode == "social_only" }

// UnmarshalTOML decodes [auth.oauth] and its [auth.oauth.NAME] tables
// (strictly: an unknown key is an error).
func (o *OAuth) UnmarshalTOML(data any) error {
	m, ok := data.(map[string]any)
	if !ok {
		return fmt.Errorf("auth.oauth: must be a table")
	}
	top := map[string]any{}
	for k, v := range m {
		sub, isTable := v.(map[string]any)
		if !isTable {
			top[k] = v
			continue
		}
		var p OAuthProvider
		if err := strictJSON(sub, &p); err != nil {
			return fmt.Errorf("auth.oauth.%s: %w", k, err)
		}
		if o.Provider == nil {
			o.Provider = map[string]OAuthProvider{}
		}
		o.Provider[k] = p
	}
	type plain OAuth
	if err := strictJSON(top, (*plain)(o)); err != nil {
		return fmt.Errorf("auth.oauth: %w", err)
	}
	return nil
}

func strictJSON(v any, dst any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

var oauthProviderName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func absHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.Fragment == ""
}

// validateOAuth checks [auth.oauth] and its provider tables.
func (c *Config) validateOAuth(bad func(key, format string, args ...any)) {
	o := c.Auth.OAuth
	if o.BaseURL != "" && (!absHTTP(o.BaseURL) || strings.Contains(o.BaseURL, "?")) {
		bad("auth.oauth.base_url", "must be the app's public http(s) URL such as https://app.example.com, not %q", o.BaseURL)
	}
	if o.Secret != "" && len(o.Secret) < 32 {
		bad("auth.oauth.secret", "must be at least 32 bytes (e.g. openssl rand -base64 48), not %d", len(o.Secret))
	}
	for i, r := range o.AllowedRedirects {
		if !absHTTP(r) || strings.Contains(r, "?") {
			bad(fmt.Sprintf("auth.oauth.allowed_redirects[%d]", i), "must be an absolute http(s) URL such as https://app.example.com/welcome, not %q", r)
		}
	}
	for i, h := range o.AllowedPrivateHosts {
		if _, err := netip.ParsePrefix(h); err == nil {
			continue
		}
		if h == "" || strings.ContainsAny(h, "/:@ ") && net.ParseIP(h) == nil {
			bad(fmt.Sprintf("auth.oauth.allowed_private_hosts[%d]", i), "must be a host name, an IP address or a CIDR such as 10.0.0.0/8, not %q", h)
		}
	}
	if o.StateTTLSeconds < 60 || o.StateTTLSeconds > 3600 {
		bad("auth.oauth.state_ttl_seconds", "must be between 60 and 3600, not %d", o.StateTTLSeconds)
	}
	if o.TimeoutMS < 100 {
		bad("auth.oauth.timeout_ms", "must be at least 100")
	}
	if o.MaxResponseBytes < 1024 {
		bad("auth.oauth.max_response_bytes", "must be at least 1024")
	}
	for name := range o.Provider {
		if !slices.Contains(o.Providers, name) {
			bad("auth.oauth."+name, "is not listed in [auth.oauth] providers")
		}
	}
	if !o.On(c.Auth.Mode) {
		return
	}
	if c.Auth.Mode == "federated" {
		bad("auth.oauth.enabled", "OAuth sign-in signs in local users: federated mode has none")
	}
	if len(o.Providers) == 0 {
		bad("auth.oauth.providers", "must name at least one provider when OAuth sign-in is on (auth mode %q)", c.Auth.Mode)
	}
	if o.Secret == "" && c.Auth.JWT.Algorithm != "HS256" {
		bad("auth.oauth.secret", "is required when [auth.jwt] algorithm is %q (no shared secret to derive a key from)", c.Auth.JWT.Algorithm)
	}
	for i, name := range o.Providers {
		key := "auth.oauth." + name
		if !oauthProviderName.MatchString(name) {
			bad(fmt.Sprintf("auth.oauth.providers[%d]", i), "must be a lower-case name such as google, not %q", name)
			continue
		}
		p := o.Settings(name)
		if p.ClientID == "" {
			bad(key+".client_id", "is required")
		}
		switch {
		case p.Issuer != "":
			if !absHTTP(p.Issuer) {
				bad(key+".issuer", "must be an absolute http(s) URL, not %q", p.Issuer)
			}
		case p.AuthorizationURL != "" || p.TokenURL != "" || p.UserinfoURL != "":
			for _, f := range []struct{ k, v string }{{"authorization_url", p.AuthorizationURL}, {"token_url", p.TokenURL}, {"userinfo_url", p.UserinfoURL}} {
				if !absHTTP(f.v) {
					bad(key+"."+f.k, "must be an absolute http(s) URL, not %q", f.v)
				}
			}
			if p.EmailsURL != "" && !absHTTP(p.EmailsURL) {
				bad(key+".emails_url", "must be an absolute http(s) URL, not %q", p.EmailsURL)
			}
		default:
			bad(key+".issuer", "is required (OpenID Connect), or authorization_url, token_url and userinfo_url (OAuth2)")
		}
	}
}
