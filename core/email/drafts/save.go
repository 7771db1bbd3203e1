package drafts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// SaveInput is one auto-save of a draft: its whole content, the version it
// edits and the device saving it.
type SaveInput struct {
	Content
	// Version is the draft's version the client edited (0: a new draft).
	Version int64 `json:"version"`
	// DeviceID names the saving device (at most 200 bytes).
	DeviceID string `json:"device_id"`
	// Strategy resolves a stale Version: local-wins, remote-wins or merge
	// ("" : a stale version is a *ConflictError).
	Strategy string `json:"strategy"`
	// SavedAt is when the client made the edit (its clock): merge keeps the
	// subject and bodies of the newer copy. LastSavedAt is read the same
	// way when SavedAt is absent. Neither: the request is the newer.
	SavedAt     *time.Time `json:"saved_at"`
	LastSavedAt *time.Time `json:"last_saved_at"`
}

// SaveResult is a save's outcome.
type SaveResult struct {
	// Draft is the draft as saved (remote-wins: as the server had it).
	Draft Draft `json:"data"`
	// Created says the save created the draft.
	Created bool `json:"created"`
	// Conflict says the save named a stale version; Resolution names the
	// strategy that resolved it.
	Conflict   bool   `json:"conflict"`
	Resolution string `json:"resolution"`
	// SaveID names the recorded save.
	SaveID string `json:"save_id"`
}

// maxAttempts bounds the retries of a save that raced another.
const maxAttempts = 3

// errRace is a write that lost a race with another: tried again.
var errRace = errors.New("draft changed while saving")

// Save saves draft id of the caller: creates it (version 0 or absent),
// or updates it when in.Version is the stored one. A stale version is a
// *ConflictError carrying the server's copy unless in.Strategy resolves it.
// Every save bumps the version and records an Email Draft Save. A draft
// past the size limit is core.ErrPayloadTooBig; invalid content a
// *core.ValidationError naming the field; nothing is saved then.
func (s *Service) Save(ctx context.Context, id string, in SaveInput) (*SaveResult, error) {
	u, err := s.caller(ctx, ports.ActionWrite)
	if err != nil {
		return nil, err
	}
	v := &core.ValidationError{}
	if err := checkID(id); err != nil {
		v.Add("id", err.Error())
	}
	if in.Version < 0 {
		v.Add("version", "must be the draft's version (0 or absent for a new draft)")
	}
	checkDevice(v, "device_id", in.DeviceID)
	if in.Strategy != "" && !slices.Contains(Strategies, in.Strategy) {
		v.Add("strategy", "must be "+strings.Join(Strategies, ", ")+" or absent")
	}
	content := normalize(v, "", in.Content)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if size := Size(content); size > s.opts.MaxDraftBytes {
		return nil, s.tooBig("the draft", size)
	}
	if len(content.Attachments) > 0 && s.files == nil {
		return nil, core.Invalid("attachments", "this app stores no files")
	}
	clientAt := in.SavedAt
	if clientAt == nil {
		clientAt = in.LastSavedAt
	}
	for range maxAttempts - 1 {
		res, err := s.save(ctx, u, id, in, content, clientAt)
		if !errors.Is(err, errRace) {
			return res, err
		}
	}
	res, err := s.save(ctx, u, id, in, content, clientAt)
	if errors.Is(err, errRace) {
		return nil, core.Publicf(core.ErrConflict, "draft %q is being saved from elsewhere; try again", clip(id))
	}
	return res, err
}

// save is one attempt of Save.
func (s *Service) save(ctx context.Context, u *ports.UserContext, id string, in SaveInput, content Content, clientAt *time.Time) (*SaveResult, error) {
	cur, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.Owner != u.ID {
		return nil, notFound(id)
	}
	if cur == nil {
		if in.Version != 0 {
			return nil, notFound(id) // as for another user's draft: ids reveal nothing

		}
		if err := s.checkFiles(ctx, content.Attachments); err != nil {
			return nil, err
		}
		return s.create(ctx, u, id, content, in.DeviceID, "", s.now())
	}
	res := &SaveResult{}
	next := content
	if in.Version != cur.Version {
		res.Conflict, res.Resolution = true, in.Strategy
		switch in.Strategy {
		case "":
			return nil, &ConflictError{Version: in.Version, Server: toDraft(cur)}
		case RemoteWins:
			next = cur.Content()
		case Merge:
			newer := clientAt == nil || !clientAt.Before(cur.LastSavedAt)
			v := &core.ValidationError{}
			next = normalize(v, "", MergeContent(cur.Content(), content, newer))
			if err := v.Err(); err != nil {
				return nil, err
			}
			if size := Size(next); size > s.opts.MaxDraftBytes {
				return nil, s.tooBig("the merged draft", size)
			}
		}
	}
	if err := s.checkFiles(ctx, minus(next.Attachments, cur.Attachments)); err != nil {
		return nil, err
	}
	// remote-wins saves the server's copy again: a save like any other (the
	// version moves on, the history records the conflict), checked against
	// a concurrent save or delete like any other.
	saved, saveID, err := s.update(ctx, cur, next, in.DeviceID, res.Conflict, res.Resolution, "")
	if err != nil {
		return nil, err
	}
	res.Draft, res.SaveID = toDraft(saved), saveID
	return res, nil
}

// checkFiles checks the caller may read the files of ids.
func (s *Service) checkFiles(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if s.files == nil {
		return core.Invalid("attachments", "this app stores no files")
	}
	return s.files.Check(ctx, ids)
}

// create stores a new draft id of u with content and records its first
// save; lastSaved is its last_saved_at.
func (s *Service) create(ctx context.Context, u *ports.UserContext, id string, content Content, device, resolution string, lastSaved time.Time) (*SaveResult, error) {
	d := &doctypes.EmailDraft{Base: doctype.Base{Name: id, Owner: u.ID}, DeviceID: device, LastSavedAt: lastSaved}
	d.SetContent(content)
	d.Size = Size(content)
	res := &SaveResult{Created: true, Resolution: resolution}
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.repo.Create(ctx, doctypes.EmailDraftDocType, d); err != nil {
			if errors.Is(err, core.ErrConflict) {
				return errRace // created meanwhile, by this user or another
			}
			return fmt.Errorf("create draft: %w", err)
		}
		rec, err := s.record(ctx, d, Content{}, 0, device, false, resolution, "")
		if err != nil {
			return err
		}
		res.SaveID = rec.Name
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Draft = toDraft(d)
	return res, nil
}

// update saves cur with content next (cur's version must still be the
// stored one), records the save and returns the draft as saved and the
// save's id.
func (s *Service) update(ctx context.Context, cur *doctypes.EmailDraft, next Content, device string, conflict bool, resolution, recoveredFrom string) (*doctypes.EmailDraft, string, error) {
	prev, prevSize := cur.Content(), cur.Size
	d := *cur
	d.SetContent(next)
	d.Size = Size(next)
	d.DeviceID = device
	d.LastSavedAt = s.now()
	var saveID string
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.repo.Update(ctx, doctypes.EmailDraftDocType, &d); err != nil {
			if errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrNotFound) {
				return errRace
			}
			return fmt.Errorf("save draft: %w", err)
		}
		rec, err := s.record(ctx, &d, prev, prevSize, device, conflict, resolution, recoveredFrom)
		if err != nil {
			return err
		}
		saveID = rec.Name
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return &d, saveID, nil
}

// record stores the save that left d as it is, from prev of prevSize
// bytes, and prunes d's history.
func (s *Service) record(ctx context.Context, d *doctypes.EmailDraft, prev Content, prevSize int64, device string, conflict bool, resolution, recoveredFrom string) (*doctypes.EmailDraftSave, error) {
	now := s.now()
	content := d.Content()
	rec := &doctypes.EmailDraftSave{
		Base:    doctype.Base{Name: doctype.NewUUIDv7(), Owner: d.Owner},
		DraftID: d.Name, DraftVersion: d.Version, DeviceID: device,
		FieldsChanged:      FieldsChanged(prev, content),
		AttachmentsAdded:   minus(content.Attachments, prev.Attachments),
		AttachmentsRemoved: minus(prev.Attachments, content.Attachments),
		BytesAdded:         d.Size - prevSize,
		Conflict:           conflict, Resolution: resolution, RecoveredFrom: recoveredFrom,
		Snapshot: content, Size: d.Size, SavedAt: now,
	}
	if err := s.repo.Create(ctx, doctypes.EmailDraftSaveDocType, rec); err != nil {
		return nil, fmt.Errorf("record draft save: %w", err)
	}
	if err := s.prune(ctx, d, now); err != nil {
		return nil, err
	}
	return rec, nil
}

// prune deletes the saves of d past MaxHistory and those older than
// MaxRecoveryAge.
func (s *Service) prune(ctx context.Context, d *doctypes.EmailDraft, now time.Time) error {
	mine := s.savesOf(d.Owner, d.Name)
	for _, q := range []ports.Query{
		{Filters: mine, Orders: newestFirst, Offset: s.opts.MaxHistory, Limit: 1000, SkipCount: true},
		{Filters: slices.Concat(mine, []ports.Filter{{Field: "saved_at", Op: ports.OpLt, Value: now.Add(-s.opts.MaxRecoveryAge)}}),
			Orders: newestFirst, Limit: 1000, SkipCount: true},
	} {
		res, err := s.repo.List(ctx, doctypes.EmailDraftSaveDocType, q)
		if err != nil {
			return fmt.Errorf("list draft saves: %w", err)
		}
		for _, it := range res.Items {
			rec := it.(*doctypes.EmailDraftSave)
			if err := s.repo.Delete(ctx, doctypes.EmailDraftSaveDocType, rec.Name); err != nil && !errors.Is(err, core.ErrNotFound) {
				return fmt.Errorf("prune draft saves: %w", err)
			}
		}
	}
	return nil
}

// newestFirst orders saves.
var newestFirst = []ports.Order{{Field: "saved_at", Desc: true}, {Field: doctype.FieldName, Desc: true}}

// savesOf selects the saves of draft id of owner.
func (s *Service) savesOf(owner, id string) []ports.Filter {
	return []ports.Filter{
		{Field: doctype.FieldOwner, Op: ports.OpEq, Value: owner},
		{Field: "draft_id", Op: ports.OpEq, Value: id},
	}
}
