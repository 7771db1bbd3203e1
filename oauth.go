package frameworkm

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/identity/oauth"
	"github.com/framework-m/framework-m/adapters/token/jwt"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// buildOAuth builds sign-in with the providers of [auth.oauth] when auth
// mode "social_only" or enabled turns it on: providers over the SSRF-safe
// client, social accounts and used states in the database.
func (a *App) buildOAuth(d Deps) error {
	cfg := a.Config
	oc := cfg.Auth.OAuth
	if !oc.On(cfg.Auth.Mode) {
		return nil
	}
	key, err := oauthKey(cfg, a.Logger)
	if err != nil {
		return err
	}
	client, err := oauth.NewHTTPClient(oauth.ClientOptions{
		AllowedPrivateHosts: oc.AllowedPrivateHosts,
		Timeout:             time.Duration(oc.TimeoutMS) * time.Millisecond,
		MaxResponseBytes:    oc.MaxResponseBytes,
	})
	if err != nil {
		return fmt.Errorf("auth.oauth: %w", err)
	}
	providers := make([]ports.OAuthProvider, 0, len(oc.Providers))
	for _, name := range oc.Providers {
		s := oc.Settings(name)
		p, err := oauth.New(oauth.Config{
			Name: name, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scopes: strings.Fields(strings.ReplaceAll(s.Scope, ",", " ")),
			Issuer: s.Issuer, AuthorizationURL: s.AuthorizationURL, TokenURL: s.TokenURL, UserinfoURL: s.UserinfoURL, EmailsURL: s.EmailsURL,
		}, client)
		if err != nil {
			return fmt.Errorf("auth.oauth.%s: %w", name, err)
		}
		providers = append(providers, p)
	}
	base := oc.BaseURL
	if base == "" {
		base = devBaseURL(cfg.App.Address)
		a.Logger.Warn("[auth.oauth] base_url is empty: providers redirect back to "+base+"; set it to the app's public URL", "base_url", base)
	}
	uses := local.NewMagicLinkUses(d.Repository)
	if a.MagicLinks == nil { // else the magic links' store purges the same records
		cleanup := time.Duration(cfg.Auth.Session.CleanupIntervalSeconds) * time.Second
		uses = uses.WithPurge(d.Purger, cleanup, a.Logger)
		a.adopt(uses)
	}
	o, err := auth.NewOAuth(a.AuthService, local.NewSocialAccounts(d.Repository), uses, providers, auth.OAuthOptions{
		Key:              key,
		CallbackBase:     strings.TrimRight(base, "/") + web.OAuthPath + "/",
		StateTTL:         time.Duration(oc.StateTTLSeconds) * time.Second,
		AllowedRedirects: oc.AllowedRedirects,
		OtherSignIn:      a.MagicLinks != nil,
	})
	if err != nil {
		return fmt.Errorf("auth.oauth: %w", err)
	}
	a.OAuth = o
	return nil
}

// oauthKey is the state cookie's HMAC key: derived from [auth.oauth]
// secret, else from the HS256 JWT secret, else — debug without a shared
// secret — random for this process.
func oauthKey(cfg config.Config, log *slog.Logger) ([]byte, error) {
	if s := cfg.Auth.OAuth.Secret; s != "" {
		return auth.DeriveOAuthStateKey([]byte(s)), nil
	}
	j := cfg.Auth.JWT
	if j.Algorithm != "HS256" {
		return nil, &config.Error{Problems: []config.Problem{{Key: "auth.oauth.secret",
			Reason: fmt.Sprintf("is required when [auth.jwt] algorithm is %q", j.Algorithm)}}}
	}
	single := cfg.Database.Driver == "sqlite"
	if j.Secret == "" && !single && cfg.App.Debug {
		log.Warn("no [auth.oauth] or [auth.jwt] secret: sign-in states are signed with a random key for this process only (debug)")
		return auth.DeriveOAuthStateKey([]byte(auth.RandomToken(32))), nil
	}
	secret, err := jwt.ResolveSecret(j, jwt.SecretSource{DataDir: cfg.App.DataDir, SingleMachine: single}, log)
	if err != nil {
		return nil, err
	}
	return auth.DeriveOAuthStateKey(secret), nil
}
