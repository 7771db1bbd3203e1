// Package cleanup runs the maintenance jobs that delete expired rows of a
// DocType in every tenant (expired sessions, revoked-token records) through
// the store's ports.Purger.
package cleanup

import (
	"context"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// DefaultInterval is how often a Job runs when given no positive Interval.
const DefaultInterval = 10 * time.Minute

// Job deletes the rows of DocType whose time Field is in the past.
type Job struct {
	Purger  ports.Purger
	DocType string
	// Field is the JSON name of the expiry time field.
	Field    string
	Interval time.Duration
	// Log receives failures (slog.Default() when nil).
	Log *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Once deletes the expired rows now and returns how many; without a Purger
// it does nothing.
func (j Job) Once(ctx context.Context) (int64, error) {
	if j.Purger == nil {
		return 0, nil
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	return j.Purger.PurgeBefore(ctx, j.DocType, j.Field, now())
}

// Run calls Once at once and then every Interval until ctx is done. Failures
// are logged, and the next round tries again.
func (j Job) Run(ctx context.Context) {
	if j.Purger == nil {
		return
	}
	log := j.Log
	if log == nil {
		log = slog.Default()
	}
	interval := j.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := j.Once(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.ErrorContext(ctx, "cleanup failed", "doctype", j.DocType, "err", err)
		case n > 0:
			log.DebugContext(ctx, "expired rows deleted", "doctype", j.DocType, "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
