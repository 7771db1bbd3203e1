package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/redisclient"
	"github.com/framework-m/framework-m/adapters/session/redis"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/sessiontest"
	"github.com/framework-m/framework-m/ports"
)

// EnvRedisURL names the Redis server these tests use.
const EnvRedisURL = "FM_TEST_REDIS_URL"

// client connects to FM_TEST_REDIS_URL (skipping the test when it is unset)
// and closes the connection when the test ends.
func client(t *testing.T) *goredis.Client {
	t.Helper()
	url := fmtest.SkipUnlessServer(t, EnvRedisURL, "Redis")
	c, err := redisclient.Open(t.Context(), url, 0)
	require.NoError(t, err, "connect to %s", EnvRedisURL)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	return c
}

// prefix returns a key prefix of the test's own, and deletes every key under
// it when the test ends, so parallel tests never see each other's keys.
func prefix(t *testing.T, c *goredis.Client) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := "fmtest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx := context.Background()
		keys := scanCtx(ctx, t, c, p)
		if len(keys) > 0 {
			assert.NoError(t, c.Del(ctx, keys...).Err(), "delete the test's keys")
		}
	})
	return p
}

// scan returns every key starting with p.
func scan(t *testing.T, c *goredis.Client, p string) []string {
	t.Helper()
	return scanCtx(t.Context(), t, c, p)
}

func scanCtx(ctx context.Context, t *testing.T, c *goredis.Client, p string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}

// newStore returns a Store on the test server under a prefix of its own.
func newStore(t *testing.T) (*redis.Store, *goredis.Client, string) {
	t.Helper()
	c := client(t)
	p := prefix(t, c)
	return redis.New(c, redis.WithPrefix(p)), c, p
}

func TestStoreContract(t *testing.T) {
	fmtest.SkipUnlessServer(t, EnvRedisURL, "Redis")
	sessiontest.RunWithClock(t, func(t *testing.T, now func() time.Time) ports.SessionStore {
		c := client(t)
		return redis.New(c, redis.WithPrefix(prefix(t, c)), redis.WithClock(now))
	})
}

func session(user string, ttl time.Duration) *ports.Session {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return &ports.Session{ID: hex.EncodeToString(b[:]), UserID: user, ExpiresAt: time.Now().Add(ttl), CSRFHash: "c"}
}

func TestKeysAndTTLs(t *testing.T) {
	s, c, p := newStore(t)
	ctx := ports.WithTenantID(t.Context(), "acme")

	short := session("ann", 10*time.Minute)
	require.NoError(t, s.Create(ctx, short))
	key := p + "sess:{acme}:" + short.ID
	idx := p + "sess_user:{acme}:ann"
	assert.ElementsMatch(t, []string{key, idx}, scan(t, c, p), "one session key and one user index")

	// One transaction reads the session's TTL and both keys' absolute expiry
	// times (PEXPIRETIME): comparing instants, not TTLs read one round trip
	// apart, leaves nothing to the clock between two reads.
	var keyTTL, keyAt, idxAt *goredis.DurationCmd
	_, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		keyTTL = p.PTTL(ctx, key)
		keyAt = p.PExpireTime(ctx, key)
		idxAt = p.PExpireTime(ctx, idx)
		return nil
	})
	require.NoError(t, err)
	ttl := keyTTL.Val()
	assert.True(t, ttl > 9*time.Minute && ttl <= 10*time.Minute, "session TTL = ExpiresAt - now: %s", ttl)
	assert.True(t, idxAt.Val() >= keyAt.Val() && idxAt.Val() <= keyAt.Val()+2*time.Second,
		"the index expires with or after the session, by at most EXPIRE's rounding to seconds: index at %s, session at %s",
		time.UnixMilli(idxAt.Val().Milliseconds()), time.UnixMilli(keyAt.Val().Milliseconds()))

	val, err := c.Get(ctx, key).Result()
	require.NoError(t, err)
	var stored map[string]any
	require.NoError(t, json.Unmarshal([]byte(val), &stored), "the value is JSON")
	assert.Equal(t, "ann", stored["user_id"])
	assert.Equal(t, "acme", stored["tenant_id"])
	assert.Equal(t, "c", stored["csrf_hash"], "the CSRF hash is kept")

	long := session("ann", 2*time.Hour)
	require.NoError(t, s.Create(ctx, long))
	idxTTL, err := c.PTTL(ctx, idx).Result()
	require.NoError(t, err)
	assert.True(t, idxTTL > 119*time.Minute, "a longer session extends the index: %s", idxTTL)

	shorter := session("ann", time.Minute)
	require.NoError(t, s.Create(ctx, shorter))
	idxTTL, err = c.PTTL(ctx, idx).Result()
	require.NoError(t, err)
	assert.True(t, idxTTL > 119*time.Minute, "a shorter session never shortens the index: %s", idxTTL)
	ttl, err = c.PTTL(ctx, p+"sess:{acme}:"+shorter.ID).Result()
	require.NoError(t, err)
	assert.True(t, ttl > 50*time.Second && ttl <= time.Minute, "each session keeps its own TTL: %s", ttl)

	require.NoError(t, s.Delete(ctx, short.ID))
	members, err := c.SMembers(ctx, idx).Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{long.ID, shorter.ID}, members, "Delete removes the index entry")

	n, err := s.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Empty(t, scan(t, c, p), "DeleteAllForUser leaves no key behind")
}

func TestListForUserPrunesDanglingMembers(t *testing.T) {
	s, c, p := newStore(t)
	ctx := ports.WithTenantID(t.Context(), "acme")
	kept := session("ann", time.Hour)
	gone := session("ann", time.Hour)
	require.NoError(t, s.Create(ctx, kept))
	require.NoError(t, s.Create(ctx, gone))
	idx := p + "sess_user:{acme}:ann"

	// The session key vanishes (evicted, say) but its index entry stays.
	require.NoError(t, c.Del(ctx, p+"sess:{acme}:"+gone.ID).Err())
	// A member pointing at another user's session (a stale or forged entry).
	bob := session("bob", time.Hour)
	require.NoError(t, s.Create(ctx, bob))
	require.NoError(t, c.SAdd(ctx, idx, bob.ID).Err())

	list, err := s.ListForUser(ctx, "ann")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, kept.ID, list[0].ID)
	members, err := c.SMembers(ctx, idx).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{kept.ID}, members, "ListForUser pruned the dangling members")

	require.NoError(t, c.SAdd(ctx, idx, bob.ID).Err())
	n, err := s.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got, err := s.Get(ctx, bob.ID)
	require.NoError(t, err, "ann's stale entry never deletes bob's session")
	assert.Equal(t, "bob", got.UserID)
}

func TestKeysAreEscaped(t *testing.T) {
	s, c, p := newStore(t)
	// Unescaped, tenant "a" + id "b:c" and tenant "a:b" + id "c" would share a key.
	one := session("u:1", time.Hour)
	one.ID = "b:c"
	require.NoError(t, s.Create(ports.WithTenantID(t.Context(), "a"), one))
	two := session("1", time.Hour)
	two.ID = "c"
	require.NoError(t, s.Create(ports.WithTenantID(t.Context(), "a:b"), two), "no collision with tenant a's session")

	got, err := s.Get(ports.WithTenantID(t.Context(), "a:b"), "c")
	require.NoError(t, err)
	assert.Equal(t, "1", got.UserID)
	_, err = s.Get(ports.WithTenantID(t.Context(), "a:b"), "b:c")
	assert.ErrorIs(t, err, core.ErrNotFound)
	list, err := s.ListForUser(ports.WithTenantID(t.Context(), "a"), "u:1")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "b:c", list[0].ID)

	for _, k := range scan(t, c, p) {
		assert.Equal(t, 1, strings.Count(k, "{"), "one hash tag per key: %s", k)
	}
	weird := session("x", time.Hour)
	weird.ID = "}{%"
	ctx := ports.WithTenantID(t.Context(), "t{1}")
	require.NoError(t, s.Create(ctx, weird))
	got, err = s.Get(ctx, weird.ID)
	require.NoError(t, err)
	assert.Equal(t, weird.ID, got.ID)
}

func TestOpen(t *testing.T) {
	_, err := redisclient.Open(t.Context(), "http://user:s3cret@localhost:6379", 0)
	require.Error(t, err, "not a redis URL")
	assert.NotContains(t, err.Error(), "s3cret")
	_, err = redisclient.Open(t.Context(), "redis://user:s3cret@local host:6379/0", 0)
	require.Error(t, err, "unparsable URL")
	assert.NotContains(t, err.Error(), "s3cret", "the password never shows in errors")

	_, err = redisclient.Open(t.Context(), "redis://127.0.0.1:1/0?max_retries=-1", 0)
	assert.Error(t, err, "nothing listens on port 1")

	c := client(t)
	assert.NoError(t, c.Ping(t.Context()).Err())
}
