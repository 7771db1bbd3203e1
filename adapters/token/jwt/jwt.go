// Package jwt implements ports.TokenService with JSON Web Tokens signed by
// github.com/lestrrat-go/jwx/v2.
//
// Three algorithms are supported, chosen by [auth.jwt] algorithm:
//
//   - HS256: a shared secret of at least 32 bytes signs and verifies.
//   - RS256 and EdDSA (Ed25519): a PEM private key signs; its public key, and
//     the retired public keys listed in previous_public_key_files, verify.
//     Every token carries the RFC 7638 thumbprint of its key as "kid", and
//     JWKS publishes all verification keys so other services can check tokens
//     without a shared secret.
//
// Verification pins the configured algorithm: the token's "alg" header must
// name exactly that algorithm ("none", HS/RS confusion and any other switch
// are rejected before a signature is checked), and the key comes from this
// service, never from the token. jwx parses the compact JWS and checks the
// signature (jws.Verify with this package's jws.KeyProvider); the claims are
// then decoded into typed fields and validated here (iss, aud, exp, nbf, iat
// with leeway, required sub, jti, exp, tv), which costs a quarter of jwx's
// generic jwt.Parse. Every verification failure is core.ErrUnauthorized with
// one generic public message; the wrapped cause says which check failed, for
// logs only.
package jwt

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// Claim names this service writes besides the registered ones.
const (
	// TenantClaim carries the user's tenant id.
	TenantClaim = "tid"
	// TokenVersionClaim carries the user's token version (ports.User.TokenVersion).
	TokenVersionClaim = "tv"
)

// MaxTokenSize is the largest token Verify parses, in bytes. Anything longer
// is rejected before any decoding, so huge headers cannot cost CPU or memory.
const MaxTokenSize = 8 << 10

// MinSecretSize is the shortest HS256 secret New accepts, in bytes.
const MinSecretSize = 32

// minRSABits is the smallest RSA modulus New accepts.
const minRSABits = 2048

// publicMessage is the only thing a client learns about a rejected token.
const publicMessage = "invalid or expired token"

// ErrVerifyOnly is returned by Issue when the service has public keys but no
// private key: it can verify tokens issued elsewhere but not sign new ones.
var ErrVerifyOnly = errors.New("jwt: no private key configured: this service can verify tokens but not issue them")

// errInvalid is wrapped by every Verify failure.
var errInvalid = core.Public(core.ErrUnauthorized, publicMessage)

// Causes of a rejected token (wrapped under errInvalid, for logs and tests).
var (
	errTooLarge     = errors.New("token too large")
	errMalformed    = errors.New("not a compact JWS")
	errAlgorithm    = errors.New("algorithm not allowed")
	errType         = errors.New(`"typ" header is not JWT`)
	errCritical     = errors.New(`unsupported "crit" or "b64" header`)
	errUnknownKey   = errors.New(`unknown "kid"`)
	errMissingClaim = errors.New("required claim missing")
	errClaimType    = errors.New("claim has the wrong type")
	errIssuer       = errors.New(`"iss" does not match`)
	errAudience     = errors.New(`"aud" does not contain the audience`)
	errExpired      = errors.New("token expired")
	errNotYetValid  = errors.New(`"nbf" is in the future`)
	errIssuedLater  = errors.New(`"iat" is in the future`)
	errTooLong      = errors.New(`lifetime ("exp" - "iat") exceeds the configured ttl`)
)

// Service issues and verifies access tokens. It is safe for concurrent use;
// keys are parsed once by New and never re-read.
type Service struct {
	alg      jwa.SignatureAlgorithm
	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration
	now      func() time.Time

	// signKey is the HS256 secret ([]byte) or the private key; nil when the
	// service only verifies.
	signKey any
	// kid is the current key's id (asymmetric algorithms only).
	kid string

	keys       *keyProvider
	verifyOpts []jws.VerifyOption
	jwks       []byte // nil for HS256
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the service read the time from now instead of time.Now
// (for tests).
func WithClock(now func() time.Time) Option {
	return func(s *Service) {
		if now != nil {
			s.now = now
		}
	}
}

// New builds the service from cfg. secret is the HS256 key, already resolved
// by the caller (at least MinSecretSize bytes); it is copied and ignored for
// the other algorithms.
//
// For RS256 and EdDSA, New reads cfg.PrivateKeyFile (PEM: PKCS#8, or PKCS#1
// for RSA), cfg.PublicKeyFile (PEM: PKIX, or PKCS#1 for RSA; derived from the
// private key when empty, and required to match it when both are set) and
// cfg.PreviousPublicKeyFiles (retired keys that still verify). Without a
// private key the service verifies but Issue fails with ErrVerifyOnly. RSA keys
// must have at least 2048 bits; key types must match the algorithm.
func New(cfg config.JWT, secret []byte, opts ...Option) (*Service, error) {
	if cfg.TTLSeconds <= 0 {
		return nil, fmt.Errorf("jwt: ttl_seconds must be positive, not %d", cfg.TTLSeconds)
	}
	if strings.TrimSpace(cfg.Issuer) == "" {
		return nil, errors.New("jwt: issuer must not be empty")
	}
	if strings.TrimSpace(cfg.Audience) == "" {
		return nil, errors.New("jwt: audience must not be empty")
	}
	if cfg.LeewaySeconds < 0 {
		return nil, fmt.Errorf("jwt: leeway_seconds must not be negative, not %d", cfg.LeewaySeconds)
	}
	s := &Service{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		ttl:      time.Duration(cfg.TTLSeconds) * time.Second,
		leeway:   time.Duration(cfg.LeewaySeconds) * time.Second,
		now:      time.Now,
	}
	for _, o := range opts {
		o(s)
	}

	switch cfg.Algorithm {
	case "HS256":
		if len(secret) < MinSecretSize {
			return nil, fmt.Errorf("jwt: the HS256 secret must be at least %d bytes, not %d", MinSecretSize, len(secret))
		}
		key := append([]byte(nil), secret...)
		s.alg = jwa.HS256
		s.signKey = key
		s.keys = &keyProvider{alg: jwa.HS256, secret: key}
	case "RS256", "EdDSA":
		s.alg = jwa.SignatureAlgorithm(cfg.Algorithm)
		if err := s.loadKeys(cfg); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("jwt: algorithm must be HS256, RS256 or EdDSA, not %q", cfg.Algorithm)
	}

	s.verifyOpts = []jws.VerifyOption{jws.WithKeyProvider(s.keys), jws.WithCompact()}
	return s, nil
}

// loadKeys reads the key files of an asymmetric algorithm, computes their key
// ids and prepares the verification key map and the JWK Set.
func (s *Service) loadKeys(cfg config.JWT) error {
	var current crypto.PublicKey
	switch {
	case cfg.PrivateKeyFile != "":
		priv, err := readPrivateKey(cfg.PrivateKeyFile, s.alg)
		if err != nil {
			return err
		}
		s.signKey = priv
		current = priv.Public()
		if cfg.PublicKeyFile != "" {
			pub, err := readPublicKey(cfg.PublicKeyFile, s.alg)
			if err != nil {
				return err
			}
			if !publicKeysEqual(pub, current) {
				return fmt.Errorf("jwt: public_key_file %s does not match private_key_file %s", cfg.PublicKeyFile, cfg.PrivateKeyFile)
			}
		}
	case cfg.PublicKeyFile != "":
		pub, err := readPublicKey(cfg.PublicKeyFile, s.alg)
		if err != nil {
			return err
		}
		current = pub
	default:
		return fmt.Errorf("jwt: algorithm %s needs private_key_file (to issue) or public_key_file (to verify only)", s.alg)
	}

	kp := &keyProvider{alg: s.alg, keys: make(map[string]crypto.PublicKey, 1+len(cfg.PreviousPublicKeyFiles))}
	set := jwk.NewSet()
	add := func(pub crypto.PublicKey, source string) (string, error) {
		k, err := jwk.FromRaw(pub)
		if err != nil {
			return "", fmt.Errorf("jwt: %s: %w", source, err)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			return "", fmt.Errorf("jwt: %s: thumbprint: %w", source, err)
		}
		kid := base64.RawURLEncoding.EncodeToString(tp)
		if _, dup := kp.keys[kid]; dup {
			return kid, nil // the same key listed twice: publish it once
		}
		for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: s.alg, jwk.KeyUsageKey: jwk.ForSignature} {
			if err := k.Set(name, v); err != nil {
				return "", fmt.Errorf("jwt: %s: set %s: %w", source, name, err)
			}
		}
		if err := set.AddKey(k); err != nil {
			return "", fmt.Errorf("jwt: %s: %w", source, err)
		}
		kp.keys[kid] = pub
		return kid, nil
	}
	kid, err := add(current, "current key")
	if err != nil {
		return err
	}
	s.kid = kid
	for _, path := range cfg.PreviousPublicKeyFiles {
		pub, err := readPublicKey(path, s.alg)
		if err != nil {
			return fmt.Errorf("%w (listed in previous_public_key_files)", err)
		}
		if _, err := add(pub, path); err != nil {
			return err
		}
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("jwt: encode JWK set: %w", err)
	}
	s.keys = kp
	s.jwks = jwks
	return nil
}

// Algorithm returns the signing algorithm ("HS256", "RS256" or "EdDSA").
func (s *Service) Algorithm() string { return s.alg.String() }

// KeyID returns the "kid" of the current key ("" with HS256).
func (s *Service) KeyID() string { return s.kid }

// Issue signs a new access token for u: sub, tid, iss, aud, iat, nbf = iat,
// exp = iat + ttl, a random 128-bit jti and the token version as "tv".
func (s *Service) Issue(_ context.Context, u *ports.User) (*ports.Token, error) {
	if s.signKey == nil {
		return nil, ErrVerifyOnly
	}
	if u == nil || u.ID == "" {
		return nil, fmt.Errorf("jwt: issue: %w", core.Invalid("user", "a user id is required"))
	}
	jti, err := newTokenID()
	if err != nil {
		return nil, err
	}
	// NumericDate has whole seconds; the token and the returned times agree.
	iat := time.Unix(s.now().Unix(), 0)
	exp := iat.Add(s.ttl)

	tok := jwxjwt.New()
	tok.Options().Enable(jwxjwt.FlattenAudience) // "aud": "x", not ["x"]
	for name, v := range map[string]any{
		jwxjwt.SubjectKey:    u.ID,
		TenantClaim:          u.TenantID,
		jwxjwt.IssuerKey:     s.issuer,
		jwxjwt.AudienceKey:   s.audience,
		jwxjwt.IssuedAtKey:   iat,
		jwxjwt.NotBeforeKey:  iat,
		jwxjwt.ExpirationKey: exp,
		jwxjwt.JwtIDKey:      jti,
		TokenVersionClaim:    u.TokenVersion,
	} {
		if err := tok.Set(name, v); err != nil {
			return nil, fmt.Errorf("jwt: issue: set %s: %w", name, err)
		}
	}
	hdr := jws.NewHeaders() // per call: jwt.Sign writes into it
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return nil, fmt.Errorf("jwt: issue: set typ: %w", err)
	}
	if s.kid != "" {
		if err := hdr.Set(jws.KeyIDKey, s.kid); err != nil {
			return nil, fmt.Errorf("jwt: issue: set kid: %w", err)
		}
	}
	signed, err := jwxjwt.Sign(tok, jwxjwt.WithKey(s.alg, s.signKey, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("jwt: issue: sign: %w", err)
	}
	return &ports.Token{
		AccessToken: string(signed),
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.ttl / time.Second),
		ExpiresAt:   exp,
		UserID:      u.ID,
		ID:          jti,
	}, nil
}

// Verify checks raw and returns its claims. The "alg" header must be the
// configured algorithm; with asymmetric keys, "kid" must name the current key
// or a previous one. iss and aud must match (aud may be a string or an array);
// exp, nbf and iat are checked with the configured leeway; sub, jti, iat,
// exp and tv are required, and exp - iat may not exceed the configured ttl
// (plus leeway). Every failure is core.ErrUnauthorized with the public
// message "invalid or expired token"; the wrapped cause is for logs.
func (s *Service) Verify(_ context.Context, raw string) (*ports.Claims, error) {
	if len(raw) > MaxTokenSize {
		return nil, reject(errTooLarge)
	}
	if !isCompact(raw) {
		return nil, reject(errMalformed)
	}
	payload, err := jws.Verify([]byte(raw), s.verifyOpts...)
	if err != nil {
		return nil, reject(err)
	}
	var cs claimSet
	if err := json.Unmarshal(payload, &cs); err != nil {
		return nil, reject(fmt.Errorf("%w: %w", errClaimType, err))
	}
	if err := cs.validate(s.now().Unix(), int64(s.leeway/time.Second), int64(s.ttl/time.Second), s.issuer, s.audience); err != nil {
		return nil, reject(err)
	}
	return &ports.Claims{
		Subject:      cs.Subject,
		TenantID:     cs.TenantID,
		ID:           cs.ID,
		TokenVersion: cs.TokenVersion.n,
		IssuedAt:     cs.IssuedAt.time(),
		ExpiresAt:    cs.Expires.time(),
	}, nil
}

// JWKS returns the JSON Web Key Set of every verification key (the current
// one and the previous ones), each with kid, alg and use "sig" and without
// private parts. ok is false with HS256: a shared secret is never published.
func (s *Service) JWKS() (set []byte, ok bool) {
	if s.jwks == nil {
		return nil, false
	}
	return append([]byte(nil), s.jwks...), true
}

// GenerateSecret returns 64 bytes from crypto/rand, a suitable HS256 secret
// (twice MinSecretSize). Store it encoded (e.g. base64) and pass the decoded
// bytes to New; every instance that verifies tokens needs the same secret.
func GenerateSecret() ([]byte, error) {
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("jwt: generate secret: %w", err)
	}
	return b, nil
}

// reject wraps cause as a client-safe unauthorized error.
func reject(cause error) error {
	return fmt.Errorf("%w: %w", errInvalid, cause)
}

// newTokenID returns a random 128-bit id, base64url without padding.
func newTokenID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jwt: token id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// isCompact reports whether raw has the shape of a compact JWS: three
// base64url segments with a non-empty header, payload and signature. It
// rejects the JSON serialization, padding and whitespace before jwx parses.
func isCompact(raw string) bool {
	dots := 0
	start := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '.':
			if i == start {
				return false // empty segment
			}
			dots++
			start = i + 1
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2 && start < len(raw)
}

// keyProvider hands jws.Verify the one key a token may be checked with. It
// pins the algorithm: the header's "alg" must equal the configured one, so
// "none" and any algorithm switch fail before a signature is computed (jwx
// itself would verify with the configured algorithm whatever the header
// says). With asymmetric keys it looks the key up by "kid".
type keyProvider struct {
	alg    jwa.SignatureAlgorithm
	secret []byte                      // HS256
	keys   map[string]crypto.PublicKey // RS256, EdDSA: kid → key
}

// FetchKeys implements jws.KeyProvider.
func (p *keyProvider) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	if alg := h.Algorithm(); alg != p.alg {
		return fmt.Errorf("%w: %q (want %q)", errAlgorithm, alg.String(), p.alg.String())
	}
	if typ := h.Type(); typ != "" && !strings.EqualFold(typ, "JWT") {
		return errType
	}
	if len(h.Critical()) > 0 {
		return errCritical
	}
	if _, ok := h.Get("b64"); ok { // RFC 7797 unencoded payload: never ours
		return errCritical
	}
	if p.secret != nil {
		sink.Key(p.alg, p.secret)
		return nil
	}
	key, ok := p.keys[h.KeyID()]
	if !ok {
		return errUnknownKey
	}
	sink.Key(p.alg, key)
	return nil
}

var (
	_ ports.TokenService = (*Service)(nil)
	_ jws.KeyProvider    = (*keyProvider)(nil)
)
