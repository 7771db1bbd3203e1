package auth

import "fmt"

// Mode ([auth] mode) says how users authenticate, and so what the app stores about them.
type Mode string

// Auth modes.
const (
	// ModeLocal keeps users with email, display name and a password hash.
	ModeLocal Mode = "local"
	// ModeSocialOnly keeps users without passwords; they log in with OAuth2/OIDC.
	ModeSocialOnly Mode = "social_only"
	// ModePasswordless keeps users without passwords; they log in with magic links.
	ModePasswordless Mode = "passwordless"
	// ModeFederated keeps no users: a gateway authenticates and sends headers.
	ModeFederated Mode = "federated"
)

// ParseMode parses s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeLocal, ModeSocialOnly, ModePasswordless, ModeFederated:
		return m, nil
	}
	return "", fmt.Errorf("unknown auth mode %q (want local, social_only, passwordless or federated)", s)
}

// HasPasswords reports whether users log in with passwords (login, password
// change and basic auth exist).
func (m Mode) HasPasswords() bool { return m == ModeLocal }

// HasLocalUsers reports whether the app keeps a user table (sessions, API keys,
// account deletion of a local user).
func (m Mode) HasLocalUsers() bool { return m != ModeFederated }
