package frameworkm

import (
	"context"

	hubmemory "github.com/framework-m/framework-m/adapters/hub/memory"
	hubpg "github.com/framework-m/framework-m/adapters/hub/postgres"
	hubredis "github.com/framework-m/framework-m/adapters/hub/redis"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// builtinHubs are the hubs [hub] backend may name ("auto" picks one of them).
var builtinHubs = map[string]Backend[ports.Hub]{
	// local: one instance; its own changes reach its caches without a hub.
	"local": Factory(func(Deps) (ports.Hub, error) { return nil, nil }),
	// memory: instances in one process (tests), each built with its own
	// memory hub unless a shared one is registered with WithHubBackend.
	"memory": Factory(func(Deps) (ports.Hub, error) { return hubmemory.New(), nil }),
	"redis": NewBackend(hubredis.DefaultConfig(), func(d Deps, c hubredis.Config) (ports.Hub, error) {
		client, err := sharedRedis(d)
		if err != nil {
			return nil, err
		}
		return hubredis.New(client, c), nil
	}),
	"postgres": NewBackend(hubpg.DefaultConfig(), func(d Deps, c hubpg.Config) (ports.Hub, error) {
		return hubpg.New(context.Background(), d.Config.Database.DSN, c)
	}),
}

// hubName resolves [hub] backend "auto": LISTEN/NOTIFY when the instances
// share a PostgreSQL database, none otherwise.
func hubName(cfg config.Config) string {
	if cfg.Hub.Backend != "auto" {
		return cfg.Hub.Backend
	}
	if cfg.Database.Driver == "postgres" {
		return "postgres"
	}
	return "local"
}

// WithHubBackend adds a hub under name, to be chosen with [hub] backend and
// configured in [hub.<name>].
func WithHubBackend(name string, b Backend[ports.Hub]) Option {
	return func(o *options) { o.hubs.register(name, b) }
}

// buildHub builds [hub] backend and links the change feed to the other
// instances through it: the feed's Run (started with the app) subscribes to
// their notices, and its Close sends what is left of this instance's.
func (a *App) buildHub(o *options, d Deps) error {
	h, err := o.hubs.build(d, "hub.backend", hubName(a.Config))
	if err != nil {
		return err
	}
	if h == nil {
		return nil
	}
	a.adopt(h)
	a.Hub = h
	a.Changes.UseHub(h, a.Logger)
	a.adopt(a.Changes)
	return nil
}
