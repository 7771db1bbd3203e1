package jwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// maxNumericDate is 9999-12-31T23:59:59Z: later dates are not plausible and
// would overflow time arithmetic.
const maxNumericDate = 253402300799

// claimSet is the payload Verify reads. It is decoded directly with
// encoding/json into typed fields (jwx's generic jwt.Token decoding costs
// about four times as much per token): a claim of the wrong JSON type fails
// decoding, and unknown claims are ignored.
type claimSet struct {
	Subject      string      `json:"sub"`
	TenantID     string      `json:"tid"`
	Issuer       string      `json:"iss"`
	Audience     audience    `json:"aud"`
	IssuedAt     numericDate `json:"iat"`
	NotBefore    numericDate `json:"nbf"`
	Expires      numericDate `json:"exp"`
	ID           string      `json:"jti"`
	TokenVersion counter     `json:"tv"`
}

// validate checks the claims at now (Unix seconds) with leeway seconds of
// clock skew, the way RFC 7519 describes: exp must be after now - leeway, nbf
// and iat not after now + leeway. iat is required, and the lifetime the token
// claims (exp - iat) may not exceed ttl + leeway seconds: a token signed with
// a far exp (a leaked key's forgery, a misconfigured issuer) is refused.
func (c *claimSet) validate(now, leeway, ttl int64, issuer, aud string) error {
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: sub", errMissingClaim)
	case c.ID == "":
		return fmt.Errorf("%w: jti", errMissingClaim)
	case !c.Expires.set || c.Expires.sec <= 0:
		return fmt.Errorf("%w: exp", errMissingClaim)
	case !c.TokenVersion.set:
		return fmt.Errorf("%w: %s", errMissingClaim, TokenVersionClaim)
	case !c.IssuedAt.set:
		return fmt.Errorf("%w: iat", errMissingClaim)
	case c.Issuer != issuer:
		return errIssuer
	case !c.Audience.contains(aud):
		return errAudience
	case now >= c.Expires.sec+leeway:
		return errExpired
	case c.NotBefore.set && now < c.NotBefore.sec-leeway:
		return errNotYetValid
	case now < c.IssuedAt.sec-leeway:
		return errIssuedLater
	case c.Expires.sec-c.IssuedAt.sec > ttl+leeway:
		return errTooLong
	}
	return nil
}

var jsonNull = []byte("null")

// audience is the "aud" claim: one string or an array of strings.
type audience struct {
	one  string
	many []string
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *audience) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, jsonNull):
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &a.one)
	case len(b) > 0 && b[0] == '[':
		return json.Unmarshal(b, &a.many)
	}
	return fmt.Errorf("%w: aud", errClaimType)
}

func (a *audience) contains(s string) bool {
	return a.one == s || slices.Contains(a.many, s)
}

// numericDate is an RFC 7519 NumericDate (seconds since the epoch, possibly
// fractional), kept as whole seconds.
type numericDate struct {
	sec int64
	set bool
}

// UnmarshalJSON implements json.Unmarshaler; null counts as absent.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, jsonNull) {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return errors.Join(errClaimType, err)
	}
	d.sec, d.set = int64(f), true
	return nil
}

func (d numericDate) time() time.Time {
	if !d.set {
		return time.Time{}
	}
	return time.Unix(d.sec, 0)
}

// counter is a non-negative JSON integer (the "tv" claim); null counts as
// absent, and strings or fractions are rejected.
type counter struct {
	n   int64
	set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *counter) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, jsonNull) {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return errors.Join(errClaimType, err)
	}
	c.n, c.set = n, true
	return nil
}
