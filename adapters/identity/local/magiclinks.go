package local

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// MagicLinkUses is an auth.MagicLinkUses on the Magic Link Use DocType: the
// database's unique (tenant, name) key makes each link work once across
// every instance sharing it.
type MagicLinkUses struct{ expiringIDs }

// NewMagicLinkUses returns used-link records stored through repo.
func NewMagicLinkUses(repo ports.Repository) *MagicLinkUses {
	return &MagicLinkUses{expiringIDs{repo: repo, doctype: doctypes.MagicLinkUseDocType}}
}

// WithPurge makes Run delete the records of expired links in every tenant
// through purger, every interval.
func (u *MagicLinkUses) WithPurge(purger ports.Purger, interval time.Duration, log *slog.Logger) *MagicLinkUses {
	u.withPurge(purger, interval, log)
	return u
}

// Use records link id of userID, expiring at exp, as used in the tenant of
// ctx; a link used before is core.ErrConflict.
func (u *MagicLinkUses) Use(ctx context.Context, id, userID string, exp time.Time) error {
	err := u.record(ctx, &doctypes.MagicLinkUse{Base: doctype.Base{Name: id, Owner: userID}, UserID: userID, ExpiresAt: exp.UTC()})
	if errors.Is(err, core.ErrConflict) {
		return core.Public(core.ErrConflict, "this sign-in link was already used")
	}
	return err
}

var _ auth.MagicLinkUses = (*MagicLinkUses)(nil)
