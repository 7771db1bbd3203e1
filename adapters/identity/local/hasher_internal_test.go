package local

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
)

// CountVerifications makes h count its password verifications and returns the
// counter. Exported for provider_test.go (package local_test): the number of
// verifications is how the tests see that every login failure does the same work.
func CountVerifications(h *Hasher) *atomic.Int64 {
	var n atomic.Int64
	h.onVerify = func() { n.Add(1) }
	return &n
}

// testParams are small argon2id parameters, so tests run fast under -race.
func testParams() config.Password {
	return config.Password{
		MinLength: 10, MaxLength: 256,
		Argon2MemoryKiB: 1024, Argon2Iterations: 1, Argon2Parallelism: 1,
		MaxConcurrentHashes: 2,
	}
}

func newTestHasher(t *testing.T, mutate func(*config.Password)) *Hasher {
	t.Helper()
	cfg := testParams()
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewHasher(cfg)
	require.NoError(t, err)
	return h
}

// forged returns an argon2id hash string with the given parameters and salt and
// key lengths (random-looking bytes: the key never matches anything).
func forged(m, t, p, saltLen, keyLen int) string {
	b64 := base64.RawStdEncoding
	salt := b64.EncodeToString([]byte(strings.Repeat("s", saltLen)))
	key := b64.EncodeToString([]byte(strings.Repeat("k", keyLen)))
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p, salt, key)
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, nil)
	const pw = "correct horse battery staple"

	hash, err := h.Hash(ctx, pw)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$"), "configured parameters: %s", hash)
	assert.NotContains(t, hash, pw)

	again, err := h.Hash(ctx, pw)
	require.NoError(t, err)
	assert.NotEqual(t, hash, again, "a fresh salt every time")

	for _, tc := range []struct {
		name  string
		pw    string
		match bool
	}{
		{"right password", pw, true},
		{"wrong password", "correct horse battery stapler", false},
		{"empty password", "", false},
		{"case differs", strings.ToUpper(pw), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			match, weak, err := h.Verify(ctx, tc.pw, hash)
			require.NoError(t, err)
			assert.Equal(t, tc.match, match)
			assert.False(t, weak, "made with the configured parameters")
		})
	}
}

func TestNewHasherRefusesParametersAboveBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*config.Password)
	}{
		{"memory", func(c *config.Password) { c.Argon2MemoryKiB = maxMemoryKiB + 1 }},
		{"iterations", func(c *config.Password) { c.Argon2Iterations = maxIterations + 1 }},
		{"parallelism", func(c *config.Password) { c.Argon2Parallelism = maxParallelism + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testParams()
			tc.mutate(&cfg)
			_, err := NewHasher(cfg)
			assert.Error(t, err)
		})
	}
}

func TestStoredHashOutOfBoundsIsRefused(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, func(c *config.Password) { c.MaxConcurrentHashes = 1 })

	// Take the only hashing slot and use a cancelled context: a Verify that got
	// as far as waiting for a slot (let alone running argon2id with the forged
	// parameters) would answer with a context error, not ErrHashBounds. So
	// ErrHashBounds here proves the bounds are checked before any hashing work.
	h.sem <- struct{}{}
	defer h.release()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	for _, tc := range []struct {
		name string
		hash string
	}{
		{"memory 4 GiB", "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"},
		{"memory just above the bound", forged(maxMemoryKiB+1, 1, 1, 16, 32)},
		{"memory below 8 KiB", forged(4, 1, 1, 16, 32)},
		{"huge iterations", forged(1024, 4000000000, 1, 16, 32)},
		{"iterations just above the bound", forged(1024, maxIterations+1, 1, 16, 32)},
		{"zero iterations", forged(1024, 0, 1, 16, 32)},
		{"huge parallelism", forged(1024, 1, 255, 16, 32)},
		{"parallelism just above the bound", forged(1024, 1, maxParallelism+1, 16, 32)},
		{"zero parallelism", forged(1024, 1, 0, 16, 32)},
		{"short salt", forged(1024, 1, 1, 4, 32)},
		{"long salt", forged(1024, 1, 1, 65, 32)},
		{"short key", forged(1024, 1, 1, 16, 8)},
		{"long key", forged(1024, 1, 1, 16, 65)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			match, weak, err := h.Verify(cancelled, "anything at all", tc.hash)
			assert.ErrorIs(t, err, ErrHashBounds)
			assert.NotErrorIs(t, err, context.Canceled, "refused before waiting for a hashing slot")
			assert.False(t, match)
			assert.False(t, weak)
		})
	}

	t.Run("within bounds goes on to wait for a slot", func(t *testing.T) {
		// The control case: the same set-up with acceptable parameters does
		// reach the semaphore, so the cases above are not passing by accident.
		_, _, err := h.Verify(cancelled, "anything at all", forged(1024, 1, 1, 16, 32))
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestMalformedStoredHashIsAnError(t *testing.T) {
	h := newTestHasher(t, nil)
	for _, hash := range []string{"plaintext-password", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5"} {
		match, _, err := h.Verify(context.Background(), "plaintext-password", hash)
		assert.Error(t, err, "hash %q", hash)
		assert.False(t, match, "hash %q", hash)
	}
}

func TestWeakHashDetection(t *testing.T) {
	ctx := context.Background()
	const pw = "a perfectly fine password"
	configured := newTestHasher(t, func(c *config.Password) { c.Argon2MemoryKiB, c.Argon2Iterations = 2048, 2 })

	for _, tc := range []struct {
		name   string
		mutate func(*config.Password)
		weak   bool
	}{
		{"equal parameters", func(c *config.Password) { c.Argon2MemoryKiB, c.Argon2Iterations = 2048, 2 }, false},
		{"lower memory", func(c *config.Password) { c.Argon2MemoryKiB, c.Argon2Iterations = 1024, 2 }, true},
		{"fewer iterations", func(c *config.Password) { c.Argon2MemoryKiB, c.Argon2Iterations = 2048, 1 }, true},
		{"lower memory and iterations", func(c *config.Password) { c.Argon2MemoryKiB, c.Argon2Iterations = 1024, 1 }, true},
		{"stronger parameters", func(c *config.Password) { c.Argon2MemoryKiB, c.Argon2Iterations = 4096, 3 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := newTestHasher(t, tc.mutate)
			hash, err := other.Hash(ctx, pw)
			require.NoError(t, err)
			match, weak, err := configured.Verify(ctx, pw, hash)
			require.NoError(t, err)
			assert.True(t, match, "the password matches whatever the parameters")
			assert.Equal(t, tc.weak, weak)
		})
	}
}

func TestSemaphoreCapsConcurrentHashing(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, func(c *config.Password) { c.MaxConcurrentHashes = 1 })
	require.Equal(t, 1, cap(h.sem))
	hash, err := h.Hash(ctx, "a perfectly fine password")
	require.NoError(t, err)

	// Take the only slot by hand, as a running hash would.
	h.sem <- struct{}{}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	match, _, err := h.Verify(cancelled, "a perfectly fine password", hash)
	assert.ErrorIs(t, err, context.Canceled, "no slot: Verify waits and gives up with the context")
	assert.False(t, match)

	_, err = h.Hash(cancelled, "another password")
	assert.ErrorIs(t, err, context.Canceled, "no slot: Hash waits and gives up with the context")

	assert.ErrorIs(t, h.VerifyDummy(cancelled, "x"), context.Canceled, "unknown users wait like everyone else")

	// A verification with a live context blocks while the slot is taken: it
	// only returns once its context ends (a Verify that did not wait would have
	// answered match=true with no error instead).
	live, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(live, "a perfectly fine password", hash)
		done <- err
	}()
	stop()
	assert.ErrorIs(t, <-done, context.Canceled)

	// Freeing the slot lets work through again.
	h.release()
	match, _, err = h.Verify(ctx, "a perfectly fine password", hash)
	require.NoError(t, err)
	assert.True(t, match)
	assert.Empty(t, h.sem, "every slot is given back")
}

func TestSlotsAreReleasedAfterUse(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, func(c *config.Password) { c.MaxConcurrentHashes = 2 })
	hash, err := h.Hash(ctx, "a perfectly fine password")
	require.NoError(t, err)
	for range 5 {
		_, _, err := h.Verify(ctx, "wrong password!", hash)
		require.NoError(t, err)
		require.NoError(t, h.VerifyDummy(ctx, "whatever"))
	}
	_, _, err = h.Verify(ctx, "x", forged(maxMemoryKiB+1, 1, 1, 16, 32))
	require.ErrorIs(t, err, ErrHashBounds)
	assert.Empty(t, h.sem, "no slot leaks after hashes, verifications and refusals")
}

func TestDummyVerification(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, nil)
	n := CountVerifications(h)

	// Even the phrase the dummy hash was made from does not match an empty hash.
	for _, pw := range []string{"", "unknown user: spend the same work", "anything"} {
		match, _, err := h.Verify(ctx, pw, "")
		require.NoError(t, err)
		assert.False(t, match, "an empty hash (no password) never matches %q", pw)
	}
	assert.Equal(t, int64(3), n.Load())

	require.NoError(t, h.VerifyDummy(ctx, "unknown user: spend the same work"))
	assert.Equal(t, int64(4), n.Load(), "VerifyDummy is one verification")

	// The dummy hash is a real hash with the configured parameters: the same work.
	assert.True(t, strings.HasPrefix(h.dummy, "$argon2id$v=19$m=1024,t=1,p=1$"), h.dummy)
}

func TestHashErrorsAreWrapped(t *testing.T) {
	h := newTestHasher(t, nil)
	_, _, err := h.Verify(context.Background(), "x", "not a hash")
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrHashBounds), "malformed is not out of bounds")
}
