package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	sessdb "github.com/framework-m/framework-m/adapters/session/database"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

var errRedisDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// outage is a switch standing for a Redis server that went down.
type outage struct{ down atomic.Bool }

// flakyStore is the database session store, failing while the outage lasts.
type flakyStore struct {
	ports.SessionStore
	o *outage
}

func (s flakyStore) Create(ctx context.Context, sess *ports.Session) error {
	if s.o.down.Load() {
		return errRedisDown
	}
	return s.SessionStore.Create(ctx, sess)
}

func (s flakyStore) Get(ctx context.Context, id string) (*ports.Session, error) {
	if s.o.down.Load() {
		return nil, errRedisDown
	}
	return s.SessionStore.Get(ctx, id)
}

// flakyLimiter is the memory limiter, failing while the outage lasts.
type flakyLimiter struct {
	*memory.Limiter
	o *outage
}

func (l flakyLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	if l.o.down.Load() {
		return ports.RateDecision{}, errRedisDown
	}
	return l.Limiter.Allow(ctx, key, limit, window)
}

// outageApp is a test app whose sessions and limits live in a "Redis" o
// switches off.
func outageApp(t *testing.T, o *outage, logs *fmtest.LogBuffer, mutate func(*config.Config)) *fmtest.App {
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.Session.Backend = "flaky"
	cfg.RateLimit.Backend = "flaky"
	if mutate != nil {
		mutate(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta),
		frameworkm.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		frameworkm.WithSessionBackend("flaky", frameworkm.Factory(func(d frameworkm.Deps) (ports.SessionStore, error) {
			return flakyStore{SessionStore: sessdb.New(d.Repository, d.Purger), o: o}, nil
		})),
		frameworkm.WithRateLimiterBackend("flaky", frameworkm.Factory(func(frameworkm.Deps) (ports.RateLimiter, error) {
			return flakyLimiter{Limiter: memory.New(), o: o}, nil
		})))
}

// errorLogs counts the Error Log rows.
func errorLogs(t *testing.T, app *fmtest.App) int {
	t.Helper()
	res, err := app.Repository.List(app.SystemContext(context.Background(), ""), doctypes.ErrorLogDocType, ports.Query{Limit: 1})
	require.NoError(t, err)
	return int(res.Total)
}

// TestRedisOutage: with the Redis of sessions and limits down, bearer tokens
// and API keys still work; logins and sessions the instance has not seen
// answer 503 with Retry-After (never 500, never an Error Log row); everything
// works again as soon as it is back.
func TestRedisOutage(t *testing.T) {
	o := &outage{}
	var logs fmtest.LogBuffer
	app := outageApp(t, o, &logs, nil)
	app.CreateUser(t, annEmail, annPass, "Writer")
	c := credentialed(t, app) // bearer, API key, session
	for _, cl := range c {
		st, _ := me(t, cl) // used once: in memory
		require.Equal(t, http.StatusOK, st)
	}
	unseen := app.Browser().UseCSRF()
	unseen.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)

	o.down.Store(true)
	for _, kind := range []string{"bearer", "api_key", "session_cookie"} {
		st, _ := me(t, c[kind])
		assert.Equal(t, http.StatusOK, st, "%s: needs nothing from Redis (a session this instance served is in memory)", kind)
	}
	for name, res := range map[string]*fmtest.Response{
		"login":          app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)),
		"unseen session": unseen.Get("/api/v1/auth/me"),
	} {
		assert.Equal(t, http.StatusServiceUnavailable, res.Status, "%s: %s", name, res.Body)
		retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
		assert.NoError(t, err, "%s: Retry-After", name)
		assert.Positive(t, retry, name)
		assert.Equal(t, "unavailable", res.Err(t).Error.Code, name)
		assert.NotContains(t, string(res.Body), "connection refused", "%s: the cause stays in the log", name)
	}
	assert.Zero(t, errorLogs(t, app), "an outage is not an application error")
	for range 20 {
		app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusServiceUnavailable)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "dependency=\"the login throttle\""), "one line per dependency, not per request:\n%s", logs.String())
	assert.Equal(t, 1, strings.Count(logs.String(), "rate limiter failed"), "the API limit's failure is logged once too")
	assert.NotContains(t, logs.String(), "level=ERROR")

	o.down.Store(false)
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	st, _ := me(t, unseen)
	assert.Equal(t, http.StatusOK, st, "sessions are back with Redis")
}

// TestRedisOutageThrottleOpen: with [auth.throttle] on_error = "open", logins
// go on, unthrottled, while the limiter is down.
func TestRedisOutageThrottleOpen(t *testing.T) {
	o := &outage{}
	var logs fmtest.LogBuffer
	app := outageApp(t, o, &logs, func(cfg *config.Config) { cfg.Auth.Throttle.OnError = "open" })
	app.CreateUser(t, annEmail, annPass, "Writer")
	o.down.Store(true)
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, "wrong password")).RequireStatus(t, http.StatusUnauthorized)
}

// cuttable forwards TCP connections to target until cut: then it drops every
// open connection and refuses new ones, as a database that went down does,
// until restored.
type cuttable struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCuttable(t *testing.T, target string) *cuttable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &cuttable{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			if c.down.Load() {
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.track(in, out)
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cuttable) track(conns ...net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range conns {
		c.conns[cn] = true
	}
}

// cut drops every connection and refuses new ones.
func (c *cuttable) cut() {
	c.down.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for cn := range c.conns {
		cn.Close()
	}
	c.conns = map[net.Conn]bool{}
}

// TestDatabaseOutage: while PostgreSQL cannot be reached every request that
// needs it answers 503 with Retry-After (never 500), the outage is logged a
// few times, not per request, and never stored as an Error Log; when the
// database is back, the app recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.Postgres)
	u, err := url.Parse(cfg.Database.DSN)
	require.NoError(t, err)
	proxy := newCuttable(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	cfg.Database.DSN = u.String()
	var logs fmtest.LogBuffer
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta),
		frameworkm.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	app.CreateUser(t, annEmail, annPass, "Writer")
	c := app.Bearer(app.Login(t, annEmail, annPass))
	doc := c.Post("/api/v1/resource/Note", map[string]any{"title": "before the outage"}).RequireStatus(t, http.StatusCreated).Data(t)
	path := "/api/v1/resource/Note/" + doc["name"].(string)

	proxy.cut()
	for i := range 30 {
		var res *fmtest.Response
		if i%2 == 0 {
			res = c.Get(path)
		} else {
			res = c.Post("/api/v1/resource/Note", map[string]any{"title": "during the outage"})
		}
		require.Equal(t, http.StatusServiceUnavailable, res.Status, "request %d: %s", i, res.Body)
		assert.NotEmpty(t, res.Header.Get("Retry-After"))
		assert.Contains(t, string(res.Body), "the database is unavailable")
	}
	assert.LessOrEqual(t, strings.Count(logs.String(), "level=ERROR"), 3, "a few lines, not one per request:\n%s", logs.String())

	proxy.down.Store(false)
	require.Eventually(t, func() bool { return c.Get(path).Status == http.StatusOK }, 10*time.Second, 50*time.Millisecond, "recovers by itself")
	assert.Zero(t, errorLogs(t, app), "the outage is not stored as Error Log")
	_, total := c.Get("/api/v1/resource/Note").List(t)
	assert.Equal(t, 1, total, "nothing written by the refused creates")
}

// privateRedis starts a redis-server of the test's own (FM_TEST_REDIS_BIN),
// to be frozen, stopped and started again on the same port, and returns its
// URL and a function starting it (again) that returns its process.
func privateRedis(t *testing.T) (string, func() *os.Process) {
	t.Helper()
	bin := fmtest.SkipUnlessServer(t, "FM_TEST_REDIS_BIN", "a redis-server binary")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	start := func() *os.Process {
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		require.Eventually(t, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, 5*time.Second, 10*time.Millisecond, "redis-server listens")
		return cmd.Process
	}
	return "redis://" + addr + "/0", start
}

// redisBackedApp starts a private Redis and an app keeping its sessions and
// limits there, with ann as a user; start starts Redis again after a stop.
func redisBackedApp(t *testing.T) (*fmtest.App, *os.Process, func() *os.Process) {
	t.Helper()
	redisURL, start := privateRedis(t)
	proc := start()
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Redis.URL = redisURL
	cfg.RateLimit.Backend = "redis"
	cfg.Auth.Session.Backend = "redis"
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
	app.CreateUser(t, annEmail, annPass, "Writer")
	return app, proc, start
}

// TestRedisStopped: with the real Redis of sessions and limits stopped, /readyz
// answers 503 naming it, bearer tokens and API keys work, logins and sessions
// answer 503, and everything is back within a second of Redis returning.
func TestRedisStopped(t *testing.T) {
	app, proc, start := redisBackedApp(t)
	c := credentialed(t, app)
	ready := func() (int, map[string]any) {
		res := app.Anonymous().Get("/readyz")
		return res.Status, res.Map(t)
	}
	st, body := ready()
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, map[string]any{"database": "ok", "redis": "ok"}, body["checks"])

	require.NoError(t, proc.Kill())
	st, body = ready()
	assert.Equal(t, http.StatusServiceUnavailable, st)
	assert.Equal(t, map[string]any{"database": "ok", "redis": "down"}, body["checks"])
	assert.Contains(t, body["error"].(map[string]any)["message"], "redis")
	for _, kind := range []string{"bearer", "api_key"} {
		st, _ := me(t, c[kind])
		assert.Equal(t, http.StatusOK, st, kind)
	}
	assert.Equal(t, http.StatusServiceUnavailable, app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).Status)
	st, _ = me(t, c["session_cookie"])
	assert.Equal(t, http.StatusServiceUnavailable, st, "a session this instance has not served yet")

	start()
	returned := time.Now()
	require.Eventually(t, func() bool {
		st, _ := ready()
		return st == http.StatusOK && app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).Status == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond)
	assert.Less(t, time.Since(returned), 1500*time.Millisecond, "back within about a second (the breaker's cooldown)")
}

// TestFrozenRedis: a Redis that accepts connections and never answers
// (SIGSTOP) costs a request at most one short wait: bearer requests (whose
// rate limit lives in that Redis) answer within a second, logins answer 503
// within a second, and all is well again soon after it thaws.
func TestFrozenRedis(t *testing.T) {
	app, proc, _ := redisBackedApp(t)
	c := app.Bearer(app.Login(t, annEmail, annPass))

	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	for i := range 5 {
		began := time.Now()
		st, _ := me(t, c)
		assert.Equal(t, http.StatusOK, st, "bearer request %d: the rate limit lets it through", i)
		assert.Less(t, time.Since(began), time.Second, "bearer request %d", i)
	}
	began := time.Now()
	res := app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass))
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
	assert.Less(t, time.Since(began), time.Second, "login")

	require.NoError(t, proc.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool {
		return app.Anonymous().Post("/api/v1/auth/login", loginBody(annEmail, annPass)).Status == http.StatusOK
	}, 5*time.Second, 50*time.Millisecond, "logins are back once Redis answers")
}

type SeriesTicket struct {
	doctype.Base
	Title string `json:"title"`
}

var seriesTicketMeta = doctype.Meta{Name: "Series Ticket", Naming: "TK-.#####", Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}}}

// TestFrozenSeriesHolder: an instance frozen inside a create holds its
// series counter's row lock; the other instances' creates of that DocType
// answer 503 after [database] lock_timeout_ms instead of hanging, their reads
// go on, and creates resume, gapless, once the lock is released.
func TestFrozenSeriesHolder(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.Postgres)
	cfg.Database.LockTimeoutMS = 300
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[SeriesTicket](seriesTicketMeta))
	c := app.As(fmtest.User("w", "Writer"))
	first := c.Post("/api/v1/resource/series-ticket", map[string]any{"title": "one"}).RequireStatus(t, http.StatusCreated).Data(t)
	require.Equal(t, "TK-00001", first["name"])

	// The frozen instance: a transaction that took the counter's lock and
	// stopped there.
	frozen, err := gorm.Open(postgres.Open(cfg.Database.DSN), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err)
	sqlDB, _ := frozen.DB()
	t.Cleanup(func() { sqlDB.Close() })
	tx := frozen.Begin()
	require.NoError(t, tx.Exec("UPDATE fm_series SET current = current WHERE prefix = ?", "TK-").Error)

	began := time.Now()
	res := c.Post("/api/v1/resource/series-ticket", map[string]any{"title": "waits for the lock"})
	assert.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Less(t, time.Since(began), 3*time.Second, "fails after the lock timeout, never hangs")
	c.Get("/api/v1/resource/series-ticket/TK-00001").RequireStatus(t, http.StatusOK) // reads go on

	require.NoError(t, tx.Rollback().Error) // thawed or killed
	second := c.Post("/api/v1/resource/series-ticket", map[string]any{"title": "two"}).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, "TK-00002", second["name"], "no gap, no repeat")
}
