package local

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/cleanup"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// MagicLinkUses is an auth.MagicLinkUses on the Magic Link Use DocType: the
// database's unique (tenant, name) key makes each link work once across
// every instance sharing it.
type MagicLinkUses struct {
	repo  ports.Repository
	purge cleanup.Job
}

// NewMagicLinkUses returns used-link records stored through repo.
func NewMagicLinkUses(repo ports.Repository) *MagicLinkUses { return &MagicLinkUses{repo: repo} }

// WithPurge makes Run delete the records of expired links in every tenant
// through purger, every interval.
func (u *MagicLinkUses) WithPurge(purger ports.Purger, interval time.Duration, log *slog.Logger) *MagicLinkUses {
	u.purge = cleanup.Job{Purger: purger, DocType: doctypes.MagicLinkUseDocType, Field: "expires_at", Interval: interval, Log: log}
	return u
}

// Run purges expired records until ctx is done (see WithPurge; without it
// Run returns at once).
func (u *MagicLinkUses) Run(ctx context.Context) { u.purge.Run(ctx) }

// Use records link id of userID, expiring at exp, as used in the tenant of
// ctx; a link used before is core.ErrConflict.
func (u *MagicLinkUses) Use(ctx context.Context, id, userID string, exp time.Time) error {
	d := &doctypes.MagicLinkUse{Base: doctype.Base{Name: id, Owner: userID}, UserID: userID, ExpiresAt: exp.UTC()}
	err := u.repo.Create(ctx, doctypes.MagicLinkUseDocType, d)
	if errors.Is(err, core.ErrConflict) {
		return core.Public(core.ErrConflict, "this sign-in link was already used")
	}
	return err
}

var _ auth.MagicLinkUses = (*MagicLinkUses)(nil)
