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

// fake recognises header h and accepts value ok.
type fake struct {
	name, header, ok string
	calls            int
}

func (f *fake) Name() string                { return f.name }
func (f *fake) Supports(h http.Header) bool { return h.Get(f.header) != "" }
func (f *fake) Authenticate(_ context.Context, h http.Header) (*ports.UserContext, error) {
	f.calls++
	if h.Get(f.header) != f.ok {
		return nil, core.Public(core.ErrUnauthorized, "bad "+f.name)
	}
	return &ports.UserContext{ID: f.name + "-user"}, nil
}

func TestFirstSupportingStrategyDecides(t *testing.T) {
	strong := &fake{name: "strong", header: "X-Strong", ok: "s3cret"}
	weak := &fake{name: "weak", header: "X-Weak", ok: "w"}
	chain := auth.NewChain(strong, weak)
	ctx := context.Background()

	u, err := chain.Authenticate(ctx, http.Header{})
	require.NoError(t, err)
	assert.Nil(t, u, "no credential: anonymous, not an error")

	u, err = chain.Authenticate(ctx, http.Header{"X-Weak": {"w"}})
	require.NoError(t, err)
	assert.Equal(t, "weak-user", u.ID)
	assert.Equal(t, "weak", u.Method, "the deciding strategy is recorded")

	// A present but invalid strong credential is final: the valid weak one is never tried.
	weak.calls = 0
	u, err = chain.Authenticate(ctx, http.Header{"X-Strong": {"wrong"}, "X-Weak": {"w"}})
	assert.Nil(t, u)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	assert.Zero(t, weak.calls, "no fall-through to a weaker strategy")
}

type nilStrategy struct{}

func (nilStrategy) Name() string              { return "nil" }
func (nilStrategy) Supports(http.Header) bool { return true }
func (nilStrategy) Authenticate(context.Context, http.Header) (*ports.UserContext, error) {
	return nil, nil
}

type brokenStrategy struct{}

func (brokenStrategy) Name() string              { return "broken" }
func (brokenStrategy) Supports(http.Header) bool { return true }
func (brokenStrategy) Authenticate(context.Context, http.Header) (*ports.UserContext, error) {
	return nil, errors.New("session store down")
}

func TestStrategyWithoutUserOrWithFailureIsNotAnonymous(t *testing.T) {
	_, err := auth.NewChain(nilStrategy{}).Authenticate(context.Background(), http.Header{})
	assert.ErrorIs(t, err, core.ErrUnauthorized, "supported but no user is a 401, never anonymous")

	_, err = auth.NewChain(brokenStrategy{}).Authenticate(context.Background(), http.Header{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, core.ErrUnauthorized, "an infrastructure failure stays a 5xx")
}

func TestEmptyChainIsAnonymous(t *testing.T) {
	u, err := auth.NewChain().Authenticate(context.Background(), http.Header{"Authorization": {"Bearer x"}})
	assert.NoError(t, err)
	assert.Nil(t, u)
}
