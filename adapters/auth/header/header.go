// Package header is the auth strategy of federated identity: a gateway (Keycloak,
// Authelia, oauth2-proxy …) authenticates and sends the user in headers. The web
// adapter drops those headers from every peer that is not a trusted proxy, so
// they reach this strategy only from the gateway.
package header

import (
	"context"
	"net/http"

	"github.com/framework-m/framework-m/ports"
)

// Strategy authenticates by gateway headers.
type Strategy struct {
	hydrator ports.HeaderHydrator
	userID   string
}

// New returns the strategy; userIDHeader marks a request as carrying an identity.
func New(h ports.HeaderHydrator, userIDHeader string) *Strategy {
	return &Strategy{hydrator: h, userID: userIDHeader}
}

// Name is "header".
func (s *Strategy) Name() string { return "header" }

// Supports reports whether the user id header is present.
func (s *Strategy) Supports(h http.Header) bool { return h.Get(s.userID) != "" }

// Authenticate builds the principal from the headers.
func (s *Strategy) Authenticate(_ context.Context, h http.Header) (*ports.UserContext, error) {
	return s.hydrator.HydrateFromHeaders(h)
}

var _ ports.Authenticator = (*Strategy)(nil)
