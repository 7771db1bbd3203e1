package frameworkm

import (
	"github.com/framework-m/framework-m/adapters/ratelimit/memory"
	rlredis "github.com/framework-m/framework-m/adapters/ratelimit/redis"
	"github.com/framework-m/framework-m/ports"
)

// builtinRateLimiters are the limiters [rate_limit] backend may name.
var builtinRateLimiters = map[string]Backend[ports.RateLimiter]{
	"memory": Factory(func(Deps) (ports.RateLimiter, error) { return memory.New(), nil }),
	"redis": NewBackend(rlredis.DefaultConfig(), func(d Deps, c rlredis.Config) (ports.RateLimiter, error) {
		client, err := sharedRedis(d)
		if err != nil {
			return nil, err
		}
		return rlredis.New(client, c.KeyPrefix), nil
	}),
}

// WithRateLimiterBackend adds a rate limiter under name, to be chosen with
// [rate_limit] backend and configured in [rate_limit.<name>].
func WithRateLimiterBackend(name string, b Backend[ports.RateLimiter]) Option {
	return func(o *options) { o.limiters.register(name, b) }
}

// buildRateLimiter builds [rate_limit] backend: the API limits and the login
// throttle share it, so password-guessing limits hold across instances too.
func (a *App) buildRateLimiter(o *options, d Deps) (ports.RateLimiter, error) {
	l, err := o.limiters.build(d, "rate_limit.backend", a.Config.RateLimit.Backend)
	if err != nil {
		return nil, err
	}
	a.adopt(l)
	return l, nil
}
