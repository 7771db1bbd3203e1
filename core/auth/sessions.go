package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// Sessions starts, resolves and ends browser sessions. The cookie carries a
// random secret; the store keeps only its SHA-256 (the session handle) and the
// SHA-256 of the session's CSRF token.
type Sessions struct {
	store ports.SessionStore
	ttl   time.Duration
	now   func() time.Time
	cache *events.Cache[*ports.Session]
	audit *security // Service.AuditTo
}

// WithCache makes Resolve answer from c instead of asking the store on every
// request; Sessions announces through c every session it ends, so that c
// (and the other instances' caches) forget them, wherever the store keeps
// them.
func (s *Sessions) WithCache(c *events.Cache[*ports.Session]) *Sessions {
	s.cache = c
	return s
}

// get reads session id, through the cache when there is one.
func (s *Sessions) get(ctx context.Context, id string) (*ports.Session, error) {
	if s.cache == nil {
		return s.store.Get(ctx, id)
	}
	sess, err := s.cache.Get(ctx, id, func(ctx context.Context) (*ports.Session, error) { return s.store.Get(ctx, id) })
	if err != nil {
		return nil, err
	}
	c := *sess
	return &c, nil
}

// ended tells the cache (here and elsewhere) that session id ("" for all of
// the tenant's) ended.
func (s *Sessions) ended(ctx context.Context, id string) {
	if s.cache != nil {
		s.cache.Changed(ctx, id)
	}
}

// NewSessions returns a session manager over store; sessions last ttl.
func NewSessions(store ports.SessionStore, ttl time.Duration) *Sessions {
	return &Sessions{store: store, ttl: ttl, now: time.Now}
}

// Store returns the session store.
func (s *Sessions) Store() ports.SessionStore { return s.store }

// TTL returns how long sessions last.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// Started is a new session: the cookie secret and the CSRF token go to the
// client once; only their hashes are stored.
type Started struct {
	Secret    string
	CSRFToken string
	Session   *ports.Session
}

// Start creates a new session for u: always a new id, so a session id planted
// before login is never promoted (no fixation).
func (s *Sessions) Start(ctx context.Context, u *ports.User, ip, userAgent string) (*Started, error) {
	secret := RandomToken(32)
	csrf := RandomToken(32)
	now := s.now().UTC()
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	sess := &ports.Session{
		ID:        HashSecret(secret),
		UserID:    u.ID,
		TenantID:  ports.TenantIDFrom(ctx),
		CreatedAt: now,
		ExpiresAt: now.Add(s.ttl),
		IPAddress: ip,
		UserAgent: userAgent,
		CSRFHash:  HashSecret(csrf),
		// A session is bound to the user's current token version.
		TokenVersion: u.TokenVersion,
	}
	if err := s.store.Create(ctx, sess); err != nil {
		var ve *core.ValidationError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("start session: %w", err)
		}
		return nil, core.Unavailable("the session store", err)
	}
	return &Started{Secret: secret, CSRFToken: csrf, Session: sess}, nil
}

// Resolve returns the live session whose cookie secret is secret.
func (s *Sessions) Resolve(ctx context.Context, secret string) (*ports.Session, error) {
	if len(secret) < 20 || len(secret) > 128 {
		return nil, core.Public(core.ErrUnauthorized, "invalid or expired session")
	}
	sess, err := s.get(ctx, HashSecret(secret))
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.Public(core.ErrUnauthorized, "invalid or expired session")
	}
	if err != nil {
		return nil, core.Unavailable("the session store", err)
	}
	if !sess.ExpiresAt.After(s.now()) {
		return nil, core.Public(core.ErrUnauthorized, "invalid or expired session")
	}
	return sess, nil
}

// End deletes the session with handle id.
func (s *Sessions) End(ctx context.Context, id string) error {
	err := s.store.Delete(ctx, id)
	s.ended(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	return err
}

// List returns userID's live sessions.
func (s *Sessions) List(ctx context.Context, userID string) ([]*ports.Session, error) {
	return s.store.ListForUser(ctx, userID)
}

// Revoke ends session id of userID; another user's session is not found.
func (s *Sessions) Revoke(ctx context.Context, userID, id string) error {
	sess, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	if sess.UserID != userID {
		return core.Public(core.ErrNotFound, "session not found")
	}
	err = s.store.Delete(ctx, id)
	s.ended(ctx, id)
	if err == nil {
		s.audit.event(ctx, ports.AuditSessionRevoke, userID, nil)
	}
	return err
}

// RevokeAll ends every session of userID.
func (s *Sessions) RevokeAll(ctx context.Context, userID string) (int, error) {
	n, err := s.store.DeleteAllForUser(ctx, userID)
	s.ended(ctx, "")
	if err == nil && n > 0 {
		s.audit.event(ctx, ports.AuditSessionRevoke, userID, map[string]any{"all": true, "count": n})
	}
	return n, err
}

// CheckCSRF reports whether token is the CSRF token of the session whose CSRF
// hash is csrfHash (constant time).
func CheckCSRF(csrfHash, token string) bool {
	if token == "" || csrfHash == "" || len(token) > 128 {
		return false
	}
	return EqualHash(HashSecret(token), csrfHash)
}

// CheckNewSession validates what a caller must set on a session before a
// store keeps it; every SessionStore adapter calls it in Create.
func CheckNewSession(s *ports.Session, now time.Time) error {
	if s == nil {
		return core.Public(core.ErrValidation, "session: nil session")
	}
	v := &core.ValidationError{}
	if s.ID == "" {
		v.Add("id", "is required")
	}
	if s.UserID == "" {
		v.Add("user_id", "is required")
	}
	if !s.ExpiresAt.After(now) {
		v.Add("expires_at", "must be in the future")
	}
	return v.Err()
}

// SessionNotFound is the error stores answer for a missing or expired session.
func SessionNotFound(id string) error {
	return core.Publicf(core.ErrNotFound, "session %q not found", id)
}
