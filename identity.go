package frameworkm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/framework-m/framework-m/adapters/auth/apikey"
	"github.com/framework-m/framework-m/adapters/auth/basic"
	"github.com/framework-m/framework-m/adapters/auth/bearer"
	"github.com/framework-m/framework-m/adapters/auth/header"
	"github.com/framework-m/framework-m/adapters/auth/sessioncookie"
	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/adapters/identity/local"
	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	rlredis "github.com/framework-m/framework-m/adapters/ratelimit/redis"
	sessdb "github.com/framework-m/framework-m/adapters/session/database"
	sessredis "github.com/framework-m/framework-m/adapters/session/redis"
	"github.com/framework-m/framework-m/adapters/token/jwt"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/pii"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Built-in auth strategies, by [auth] strategies name.
var builtinAuthStrategies = map[string]AuthStrategyFactory{
	"session_cookie": func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || d.AuthService.Sessions == nil {
			return nil, errors.New("sessions are not available in this auth mode")
		}
		return sessioncookie.New(d.AuthService, d.Config.Auth.Session.CookieName), nil
	},
	"bearer": func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || d.AuthService.Tokens == nil {
			return nil, errors.New("tokens are not available in this auth mode")
		}
		return bearer.New(d.AuthService), nil
	},
	"api_key": func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || d.AuthService.APIKeys == nil {
			return nil, errors.New("API keys are not available in this auth mode")
		}
		return apikey.New(d.AuthService), nil
	},
	"basic": func(d Deps) (ports.Authenticator, error) {
		if d.AuthService == nil || !d.AuthService.Users.Mode().HasPasswords() {
			return nil, errors.New("basic auth needs auth mode \"local\"")
		}
		return basic.New(d.AuthService), nil
	},
	"header": func(d Deps) (ports.Authenticator, error) {
		return header.New(d.Hydrator, d.Config.Auth.Headers.UserID), nil
	},
}

// identity is what buildIdentity assembles.
type identity struct {
	service  *auth.Service
	accounts *auth.Accounts
	hydrator *federated.Provider
	sessions *sessdb.Store // nil unless the database session backend is used
}

// JWTSecretFile is where a generated HS256 secret is kept under data_dir.
const JWTSecretFile = "jwt_secret"

// jwtSecret resolves the HS256 secret: configured, or generated once into
// data_dir for a single SQLite machine, or (debug only) ephemeral.
func jwtSecret(cfg config.Config, log *slog.Logger) ([]byte, error) {
	j := cfg.Auth.JWT
	if j.Algorithm != "HS256" {
		return nil, nil
	}
	if j.Secret != "" {
		return []byte(j.Secret), nil
	}
	if cfg.Database.Driver == "sqlite" {
		path := filepath.Join(cfg.App.DataDir, JWTSecretFile)
		b, err := os.ReadFile(path)
		if err == nil {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return nil, fmt.Errorf("auth.jwt.secret: %s is readable by others and cannot be restricted: %w", path, err)
				}
				log.Warn("restricted the JWT secret file to its owner", "file", path)
			}
			s := strings.TrimSpace(string(b))
			if len(s) < 32 {
				return nil, fmt.Errorf("auth.jwt.secret: %s holds fewer than 32 bytes; delete it to generate a new one", path)
			}
			return []byte(s), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("auth.jwt.secret: read %s: %w", path, err)
		}
		raw, err := jwt.GenerateSecret()
		if err != nil {
			return nil, err
		}
		s := fmt.Sprintf("%x", raw)
		if err := os.MkdirAll(cfg.App.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("auth.jwt.secret: create %s: %w", cfg.App.DataDir, err)
		}
		if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("auth.jwt.secret: write %s: %w", path, err)
		}
		log.Info("generated a JWT signing secret; set [auth.jwt] secret to share one across instances", "file", path)
		return []byte(s), nil
	}
	if cfg.App.Debug {
		raw, err := jwt.GenerateSecret()
		log.Warn("no [auth.jwt] secret: using a random one for this process only (debug); tokens die at restart")
		return raw, err
	}
	return nil, &config.Error{Problems: []config.Problem{{Key: "auth.jwt.secret",
		Reason: "is required with PostgreSQL (instances must share it): set secret = \"${FM_JWT_SECRET}\" with at least 32 random bytes, e.g. openssl rand -base64 48"}}}
}

// buildIdentity assembles users, tokens, sessions, API keys and throttling for
// the configured auth mode.
func buildIdentity(app *App, log *slog.Logger) (*identity, error) {
	cfg := app.Config
	mode, err := auth.ParseMode(cfg.Auth.Mode)
	if err != nil {
		return nil, err
	}
	id := &identity{hydrator: federated.New(cfg.Auth.Headers)}
	svc := &auth.Service{Log: log, BasicCache: auth.NewVerifiedCache(time.Minute, 10_000)}
	policy := auth.PasswordPolicy{MinLength: cfg.Auth.Password.MinLength, MaxLength: cfg.Auth.Password.MaxLength}

	var provider ports.IdentityProvider = id.hydrator
	if mode.HasLocalUsers() {
		secret, err := jwtSecret(cfg, log)
		if err != nil {
			return nil, err
		}
		if svc.Tokens, err = jwt.New(cfg.Auth.JWT, secret); err != nil {
			return nil, fmt.Errorf("auth.jwt: %w", err)
		}
		hasher, err := local.NewHasher(cfg.Auth.Password)
		if err != nil {
			return nil, fmt.Errorf("auth.password: %w", err)
		}
		provider = local.New(app.Repository, svc.Tokens, hasher, log)
		svc.Revocations = local.NewRevocations(app.Repository)
		svc.APIKeys = auth.NewAPIKeys(local.NewAPIKeyStore(app.Repository), log)

		var store ports.SessionStore
		switch cfg.Auth.Session.Backend {
		case "redis":
			client, err := app.redisClient()
			if err != nil {
				return nil, fmt.Errorf("auth.session.backend \"redis\": %w", err)
			}
			store = sessredis.New(client)
		default:
			id.sessions = sessdb.New(app.Repository, app.DB, sessdb.WithLogger(log))
			store = id.sessions
		}
		svc.Sessions = auth.NewSessions(store, time.Duration(cfg.Auth.Session.TTLSeconds)*time.Second)
		th := cfg.Auth.Throttle
		limiter, err := app.limiter()
		if err != nil {
			return nil, err
		}
		svc.Throttle = auth.NewThrottle(limiter, th.AttemptsPerIP, th.FailuresPerAccount, time.Duration(th.WindowSeconds)*time.Second)
	}
	svc.Users = auth.NewUserManager(provider, mode, policy, svc.Sessions, svc.APIKeys).WithThrottle(svc.Throttle)
	id.service = svc
	id.accounts = &auth.Accounts{
		Auth: svc, Resources: app.Resources, Deletion: pii.DeletionMode(cfg.Auth.Deletion.Mode),
		PreferencesDocType: doctypes.UserPreferencesDocType, SocialAccountDocType: doctypes.SocialAccountDocType,
		AccountDocTypes: []string{doctypes.LocalUserDocType, doctypes.SocialAccountDocType, doctypes.UserPreferencesDocType},
	}
	return id, nil
}

// startIdentityWorkers schedules the background jobs of identity.
func (a *App) startIdentityWorkers(id *identity) {
	cleanup := time.Duration(a.Config.Auth.Session.CleanupIntervalSeconds) * time.Second
	if keys := id.service.APIKeys; keys != nil {
		a.Go(func(ctx context.Context) { keys.Run(ctx, 30*time.Second) })
	}
	if id.sessions != nil {
		a.Go(func(ctx context.Context) { id.sessions.Run(ctx, cleanup) })
	}
	if id.service.Revocations != nil {
		a.Go(func(ctx context.Context) { a.purgeRevokedTokens(ctx, cleanup) })
	}
}

// purgeRevokedTokens deletes revoked-token records whose tokens have expired
// anyway, in every tenant (system maintenance, outside the request path).
func (a *App) purgeRevokedTokens(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			dt, _ := a.Registry.Get(doctypes.RevokedTokenDocType)
			err := a.DB.WithContext(ctx).Exec("DELETE FROM "+dt.Table+" WHERE expires_at < ?", time.Now().UTC()).Error
			if err != nil && ctx.Err() == nil {
				a.Logger.Error("purge revoked tokens", "err", err)
			}
		}
	}
}

// bootstrapAdmin creates [auth.bootstrap_admin] when no user has its email, or
// tells how to create a first admin when there are no users at all.
func (a *App) bootstrapAdmin(ctx context.Context) error {
	local, err := a.Users.Local()
	if err != nil {
		return nil // no local users in this mode
	}
	sys := a.SystemContext(ctx, "")
	b := a.Config.Auth.BootstrapAdmin
	if b.Email != "" {
		_, err := local.FindByEmail(sys, b.Email)
		if errors.Is(err, core.ErrNotFound) {
			if _, err := a.Users.Create(sys, ports.NewUser{Email: b.Email, Password: b.Password, DisplayName: "Administrator", Roles: []string{ports.RoleAdmin}}); err != nil {
				return fmt.Errorf("auth.bootstrap_admin: %w", err)
			}
			a.Logger.Info("created the bootstrap admin", "email", b.Email)
			return nil
		}
		return err
	}
	n, err := local.CountUsers(sys)
	if err != nil {
		return err
	}
	if n == 0 && !a.quietBootstrap {
		a.Logger.Warn("no users yet; create the first admin with: go run ./examples/server user create -email you@example.com -password '<a long password>' -roles Admin (or set [auth.bootstrap_admin])")
	}
	return nil
}

// redisClient opens [redis] url once for every adapter that needs it.
func (a *App) redisClient() (goredis.UniversalClient, error) {
	if a.redis == nil {
		c, err := sessredis.Open(context.Background(), a.Config.Redis.URL)
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, c.Close)
		a.redis = c
	}
	return a.redis, nil
}

// limiter returns the [rate_limit] backend's limiter, made once; the login
// throttle shares it, so password-guessing limits hold across instances too.
func (a *App) limiter() (ports.RateLimiter, error) {
	if a.rateLimiter != nil {
		return a.rateLimiter, nil
	}
	switch a.Config.RateLimit.Backend {
	case "redis":
		c, err := a.redisClient()
		if err != nil {
			return nil, fmt.Errorf("rate_limit.backend \"redis\": %w", err)
		}
		a.rateLimiter = rlredis.New(c, a.Config.RateLimit.KeyPrefix)
	default:
		a.rateLimiter = memory.New()
	}
	return a.rateLimiter, nil
}
