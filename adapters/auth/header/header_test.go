package header_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/auth/header"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// hydrator answers a fixed principal or error and records the headers it got.
type hydrator struct {
	user *ports.UserContext
	err  error
	got  []http.Header
}

func (h *hydrator) HydrateFromHeaders(hd http.Header) (*ports.UserContext, error) {
	h.got = append(h.got, hd)
	return h.user, h.err
}

func (h *hydrator) IdentityHeaders() []string { return []string{"X-User-ID", "X-User-Roles"} }

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestName(t *testing.T) {
	assert.Equal(t, "header", header.New(&hydrator{}, "X-User-ID").Name())
}

func TestSupports(t *testing.T) {
	for _, tc := range []struct {
		name, userIDHeader string
		h                  http.Header
		want               bool
	}{
		{"user id header", "X-User-ID", headers("X-User-ID", "ann"), true},
		{"header sent in another case", "X-User-ID", headers("x-user-id", "ann"), true},
		{"configured in another case", "x-user-id", headers("X-User-ID", "ann"), true},
		{"renamed header", "X-Remote-User", headers("X-Remote-User", "ann"), true},
		{"default name when renamed", "X-Remote-User", headers("X-User-ID", "ann"), false},
		{"no headers", "X-User-ID", http.Header{}, false},
		{"empty user id", "X-User-ID", headers("X-User-ID", ""), false},
		{"other identity headers only", "X-User-ID", headers("X-User-Email", "ann@example.com", "X-User-Roles", "Admin"), false},
		{"bearer token", "X-User-ID", headers("Authorization", "Bearer abc"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, header.New(&hydrator{}, tc.userIDHeader).Supports(tc.h))
		})
	}
}

func TestAuthenticate(t *testing.T) {
	want := &ports.UserContext{ID: "ann", Roles: []string{"Sales"}, Method: "header"}
	hy := &hydrator{user: want}
	h := headers("X-User-ID", "ann", "X-User-Roles", "Sales")

	uc, err := header.New(hy, "X-User-ID").Authenticate(context.Background(), h)
	require.NoError(t, err)
	assert.Same(t, want, uc, "the hydrator's principal is the answer")
	require.Len(t, hy.got, 1)
	assert.Equal(t, h, hy.got[0], "the hydrator reads the request's headers")
}

func TestAuthenticateError(t *testing.T) {
	bad := core.Public(core.ErrUnauthorized, "malformed X-User-Roles")
	hy := &hydrator{err: bad}

	uc, err := header.New(hy, "X-User-ID").Authenticate(context.Background(), headers("X-User-ID", "ann"))
	assert.Nil(t, uc)
	require.ErrorIs(t, err, core.ErrUnauthorized)
	assert.True(t, errors.Is(err, bad), "the hydrator's error is returned as is")
	assert.Len(t, hy.got, 1)
}

var _ ports.Authenticator = (*header.Strategy)(nil)
