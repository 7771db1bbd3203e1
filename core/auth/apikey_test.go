package auth_test

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

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// keyStore keeps key records in memory and records every lookup.
type apiKeyKeyStore struct {
	mu      sync.Mutex
	keys    map[string]*ports.APIKey
	lookups []string
}

func (s *apiKeyKeyStore) CreateKey(_ context.Context, k *ports.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *k
	s.keys[k.ID] = &c
	return nil
}

func (s *apiKeyKeyStore) GetKey(_ context.Context, id string) (*ports.APIKey, error) {
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

func (s *apiKeyKeyStore) looked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lookups...)
}

func (s *apiKeyKeyStore) ListKeys(context.Context, string) ([]*ports.APIKey, error) { return nil, nil }
func (s *apiKeyKeyStore) DeleteKey(context.Context, string) error                   { return nil }
func (s *apiKeyKeyStore) DeleteKeysForUser(context.Context, string) (int, error)    { return 0, nil }
func (s *apiKeyKeyStore) TouchKeys(context.Context, map[string]time.Time) error     { return nil }

type apiKeyEnv struct {
	strategy *auth.APIKey
	store    *apiKeyKeyStore
	key      string
	rec      *ports.APIKey
}

func apiKeyNewEnv(t *testing.T) *apiKeyEnv {
	t.Helper()
	store := &apiKeyKeyStore{keys: map[string]*ports.APIKey{}}
	keys := auth.NewAPIKeys(store, slog.New(slog.DiscardHandler))
	ident := identityWith(&ports.User{ID: "ann", Email: "ann@example.com", TenantID: "t1", Roles: []string{"Sales"}, IsActive: true})
	svc := &auth.Service{
		Users:   auth.NewUserManager(ident, auth.ModeLocal, auth.PasswordPolicy{}, nil, keys),
		APIKeys: keys,
	}
	key, rec, err := keys.Create(apiKeyTctx(), "ann", auth.NewKey{Name: "ci", Scopes: []string{"Invoice:read"}})
	require.NoError(t, err)
	return &apiKeyEnv{strategy: auth.NewAPIKey(svc), store: store, key: key, rec: rec}
}

// keyHeader returns headers carrying v in X-API-Key, as a server receives them.
func apiKeyKeyHeader(v string) http.Header {
	h := http.Header{}
	h.Set(auth.HeaderAPIKey, v)
	return h
}

func apiKeyTctx() context.Context { return ports.WithTenantID(context.Background(), "t1") }

func TestAPIKeyName(t *testing.T) {
	assert.Equal(t, "api_key", apiKeyNewEnv(t).strategy.Name())
}

func TestAPIKeySupports(t *testing.T) {
	s := apiKeyNewEnv(t).strategy
	lower := http.Header{}
	lower.Set("x-api-key", "fmk_abc")
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"key header", apiKeyKeyHeader("fmk_abc"), true},
		{"header name in any case", lower, true},
		{"any non-empty value", apiKeyKeyHeader("not-even-a-key"), true},
		{"no headers", http.Header{}, false},
		{"empty value", apiKeyKeyHeader(""), false},
		{"bearer token", http.Header{"Authorization": {"Bearer fmk_abc"}}, false},
		{"basic auth", http.Header{"Authorization": {"Basic YW5uOnB3"}}, false},
		{"another header", http.Header{"X-Api-Token": {"fmk_abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestAPIKeyAuthenticate(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"as sent", ""},
		{"surrounding spaces trimmed", "  %s  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := apiKeyNewEnv(t)
			v := e.key
			if tc.value != "" {
				v = strings.Replace(tc.value, "%s", e.key, 1)
			}
			uc, err := e.strategy.Authenticate(apiKeyTctx(), apiKeyKeyHeader(v))
			require.NoError(t, err)
			assert.Equal(t, []string{e.rec.ID}, e.store.looked(), "the key's lookup id finds its record")
			assert.Equal(t, "ann", uc.ID)
			assert.Equal(t, "api_key", uc.Method)
			assert.Equal(t, []string{"Invoice:read"}, uc.Scopes, "the principal carries the key's scopes")
			assert.True(t, uc.HasRole("Sales"))
		})
	}
}

func TestAPIKeyAuthenticateRefusals(t *testing.T) {
	e := apiKeyNewEnv(t)
	id, ok := auth.ParseKey(e.key)
	require.True(t, ok)
	for _, tc := range []struct{ name, value string }{
		{"wrong secret", auth.APIKeyPrefix + id + "_" + auth.RandomToken(32)},
		{"unknown id", auth.APIKeyPrefix + strings.Repeat("z", 16) + "_" + auth.RandomToken(32)},
		{"not shaped like a key", "hunter2"},
		{"blank", "   "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, err := e.strategy.Authenticate(apiKeyTctx(), apiKeyKeyHeader(tc.value))
			assert.Nil(t, uc)
			require.ErrorIs(t, err, core.ErrUnauthorized)
		})
	}

	t.Run("key of a user that no longer exists", func(t *testing.T) {
		store := &apiKeyKeyStore{keys: map[string]*ports.APIKey{}}
		keys := auth.NewAPIKeys(store, slog.New(slog.DiscardHandler))
		svc := &auth.Service{
			Users:   auth.NewUserManager(identityWith(), auth.ModeLocal, auth.PasswordPolicy{}, nil, keys),
			APIKeys: keys,
		}
		key, _, err := keys.Create(apiKeyTctx(), "gone", auth.NewKey{Name: "ci"})
		require.NoError(t, err)
		uc, err := auth.NewAPIKey(svc).Authenticate(apiKeyTctx(), apiKeyKeyHeader(key))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})
}

var _ ports.Authenticator = (*auth.APIKey)(nil)
