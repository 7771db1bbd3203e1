// Package redis is a rate limiter on Redis (fixed windows per key), so limits
// hold across every instance of an app sharing the server.
package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/framework-m/framework-m/ports"
)

// allowScript counts one event and returns the count and the window's
// remaining milliseconds, starting the window on the first event — atomically.
var allowScript = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`)

// Limiter counts events in Redis.
type Limiter struct {
	client goredis.UniversalClient
	prefix string
	now    func() time.Time
}

// Config is the [rate_limit.redis] section (the server is [redis] url).
type Config struct {
	// KeyPrefix namespaces the counters in Redis.
	KeyPrefix string `toml:"key_prefix"`
}

// DefaultConfig returns the documented defaults of [rate_limit.redis].
func DefaultConfig() Config { return Config{KeyPrefix: "fm:rl:"} }

// New returns a limiter storing counters under prefix (e.g. "fm:rl:").
func New(client goredis.UniversalClient, prefix string) *Limiter {
	return &Limiter{client: client, prefix: prefix, now: time.Now}
}

func (l *Limiter) decision(n int64, ttl time.Duration, limit int, counted bool) ports.RateDecision {
	allowed := n <= int64(limit)
	if !counted {
		allowed = n < int64(limit)
	}
	d := ports.RateDecision{Allowed: allowed, Limit: limit, Remaining: max(0, limit-int(n)), Reset: l.now().Add(ttl)}
	if !allowed {
		d.RetryAfter = ttl
	}
	return d
}

// Allow counts one event for key.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	res, err := allowScript.Run(ctx, l.client, []string{l.prefix + key}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return ports.RateDecision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	return l.decision(res[0], time.Duration(res[1])*time.Millisecond, limit, true), nil
}

// Peek says whether one more event would be allowed, without counting it.
func (l *Limiter) Peek(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	pipe := l.client.Pipeline()
	get := pipe.Get(ctx, l.prefix+key)
	ttl := pipe.PTTL(ctx, l.prefix+key)
	_, err := pipe.Exec(ctx)
	if err != nil && err != goredis.Nil {
		return ports.RateDecision{}, fmt.Errorf("redis rate limit: %w", err)
	}
	n, _ := get.Int64()
	t := ttl.Val()
	if n == 0 || t <= 0 {
		return ports.RateDecision{Allowed: true, Limit: limit, Remaining: limit, Reset: l.now().Add(window)}, nil
	}
	return l.decision(n, t, limit, false), nil
}

// Reset forgets key.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.client.Del(ctx, l.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis rate limit: %w", err)
	}
	return nil
}

var _ ports.RateLimiter = (*Limiter)(nil)
