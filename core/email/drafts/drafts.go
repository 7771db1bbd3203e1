// Package drafts keeps users' email drafts on the server: auto-save with
// conflict resolution, a history of saves, export and import, and sending
// through the email queue.
//
// Every operation acts for the principal in ctx, in the tenant of ctx, on
// that user's own drafts only: another user's draft, or another tenant's,
// is core.ErrNotFound whatever the caller's roles. Each save names the
// version it edits; a stale one is a *ConflictError (core.ErrConflict)
// carrying the server's copy, unless the save names a strategy that
// resolves it (local-wins, remote-wins, merge). Every save is recorded as
// an Email Draft Save holding the draft as saved, so that it can be
// recovered while it is younger than the recovery age.
package drafts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Queuer queues emails: *email.Service.
type Queuer interface {
	// QueueEmail checks req and queues it for the principal in ctx.
	QueueEmail(ctx context.Context, req email.Request) (*ports.QueuedEmail, error)
}

// Files checks and deletes the files drafts attach.
type Files interface {
	// Check returns a *core.ValidationError naming "attachments" unless the
	// principal in ctx may read every file of ids.
	Check(ctx context.Context, ids []string) error
	// Delete deletes file id for the principal in ctx, if it is theirs to
	// delete; a file that is gone is core.ErrNotFound.
	Delete(ctx context.Context, id string) error
}

// Strategies resolving a save that names a stale version.
const (
	// LocalWins: the request's content replaces the server's.
	LocalWins = "local-wins"
	// RemoteWins: the server's copy stays.
	RemoteWins = "remote-wins"
	// Merge: recipients, tags, attachments and references united; the
	// account, subject, bodies and schedule of the newer save.
	Merge = "merge"
)

// Strategies lists the conflict strategies.
var Strategies = []string{LocalWins, RemoteWins, Merge}

// Resolutions of saves that are not conflict resolutions.
const (
	// ResolutionRecover marks a save made by Recover.
	ResolutionRecover = "recover"
	// ResolutionImport marks a draft created by Import.
	ResolutionImport = "import"
)

// BundleFormat is the format of an export bundle.
const BundleFormat = "framework-m.email-drafts/1"

// Defaults of Options.
const (
	DefaultMaxDraftBytes  = 10 << 20
	DefaultMaxRecoveryAge = 720 * time.Hour
	DefaultMaxHistory     = 50
	// MaxImportCap bounds the default import limit (100 drafts of the
	// largest size, at most this).
	MaxImportCap = 256 << 20
	// MaxImportDrafts is the most drafts one bundle may hold.
	MaxImportDrafts = 10_000
)

// Options configure a Service ([email.drafts]).
type Options struct {
	// MaxDraftBytes bounds one draft (see Size): a save past it is
	// core.ErrPayloadTooBig and saves nothing.
	MaxDraftBytes int64
	// MaxRecoveryAge is how old a save may be to be recovered; older saves
	// are pruned when the draft is saved next.
	MaxRecoveryAge time.Duration
	// MaxHistory is how many saves of one draft are kept (1–1000).
	MaxHistory int
	// MaxImportBytes bounds an import bundle, compressed and decompressed
	// (default 100 × MaxDraftBytes, at most MaxImportCap).
	MaxImportBytes int64
	// Logger receives what fails after the fact (files left behind).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxDraftBytes <= 0 {
		o.MaxDraftBytes = DefaultMaxDraftBytes
	}
	if o.MaxRecoveryAge <= 0 {
		o.MaxRecoveryAge = DefaultMaxRecoveryAge
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = DefaultMaxHistory
	}
	o.MaxHistory = min(o.MaxHistory, 1000)
	if o.MaxImportBytes <= 0 {
		o.MaxImportBytes = min(100*o.MaxDraftBytes, MaxImportCap)
		o.MaxImportBytes = max(o.MaxImportBytes, 2*o.MaxDraftBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Service manages the email drafts of the principal in ctx.
type Service struct {
	repo  ports.Repository
	queue Queuer
	files Files
	opts  Options
}

// New returns the drafts service storing drafts in repo and sending them
// through q. files may be nil: drafts then carry no attachments (a draft
// naming one is refused with a 400).
func New(repo ports.Repository, q Queuer, files Files, opts Options) *Service {
	opts.defaults()
	return &Service{repo: repo, queue: q, files: files, opts: opts}
}

// MaxDraftBytes is the largest draft a save may hold.
func (s *Service) MaxDraftBytes() int64 { return s.opts.MaxDraftBytes }

// MaxImportBytes is the largest import bundle, compressed or not.
func (s *Service) MaxImportBytes() int64 { return s.opts.MaxImportBytes }

// Content is what a user writes in a draft.
type Content = doctypes.EmailDraftContent

// Draft is one of the caller's drafts as the API shows it.
type Draft struct {
	// ID names the draft (chosen by the client).
	ID string `json:"id"`
	Content
	// Version is what the next save must name.
	Version int64 `json:"version"`
	// DeviceID names the device of the last save.
	DeviceID string `json:"device_id"`
	// Size is the draft's size as the limit counts it (see Size).
	Size int64 `json:"size"`
	// CreatedAt is when the draft was first saved, LastSavedAt when last.
	CreatedAt   time.Time `json:"created_at"`
	LastSavedAt time.Time `json:"last_saved_at"`
}

// Summary is a draft in a list: everything but its bodies, and the start
// of its text.
type Summary struct {
	ID                string               `json:"id"`
	AccountID         string               `json:"account_id"`
	To                []ports.EmailAddress `json:"to"`
	Cc                []ports.EmailAddress `json:"cc"`
	Bcc               []ports.EmailAddress `json:"bcc"`
	Subject           string               `json:"subject"`
	Snippet           string               `json:"snippet"`
	Attachments       []string             `json:"attachments"`
	Tags              []string             `json:"tags"`
	References        []string             `json:"references"`
	ScheduledSendTime *time.Time           `json:"scheduled_send_time"`
	Version           int64                `json:"version"`
	DeviceID          string               `json:"device_id"`
	Size              int64                `json:"size"`
	CreatedAt         time.Time            `json:"created_at"`
	LastSavedAt       time.Time            `json:"last_saved_at"`
}

// Save is one recorded save of a draft.
type Save struct {
	// ID names the save (for Recover).
	ID      string `json:"id"`
	DraftID string `json:"draft_id"`
	// Version is the draft's version after the save.
	Version  int64  `json:"version"`
	DeviceID string `json:"device_id"`
	// FieldsChanged lists the draft's fields the save changed.
	FieldsChanged      []string `json:"fields_changed"`
	AttachmentsAdded   []string `json:"attachments_added"`
	AttachmentsRemoved []string `json:"attachments_removed"`
	// BytesAdded is how much the draft grew (negative: shrank).
	BytesAdded int64 `json:"bytes_added"`
	// Conflict says the save named a stale version; Resolution names the
	// strategy that resolved it ("recover" and "import" for those saves).
	Conflict      bool   `json:"conflict"`
	Resolution    string `json:"resolution"`
	RecoveredFrom string `json:"recovered_from,omitempty"`
	// Subject is the subject as saved, Size the draft's size.
	Subject string    `json:"subject"`
	Size    int64     `json:"size"`
	SavedAt time.Time `json:"saved_at"`
	// Snapshot is the draft as saved (only from SaveOf).
	Snapshot *Content `json:"snapshot,omitempty"`
}

// ConflictError is a save naming a stale version without a strategy: it
// carries the server's copy, so that the client can resolve the conflict
// and save again. It matches core.ErrConflict.
type ConflictError struct {
	// Version is the version the save named.
	Version int64
	// Server is the draft as the server has it.
	Server Draft
}

// Error says what happened and how to go on.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("draft %q was saved elsewhere: version %d is stale, the current version is %d; "+
		"save again with version %d, or name a strategy (local-wins, remote-wins or merge)",
		clip(e.Server.ID), e.Version, e.Server.Version, e.Server.Version)
}

// Unwrap makes errors.Is(err, core.ErrConflict) true, with Error as the
// client's message.
func (e *ConflictError) Unwrap() error { return core.Public(core.ErrConflict, e.Error()) }

// caller returns the principal of ctx, who must have a credential whose
// scopes allow action on drafts, and the tenant.
func (s *Service) caller(ctx context.Context, action ports.Action) (*ports.UserContext, error) {
	u := ports.UserFrom(ctx)
	if u == nil || u.ID == "" {
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	}
	if _, err := core.RequireTenant(ctx); err != nil {
		return nil, err
	}
	if !u.ScopeAllows(doctypes.EmailDraftDocType, action) {
		return nil, core.Publicf(core.ErrForbidden, "this credential's scopes do not allow %s on %s", action, doctypes.EmailDraftDocType)
	}
	return u, nil
}

// notFound is the answer for a draft the caller has not: missing, another
// user's or another tenant's alike.
func notFound(id string) error {
	return core.Publicf(core.ErrNotFound, "draft %q not found", clip(id))
}

// lookup returns draft id of the tenant in ctx, nil when there is none.
func (s *Service) lookup(ctx context.Context, id string) (*doctypes.EmailDraft, error) {
	doc, err := s.repo.Get(ctx, doctypes.EmailDraftDocType, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read draft: %w", err)
	}
	d, ok := doc.(*doctypes.EmailDraft)
	if !ok {
		return nil, fmt.Errorf("read draft: unexpected %T", doc)
	}
	return d, nil
}

// own returns the caller's draft id: core.ErrNotFound when it is missing
// or someone else's.
func (s *Service) own(ctx context.Context, u *ports.UserContext, id string) (*doctypes.EmailDraft, error) {
	if checkID(id) != nil {
		return nil, notFound(id)
	}
	d, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if d == nil || d.Owner != u.ID {
		return nil, notFound(id)
	}
	return d, nil
}

// Get returns the caller's draft id.
func (s *Service) Get(ctx context.Context, id string) (*Draft, error) {
	u, err := s.caller(ctx, ports.ActionRead)
	if err != nil {
		return nil, err
	}
	d, err := s.own(ctx, u, id)
	if err != nil {
		return nil, err
	}
	out := toDraft(d)
	return &out, nil
}

// toDraft is d as the API shows it.
func toDraft(d *doctypes.EmailDraft) Draft {
	return Draft{
		ID: d.Name, Content: d.Content(), Version: d.Version, DeviceID: d.DeviceID, Size: d.Size,
		CreatedAt: d.CreatedAt.UTC(), LastSavedAt: d.LastSavedAt.UTC(),
	}
}

// toSummary is d in a list.
func toSummary(d *doctypes.EmailDraft) Summary {
	c := d.Content()
	return Summary{
		ID: d.Name, AccountID: c.AccountID, To: c.To, Cc: c.Cc, Bcc: c.Bcc, Subject: c.Subject,
		Snippet: Snippet(c, 200), Attachments: c.Attachments, Tags: c.Tags, References: c.References,
		ScheduledSendTime: c.ScheduledSendTime, Version: d.Version, DeviceID: d.DeviceID, Size: d.Size,
		CreatedAt: d.CreatedAt.UTC(), LastSavedAt: d.LastSavedAt.UTC(),
	}
}

// toSave is a recorded save as the API shows it (with its snapshot when
// snapshot).
func toSave(r *doctypes.EmailDraftSave, snapshot bool) Save {
	sv := Save{
		ID: r.Name, DraftID: r.DraftID, Version: r.DraftVersion, DeviceID: r.DeviceID,
		FieldsChanged: nonNil(r.FieldsChanged), AttachmentsAdded: nonNil(r.AttachmentsAdded),
		AttachmentsRemoved: nonNil(r.AttachmentsRemoved), BytesAdded: r.BytesAdded,
		Conflict: r.Conflict, Resolution: r.Resolution, RecoveredFrom: r.RecoveredFrom,
		Subject: r.Snapshot.Subject, Size: r.Size, SavedAt: r.SavedAt.UTC(),
	}
	if snapshot {
		c := r.Snapshot.Normalized()
		sv.Snapshot = &c
	}
	return sv
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// now is the clock as documents store it.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// clip shortens an id for messages.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
