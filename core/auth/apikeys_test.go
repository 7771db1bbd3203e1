package auth_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// touch is one TouchKeys call.
type touch struct {
	tenant string
	used   map[string]time.Time
}

// memKeys is an in-memory ports.APIKeyStore that counts its calls.
type memKeys struct {
	mu      sync.Mutex
	m       map[string]ports.APIKey // tenant + "/" + id
	gets    int
	lists   int
	touches []touch
	getErr  error
}

func newMemKeys() *memKeys { return &memKeys{m: map[string]ports.APIKey{}} }

func (s *memKeys) CreateKey(ctx context.Context, k *ports.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k.TenantID = ports.TenantIDFrom(ctx)
	if _, dup := s.m[skey(ctx, k.ID)]; dup {
		return core.ErrConflict
	}
	s.m[skey(ctx, k.ID)] = *k
	return nil
}

func (s *memKeys) GetKey(ctx context.Context, id string) (*ports.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.getErr != nil {
		return nil, s.getErr
	}
	k, ok := s.m[skey(ctx, id)]
	if !ok {
		return nil, fmt.Errorf("key %q: %w", id, core.ErrNotFound)
	}
	return &k, nil
}

func (s *memKeys) ListKeys(ctx context.Context, userID string) ([]*ports.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	var out []*ports.APIKey
	for _, k := range s.m {
		if k.TenantID == ports.TenantIDFrom(ctx) && k.UserID == userID {
			out = append(out, &k)
		}
	}
	return out, nil
}

func (s *memKeys) DeleteKey(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[skey(ctx, id)]; !ok {
		return core.ErrNotFound
	}
	delete(s.m, skey(ctx, id))
	return nil
}

func (s *memKeys) DeleteKeysForUser(ctx context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.m {
		if v.TenantID == ports.TenantIDFrom(ctx) && v.UserID == userID {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

func (s *memKeys) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touches = append(s.touches, touch{tenant: ports.TenantIDFrom(ctx), used: maps.Clone(used)})
	for id, at := range used {
		if k, ok := s.m[skey(ctx, id)]; ok {
			at := at
			k.LastUsedAt = &at
			s.m[skey(ctx, id)] = k
		}
	}
	return nil
}

func (s *memKeys) touchCalls() []touch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slicesClone(s.touches)
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

var _ ports.APIKeyStore = (*memKeys)(nil)

var keyShape = regexp.MustCompile(`^fmk_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$`)

func TestAPIKeyCreate(t *testing.T) {
	ctx := tctx("default")
	store := newMemKeys()
	k := auth.NewAPIKeys(store, nil)
	exp := time.Now().Add(24 * time.Hour)

	key, rec, err := k.Create(ctx, "u-1", auth.NewKey{Name: "  ci  ", Scopes: []string{"Invoice:read"}, ExpiresAt: &exp})
	require.NoError(t, err)
	assert.Regexp(t, keyShape, key, "fmk_<16-character id>_<43 characters of secret>")
	id, ok := auth.ParseKey(key)
	require.True(t, ok)
	assert.Equal(t, id, rec.ID, "the key starts with its lookup id")
	assert.Equal(t, "u-1", rec.UserID)
	assert.Equal(t, "ci", rec.Name, "name trimmed")
	assert.Equal(t, []string{"Invoice:read"}, rec.Scopes)
	assert.Equal(t, "default", rec.TenantID)
	assert.Equal(t, auth.HashSecret(key), rec.Hash)

	stored, err := store.GetKey(ctx, rec.ID)
	require.NoError(t, err)
	assert.Equal(t, auth.HashSecret(key), stored.Hash, "only the key's hash is stored")
	assert.NotContains(t, fmt.Sprintf("%+v", *stored), strings.TrimPrefix(key, "fmk_"+id+"_"), "never the secret")

	key2, rec2, err := k.Create(ctx, "u-1", auth.NewKey{Name: "no scopes"})
	require.NoError(t, err)
	assert.NotEqual(t, key, key2)
	assert.NotEqual(t, rec.ID, rec2.ID)
	assert.NotNil(t, rec2.Scopes, "scopes are an empty list, not null")
	assert.Empty(t, rec2.Scopes)
	assert.Nil(t, rec2.ExpiresAt)

	for _, scopes := range [][]string{{"*"}, {"read", "write"}, {"Invoice:*", "*:read", "Sales Order:submit"}} {
		_, _, err := k.Create(ctx, "u-2", auth.NewKey{Name: "ok", Scopes: scopes})
		assert.NoError(t, err, "scopes %v", scopes)
	}
}

func TestAPIKeyCreateValidation(t *testing.T) {
	ctx := tctx("default")
	past := time.Now().Add(-time.Minute)
	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name   string
		nk     auth.NewKey
		fields []string
	}{
		{"empty name", auth.NewKey{Name: ""}, []string{"name"}},
		{"blank name", auth.NewKey{Name: "   "}, []string{"name"}},
		{"name too long", auth.NewKey{Name: strings.Repeat("n", 141)}, []string{"name"}},
		{"unknown action", auth.NewKey{Name: "k", Scopes: []string{"fly"}}, []string{"scopes"}},
		{"unknown action on a DocType", auth.NewKey{Name: "k", Scopes: []string{"Invoice:fly"}}, []string{"scopes"}},
		{"two colons", auth.NewKey{Name: "k", Scopes: []string{"Invoice:read:write"}}, []string{"scopes"}},
		{"empty scope", auth.NewKey{Name: "k", Scopes: []string{""}}, []string{"scopes"}},
		{"one bad scope among good ones", auth.NewKey{Name: "k", Scopes: []string{"read", "Invoice:nope"}}, []string{"scopes"}},
		{"expiry in the past", auth.NewKey{Name: "k", ExpiresAt: &past}, []string{"expires_at"}},
		{"everything wrong", auth.NewKey{Name: "", Scopes: []string{"x"}, ExpiresAt: &past}, []string{"name", "scopes", "expires_at"}},
		{"future expiry is fine but the name is not", auth.NewKey{ExpiresAt: &future}, []string{"name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemKeys()
			k := auth.NewAPIKeys(store, nil)
			key, rec, err := k.Create(ctx, "u-1", tc.nk)
			fields := fieldsOf(t, err)
			for _, f := range tc.fields {
				assert.Contains(t, fields, f)
			}
			assert.Len(t, fields, len(tc.fields))
			assert.Empty(t, key)
			assert.Nil(t, rec)
			assert.Empty(t, store.m, "nothing stored")
		})
	}
}

func TestAPIKeyLimitPerUser(t *testing.T) {
	ctx := tctx("default")
	store := newMemKeys()
	k := auth.NewAPIKeys(store, nil)
	for i := range auth.MaxAPIKeysPerUser {
		require.NoError(t, store.CreateKey(ctx, &ports.APIKey{ID: fmt.Sprintf("k%015d", i), UserID: "u-1"}))
	}
	_, _, err := k.Create(ctx, "u-1", auth.NewKey{Name: "one too many"})
	assert.ErrorIs(t, err, core.ErrConflict)
	assert.Len(t, store.m, auth.MaxAPIKeysPerUser, "nothing stored")

	_, _, err = k.Create(ctx, "u-2", auth.NewKey{Name: "another user"})
	assert.NoError(t, err, "the limit is per user")
	_, _, err = k.Create(tctx("other"), "u-1", auth.NewKey{Name: "another tenant"})
	assert.NoError(t, err, "and per tenant")

	require.NoError(t, store.DeleteKey(ctx, "k000000000000000"))
	_, _, err = k.Create(ctx, "u-1", auth.NewKey{Name: "after a revocation"})
	assert.NoError(t, err)
}

func TestParseKey(t *testing.T) {
	id := "abcdefgh01234567"
	secret := strings.Repeat("Ab9-", 10) + "xyz" // 43 characters without "_"
	for _, tc := range []struct {
		name, key string
		ok        bool
	}{
		{"well formed", "fmk_" + id + "_" + secret, true},
		{"secret with underscores", "fmk_" + id + "_" + strings.Repeat("_", 43), true},
		{"minimum secret", "fmk_" + id + "_" + strings.Repeat("s", 32), true},
		{"empty", "", false},
		{"no prefix", id + "_" + secret, false},
		{"other prefix", "fmx_" + id + "_" + secret, false},
		{"prefix in another case", "FMK_" + id + "_" + secret, false},
		{"short id", "fmk_" + id[:15] + "_" + secret, false},
		{"long id", "fmk_" + id + "x_" + secret, false},
		{"no separator", "fmk_" + id + secret, false},
		{"short secret", "fmk_" + id + "_" + strings.Repeat("s", 31), false},
		{"no secret", "fmk_" + id + "_", false},
		{"too long", "fmk_" + id + "_" + strings.Repeat("s", 108), false},
		{"bearer token", "eyJhbGciOiJIUzI1NiJ9.e30.x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := auth.ParseKey(tc.key)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, id, got)
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

func TestAPIKeyVerify(t *testing.T) {
	ctx := tctx("default")
	store := newMemKeys()
	k := auth.NewAPIKeys(store, nil)
	key, rec, err := k.Create(ctx, "u-1", auth.NewKey{Name: "ci", Scopes: []string{"read"}})
	require.NoError(t, err)

	// An expired key, stored as Create would have stored it before it expired.
	expiredKey := "fmk_expiredexpired16_" + auth.RandomToken(32)
	past := time.Now().Add(-time.Second)
	require.NoError(t, store.CreateKey(ctx, &ports.APIKey{ID: "expiredexpired16", UserID: "u-1", ExpiresAt: &past, Hash: auth.HashSecret(expiredKey)}))
	require.Regexp(t, keyShape, expiredKey)
	// A key of another tenant.
	otherKey, _, err := k.Create(tctx("other"), "u-1", auth.NewKey{Name: "other tenant"})
	require.NoError(t, err)

	store.gets, store.lists = 0, 0
	got, err := k.Verify(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, rec.ID, got.ID)
	assert.Equal(t, []string{"read"}, got.Scopes)
	assert.Equal(t, 1, store.gets, "one indexed lookup")
	assert.Zero(t, store.lists, "never a scan")

	for _, tc := range []struct {
		name, key string
		lookups   int
	}{
		{"right id, wrong secret", "fmk_" + rec.ID + "_" + auth.RandomToken(32), 1},
		{"right id, secret one character off", key[:len(key)-1] + flip(key[len(key)-1]), 1},
		{"expired", expiredKey, 1},
		{"unknown id", "fmk_zzzzzzzzzzzzzzzz_" + auth.RandomToken(32), 1},
		{"garbage", "hello", 0},
		{"empty", "", 0},
		{"a key of another tenant", otherKey, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.gets = 0
			got, err := k.Verify(ctx, tc.key)
			assert.ErrorIs(t, err, core.ErrUnauthorized)
			assert.Nil(t, got)
			assert.Equal(t, tc.lookups, store.gets)
		})
	}

	t.Run("store failure is not a 401", func(t *testing.T) {
		store.getErr = errors.New("db down")
		defer func() { store.getErr = nil }()
		_, err := k.Verify(ctx, key)
		require.Error(t, err)
		assert.NotErrorIs(t, err, core.ErrUnauthorized)
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestAPIKeyUseIsBatched(t *testing.T) {
	store := newMemKeys()
	k := auth.NewAPIKeys(store, nil)
	t1, t2 := tctx("t1"), tctx("t2")
	a, ra, err := k.Create(t1, "u-1", auth.NewKey{Name: "a"})
	require.NoError(t, err)
	b, rb, err := k.Create(t1, "u-2", auth.NewKey{Name: "b"})
	require.NoError(t, err)
	c, rc, err := k.Create(t2, "u-1", auth.NewKey{Name: "c"})
	require.NoError(t, err)

	before := time.Now()
	for range 5 {
		for _, v := range []struct {
			ctx context.Context
			key string
		}{{t1, a}, {t1, b}, {t2, c}} {
			_, err := k.Verify(v.ctx, v.key)
			require.NoError(t, err)
		}
	}
	assert.Empty(t, store.touchCalls(), "no write at each verification")
	got, err := store.GetKey(t1, ra.ID)
	require.NoError(t, err)
	assert.Nil(t, got.LastUsedAt)

	// A failed verification is not a use.
	_, err = k.Verify(t1, "fmk_"+ra.ID+"_"+auth.RandomToken(32))
	require.ErrorIs(t, err, core.ErrUnauthorized)

	require.NoError(t, k.Flush(context.Background()))
	calls := store.touchCalls()
	require.Len(t, calls, 2, "one TouchKeys call per tenant")
	byTenant := map[string]map[string]time.Time{}
	for _, c := range calls {
		byTenant[c.tenant] = c.used
	}
	require.Contains(t, byTenant, "t1")
	require.Contains(t, byTenant, "t2")
	assert.ElementsMatch(t, []string{ra.ID, rb.ID}, keysOf(byTenant["t1"]))
	assert.ElementsMatch(t, []string{rc.ID}, keysOf(byTenant["t2"]))
	for _, m := range byTenant {
		for id, at := range m {
			assert.False(t, at.Before(before.Add(-time.Second)), "%s: last use is the verification time", id)
			assert.False(t, at.After(time.Now()), id)
		}
	}
	got, err = store.GetKey(t1, ra.ID)
	require.NoError(t, err)
	assert.NotNil(t, got.LastUsedAt, "the flush wrote last_used_at")

	require.NoError(t, k.Flush(context.Background()))
	assert.Len(t, store.touchCalls(), 2, "nothing new: nothing written")

	_, err = k.Verify(t2, c)
	require.NoError(t, err)
	require.NoError(t, k.Flush(context.Background()))
	calls = store.touchCalls()
	require.Len(t, calls, 3)
	assert.Equal(t, "t2", calls[2].tenant)
	assert.Equal(t, []string{rc.ID}, keysOf(calls[2].used))
}

func keysOf(m map[string]time.Time) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAPIKeyRunFlushesOnStop(t *testing.T) {
	store := newMemKeys()
	k := auth.NewAPIKeys(store, nil)
	k.FlushInterval = time.Hour // the ticker never fires in this test
	ctx := tctx("default")
	key, rec, err := k.Create(ctx, "u-1", auth.NewKey{Name: "a"})
	require.NoError(t, err)
	_, err = k.Verify(ctx, key)
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		k.Run(runCtx)
		close(done)
	}()
	stop()
	<-done
	calls := store.touchCalls()
	require.Len(t, calls, 1, "Run flushes once more when it stops")
	assert.Equal(t, []string{rec.ID}, keysOf(calls[0].used))
}

func TestAPIKeyListAndRevoke(t *testing.T) {
	ctx := tctx("default")
	store := newMemKeys()
	k := auth.NewAPIKeys(store, nil)
	annKey, annRec, err := k.Create(ctx, "ann", auth.NewKey{Name: "ann"})
	require.NoError(t, err)
	bobKey, bobRec, err := k.Create(ctx, "bob", auth.NewKey{Name: "bob"})
	require.NoError(t, err)

	list, err := k.List(ctx, "ann")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, annRec.ID, list[0].ID)

	err = k.Revoke(ctx, "ann", bobRec.ID)
	assert.ErrorIs(t, err, core.ErrNotFound, "another user's key is not found")
	_, err = k.Verify(ctx, bobKey)
	assert.NoError(t, err, "and keeps working")

	assert.ErrorIs(t, k.Revoke(ctx, "ann", "zzzzzzzzzzzzzzzz"), core.ErrNotFound)

	require.NoError(t, k.Revoke(ctx, "ann", annRec.ID))
	_, err = k.Verify(ctx, annKey)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a revoked key fails")
	list, err = k.List(ctx, "ann")
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Same(t, store, k.Store())
}
