package jwt

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/framework-m/framework-m/core/config"
)

// SecretFile is where a generated HS256 secret is kept under data_dir.
const SecretFile = "jwt_secret"

// SecretSource says where an HS256 secret may come from when none is configured.
type SecretSource struct {
	// DataDir holds the generated secret file.
	DataDir string
	// SingleMachine allows generating one into DataDir (an embedded database:
	// every instance is this machine).
	SingleMachine bool
	// Ephemeral allows a random per-process secret (debug).
	Ephemeral bool
}

// ResolveSecret returns the HS256 secret of cfg: the configured one, else one
// generated once into src.DataDir (0600) on a single machine, else (debug
// only) a random one for this process. Other algorithms need none (nil).
func ResolveSecret(cfg config.JWT, src SecretSource, log *slog.Logger) ([]byte, error) {
	if cfg.Algorithm != "HS256" {
		return nil, nil
	}
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	if src.SingleMachine {
		return fileSecret(filepath.Join(src.DataDir, SecretFile), src.DataDir, log)
	}
	if src.Ephemeral {
		raw, err := GenerateSecret()
		log.Warn("no [auth.jwt] secret: using a random one for this process only (debug); tokens die at restart")
		return raw, err
	}
	return nil, &config.Error{Problems: []config.Problem{{Key: "auth.jwt.secret",
		Reason: "is required with PostgreSQL (instances must share it): set secret = \"${FM_JWT_SECRET}\" with at least 32 random bytes, e.g. openssl rand -base64 48"}}}
}

// fileSecret reads the secret kept at path, restricting the file to its owner,
// or generates and writes one.
func fileSecret(path, dir string, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, fmt.Errorf("auth.jwt.secret: %s is readable by others and cannot be restricted: %w", path, err)
			}
			log.Warn("restricted the JWT secret file to its owner", "file", path)
		}
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("auth.jwt.secret: %s holds fewer than 32 bytes; delete it to generate a new one", path)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth.jwt.secret: read %s: %w", path, err)
	}
	raw, err := GenerateSecret()
	if err != nil {
		return nil, err
	}
	s := fmt.Sprintf("%x", raw)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("auth.jwt.secret: create %s: %w", dir, err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("auth.jwt.secret: write %s: %w", path, err)
	}
	log.Info("generated a JWT signing secret; set [auth.jwt] secret to share one across instances", "file", path)
	return []byte(s), nil
}
