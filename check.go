package frameworkm

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/config"
)

// CheckConfig reports every problem of cfg at once, as New would meet them:
// the core keys, backend names the registries (built-in and opts') do not
// have — listing those they have — and the settings of every backend's
// section, selected or not. `config check` runs it. warnings name the
// sections no registered backend owns, which New ignores (a misspelt
// backend's table, or one of a backend this build does not register).
func CheckConfig(cfg config.Config, opts ...Option) (warnings []string, err error) {
	o := newOptions(opts)
	ignored, err := o.check(cfg)
	for _, key := range ignored {
		warnings = append(warnings, o.ignoredWarning(key))
	}
	return warnings, err
}

// ignoredWarning explains an ignored section, listing the backends its
// table could have meant.
func (o *options) ignoredWarning(key string) string {
	r, _ := ownerOf(o.sectionRegistries(), key)
	names := ""
	if lr, ok := r.(interface{ names() []string }); ok {
		names = " (registered: " + strings.Join(lr.names(), ", ") + ")"
	}
	return fmt.Sprintf("[%s] names no registered backend and is ignored%s", key, names)
}

// check validates cfg against o's registries. It returns the sections no
// registered backend owns (a third party's, not selected: ignored).
func (o *options) check(cfg config.Config) (ignored []string, err error) {
	cerr := &config.Error{}
	if err := cfg.Validate(); err != nil {
		if !errors.As(err, &cerr) {
			return nil, err
		}
	}
	cerr.Source = o.configSource
	add := func(p ...config.Problem) { cerr.Problems = append(cerr.Problems, p...) }
	selected := map[string]bool{}
	sel := func(r sectionRegistry, key, name string, unknown func(key, name string) config.Problem) {
		if name == "" {
			return
		}
		selected[r.sectionPrefix()+"."+name] = true
		if !r.has(name) {
			add(unknown(key, name))
		}
	}
	for i, s := range cfg.Auth.Strategies {
		if strings.TrimSpace(s) != "" {
			sel(o.strategies, fmt.Sprintf("auth.strategies[%d]", i), s, o.strategies.unknown)
		}
	}
	sel(o.tenants, "tenancy.resolver", tenantResolverName(cfg.Tenancy), o.tenants.unknown)
	if cfg.Tenancy.IsMultiTenant() && tenantResolverName(cfg.Tenancy) == "implicit" {
		add(config.Problem{Key: "tenancy.resolver", Reason: `"implicit" resolves every request to one tenant: multi mode needs a resolver that reads each request's tenant (header, or a registered one)`})
	}
	sel(o.permissions, "permissions.backend", cfg.Permissions.Backend, o.permissions.unknown)
	sel(o.limiters, "rate_limit.backend", cfg.RateLimit.Backend, o.limiters.unknown)
	sel(o.hubs, "hub.backend", hubName(cfg), o.hubs.unknown)
	if cfg.Notifications.Hub != "" {
		sel(o.hubs, "notifications.hub", cfg.Notifications.Hub, o.hubs.unknown)
	}
	sel(o.storages, "files.storage_backend", cfg.Files.StorageBackend, o.storages.unknown)
	add(checkStorage(cfg)...)
	sel(o.audits, "audit.backend", cfg.Audit.Backend, o.audits.unknown)
	sel(o.renderers, "print.renderer", cfg.Print.Renderer, o.renderers.unknown)
	sel(o.pdfs, "print.pdf_backend", cfg.Print.PDFBackend, o.pdfs.unknown)
	add(checkPrint(cfg)...)
	sel(o.emailSenders, "email.sender", cfg.Email.Sender, o.emailSenders.unknown)
	sel(o.emailQueues, "email.queue.backend", cfg.Email.Queue.Backend, o.emailQueues.unknown)
	if mode, err := auth.ParseMode(cfg.Auth.Mode); err == nil {
		if mode.HasLocalUsers() {
			sel(o.sessions, "auth.session.backend", cfg.Auth.Session.Backend, o.sessions.unknown)
			sel(o.tokens, "auth.token_backend", cfg.Auth.TokenBackend, o.tokens.unknown)
		}
		sel(o.identities, "auth.identity_backend", identityName(mode, cfg.Auth.IdentityBackend), o.identities.unknown)
	}
	// The Redis server is needed by the built-in Redis backends only.
	if selected["auth.session.redis"] || (cfg.RateLimit.Enabled && selected["rate_limit.redis"]) || selected["hub.redis"] {
		if p := config.CheckRedisURL(cfg.Redis.URL); p != nil {
			add(*p)
		}
	}
	regs := o.sectionRegistries()
	for _, key := range slices.Sorted(maps.Keys(cfg.Sections)) {
		r, name := ownerOf(regs, key)
		switch {
		case r == nil:
			add(config.Problem{Key: key, Reason: "unknown key"})
		case r.has(name):
			add(r.check(cfg, name, selected[key])...)
		case !selected[key]:
			ignored = append(ignored, key)
		}
	}
	// Selected backends without a section still validate their defaults.
	for _, r := range regs {
		for key := range selected {
			if name, ok := strings.CutPrefix(key, r.sectionPrefix()+"."); ok && !strings.Contains(name, ".") && r.has(name) {
				if _, present := cfg.Sections[key]; !present {
					add(r.check(cfg, name, true)...)
				}
			}
		}
	}
	if len(cerr.Problems) > 0 {
		return ignored, cerr
	}
	return ignored, nil
}

// ownerOf finds the registry whose section holds the table key
// ("rate_limit.redis" → the rate limiters, "redis"), preferring the longest
// section; nil when the key is not one backend's table.
func ownerOf(regs []sectionRegistry, key string) (sectionRegistry, string) {
	var owner sectionRegistry
	var name string
	for _, r := range regs {
		rest, ok := strings.CutPrefix(key, r.sectionPrefix()+".")
		if !ok || rest == "" || strings.Contains(rest, ".") {
			continue
		}
		// The longest prefix owns the key; of registries sharing a prefix
		// ([print] renderers and PDF converters), the one with the backend.
		if owner == nil || len(r.sectionPrefix()) > len(owner.sectionPrefix()) ||
			(len(r.sectionPrefix()) == len(owner.sectionPrefix()) && r.has(rest) && !owner.has(name)) {
			owner, name = r, rest
		}
	}
	return owner, name
}

// bootstrapHint tells how to create the first admin, naming the
// configuration file when the app was started from one.
func (o *options) bootstrapHint() string {
	cfg := ""
	if o.configSource != "" {
		cfg = " -config " + o.configSource
	}
	return "no users yet; create the first admin with: go run ./examples/server user create" + cfg +
		" -email you@example.com -password '<a long password>' -roles Admin (or set [auth.bootstrap_admin])"
}
