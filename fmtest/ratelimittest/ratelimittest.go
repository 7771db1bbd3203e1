// Package ratelimittest is the contract suite of the RateLimiter port: every
// limiter (in-memory, Redis …) counts the same way.
//
//	func TestLimiter(t *testing.T) {
//		ratelimittest.Run(t, func(t *testing.T) ports.RateLimiter {
//			return mylimiter.New(...)
//		})
//	}
//
// A limiter that reads time from a clock it is given passes RunWithClock too,
// which moves a fake clock instead of waiting for windows to end.
package ratelimittest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

// NewLimiter returns a limiter for one behaviour the suite checks. It is
// called from parallel subtests; limiters may share a store, since every
// subtest uses keys of its own. Release resources with t.Cleanup.
type NewLimiter = func(t *testing.T) ports.RateLimiter

// NewClockedLimiter returns a limiter that reads the time from now.
type NewClockedLimiter = func(t *testing.T, now func() time.Time) ports.RateLimiter

// Run checks newLimiter's limiters on the real clock. Each behaviour is a
// parallel subtest of its own, with keys unique to it. Where a window must
// end, the suite waits as long as the limiter's own RetryAfter says.
func Run(t *testing.T, newLimiter NewLimiter) {
	t.Helper()
	run(t, func(t *testing.T) (ports.RateLimiter, clock) { return newLimiter(t), realClock{} })
}

// RunWithClock is Run for limiters that take a clock: each subtest gives its
// limiter a fake clock of its own and moves it instead of sleeping, so the
// order of events never depends on the machine's speed.
func RunWithClock(t *testing.T, newLimiter NewClockedLimiter) {
	t.Helper()
	run(t, func(t *testing.T) (ports.RateLimiter, clock) {
		c := fakeClock{fakes.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))}
		return newLimiter(t, c.Now), c
	})
}

// clock is the time of a subtest's limiter.
type clock interface {
	Now() time.Time
	// Pass lets at least d pass on the limiter's clock.
	Pass(d time.Duration)
	fake() bool
}

// realClock is the machine's clock. Pass sleeps d plus a millisecond: servers
// such as Redis keep expiry times in whole milliseconds and expire a key only
// once their clock is strictly past it.
type realClock struct{}

func (realClock) Now() time.Time       { return time.Now() }
func (realClock) Pass(d time.Duration) { time.Sleep(d + time.Millisecond) }
func (realClock) fake() bool           { return false }

// fakeClock moves only when told to.
type fakeClock struct{ *fakes.Clock }

func (c fakeClock) Pass(d time.Duration) { c.Advance(d) }

func (c fakeClock) fake() bool { return true }

func run(t *testing.T, newLimiter func(t *testing.T) (ports.RateLimiter, clock)) {
	t.Helper()
	ctx := context.Background()
	var seq atomic.Int64
	key := func(t *testing.T) string {
		return fmt.Sprintf("contract:%s:%d:%d", t.Name(), time.Now().UnixNano(), seq.Add(1))
	}

	t.Run("AllowsUpToTheLimit", func(t *testing.T) {
		t.Parallel()
		l, clk := newLimiter(t)
		k := key(t)
		for i := range 3 {
			d, err := l.Allow(ctx, k, 3, time.Minute)
			require.NoError(t, err)
			assert.True(t, d.Allowed, "event %d", i+1)
			assert.Equal(t, 3, d.Limit)
			assert.Equal(t, 2-i, d.Remaining)
			assert.WithinDuration(t, clk.Now().Add(time.Minute), d.Reset, 5*time.Second)
		}
		d, err := l.Allow(ctx, k, 3, time.Minute)
		require.NoError(t, err)
		assert.False(t, d.Allowed)
		assert.Zero(t, d.Remaining)
		assert.Greater(t, d.RetryAfter, time.Duration(0))
		assert.LessOrEqual(t, d.RetryAfter, time.Minute)
	})
	t.Run("PeekDoesNotCount", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		k := key(t)
		for range 5 {
			d, err := l.Peek(ctx, k, 1, time.Minute)
			require.NoError(t, err)
			assert.True(t, d.Allowed)
		}
		_, err := l.Allow(ctx, k, 1, time.Minute)
		require.NoError(t, err)
		d, err := l.Peek(ctx, k, 1, time.Minute)
		require.NoError(t, err)
		assert.False(t, d.Allowed, "the one allowed event is used")
		assert.Greater(t, d.RetryAfter, time.Duration(0))
	})
	t.Run("ResetForgets", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		k := key(t)
		_, _ = l.Allow(ctx, k, 1, time.Minute)
		require.NoError(t, l.Reset(ctx, k))
		d, err := l.Allow(ctx, k, 1, time.Minute)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		k := key(t)
		_, _ = l.Allow(ctx, k+"a", 1, time.Minute)
		d, err := l.Allow(ctx, k+"b", 1, time.Minute)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
	t.Run("WindowEnds", func(t *testing.T) {
		t.Parallel()
		l, clk := newLimiter(t)
		const size = 200 * time.Millisecond
		// Two events in one window: the second is refused. On the real clock
		// a machine too loaded to make two calls within size may see the
		// window end between them; that is no fault of the limiter, and the
		// pair is tried again on a new key (a fake clock never moves here).
		var k string
		var d ports.RateDecision
		for attempt := 1; ; attempt++ {
			k = key(t)
			before := clk.Now()
			first, err := l.Allow(ctx, k, 1, size)
			require.NoError(t, err)
			require.True(t, first.Allowed, "the first event of a window")
			d, err = l.Allow(ctx, k, 1, size)
			require.NoError(t, err)
			if !d.Allowed {
				break
			}
			took := clk.Now().Sub(before)
			require.GreaterOrEqual(t, took, size, "a second event allowed %s into a one-event window of %s", took, size)
			require.Less(t, attempt, 10, "ten pairs of calls each took longer than the %s window", size)
		}
		require.GreaterOrEqual(t, d.RetryAfter, time.Duration(0))
		require.LessOrEqual(t, d.RetryAfter, size, "RetryAfter is within the window")
		if clk.fake() && d.RetryAfter > time.Millisecond {
			clk.Pass(d.RetryAfter - time.Millisecond)
			early, err := l.Allow(ctx, k, 1, size)
			require.NoError(t, err)
			require.False(t, early.Allowed, "the window does not end before RetryAfter")
			clk.Pass(time.Millisecond)
		} else {
			clk.Pass(d.RetryAfter)
		}
		d, err := l.Allow(ctx, k, 1, size)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "a new window once RetryAfter has passed")
		assert.Equal(t, 0, d.Remaining)
	})
	t.Run("ConcurrentEventsNeverExceedTheLimit", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		k := key(t)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					if d, err := l.Allow(ctx, k, 17, time.Minute); err == nil && d.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		assert.EqualValues(t, 17, allowed.Load())
	})
}
