package doctype

import (
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// When the last id's random bits after the variant are all ones, the next id of
// the same millisecond must still be greater: the increment has to carry into
// rand_a instead of wrapping the low bits back to zero.
func TestNewUUIDv7IncreasesWhenRandomBitsOverflow(t *testing.T) {
	var last [16]byte
	var ts [8]byte
	// An hour ahead, so NewUUIDv7 must continue from last rather than use the clock.
	binary.BigEndian.PutUint64(ts[:], uint64(time.Now().Add(time.Hour).UnixMilli()))
	copy(last[:6], ts[2:])
	last[6], last[7] = 0x70, 0x00
	last[8] = 0xbf // variant 10, then six one bits
	for i := 9; i < 16; i++ {
		last[i] = 0xff
	}

	uuidMu.Lock()
	saved := uuidLast
	uuidLast = last
	uuidMu.Unlock()
	t.Cleanup(func() {
		uuidMu.Lock()
		uuidLast = saved
		uuidMu.Unlock()
	})

	prev := formatUUID(last)
	next := NewUUIDv7()
	assert.Greater(t, next, prev)
	assert.Equal(t, byte('7'), next[14], "version nibble")
	assert.Contains(t, "89ab", string(next[19]), "variant bits")
}
