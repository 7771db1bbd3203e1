package jwt

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// ---------------------------------------------------------------- fixtures

var (
	t0         = time.Unix(1_800_000_000, 0)
	testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")
	testUser   = &ports.User{ID: "user-1", TenantID: "tenant-9", TokenVersion: 7}
)

// rsaKeys are generated once: 2048-bit generation is slow under -race.
var rsaKeys = sync.OnceValue(func() [3]*rsa.PrivateKey {
	var ks [3]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func baseConfig(alg string) config.JWT {
	return config.JWT{
		Algorithm:     alg,
		TTLSeconds:    3600,
		Issuer:        "framework-m",
		Audience:      "framework-m",
		LeewaySeconds: 30,
	}
}

// keyPair is a private key with its PEM files.
type keyPair struct {
	priv     crypto.Signer
	privFile string
	pubFile  string
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return p
}

// writeKeyPair writes priv as PKCS#8 and its public key as PKIX.
func writeKeyPair(t testing.TB, dir, name string, priv crypto.Signer) keyPair {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	require.NoError(t, err)
	return keyPair{
		priv:     priv,
		privFile: writePEM(t, dir, name+".key", "PRIVATE KEY", der),
		pubFile:  writePEM(t, dir, name+".pub", "PUBLIC KEY", pubDER),
	}
}

func newEd25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

// keyPairFor writes key number i of alg ("RS256" or "EdDSA").
func keyPairFor(t testing.TB, alg string, i int) keyPair {
	t.Helper()
	var k crypto.Signer
	if alg == "RS256" {
		k = rsaKeys()[i]
	} else {
		k = newEd25519(t)
	}
	return writeKeyPair(t, t.TempDir(), alg, k)
}

func newService(t testing.TB, cfg config.JWT, secret []byte, clk *clock) *Service {
	t.Helper()
	s, err := New(cfg, secret, WithClock(clk.Now))
	require.NoError(t, err)
	return s
}

// newAsym returns a service signing with kp.
func newAsym(t testing.TB, alg string, kp keyPair, clk *clock, previous ...string) *Service {
	t.Helper()
	cfg := baseConfig(alg)
	cfg.PrivateKeyFile = kp.privFile
	cfg.PreviousPublicKeyFiles = previous
	return newService(t, cfg, nil, clk)
}

// ----------------------------------------------------- hand-made tokens

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// handToken builds a compact JWS from header and claims, signed by sign
// (which gets the signing input); sign nil means an empty signature.
func handToken(t testing.TB, header, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	c, err := json.Marshal(claims)
	require.NoError(t, err)
	in := b64(h) + "." + b64(c)
	if sign == nil {
		return in + "."
	}
	return in + "." + b64(sign([]byte(in)))
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func rs256(k *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func eddsa(k ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(k, in) }
}

// signerFor signs with kp.priv using alg.
func signerFor(alg string, priv crypto.Signer) func([]byte) []byte {
	if alg == "RS256" {
		return rs256(priv.(*rsa.PrivateKey))
	}
	return eddsa(priv.(ed25519.PrivateKey))
}

// claimsAt are valid claims for a service built from baseConfig at now.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"sub": "user-1", "tid": "tenant-9", "iss": "framework-m", "aud": "framework-m",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": "jti-1", "tv": 3,
	}
}

func hsHeader() map[string]any { return map[string]any{"alg": "HS256", "typ": "JWT"} }

func decodeSegment(t testing.TB, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// requireRejected asserts err is an unauthorized error with the generic
// public message, and (when cause is non-nil) that cause is why.
func requireRejected(t testing.TB, claims *ports.Claims, err error, cause error) {
	t.Helper()
	require.Error(t, err)
	assert.Nil(t, claims)
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	var pe *core.PublicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "invalid or expired token", pe.Msg)
	if cause != nil {
		assert.ErrorIs(t, err, cause)
	}
}

// rfc7638 computes the JWK thumbprint kid independently of jwx.
func rfc7638(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	var canon string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		canon = `{"e":"` + b64(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	case ed25519.PublicKey:
		canon = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
	default:
		t.Fatalf("unexpected key %T", pub)
	}
	d := sha256.Sum256([]byte(canon))
	return b64(d[:])
}

var ctx = context.Background()

// ------------------------------------------------------------- round trip

func TestRoundTrip(t *testing.T) {
	for _, alg := range []string{"HS256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			var s *Service
			var pub crypto.PublicKey
			if alg == "HS256" {
				s = newService(t, baseConfig(alg), testSecret, clk)
			} else {
				kp := keyPairFor(t, alg, 0)
				s = newAsym(t, alg, kp, clk)
				pub = kp.priv.Public()
			}

			tok, err := s.Issue(ctx, testUser)
			require.NoError(t, err)
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.Equal(t, int64(3600), tok.ExpiresIn)
			assert.True(t, tok.ExpiresAt.Equal(t0.Add(time.Hour)), "expires at %v", tok.ExpiresAt)
			assert.Equal(t, "user-1", tok.UserID)
			jti, err := base64.RawURLEncoding.DecodeString(tok.ID)
			require.NoError(t, err)
			assert.Len(t, jti, 16, "jti is 128 random bits")

			hdr := decodeSegment(t, tok.AccessToken, 0)
			assert.Equal(t, alg, hdr["alg"])
			assert.Equal(t, "JWT", hdr["typ"])
			if alg == "HS256" {
				assert.NotContains(t, hdr, "kid")
			} else {
				assert.Equal(t, rfc7638(t, pub), hdr["kid"], "kid is the RFC 7638 thumbprint")
				assert.Equal(t, hdr["kid"], s.KeyID())
			}

			pl := decodeSegment(t, tok.AccessToken, 1)
			assert.Equal(t, "user-1", pl["sub"])
			assert.Equal(t, "tenant-9", pl["tid"])
			assert.Equal(t, "framework-m", pl["iss"])
			assert.Equal(t, "framework-m", pl["aud"], "a single audience is a string")
			assert.EqualValues(t, t0.Unix(), pl["iat"])
			assert.EqualValues(t, t0.Unix(), pl["nbf"])
			assert.EqualValues(t, t0.Unix()+3600, pl["exp"])
			assert.Equal(t, tok.ID, pl["jti"])
			assert.EqualValues(t, 7, pl["tv"])

			c, err := s.Verify(ctx, tok.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, "user-1", c.Subject)
			assert.Equal(t, "tenant-9", c.TenantID)
			assert.Equal(t, tok.ID, c.ID)
			assert.Equal(t, int64(7), c.TokenVersion)
			assert.True(t, c.IssuedAt.Equal(t0))
			assert.True(t, c.ExpiresAt.Equal(tok.ExpiresAt))

			again, err := s.Issue(ctx, testUser)
			require.NoError(t, err)
			assert.NotEqual(t, tok.ID, again.ID, "every token has its own jti")
		})
	}
}

func TestTokenVersionAndTenantRoundTrip(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())
	for _, u := range []*ports.User{
		{ID: "a", TenantID: "", TokenVersion: 0},
		{ID: "b", TenantID: "acme", TokenVersion: 1},
		{ID: "c", TenantID: "t-ü", TokenVersion: 1 << 40},
	} {
		tok, err := s.Issue(ctx, u)
		require.NoError(t, err)
		c, err := s.Verify(ctx, tok.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, u.TenantID, c.TenantID)
		assert.Equal(t, u.TokenVersion, c.TokenVersion)
		assert.Equal(t, u.ID, c.Subject)
	}
}

func TestIssueNeedsUserID(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())
	_, err := s.Issue(ctx, nil)
	assert.ErrorIs(t, err, core.ErrValidation)
	_, err = s.Issue(ctx, &ports.User{TenantID: "x"})
	assert.ErrorIs(t, err, core.ErrValidation)
}

func TestVerifyAcceptsPKCS1Keys(t *testing.T) {
	dir := t.TempDir()
	k := rsaKeys()[0]
	cfg := baseConfig("RS256")
	cfg.PrivateKeyFile = writePEM(t, dir, "k.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
	cfg.PublicKeyFile = writePEM(t, dir, "p.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.PublicKey))
	s := newService(t, cfg, nil, newClock())
	tok, err := s.Issue(ctx, testUser)
	require.NoError(t, err)
	_, err = s.Verify(ctx, tok.AccessToken)
	require.NoError(t, err)
}

// ------------------------------------------------------ algorithm pinning

func TestVerifyRejectsAlgNone(t *testing.T) {
	now := t0
	for _, alg := range []string{"HS256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			var s *Service
			if alg == "HS256" {
				s = newService(t, baseConfig(alg), testSecret, newClock())
			} else {
				s = newAsym(t, alg, keyPairFor(t, alg, 0), newClock())
			}
			for _, hdr := range []map[string]any{
				{"alg": "none"},
				{"alg": "none", "typ": "JWT", "kid": s.KeyID()},
				{"alg": "None"},
				{"alg": "NONE"},
			} {
				// Empty signature, as "none" prescribes.
				raw := handToken(t, hdr, claimsAt(now), nil)
				c, err := s.Verify(ctx, raw)
				requireRejected(t, c, err, nil)
				// A non-empty signature does not help either.
				raw = handToken(t, hdr, claimsAt(now), hs256(testSecret))
				c, err = s.Verify(ctx, raw)
				requireRejected(t, c, err, errAlgorithm)
			}
		})
	}
}

// The classic HS/RS confusion: the attacker signs with HMAC, using the
// server's public key (which is public) as the HMAC secret.
func TestVerifyRejectsHMACWithPublicKey(t *testing.T) {
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			kp := keyPairFor(t, alg, 0)
			s := newAsym(t, alg, kp, newClock())
			pemBytes, err := os.ReadFile(kp.pubFile)
			require.NoError(t, err)
			pkix, err := x509.MarshalPKIXPublicKey(kp.priv.Public())
			require.NoError(t, err)
			secrets := map[string][]byte{
				"PEM":               pemBytes,
				"PEM without \\n":   []byte(strings.TrimSpace(string(pemBytes))),
				"PKIX DER":          pkix,
				"JWKS":              func() []byte { b, _ := s.JWKS(); return b }(),
				"public key string": []byte(s.KeyID()),
			}
			if rk, ok := kp.priv.Public().(*rsa.PublicKey); ok {
				secrets["PKCS1 DER"] = x509.MarshalPKCS1PublicKey(rk)
			} else {
				secrets["raw Ed25519"] = kp.priv.Public().(ed25519.PublicKey)
			}
			for name, secret := range secrets {
				t.Run(name, func(t *testing.T) {
					for _, hdr := range []map[string]any{
						{"alg": "HS256", "typ": "JWT", "kid": s.KeyID()},
						{"alg": "HS256", "typ": "JWT"},
					} {
						raw := handToken(t, hdr, claimsAt(t0), hs256(secret))
						c, err := s.Verify(ctx, raw)
						requireRejected(t, c, err, errAlgorithm)
					}
				})
			}
		})
	}
}

func TestVerifyRejectsOtherAlgorithms(t *testing.T) {
	clk := newClock()
	hs := newService(t, baseConfig("HS256"), testSecret, clk)
	rsKP := keyPairFor(t, "RS256", 0)
	rs := newAsym(t, "RS256", rsKP, clk)
	edKP := keyPairFor(t, "EdDSA", 0)
	ed := newAsym(t, "EdDSA", edKP, clk)

	rsTok, err := rs.Issue(ctx, testUser)
	require.NoError(t, err)
	edTok, err := ed.Issue(ctx, testUser)
	require.NoError(t, err)
	hsTok, err := hs.Issue(ctx, testUser)
	require.NoError(t, err)

	cases := []struct {
		name string
		s    *Service
		raw  string
	}{
		{"RS256 token, HS256 service", hs, rsTok.AccessToken},
		{"EdDSA token, HS256 service", hs, edTok.AccessToken},
		{"EdDSA token, RS256 service", rs, edTok.AccessToken},
		{"RS256 token, EdDSA service", ed, rsTok.AccessToken},
		{"HS256 token, RS256 service", rs, hsTok.AccessToken},
		{"HS256 token, EdDSA service", ed, hsTok.AccessToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.s.Verify(ctx, tc.raw)
			requireRejected(t, c, err, errAlgorithm)
		})
	}
}

// jwx verifies with the algorithm it is given whatever the header says; the
// service additionally requires the header to name that algorithm.
func TestVerifyPinsHeaderAlgorithm(t *testing.T) {
	kp := keyPairFor(t, "RS256", 0)
	s := newAsym(t, "RS256", kp, newClock())
	for _, headerAlg := range []string{"RS512", "RS384", "PS256", "rs256"} {
		raw := handToken(t, map[string]any{"alg": headerAlg, "typ": "JWT", "kid": s.KeyID()}, claimsAt(t0), rs256(kp.priv.(*rsa.PrivateKey)))
		c, err := s.Verify(ctx, raw)
		requireRejected(t, c, err, errAlgorithm)
	}

	// Why the rule is ours: jwx alone accepts the RS512-labelled RS256 signature.
	raw := handToken(t, map[string]any{"alg": "RS512", "typ": "JWT"}, claimsAt(time.Now()), rs256(kp.priv.(*rsa.PrivateKey)))
	_, err := jwxjwt.ParseString(raw, jwxjwt.WithKey(jwa.RS256, kp.priv.Public()))
	assert.NoError(t, err, "jwx v2 WithKey ignores the header alg")

	hsSvc := newService(t, baseConfig("HS256"), testSecret, newClock())
	raw = handToken(t, map[string]any{"alg": "HS512", "typ": "JWT"}, claimsAt(t0), hs256(testSecret))
	c, err := hsSvc.Verify(ctx, raw)
	requireRejected(t, c, err, errAlgorithm)
}

func TestVerifyHeaderRules(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())

	raw := handToken(t, map[string]any{"alg": "HS256", "typ": "at+jwt"}, claimsAt(t0), hs256(testSecret))
	c, err := s.Verify(ctx, raw)
	requireRejected(t, c, err, errType)

	raw = handToken(t, map[string]any{"alg": "HS256", "crit": []string{"exp"}, "exp": 1}, claimsAt(t0), hs256(testSecret))
	c, err = s.Verify(ctx, raw)
	requireRejected(t, c, err, errCritical)

	// RFC 7797 unencoded payloads are never ours.
	raw = handToken(t, map[string]any{"alg": "HS256", "b64": false}, claimsAt(t0), hs256(testSecret))
	c, err = s.Verify(ctx, raw)
	requireRejected(t, c, err, errCritical)

	// No typ at all is fine (RFC 7519 makes it optional); "jwt" matches JWT.
	for _, hdr := range []map[string]any{{"alg": "HS256"}, {"alg": "HS256", "typ": "jwt"}} {
		_, err = s.Verify(ctx, handToken(t, hdr, claimsAt(t0), hs256(testSecret)))
		require.NoError(t, err)
	}
}

// ---------------------------------------------------------- time claims

func TestVerifyTimeClaims(t *testing.T) {
	clk := newClock()
	s := newService(t, baseConfig("HS256"), testSecret, clk) // leeway 30s
	tok, err := s.Issue(ctx, testUser)
	require.NoError(t, err)
	exp := tok.ExpiresAt

	t.Run("valid until expiry", func(t *testing.T) {
		clk.Set(exp.Add(-time.Second))
		_, err := s.Verify(ctx, tok.AccessToken)
		require.NoError(t, err)
	})
	t.Run("expired within leeway accepted", func(t *testing.T) {
		clk.Set(exp.Add(29 * time.Second))
		_, err := s.Verify(ctx, tok.AccessToken)
		require.NoError(t, err)
	})
	t.Run("expired beyond leeway rejected", func(t *testing.T) {
		clk.Set(exp.Add(30 * time.Second))
		c, err := s.Verify(ctx, tok.AccessToken)
		requireRejected(t, c, err, errExpired)
		clk.Set(exp.Add(31 * time.Second))
		c, err = s.Verify(ctx, tok.AccessToken)
		requireRejected(t, c, err, errExpired)
	})
	t.Run("zero leeway", func(t *testing.T) {
		cfg := baseConfig("HS256")
		cfg.LeewaySeconds = 0
		strict := newService(t, cfg, testSecret, clk)
		clk.Set(exp)
		c, err := strict.Verify(ctx, tok.AccessToken)
		requireRejected(t, c, err, errExpired)
	})

	clk.Set(t0)
	sign := hs256(testSecret)
	t.Run("nbf in the future rejected", func(t *testing.T) {
		cl := claimsAt(t0)
		cl["nbf"] = t0.Add(time.Minute).Unix()
		c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
		requireRejected(t, c, err, errNotYetValid)
	})
	t.Run("nbf within leeway accepted", func(t *testing.T) {
		cl := claimsAt(t0)
		cl["nbf"] = t0.Add(20 * time.Second).Unix()
		_, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
		require.NoError(t, err)
	})
	t.Run("iat in the future rejected", func(t *testing.T) {
		cl := claimsAt(t0)
		delete(cl, "nbf")
		cl["iat"] = t0.Add(time.Minute).Unix()
		c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
		requireRejected(t, c, err, errIssuedLater)
	})
	t.Run("iat within leeway accepted", func(t *testing.T) {
		cl := claimsAt(t0)
		delete(cl, "nbf")
		cl["iat"] = t0.Add(20 * time.Second).Unix()
		_, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
		require.NoError(t, err)
	})
	// A correctly signed token may not outlive the configured ttl (3600 s)
	// plus leeway (30 s), however far its exp lies.
	t.Run("lifetime beyond ttl rejected", func(t *testing.T) {
		for _, exp := range []time.Time{t0.Add(time.Hour + 31*time.Second), t0.Add(30 * 24 * time.Hour), t0.AddDate(50, 0, 0)} {
			cl := claimsAt(t0)
			cl["exp"] = exp.Unix()
			c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
			requireRejected(t, c, err, errTooLong)
		}
	})
	t.Run("lifetime of ttl plus leeway accepted", func(t *testing.T) {
		cl := claimsAt(t0)
		cl["exp"] = t0.Add(time.Hour + 30*time.Second).Unix()
		_, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
		require.NoError(t, err)
	})
	t.Run("an old iat cannot stretch the lifetime", func(t *testing.T) {
		cl := claimsAt(t0)
		cl["iat"] = t0.Add(-24 * time.Hour).Unix()
		cl["exp"] = t0.Add(time.Hour).Unix()
		c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
		requireRejected(t, c, err, errTooLong)
	})
}

// ------------------------------------------------------- iss, aud, claims

func TestVerifyIssuerAndAudience(t *testing.T) {
	clk := newClock()
	s := newService(t, baseConfig("HS256"), testSecret, clk)

	otherIss := baseConfig("HS256")
	otherIss.Issuer = "someone-else"
	tok, err := newService(t, otherIss, testSecret, clk).Issue(ctx, testUser)
	require.NoError(t, err)
	c, err := s.Verify(ctx, tok.AccessToken)
	requireRejected(t, c, err, errIssuer)

	otherAud := baseConfig("HS256")
	otherAud.Audience = "billing-service"
	tok, err = newService(t, otherAud, testSecret, clk).Issue(ctx, testUser)
	require.NoError(t, err)
	c, err = s.Verify(ctx, tok.AccessToken)
	requireRejected(t, c, err, errAudience)

	sign := hs256(testSecret)
	cases := []struct {
		name   string
		mutate func(map[string]any)
		ok     bool
	}{
		{"aud array containing ours", func(m map[string]any) { m["aud"] = []string{"billing", "framework-m"} }, true},
		{"aud array without ours", func(m map[string]any) { m["aud"] = []string{"billing", "framework"} }, false},
		{"aud differs in case", func(m map[string]any) { m["aud"] = "Framework-M" }, false},
		{"aud missing", func(m map[string]any) { delete(m, "aud") }, false},
		{"iss missing", func(m map[string]any) { delete(m, "iss") }, false},
		{"iss prefix", func(m map[string]any) { m["iss"] = "framework-m.evil" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := claimsAt(t0)
			tc.mutate(cl)
			c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, "user-1", c.Subject)
				return
			}
			requireRejected(t, c, err, nil)
		})
	}
}

func TestVerifyRequiresClaims(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())
	sign := hs256(testSecret)
	cases := []struct {
		name   string
		mutate func(map[string]any)
	}{
		{"sub missing", func(m map[string]any) { delete(m, "sub") }},
		{"sub empty", func(m map[string]any) { m["sub"] = "" }},
		{"jti missing", func(m map[string]any) { delete(m, "jti") }},
		{"jti empty", func(m map[string]any) { m["jti"] = "" }},
		{"exp missing", func(m map[string]any) { delete(m, "exp") }},
		{"exp zero", func(m map[string]any) { m["exp"] = 0 }},
		{"tv missing", func(m map[string]any) { delete(m, "tv") }},
		{"tv negative", func(m map[string]any) { m["tv"] = -1 }},
		{"tv fractional", func(m map[string]any) { m["tv"] = 1.5 }},
		{"tv string", func(m map[string]any) { m["tv"] = "3" }},
		{"tid not a string", func(m map[string]any) { m["tid"] = 5 }},
		{"tv null", func(m map[string]any) { m["tv"] = nil }},
		{"tv exponent", func(m map[string]any) { m["tv"] = 1e30 }},
		{"sub not a string", func(m map[string]any) { m["sub"] = 42 }},
		{"jti not a string", func(m map[string]any) { m["jti"] = []string{"a"} }},
		{"exp null", func(m map[string]any) { m["exp"] = nil }},
		{"exp as a string", func(m map[string]any) { m["exp"] = "1800003600" }},
		{"exp negative", func(m map[string]any) { m["exp"] = -1 }},
		{"exp absurdly far", func(m map[string]any) { m["exp"] = 1e300 }},
		{"exp beyond year 9999", func(m map[string]any) { m["exp"] = int64(1e18) }},
		{"iat as a string", func(m map[string]any) { m["iat"] = "now" }},
		{"nbf as an object", func(m map[string]any) { m["nbf"] = map[string]any{} }},
		{"aud null", func(m map[string]any) { m["aud"] = nil }},
		{"aud a number", func(m map[string]any) { m["aud"] = 1 }},
		{"aud array of numbers", func(m map[string]any) { m["aud"] = []int{1} }},
		{"aud empty array", func(m map[string]any) { m["aud"] = []string{} }},
		{"iat missing", func(m map[string]any) { delete(m, "iat") }},
		{"iat null", func(m map[string]any) { m["iat"] = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := claimsAt(t0)
			tc.mutate(cl)
			c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
			requireRejected(t, c, err, nil)
		})
	}
	// The unmutated claims pass: the failures above are the mutations'.
	_, err := s.Verify(ctx, handToken(t, hsHeader(), claimsAt(t0), sign))
	require.NoError(t, err)

	// Fractional NumericDates are valid (RFC 7519) and count in whole seconds.
	cl := claimsAt(t0)
	cl["exp"] = float64(t0.Unix()) + 3600.75
	cl["iat"] = float64(t0.Unix()) + 0.5
	c, err := s.Verify(ctx, handToken(t, hsHeader(), cl, sign))
	require.NoError(t, err)
	assert.Equal(t, t0.Unix()+3600, c.ExpiresAt.Unix())

	// The payload must be a JSON object.
	for _, payload := range []string{`null`, `[]`, `"x"`, `1`, `{`} {
		in := b64([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64([]byte(payload))
		c, err := s.Verify(ctx, in+"."+b64(sign([]byte(in))))
		requireRejected(t, c, err, nil)
	}
}

// ------------------------------------------------- signatures and tampering

func TestVerifyRejectsTampering(t *testing.T) {
	for _, alg := range []string{"HS256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			var s *Service
			if alg == "HS256" {
				s = newService(t, baseConfig(alg), testSecret, newClock())
			} else {
				s = newAsym(t, alg, keyPairFor(t, alg, 0), newClock())
			}
			tok, err := s.Issue(ctx, testUser)
			require.NoError(t, err)
			parts := strings.Split(tok.AccessToken, ".")

			for _, mutate := range []func(map[string]any){
				func(m map[string]any) { m["sub"] = "admin" },
				func(m map[string]any) { m["tid"] = "other-tenant" },
				func(m map[string]any) { m["tv"] = 8 },
				func(m map[string]any) { m["exp"] = t0.Add(100 * time.Hour).Unix() },
			} {
				pl := decodeSegment(t, tok.AccessToken, 1)
				mutate(pl)
				b, err := json.Marshal(pl)
				require.NoError(t, err)
				forged := parts[0] + "." + b64(b) + "." + parts[2]
				c, err := s.Verify(ctx, forged)
				requireRejected(t, c, err, nil)
			}

			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			require.NoError(t, err)
			for _, i := range []int{0, len(sig) / 2, len(sig) - 1} {
				bad := append([]byte(nil), sig...)
				bad[i] ^= 0x01
				c, err := s.Verify(ctx, parts[0]+"."+parts[1]+"."+b64(bad))
				requireRejected(t, c, err, nil)
			}
			c, err := s.Verify(ctx, parts[0]+"."+parts[1]+"."+b64(sig[:len(sig)-1]))
			requireRejected(t, c, err, nil)

			// The untouched token still verifies.
			_, err = s.Verify(ctx, tok.AccessToken)
			require.NoError(t, err)
		})
	}
}

func TestVerifyRejectsOtherKeys(t *testing.T) {
	clk := newClock()
	t.Run("HS256 other secret", func(t *testing.T) {
		s := newService(t, baseConfig("HS256"), testSecret, clk)
		other, err := GenerateSecret()
		require.NoError(t, err)
		tok, err := newService(t, baseConfig("HS256"), other, clk).Issue(ctx, testUser)
		require.NoError(t, err)
		c, err := s.Verify(ctx, tok.AccessToken)
		requireRejected(t, c, err, nil)
	})
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg+" other key claiming our kid", func(t *testing.T) {
			s := newAsym(t, alg, keyPairFor(t, alg, 0), clk)
			other := keyPairFor(t, alg, 1)
			hdr := map[string]any{"alg": alg, "typ": "JWT", "kid": s.KeyID()}
			c, err := s.Verify(ctx, handToken(t, hdr, claimsAt(t0), signerFor(alg, other.priv)))
			requireRejected(t, c, err, nil)
		})
	}
}

// ----------------------------------------------------------- key rotation

func TestKeyRotation(t *testing.T) {
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			oldKP := keyPairFor(t, alg, 0)
			newKP := keyPairFor(t, alg, 1)

			oldSvc := newAsym(t, alg, oldKP, clk)
			oldTok, err := oldSvc.Issue(ctx, testUser)
			require.NoError(t, err)

			rotated := newAsym(t, alg, newKP, clk, oldKP.pubFile)
			assert.NotEqual(t, oldSvc.KeyID(), rotated.KeyID())
			c, err := rotated.Verify(ctx, oldTok.AccessToken)
			require.NoError(t, err, "a token of the previous key verifies while it is listed")
			assert.Equal(t, oldTok.ID, c.ID)

			newTok, err := rotated.Issue(ctx, testUser)
			require.NoError(t, err)
			assert.Equal(t, rotated.KeyID(), decodeSegment(t, newTok.AccessToken, 0)["kid"], "new tokens carry the new kid")
			_, err = rotated.Verify(ctx, newTok.AccessToken)
			require.NoError(t, err)

			removed := newAsym(t, alg, newKP, clk)
			c, err = removed.Verify(ctx, oldTok.AccessToken)
			requireRejected(t, c, err, errUnknownKey)
			_, err = removed.Verify(ctx, newTok.AccessToken)
			require.NoError(t, err)

			// The old service does not know the new key.
			c, err = oldSvc.Verify(ctx, newTok.AccessToken)
			requireRejected(t, c, err, errUnknownKey)
		})
	}
}

func TestVerifyRejectsUnknownKid(t *testing.T) {
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			kp := keyPairFor(t, alg, 0)
			s := newAsym(t, alg, kp, newClock())
			sign := signerFor(alg, kp.priv)
			for _, hdr := range []map[string]any{
				{"alg": alg, "typ": "JWT", "kid": "no-such-key"},
				{"alg": alg, "typ": "JWT", "kid": ""},
				{"alg": alg, "typ": "JWT"},
			} {
				// Signed by the right key: only the kid is wrong.
				c, err := s.Verify(ctx, handToken(t, hdr, claimsAt(t0), sign))
				requireRejected(t, c, err, errUnknownKey)
			}
			_, err := s.Verify(ctx, handToken(t, map[string]any{"alg": alg, "kid": s.KeyID()}, claimsAt(t0), sign))
			require.NoError(t, err)
		})
	}
}

// ------------------------------------------------------------------- JWKS

func TestJWKS(t *testing.T) {
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			oldKP := keyPairFor(t, alg, 0)
			newKP := keyPairFor(t, alg, 1)
			oldTok, err := newAsym(t, alg, oldKP, clk).Issue(ctx, testUser)
			require.NoError(t, err)
			// The old key is listed twice: published once.
			s := newAsym(t, alg, newKP, clk, oldKP.pubFile, oldKP.pubFile)

			raw, ok := s.JWKS()
			require.True(t, ok)
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			require.NoError(t, json.Unmarshal(raw, &doc))
			require.Len(t, doc.Keys, 2)

			wantKids := []string{rfc7638(t, newKP.priv.Public()), rfc7638(t, oldKP.priv.Public())}
			for i, k := range doc.Keys {
				assert.Equal(t, wantKids[i], k["kid"])
				assert.Equal(t, alg, k["alg"])
				assert.Equal(t, "sig", k["use"])
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					assert.NotContains(t, k, private, "JWKS must not publish private parts")
				}
				if alg == "RS256" {
					assert.Equal(t, "RSA", k["kty"])
				} else {
					assert.Equal(t, "OKP", k["kty"])
					assert.Equal(t, "Ed25519", k["crv"])
				}
			}

			// Another service verifies our tokens from the JWKS alone.
			set, err := jwk.Parse(raw)
			require.NoError(t, err)
			_, err = jwxjwt.ParseString(oldTok.AccessToken, jwxjwt.WithKeySet(set), jwxjwt.WithValidate(false))
			require.NoError(t, err)

			// Callers cannot corrupt the published set.
			raw[0] = 'X'
			again, _ := s.JWKS()
			assert.Equal(t, byte('{'), again[0])
		})
	}
}

func TestJWKSWithSharedSecret(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())
	set, ok := s.JWKS()
	assert.False(t, ok)
	assert.Nil(t, set)
}

// ------------------------------------------------------------------- New

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	rsaKP := writeKeyPair(t, dir, "rsa", rsaKeys()[0])
	otherRSA := writeKeyPair(t, dir, "rsa2", rsaKeys()[1])
	edKP := writeKeyPair(t, dir, "ed", newEd25519(t))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	smallKP := writeKeyPair(t, dir, "small", small)
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key at all"), 0o600))
	badDER := writePEM(t, dir, "bad-der.pem", "PRIVATE KEY", []byte("nonsense"))
	badPubDER := writePEM(t, dir, "bad-pub-der.pem", "PUBLIC KEY", []byte("nonsense"))
	cert := writePEM(t, dir, "cert.pem", "CERTIFICATE", []byte("nonsense"))
	missing := filepath.Join(dir, "does-not-exist.pem")

	with := func(alg string, f func(*config.JWT)) config.JWT {
		c := baseConfig(alg)
		f(&c)
		return c
	}
	cases := []struct {
		name   string
		cfg    config.JWT
		secret []byte
		is     error
		msg    string
	}{
		{"HS256 secret of 31 bytes", baseConfig("HS256"), make([]byte, 31), nil, "at least 32 bytes"},
		{"HS256 without secret", baseConfig("HS256"), nil, nil, "at least 32 bytes"},
		{"algorithm none", baseConfig("none"), testSecret, nil, "algorithm"},
		{"algorithm HS512", baseConfig("HS512"), testSecret, nil, "algorithm"},
		{"algorithm empty", baseConfig(""), testSecret, nil, "algorithm"},
		{"RS256 without key files", baseConfig("RS256"), nil, nil, "private_key_file"},
		{"unreadable private key", with("RS256", func(c *config.JWT) { c.PrivateKeyFile = missing }), nil, fs.ErrNotExist, "read key file: open " + missing},
		{"unreadable public key", with("RS256", func(c *config.JWT) { c.PublicKeyFile = missing }), nil, fs.ErrNotExist, "read key file: open " + missing},
		{"unreadable previous key", with("RS256", func(c *config.JWT) {
			c.PrivateKeyFile = rsaKP.privFile
			c.PreviousPublicKeyFiles = []string{missing}
		}), nil, fs.ErrNotExist, "previous_public_key_files"},
		{"not PEM", with("RS256", func(c *config.JWT) { c.PrivateKeyFile = garbage }), nil, errKeyFile, "no PEM block"},
		{"malformed private DER", with("RS256", func(c *config.JWT) { c.PrivateKeyFile = badDER }), nil, errKeyFile, badDER + ": unusable key file: asn1"},
		{"malformed public DER", with("EdDSA", func(c *config.JWT) { c.PublicKeyFile = badPubDER }), nil, errKeyFile, badPubDER + ": unusable key file: asn1"},
		{"certificate as key", with("RS256", func(c *config.JWT) { c.PublicKeyFile = cert }), nil, errKeyFile, "CERTIFICATE"},
		{"public key as private key", with("RS256", func(c *config.JWT) { c.PrivateKeyFile = rsaKP.pubFile }), nil, errKeyFile, `PEM type "PUBLIC KEY" is not a PKCS#8 "PRIVATE KEY"`},
		{"RSA key with EdDSA", with("EdDSA", func(c *config.JWT) { c.PrivateKeyFile = rsaKP.privFile }), nil, errKeyFile, "Ed25519"},
		{"Ed25519 key with RS256", with("RS256", func(c *config.JWT) { c.PrivateKeyFile = edKP.privFile }), nil, errKeyFile, "RSA"},
		{"RSA public key with EdDSA", with("EdDSA", func(c *config.JWT) { c.PublicKeyFile = rsaKP.pubFile }), nil, errKeyFile, "Ed25519"},
		{"previous key of the wrong type", with("EdDSA", func(c *config.JWT) {
			c.PrivateKeyFile = edKP.privFile
			c.PreviousPublicKeyFiles = []string{rsaKP.pubFile}
		}), nil, errKeyFile, "previous_public_key_files"},
		{"RSA key of 1024 bits", with("RS256", func(c *config.JWT) { c.PrivateKeyFile = smallKP.privFile }), nil, errKeyFile, "2048"},
		{"public key not matching private key", with("RS256", func(c *config.JWT) {
			c.PrivateKeyFile = rsaKP.privFile
			c.PublicKeyFile = otherRSA.pubFile
		}), nil, nil, "does not match"},
		{"ttl zero", with("HS256", func(c *config.JWT) { c.TTLSeconds = 0 }), testSecret, nil, "ttl_seconds"},
		{"issuer empty", with("HS256", func(c *config.JWT) { c.Issuer = " " }), testSecret, nil, "issuer"},
		{"audience empty", with("HS256", func(c *config.JWT) { c.Audience = "" }), testSecret, nil, "audience"},
		{"negative leeway", with("HS256", func(c *config.JWT) { c.LeewaySeconds = -1 }), testSecret, nil, "leeway_seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEmpty(t, tc.msg, "every case names the message it expects")
			s, err := New(tc.cfg, tc.secret)
			require.Error(t, err)
			assert.Nil(t, s)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Contains(t, err.Error(), tc.msg)
		})
	}

	// The matching public key next to the private key is accepted.
	_, err = New(with("RS256", func(c *config.JWT) {
		c.PrivateKeyFile = rsaKP.privFile
		c.PublicKeyFile = rsaKP.pubFile
	}), nil)
	require.NoError(t, err)
}

func TestNewCopiesSecret(t *testing.T) {
	secret := append([]byte(nil), testSecret...)
	s := newService(t, baseConfig("HS256"), secret, newClock())
	tok, err := s.Issue(ctx, testUser)
	require.NoError(t, err)
	for i := range secret {
		secret[i] = 0 // the caller wipes its copy
	}
	_, err = s.Verify(ctx, tok.AccessToken)
	require.NoError(t, err)
}

func TestPublicKeyOnlyService(t *testing.T) {
	for _, alg := range []string{"RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			kp := keyPairFor(t, alg, 0)
			signer := newAsym(t, alg, kp, clk)
			cfg := baseConfig(alg)
			cfg.PublicKeyFile = kp.pubFile
			verifier := newService(t, cfg, nil, clk)

			tok, err := signer.Issue(ctx, testUser)
			require.NoError(t, err)
			c, err := verifier.Verify(ctx, tok.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, "user-1", c.Subject)

			got, err := verifier.Issue(ctx, testUser)
			assert.Nil(t, got)
			require.ErrorIs(t, err, ErrVerifyOnly)
			assert.Contains(t, err.Error(), "no private key")

			assert.Equal(t, signer.KeyID(), verifier.KeyID())
			set, ok := verifier.JWKS()
			assert.True(t, ok)
			want, _ := signer.JWKS()
			assert.JSONEq(t, string(want), string(set))
		})
	}
}

// --------------------------------------------------------- malformed input

func TestVerifyRejectsOversizedToken(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())
	sign := hs256(testSecret)

	cl := claimsAt(t0)
	cl["pad"] = strings.Repeat("a", 5000)
	ok := handToken(t, hsHeader(), cl, sign)
	require.Less(t, len(ok), MaxTokenSize)
	_, err := s.Verify(ctx, ok)
	require.NoError(t, err, "a large but allowed token verifies")

	cl["pad"] = strings.Repeat("a", 9000)
	big := handToken(t, hsHeader(), cl, sign) // validly signed, only too big
	require.Greater(t, len(big), MaxTokenSize)
	c, err := s.Verify(ctx, big)
	requireRejected(t, c, err, errTooLarge)

	c, err = s.Verify(ctx, strings.Repeat("A", 10<<20))
	requireRejected(t, c, err, errTooLarge)
}

func TestVerifyRejectsMalformed(t *testing.T) {
	s := newService(t, baseConfig("HS256"), testSecret, newClock())
	tok, err := s.Issue(ctx, testUser)
	require.NoError(t, err)
	parts := strings.Split(tok.AccessToken, ".")
	// The same token in JWS JSON serialization: only the compact form is
	// accepted (jwx would verify its signature). jwx also trims whitespace.
	jsonSerialization := `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`

	for _, raw := range []string{
		"",
		"abc",
		"a.b",
		"a.b.c.d",
		"..",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		tok.AccessToken + ".",
		" " + tok.AccessToken,
		tok.AccessToken + "\n",
		parts[0] + "=." + parts[1] + "." + parts[2],
		"Bearer " + tok.AccessToken,
		jsonSerialization,
	} {
		c, err := s.Verify(ctx, raw)
		requireRejected(t, c, err, errMalformed)
	}
	for _, raw := range []string{"aaaa.bbbb.cccc", "e30.e30.e30"} { // well-shaped garbage
		c, err := s.Verify(ctx, raw)
		requireRejected(t, c, err, nil)
	}
}

// -------------------------------------------------------------- secrets

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	require.NoError(t, err)
	b, err := GenerateSecret()
	require.NoError(t, err)
	assert.Len(t, a, 64)
	assert.NotEqual(t, a, b)
	s := newService(t, baseConfig("HS256"), a, newClock())
	tok, err := s.Issue(ctx, testUser)
	require.NoError(t, err)
	_, err = s.Verify(ctx, tok.AccessToken)
	require.NoError(t, err)
}

// ----------------------------------------------------------- concurrency

func TestConcurrentIssueAndVerify(t *testing.T) {
	s := newAsym(t, "EdDSA", keyPairFor(t, "EdDSA", 0), newClock())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				tok, err := s.Issue(ctx, testUser)
				if err != nil {
					errs <- err
					return
				}
				c, err := s.Verify(ctx, tok.AccessToken)
				if err != nil {
					errs <- err
					return
				}
				if c.ID != tok.ID {
					errs <- errors.New("claims of another token")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// ------------------------------------------------------------ benchmarks

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			var s *Service
			var err error
			if alg == "HS256" {
				s, err = New(baseConfig(alg), testSecret)
			} else {
				var k crypto.Signer = rsaKeys()[0]
				if alg == "EdDSA" {
					k = newEd25519(b)
				}
				kp := writeKeyPair(b, b.TempDir(), alg, k)
				cfg := baseConfig(alg)
				cfg.PrivateKeyFile = kp.privFile
				s, err = New(cfg, nil)
			}
			require.NoError(b, err)
			tok, err := s.Issue(ctx, testUser)
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(ctx, tok.AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	s, err := New(baseConfig("HS256"), testSecret)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Issue(ctx, testUser); err != nil {
			b.Fatal(err)
		}
	}
}
