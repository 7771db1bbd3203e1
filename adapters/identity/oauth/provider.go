// Package oauth is the OAuth2/OpenID Connect adapter of sign-in with
// providers: golang.org/x/oauth2 runs the authorization-code flow with PKCE
// (S256), github.com/coreos/go-oidc/v3 discovers OIDC issuers and verifies
// ID tokens (signature via JWKS, issuer, audience, expiry; the nonce is
// checked here), and plain OAuth2 providers (GitHub) are read through their
// userinfo and emails endpoints. Every outbound call goes through the
// SSRF-safe client of NewHTTPClient.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Config is one provider's settings ([auth.oauth.NAME] over its preset).
type Config struct {
	Name             string
	ClientID         string
	ClientSecret     string
	Scopes           []string
	Issuer           string
	AuthorizationURL string
	TokenURL         string
	UserinfoURL      string
	EmailsURL        string
}

// Provider is a ports.OAuthProvider.
type Provider struct {
	cfg    Config
	client *http.Client

	mu   sync.Mutex
	oidc *oidc.Provider // discovered lazily, kept once found
}

// New returns provider cfg calling out through client (see NewHTTPClient).
func New(cfg Config, client *http.Client) (*Provider, error) {
	switch {
	case cfg.Name == "" || cfg.ClientID == "":
		return nil, errors.New("oauth provider: a name and a client id are required")
	case client == nil:
		return nil, errors.New("oauth provider: an http client is required")
	case cfg.Issuer == "" && (cfg.AuthorizationURL == "" || cfg.TokenURL == "" || cfg.UserinfoURL == ""):
		return nil, fmt.Errorf("oauth provider %s: an issuer, or authorization, token and userinfo URLs, are required", cfg.Name)
	}
	return &Provider{cfg: cfg, client: client}, nil
}

// Name is the provider's configured name.
func (p *Provider) Name() string { return p.cfg.Name }

func (p *Provider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, p.client), p.client)
}

// outbound maps a failed call to the provider to a core error.
func (p *Provider) outbound(what string, err error) error {
	if errors.Is(err, ErrPrivateAddress) {
		return core.Publicf(core.ErrForbidden, "the %s provider's %s is at a private address that is not allowed ([auth.oauth] allowed_private_hosts)", p.cfg.Name, what)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = strconv.Itoa(re.Response.StatusCode)
		}
		return core.Publicf(core.ErrUnauthorized, "sign-in with %s failed: the provider refused the code (%s)", p.cfg.Name, safe(code))
	}
	return core.Unavailable("the "+p.cfg.Name+" sign-in provider", fmt.Errorf("%s: %w", what, err))
}

func safe(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '?'
	}, s)
}

// discover returns the OIDC provider of the issuer, discovering it once.
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, nil
	}
	// The keys are fetched later with the context given here: keep the
	// client, drop the request's deadline and cancellation.
	op, err := oidc.NewProvider(p.ctx(context.WithoutCancel(ctx)), p.cfg.Issuer)
	if err != nil {
		return nil, p.outbound("discovery", err)
	}
	p.oidc = op
	return op, nil
}

func (p *Provider) config(ctx context.Context, redirectURI string) (*oauth2.Config, error) {
	c := &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: redirectURI, Scopes: p.cfg.Scopes}
	if p.cfg.Issuer == "" {
		c.Endpoint = oauth2.Endpoint{AuthURL: p.cfg.AuthorizationURL, TokenURL: p.cfg.TokenURL}
		return c, nil
	}
	op, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	c.Endpoint = op.Endpoint()
	return c, nil
}

// AuthCodeURL returns the authorization URL with state, the S256 PKCE
// challenge and (OIDC) the nonce.
func (p *Provider) AuthCodeURL(ctx context.Context, a ports.OAuthAuthorization) (string, error) {
	c, err := p.config(ctx, a.RedirectURI)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.Verifier)}
	if p.cfg.Issuer != "" {
		opts = append(opts, oidc.Nonce(a.Nonce))
	}
	return c.AuthCodeURL(a.State, opts...), nil
}

// Exchange trades code for tokens and returns who signed in.
func (p *Provider) Exchange(ctx context.Context, code string, a ports.OAuthAuthorization) (*ports.OAuthIdentity, error) {
	c, err := p.config(ctx, a.RedirectURI)
	if err != nil {
		return nil, err
	}
	octx := p.ctx(ctx)
	tok, err := c.Exchange(octx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return nil, p.outbound("token endpoint", err)
	}
	if p.cfg.Issuer != "" {
		return p.fromIDToken(octx, tok, a.Nonce)
	}
	return p.fromUserinfo(octx, c, tok)
}

var errBadToken = func(name, why string) error {
	return core.Publicf(core.ErrUnauthorized, "sign-in with %s failed: %s", name, why)
}

func (p *Provider) fromIDToken(ctx context.Context, tok *oauth2.Token, nonce string) (*ports.OAuthIdentity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errBadToken(p.cfg.Name, "the provider sent no ID token")
	}
	op, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		if errors.Is(err, ErrPrivateAddress) {
			return nil, p.outbound("keys", err)
		}
		return nil, errBadToken(p.cfg.Name, "the ID token is invalid (signature, issuer, audience or expiry)")
	}
	if nonce == "" || idt.Nonce != nonce {
		return nil, errBadToken(p.cfg.Name, "the ID token's nonce does not match")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
		AZP           string `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, errBadToken(p.cfg.Name, "the ID token's claims are malformed")
	}
	// go-oidc checks that the audience contains this client; a token for
	// several audiences (or naming an authorized party) must be this
	// client's (OIDC Core 3.1.3.7, points 4 and 5).
	if (len(idt.Audience) > 1 || claims.AZP != "") && claims.AZP != p.cfg.ClientID {
		return nil, errBadToken(p.cfg.Name, "the ID token was issued to another client (azp)")
	}
	if idt.IssuedAt.After(time.Now().Add(5 * time.Minute)) {
		return nil, errBadToken(p.cfg.Name, "the ID token is issued in the future")
	}
	return &ports.OAuthIdentity{Provider: p.cfg.Name, Subject: idt.Subject, Email: claims.Email,
		EmailVerified: truthy(claims.EmailVerified), DisplayName: claims.Name}, nil
}

// truthy reads email_verified, which some providers send as a string.
func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

func (p *Provider) getJSON(ctx context.Context, c *oauth2.Config, tok *oauth2.Token, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.Client(ctx, tok).Do(req)
	if err != nil {
		return p.outbound("userinfo endpoint", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return errBadToken(p.cfg.Name, fmt.Sprintf("the provider answered %d to %s", res.StatusCode, "its user endpoint"))
	}
	if err := json.NewDecoder(res.Body).Decode(into); err != nil {
		return errBadToken(p.cfg.Name, "the provider's user data is malformed")
	}
	return nil
}

// fromUserinfo reads a plain OAuth2 provider's user: id (or sub), name
// (or login), and — with an emails endpoint — only the verified primary
// email (GitHub); else email and email_verified of the userinfo.
func (p *Provider) fromUserinfo(ctx context.Context, c *oauth2.Config, tok *oauth2.Token) (*ports.OAuthIdentity, error) {
	var info map[string]any
	if err := p.getJSON(ctx, c, tok, p.cfg.UserinfoURL, &info); err != nil {
		return nil, err
	}
	id := &ports.OAuthIdentity{Provider: p.cfg.Name}
	switch v := info["id"].(type) {
	case float64:
		id.Subject = strconv.FormatFloat(v, 'f', -1, 64)
	case string:
		id.Subject = v
	}
	if s, ok := info["sub"].(string); ok && id.Subject == "" {
		id.Subject = s
	}
	for _, k := range []string{"name", "login"} {
		if s, ok := info[k].(string); ok && s != "" {
			id.DisplayName = s
			break
		}
	}
	if p.cfg.EmailsURL == "" {
		id.Email, _ = info["email"].(string)
		id.EmailVerified = truthy(info["email_verified"])
		return id, nil
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := p.getJSON(ctx, c, tok, p.cfg.EmailsURL, &emails); err != nil {
		return nil, err
	}
	for _, e := range emails {
		if e.Primary && e.Verified {
			id.Email, id.EmailVerified = e.Email, true
		}
	}
	return id, nil
}

var _ ports.OAuthProvider = (*Provider)(nil)
