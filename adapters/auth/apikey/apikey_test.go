package apikey_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/auth/apikey"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// identity knows a fixed set of users.
type identity struct{ users map[string]*ports.User }

func (i identity) GetUser(_ context.Context, id string) (*ports.User, error) {
	u, ok := i.users[id]
	if !ok {
		return nil, core.Public(core.ErrNotFound, "user not found")
	}
	c := *u
	return &c, nil
}

func (identity) Authenticate(context.Context, ports.Credentials) (*ports.Token, error) {
	return nil, core.ErrUnauthorized
}

func (identity) Attributes(_ context.Context, u *ports.User) map[string]any {
	return map[string]any{"roles": u.Roles}
}

// keyStore keeps key records in memory and records every lookup.
type keyStore struct {
	mu      sync.Mutex
	keys    map[string]*ports.APIKey
	lookups []string
}

func (s *keyStore) CreateKey(_ context.Context, k *ports.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *k
	s.keys[k.ID] = &c
	return nil
}

func (s *keyStore) GetKey(_ context.Context, id string) (*ports.APIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups = append(s.lookups, id)
	k, ok := s.keys[id]
	if !ok {
		return nil, core.ErrNotFound
	}
	c := *k
	return &c, nil
}

func (s *keyStore) looked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lookups...)
}

func (s *keyStore) ListKeys(context.Context, string) ([]*ports.APIKey, error) { return nil, nil }
func (s *keyStore) DeleteKey(context.Context, string) error                   { return nil }
func (s *keyStore) DeleteKeysForUser(context.Context, string) (int, error)    { return 0, nil }
func (s *keyStore) TouchKeys(context.Context, map[string]time.Time) error     { return nil }

type env struct {
	strategy *apikey.Strategy
	store    *keyStore
	key      string
	rec      *ports.APIKey
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := &keyStore{keys: map[string]*ports.APIKey{}}
	keys := auth.NewAPIKeys(store, slog.New(slog.DiscardHandler))
	ident := identity{users: map[string]*ports.User{
		"ann": {ID: "ann", Email: "ann@example.com", TenantID: "t1", Roles: []string{"Sales"}, IsActive: true},
	}}
	svc := &auth.Service{
		Users:   auth.NewUserManager(ident, auth.ModeLocal, auth.PasswordPolicy{}, nil, keys),
		APIKeys: keys,
	}
	key, rec, err := keys.Create(tctx(), "ann", auth.NewKey{Name: "ci", Scopes: []string{"Invoice:read"}})
	require.NoError(t, err)
	return &env{strategy: apikey.New(svc), store: store, key: key, rec: rec}
}

// keyHeader returns headers carrying v in X-API-Key, as a server receives them.
func keyHeader(v string) http.Header {
	h := http.Header{}
	h.Set(apikey.Header, v)
	return h
}

func tctx() context.Context { return ports.WithTenantID(context.Background(), "t1") }

func TestName(t *testing.T) {
	assert.Equal(t, "api_key", newEnv(t).strategy.Name())
}

func TestSupports(t *testing.T) {
	s := newEnv(t).strategy
	lower := http.Header{}
	lower.Set("x-api-key", "fmk_abc")
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"key header", keyHeader("fmk_abc"), true},
		{"header name in any case", lower, true},
		{"any non-empty value", keyHeader("not-even-a-key"), true},
		{"no headers", http.Header{}, false},
		{"empty value", keyHeader(""), false},
		{"bearer token", http.Header{"Authorization": {"Bearer fmk_abc"}}, false},
		{"basic auth", http.Header{"Authorization": {"Basic YW5uOnB3"}}, false},
		{"another header", http.Header{"X-Api-Token": {"fmk_abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestAuthenticate(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"as sent", ""},
		{"surrounding spaces trimmed", "  %s  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			v := e.key
			if tc.value != "" {
				v = strings.Replace(tc.value, "%s", e.key, 1)
			}
			uc, err := e.strategy.Authenticate(tctx(), keyHeader(v))
			require.NoError(t, err)
			assert.Equal(t, []string{e.rec.ID}, e.store.looked(), "the key's lookup id finds its record")
			assert.Equal(t, "ann", uc.ID)
			assert.Equal(t, "api_key", uc.Method)
			assert.Equal(t, []string{"Invoice:read"}, uc.Scopes, "the principal carries the key's scopes")
			assert.True(t, uc.HasRole("Sales"))
		})
	}
}

func TestAuthenticateRefusals(t *testing.T) {
	e := newEnv(t)
	id, ok := auth.ParseKey(e.key)
	require.True(t, ok)
	for _, tc := range []struct{ name, value string }{
		{"wrong secret", auth.APIKeyPrefix + id + "_" + auth.RandomToken(32)},
		{"unknown id", auth.APIKeyPrefix + strings.Repeat("z", 16) + "_" + auth.RandomToken(32)},
		{"not shaped like a key", "hunter2"},
		{"blank", "   "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, err := e.strategy.Authenticate(tctx(), keyHeader(tc.value))
			assert.Nil(t, uc)
			require.ErrorIs(t, err, core.ErrUnauthorized)
		})
	}

	t.Run("key of a user that no longer exists", func(t *testing.T) {
		store := &keyStore{keys: map[string]*ports.APIKey{}}
		keys := auth.NewAPIKeys(store, slog.New(slog.DiscardHandler))
		svc := &auth.Service{
			Users:   auth.NewUserManager(identity{}, auth.ModeLocal, auth.PasswordPolicy{}, nil, keys),
			APIKeys: keys,
		}
		key, _, err := keys.Create(tctx(), "gone", auth.NewKey{Name: "ci"})
		require.NoError(t, err)
		uc, err := apikey.New(svc).Authenticate(tctx(), keyHeader(key))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})
}

var _ ports.Authenticator = (*apikey.Strategy)(nil)
