package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/alexedwards/argon2id"

	"github.com/framework-m/framework-m/core/config"
)

// Bounds on parameters read back from stored hashes, so a forged or corrupted
// hash cannot make the server allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB   = 256 * 1024
	maxIterations  = 20
	maxParallelism = 16
)

// ErrHashBounds reports a stored hash whose parameters exceed the bounds.
var ErrHashBounds = errors.New("password hash parameters out of bounds")

// Hasher hashes and verifies passwords with argon2id, with at most a fixed
// number of computations at once (each one takes the configured memory).
type Hasher struct {
	params *argon2id.Params
	sem    chan struct{}
	dummy  string
	// onVerify, when set, is called on every verification (tests count them).
	onVerify func()
}

// NewHasher returns a Hasher making hashes with cfg's parameters.
func NewHasher(cfg config.Password) (*Hasher, error) {
	h := &Hasher{
		params: &argon2id.Params{
			Memory:      uint32(cfg.Argon2MemoryKiB),
			Iterations:  uint32(cfg.Argon2Iterations),
			Parallelism: uint8(cfg.Argon2Parallelism),
			SaltLength:  16,
			KeyLength:   32,
		},
		sem: make(chan struct{}, max(1, cfg.MaxConcurrentHashes)),
	}
	if h.params.Memory > maxMemoryKiB || h.params.Iterations > maxIterations || h.params.Parallelism > maxParallelism {
		return nil, fmt.Errorf("argon2id parameters above the bounds this server accepts (memory %d KiB, %d iterations, %d lanes)", maxMemoryKiB, maxIterations, maxParallelism)
	}
	dummy, err := argon2id.CreateHash("unknown user: spend the same work", h.params)
	if err != nil {
		return nil, fmt.Errorf("argon2id: %w", err)
	}
	h.dummy = dummy
	return h, nil
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a password hashing slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the argon2id hash of password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	hash, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("argon2id: %w", err)
	}
	return hash, nil
}

// Verify reports whether password matches hash, and whether hash was made with
// weaker parameters than configured (and should be replaced). An empty hash
// (no password set) is checked against a dummy hash, spending the same work.
func (h *Hasher) Verify(ctx context.Context, password, hash string) (match, weak bool, err error) {
	if h.onVerify != nil {
		h.onVerify()
	}
	target := hash
	if target == "" {
		target = h.dummy
	}
	p, salt, key, err := argon2id.DecodeHash(target)
	if err != nil {
		return false, false, fmt.Errorf("decode password hash: %w", err)
	}
	if p.Memory > maxMemoryKiB || p.Iterations > maxIterations || p.Parallelism > maxParallelism ||
		p.Memory < 8 || p.Iterations < 1 || p.Parallelism < 1 ||
		len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return false, false, ErrHashBounds
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	ok, _, err := argon2id.CheckHash(password, target)
	if err != nil {
		return false, false, fmt.Errorf("argon2id: %w", err)
	}
	weak = p.Memory < h.params.Memory || p.Iterations < h.params.Iterations || p.Parallelism < h.params.Parallelism ||
		p.KeyLength < h.params.KeyLength || len(salt) < int(h.params.SaltLength)
	return ok && hash != "", weak, nil
}

// VerifyDummy spends one verification's work on nothing (unknown users).
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, "")
	return err
}
