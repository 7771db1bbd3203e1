package cluster_test

import (
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// redisPair starts a private Redis and two instances keeping their sessions
// and rate limits (so the login throttle) in it, on a database of their own.
func redisPair(t *testing.T, mutate func(*nodeSpec)) (*redisServer, *node, *node) {
	t.Helper()
	rd := startRedis(t)
	dsn := postgresCluster(t).newDatabase(t)
	nodes := startNodes(t, newSpecs(t, 2, dsn, func(s *nodeSpec) {
		s.RedisURL = rd.url()
		if mutate != nil {
			mutate(s)
		}
	})...)
	return rd, nodes[0], nodes[1]
}

// TestRedisStopped proves issue 11's first acceptance item on two real
// instances: with the shared Redis of sessions and rate limits killed, on
// both instances bearer tokens and API keys (minted on the first) still
// answer 200, password logins and session cookies answer 503 with
// Retry-After (never 500), and /readyz answers 503 naming redis; once
// redis-server answers again on the same port, both instances log in and
// are ready again within 1.5 s, with no ERROR line logged meanwhile.
func TestRedisStopped(t *testing.T) {
	rd, a, b := redisPair(t, nil)
	nodes := []*node{a, b}
	token := a.login(t)
	key := a.newAPIKey(t, token)
	sid := a.sessionLogin(t) // never used before the outage: no instance has it in memory
	ticket := a.post(ticketPath, map[string]any{"title": "before the outage"}, bearer(token))
	require.Equal(t, http.StatusCreated, ticket.status, "%s", ticket)
	doc := ticketPath + "/" + ticket.name(t)
	creds := map[string]http.Header{"bearer": bearer(token), "api_key": apiKey(key)}
	for _, n := range nodes {
		for kind, h := range creds {
			require.Equal(t, http.StatusOK, n.get("/api/v1/auth/me", h).status, "%s on %s", kind, n.name)
			require.Equal(t, http.StatusOK, n.get(doc, h).status, "%s on %s", kind, n.name)
		}
		st, checks := n.readiness()
		require.Equal(t, http.StatusOK, st, "%s ready before the outage", n.name)
		require.Equal(t, "ok", checks["redis"])
	}
	marks := map[*node]int{a: a.logs.Len(), b: b.logs.Len()}

	rd.kill()
	for _, n := range nodes {
		st, checks := n.readiness()
		assert.Equal(t, http.StatusServiceUnavailable, st, "%s: /readyz", n.name)
		assert.Equal(t, "down", checks["redis"], "%s: /readyz names redis: %v", n.name, checks)
		assert.Equal(t, "ok", checks["database"], n.name)
		for kind, h := range creds {
			r := n.get("/api/v1/auth/me", h)
			assert.Equal(t, http.StatusOK, r.status, "%s on %s needs nothing from Redis: %s", kind, n.name, r)
			r = n.get(doc, h)
			assert.Equal(t, http.StatusOK, r.status, "%s GET of a document on %s: %s", kind, n.name, r)
		}
		assertUnavailable(t, n.post("/api/v1/auth/login", loginBody(adminEmail, adminPass), nil), n.name+": password login")
		assertUnavailable(t, n.post("/api/v1/auth/login?session=true", loginBody(adminEmail, adminPass), nil), n.name+": session login")
		assertUnavailable(t, n.get("/api/v1/auth/me", sessionCookie(sid)), n.name+": session cookie")
	}

	rd.start()
	back := time.Now() // redis-server answers PING again
	recovered := map[string]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for time.Since(back) < 10*time.Second {
				st, _ := n.readiness()
				if st == http.StatusOK && n.post("/api/v1/auth/login", loginBody(adminEmail, adminPass), nil).status == http.StatusOK {
					mu.Lock()
					recovered[n.name] = time.Since(back)
					mu.Unlock()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	t.Logf("ready and logging in again after Redis returned: %v", recovered)
	for _, n := range nodes {
		d, ok := recovered[n.name]
		if assert.True(t, ok, "%s never recovered", n.name) {
			assert.Less(t, d, 1500*time.Millisecond, "%s recovers within about a second of Redis returning", n.name)
		}
	}
	// Sessions are shared again: made on one instance, valid on the other.
	sid = a.sessionLogin(t)
	assert.Equal(t, http.StatusOK, b.get("/api/v1/auth/me", sessionCookie(sid)).status)
	for _, n := range nodes {
		// /readyz's 503s included: a probe saying "not ready" is no error.
		assert.Empty(t, n.logs.errorLines(marks[n]), "%s: an outage of Redis is no error of the app's", n.name)
	}
}

// TestRedisStoppedThrottleOpen proves the on_error = "open" variant on two
// real instances: with Redis killed, password logins pass unthrottled on
// both (200 for the right password, 401 for a wrong one) and the token works
// on the other instance, while session logins still answer 503.
func TestRedisStoppedThrottleOpen(t *testing.T) {
	rd, a, b := redisPair(t, func(s *nodeSpec) { s.ThrottleOnError = "open" })
	rd.kill()
	for _, n := range []*node{a, b} {
		other := a
		if n == a {
			other = b
		}
		token := n.login(t) // requires 200
		assert.Equal(t, http.StatusOK, other.get("/api/v1/auth/me", bearer(token)).status, "a token from %s on %s", n.name, other.name)
		r := n.post("/api/v1/auth/login", loginBody(adminEmail, "wrong password"), nil)
		assert.Equal(t, http.StatusUnauthorized, r.status, "%s: %s", n.name, r)
		assertUnavailable(t, n.post("/api/v1/auth/login?session=true", loginBody(adminEmail, adminPass), nil), n.name+": session login (sessions live in Redis)")
	}
}

// TestRedisFrozen proves issue 11's second acceptance item: with the shared
// Redis frozen (SIGSTOP: it accepts connections and never answers), bearer
// and API key requests on both instances answer 200 within a second each,
// and logins answer 503 within a second; after SIGCONT, logins and /readyz
// are good again on both.
func TestRedisFrozen(t *testing.T) {
	rd, a, b := redisPair(t, nil)
	nodes := []*node{a, b}
	token := a.login(t)
	key := a.newAPIKey(t, token)
	for _, n := range nodes {
		require.Equal(t, http.StatusOK, n.get("/api/v1/auth/me", bearer(token)).status)
		require.Equal(t, http.StatusOK, n.get("/api/v1/auth/me", apiKey(key)).status)
	}

	rd.signal(syscall.SIGSTOP)
	var slowest time.Duration
	for i := range 4 {
		for _, n := range nodes {
			for kind, h := range map[string]http.Header{"bearer": bearer(token), "api_key": apiKey(key)} {
				r := n.get("/api/v1/auth/me", h)
				assert.Equal(t, http.StatusOK, r.status, "%s request %d on %s: %s", kind, i, n.name, r)
				assert.Less(t, r.took, time.Second, "%s request %d on %s", kind, i, n.name)
				slowest = max(slowest, r.took)
			}
		}
	}
	for _, n := range nodes {
		r := n.post("/api/v1/auth/login", loginBody(adminEmail, adminPass), nil)
		assertUnavailable(t, r, n.name+": login while Redis is frozen")
		assert.Less(t, r.took, time.Second, "%s: login", n.name)
		slowest = max(slowest, r.took)
	}
	t.Logf("slowest answer while Redis was frozen: %v", slowest)

	rd.signal(syscall.SIGCONT)
	thawed := time.Now()
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			st, _ := n.readiness()
			return st == http.StatusOK && n.post("/api/v1/auth/login", loginBody(adminEmail, adminPass), nil).status == http.StatusOK
		}, 10*time.Second, 20*time.Millisecond, "%s: all good again once Redis answers", n.name)
	}
	t.Logf("both instances ready and logging in %v after SIGCONT", time.Since(thawed))
}
