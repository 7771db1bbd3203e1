package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// SessionRequest opens an upload session, or a presigned upload.
type SessionRequest struct {
	FileName string `json:"file_name"`
	FileSize int64  `json:"file_size"`
	// SHA256 is the hex SHA-256 the completed file must have (optional).
	SHA256            string `json:"sha256"`
	AttachedToDoctype string `json:"attached_to_doctype"`
	AttachedToName    string `json:"attached_to_name"`
	IsPrivate         *bool  `json:"is_private"`
	// PresignParts asks for a presigned URL per part, through which the
	// client sends the parts to the storage directly (storages that have them).
	PresignParts bool `json:"presign_parts"`
}

// Session is an upload session as clients see it.
type Session struct {
	ID                string       `json:"id"`
	FileName          string       `json:"file_name"`
	FileSize          int64        `json:"file_size"`
	PartSize          int64        `json:"part_size"`
	Parts             int          `json:"parts"`
	SHA256            string       `json:"sha256,omitempty"`
	AttachedToDoctype string       `json:"attached_to_doctype,omitempty"`
	AttachedToName    string       `json:"attached_to_name,omitempty"`
	IsPrivate         bool         `json:"is_private"`
	Status            string       `json:"status"`
	ExpiresAt         time.Time    `json:"expires_at"`
	Received          []ports.Part `json:"received"`
	// PartURLs are the presigned URLs of parts 1 … Parts, when asked for.
	PartURLs []string `json:"part_urls,omitempty"`
	// UploadURL is where a presigned upload PUTs the file (then confirm).
	UploadURL string `json:"upload_url,omitempty"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkSession validates req and returns the file's safe name.
func (s *Service) checkSession(ctx context.Context, req SessionRequest) (string, error) {
	if _, err := principal(ctx); err != nil {
		return "", err
	}
	name, _, err := s.checkName(req.FileName)
	if err != nil {
		return "", err
	}
	switch {
	case req.FileSize < 1:
		return "", core.Invalid("file_size", "must be at least 1 byte")
	case req.FileSize > s.opts.MaxUploadSize:
		return "", s.tooBig()
	}
	req.SHA256 = strings.ToLower(req.SHA256)
	if req.SHA256 != "" && !sha256Hex.MatchString(req.SHA256) {
		return "", core.Invalid("sha256", "must be 64 hex digits")
	}
	if err := s.checkAttach(ctx, Attachment{DocType: req.AttachedToDoctype, Name: req.AttachedToName}); err != nil {
		return "", err
	}
	return name, nil
}

func (s *Service) multipart() (ports.MultipartStorage, error) {
	mp, ok := s.store.(ports.MultipartStorage)
	if !ok {
		return nil, core.Public(core.ErrNotSupported, "this file storage does not take uploads in parts")
	}
	return mp, nil
}

// partsOf is how many parts a file of size takes.
func (s *Service) partsOf(size int64) int {
	return int((size + s.opts.PartSize - 1) / s.opts.PartSize)
}

// OpenSession starts an upload session of a file of req.FileSize bytes, to be
// sent in parts of PartSize (the last one shorter) within SessionTTL.
func (s *Service) OpenSession(ctx context.Context, req SessionRequest) (*Session, error) {
	name, err := s.checkSession(ctx, req)
	if err != nil {
		return nil, err
	}
	mp, err := s.multipart()
	if err != nil {
		return nil, err
	}
	if n := s.partsOf(req.FileSize); n > ports.MaxParts {
		return nil, core.Invalidf("file_size", "needs %d parts of %s; at most %d", n, formatSize(s.opts.PartSize), ports.MaxParts)
	}
	var presigner ports.Presigner
	if req.PresignParts {
		p, ok := s.store.(ports.Presigner)
		if !ok {
			return nil, core.Public(core.ErrNotSupported, "this file storage has no presigned URLs")
		}
		presigner = p
	}
	key := NewKey(ports.TenantIDFrom(ctx), name, s.now())
	id, err := mp.CreateUpload(ctx, key, ports.PutOptions{})
	if err != nil {
		return nil, fmt.Errorf("start the upload: %w", err)
	}
	u := &doctypes.FileUpload{
		FileName: name, FileSize: req.FileSize, PartSize: s.opts.PartSize, SHA256: strings.ToLower(req.SHA256),
		AttachedToDoctype: req.AttachedToDoctype, AttachedToName: req.AttachedToName,
		IsPrivate: req.IsPrivate == nil || *req.IsPrivate, Status: doctypes.UploadOpen,
		ExpiresAt: s.now().Add(s.opts.SessionTTL), StorageKey: key, UploadID: id,
	}
	if err := s.repo.Create(ctx, doctypes.FileUploadDocType, u); err != nil {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = mp.AbortUpload(bg, key, id)
		return nil, fmt.Errorf("record the upload: %w", err)
	}
	out := s.view(u, nil)
	if presigner != nil {
		for n := 1; n <= out.Parts; n++ {
			url, err := presigner.PresignPart(ctx, key, id, n, min(s.opts.PresignExpiry, s.opts.SessionTTL))
			if err != nil {
				return nil, fmt.Errorf("presign part %d: %w", n, err)
			}
			out.PartURLs = append(out.PartURLs, url)
		}
	}
	return out, nil
}

func (s *Service) view(u *doctypes.FileUpload, parts []ports.Part) *Session {
	if parts == nil {
		parts = []ports.Part{}
	}
	v := &Session{
		ID: u.Name, FileName: u.FileName, FileSize: u.FileSize, PartSize: u.PartSize, SHA256: u.SHA256,
		AttachedToDoctype: u.AttachedToDoctype, AttachedToName: u.AttachedToName, IsPrivate: u.IsPrivate,
		Status: u.Status, ExpiresAt: u.ExpiresAt, Received: parts,
	}
	if u.PartSize > 0 {
		v.Parts = int((u.FileSize + u.PartSize - 1) / u.PartSize)
	}
	return v
}

// session loads the principal's session id in one of states (404 for any
// other principal's, an expired or a finished one).
func (s *Service) session(ctx context.Context, id string, states ...string) (*doctypes.FileUpload, error) {
	u, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	missing := core.Publicf(core.ErrNotFound, "upload %q not found", truncate(id))
	if id == "" || len(id) > 140 {
		return nil, missing
	}
	doc, err := s.repo.Get(ctx, doctypes.FileUploadDocType, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, missing
	}
	if err != nil {
		return nil, err
	}
	up := doc.(*doctypes.FileUpload)
	if up.Owner != u.ID || !s.now().Before(up.ExpiresAt) || !InTenant(up.StorageKey, ports.TenantIDFrom(ctx)) {
		return nil, missing
	}
	if !slices.Contains(states, up.Status) {
		return nil, core.Publicf(core.ErrConflict, "upload %q is %s", id, up.Status)
	}
	return up, nil
}

// partLen is the length part n of u must have (0: no such part).
func partLen(u *doctypes.FileUpload, n int) int64 {
	count := int((u.FileSize + u.PartSize - 1) / u.PartSize)
	switch {
	case n < 1 || n > count:
		return 0
	case n < count:
		return u.PartSize
	}
	return u.FileSize - int64(count-1)*u.PartSize
}

// PutPart stores part n of session id from body, which must hold exactly the
// part's length (PartSize, the last one the rest). A part sent again
// replaces the one sent before.
func (s *Service) PutPart(ctx context.Context, id string, n int, body io.Reader) (ports.Part, error) {
	u, err := s.session(ctx, id, doctypes.UploadOpen)
	if err != nil {
		return ports.Part{}, err
	}
	mp, err := s.multipart()
	if err != nil {
		return ports.Part{}, err
	}
	want := partLen(u, n)
	if want == 0 {
		return ports.Part{}, core.Invalidf("part", "part %d does not exist: this upload has parts 1 to %d", n, s.view(u, nil).Parts)
	}
	lr := &countingReader{r: io.LimitReader(body, want+1), m: s.metrics}
	p, err := mp.PutPart(ctx, u.StorageKey, u.UploadID, n, lr, want)
	switch {
	case lr.n > want || (err != nil && (lr.err != nil || lr.n < want)):
		s.metrics.ops.Add(1, opPart, resultAborted)
	default:
		s.metrics.op(opPart, err)
	}
	switch {
	case lr.n > want:
		return ports.Part{}, core.Publicf(core.ErrPayloadTooBig, "part %d must be %d bytes; more were sent", n, want)
	case err != nil && lr.err != nil:
		return ports.Part{}, core.Publicf(core.ErrValidation, "part %d was cut short after %d of %d bytes: send it again", n, lr.n, want)
	case err != nil && lr.n < want:
		return ports.Part{}, core.Invalidf("part", "part %d must be %d bytes, not %d", n, want, lr.n)
	case err != nil:
		return ports.Part{}, fmt.Errorf("store part %d: %w", n, err)
	}
	return p, nil
}

// SessionInfo returns session id with the parts received so far.
func (s *Service) SessionInfo(ctx context.Context, id string) (*Session, error) {
	u, err := s.session(ctx, id, doctypes.UploadOpen, doctypes.UploadCompleting, doctypes.UploadPresigned)
	if err != nil {
		return nil, err
	}
	if u.Status == doctypes.UploadPresigned {
		return s.view(u, nil), nil
	}
	mp, err := s.multipart()
	if err != nil {
		return nil, err
	}
	parts, err := mp.ListParts(ctx, u.StorageKey, u.UploadID)
	if err != nil {
		return nil, fmt.Errorf("list the parts: %w", err)
	}
	return s.view(u, parts), nil
}

// Complete assembles session id once every part arrived, checks the file's
// size, type and hash, and records it as a File.
func (s *Service) Complete(ctx context.Context, id string) (*doctypes.File, error) {
	u, err := s.session(ctx, id, doctypes.UploadOpen)
	if err != nil {
		return nil, err
	}
	mp, err := s.multipart()
	if err != nil {
		return nil, err
	}
	parts, err := mp.ListParts(ctx, u.StorageKey, u.UploadID)
	if err != nil {
		return nil, fmt.Errorf("list the parts: %w", err)
	}
	count := s.view(u, nil).Parts
	byNumber := map[int]ports.Part{}
	for _, p := range parts {
		byNumber[p.Number] = p
	}
	var missing []string
	use := make([]ports.Part, 0, count)
	for n := 1; n <= count; n++ {
		p, ok := byNumber[n]
		if !ok || p.Size != partLen(u, n) {
			missing = append(missing, fmt.Sprint(n))
			continue
		}
		use = append(use, p)
	}
	if len(missing) > 0 {
		if len(missing) > 20 {
			missing = append(missing[:20], "…")
		}
		return nil, core.Invalidf("parts", "parts missing or incomplete: %s", strings.Join(missing, ", "))
	}
	u.Status = doctypes.UploadCompleting
	if err := s.repo.Update(ctx, doctypes.FileUploadDocType, u); err != nil {
		return nil, err // a concurrent Complete: 409
	}
	if _, err := mp.CompleteUpload(ctx, u.StorageKey, u.UploadID, use); err != nil {
		u.Status = doctypes.UploadOpen // the parts are still there: try again
		if uerr := s.repo.Update(context.WithoutCancel(ctx), doctypes.FileUploadDocType, u); uerr != nil {
			s.log.WarnContext(ctx, "could not reopen an upload whose completion failed", "upload", u.Name, "err", uerr)
		}
		return nil, fmt.Errorf("assemble the file: %w", err)
	}
	u.UploadID = "" // the storage's upload ended; its object remains
	return s.finish(ctx, u)
}

// finish checks the object of u (size, type, hash) and records it as a File,
// or removes it and u.
func (s *Service) finish(ctx context.Context, u *doctypes.FileUpload) (*doctypes.File, error) {
	f, err := s.verify(ctx, u)
	if err == nil {
		err = s.record(ctx, f, u)
	}
	if err != nil {
		s.discard(ctx, u)
		return nil, err
	}
	return f, nil
}

// verify reads the object of u once: its size must be the announced one,
// its content must agree with its extension, and its SHA-256 with the one
// announced, if any.
func (s *Service) verify(ctx context.Context, u *doctypes.FileUpload) (*doctypes.File, error) {
	info, err := s.store.Stat(ctx, u.StorageKey)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.Invalid("file", "no file was uploaded")
	}
	if err != nil {
		return nil, fmt.Errorf("check the uploaded file: %w", err)
	}
	switch {
	case info.Size > s.opts.MaxUploadSize:
		return nil, s.tooBig()
	case info.Size != u.FileSize:
		return nil, core.Invalidf("file_size", "the uploaded file has %d bytes, not the %d announced", info.Size, u.FileSize)
	}
	rc, _, err := s.store.Open(ctx, u.StorageKey, nil)
	s.metrics.op(opOpen, err)
	if err != nil {
		return nil, fmt.Errorf("read the uploaded file: %w", err)
	}
	rc = countedReadCloser{ReadCloser: rc, m: s.metrics}
	defer rc.Close()
	head, body, err := readHead(rc)
	if err != nil {
		return nil, fmt.Errorf("read the uploaded file: %w", err)
	}
	ctype, ok := s.sniff.Sniff(head, Ext(u.FileName))
	if !ok {
		return nil, typeMismatch(u.FileName, ctype)
	}
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return nil, fmt.Errorf("read the uploaded file: %w", err)
	}
	if n != u.FileSize {
		return nil, core.Invalidf("file_size", "the uploaded file has %d bytes, not the %d announced", n, u.FileSize)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if u.SHA256 != "" && sum != u.SHA256 {
		return nil, core.Invalidf("sha256", "the uploaded file's SHA-256 is %s, not the %s announced", sum, u.SHA256)
	}
	return &doctypes.File{
		FileName: u.FileName, FileSize: n, ContentType: ctype, SHA256: sum,
		AttachedToDoctype: u.AttachedToDoctype, AttachedToName: u.AttachedToName,
		IsPrivate: u.IsPrivate, StorageKey: u.StorageKey,
	}, nil
}

// Abort ends session id (or a presigned upload) and removes what it stored.
func (s *Service) Abort(ctx context.Context, id string) error {
	u, err := s.session(ctx, id, doctypes.UploadOpen, doctypes.UploadPresigned)
	if err != nil {
		return err
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.removeBytes(bg, u); err != nil {
		return fmt.Errorf("remove the upload: %w", err)
	}
	return s.repo.Delete(bg, doctypes.FileUploadDocType, u.Name)
}

// Presign starts a presigned upload: the client PUTs the file to the URL
// returned, then confirms it (Confirm), which records it once the stored
// object checks out.
func (s *Service) Presign(ctx context.Context, req SessionRequest) (*Session, error) {
	name, err := s.checkSession(ctx, req)
	if err != nil {
		return nil, err
	}
	p, ok := s.store.(ports.Presigner)
	if !ok {
		return nil, core.Public(core.ErrNotSupported, "this file storage has no presigned uploads")
	}
	key := NewKey(ports.TenantIDFrom(ctx), name, s.now())
	url, err := p.PresignPut(ctx, key, s.opts.PresignExpiry)
	if err != nil {
		return nil, fmt.Errorf("presign the upload: %w", err)
	}
	u := &doctypes.FileUpload{
		FileName: name, FileSize: req.FileSize, SHA256: strings.ToLower(req.SHA256),
		AttachedToDoctype: req.AttachedToDoctype, AttachedToName: req.AttachedToName,
		IsPrivate: req.IsPrivate == nil || *req.IsPrivate, Status: doctypes.UploadPresigned,
		// Time to upload, then to confirm; the sweep removes the bytes after.
		ExpiresAt: s.now().Add(s.opts.PresignExpiry + s.opts.PendingTTL), StorageKey: key,
	}
	if err := s.repo.Create(ctx, doctypes.FileUploadDocType, u); err != nil {
		return nil, fmt.Errorf("record the upload: %w", err)
	}
	v := s.view(u, nil)
	v.UploadURL = url
	return v, nil
}

// Confirm records the file of presigned upload id once the object the
// client stored exists and has the size announced (at most MaxUploadSize),
// a type its extension allows and the SHA-256 announced. A refused object
// is removed.
func (s *Service) Confirm(ctx context.Context, id string) (*doctypes.File, error) {
	u, err := s.session(ctx, id, doctypes.UploadPresigned)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.Stat(ctx, u.StorageKey); errors.Is(err, core.ErrNotFound) {
		return nil, core.Invalid("file", "no file was uploaded to the presigned URL")
	}
	u.Status = doctypes.UploadCompleting
	if err := s.repo.Update(ctx, doctypes.FileUploadDocType, u); err != nil {
		return nil, err
	}
	return s.finish(ctx, u)
}
