package local

import (
	"context"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core/cleanup"
	"github.com/framework-m/framework-m/ports"
)

// expiringIDs keeps ids that matter until they expire (revoked tokens,
// used sign-in links) as rows of one DocType with an expires_at field,
// keyed by tenant and id: the database's unique key makes recording one
// id twice a conflict on every instance sharing it.
type expiringIDs struct {
	repo    ports.Repository
	doctype string
	purge   cleanup.Job
}

// withPurge makes Run delete the expired rows in every tenant through
// purger, every interval.
func (e *expiringIDs) withPurge(purger ports.Purger, interval time.Duration, log *slog.Logger) {
	e.purge = cleanup.Job{Purger: purger, DocType: e.doctype, Field: "expires_at", Interval: interval, Log: log}
}

// Run purges expired rows until ctx is done (see WithPurge; without it Run
// returns at once).
func (e *expiringIDs) Run(ctx context.Context) { e.purge.Run(ctx) }

// record stores doc, the row of one id; an id recorded before is
// core.ErrConflict.
func (e *expiringIDs) record(ctx context.Context, doc any) error {
	return e.repo.Create(ctx, e.doctype, doc)
}
