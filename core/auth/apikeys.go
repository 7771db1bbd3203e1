package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// APIKeyPrefix starts every API key: fmk_<lookup id>_<secret>.
const APIKeyPrefix = "fmk_"

// MaxAPIKeysPerUser caps how many keys one user may hold.
const MaxAPIKeysPerUser = 100

// APIKeys creates, verifies and revokes API keys. A key is
// "fmk_" + a 16-character lookup id + "_" + 43 characters of secret (256 bits).
// The store keeps the id (the record's name) and the SHA-256 of the whole key,
// so verification is one indexed read and one constant-time comparison.
// Last-use times are collected in memory and written in batches by Flush.
type APIKeys struct {
	store ports.APIKeyStore
	now   func() time.Time
	log   *slog.Logger
	audit *security // Service.AuditTo
	// FlushInterval is how often Run writes last-use times (default 30s).
	FlushInterval time.Duration

	mu   sync.Mutex
	used map[string]map[string]time.Time // tenant → key id → last use

	cache *events.Cache[*ports.APIKey]
}

// WithCache makes Verify read keys from c instead of the store on every
// request; APIKeys announces through c every key it revokes, so that c (and
// the other instances' caches) forget it, wherever the store keeps keys.
func (k *APIKeys) WithCache(c *events.Cache[*ports.APIKey]) *APIKeys {
	k.cache = c
	return k
}

// revoked tells the cache (here and elsewhere) that key id ("" for all of
// the tenant's) was revoked.
func (k *APIKeys) revoked(ctx context.Context, id string) {
	if k.cache != nil {
		k.cache.Changed(ctx, id)
	}
}

// NewAPIKeys returns an API key service over store.
func NewAPIKeys(store ports.APIKeyStore, log *slog.Logger) *APIKeys {
	if log == nil {
		log = slog.Default()
	}
	return &APIKeys{store: store, now: time.Now, log: log, FlushInterval: 30 * time.Second, used: map[string]map[string]time.Time{}}
}

// Store returns the key store.
func (k *APIKeys) Store() ports.APIKeyStore { return k.store }

// NewKey describes a key to create.
type NewKey struct {
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
}

var validScopeActions = map[string]bool{"*": true, "read": true, "write": true, "create": true, "delete": true, "submit": true, "cancel": true, "amend": true}

// Create makes a key for userID and returns it in plain text — the only time
// it exists outside the client — with its record.
func (k *APIKeys) Create(ctx context.Context, userID string, nk NewKey) (string, *ports.APIKey, error) {
	verr := &core.ValidationError{}
	nk.Name = strings.TrimSpace(nk.Name)
	if nk.Name == "" || len(nk.Name) > 140 {
		verr.Add("name", "must be 1 to 140 characters")
	}
	for _, s := range nk.Scopes {
		act := s
		if _, a, ok := strings.Cut(s, ":"); ok {
			act = a
		}
		if !validScopeActions[act] || strings.Count(s, ":") > 1 {
			verr.Add("scopes", fmt.Sprintf("%q is not a scope (want read, DocType:write, *:read …)", s))
		}
	}
	if nk.ExpiresAt != nil && !nk.ExpiresAt.After(k.now()) {
		verr.Add("expires_at", "must be in the future")
	}
	if err := verr.Err(); err != nil {
		return "", nil, err
	}
	existing, err := k.store.ListKeys(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	if len(existing) >= MaxAPIKeysPerUser {
		return "", nil, core.Publicf(core.ErrConflict, "a user may hold at most %d API keys; revoke one first", MaxAPIKeysPerUser)
	}
	id := strings.ToLower(strings.NewReplacer("-", "x", "_", "y").Replace(RandomToken(12)))[:16]
	key := APIKeyPrefix + id + "_" + RandomToken(32)
	rec := &ports.APIKey{
		ID: id, UserID: userID, TenantID: ports.TenantIDFrom(ctx), Name: nk.Name,
		Scopes: nk.Scopes, ExpiresAt: nk.ExpiresAt, CreatedAt: k.now().UTC(), Hash: HashSecret(key),
	}
	if rec.Scopes == nil {
		rec.Scopes = []string{}
	}
	if err := k.store.CreateKey(ctx, rec); err != nil {
		return "", nil, err
	}
	k.audit.event(ctx, ports.AuditAPIKeyCreate, userID, map[string]any{"key_name": rec.Name})
	return key, rec, nil
}

// ParseKey splits a key into its lookup id, or ok=false if it is not shaped like one.
func ParseKey(key string) (id string, ok bool) {
	rest, found := strings.CutPrefix(key, APIKeyPrefix)
	if !found || len(key) > 128 {
		return "", false
	}
	id, secret, found := strings.Cut(rest, "_")
	if !found || len(id) != 16 || len(secret) < 32 {
		return "", false
	}
	return id, true
}

var errBadKey = core.Public(core.ErrUnauthorized, "invalid, expired or revoked API key")

// Verify returns the record of key if it is valid and not expired, and notes its use.
func (k *APIKeys) Verify(ctx context.Context, key string) (*ports.APIKey, error) {
	id, ok := ParseKey(key)
	if !ok {
		return nil, errBadKey
	}
	var (
		rec *ports.APIKey
		err error
	)
	if k.cache != nil {
		rec, err = k.cache.Get(ctx, id, func(ctx context.Context) (*ports.APIKey, error) { return k.store.GetKey(ctx, id) })
	} else {
		rec, err = k.store.GetKey(ctx, id)
	}
	if errors.Is(err, core.ErrNotFound) {
		return nil, errBadKey
	}
	if err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	if !EqualHash(HashSecret(key), rec.Hash) {
		return nil, errBadKey
	}
	now := k.now()
	if rec.ExpiresAt != nil && !rec.ExpiresAt.After(now) {
		return nil, errBadKey
	}
	k.noteUse(ports.TenantIDFrom(ctx), id, now)
	return rec, nil
}

func (k *APIKeys) noteUse(tenant, id string, at time.Time) {
	k.mu.Lock()
	m := k.used[tenant]
	if m == nil {
		m = map[string]time.Time{}
		k.used[tenant] = m
	}
	m[id] = at.UTC()
	k.mu.Unlock()
}

// Flush writes the collected last-use times (one batch per tenant).
func (k *APIKeys) Flush(ctx context.Context) error {
	k.mu.Lock()
	used := k.used
	k.used = map[string]map[string]time.Time{}
	k.mu.Unlock()
	var errs []error
	for tenant, m := range used {
		tctx := ports.WithUser(ports.WithTenantID(ctx, tenant), &ports.SystemUser)
		if err := k.store.TouchKeys(tctx, m); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		}
	}
	return errors.Join(errs...)
}

// Run flushes last-use times every FlushInterval until ctx is done, then once more.
func (k *APIKeys) Run(ctx context.Context) {
	flushEvery(ctx, k.FlushInterval, k.Flush, k.log, "api key use")
}

// List returns userID's keys (never their secrets).
func (k *APIKeys) List(ctx context.Context, userID string) ([]*ports.APIKey, error) {
	return k.store.ListKeys(ctx, userID)
}

// Revoke deletes userID's key id; another user's key is not found.
func (k *APIKeys) Revoke(ctx context.Context, userID, id string) error {
	rec, err := k.store.GetKey(ctx, id)
	switch {
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrValidation):
		return errKeyNotFound
	case err != nil:
		return err
	case rec.UserID != userID:
		// Another user's key answers exactly like a key that does not exist.
		return errKeyNotFound
	}
	err = k.store.DeleteKey(ctx, id)
	k.revoked(ctx, id)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return errKeyNotFound
		}
		return err
	}
	k.audit.event(ctx, ports.AuditAPIKeyRevoke, userID, map[string]any{"key_name": rec.Name})
	return nil
}

// errKeyNotFound is the one answer for a key that is not the caller's,
// whether it exists or not.
var errKeyNotFound = core.Public(core.ErrNotFound, "API key not found")

// RevokeAll deletes every API key of userID and returns how many.
func (k *APIKeys) RevokeAll(ctx context.Context, userID string) (int, error) {
	n, err := k.store.DeleteKeysForUser(ctx, userID)
	k.revoked(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("revoke api keys: %w", err)
	}
	if n > 0 {
		k.audit.event(ctx, ports.AuditAPIKeyRevoke, userID, map[string]any{"all": true, "count": n})
	}
	return n, nil
}
