package frameworkm

import (
	"context"
	"errors"
	"fmt"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email/drafts"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/ports"
)

// buildEmailDrafts builds the email drafts service over the queue
// ([email.drafts]).
func (a *App) buildEmailDrafts() error {
	c := a.Config.Email.Drafts
	var q drafts.Queuer
	if a.Email != nil {
		q = a.Email
	}
	var f drafts.Files
	if a.Files != nil {
		f = draftFiles{files: a.Files}
	}
	a.EmailDrafts = drafts.New(a.Repository, q, f, drafts.Options{
		MaxDraftBytes:  c.MaxDraftBytes(),
		MaxRecoveryAge: c.RecoveryAge(),
		MaxHistory:     c.MaxHistory,
		Logger:         a.Logger,
	})
	return nil
}

// draftFiles are drafts' attachments from the app's files: checked with
// the caller's permissions; deleted with a draft only when they are the
// caller's own and attached to no document.
type draftFiles struct{ files *files.Service }

// Check reports the first file of ids the principal in ctx may not read.
func (f draftFiles) Check(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := f.files.Get(ctx, id); err != nil {
			if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrForbidden) {
				return core.Invalidf("attachments", "file %q not found", clipFileID(id))
			}
			return fmt.Errorf("check attachment: %w", err)
		}
	}
	return nil
}

// Delete deletes file id when the principal in ctx owns it and it is
// attached to no document; other files are left alone.
func (f draftFiles) Delete(ctx context.Context, id string) error {
	rec, err := f.files.Get(ctx, id)
	if err != nil {
		return err
	}
	u := ports.UserFrom(ctx)
	if u == nil || rec.Owner != u.ID || rec.AttachedToDoctype != "" {
		return nil
	}
	return f.files.Delete(ctx, id)
}

func clipFileID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}
