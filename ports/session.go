package ports

import (
	"context"
	"time"
)

// Session is a browser login. Its ID is a handle — the SHA-256 of the secret
// the session cookie carries — so stores never hold the secret itself and the
// handle can be shown in session lists.
type Session struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	TenantID  string    `json:"tenant_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	IPAddress string    `json:"ip_address,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	// CSRFHash is the SHA-256 (hex) of the session's CSRF token.
	CSRFHash string `json:"-"`
	// TokenVersion is the user's token version when the session started: a
	// session outlives no password change nor "log out everywhere", even one
	// racing them.
	TokenVersion int64 `json:"-"`
}

// SessionStore keeps sessions. Every operation is scoped to the tenant in ctx;
// expired sessions are never returned.
type SessionStore interface {
	// Create stores s (ID, UserID, ExpiresAt set by the caller).
	Create(ctx context.Context, s *Session) error
	// Get returns session id, or core.ErrNotFound if it does not exist or expired.
	Get(ctx context.Context, id string) (*Session, error)
	// Delete removes session id (core.ErrNotFound if absent).
	Delete(ctx context.Context, id string) error
	// DeleteAllForUser removes every session of userID and returns how many.
	DeleteAllForUser(ctx context.Context, userID string) (int, error)
	// ListForUser returns userID's live sessions, newest first.
	ListForUser(ctx context.Context, userID string) ([]*Session, error)
}

// RateDecision is a rate limiter's answer.
type RateDecision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration
	// Reset is when the current window ends.
	Reset time.Time
}

// RateLimiter counts events per key within a window.
type RateLimiter interface {
	// Allow counts one event for key and says whether it is within limit events
	// per window.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
	// Peek says whether one more event for key would be allowed, without counting it.
	Peek(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
	// Reset forgets key's events.
	Reset(ctx context.Context, key string) error
}

// APIKey is an API key's record. The key itself is shown once at creation and
// never stored: Hash is the SHA-256 (hex) of the whole key, and ID — the key's
// public lookup prefix — finds the record with one indexed read.
type APIKey struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	Hash       string     `json:"-"`
}

// APIKeyStore keeps API key records, scoped to the tenant in ctx.
type APIKeyStore interface {
	CreateKey(ctx context.Context, k *APIKey) error
	// GetKey returns key id or core.ErrNotFound.
	GetKey(ctx context.Context, id string) (*APIKey, error)
	ListKeys(ctx context.Context, userID string) ([]*APIKey, error)
	DeleteKey(ctx context.Context, id string) error
	DeleteKeysForUser(ctx context.Context, userID string) (int, error)
	// TouchKeys records last use times (key id → time) in one batch.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}
