package frameworkm

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/framework-m/framework-m/adapters/redisclient"
	sessdb "github.com/framework-m/framework-m/adapters/session/database"
	sessredis "github.com/framework-m/framework-m/adapters/session/redis"
	"github.com/framework-m/framework-m/ports"
)

// builtinSessionStores are the stores [auth.session] backend may name.
var builtinSessionStores = map[string]Backend[ports.SessionStore]{
	"database": Factory(func(d Deps) (ports.SessionStore, error) {
		every := time.Duration(d.Config.Auth.Session.CleanupIntervalSeconds) * time.Second
		return sessdb.New(d.Repository, d.Purger, sessdb.WithLogger(d.Logger), sessdb.WithCleanupInterval(every)), nil
	}),
	"redis": NewBackend(sessredis.DefaultConfig(), func(d Deps, c sessredis.Config) (ports.SessionStore, error) {
		client, err := sharedRedis(d)
		if err != nil {
			return nil, err
		}
		return sessredis.New(client, sessredis.WithPrefix(c.KeyPrefix)), nil
	}),
}

// sharedRedis opens [redis] url once for every adapter that needs it.
func sharedRedis(d Deps) (*goredis.Client, error) {
	return SharedClient(d.Shared, "redis", func() (*goredis.Client, error) {
		return redisclient.Open(context.Background(), d.Config.Redis.URL, time.Duration(d.Config.Redis.TimeoutMS)*time.Millisecond)
	})
}

// WithSessionBackend adds a session store under name, to be chosen with
// [auth.session] backend and configured in [auth.session.<name>].
func WithSessionBackend(name string, b Backend[ports.SessionStore]) Option {
	return func(o *options) { o.sessions.register(name, b) }
}

// buildSessionStore builds [auth.session] backend.
func (a *App) buildSessionStore(o *options, d Deps) (ports.SessionStore, error) {
	s, err := o.sessions.build(d, "auth.session.backend", a.Config.Auth.Session.Backend)
	if err != nil {
		return nil, err
	}
	a.adopt(s)
	return s, nil
}
