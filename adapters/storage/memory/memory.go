// Package memory is a ports.Storage (and ports.MultipartStorage) that keeps
// objects in the process's memory: for tests, and for apps that store
// nothing worth keeping. Everything is lost when the process ends.
//
// ETags are the hex MD5 of the object's bytes (of a part's, for parts), as
// S3 gives for objects stored in one piece; the content type given at Put or
// CreateUpload is kept and returned. Unlike S3, parts have no minimum size.
package memory

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // an ETag, not a security measure
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/ports"
)

// Storage keeps objects in memory. It is safe for concurrent use. The zero
// value is not usable; call New.
type Storage struct {
	mu      sync.RWMutex
	objects map[string]*object
	uploads map[string]*upload
	now     func() time.Time
}

// object is one stored object; its data is never changed once stored (a Put
// replaces the whole object), so readers may hold it without the lock.
type object struct {
	data        []byte
	modTime     time.Time
	etag        string
	contentType string
}

// upload is a multipart upload in progress.
type upload struct {
	key         string
	contentType string
	parts       map[int]*part
}

type part struct {
	data []byte
	etag string
}

// New returns an empty storage.
func New() *Storage {
	return &Storage{objects: map[string]*object{}, uploads: map[string]*upload{}, now: time.Now}
}

// Put stores the bytes of r under key, replacing any object there. The
// bytes are copied.
func (s *Storage) Put(ctx context.Context, key string, r io.Reader, size int64, opts ports.PutOptions) (ports.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := files.CheckKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	data, err := readBody(ctx, r, size)
	if err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("memory storage: put %s: %w", key, err)
	}
	o := &object{data: data, modTime: s.now(), etag: etagOf(data), contentType: opts.ContentType}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err
	}
	s.objects[key] = o
	return o.info(key), nil
}

// Open returns a reader of the object's bytes, or of those of rng.
func (s *Storage) Open(ctx context.Context, key string, rng *ports.ByteRange) (io.ReadCloser, ports.ObjectInfo, error) {
	o, err := s.get(ctx, key)
	if err != nil {
		return nil, ports.ObjectInfo{}, err
	}
	data := o.data
	if rng != nil {
		size := int64(len(data))
		if rng.Offset < 0 {
			return nil, ports.ObjectInfo{}, core.Invalid("range", fmt.Sprintf("offset %d is negative", rng.Offset))
		}
		if rng.Offset >= size {
			return nil, ports.ObjectInfo{}, fmt.Errorf("%w: %w", core.Invalid("range", fmt.Sprintf("offset %d is not before the end of the object (%d bytes)", rng.Offset, size)), ports.ErrRangeNotSatisfiable)
		}
		end := size
		if rng.Length >= 0 && rng.Length < size-rng.Offset {
			end = rng.Offset + rng.Length
		}
		data = data[rng.Offset:end]
	}
	return io.NopCloser(bytes.NewReader(data)), o.info(key), nil
}

// Stat describes the object.
func (s *Storage) Stat(ctx context.Context, key string) (ports.ObjectInfo, error) {
	o, err := s.get(ctx, key)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	return o.info(key), nil
}

func (s *Storage) get(ctx context.Context, key string) (*object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := files.CheckKey(key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	o := s.objects[key]
	s.mu.RUnlock()
	if o == nil {
		return nil, core.Publicf(core.ErrNotFound, "no stored object %q", key)
	}
	return o, nil
}

// Delete removes the object; a missing one is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := files.CheckKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// List calls fn for every object under prefix, in key order, on a snapshot
// taken when List starts (fn may call the storage).
func (s *Storage) List(ctx context.Context, prefix string, fn func(ports.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := files.CheckPrefix(prefix); err != nil {
		return err
	}
	s.mu.RLock()
	var infos []ports.ObjectInfo
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, o.info(k))
		}
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// CreateUpload starts a multipart upload of key.
func (s *Storage) CreateUpload(ctx context.Context, key string, opts ports.PutOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := files.CheckKey(key); err != nil {
		return "", err
	}
	id := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploads[id] = &upload{key: key, contentType: opts.ContentType, parts: map[int]*part{}}
	return id, nil
}

// PutPart stores part n of the upload, replacing a part n sent before.
func (s *Storage) PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (ports.Part, error) {
	if err := ctx.Err(); err != nil {
		return ports.Part{}, err
	}
	if err := files.CheckKey(key); err != nil {
		return ports.Part{}, err
	}
	if err := files.CheckPart(n, size); err != nil {
		return ports.Part{}, err
	}
	if _, err := s.upload(key, uploadID); err != nil {
		return ports.Part{}, err
	}
	data, err := readBody(ctx, r, size)
	if err != nil {
		return ports.Part{}, fmt.Errorf("memory storage: part %d of upload %s: %w", n, uploadID, err)
	}
	p := &part{data: data, etag: etagOf(data)}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.uploadLocked(key, uploadID)
	if err != nil {
		return ports.Part{}, err
	}
	u.parts[n] = p
	return ports.Part{Number: n, Size: int64(len(data)), ETag: p.etag}, nil
}

// ListParts returns the parts received so far, by number.
func (s *Storage) ListParts(ctx context.Context, key, uploadID string) ([]ports.Part, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := files.CheckKey(key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, err := s.uploadLocked(key, uploadID)
	if err != nil {
		return nil, err
	}
	parts := make([]ports.Part, 0, len(u.parts))
	for n, p := range u.parts {
		parts = append(parts, ports.Part{Number: n, Size: int64(len(p.data)), ETag: p.etag})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// CompleteUpload assembles the parts given into the object key and ends the
// upload. A refused list of parts leaves the upload as it was.
func (s *Storage) CompleteUpload(ctx context.Context, key, uploadID string, parts []ports.Part) (ports.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := files.CheckKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.uploadLocked(key, uploadID)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return ports.ObjectInfo{}, core.Invalid("parts", "no part to assemble")
	}
	var total int
	chosen := make([]*part, len(parts))
	for i, want := range parts {
		if want.Number < 1 || want.Number > ports.MaxParts {
			return ports.ObjectInfo{}, core.Invalid("parts", fmt.Sprintf("part number %d is not between 1 and %d", want.Number, ports.MaxParts))
		}
		if i > 0 && want.Number <= parts[i-1].Number {
			return ports.ObjectInfo{}, core.Invalid("parts", "the parts are not in ascending order of their numbers")
		}
		p := u.parts[want.Number]
		if p == nil {
			return ports.ObjectInfo{}, core.Invalid("parts", fmt.Sprintf("part %d was not received", want.Number))
		}
		if unquote(want.ETag) != p.etag {
			return ports.ObjectInfo{}, core.Invalid("parts", fmt.Sprintf("part %d is not the one received (ETag %q)", want.Number, want.ETag))
		}
		chosen[i] = p
		total += len(p.data)
	}
	data := make([]byte, 0, total)
	for _, p := range chosen {
		data = append(data, p.data...)
	}
	o := &object{data: data, modTime: s.now(), etag: etagOf(data), contentType: u.contentType}
	s.objects[key] = o
	delete(s.uploads, uploadID)
	return o.info(key), nil
}

// AbortUpload ends the upload and drops its parts; an unknown upload is not
// an error.
func (s *Storage) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := files.CheckKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.uploads[uploadID]; u != nil && u.key == key {
		delete(s.uploads, uploadID)
	}
	return nil
}

func (s *Storage) upload(key, uploadID string) (*upload, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.uploadLocked(key, uploadID)
}

// uploadLocked returns the upload uploadID of key; s.mu is held.
func (s *Storage) uploadLocked(key, uploadID string) (*upload, error) {
	u := s.uploads[uploadID]
	if u == nil || u.key != key {
		return nil, core.Publicf(core.ErrNotFound, "no upload %q of %q", uploadID, key)
	}
	return u, nil
}

func (o *object) info(key string) ports.ObjectInfo {
	return ports.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.modTime, ETag: o.etag, ContentType: o.contentType}
}

// readBody reads r whole: size bytes exactly, or all of them when size is
// -1. ctx is checked between reads.
func readBody(ctx context.Context, r io.Reader, size int64) ([]byte, error) {
	if size < -1 {
		return nil, core.Invalid("size", fmt.Sprintf("size %d is negative", size))
	}
	cr := &ctxReader{ctx: ctx, r: r}
	var buf bytes.Buffer
	if size < 0 {
		if _, err := buf.ReadFrom(cr); err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		return buf.Bytes(), nil
	}
	buf.Grow(int(min(size, 64<<20)))
	n, err := buf.ReadFrom(io.LimitReader(cr, size))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if n < size {
		return nil, core.Invalid("size", fmt.Sprintf("the body holds %d bytes, not the %d declared", n, size))
	}
	var one [1]byte
	k, err := io.ReadFull(cr, one[:])
	if k > 0 {
		return nil, core.Invalid("size", fmt.Sprintf("the body holds more than the %d bytes declared", size))
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return buf.Bytes(), nil
}

// ctxReader fails with ctx's error once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func etagOf(b []byte) string {
	sum := md5.Sum(b) //nolint:gosec // an ETag
	return hex.EncodeToString(sum[:])
}

func unquote(etag string) string {
	return strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(etag, "W/"), `"`), `"`)
}

var _ ports.MultipartStorage = (*Storage)(nil)
