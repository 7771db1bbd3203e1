package frameworkm_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

// quotaSettings is the [rate_limit.quota] table of a third party's limiter.
type quotaSettings struct {
	// Allow is how many events each key may have, ever.
	Allow int `toml:"allow"`
}

func (s quotaSettings) Validate() error {
	if s.Allow < 1 {
		return core.Invalid("allow", "must be at least 1")
	}
	return nil
}

// quotaLimiter allows each key a fixed number of events.
type quotaLimiter struct {
	allow int
	mu    sync.Mutex
	n     map[string]int
}

func (q *quotaLimiter) decide(key string, count bool) ports.RateDecision {
	q.mu.Lock()
	defer q.mu.Unlock()
	if count {
		q.n[key]++
	}
	used := q.n[key]
	return ports.RateDecision{Allowed: used <= q.allow, Limit: q.allow, Remaining: max(q.allow-used, 0), RetryAfter: time.Minute, Reset: time.Now().Add(time.Minute)}
}

func (q *quotaLimiter) Allow(_ context.Context, key string, _ int, _ time.Duration) (ports.RateDecision, error) {
	return q.decide(key, true), nil
}

func (q *quotaLimiter) Peek(_ context.Context, key string, _ int, _ time.Duration) (ports.RateDecision, error) {
	return q.decide(key, false), nil
}

func (q *quotaLimiter) Reset(_ context.Context, key string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.n, key)
	return nil
}

// shelfSettings is the [auth.session.shelf] table of a third party's session store.
type shelfSettings struct {
	Label string `toml:"label"`
}

// shelfStore keeps sessions in a map, per tenant, and remembers its label.
type shelfStore struct {
	label string
	mu    sync.Mutex
	m     map[string]ports.Session // tenant/id → session
}

func (s *shelfStore) key(ctx context.Context, id string) (string, error) {
	tid, err := core.RequireTenant(ctx)
	return tid + "/" + id, err
}

func (s *shelfStore) Create(ctx context.Context, sess *ports.Session) error {
	k, err := s.key(ctx, sess.ID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return core.ErrConflict
	}
	sess.TenantID, sess.CreatedAt = ports.TenantIDFrom(ctx), time.Now()
	s.m[k] = *sess
	return nil
}

func (s *shelfStore) Get(ctx context.Context, id string) (*ports.Session, error) {
	k, err := s.key(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[k]
	if !ok || !sess.ExpiresAt.After(time.Now()) {
		return nil, core.ErrNotFound
	}
	return &sess, nil
}

func (s *shelfStore) Delete(ctx context.Context, id string) error {
	k, err := s.key(ctx, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok {
		return core.ErrNotFound
	}
	delete(s.m, k)
	return nil
}

func (s *shelfStore) ListForUser(ctx context.Context, userID string) ([]*ports.Session, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*ports.Session
	for _, sess := range s.m {
		if sess.TenantID == tid && sess.UserID == userID && sess.ExpiresAt.After(time.Now()) {
			out = append(out, &sess)
		}
	}
	return out, nil
}

func (s *shelfStore) DeleteAllForUser(ctx context.Context, userID string) (int, error) {
	list, err := s.ListForUser(ctx, userID)
	for _, sess := range list {
		_ = s.Delete(ctx, sess.ID)
	}
	return len(list), err
}

// thirdParty registers the two backends and returns what they built.
type thirdParty struct {
	limiter *quotaLimiter
	store   *shelfStore
}

func (tp *thirdParty) options() []frameworkm.Option {
	return []frameworkm.Option{
		frameworkm.WithRateLimiterBackend("quota", frameworkm.NewBackend(quotaSettings{Allow: 100},
			func(_ frameworkm.Deps, s quotaSettings) (ports.RateLimiter, error) {
				tp.limiter = &quotaLimiter{allow: s.Allow, n: map[string]int{}}
				return tp.limiter, nil
			})),
		frameworkm.WithSessionBackend("shelf", frameworkm.NewBackend(shelfSettings{Label: "default"},
			func(_ frameworkm.Deps, s shelfSettings) (ports.SessionStore, error) {
				tp.store = &shelfStore{label: s.Label, m: map[string]ports.Session{}}
				return tp.store, nil
			})),
	}
}

// thirdPartyConfig is a test app's configuration with the TOML's backends
// and sections.
func thirdPartyConfig(t *testing.T, body string) config.Config {
	t.Helper()
	parsed, err := frameworkm.ParseConfig("third_party.toml", []byte(body))
	require.NoError(t, err)
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.RateLimit.Backend, cfg.RateLimit.Enabled = parsed.RateLimit.Backend, parsed.RateLimit.Enabled
	cfg.Permissions.Backend = parsed.Permissions.Backend
	cfg.Auth.Session.Backend = parsed.Auth.Session.Backend
	cfg.Sections = parsed.Sections
	return cfg
}

const thirdPartyTOML = `
[rate_limit]
enabled = true
backend = "quota"

[rate_limit.quota]
allow = 4

[auth.session]
backend = "shelf"

[auth.session.shelf]
label = "from the TOML"
`

// A third party's rate limiter and session store, each with its own
// [section.backend] settings, are chosen in TOML and serve real requests.
func TestThirdPartyBackendsEndToEnd(t *testing.T) {
	tp := &thirdParty{}
	app := fmtest.NewWithConfig(t, thirdPartyConfig(t, thirdPartyTOML), tp.options()...)
	require.NotNil(t, tp.store, "the shelf store was built")
	require.NotNil(t, tp.limiter, "the quota limiter was built")
	assert.Equal(t, "from the TOML", tp.store.label)
	assert.Equal(t, 4, tp.limiter.allow)

	// Sessions: a browser login lands in the third party's store and the
	// cookie authenticates against it.
	app.CreateUser(t, "ann@example.com", "correct horse battery")
	browser := app.Browser()
	browser.Post("/api/v1/auth/login?session=true", map[string]string{"username": "ann@example.com", "password": "correct horse battery"}).RequireStatus(t, http.StatusOK)
	tp.store.mu.Lock()
	stored := len(tp.store.m)
	tp.store.mu.Unlock()
	assert.Equal(t, 1, stored, "the session is in the shelf store")
	me := browser.Get("/api/v1/auth/me").RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, "ann@example.com", me["email"])

	// Rate limits: the quota of 4 per key holds over HTTP, from a fresh address key.
	tp.limiter.mu.Lock()
	clear(tp.limiter.n)
	tp.limiter.mu.Unlock()
	anon := app.Anonymous()
	for i := range 4 {
		res := anon.Get("/api/v1/settings")
		require.Equal(t, http.StatusOK, res.Status, "request %d", i+1)
		assert.Equal(t, "4", res.Header.Get("X-RateLimit-Limit"))
	}
	res := anon.Get("/api/v1/settings")
	assert.Equal(t, http.StatusTooManyRequests, res.Status, "the fifth request is over the quota")
}

// Startup and `config check` refuse an unknown backend naming the registered
// ones (third parties' included), a bad key or value inside a third party's
// section naming the key, and keep every problem in one error.
func TestThirdPartyBackendsAreChecked(t *testing.T) {
	tp := &thirdParty{}
	cases := map[string]struct {
		toml string
		want map[string]string // key → part of the reason
	}{
		"unknown backend": {
			toml: "[rate_limit]\nbackend = \"leaky\"\n",
			want: map[string]string{"rate_limit.backend": `unknown backend "leaky" (registered rate limiter backends: memory, quota, redis)`},
		},
		"unknown session store": {
			toml: "[auth.session]\nbackend = \"drawer\"\n",
			want: map[string]string{"auth.session.backend": `unknown backend "drawer" (registered session store backends: database, redis, shelf)`},
		},
		"bad key in a third party's section": {
			toml: thirdPartyTOML + "\n[rate_limit.quota.extra]\nx = 1\n",
			want: map[string]string{"rate_limit.quota.extra": "unknown key"},
		},
		"misspelt key in a third party's section": {
			toml: "[rate_limit]\nbackend = \"quota\"\n[rate_limit.quota]\nalow = 3\n",
			want: map[string]string{"rate_limit.quota.alow": "unknown key"},
		},
		"bad value in a third party's section": {
			toml: "[rate_limit]\nbackend = \"quota\"\n[rate_limit.quota]\nallow = 0\n",
			want: map[string]string{"rate_limit.quota.allow": "must be at least 1"},
		},
		"wrong type in a third party's section": {
			toml: "[auth.session]\nbackend = \"shelf\"\n[auth.session.shelf]\nlabel = 7\n",
			want: map[string]string{"auth.session.shelf.label": "incompatible types"},
		},
		"a registered backend's section is checked when not selected": {
			toml: "[auth.session.shelf]\nlabell = \"x\"\n",
			want: map[string]string{"auth.session.shelf.labell": "unknown key"},
		},
		"built-in section, bad key, not selected": {
			toml: "[permissions.citadel]\nendpont = \"http://x\"\n",
			want: map[string]string{"permissions.citadel.endpont": "unknown key"},
		},
		"every problem at once": {
			toml: "[rate_limit]\nbackend = \"leaky\"\n[auth.session.shelf]\nlabell = \"x\"\n",
			want: map[string]string{"rate_limit.backend": "leaky", "auth.session.shelf.labell": "unknown key"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := thirdPartyConfig(t, tc.toml)
			_, err := frameworkm.New(cfg, append(tp.options(), frameworkm.WithLogger(fmtest.Logger(t)))...)
			probs := problemsOf(t, err)
			assert.Len(t, probs, len(tc.want), "%v", probs)
			for key, want := range tc.want {
				assert.Contains(t, probs[key], want, "problem of %s in %v", key, probs)
			}
			// config check says the same before anything is opened.
			assert.Equal(t, probs, problemsOf(t, checkErr(frameworkm.CheckConfig(cfg, tp.options()...))))
		})
	}
}

// checkErr drops CheckConfig's warnings.
func checkErr(_ []string, err error) error { return err }

func problemsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	require.Error(t, err)
	var cerr *config.Error
	require.True(t, errors.As(err, &cerr), "want *config.Error, got %T: %v", err, err)
	out := map[string]string{}
	for _, p := range cerr.Problems {
		out[p.Key] = p.Reason
	}
	return out
}

// A section of a backend nobody registered, and not selected, is ignored
// with a warning (another build of the app may register it); selected, it
// is an unknown backend.
func TestUnregisteredSectionIsIgnoredWithAWarning(t *testing.T) {
	cfg := thirdPartyConfig(t, "[rate_limit.leaky]\nrate = 3\n")
	var logs bytes.Buffer
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, app.Shutdown(context.Background()))
	assert.Contains(t, logs.String(), "section=rate_limit.leaky")

	warnings, err := frameworkm.CheckConfig(cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"[rate_limit.leaky] names no registered backend and is ignored (registered: memory, redis)"}, warnings)

	cfg.RateLimit.Backend = "leaky"
	_, err = frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)))
	assert.Contains(t, problemsOf(t, err)["rate_limit.backend"], `unknown backend "leaky"`)
}

// A selected built-in backend validates its defaults even without a table:
// cedar without policy files is refused at startup, naming the key.
func TestSelectedBackendWithoutSectionIsValidated(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Permissions.Backend = "cedar"
	_, err := frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)))
	probs := problemsOf(t, err)
	assert.Contains(t, probs["permissions.cedar.policy_files"], "list the .cedar policy files")
	assert.True(t, slices.Contains([]int{1}, len(probs)), "%v", probs)
}

// A built-in backend's table is value-checked even when another backend is
// selected; what it only needs once selected (an endpoint) is not asked.
func TestUnselectedBuiltinSectionValues(t *testing.T) {
	cfg := thirdPartyConfig(t, "[permissions.citadel]\nformat = \"xacml\"\ntimeout_ms = 0\nfallback = \"abac\"\n")
	probs := problemsOf(t, checkErr(frameworkm.CheckConfig(cfg)))
	assert.Contains(t, probs["permissions.citadel.format"], `not "xacml"`)
	assert.Contains(t, probs["permissions.citadel.timeout_ms"], "between 1 and 60000")
	assert.Contains(t, probs["permissions.citadel.fallback"], `not "abac"`)
	assert.NotContains(t, probs, "permissions.citadel.endpoint")

	cfg = thirdPartyConfig(t, "[permissions]\nbackend = \"citadel\"\n[permissions.citadel]\nendpoint = \"ftp://policy\"\n")
	assert.Contains(t, problemsOf(t, checkErr(frameworkm.CheckConfig(cfg)))["permissions.citadel.endpoint"], `not "ftp://policy"`)
}

// The Redis server is checked when a Redis backend is selected, and only then.
func TestRedisURLCheckedWhenUsed(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Redis.URL = "http://not-redis"
	_, err := frameworkm.CheckConfig(cfg)
	require.NoError(t, err, "no Redis backend is selected")
	cfg.Auth.Session.Backend = "redis"
	assert.Contains(t, problemsOf(t, checkErr(frameworkm.CheckConfig(cfg)))["redis.url"], "must be redis://")
	cfg.Redis.URL = ""
	assert.Contains(t, problemsOf(t, checkErr(frameworkm.CheckConfig(cfg)))["redis.url"], "must be redis://")
}

// A resolver registered under a mode's name replaces that mode's resolver.
func TestTenantResolverForAMode(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	built := false
	app, err := frameworkm.New(cfg, frameworkm.WithLogger(fmtest.Logger(t)), frameworkm.WithTenantResolver("multi",
		frameworkm.Factory(func(d frameworkm.Deps) (ports.TenantResolver, error) {
			built = true
			return fakes.NewTenants(ports.TenantContext{ID: "acme"}), nil
		})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = app.Shutdown(context.Background()) })
	assert.True(t, built)
}
