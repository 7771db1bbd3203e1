// Package auth holds the authentication chain: an ordered list of strategies
// of which the first that recognises a request's credential decides.
package auth

import (
	"context"
	"fmt"
	"net/http"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Chain tries its strategies in order. The first whose Supports is true decides:
// its answer is final, so a present but invalid credential is a 401 and never
// falls through to a weaker strategy.
type Chain struct {
	strategies []ports.Authenticator
	// checks holds the principal checks per strategy name (see WithCheck).
	checks map[string][]PrincipalCheck
}

// PrincipalCheck vets the principal a strategy produced, e.g. that the roles
// a gateway sent exist. Its error refuses the request and is returned as is.
type PrincipalCheck func(ctx context.Context, u *ports.UserContext) error

// WithCheck adds check for the principals of the strategy named strategy
// (its Name), run after that strategy authenticates a request; checks run in
// the order added. It returns c. Call it before serving.
func (c *Chain) WithCheck(strategy string, check PrincipalCheck) *Chain {
	if c.checks == nil {
		c.checks = map[string][]PrincipalCheck{}
	}
	c.checks[strategy] = append(c.checks[strategy], check)
	return c
}

// NewChain returns a chain of strategies in priority order.
func NewChain(strategies ...ports.Authenticator) *Chain {
	return &Chain{strategies: strategies}
}

// Strategies returns the chain's strategies in order.
func (c *Chain) Strategies() []ports.Authenticator { return c.strategies }

// Authenticate returns the principal of a request, nil (and no error) when the
// request carries no credential any strategy recognises, or an error wrapping
// core.ErrUnauthorized when the credential is invalid.
func (c *Chain) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	for _, s := range c.strategies {
		if !s.Supports(h) {
			continue
		}
		u, err := s.Authenticate(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		if u == nil {
			return nil, core.Publicf(core.ErrUnauthorized, "invalid %s credential", s.Name())
		}
		if u.Method == "" {
			u.Method = s.Name()
		}
		for _, check := range c.checks[s.Name()] {
			if err := check(ctx, u); err != nil {
				return nil, err
			}
		}
		return u, nil
	}
	return nil, nil
}
