package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Throttle limits password guessing: failed attempts per client address, and
// failed attempts per account, within a window. Successful logins cost nothing,
// so busy clients (a CLI using basic auth) are never slowed down; a throttled
// attempt is refused before any password is hashed.
type Throttle struct {
	limiter    ports.RateLimiter
	perIP      int
	perAccount int
	window     time.Duration
}

// NewThrottle returns a throttle allowing perIP failures per address and
// perAccount failures per account within window.
func NewThrottle(limiter ports.RateLimiter, perIP, perAccount int, window time.Duration) *Throttle {
	return &Throttle{limiter: limiter, perIP: perIP, perAccount: perAccount, window: window}
}

func ipKey(ip string) string { return "login:ip:" + ip }

func accountKey(ctx context.Context, email string) string {
	return "login:acct:" + ports.TenantIDFrom(ctx) + ":" + strings.ToLower(strings.TrimSpace(email))
}

func tooMany(d ports.RateDecision, what string) error {
	retry := d.RetryAfter
	if retry < time.Second {
		retry = time.Second
	}
	return &core.RateLimitError{Message: "too many " + what + "; try again later", RetryAfter: retry}
}

// Check refuses an attempt (a *core.RateLimitError) when the address or the
// account has used up its failures; it counts nothing itself.
func (t *Throttle) Check(ctx context.Context, ip, email string) error {
	if t == nil {
		return nil
	}
	d, err := t.limiter.Peek(ctx, ipKey(ip), t.perIP, t.window)
	if err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	if !d.Allowed {
		return tooMany(d, "failed logins from this address")
	}
	d, err = t.limiter.Peek(ctx, accountKey(ctx, email), t.perAccount, t.window)
	if err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	if !d.Allowed {
		return tooMany(d, "failed logins for this account")
	}
	return nil
}

// Failed counts a failed attempt against the address and the account.
func (t *Throttle) Failed(ctx context.Context, ip, email string) {
	if t != nil {
		_, _ = t.limiter.Allow(ctx, ipKey(ip), t.perIP, t.window)
		_, _ = t.limiter.Allow(ctx, accountKey(ctx, email), t.perAccount, t.window)
	}
}

// Succeeded forgets the account's failures (the address's stay).
func (t *Throttle) Succeeded(ctx context.Context, email string) {
	if t != nil {
		_ = t.limiter.Reset(ctx, accountKey(ctx, email))
	}
}
