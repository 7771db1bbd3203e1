package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/readahead"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Options are the rules of stored files ([files]).
type Options struct {
	// MaxUploadSize caps one file, in bytes.
	MaxUploadSize int64
	// AllowedExtensions are the extensions accepted (lower case, no dot).
	AllowedExtensions []string
	// PartSize is the size of an upload session's parts (all but the last).
	PartSize int64
	// SessionTTL is how long an upload session stays open.
	SessionTTL time.Duration
	// PresignExpiry is how long presigned URLs work.
	PresignExpiry time.Duration
	// PresignedDownloads sends downloads of public files to the storage's
	// presigned URLs, when it has them.
	PresignedDownloads bool
	// PendingTTL is how long the bytes of an upload may stay in storage
	// without a File record before the sweep removes them (default 1 h).
	PendingTTL time.Duration
	// URLPrefix is the path of the download route, followed by a file's id
	// in its file_url (default "/api/v1/file/").
	URLPrefix string
	// Purger lists expired upload rows across tenants for the sweep (nil:
	// no sweep).
	Purger ports.Purger
	// SweepEvery is how often the sweep runs (default 5 minutes).
	SweepEvery time.Duration
	// Logger receives what the service does in the background.
	Logger *slog.Logger
	// Meter receives fm_storage_bytes_total{direction} (the bytes streamed
	// to and from the storage) and fm_storage_operations_total{op,result}
	// (nil: none).
	Meter ports.Meter
}

// Service is the file rules over a storage: uploads (at once, in parts, or
// presigned), downloads, deletions, attachments and the sweep of what
// uploads left behind. Every object it writes is first announced by a File
// Upload row, deleted in the transaction that creates the File record; the
// sweep removes the bytes of rows left past their expiry (a crash between
// storing and recording leaks nothing for long).
type Service struct {
	res     *resource.Service
	repo    ports.Repository
	store   ports.Storage
	sniff   ports.ContentSniffer
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	allowed map[string]bool
	metrics *metrics
}

// New returns the file service storing bytes in store and records through
// repo (which must be the repository res reads, emitting change events),
// checking permissions with res and types with sniff. It subscribes to
// changes so that deleting a File removes its bytes and deleting any other
// document removes its attachments.
func New(res *resource.Service, repo ports.Repository, changes ports.ChangeFeed, store ports.Storage, sniff ports.ContentSniffer, opts Options) *Service {
	if opts.PendingTTL <= 0 {
		opts.PendingTTL = time.Hour
	}
	if opts.URLPrefix == "" {
		opts.URLPrefix = "/api/v1/file/"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{res: res, repo: repo, store: store, sniff: sniff, opts: opts, now: time.Now, log: opts.Logger, allowed: map[string]bool{},
		metrics: newMetrics(opts.Meter)}
	for _, e := range opts.AllowedExtensions {
		s.allowed[strings.ToLower(e)] = true
	}
	if changes != nil {
		changes.Subscribe(doctypes.FileDocType, s.fileChanged)
		changes.Subscribe(ports.AllDocTypes, s.documentChanged)
	}
	return s
}

// Storage returns the storage the service keeps bytes in.
func (s *Service) Storage() ports.Storage { return s.store }

// Options returns the service's rules.
func (s *Service) Options() Options { return s.opts }

// Attachment names the document a file is attached to (both empty: none).
type Attachment struct {
	DocType string `json:"attached_to_doctype"`
	Name    string `json:"attached_to_name"`
}

// UploadRequest is one file sent at once.
type UploadRequest struct {
	// FileName is the name the client gave the file.
	FileName string
	// Body is its content, read once.
	Body io.Reader
	// AttachedTo is the document to attach it to, if any.
	AttachedTo Attachment
	// IsPrivate defaults to true.
	IsPrivate *bool
}

func principal(ctx context.Context) (*ports.UserContext, error) {
	u := ports.UserFrom(ctx)
	if u == nil {
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	}
	if _, err := core.RequireTenant(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

// checkName returns the safe form of name and its extension, refusing
// extensions not allowed (415).
func (s *Service) checkName(name string) (string, string, error) {
	safe := SafeName(name)
	ext := Ext(safe)
	if !s.allowed[ext] {
		if ext == "" {
			return "", "", core.Publicf(core.ErrUnsupportedType, "files without an extension are not accepted (accepted: %s)", strings.Join(s.opts.AllowedExtensions, ", "))
		}
		return "", "", core.Publicf(core.ErrUnsupportedType, "files of type .%s are not accepted (accepted: %s)", ext, strings.Join(s.opts.AllowedExtensions, ", "))
	}
	return safe, ext, nil
}

// checkAttach checks the principal may attach files to a: it must exist and
// be readable (404 otherwise) and writable (403).
func (s *Service) checkAttach(ctx context.Context, a Attachment) error {
	switch {
	case a.DocType == "" && a.Name == "":
		return nil
	case a.DocType == "" || a.Name == "":
		return core.Invalid("attached_to_doctype", "attached_to_doctype and attached_to_name go together")
	case a.DocType == doctypes.FileDocType || a.DocType == doctypes.FileUploadDocType:
		return core.Invalid("attached_to_doctype", "files attach to documents, not to files")
	}
	dt, err := s.res.DocType(a.DocType)
	if err != nil {
		return err
	}
	doc, err := s.res.Get(ctx, dt.Name, a.Name)
	if err != nil {
		return err
	}
	ok, err := s.res.Can(ctx, dt, ports.ActionWrite, doc)
	if err != nil {
		return err
	}
	if !ok {
		return core.Publicf(core.ErrForbidden, "not permitted to attach files to %s %q", dt.Name, a.Name)
	}
	return nil
}

// tooBig is the error of a file over the limit.
func (s *Service) tooBig() error {
	return core.Publicf(core.ErrPayloadTooBig, "the file is larger than the limit of %s", formatSize(s.opts.MaxUploadSize))
}

// formatSize prints n bytes the way [files] max_upload_size is written.
func formatSize(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// Upload stores a file sent at once: streamed to storage while its SHA-256
// is computed and its type sniffed from its first bytes (which must agree
// with its extension: 415), refused past MaxUploadSize (413) with nothing
// left behind, and recorded as a File owned by the principal.
func (s *Service) Upload(ctx context.Context, req UploadRequest) (*doctypes.File, error) {
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	name, ext, err := s.checkName(req.FileName)
	if err != nil {
		return nil, err
	}
	if err := s.checkAttach(ctx, req.AttachedTo); err != nil {
		return nil, err
	}
	head, body, err := readHead(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read the upload: %w", err)
	}
	ctype, ok := s.sniff.Sniff(head, ext)
	if !ok {
		return nil, typeMismatch(name, ctype)
	}
	tenant := ports.TenantIDFrom(ctx)
	key := NewKey(tenant, name, s.now())
	pending, err := s.announce(ctx, key, "", s.opts.PendingTTL)
	if err != nil {
		return nil, err
	}
	// Three stages side by side: the body is read (from the socket,
	// through the multipart parser) in a goroutine of its own, hashed in
	// another as it arrives, and written by the storage in this one. The
	// hash is whole once the storage has read the end of the body.
	sum := sha256.New()
	ra := readahead.NewTap(body, uploadAhead, sum)
	hr := &countingReader{r: ra, max: s.opts.MaxUploadSize, m: s.metrics}
	info, err := s.store.Put(ctx, key, hr, -1, ports.PutOptions{ContentType: ctype})
	_ = ra.Close()
	if err == nil && !hr.eof {
		err = fmt.Errorf("the storage returned before reading the whole upload (%d bytes read)", hr.n)
	}
	switch {
	case hr.over || (err != nil && hr.err != nil):
		s.metrics.ops.Add(1, opUpload, resultAborted)
	default:
		s.metrics.op(opUpload, err)
	}
	if err != nil || hr.over {
		s.discard(ctx, pending)
		if hr.over {
			return nil, s.tooBig()
		}
		if hr.err != nil { // the client's body failed: a broken or aborted request
			return nil, core.Publicf(core.ErrValidation, "the upload was cut short: %v", hr.err)
		}
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	f := &doctypes.File{
		FileName:          name,
		FileSize:          info.Size,
		ContentType:       ctype,
		SHA256:            hex.EncodeToString(sum.Sum(nil)),
		AttachedToDoctype: req.AttachedTo.DocType,
		AttachedToName:    req.AttachedTo.Name,
		IsPrivate:         req.IsPrivate == nil || *req.IsPrivate,
		StorageKey:        key,
	}
	if err := s.record(ctx, f, pending); err != nil {
		s.discard(ctx, pending)
		return nil, err
	}
	return f, nil
}

// uploadAhead is how many buffers of readahead.BufferSize an upload's body
// is read ahead of the storage.
const uploadAhead = 4

func typeMismatch(name, ctype string) error {
	return core.Publicf(core.ErrUnsupportedType, "the content of %q is %s, which its extension does not allow", name, ctype)
}

// readHead reads the first ports.SniffLen bytes of r (fewer if r is
// shorter) and returns them with a reader of the whole content.
func readHead(r io.Reader) ([]byte, io.Reader, error) {
	head := make([]byte, ports.SniffLen)
	n, err := io.ReadFull(r, head)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return head[:n], bytes.NewReader(head[:n]), nil
	case err != nil:
		return nil, nil, err
	}
	return head, io.MultiReader(bytes.NewReader(head), r), nil
}

// countingReader counts what it passes on (as bytes into the storage),
// keeps its source's error, and, with a max, fails once more than max bytes
// came through (over is then set).
type countingReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
	eof  bool  // r reported its end
	err  error // the error of r, other than EOF
	m    *metrics
}

var errTooBig = errors.New("file larger than the limit")

func (h *countingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.n += int64(n)
	if h.max > 0 && h.n > h.max {
		h.over = true
		return 0, errTooBig
	}
	h.m.in(n)
	switch {
	case err == io.EOF:
		h.eof = true
	case err != nil:
		h.err = err
	}
	return n, err
}

// announce stores the File Upload row that makes the sweep remove key's
// bytes (and abort uploadID) unless a File records them within ttl.
func (s *Service) announce(ctx context.Context, key, uploadID string, ttl time.Duration) (*doctypes.FileUpload, error) {
	u := &doctypes.FileUpload{Status: doctypes.UploadPending, StorageKey: key, UploadID: uploadID, ExpiresAt: s.now().Add(ttl)}
	if err := s.repo.Create(ctx, doctypes.FileUploadDocType, u); err != nil {
		return nil, fmt.Errorf("record the upload: %w", err)
	}
	return u, nil
}

// record stores f and ends the upload row that announced its bytes, in one
// transaction.
func (s *Service) record(ctx context.Context, f *doctypes.File, pending *doctypes.FileUpload) error {
	f.Name = doctype.NewUUIDv7()
	f.FileURL = s.opts.URLPrefix + f.Name
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.repo.Create(ctx, doctypes.FileDocType, f); err != nil {
			return fmt.Errorf("record the file: %w", err)
		}
		if err := s.repo.Delete(ctx, doctypes.FileUploadDocType, pending.Name); err != nil && !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("end the upload: %w", err)
		}
		return nil
	})
}

// discard removes the bytes an upload stored (and its storage upload) and
// the row announcing them, on a context that outlives the request's end; what
// fails is left to the sweep.
func (s *Service) discard(ctx context.Context, u *doctypes.FileUpload) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.removeBytes(bg, u); err != nil {
		s.log.WarnContext(ctx, "could not remove the bytes of a failed upload; the sweep will", "err", err)
		return
	}
	if err := s.repo.Delete(bg, doctypes.FileUploadDocType, u.Name); err != nil && !errors.Is(err, core.ErrNotFound) {
		s.log.WarnContext(ctx, "could not remove the row of a failed upload; the sweep will", "err", err)
	}
}

// removeBytes aborts u's storage upload, if any, and deletes its object.
func (s *Service) removeBytes(ctx context.Context, u *doctypes.FileUpload) error {
	if u.UploadID != "" {
		if mp, ok := s.store.(ports.MultipartStorage); ok {
			if err := mp.AbortUpload(ctx, u.StorageKey, u.UploadID); err != nil {
				return err
			}
		}
	}
	err := s.store.Delete(ctx, u.StorageKey)
	s.metrics.op(opDelete, err)
	return err
}

// Get returns the File id if the principal may read it: its owner, anyone
// when it is public, those who may read the document it is attached to, and
// those the DocType's rules let read it (admins). Others get 404.
func (s *Service) Get(ctx context.Context, id string) (*doctypes.File, error) {
	u, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	f, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.Owner == u.ID || !f.IsPrivate {
		return f, nil
	}
	if f.AttachedToDoctype != "" {
		_, err := s.res.Get(ctx, f.AttachedToDoctype, f.AttachedToName)
		switch {
		case err == nil:
			return f, nil
		case !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrForbidden):
			return nil, err
		}
	}
	if ok, err := s.can(ctx, ports.ActionRead, f); err != nil || !ok {
		return nil, orNotFound(err, id)
	}
	return f, nil
}

// Record returns the File id of the tenant in ctx without asking whether
// anyone may read it: for the framework's own jobs (an email's attachments
// are checked when it is queued and read when it is sent). A missing file
// is core.ErrNotFound.
func (s *Service) Record(ctx context.Context, id string) (*doctypes.File, error) {
	return s.load(ctx, id)
}

// load reads the File id of the tenant in ctx.
func (s *Service) load(ctx context.Context, id string) (*doctypes.File, error) {
	if id == "" || len(id) > 140 {
		return nil, notFound(id)
	}
	doc, err := s.repo.Get(ctx, doctypes.FileDocType, id)
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil, notFound(id)
		}
		return nil, err
	}
	f := doc.(*doctypes.File)
	if !InTenant(f.StorageKey, ports.TenantIDFrom(ctx)) {
		// A record naming another tenant's bytes is never served.
		s.log.ErrorContext(ctx, "a File record names bytes outside its tenant", "file", f.Name)
		return nil, notFound(id)
	}
	return f, nil
}

func notFound(id string) error {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return core.Publicf(core.ErrNotFound, "file %q not found", id)
}

func orNotFound(err error, id string) error {
	if err != nil {
		return err
	}
	return notFound(id)
}

// can asks the File DocType's rules (admins, owners).
func (s *Service) can(ctx context.Context, action ports.Action, f *doctypes.File) (bool, error) {
	dt, err := s.res.DocType(doctypes.FileDocType)
	if err != nil {
		return false, err
	}
	return s.res.Can(ctx, dt, action, f)
}

// Open returns the bytes of f (which Get returned) as a reader that can
// seek without reading: the storage is opened again only where a read
// follows a seek elsewhere, which is what serving ranges needs. With
// prime, the object is opened at its start now, so that a missing object or
// an unreachable storage is an error before anything is sent. The caller
// closes it.
func (s *Service) Open(ctx context.Context, f *doctypes.File, prime bool) (io.ReadSeekCloser, error) {
	o := &objectReader{ctx: ctx, store: s.store, key: f.StorageKey, size: f.FileSize, m: s.metrics}
	if prime && f.FileSize > 0 {
		if err := o.open(); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				s.log.ErrorContext(ctx, "a file's bytes are missing from storage", "file", f.Name)
			}
			return nil, fmt.Errorf("open file %q: %w", f.Name, err)
		}
	}
	return o, nil
}

// DownloadURL returns a presigned URL of f's bytes, when the storage has
// them and [files] s3_presigned_downloads is on, for public files only.
func (s *Service) DownloadURL(ctx context.Context, f *doctypes.File, disposition string) (string, bool) {
	p, ok := s.store.(ports.Presigner)
	if !ok || !s.opts.PresignedDownloads || f.IsPrivate {
		return "", false
	}
	url, err := p.PresignGet(ctx, f.StorageKey, s.opts.PresignExpiry, disposition)
	if err != nil {
		s.log.WarnContext(ctx, "could not presign a download; streaming it", "err", err)
		return "", false
	}
	return url, true
}

// Delete removes the File id and its bytes: its owner may, and those who may
// write the document it is attached to, and those the rules let delete
// Files (admins). Those who may read it but not delete it get 403, others
// 404.
func (s *Service) Delete(ctx context.Context, id string) error {
	f, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	ok, err := s.mayDelete(ctx, f)
	if err != nil {
		return err
	}
	if !ok {
		return core.Publicf(core.ErrForbidden, "not permitted to delete file %q", id)
	}
	return s.repo.Delete(ctx, doctypes.FileDocType, f.Name)
}

func (s *Service) mayDelete(ctx context.Context, f *doctypes.File) (bool, error) {
	if u := ports.UserFrom(ctx); u != nil && f.Owner == u.ID {
		return true, nil
	}
	if f.AttachedToDoctype != "" {
		if dt, err := s.res.DocType(f.AttachedToDoctype); err == nil {
			if doc, err := s.res.Get(ctx, dt.Name, f.AttachedToName); err == nil {
				if ok, err := s.res.Can(ctx, dt, ports.ActionWrite, doc); err != nil || ok {
					return ok, err
				}
			}
		}
	}
	return s.can(ctx, ports.ActionDelete, f)
}

// MaxAttachments is the most files Attachments lists.
const MaxAttachments = 1000

// Attachments lists the files attached to doctype/name, newest first, if the
// principal may read that document (404 otherwise).
func (s *Service) Attachments(ctx context.Context, doctype, name string) ([]*doctypes.File, error) {
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	dt, err := s.res.DocType(doctype)
	if err != nil {
		return nil, err
	}
	if _, err := s.res.Get(ctx, dt.Name, name); err != nil {
		return nil, err
	}
	return s.attached(ctx, dt.Name, name, MaxAttachments)
}

// attached lists up to limit files attached to doctype/name.
func (s *Service) attached(ctx context.Context, doctype, name string, limit int) ([]*doctypes.File, error) {
	res, err := s.repo.List(ctx, doctypes.FileDocType, ports.Query{
		Filters: []ports.Filter{
			{Field: "attached_to_doctype", Op: ports.OpEq, Value: doctype},
			{Field: "attached_to_name", Op: ports.OpEq, Value: name},
		},
		Orders:    []ports.Order{{Field: "created_at", Desc: true}, {Field: "name", Desc: true}},
		Limit:     limit,
		SkipCount: true,
	})
	if err != nil {
		return nil, fmt.Errorf("list the files of %s %q: %w", doctype, name, err)
	}
	out := make([]*doctypes.File, len(res.Items))
	for i, it := range res.Items {
		out[i] = it.(*doctypes.File)
	}
	return out, nil
}

// fileChanged removes the bytes of a deleted File, after its deletion
// committed. Bytes that cannot be removed now are logged with their key.
func (s *Service) fileChanged(ctx context.Context, ev ports.ChangeEvent) {
	if ev.Action != ports.ActionDelete {
		return
	}
	f, ok := ev.Before.(*doctypes.File)
	if !ok || f.StorageKey == "" {
		return
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := s.store.Delete(bg, f.StorageKey)
	s.metrics.op(opDelete, err)
	if err != nil {
		s.log.WarnContext(ctx, "could not remove a deleted file's bytes", "file", f.Name, "key", f.StorageKey, "err", err)
	}
}

// documentChanged deletes the files attached to a deleted document.
func (s *Service) documentChanged(ctx context.Context, ev ports.ChangeEvent) {
	if ev.Action != ports.ActionDelete || ev.DocType == doctypes.FileDocType || ev.DocType == doctypes.FileUploadDocType {
		return
	}
	sys := ports.WithUser(ports.WithTenantID(context.WithoutCancel(ctx), ev.TenantID), &ports.SystemUser)
	for {
		files, err := s.attached(sys, ev.DocType, ev.Name, 200)
		if err != nil {
			s.log.WarnContext(ctx, "could not list a deleted document's files", "doctype", ev.DocType, "err", err)
			return
		}
		for _, f := range files {
			if err := s.repo.Delete(sys, doctypes.FileDocType, f.Name); err != nil && !errors.Is(err, core.ErrNotFound) {
				s.log.WarnContext(ctx, "could not delete a deleted document's file", "doctype", ev.DocType, "file", f.Name, "err", err)
				return
			}
		}
		if len(files) < 200 {
			return
		}
	}
}
