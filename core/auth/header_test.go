package auth_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// hydrator answers a fixed principal or error and records the headers it got.
type headerHydrator struct {
	user *ports.UserContext
	err  error
	got  []http.Header
}

func (h *headerHydrator) HydrateFromHeaders(hd http.Header) (*ports.UserContext, error) {
	h.got = append(h.got, hd)
	return h.user, h.err
}

func (h *headerHydrator) IdentityHeaders() []string { return []string{"X-User-ID", "X-User-Roles"} }

func headerHeaders(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestHeaderName(t *testing.T) {
	assert.Equal(t, "header", auth.NewHeader(&headerHydrator{}, "X-User-ID").Name())
}

func TestHeaderSupports(t *testing.T) {
	for _, tc := range []struct {
		name, userIDHeader string
		h                  http.Header
		want               bool
	}{
		{"user id header", "X-User-ID", headerHeaders("X-User-ID", "ann"), true},
		{"header sent in another case", "X-User-ID", headerHeaders("x-user-id", "ann"), true},
		{"configured in another case", "x-user-id", headerHeaders("X-User-ID", "ann"), true},
		{"renamed header", "X-Remote-User", headerHeaders("X-Remote-User", "ann"), true},
		{"default name when renamed", "X-Remote-User", headerHeaders("X-User-ID", "ann"), false},
		{"no headers", "X-User-ID", http.Header{}, false},
		{"empty user id", "X-User-ID", headerHeaders("X-User-ID", ""), false},
		{"other identity headers only", "X-User-ID", headerHeaders("X-User-Email", "ann@example.com", "X-User-Roles", "Admin"), false},
		{"bearer token", "X-User-ID", headerHeaders("Authorization", "Bearer abc"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, auth.NewHeader(&headerHydrator{}, tc.userIDHeader).Supports(tc.h))
		})
	}
}

func TestHeaderAuthenticate(t *testing.T) {
	want := &ports.UserContext{ID: "ann", Roles: []string{"Sales"}, Method: "header"}
	hy := &headerHydrator{user: want}
	h := headerHeaders("X-User-ID", "ann", "X-User-Roles", "Sales")

	uc, err := auth.NewHeader(hy, "X-User-ID").Authenticate(context.Background(), h)
	require.NoError(t, err)
	assert.Same(t, want, uc, "the hydrator's principal is the answer")
	require.Len(t, hy.got, 1)
	assert.Equal(t, h, hy.got[0], "the hydrator reads the request's headers")
}

func TestHeaderAuthenticateError(t *testing.T) {
	bad := core.Public(core.ErrUnauthorized, "malformed X-User-Roles")
	hy := &headerHydrator{err: bad}

	uc, err := auth.NewHeader(hy, "X-User-ID").Authenticate(context.Background(), headerHeaders("X-User-ID", "ann"))
	assert.Nil(t, uc)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.True(t, errors.Is(err, bad), "the hydrator's error is returned as is")
	assert.Len(t, hy.got, 1)
}

var _ ports.Authenticator = (*auth.Header)(nil)
