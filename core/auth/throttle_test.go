package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// fakeClock is a settable clock for the in-memory limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var clockStart = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

func newThrottle(perIP, perAccount int) (*auth.Throttle, *fakeClock) {
	c := &fakeClock{t: clockStart}
	return auth.NewThrottle(memory.New().WithClock(c.now), perIP, perAccount, time.Minute), c
}

// rateLimited asserts err is a *core.RateLimitError with a usable RetryAfter.
func rateLimited(t *testing.T, err error) *core.RateLimitError {
	t.Helper()
	require.ErrorIs(t, err, core.ErrTooMany)
	var rl *core.RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.GreaterOrEqual(t, rl.RetryAfter, time.Second, "clients are told to wait at least a second")
	assert.NotEmpty(t, rl.Message)
	return rl
}

func TestThrottlePerIPCountsEveryPasswordCheck(t *testing.T) {
	ctx := tctx("default")
	th, _ := newThrottle(3, 100)
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		require.NoError(t, th.Check(ctx, "192.0.2.1", email))
		th.Succeeded(ctx, email)
	}
	rl := rateLimited(t, th.Check(ctx, "192.0.2.1", "d@example.com"))
	assert.Equal(t, time.Minute, rl.RetryAfter, "until the window ends")
	assert.NoError(t, th.Check(ctx, "192.0.2.2", "d@example.com"), "other addresses are not affected")
}

func TestThrottleGroupsIPv6By64(t *testing.T) {
	ctx := tctx("default")
	th, _ := newThrottle(2, 100)
	require.NoError(t, th.Check(ctx, "2001:db8:1:2::1", "a@example.com"))
	require.NoError(t, th.Check(ctx, "2001:db8:1:2:ffff::9", "b@example.com"))
	rateLimited(t, th.Check(ctx, "2001:db8:1:2:abcd::7", "c@example.com")) // same /64: rotating addresses does not help
	assert.NoError(t, th.Check(ctx, "2001:db8:1:3::1", "c@example.com"), "another /64")
}

func TestThrottlePerAccountCountsConsecutiveFailures(t *testing.T) {
	ctx := tctx("default")
	th, _ := newThrottle(100, 2)
	require.NoError(t, th.Check(ctx, "192.0.2.1", "ann@example.com"))
	require.NoError(t, th.Check(ctx, "192.0.2.3", "ANN@example.com "))
	rateLimited(t, th.Check(ctx, "192.0.2.9", "ann@example.com"))  // from any address
	rateLimited(t, th.Check(ctx, "192.0.2.1", " Ann@Example.com")) // in any case
	assert.NoError(t, th.Check(ctx, "192.0.2.1", "bob@example.com"), "other accounts are not affected")
	assert.NoError(t, th.Check(tctx("other"), "192.0.2.1", "ann@example.com"), "accounts are per tenant")
}

func TestThrottleSucceededResets(t *testing.T) {
	ctx := tctx("default")
	th, _ := newThrottle(100, 2)
	require.NoError(t, th.Check(ctx, "192.0.2.1", "ann@example.com"))
	th.Succeeded(ctx, "ann@example.com")
	require.NoError(t, th.Check(ctx, "192.0.2.1", "ann@example.com"))
	require.NoError(t, th.Check(ctx, "192.0.2.1", "ann@example.com"), "a success forgot the earlier attempt")
	rateLimited(t, th.Check(ctx, "192.0.2.1", "ann@example.com"))
	th.Succeeded(ctx, "ann@example.com")
	assert.NoError(t, th.Check(ctx, "192.0.2.1", "ann@example.com"))
}

// TestThrottleCountsBeforeHashing is the race the throttle exists for: many
// guesses in flight at once must not all pass the check while hashes run.
func TestThrottleCountsBeforeHashing(t *testing.T) {
	ctx := tctx("default")
	th, _ := newThrottle(1000, 5)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if th.Check(ctx, "192.0.2.1", "ann@example.com") == nil {
				passed.Add(1) // a slow hash would start here, and fail
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 5, passed.Load())
}

// keyRecorder is a limiter that allows everything and remembers the keys.
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) Allow(_ context.Context, key string, limit int, _ time.Duration) (ports.RateDecision, error) {
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	return ports.RateDecision{Allowed: true, Limit: limit, Remaining: limit}, nil
}

func (k *keyRecorder) Peek(context.Context, string, int, time.Duration) (ports.RateDecision, error) {
	return ports.RateDecision{Allowed: true}, nil
}
func (k *keyRecorder) Reset(context.Context, string) error { return nil }

func TestThrottleKeysStaySmall(t *testing.T) {
	rec := &keyRecorder{}
	th := auth.NewThrottle(rec, 100, 100, time.Minute)
	huge := strings.Repeat("a", 1<<20) + "@example.com"
	require.NoError(t, th.Check(tctx("default"), "192.0.2.1", huge))
	require.Len(t, rec.keys, 2)
	for _, k := range rec.keys {
		assert.Less(t, len(k), 100, "a megabyte email must not become a megabyte key")
	}
}

func TestThrottleWindowAndRetryAfter(t *testing.T) {
	ctx := tctx("default")
	th, c := newThrottle(1, 100)
	require.NoError(t, th.Check(ctx, "192.0.2.1", "a@example.com"))

	c.set(clockStart.Add(20 * time.Second))
	rl := rateLimited(t, th.Check(ctx, "192.0.2.1", "a@example.com"))
	assert.Equal(t, 40*time.Second, rl.RetryAfter)

	// 100ms before the window ends the limiter says 100ms; clients get at least 1s.
	c.set(clockStart.Add(time.Minute - 100*time.Millisecond))
	rl = rateLimited(t, th.Check(ctx, "192.0.2.1", "a@example.com"))
	assert.Equal(t, time.Second, rl.RetryAfter)

	c.set(clockStart.Add(time.Minute))
	assert.NoError(t, th.Check(ctx, "192.0.2.1", "a@example.com"), "a new window")
}

func TestNilThrottleAllowsEverything(t *testing.T) {
	var th *auth.Throttle
	ctx := tctx("default")
	for range 100 {
		require.NoError(t, th.Check(ctx, "192.0.2.1", "a@example.com"))
	}
	th.Succeeded(ctx, "a@example.com")
}

// brokenLimiter fails every call.
type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, string, int, time.Duration) (ports.RateDecision, error) {
	return ports.RateDecision{}, errors.New("redis down")
}

func (brokenLimiter) Peek(context.Context, string, int, time.Duration) (ports.RateDecision, error) {
	return ports.RateDecision{}, errors.New("redis down")
}
func (brokenLimiter) Reset(context.Context, string) error { return errors.New("redis down") }

func TestThrottleLimiterFailureIsAnError(t *testing.T) {
	th := auth.NewThrottle(brokenLimiter{}, 10, 10, time.Minute)
	err := th.Check(tctx("default"), "192.0.2.1", "a@example.com")
	require.Error(t, err, "a broken limiter does not let guesses through")
	assert.NotErrorIs(t, err, core.ErrTooMany)
	assert.ErrorIs(t, err, core.ErrUnavailable, "a 503, not a 500")
	var ue *core.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Positive(t, ue.RetryAfter)
}

func TestThrottleFailsOpenWhenConfigured(t *testing.T) {
	var logs fmtest.LogBuffer
	th := auth.NewThrottle(brokenLimiter{}, 10, 10, time.Minute).FailOpen(true, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 5 {
		assert.NoError(t, th.Check(tctx("default"), "192.0.2.1", "a@example.com"), "on_error = open lets checks through")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "unthrottled"), "logged once, not per check: %s", logs.String())
}

func TestThrottledLoginDoesNoPasswordWork(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, withThrottle(2, 100))
		ctx := tctx("default")
		e.user(t, ctx, annEmail)
		for range 2 {
			_, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: "wrong password", IP: "192.0.2.1"})
			require.ErrorIs(t, err, core.ErrUnauthorized)
		}
		work := e.ident.passwordWork()
		require.Equal(t, int64(2), work)

		_, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: annPassword, IP: "192.0.2.1"})
		rateLimited(t, err)
		assert.Equal(t, work, e.ident.passwordWork(), "a throttled login is refused before any password is checked")

		_, err = e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: annPassword, IP: "192.0.2.2"})
		assert.NoError(t, err)
	})

	t.Run("per account", func(t *testing.T) {
		e := newEnv(t, withThrottle(100, 3))
		ctx := tctx("default")
		e.user(t, ctx, annEmail)
		// Successful logins do not count towards the account's limit.
		for range 5 {
			e.login(t, ctx, annEmail, false)
		}
		for range 3 {
			_, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: "wrong password", IP: "192.0.2.1"})
			require.ErrorIs(t, err, core.ErrUnauthorized)
		}
		work := e.ident.passwordWork()
		_, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: annPassword, IP: "192.0.2.7"})
		rateLimited(t, err)
		assert.Equal(t, work, e.ident.passwordWork(), "refused before any password work")

		// Guessing on unknown accounts is counted too.
		for range 3 {
			_, err := e.svc.Login(ctx, auth.LoginRequest{Email: "ghost@example.com", Password: "x", IP: "192.0.2.1"})
			require.ErrorIs(t, err, core.ErrUnauthorized)
		}
		_, err = e.svc.Login(ctx, auth.LoginRequest{Email: "ghost@example.com", Password: "x", IP: "192.0.2.1"})
		rateLimited(t, err)
	})

	t.Run("success resets the account", func(t *testing.T) {
		e := newEnv(t, withThrottle(100, 2))
		ctx := tctx("default")
		e.user(t, ctx, annEmail)
		_, err := e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: "wrong password", IP: "192.0.2.1"})
		require.ErrorIs(t, err, core.ErrUnauthorized)
		e.login(t, ctx, annEmail, false)
		_, err = e.svc.Login(ctx, auth.LoginRequest{Email: annEmail, Password: "wrong password", IP: "192.0.2.1"})
		require.ErrorIs(t, err, core.ErrUnauthorized)
		e.login(t, ctx, annEmail, false) // one failure since the last success: allowed
	})
}

var _ ports.RateLimiter = brokenLimiter{}
