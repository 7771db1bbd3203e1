package auth_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
)

// fieldsOf returns the field → reason map of a *core.ValidationError.
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.ErrorIs(t, err, core.ErrValidation)
	return ve.FieldMap()
}

func TestPasswordPolicy(t *testing.T) {
	p := auth.PasswordPolicy{MinLength: 10, MaxLength: 20}
	tests := []struct {
		name, pw, email string
		ok              bool
	}{
		{name: "ok", pw: "tr0ub4dor&3x", email: "ann@example.com", ok: true},
		{name: "ok without an email", pw: "tr0ub4dor&3x", ok: true},
		{name: "exactly the minimum", pw: "abcdefgh1!", ok: true},
		{name: "exactly the maximum", pw: "abcdefghij0123456789", ok: true},
		{name: "too short", pw: "abc123!?x", email: "ann@example.com"},
		{name: "empty", pw: "", email: "ann@example.com"},
		{name: "too long", pw: "abcdefghij0123456789x", email: "ann@example.com"},
		// Lengths are counted in characters, not bytes.
		{name: "short in characters, long in bytes", pw: "äöüßéèêëï", email: "ann@example.com"},                            // 9 characters, 18 bytes
		{name: "maximum in characters, above it in bytes", pw: "äöüßéèêëïäöüßéèêëïäö", email: "ann@example.com", ok: true}, // 20 characters, 40 bytes
		{name: "eleven CJK characters", pw: "日本語のパスワードです", ok: true},                                                       // 11 characters
		{name: "common password", pw: "password123", email: "ann@example.com"},
		{name: "common password in another case", pw: "PassWord123", email: "ann@example.com"},
		{name: "common password at any length", pw: "administrator"},
		{name: "equal to the email", pw: "Ann@Example.com", email: "ann@example.com"},
		{name: "contains the email's local part", pw: "xx-annabel-2024", email: "Annabel@example.com"},
		{name: "contains the local part in another case", pw: "my-ANNABEL-pass", email: "annabel@example.com"},
		{name: "a local part under 3 characters is not checked", pw: "al-is-my-name!", email: "al@example.com", ok: true},
		{name: "one repeated character", pw: "aaaaaaaaaaaa", email: "ann@example.com"},
		{name: "one repeated digit", pw: "0000000000"},
		{name: "one repeated multibyte character", pw: "éééééééééééé", email: "ann@example.com"},
		{name: "two alternating characters are fine", pw: "abababababab", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(tc.pw, tc.email)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			fields := fieldsOf(t, err)
			assert.Contains(t, fields, "password")
			assert.Len(t, fields, 1)
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{name: "plain", in: "ann@example.com", want: "ann@example.com", ok: true},
		{name: "lower-cased", in: "Ann.Lee@Example.COM", want: "ann.lee@example.com", ok: true},
		{name: "trimmed", in: "  ann@example.com\t", want: "ann@example.com", ok: true},
		{name: "plus address", in: "ann+tag@example.com", want: "ann+tag@example.com", ok: true},
		{name: "empty", in: ""},
		{name: "blank", in: "   "},
		{name: "missing @", in: "ann.example.com"},
		{name: "display name", in: "Ann Lee <ann@example.com>"},
		{name: "quoted display name", in: `"Ann" <ann@example.com>`},
		{name: "angle brackets only", in: "<ann@example.com>"},
		{name: "comment", in: "ann@example.com (Ann)"},
		{name: "two addresses", in: "ann@example.com, bob@example.com"},
		{name: "no domain", in: "ann@"},
		{name: "no local part", in: "@example.com"},
		{name: "too long", in: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"}, // 255 characters
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.NormalizeEmail(tc.in)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			}
			require.Error(t, err)
			assert.Empty(t, got)
			assert.Contains(t, fieldsOf(t, err), "email")
		})
	}
}

func TestRandomToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := auth.RandomToken(32)
		require.Len(t, tok, 43, "32 bytes, base64url without padding")
		b, err := base64.RawURLEncoding.DecodeString(tok)
		require.NoError(t, err)
		require.Len(t, b, 32)
		require.False(t, seen[tok], "tokens never repeat")
		seen[tok] = true
	}
	assert.Len(t, auth.RandomToken(12), 16)
}

func TestHashSecretAndEqualHash(t *testing.T) {
	h := auth.HashSecret("secret")
	assert.Len(t, h, 64, "hex SHA-256")
	assert.Equal(t, h, auth.HashSecret("secret"), "deterministic")
	assert.NotEqual(t, h, auth.HashSecret("secret2"))
	assert.Equal(t, "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b", h)

	assert.True(t, auth.EqualHash(h, auth.HashSecret("secret")))
	assert.False(t, auth.EqualHash(h, auth.HashSecret("Secret")))
	assert.False(t, auth.EqualHash(h, h[:63]), "different lengths")
	assert.False(t, auth.EqualHash(h, ""))
}

// The refusal names the rule that was broken: the email's local part.
func TestPasswordPolicyNamesTheLocalPart(t *testing.T) {
	err := auth.PasswordPolicy{MinLength: 8, MaxLength: 64}.Check("xx-annabel-2024", "Annabel@example.com")
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, `must not contain "annabel", the part of the email address before the @`, ve.FieldMap()["password"])
}
