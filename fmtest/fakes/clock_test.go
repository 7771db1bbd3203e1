package fakes_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/framework-m/framework-m/fmtest/fakes"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := fakes.NewClock(t0)
	assert.Equal(t, t0, c.Now())
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second) })
	}
	wg.Wait()
	assert.Equal(t, t0.Add(10*time.Second), c.Now())
	c.Set(t0)
	assert.Equal(t, t0, c.Now())
}
