package auth_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

func TestChainChecksThePrincipalsOfOneStrategy(t *testing.T) {
	gateway := &fake{name: "header", header: "X-User", ok: "gw"}
	token := &fake{name: "bearer", header: "X-Token", ok: "t"}
	refusal := core.Invalidf("roles", "unknown role %q", "Ghost")
	var seen []string
	chain := auth.NewChain(gateway, token).
		WithCheck("header", func(ctx context.Context, u *ports.UserContext) error {
			seen = append(seen, u.ID+"/"+u.Method)
			return nil
		}).
		WithCheck("header", func(context.Context, *ports.UserContext) error { return refusal })
	ctx := context.Background()

	u, err := chain.Authenticate(ctx, http.Header{"X-User": {"gw"}})
	assert.Nil(t, u)
	assert.Same(t, refusal, err, "the check's error is returned as is (a 400, not a 401)")
	assert.Equal(t, []string{"header-user/header"}, seen, "checks run in order, after the method is set")

	u, err = chain.Authenticate(ctx, http.Header{"X-Token": {"t"}})
	require.NoError(t, err)
	assert.Equal(t, "bearer-user", u.ID, "other strategies are not checked")
	assert.Len(t, seen, 1)

	_, err = chain.Authenticate(ctx, http.Header{"X-User": {"bad"}})
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a failed credential never reaches the checks")
	assert.Len(t, seen, 1)
}
