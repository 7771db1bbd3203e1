package frameworkm

import (
	"errors"
	"fmt"
	"time"

	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/token/jwt"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/pii"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// builtinTokenServices are the token services [auth] token_backend may name.
var builtinTokenServices = map[string]Backend[ports.TokenService]{
	"jwt": Factory(func(d Deps) (ports.TokenService, error) {
		cfg := d.Config
		secret, err := jwt.ResolveSecret(cfg.Auth.JWT, jwt.SecretSource{
			DataDir: cfg.App.DataDir, SingleMachine: cfg.Database.Driver == "sqlite", Ephemeral: cfg.App.Debug,
		}, d.Logger)
		if err != nil {
			return nil, err
		}
		return jwt.New(cfg.Auth.JWT, secret)
	}),
}

// builtinIdentityProviders are the providers [auth] identity_backend may
// name (by default the auth mode's own).
var builtinIdentityProviders = map[string]Backend[ports.IdentityProvider]{
	"local": Factory(func(d Deps) (ports.IdentityProvider, error) {
		if d.Tokens == nil {
			return nil, errors.New("local users need a token service")
		}
		hasher, err := local.NewHasher(d.Config.Auth.Password)
		if err != nil {
			return nil, fmt.Errorf("auth.password: %w", err)
		}
		return local.New(d.Repository, d.Tokens, hasher, d.Logger), nil
	}),
	"federated": Factory(func(d Deps) (ports.IdentityProvider, error) { return d.Hydrator.(*federated.Provider), nil }),
}

// WithTokenBackend adds an access-token service under name, to be chosen
// with [auth] token_backend and configured in [auth.tokens.<name>].
func WithTokenBackend(name string, b Backend[ports.TokenService]) Option {
	return func(o *options) { o.tokens.register(name, b) }
}

// WithIdentityBackend adds an identity provider under name, to be chosen
// with [auth] identity_backend and configured in [auth.identity.<name>].
func WithIdentityBackend(name string, b Backend[ports.IdentityProvider]) Option {
	return func(o *options) { o.identities.register(name, b) }
}

// identityName is [auth] identity_backend, or the mode's own provider.
func identityName(mode auth.Mode, configured string) string {
	switch {
	case configured != "":
		return configured
	case mode.HasLocalUsers():
		return "local"
	}
	return "federated"
}

// buildIdentity assembles users, tokens, sessions, API keys and throttling
// for the configured auth mode into the auth service.
func (a *App) buildIdentity(o *options, d *Deps, limiter ports.RateLimiter) error {
	cfg := a.Config
	mode, err := auth.ParseMode(cfg.Auth.Mode)
	if err != nil {
		return err
	}
	svc := &auth.Service{Log: a.Logger, BasicCache: auth.NewVerifiedCache(time.Minute, 10_000)}
	if mode.HasLocalUsers() {
		if svc.Tokens, err = o.tokens.build(*d, "auth.token_backend", cfg.Auth.TokenBackend); err != nil {
			return err
		}
		a.adopt(svc.Tokens)
		d.Tokens = svc.Tokens
	}
	provider, err := o.identities.build(*d, "auth.identity_backend", identityName(mode, cfg.Auth.IdentityBackend))
	if err != nil {
		return err
	}
	a.adopt(provider)
	if mode.HasLocalUsers() {
		cleanup := time.Duration(cfg.Auth.Session.CleanupIntervalSeconds) * time.Second
		revocations := local.NewRevocations(d.Repository).WithPurge(d.Purger, cleanup, a.Logger)
		svc.Revocations = revocations
		a.adopt(revocations)
		// What every request asks is answered from memory, kept exact by the
		// change notices of this instance and, through the hub, the others.
		svc.Revoked = events.NewCache[bool](a.Changes, doctypes.RevokedTokenDocType, 0)
		svc.APIKeys = auth.NewAPIKeys(local.NewAPIKeyStore(d.Repository), a.Logger).
			WithCache(events.NewCache[*ports.APIKey](a.Changes, doctypes.APIKeyDocType, 0))
		a.adopt(svc.APIKeys)
		store, err := a.buildSessionStore(o, *d)
		if err != nil {
			return err
		}
		svc.Sessions = auth.NewSessions(store, time.Duration(cfg.Auth.Session.TTLSeconds)*time.Second).
			WithCache(events.NewCache[*ports.Session](a.Changes, doctypes.SessionDocType, 0))
		th := cfg.Auth.Throttle
		svc.Throttle = auth.NewThrottle(limiter, th.AttemptsPerIP, th.FailuresPerAccount, time.Duration(th.WindowSeconds)*time.Second).
			FailOpen(th.OnError == "open", a.Logger)
	}
	policy := auth.PasswordPolicy{MinLength: cfg.Auth.Password.MinLength, MaxLength: cfg.Auth.Password.MaxLength}
	svc.Users = auth.NewUserManager(provider, mode, policy, svc.Sessions, svc.APIKeys).WithThrottle(svc.Throttle).WithRoleCheck(a.Roles.Check)
	if mode.HasLocalUsers() {
		svc.Users.WithCache(events.NewCache[*ports.User](a.Changes, doctypes.LocalUserDocType, 0))
	}
	if !mode.HasLocalUsers() {
		// Users seen through gateway headers, recorded in batches.
		svc.Seen = auth.NewSeenUsers(federated.NewDirectory(d.Repository), a.Logger)
		a.adopt(svc.Seen)
	}
	a.UserAdmin = auth.NewUserAdmin(svc, cfg.Permissions.AdminRoles)
	a.AuthService, a.Users = svc, svc.Users
	a.Accounts = &auth.Accounts{
		Auth: svc, Resources: a.Resources, Deletion: pii.DeletionMode(cfg.Auth.Deletion.Mode),
		PreferencesDocType: doctypes.UserPreferencesDocType, SocialAccountDocType: doctypes.SocialAccountDocType,
		AccountDocTypes: []string{doctypes.LocalUserDocType, doctypes.SocialAccountDocType, doctypes.UserPreferencesDocType},
	}
	d.AuthService = svc
	return nil
}
