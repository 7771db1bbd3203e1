package frameworkm

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/token/jwt"
	"github.com/framework-m/framework-m/adapters/web"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// buildMagicLinks builds the sign-in links of [auth.magic_link] when auth
// mode "passwordless" or enabled turns them on: used links recorded in the
// database (purged after expiry), emails through the email queue, requests
// capped on the shared limiter.
func (a *App) buildMagicLinks(d Deps, limiter ports.RateLimiter) error {
	cfg := a.Config
	ml := cfg.Auth.MagicLink
	if !ml.On(cfg.Auth.Mode) {
		return nil
	}
	key, err := magicLinkKey(cfg, a.Logger)
	if err != nil {
		return err
	}
	base := ml.BaseURL
	if base == "" {
		base = devBaseURL(cfg.App.Address)
		a.Logger.Warn("[auth.magic_link] base_url is empty: sign-in links point at "+base+"; set it to the app's public URL", "base_url", base)
	}
	cleanup := time.Duration(cfg.Auth.Session.CleanupIntervalSeconds) * time.Second
	uses := local.NewMagicLinkUses(d.Repository).WithPurge(d.Purger, cleanup, a.Logger)
	a.adopt(uses)
	links, err := auth.NewMagicLinks(a.AuthService, uses, a.Email, limiter, auth.MagicLinkOptions{
		Key:              key,
		LinkBase:         strings.TrimRight(base, "/") + web.MagicLinkPath + "/",
		TTL:              time.Duration(ml.TTLSeconds) * time.Second,
		Signup:           ml.EnableSignup,
		AllowedRedirects: ml.AllowedRedirects,
		PerEmail:         ml.RequestsPerEmail,
		PerIP:            ml.RequestsPerIP,
		Window:           time.Duration(ml.WindowSeconds) * time.Second,
		FailOpen:         cfg.Auth.Throttle.OnError == "open",
		AppName:          cfg.App.Name,
		Logger:           a.Logger,
	})
	if err != nil {
		return fmt.Errorf("auth.magic_link: %w", err)
	}
	a.adopt(links)
	a.MagicLinks = links
	return nil
}

// magicLinkKey is the links' HMAC key (see signingKey).
func magicLinkKey(cfg config.Config, log *slog.Logger) ([]byte, error) {
	return signingKey(cfg, cfg.Auth.MagicLink.Secret, "auth.magic_link.secret", "sign-in links", auth.DeriveMagicLinkKey, log)
}

// signingKey is a sign-in feature's own HMAC key, derived: from its own
// secret (key names it in errors), else from the HS256 JWT secret (found as
// the token service finds it), else — debug without a shared secret —
// random for this process; what names the signed things in that warning.
func signingKey(cfg config.Config, own, key, what string, derive func([]byte) []byte, log *slog.Logger) ([]byte, error) {
	if own != "" {
		return derive([]byte(own)), nil
	}
	j := cfg.Auth.JWT
	if j.Algorithm != "HS256" {
		return nil, &config.Error{Problems: []config.Problem{{Key: key,
			Reason: fmt.Sprintf("is required when [auth.jwt] algorithm is %q", j.Algorithm)}}}
	}
	single := cfg.Database.Driver == "sqlite"
	if j.Secret == "" && !single && cfg.App.Debug {
		log.Warn("no [" + strings.TrimSuffix(key, ".secret") + "] or [auth.jwt] secret: " + what + " are signed with a random key for this process only (debug)")
		return derive([]byte(auth.RandomToken(32))), nil
	}
	secret, err := jwt.ResolveSecret(j, jwt.SecretSource{DataDir: cfg.App.DataDir, SingleMachine: single}, log)
	if err != nil {
		return nil, err
	}
	return derive(secret), nil
}

// devBaseURL is the base URL [app] address serves on, for development.
func devBaseURL(address string) string {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "http://" + address
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
