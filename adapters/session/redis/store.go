// Package redis is the Redis adapter of the SessionStore port (go-redis v9,
// Redis 7.0 or later). Sessions made on one app instance are valid on every
// instance sharing the Redis server.
//
// # Key layout
//
// With the default prefix "fm:":
//
//	fm:sess:{TENANT}:ID          the session as JSON, expiring with the session (PX)
//	fm:sess_user:{TENANT}:USER   a set of USER's session ids: the per-user index
//
// The braces are literal: they are Redis Cluster hash tags, so a session and
// its user's index always live in the same slot and can change in one MULTI/EXEC
// transaction on a Cluster too (each tenant's sessions live on one shard).
// TENANT, ID and USER are escaped (% : { } as %25 %3A %7B %7D), so no two
// (tenant, id) pairs share a key whatever characters they contain.
//
// The index expires with the user's longest-lived session (EXPIRE NX, then
// EXPIRE GT, in the transaction that adds to it). Members whose session key
// has expired dangle until ListForUser or DeleteAllForUser prune them; every
// read checks the stored tenant and user, so a stale member never exposes or
// deletes another session.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// DefaultPrefix starts every key the Store writes.
const DefaultPrefix = "fm:"

// Store is the Redis implementation of ports.SessionStore.
type Store struct {
	client goredis.UniversalClient
	prefix string
	now    func() time.Time
}

// Config is the [auth.session.redis] section (the server is [redis] url).
type Config struct {
	// KeyPrefix starts every key, so several apps can share one Redis
	// database. It must not contain { or } (the keys' hash tags).
	KeyPrefix string `toml:"key_prefix"`
}

// DefaultConfig returns the documented defaults of [auth.session.redis].
func DefaultConfig() Config { return Config{KeyPrefix: DefaultPrefix} }

// Validate checks the key prefix.
func (c Config) Validate() error {
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		return core.Invalid("key_prefix", "must not contain { or }")
	}
	return nil
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key (default DefaultPrefix), so several
// apps — or tests — can share one Redis database. It must not contain { or }
// (the keys' hash tags).
func WithPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithClock sets the clock the Store reads the time from (default time.Now):
// for the session TTLs it sets and for which sessions it treats as expired.
// Tests use it to check expiry without waiting.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns a Store keeping sessions in client (a single server, a
// failover/Sentinel or a Cluster client).
func New(client goredis.UniversalClient, opts ...Option) *Store {
	s := &Store{client: client, prefix: DefaultPrefix, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// record is a session as stored: the port's Session with its CSRF hash, which
// ports.Session never serializes.
type record struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	TenantID  string    `json:"tenant_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	IPAddress string    `json:"ip_address,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	CSRFHash  string    `json:"csrf_hash,omitempty"`
	TokenVer  int64     `json:"token_version,omitempty"`
}

func (r *record) session() *ports.Session {
	return &ports.Session{
		ID: r.ID, UserID: r.UserID, TenantID: r.TenantID,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		IPAddress: r.IPAddress, UserAgent: r.UserAgent, CSRFHash: r.CSRFHash, TokenVersion: r.TokenVer,
	}
}

var escaper = strings.NewReplacer("%", "%25", ":", "%3A", "{", "%7B", "}", "%7D")

// sessionKey is the key of session id of tenant.
func (s *Store) sessionKey(tenant, id string) string {
	return s.prefix + "sess:{" + escaper.Replace(tenant) + "}:" + escaper.Replace(id)
}

// userKey is the key of the index of user's sessions in tenant.
func (s *Store) userKey(tenant, user string) string {
	return s.prefix + "sess_user:{" + escaper.Replace(tenant) + "}:" + escaper.Replace(user)
}

// indexTTL is how long the user index must live to outlast a session living
// ttl: EXPIRE counts whole seconds, so round up.
func indexTTL(ttl time.Duration) time.Duration {
	return ttl.Truncate(time.Second) + time.Second
}

// Create stores s in the tenant of ctx with a TTL of s.ExpiresAt - now, and adds
// it to its user's index, in one transaction. It sets s.TenantID and
// s.CreatedAt. An ID already used in the tenant is core.ErrConflict.
func (s *Store) Create(ctx context.Context, sess *ports.Session) error {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	if err := auth.CheckNewSession(sess, now); err != nil {
		return err
	}
	rec := record{
		ID:        sess.ID,
		UserID:    sess.UserID,
		TenantID:  tid,
		CreatedAt: now.UTC().Truncate(time.Microsecond),
		ExpiresAt: sess.ExpiresAt.UTC().Truncate(time.Microsecond),
		IPAddress: sess.IPAddress,
		UserAgent: sess.UserAgent,
		CSRFHash:  sess.CSRFHash,
		TokenVer:  sess.TokenVersion,
	}
	val, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("create session: encode: %w", err)
	}
	ttl := max(rec.ExpiresAt.Sub(now), time.Millisecond) // PX counts whole milliseconds
	key, idx := s.sessionKey(tid, sess.ID), s.userKey(tid, sess.UserID)
	var (
		set   *goredis.BoolCmd
		added *goredis.IntCmd
	)
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		set = p.SetNX(ctx, key, val, ttl)
		added = p.SAdd(ctx, idx, sess.ID)
		p.ExpireNX(ctx, idx, indexTTL(ttl)) // a new index: expire with this session
		p.ExpireGT(ctx, idx, indexTTL(ttl)) // an older one: live as long as the longest
		return nil
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if !set.Val() {
		// The id is taken. The transaction added it to this user's index only if
		// it was not there already: take that back. Should this fail, readers
		// still check each member's user, so the stale member does no harm.
		if added.Val() == 1 {
			if err := s.client.SRem(ctx, idx, sess.ID).Err(); err != nil {
				return fmt.Errorf("create session: undo index entry: %w", err)
			}
		}
		return core.Public(core.ErrConflict, "session already exists")
	}
	sess.TenantID = rec.TenantID
	sess.CreatedAt = rec.CreatedAt
	sess.ExpiresAt = rec.ExpiresAt
	return nil
}

// decode parses a stored session. It reports whether the session is live
// (and so visible): tenant's session id, not expired at now. The key encodes
// tenant and id, so a mismatch only shows a corrupted or foreign value.
func (s *Store) decode(val, tenant, id string, now time.Time) (*record, bool, error) {
	var rec record
	if err := json.Unmarshal([]byte(val), &rec); err != nil {
		return nil, false, fmt.Errorf("decode session: %w", err)
	}
	live := rec.TenantID == tenant && rec.ID == id && rec.ExpiresAt.After(now)
	return &rec, live, nil
}

// Get returns the live session id of the tenant in ctx; a missing or expired
// session, or one stored under another tenant, is core.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*ports.Session, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, auth.SessionNotFound(id)
	}
	val, err := s.client.Get(ctx, s.sessionKey(tid, id)).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, auth.SessionNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	rec, ok, err := s.decode(val, tid, id, s.now())
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	if !ok {
		return nil, auth.SessionNotFound(id)
	}
	return rec.session(), nil
}

// Delete removes session id of the tenant in ctx and its index entry. A missing
// or expired session is core.ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string) error {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	if id == "" {
		return auth.SessionNotFound(id)
	}
	// GETDEL removes the session atomically and tells whose index to clean.
	// Were the index clean-up lost, the dangling member would be pruned later.
	now := s.now()
	val, err := s.client.GetDel(ctx, s.sessionKey(tid, id)).Result()
	if errors.Is(err, goredis.Nil) {
		return auth.SessionNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	rec, live, err := s.decode(val, tid, id, now)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if rec.UserID != "" {
		if err := s.client.SRem(ctx, s.userKey(tid, rec.UserID), id).Err(); err != nil {
			return fmt.Errorf("delete session: index: %w", err)
		}
	}
	if !live {
		return auth.SessionNotFound(id)
	}
	return nil
}

// member is one entry of a user's index and the session it points to.
type member struct {
	id   string
	rec  *record // the user's session, expired or not
	live bool
}

// members reads userID's index and the sessions it lists, pruning members whose
// session vanished or belongs to someone else. Members whose session expired
// by the app's clock but not yet in Redis stay until Redis drops the key.
func (s *Store) members(ctx context.Context, tid, userID string) ([]member, error) {
	idx := s.userKey(tid, userID)
	ids, err := s.client.SMembers(ctx, idx).Result()
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// One GET per member in a pipeline, rather than MGET: it also works on a
	// Cluster, whatever slots the keys hash to.
	cmds := make([]*goredis.StringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.sessionKey(tid, id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	now := s.now()
	out := make([]member, 0, len(ids))
	var dangling []any
	for i, id := range ids {
		val, err := cmds[i].Result()
		switch {
		case errors.Is(err, goredis.Nil):
			dangling = append(dangling, id)
			continue
		case err != nil:
			return nil, fmt.Errorf("read session: %w", err)
		}
		rec, live, err := s.decode(val, tid, id, now)
		if err != nil {
			return nil, err
		}
		if rec.UserID != userID {
			dangling = append(dangling, id)
			continue
		}
		out = append(out, member{id: id, rec: rec, live: live})
	}
	if len(dangling) > 0 {
		if err := s.client.SRem(ctx, idx, dangling...).Err(); err != nil {
			return nil, fmt.Errorf("prune index: %w", err)
		}
	}
	return out, nil
}

// ListForUser returns userID's live sessions in the tenant of ctx, newest
// first, and prunes index members whose session is gone.
func (s *Store) ListForUser(ctx context.Context, userID string) ([]*ports.Session, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := s.members(ctx, tid, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
	}
	out := []*ports.Session{}
	for _, m := range ms {
		if m.live {
			out = append(out, m.rec.session())
		}
	}
	slices.SortFunc(out, func(a, b *ports.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// DeleteAllForUser removes every session of userID in the tenant of ctx and
// returns how many live sessions it ended. The sessions and their index
// entries go in one transaction; a session created meanwhile keeps its entry
// (only the members read are removed), so it can still be found and ended.
func (s *Store) DeleteAllForUser(ctx context.Context, userID string) (int, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return 0, err
	}
	ms, err := s.members(ctx, tid, userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	if len(ms) == 0 {
		return 0, nil
	}
	idx := s.userKey(tid, userID)
	ids := make([]any, len(ms))
	dels := make([]*goredis.IntCmd, len(ms))
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for i, m := range ms {
			ids[i] = m.id
			dels[i] = p.Del(ctx, s.sessionKey(tid, m.id))
		}
		p.SRem(ctx, idx, ids...)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	n := 0
	for i, d := range dels {
		if ms[i].live && d.Val() == 1 {
			n++
		}
	}
	return n, nil
}

var _ ports.SessionStore = (*Store)(nil)
