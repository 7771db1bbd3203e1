package quietlog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestOneLinePerKeyPerInterval(t *testing.T) {
	l := &Limiter{Interval: time.Minute}
	t0 := time.Unix(1_800_000_000, 0)
	n, ok := l.Allow("redis", t0)
	assert.True(t, ok)
	assert.Zero(t, n)
	for i := range 3 {
		_, ok = l.Allow("redis", t0.Add(time.Duration(i+1)*time.Second))
		assert.False(t, ok, "held back within the interval")
	}
	_, ok = l.Allow("database", t0.Add(time.Second))
	assert.True(t, ok, "keys are counted apart")
	n, ok = l.Allow("redis", t0.Add(time.Minute))
	assert.True(t, ok, "one line again after the interval")
	assert.Equal(t, 3, n, "with the count held back")
}
