package jwt

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// errKeyFile is wrapped by every problem with a key file's content.
var errKeyFile = errors.New("unusable key file")

// readPEM returns the first PEM block of path.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jwt: read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("jwt: %s: %w: no PEM block found", path, errKeyFile)
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, fmt.Errorf("jwt: %s: %w: encrypted PEM keys are not supported", path, errKeyFile)
	}
	return block, nil
}

// readPrivateKey reads a PEM private key (PKCS#8 "PRIVATE KEY", or PKCS#1
// "RSA PRIVATE KEY") and checks that it suits alg.
func readPrivateKey(path string, alg jwa.SignatureAlgorithm) (crypto.Signer, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("jwt: %s: %w: PEM type %q is not a PKCS#8 \"PRIVATE KEY\" or PKCS#1 \"RSA PRIVATE KEY\"", path, errKeyFile, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt: %s: %w: %w", path, errKeyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("jwt: %s: %w: %T cannot sign", path, errKeyFile, key)
	}
	if err := checkKeyType(signer.Public(), alg); err != nil {
		return nil, fmt.Errorf("jwt: %s: %w", path, err)
	}
	return signer, nil
}

// readPublicKey reads a PEM public key (PKIX "PUBLIC KEY", or PKCS#1
// "RSA PUBLIC KEY") and checks that it suits alg.
func readPublicKey(path string, alg jwa.SignatureAlgorithm) (crypto.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("jwt: %s: %w: PEM type %q is not a PKIX \"PUBLIC KEY\" or PKCS#1 \"RSA PUBLIC KEY\"", path, errKeyFile, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt: %s: %w: %w", path, errKeyFile, err)
	}
	if err := checkKeyType(key, alg); err != nil {
		return nil, fmt.Errorf("jwt: %s: %w", path, err)
	}
	return key, nil
}

// checkKeyType reports whether pub is a key for alg: RSA of at least 2048
// bits for RS256, Ed25519 for EdDSA.
func checkKeyType(pub crypto.PublicKey, alg jwa.SignatureAlgorithm) error {
	switch alg {
	case jwa.RS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: RS256 needs an RSA key, not %T", errKeyFile, pub)
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("%w: RSA key has %d bits, at least %d are required", errKeyFile, bits, minRSABits)
		}
	case jwa.EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("%w: EdDSA needs an Ed25519 key, not %T", errKeyFile, pub)
		}
	default:
		return fmt.Errorf("%w: no key files for algorithm %s", errKeyFile, alg)
	}
	return nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
