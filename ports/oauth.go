package ports

import "context"

// OAuthIdentity is who a provider says signed in.
type OAuthIdentity struct {
	// Provider is the provider's configured name ("google").
	Provider string
	// Subject is the provider's stable id of the user (OIDC "sub", GitHub id).
	Subject string
	// Email is the user's email as the provider gives it ("" if none).
	Email string
	// EmailVerified says the provider verified Email.
	EmailVerified bool
	DisplayName   string
}

// OAuthAuthorization is what the authorization request carries.
type OAuthAuthorization struct {
	// State is echoed back by the provider.
	State string
	// Verifier is the PKCE code verifier (the URL carries its S256 challenge).
	Verifier string
	// Nonce is bound into the ID token (OIDC providers).
	Nonce string
	// RedirectURI is this app's callback URL.
	RedirectURI string
}

// OAuthProvider is one OAuth2/OIDC provider.
type OAuthProvider interface {
	// Name is the provider's configured name.
	Name() string
	// AuthCodeURL returns the provider's authorization URL for a.
	AuthCodeURL(ctx context.Context, a OAuthAuthorization) (string, error)
	// Exchange trades code for tokens (with a's verifier and redirect URI)
	// and returns the identity: from the ID token, verified (signature via
	// JWKS, issuer, audience, expiry, a's nonce), or from the userinfo
	// endpoint. A refused or unverifiable answer is core.ErrUnauthorized; an
	// unreachable provider core.ErrUnavailable.
	Exchange(ctx context.Context, code string, a OAuthAuthorization) (*OAuthIdentity, error)
}

// SocialAccount links a user to an account at a provider.
type SocialAccount struct {
	Provider    string
	Subject     string
	UserID      string
	Email       string
	DisplayName string
}
