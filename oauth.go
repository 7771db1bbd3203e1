package frameworkm

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/identity/oauth"
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

// oauthKey is the state cookie's HMAC key (see signingKey).
func oauthKey(cfg config.Config, log *slog.Logger) ([]byte, error) {
	return signingKey(cfg, cfg.Auth.OAuth.Secret, "auth.oauth.secret", "sign-in states", auth.DeriveOAuthStateKey, log)
}
