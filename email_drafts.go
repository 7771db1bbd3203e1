package frameworkm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email/drafts"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/doctypes"
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
		f = draftFiles{files: a.Files, repo: a.Repository}
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
// caller's own, attached to no document, and carried by no email waiting
// to be sent.
type draftFiles struct {
	files *files.Service
	repo  ports.Repository
}

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
	if pending, err := f.queued(ctx, id); err != nil || pending {
		return err
	}
	return f.files.Delete(ctx, id)
}

// queued reports whether an email waiting to be sent (Queued or Sending)
// in the tenant of ctx carries file id (a draft sent earlier, say).
func (f draftFiles) queued(ctx context.Context, id string) (bool, error) {
	if strings.ContainsAny(id, `%_\"`) {
		return true, nil // no LIKE pattern says it exactly: keep the file
	}
	res, err := f.repo.List(ctx, doctypes.EmailQueueDocType, ports.Query{
		Filters: []ports.Filter{
			{Field: "attachments", Op: ports.OpLike, Value: `%"` + id + `"%`},
			{Field: "status", Op: ports.OpIn, Value: []string{ports.EmailQueued, ports.EmailSending}},
		},
		Limit: 1, SkipCount: true,
	})
	if err != nil {
		return false, fmt.Errorf("look for queued emails carrying the file: %w", err)
	}
	return len(res.Items) > 0, nil
}

func clipFileID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}
