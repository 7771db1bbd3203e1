package auth

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
)

// PasswordPolicy is what a new password must satisfy.
type PasswordPolicy struct {
	MinLength int
	MaxLength int
}

// commonPasswords are refused whatever the policy's length.
var commonPasswords = map[string]bool{
	"password": true, "password1": true, "password12": true, "password123": true, "password1234": true,
	"123456789": true, "1234567890": true, "12345678901": true, "123456789012": true,
	"qwertyuiop": true, "qwerty123": true, "qwerty12345": true, "1q2w3e4r5t": true,
	"iloveyou12": true, "letmein123": true, "welcome123": true, "admin12345": true,
	"administrator": true, "changeme123": true, "passw0rd123": true, "abc1234567": true,
}

// Check returns a *core.ValidationError on field "password" if pw does not
// satisfy the policy for the account email.
func (p PasswordPolicy) Check(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	lower := strings.ToLower(pw)
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	switch {
	case n < p.MinLength:
		return core.Invalidf("password", "must be at least %d characters", p.MinLength)
	case n > p.MaxLength:
		return core.Invalidf("password", "must be at most %d characters", p.MaxLength)
	case commonPasswords[lower]:
		return core.Invalid("password", "is too common")
	case email != "" && lower == strings.ToLower(email):
		return core.Invalid("password", "must not be the email address")
	case email != "" && len(local) >= 3 && strings.Contains(lower, local):
		return core.Invalidf("password", "must not contain %q, the part of the email address before the @", local)
	case strings.Count(pw, string([]rune(pw)[0])) == n:
		return core.Invalid("password", "must not repeat one character")
	}
	return nil
}

// NormalizeEmail checks email is a plain address (no display name) and returns
// it trimmed and lower-cased. Errors are *core.ValidationError on field "email".
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	if e == "" {
		return "", core.Invalid("email", "is required")
	}
	if len(e) > 254 {
		return "", core.Invalid("email", "must be at most 254 characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || !strings.Contains(e, "@") {
		return "", core.Invalid("email", "must be an email address such as ann@example.com")
	}
	return asciiLower(e), nil
}

// FoldEmail is how emails are compared and stored: trimmed, with their
// ASCII letters lower-cased (see asciiLower).
func FoldEmail(s string) string { return asciiLower(strings.TrimSpace(s)) }

// asciiLower lower-cases the ASCII letters of s only. Unicode case folding
// would map distinct mailboxes onto one ("\u212Aate@…", with the Kelvin
// sign, onto "kate@…"), which matching a provider's email against local
// accounts must never do.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
