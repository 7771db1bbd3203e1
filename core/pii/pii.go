// Package pii holds Framework M's personal-data rules: the auth modes (which
// decide how much personal data is stored and which auth routes exist), the
// list of field names that hold sensitive personal data, and the deletion modes
// of the right to erasure.
package pii

import (
	"fmt"
	"strings"
)

// AuthMode says how users authenticate, and so what the app stores about them.
type AuthMode string

// Auth modes.
const (
	// ModeLocal keeps users with email, display name and a password hash.
	ModeLocal AuthMode = "local"
	// ModeSocialOnly keeps users without passwords; they log in with OAuth2/OIDC.
	ModeSocialOnly AuthMode = "social_only"
	// ModePasswordless keeps users without passwords; they log in with magic links.
	ModePasswordless AuthMode = "passwordless"
	// ModeFederated keeps no users: a gateway authenticates and sends headers.
	ModeFederated AuthMode = "federated"
)

// ParseAuthMode parses s.
func ParseAuthMode(s string) (AuthMode, error) {
	switch m := AuthMode(s); m {
	case ModeLocal, ModeSocialOnly, ModePasswordless, ModeFederated:
		return m, nil
	}
	return "", fmt.Errorf("unknown auth mode %q (want local, social_only, passwordless or federated)", s)
}

// HasPasswords reports whether users log in with passwords (login, password
// change and basic auth exist).
func (m AuthMode) HasPasswords() bool { return m == ModeLocal }

// HasLocalUsers reports whether the app keeps a user table (sessions, API keys,
// account deletion of a local user).
func (m AuthMode) HasLocalUsers() bool { return m != ModeFederated }

// DeletionMode is what DELETE /api/v1/auth/me does.
type DeletionMode string

// Deletion modes.
const (
	// HardDelete removes the user record.
	HardDelete DeletionMode = "hard_delete"
	// Anonymize keeps a disabled record with personal data replaced (so
	// references such as document owners stay valid).
	Anonymize DeletionMode = "anonymize"
)

// SensitiveFields are the field names of personal data a minimal-PII app should
// not store by default: full legal name, phone, address, date of birth and
// national identifiers. LocalUser stores none of them.
var SensitiveFields = []string{
	"full_name", "legal_name", "first_name", "last_name", "middle_name", "maiden_name",
	"phone", "phone_number", "mobile", "mobile_number", "telephone",
	"address", "street", "street_address", "address_line", "postal_code", "zip", "zip_code",
	"date_of_birth", "dob", "birth_date", "birthday",
	"ssn", "social_security_number", "national_id", "passport", "passport_number", "tax_id",
}

// PIISensitiveFields is SensitiveFields under the Python framework's name.
var PIISensitiveFields = SensitiveFields

// IsSensitivePII reports whether a field name looks like one of
// SensitiveFields: case, spaces, dashes and camelCase are ignored, so "Phone
// Number", "phone-number" and "phoneNumber" all match, as do names that contain
// one ("home_address", "billing_address_line1").
func IsSensitivePII(name string) bool {
	n := normalize(name)
	if n == "" {
		return false
	}
	for _, f := range SensitiveFields {
		if n == f || strings.HasPrefix(n, f+"_") || strings.HasSuffix(n, "_"+f) || strings.Contains(n, "_"+f+"_") {
			return true
		}
	}
	return false
}

func normalize(s string) string {
	var b strings.Builder
	prevLower := false
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c >= 'A' && c <= 'Z':
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(c + ('a' - 'A'))
			prevLower = false
		case c == ' ' || c == '-' || c == '.' || c == '_':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			prevLower = false
		default:
			b.WriteRune(c)
			prevLower = c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		}
	}
	return strings.Trim(b.String(), "_")
}
