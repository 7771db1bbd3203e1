package drafts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Filter selects the caller's drafts for List.
type Filter struct {
	// AccountID keeps the drafts of one account ("" : all).
	AccountID string
	// Tag keeps the drafts carrying this tag, exactly ("" : all).
	Tag string
	// Limit (1–100; 0: 20) and Offset page the list, newest save first.
	Limit, Offset int
}

// List limits.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	MaxOffset    = 1_000_000
)

// List returns the caller's drafts that f selects, the last saved first,
// and how many it selects in all.
func (s *Service) List(ctx context.Context, f Filter) ([]Summary, int, error) {
	u, err := s.caller(ctx, ports.ActionRead)
	if err != nil {
		return nil, 0, err
	}
	v := &core.ValidationError{}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultLimit
	case f.Limit < 0 || f.Limit > MaxLimit:
		v.Add("limit", fmt.Sprintf("must be between 1 and %d", MaxLimit))
	}
	if f.Offset < 0 || f.Offset > MaxOffset {
		v.Add("offset", fmt.Sprintf("must be between 0 and %d", MaxOffset))
	}
	if !utf8.ValidString(f.AccountID) || hasControl(f.AccountID) || utf8.RuneCountInString(f.AccountID) > MaxAccountID {
		v.Add("account_id", fmt.Sprintf("must be an account id: at most %d characters of text", MaxAccountID))
	}
	if !utf8.ValidString(f.Tag) || utf8.RuneCountInString(f.Tag) > MaxTagLength {
		v.Add("tag", fmt.Sprintf("must be a tag: at most %d characters of text", MaxTagLength))
	}
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	q := ports.Query{
		Filters: []ports.Filter{{Field: doctype.FieldOwner, Op: ports.OpEq, Value: u.ID}},
		Orders:  []ports.Order{{Field: "last_saved_at", Desc: true}},
		Limit:   f.Limit, Offset: f.Offset,
	}
	if f.AccountID != "" {
		q.Filters = append(q.Filters, ports.Filter{Field: "account_id", Op: ports.OpEq, Value: f.AccountID})
	}
	if f.Tag != "" {
		q.Filters = append(q.Filters, ports.Filter{Field: "tag_index", Op: ports.OpLike, Value: doctypes.IndexPattern(f.Tag)})
	}
	res, err := s.repo.List(ctx, doctypes.EmailDraftDocType, q)
	if err != nil {
		return nil, 0, fmt.Errorf("list drafts: %w", err)
	}
	out := make([]Summary, 0, len(res.Items))
	for _, it := range res.Items {
		out = append(out, toSummary(it.(*doctypes.EmailDraft)))
	}
	return out, int(res.Total), nil
}

// Delete deletes the caller's draft id, its history, and then the files
// it attaches that are the caller's own and attached to nothing else, nor
// to another of the caller's drafts (a file already gone is fine; one that
// cannot be deleted is logged).
func (s *Service) Delete(ctx context.Context, id string) error {
	u, err := s.caller(ctx, ports.ActionDelete)
	if err != nil {
		return err
	}
	d, err := s.own(ctx, u, id)
	if err != nil {
		return err
	}
	if err := s.remove(ctx, d); err != nil {
		return err
	}
	if s.files == nil {
		return nil
	}
	for _, f := range d.Attachments {
		if used, err := s.usedElsewhere(ctx, u, f); err != nil || used {
			if err != nil {
				s.opts.Logger.WarnContext(ctx, "kept a deleted draft's file: could not tell whether another draft uses it", "draft", d.Name, "file", f, "err", err)
			}
			continue
		}
		if err := s.files.Delete(ctx, f); err != nil && !errors.Is(err, core.ErrNotFound) {
			s.opts.Logger.WarnContext(ctx, "could not delete a deleted draft's file", "draft", d.Name, "file", f, "err", err)
		}
	}
	return nil
}

// usedElsewhere reports whether another draft of the tenant, anyone's,
// attaches file id.
func (s *Service) usedElsewhere(ctx context.Context, u *ports.UserContext, id string) (bool, error) {
	res, err := s.repo.List(ctx, doctypes.EmailDraftDocType, ports.Query{
		Filters: []ports.Filter{
			{Field: "file_index", Op: ports.OpLike, Value: doctypes.IndexPattern(id)},
		},
		Limit: 1, SkipCount: true,
	})
	if err != nil {
		return false, fmt.Errorf("list drafts: %w", err)
	}
	return len(res.Items) > 0, nil
}

// remove deletes d and its history in one transaction, if d is still as
// it was read: a save that came in meanwhile makes it core.ErrConflict
// (the no-op update that checks the version also locks the row on
// PostgreSQL), so a confirmed save is never deleted unseen.
func (s *Service) remove(ctx context.Context, d *doctypes.EmailDraft) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		held := *d
		if err := s.repo.Update(ctx, doctypes.EmailDraftDocType, &held); err != nil {
			if errors.Is(err, core.ErrConflict) {
				return core.Publicf(core.ErrConflict, "draft %q changed meanwhile; read it again", clip(d.Name))
			}
			if errors.Is(err, core.ErrNotFound) {
				return notFound(d.Name)
			}
			return fmt.Errorf("hold draft: %w", err)
		}
		for {
			res, err := s.repo.List(ctx, doctypes.EmailDraftSaveDocType, ports.Query{
				Filters: s.savesOf(d.Owner, d.Name), Orders: newestFirst, Limit: 500, SkipCount: true,
			})
			if err != nil {
				return fmt.Errorf("list draft saves: %w", err)
			}
			for _, it := range res.Items {
				if err := s.repo.Delete(ctx, doctypes.EmailDraftSaveDocType, it.(*doctypes.EmailDraftSave).Name); err != nil && !errors.Is(err, core.ErrNotFound) {
					return fmt.Errorf("delete draft save: %w", err)
				}
			}
			if len(res.Items) < 500 {
				break
			}
		}
		if err := s.repo.Delete(ctx, doctypes.EmailDraftDocType, d.Name); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				return notFound(d.Name)
			}
			return fmt.Errorf("delete draft: %w", err)
		}
		return nil
	})
}

// History returns the recorded saves of the caller's draft id, newest
// first, without their snapshots.
func (s *Service) History(ctx context.Context, id string) ([]Save, error) {
	u, err := s.caller(ctx, ports.ActionRead)
	if err != nil {
		return nil, err
	}
	if _, err := s.own(ctx, u, id); err != nil {
		return nil, err
	}
	res, err := s.repo.List(ctx, doctypes.EmailDraftSaveDocType, ports.Query{
		Filters: s.savesOf(u.ID, id), Orders: newestFirst, Limit: s.opts.MaxHistory, SkipCount: true,
	})
	if err != nil {
		return nil, fmt.Errorf("list draft saves: %w", err)
	}
	out := make([]Save, 0, len(res.Items))
	for _, it := range res.Items {
		out = append(out, toSave(it.(*doctypes.EmailDraftSave), false))
	}
	return out, nil
}

// SaveOf returns save saveID of the caller's draft id, with its snapshot.
func (s *Service) SaveOf(ctx context.Context, id, saveID string) (*Save, error) {
	u, err := s.caller(ctx, ports.ActionRead)
	if err != nil {
		return nil, err
	}
	if _, err := s.own(ctx, u, id); err != nil {
		return nil, err
	}
	rec, err := s.saveRecord(ctx, u, id, saveID)
	if err != nil {
		return nil, err
	}
	sv := toSave(rec, true)
	return &sv, nil
}

// saveRecord returns save saveID of draft id of u: core.ErrNotFound when
// it is missing or another draft's.
func (s *Service) saveRecord(ctx context.Context, u *ports.UserContext, id, saveID string) (*doctypes.EmailDraftSave, error) {
	gone := core.Publicf(core.ErrNotFound, "save %q of draft %q not found", clip(saveID), clip(id))
	if checkName(saveID) != nil {
		return nil, gone
	}
	doc, err := s.repo.Get(ctx, doctypes.EmailDraftSaveDocType, saveID)
	if errors.Is(err, core.ErrNotFound) {
		return nil, gone
	}
	if err != nil {
		return nil, fmt.Errorf("read draft save: %w", err)
	}
	rec, ok := doc.(*doctypes.EmailDraftSave)
	if !ok || rec.Owner != u.ID || rec.DraftID != id {
		return nil, gone
	}
	return rec, nil
}

// RecoverResult is a recovery's outcome.
type RecoverResult struct {
	// Draft is the draft as restored.
	Draft Draft `json:"data"`
	// SaveID names the save the recovery recorded, RecoveredFrom the one
	// it restored.
	SaveID        string `json:"save_id"`
	RecoveredFrom string `json:"recovered_from"`
}

// Recover restores the caller's draft id as save saveID left it, as a new
// save with a bumped version. A save older than MaxRecoveryAge is refused
// (a *core.ValidationError naming save_id).
func (s *Service) Recover(ctx context.Context, id, saveID string) (*RecoverResult, error) {
	u, err := s.caller(ctx, ports.ActionWrite)
	if err != nil {
		return nil, err
	}
	if saveID == "" {
		return nil, core.Invalid("save_id", "is required")
	}
	for range maxAttempts {
		cur, err := s.own(ctx, u, id)
		if err != nil {
			return nil, err
		}
		rec, err := s.saveRecord(ctx, u, id, saveID)
		if err != nil {
			return nil, err
		}
		if age := s.opts.Now().Sub(rec.SavedAt); age > s.opts.MaxRecoveryAge {
			return nil, core.Invalidf("save_id", "the save is older than %s ([email.drafts] max_recovery_age) and can no longer be recovered", s.opts.MaxRecoveryAge)
		}
		v := &core.ValidationError{}
		next := normalize(v, "", rec.Snapshot)
		if err := v.Err(); err != nil {
			return nil, err
		}
		if size := Size(next); size > s.opts.MaxDraftBytes {
			return nil, s.tooBig("the saved draft", size)
		}
		if err := s.checkFiles(ctx, minus(next.Attachments, cur.Attachments)); err != nil {
			return nil, err
		}
		saved, newID, err := s.update(ctx, cur, next, rec.DeviceID, false, ResolutionRecover, rec.Name)
		if errors.Is(err, errRace) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &RecoverResult{Draft: toDraft(saved), SaveID: newID, RecoveredFrom: rec.Name}, nil
	}
	return nil, core.Publicf(core.ErrConflict, "draft %q is being saved from elsewhere; try again", clip(id))
}

// Sent is the email a draft became.
type Sent struct {
	ID        string    `json:"id"`
	MessageID string    `json:"message_id"`
	Status    string    `json:"status"`
	QueuedAt  time.Time `json:"queued_at"`
	SendAfter time.Time `json:"send_after,omitzero"`
}

// queueFields maps the email queue's field names to the draft's.
var queueFields = map[string]string{
	"body": "body_html", "text_body": "body", "in_reply_to": "references", "send_after": "scheduled_send_time",
}

// Send queues the caller's draft id as an email — subject, bodies,
// recipients, attachments, threaded on its references, held back until its
// scheduled send time — and then deletes the draft and its history (not
// its files: the email needs them). A draft the queue refuses is a
// *core.ValidationError naming the draft's field, and stays.
func (s *Service) Send(ctx context.Context, id string) (*Sent, error) {
	u, err := s.caller(ctx, ports.ActionSubmit)
	if err != nil {
		return nil, err
	}
	if s.queue == nil {
		return nil, core.Public(core.ErrNotSupported, "this app sends no email")
	}
	d, err := s.own(ctx, u, id)
	if err != nil {
		return nil, err
	}
	c := d.Content()
	v := &core.ValidationError{}
	c = normalize(v, "", c)
	if len(c.To)+len(c.Cc)+len(c.Bcc) == 0 {
		v.Add("to", "add at least one recipient (to, cc or bcc) before sending")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	req := email.Request{
		To: c.To, Cc: c.Cc, Bcc: c.Bcc, Subject: c.Subject, HTML: c.BodyHTML, Text: c.Body,
		Attachments: slices.Clone(c.Attachments), References: slices.Clone(c.References),
	}
	if n := len(c.References); n > 0 {
		req.InReplyTo = c.References[n-1]
	}
	if c.ScheduledSendTime != nil {
		req.SendAfter = *c.ScheduledSendTime
	}
	// The draft goes and the email is queued in one transaction (the
	// database queue joins it): two sends of one draft at once queue one
	// email, the other finds no draft.
	var q *ports.QueuedEmail
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.remove(ctx, d); err != nil {
			return err
		}
		var err error
		q, err = s.queue.QueueEmail(ctx, req)
		return err
	})
	if err != nil {
		var ve *core.ValidationError
		if errors.As(err, &ve) {
			out := &core.ValidationError{Message: ve.Message}
			for _, f := range ve.Fields {
				if to, ok := queueFields[f.Field]; ok {
					f.Field = to
				}
				out.Add(f.Field, f.Reason)
			}
			return nil, out
		}
		if errors.Is(err, core.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("queue draft: %w", err)
	}
	return &Sent{ID: q.ID, MessageID: q.MessageID, Status: q.Status, QueuedAt: q.QueuedAt, SendAfter: q.SendAfter}, nil
}
