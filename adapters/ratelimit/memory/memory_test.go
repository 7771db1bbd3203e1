package memory_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	"github.com/framework-m/framework-m/fmtest/ratelimittest"
	"github.com/framework-m/framework-m/ports"
)

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newLimiter() (*memory.Limiter, *clock) {
	c := &clock{t: t0}
	return memory.New().WithClock(c.now), c
}

var _ ports.RateLimiter = (*memory.Limiter)(nil)

func TestAllowUpToLimitThenRefuse(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter()
	const limit = 3
	window := time.Minute

	for i := range limit {
		d, err := l.Allow(ctx, "k", limit, window)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "event %d is within the limit", i+1)
		assert.Equal(t, limit, d.Limit)
		assert.Equal(t, limit-i-1, d.Remaining)
		assert.Zero(t, d.RetryAfter, "an allowed event has no retry delay")
		assert.Equal(t, t0.Add(window), d.Reset)
	}

	c.advance(20 * time.Second)
	d, err := l.Allow(ctx, "k", limit, window)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the event over the limit is refused")
	assert.Zero(t, d.Remaining)
	assert.Equal(t, 40*time.Second, d.RetryAfter, "retry when the window ends")
	assert.Equal(t, t0.Add(window), d.Reset)

	c.advance(30 * time.Second)
	d, err = l.Allow(ctx, "k", limit, window)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "refused events do not open a new window")
	assert.Equal(t, 10*time.Second, d.RetryAfter)
}

func TestWindowRolloverResets(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter()
	for range 2 {
		_, err := l.Allow(ctx, "k", 2, time.Minute)
		require.NoError(t, err)
	}
	d, err := l.Allow(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	require.False(t, d.Allowed)

	c.advance(time.Minute) // the window [t0, t0+1m) is over
	d, err = l.Allow(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "a new window starts with a fresh count")
	assert.Equal(t, 1, d.Remaining)
	assert.Equal(t, t0.Add(2*time.Minute), d.Reset)
}

func TestPeekDoesNotCount(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter()

	d, err := l.Peek(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, 2, d.Remaining, "peeking an unknown key")

	for range 10 {
		d, err = l.Peek(ctx, "k", 2, time.Minute)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	d, err = l.Allow(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	require.True(t, d.Allowed, "peeks did not use up the first event")
	// Peeking a window that exists does not count either.
	for range 10 {
		d, err = l.Peek(ctx, "k", 2, time.Minute)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.Equal(t, 1, d.Remaining)
	}
	d, err = l.Allow(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "peeks did not use up the second event")
	d, err = l.Peek(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "peek reports a full window")
	assert.Zero(t, d.Remaining)

	c.advance(15 * time.Second)
	d, err = l.Peek(ctx, "k", 2, time.Minute)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, 45*time.Second, d.RetryAfter)

	// Peeking a full window still does not count: after it rolls over, the
	// whole limit is available.
	c.advance(45 * time.Second)
	for i := range 2 {
		d, err = l.Allow(ctx, "k", 2, time.Minute)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "event %d of the new window", i+1)
	}
}

func TestResetForgetsKey(t *testing.T) {
	ctx := context.Background()
	l, _ := newLimiter()
	for range 3 {
		_, err := l.Allow(ctx, "k", 3, time.Hour)
		require.NoError(t, err)
	}
	d, err := l.Allow(ctx, "k", 3, time.Hour)
	require.NoError(t, err)
	require.False(t, d.Allowed)

	require.NoError(t, l.Reset(ctx, "k"))
	d, err = l.Allow(ctx, "k", 3, time.Hour)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, 2, d.Remaining, "the count restarted from zero")

	require.NoError(t, l.Reset(ctx, "never-seen"), "resetting an unknown key is fine")
}

func TestKeysAreIndependent(t *testing.T) {
	ctx := context.Background()
	l, _ := newLimiter()
	d, err := l.Allow(ctx, "a", 1, time.Minute)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = l.Allow(ctx, "a", 1, time.Minute)
	require.NoError(t, err)
	require.False(t, d.Allowed)

	d, err = l.Allow(ctx, "b", 1, time.Minute)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "key b has its own count")
	d, err = l.Peek(ctx, "c", 1, time.Minute)
	require.NoError(t, err)
	assert.True(t, d.Allowed)

	require.NoError(t, l.Reset(ctx, "b"))
	d, err = l.Allow(ctx, "a", 1, time.Minute)
	require.NoError(t, err)
	assert.False(t, d.Allowed, "resetting b leaves a alone")
}

func TestConcurrentAllowNeverExceedsLimit(t *testing.T) {
	ctx := context.Background()
	l, _ := newLimiter()
	const (
		limit      = 100
		goroutines = 50
		perG       = 20
	)
	var allowed, other atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				d, err := l.Allow(ctx, "shared", limit, time.Minute)
				if err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
				// Noise on other keys while the shared one is contended.
				if _, err := l.Allow(ctx, fmt.Sprintf("own-%d", g), limit, time.Minute); err == nil {
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(limit), allowed.Load(), "exactly the limit is allowed, never more")
	assert.Equal(t, int64(goroutines*perG), other.Load())

	d, err := l.Peek(ctx, "shared", limit, time.Minute)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
}

func TestContract(t *testing.T) {
	t.Run("fake clock", func(t *testing.T) {
		ratelimittest.RunWithClock(t, func(t *testing.T, now func() time.Time) ports.RateLimiter {
			return memory.New().WithClock(now)
		})
	})
	t.Run("real clock", func(t *testing.T) {
		ratelimittest.Run(t, func(t *testing.T) ports.RateLimiter { return memory.New() })
	})
}
