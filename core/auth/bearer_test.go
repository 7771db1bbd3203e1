package auth_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// tokens accepts the raw tokens it knows and records every token it is asked about.
type bearerTokens struct {
	mu     sync.Mutex
	seen   []string
	claims map[string]ports.Claims
}

func (t *bearerTokens) Issue(context.Context, *ports.User) (*ports.Token, error) { return nil, nil }
func (t *bearerTokens) JWKS() ([]byte, bool)                                     { return nil, false }

func (t *bearerTokens) Verify(_ context.Context, raw string) (*ports.Claims, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = append(t.seen, raw)
	c, ok := t.claims[raw]
	if !ok {
		return nil, core.Public(core.ErrUnauthorized, "invalid token")
	}
	return &c, nil
}

func (t *bearerTokens) verified() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.seen...)
}

const bearerGoodToken = "good.token.value"

func bearerNewStrategy(t *testing.T) (*auth.Bearer, *bearerTokens) {
	t.Helper()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tok := &bearerTokens{claims: map[string]ports.Claims{
		bearerGoodToken: {Subject: "ann", TenantID: "t1", ID: "jti-1", TokenVersion: 2, ExpiresAt: exp},
	}}
	// ann exists in t2 as well (the old fake ignored tenants), so a refusal
	// of her t1 token in t2 comes from the token's tenant, not a missing user.
	ident := identityWith(
		&ports.User{ID: "ann", Email: "ann@example.com", TenantID: "t1", Roles: []string{"Sales"}, IsActive: true, TokenVersion: 2},
		&ports.User{ID: "ann", Email: "ann@example.com", TenantID: "t2", Roles: []string{"Sales"}, IsActive: true, TokenVersion: 2},
	)
	svc := &auth.Service{
		Users:  auth.NewUserManager(ident, auth.ModeLocal, auth.PasswordPolicy{}, nil, nil),
		Tokens: tok,
	}
	return auth.NewBearer(svc), tok
}

func bearerHeader(authz string) http.Header {
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	return h
}

func TestBearerName(t *testing.T) {
	s, _ := bearerNewStrategy(t)
	assert.Equal(t, "bearer", s.Name())
}

func TestBearerSupports(t *testing.T) {
	s, _ := bearerNewStrategy(t)
	for _, tc := range []struct {
		name string
		h    http.Header
		want bool
	}{
		{"canonical scheme", bearerHeader("Bearer abc"), true},
		{"lower-case scheme", bearerHeader("bearer abc"), true},
		{"upper-case scheme", bearerHeader("BEARER abc"), true},
		{"mixed-case scheme", bearerHeader("bEaReR abc"), true},
		{"no headers", http.Header{}, false},
		{"empty authorization", http.Header{"Authorization": {""}}, false},
		{"scheme without token", bearerHeader("Bearer"), false},
		{"scheme glued to token", bearerHeader("Bearerabc"), false},
		{"basic scheme", bearerHeader("Basic YW5uOnB3"), false},
		{"other scheme", bearerHeader("Token abc"), false},
		{"bare token", bearerHeader("abc"), false},
		{"api key header only", http.Header{"X-Api-Key": {"fmk_abc"}}, false},
		{"session cookie only", http.Header{"Cookie": {"fm_session=abc"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.Supports(tc.h))
		})
	}
}

func TestBearerAuthenticate(t *testing.T) {
	ctx := ports.WithTenantID(context.Background(), "t1")
	for _, tc := range []struct {
		name, authz string
	}{
		{"canonical", "Bearer " + bearerGoodToken},
		{"lower-case scheme", "bearer " + bearerGoodToken},
		{"surrounding spaces trimmed", "Bearer   " + bearerGoodToken + "  "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, tok := bearerNewStrategy(t)
			uc, err := s.Authenticate(ctx, bearerHeader(tc.authz))
			require.NoError(t, err)
			assert.Equal(t, []string{bearerGoodToken}, tok.verified(), "the token alone reaches the token service")
			assert.Equal(t, "ann", uc.ID)
			assert.Equal(t, "ann@example.com", uc.Email)
			assert.Equal(t, "bearer", uc.Method)
			assert.Equal(t, "jti-1", uc.TokenID)
			assert.True(t, uc.HasRole("Sales"))
		})
	}
}

func TestBearerAuthenticateRefusals(t *testing.T) {
	ctx := ports.WithTenantID(context.Background(), "t1")

	t.Run("unknown token", func(t *testing.T) {
		s, tok := bearerNewStrategy(t)
		uc, err := s.Authenticate(ctx, bearerHeader("Bearer forged"))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
		assert.Equal(t, []string{"forged"}, tok.verified())
	})

	t.Run("token of another tenant", func(t *testing.T) {
		s, _ := bearerNewStrategy(t)
		uc, err := s.Authenticate(ports.WithTenantID(context.Background(), "t2"), bearerHeader("Bearer "+bearerGoodToken))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})

	t.Run("tokens not enabled", func(t *testing.T) {
		svc := &auth.Service{Users: auth.NewUserManager(identityWith(), auth.ModeLocal, auth.PasswordPolicy{}, nil, nil)}
		uc, err := auth.NewBearer(svc).Authenticate(ctx, bearerHeader("Bearer "+bearerGoodToken))
		assert.Nil(t, uc)
		require.ErrorIs(t, err, core.ErrUnauthorized)
	})
}

var _ ports.Authenticator = (*auth.Bearer)(nil)
