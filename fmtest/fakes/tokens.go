package fakes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// DefaultTokenTTL is the lifetime of a Tokens token when NewTokens gets none.
const DefaultTokenTTL = time.Hour

// Tokens is an in-memory ports.TokenService. Issue hands out opaque random
// tokens and remembers their claims; Verify accepts exactly those until they
// expire, and refuses everything else with core.ErrUnauthorized. The tokens
// are not JWTs: there is no signature, so no key to publish (JWKS reports
// none), and a token is valid only on the Tokens that issued it. Times are in
// UTC with whole seconds, as a JWT's.
type Tokens struct {
	ttl time.Duration

	mu     sync.Mutex
	now    func() time.Time
	issued map[string]ports.Claims
}

// NewTokens returns a Tokens whose tokens live ttl (DefaultTokenTTL when ttl
// is not positive).
func NewTokens(ttl time.Duration) *Tokens {
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Tokens{ttl: ttl, now: time.Now, issued: map[string]ports.Claims{}}
}

// WithClock replaces the clock, so a test can let tokens expire.
func (t *Tokens) WithClock(now func() time.Time) *Tokens {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = now
	return t
}

// Issue returns a new token for u: subject u.ID, tenant u.TenantID, u's token
// version, a random id. A user without an id is core.ErrValidation.
func (t *Tokens) Issue(_ context.Context, u *ports.User) (*ports.Token, error) {
	if u == nil || u.ID == "" {
		return nil, fmt.Errorf("fakes: issue: %w", core.Invalid("user", "a user id is required"))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	iat := time.Unix(t.now().Unix(), 0).UTC()
	c := ports.Claims{
		Subject: u.ID, TenantID: u.TenantID, ID: randomHex(16), TokenVersion: u.TokenVersion,
		IssuedAt: iat, ExpiresAt: iat.Add(t.ttl),
	}
	raw := "fake." + randomHex(24)
	t.issued[raw] = c
	return &ports.Token{
		AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(t.ttl / time.Second), ExpiresAt: c.ExpiresAt,
		UserID: u.ID, ID: c.ID,
	}, nil
}

// Verify returns the claims of a token this Tokens issued that has not
// expired; anything else is core.ErrUnauthorized.
func (t *Tokens) Verify(_ context.Context, raw string) (*ports.Claims, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.issued[raw]
	if !ok || !t.now().Before(c.ExpiresAt) {
		return nil, core.Public(core.ErrUnauthorized, "invalid or expired token")
	}
	return &c, nil
}

// JWKS reports no key set: the tokens are not signed.
func (t *Tokens) JWKS() ([]byte, bool) { return nil, false }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var _ ports.TokenService = (*Tokens)(nil)
