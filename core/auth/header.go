package auth

import (
	"context"
	"net/http"

	"github.com/framework-m/framework-m/ports"
)

// Header is the auth strategy of federated identity: a gateway (Keycloak,
// Authelia, oauth2-proxy …) authenticates and sends the user in headers. The
// web adapter drops those headers from every peer that is not a trusted
// proxy, so they reach this strategy only from the gateway.
type Header struct {
	hydrator ports.HeaderHydrator
	userID   string
	seen     *SeenUsers
}

// NewHeader returns the strategy; userIDHeader marks a request as carrying an identity.
func NewHeader(h ports.HeaderHydrator, userIDHeader string) *Header {
	return &Header{hydrator: h, userID: userIDHeader}
}

// Name is "header".
func (s *Header) Name() string { return "header" }

// WithSeen makes every successful authentication noted in seen (nil: none),
// which writes them in batches: the federated user list with last seen times.
func (s *Header) WithSeen(seen *SeenUsers) *Header {
	s.seen = seen
	return s
}

// Supports reports whether the user id header is present.
func (s *Header) Supports(h http.Header) bool { return h.Get(s.userID) != "" }

// Authenticate builds the principal from the headers.
func (s *Header) Authenticate(ctx context.Context, h http.Header) (*ports.UserContext, error) {
	u, err := s.hydrator.HydrateFromHeaders(h)
	if err != nil {
		return nil, err
	}
	s.seen.Note(ctx, u)
	return u, nil
}

var _ ports.Authenticator = (*Header)(nil)
