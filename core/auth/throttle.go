package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Throttle limits password guessing. Every password check is counted before
// any hashing starts — so a burst of concurrent guesses cannot slip past the
// limit while the hashes run — against the client address (IPv6 grouped by
// /64) and against the account; a successful check clears the account's count,
// so an account is locked only by consecutive failures. Throttled attempts are
// refused (429) without hashing anything.
type Throttle struct {
	limiter    ports.RateLimiter
	perIP      int
	perAccount int
	window     time.Duration
	// failOpen lets checks through when the limiter fails (see FailOpen).
	failOpen bool
	log      *slog.Logger
	lastLog  atomic.Int64 // unix nanoseconds of the last "limiter down" line
}

// FailOpen makes Check let password checks through, unthrottled, when the
// limiter cannot answer ([auth.throttle] on_error = "open"), logging it at
// most every ten seconds; by default they are refused with a 503
// (*core.UnavailableError).
func (t *Throttle) FailOpen(open bool, log *slog.Logger) *Throttle {
	t.failOpen, t.log = open, log
	return t
}

// limiterDown is Check's answer when the limiter failed with err.
func (t *Throttle) limiterDown(ctx context.Context, err error) error {
	if !t.failOpen {
		return core.Unavailable("the login throttle", err)
	}
	now := time.Now().UnixNano()
	if last := t.lastLog.Load(); now-last > int64(10*time.Second) && t.lastLog.CompareAndSwap(last, now) {
		log := t.log
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "the login throttle's limiter failed; password checks go through unthrottled ([auth.throttle] on_error = open)", "err", err)
	}
	return nil
}

// NewThrottle returns a throttle allowing perIP password checks per address
// and perAccount consecutive failures per account within window.
func NewThrottle(limiter ports.RateLimiter, perIP, perAccount int, window time.Duration) *Throttle {
	return &Throttle{limiter: limiter, perIP: perIP, perAccount: perAccount, window: window}
}

// ClientKey names a client address for limits: IPv6 clients are grouped by
// /64, since one host usually holds a whole /64 and could rotate within it.
func ClientKey(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return ip
}

func ipKey(ip string) string { return "login:ip:" + ClientKey(ip) }

// accountKey hashes the email, so keys stay small whatever a client sends.
func accountKey(ctx context.Context, email string) string {
	sum := sha256.Sum256([]byte(FoldEmail(email)))
	return "login:acct:" + ports.TenantIDFrom(ctx) + ":" + hex.EncodeToString(sum[:16])
}

func tooMany(d ports.RateDecision, what string) error {
	retry := d.RetryAfter
	if retry < time.Second {
		retry = time.Second
	}
	return &core.RateLimitError{Message: "too many " + what + "; try again later", RetryAfter: retry}
}

// Check counts one password check for the address and the account and refuses
// it (a *core.RateLimitError) when either is over its limit.
func (t *Throttle) Check(ctx context.Context, ip, email string) error {
	if t == nil {
		return nil
	}
	d, err := t.limiter.Allow(ctx, ipKey(ip), t.perIP, t.window)
	if err != nil {
		return t.limiterDown(ctx, err)
	}
	if !d.Allowed {
		return tooMany(d, "login attempts from this address")
	}
	d, err = t.limiter.Allow(ctx, accountKey(ctx, email), t.perAccount, t.window)
	if err != nil {
		return t.limiterDown(ctx, err)
	}
	if !d.Allowed {
		return tooMany(d, "failed logins for this account")
	}
	return nil
}

// Succeeded clears the account's count after a correct password.
func (t *Throttle) Succeeded(ctx context.Context, email string) {
	if t != nil {
		_ = t.limiter.Reset(ctx, accountKey(ctx, email))
	}
}
