// Package quietlog keeps a failure that repeats on every request from
// writing a log line on every request: one line per kind of failure per
// interval, with the count of those left out.
package quietlog

import (
	"sync"
	"time"
)

// Limiter decides which of many alike log lines to write. The zero Limiter
// lets one line per key through every DefaultInterval; it is safe for
// concurrent use.
type Limiter struct {
	// Interval is the least time between two lines of one key
	// (DefaultInterval when zero).
	Interval time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// DefaultInterval is the Limiter's interval when none is set.
const DefaultInterval = 10 * time.Second

// Allow reports whether a line about key may be written at now and, when it
// may, how many were held back since the last one.
func (l *Limiter) Allow(key string, now time.Time) (suppressed int, ok bool) {
	every := l.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.suppressed = map[string]time.Time{}, map[string]int{}
	}
	if last, seen := l.last[key]; seen && now.Sub(last) < every {
		l.suppressed[key]++
		return 0, false
	}
	n := l.suppressed[key]
	l.last[key], l.suppressed[key] = now, 0
	return n, true
}
