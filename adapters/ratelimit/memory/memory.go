// Package memory is an in-process rate limiter (fixed windows per key). It is
// right for one instance; several instances need a shared limiter (Redis).
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/framework-m/framework-m/ports"
)

type window struct {
	start time.Time
	size  time.Duration
	count int
}

// Limiter counts events per key in fixed windows.
type Limiter struct {
	mu      sync.Mutex
	windows map[string]*window
	now     func() time.Time
	calls   int
}

// New returns an empty Limiter.
func New() *Limiter { return &Limiter{windows: map[string]*window{}, now: time.Now} }

// WithClock replaces the clock (tests).
func (l *Limiter) WithClock(now func() time.Time) *Limiter { l.now = now; return l }

func (l *Limiter) current(key string, size time.Duration, now time.Time) *window {
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= size {
		w = &window{start: now, size: size}
		l.windows[key] = w
	}
	return w
}

func decision(w *window, limit int, size time.Duration, now time.Time, allowed bool) ports.RateDecision {
	reset := w.start.Add(size)
	d := ports.RateDecision{Allowed: allowed, Limit: limit, Remaining: max(0, limit-w.count), Reset: reset}
	if !allowed {
		d.RetryAfter = reset.Sub(now)
	}
	return d
}

// Allow counts one event for key.
func (l *Limiter) Allow(_ context.Context, key string, limit int, size time.Duration) (ports.RateDecision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now, size)
	w := l.current(key, size, now)
	if w.count >= limit {
		return decision(w, limit, size, now, false), nil
	}
	w.count++
	return decision(w, limit, size, now, true), nil
}

// Peek says whether one more event would be allowed, without counting it.
func (l *Limiter) Peek(_ context.Context, key string, limit int, size time.Duration) (ports.RateDecision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= size {
		return ports.RateDecision{Allowed: true, Limit: limit, Remaining: limit, Reset: now.Add(size)}, nil
	}
	return decision(w, limit, size, now, w.count < limit), nil
}

// Reset forgets key.
func (l *Limiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.windows, key)
	l.mu.Unlock()
	return nil
}

// sweep drops ended windows now and then (each by its own size), so memory
// stays bounded by the keys active within their windows.
func (l *Limiter) sweep(now time.Time, _ time.Duration) {
	l.calls++
	if l.calls%1024 != 0 {
		return
	}
	for k, w := range l.windows {
		if now.Sub(w.start) >= w.size {
			delete(l.windows, k)
		}
	}
}

var _ ports.RateLimiter = (*Limiter)(nil)
