// Package ratelimittest is the contract suite of the RateLimiter port: every
// limiter (in-memory, Redis …) counts the same way.
//
//	func TestLimiter(t *testing.T) {
//		ratelimittest.Run(t, func(t *testing.T) ports.RateLimiter {
//			return mylimiter.New(...)
//		})
//	}
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

	"github.com/framework-m/framework-m/ports"
)

// NewLimiter returns a limiter for one behaviour the suite checks. It is
// called from parallel subtests; limiters may share a store, since every
// subtest uses keys of its own. Release resources with t.Cleanup.
type NewLimiter = func(t *testing.T) ports.RateLimiter

// Run checks newLimiter's limiters. Each behaviour is a parallel subtest of
// its own, with keys unique to it.
func Run(t *testing.T, newLimiter NewLimiter) {
	t.Helper()
	ctx := context.Background()
	key := func(t *testing.T) string { return fmt.Sprintf("contract:%s:%d", t.Name(), time.Now().UnixNano()) }

	t.Run("AllowsUpToTheLimit", func(t *testing.T) {
		t.Parallel()
		l, k := newLimiter(t), key(t)
		for i := range 3 {
			d, err := l.Allow(ctx, k, 3, time.Minute)
			require.NoError(t, err)
			assert.True(t, d.Allowed, "event %d", i+1)
			assert.Equal(t, 3, d.Limit)
			assert.Equal(t, 2-i, d.Remaining)
			assert.WithinDuration(t, time.Now().Add(time.Minute), d.Reset, 5*time.Second)
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
		l, k := newLimiter(t), key(t)
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
		l, k := newLimiter(t), key(t)
		_, _ = l.Allow(ctx, k, 1, time.Minute)
		require.NoError(t, l.Reset(ctx, k))
		d, err := l.Allow(ctx, k, 1, time.Minute)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		l, k := newLimiter(t), key(t)
		_, _ = l.Allow(ctx, k+"a", 1, time.Minute)
		d, err := l.Allow(ctx, k+"b", 1, time.Minute)
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	})
	t.Run("WindowEnds", func(t *testing.T) {
		t.Parallel()
		l, k := newLimiter(t), key(t)
		_, _ = l.Allow(ctx, k, 1, 150*time.Millisecond)
		d, _ := l.Allow(ctx, k, 1, 150*time.Millisecond)
		require.False(t, d.Allowed)
		time.Sleep(250 * time.Millisecond)
		d, err := l.Allow(ctx, k, 1, 150*time.Millisecond)
		require.NoError(t, err)
		assert.True(t, d.Allowed, "a new window")
	})
	t.Run("ConcurrentEventsNeverExceedTheLimit", func(t *testing.T) {
		t.Parallel()
		l, k := newLimiter(t), key(t)
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
