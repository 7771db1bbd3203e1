package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// sealer signs small JSON claims into URL-safe tokens,
// base64url(JSON) "." base64url(HMAC-SHA256(label ‖ payload)), and opens
// them again: sign-in links and OAuth state cookies.
type sealer struct {
	key []byte
	// label separates this use's MACs from any other use of the key.
	label string
	// max caps a token's length before any work is done on it.
	max int
}

// b64 decodes only canonical base64url (no padding, zero trailing bits), so
// one token has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// seal encodes and signs v.
func (s sealer) seal(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode signed claims: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// open verifies token's MAC in constant time and decodes its claims into v,
// refusing unknown fields; false for anything else.
func (s sealer) open(token string, v any) bool {
	if token == "" || len(token) > s.max {
		return false
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || strings.Contains(sig, ".") {
		return false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return false
	}
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v) == nil && !dec.More()
}

func (s sealer) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(s.label))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// deriveKey derives a purpose's own HMAC key from a shared secret, so no two
// uses of the secret sign each other's messages.
func deriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}
