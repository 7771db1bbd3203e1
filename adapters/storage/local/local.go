// Package local is a ports.Storage (and ports.MultipartStorage) on a local
// directory: for a single server, or several sharing one network disk.
//
// # Layout
//
// Everything lives under Config.Root, reached only through an os.Root, so no
// key, and no symbolic link planted in the tree, leads outside it:
//
//	objects/<key>              the object's bytes, a plain file
//	meta/<key>                 its metadata (JSON: size, mtime, ETag, content type)
//	staging/<random>.tmp       files being written
//	uploads/<id>/info.json     a multipart upload: its key, content type, creation time
//	uploads/<id>/<n>           part n of the upload, and <n>.json its metadata
//
// Keys map to paths under objects/, so no key reaches the other directories.
// A key whose segment is longer than 255 bytes is refused (core.ErrValidation),
// as is one naming a folder of other objects, or under an object (a local disk
// cannot hold both "a" and "a/b"; core.ErrConflict).
//
// # Writes
//
// Bytes are written to a file in staging/, synced, and renamed over the final
// name, whose folder is then synced: a failed or interrupted Put, even by a
// crash, never leaves a partial object, and a replaced object stays whole
// until the new one takes its place. Staging files older than a day are
// removed by New; PurgeUploads removes abandoned uploads and stale staging
// files on demand.
//
// # Metadata
//
// The ETag is 128 random bits drawn when the bytes are written: a new one
// for every Put, part and CompleteUpload, which is all an ETag must be, at
// no hashing cost (the core hashes what it needs, SHA-256, itself). The
// sidecar in meta/ keeps it with the content type. It is only believed
// while it matches the object's size and modification time to the
// nanosecond; otherwise (a crash between the two renames, another process
// writing the same key at once, a file changed by hand) Stat and Open answer
// with an ETag made of the size and modification time, and no content type.
// List reads no sidecar: it passes keys, sizes and modification times only.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/readahead"
	"github.com/framework-m/framework-m/ports"
)

// Config configures the local storage ([files] storage_path).
type Config struct {
	// Root is the directory holding everything stored; New creates it
	// (mode 0750) when missing.
	Root string
}

// Validate checks that Root is set.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Root) == "" {
		return core.Invalid("root", "is required: the directory where files are stored")
	}
	return nil
}

// The directories under the root.
const (
	objectsDir = "objects"
	metaDir    = "meta"
	stagingDir = "staging"
	uploadsDir = "uploads"
	infoFile   = "info.json"
)

const (
	dirPerm  = 0o750
	filePerm = 0o640
	// staleStaging is the age at which New removes a staging file.
	staleStaging = 24 * time.Hour
	// maxSegment is the longest name most file systems accept.
	maxSegment = 255
	// maxMeta bounds the size of a sidecar read back.
	maxMeta = 64 << 10
	stripes = 256
)

// Storage stores objects as files under a root directory. It is safe for
// concurrent use; several processes may share a root (each write is a
// rename, atomic on a local file system).
type Storage struct {
	root *os.Root
	dir  string
	now  func() time.Time
	// keys serialises the two renames of a write with the reads of an
	// object's file and sidecar, by key; uploads serialises the changes of
	// an upload, by id. Stripes, not one lock per key.
	keys    [stripes]sync.RWMutex
	uploads [stripes]sync.Mutex
}

// New opens (creating it when missing) the storage rooted at cfg.Root, and
// removes staging files left there for more than a day.
func New(cfg Config) (*Storage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Root, dirPerm); err != nil {
		return nil, fmt.Errorf("local storage: creating %s: %w", cfg.Root, err)
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("local storage: opening %s: %w", cfg.Root, err)
	}
	s := &Storage{root: root, dir: cfg.Root, now: time.Now}
	for _, d := range []string{objectsDir, metaDir, stagingDir, uploadsDir} {
		if err := root.Mkdir(d, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = root.Close()
			return nil, fmt.Errorf("local storage: creating %s: %w", filepath.Join(cfg.Root, d), err)
		}
		fi, err := root.Lstat(d)
		if err != nil {
			_ = root.Close()
			return nil, fmt.Errorf("local storage: %w", err)
		}
		if !fi.IsDir() {
			_ = root.Close()
			return nil, fmt.Errorf("local storage: %s is not a directory", filepath.Join(cfg.Root, d))
		}
	}
	_, _ = s.purgeStaging(context.Background(), s.now().Add(-staleStaging))
	return s, nil
}

// Close releases the root directory. The storage is unusable afterwards.
func (s *Storage) Close() error { return s.root.Close() }

// Put stores the bytes of r under key, replacing any object there, through
// a staging file renamed into place.
func (s *Storage) Put(ctx context.Context, key string, r io.Reader, size int64, opts ports.PutOptions) (ports.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	if size < -1 {
		return ports.ObjectInfo{}, core.Invalid("size", fmt.Sprintf("size %d is negative", size))
	}
	st, err := s.stage(ctx, r, size)
	if err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("local storage: put %s: %w", key, err)
	}
	defer s.discard(st.name)
	info, err := s.commit(ctx, key, st, opts.ContentType)
	if err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("local storage: put %s: %w", key, err)
	}
	return info, nil
}

// Open returns a reader of the object's bytes, or of those of rng; the
// ObjectInfo describes the whole object.
func (s *Storage) Open(ctx context.Context, key string, rng *ports.ByteRange) (io.ReadCloser, ports.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, ports.ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return nil, ports.ObjectInfo{}, err
	}
	lock := s.keyLock(key)
	lock.RLock()
	f, err := s.root.Open(objectPath(key))
	if err != nil {
		lock.RUnlock()
		return nil, ports.ObjectInfo{}, s.lookupErr("open", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		lock.RUnlock()
		_ = f.Close()
		return nil, ports.ObjectInfo{}, s.lookupErr("open", key, err)
	}
	info := s.describe(key, fi)
	lock.RUnlock()

	off, n := int64(0), fi.Size()
	if rng != nil {
		if rng.Offset < 0 {
			_ = f.Close()
			return nil, ports.ObjectInfo{}, core.Invalid("range", fmt.Sprintf("offset %d is negative", rng.Offset))
		}
		if rng.Offset >= fi.Size() {
			_ = f.Close()
			return nil, ports.ObjectInfo{}, fmt.Errorf("%w: %w", core.Invalid("range", fmt.Sprintf("offset %d is not before the end of the object (%d bytes)", rng.Offset, fi.Size())), ports.ErrRangeNotSatisfiable)
		}
		off, n = rng.Offset, fi.Size()-rng.Offset
		if rng.Length >= 0 && rng.Length < n {
			n = rng.Length
		}
	}
	return &fileReader{SectionReader: io.NewSectionReader(f, off, n), f: f}, info, nil
}

// fileReader reads a section of an open file and closes the file.
type fileReader struct {
	*io.SectionReader
	f *os.File
}

// Close closes the file.
func (r *fileReader) Close() error { return r.f.Close() }

// Stat describes the object.
func (s *Storage) Stat(ctx context.Context, key string) (ports.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	lock := s.keyLock(key)
	lock.RLock()
	defer lock.RUnlock()
	fi, err := s.root.Stat(objectPath(key))
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return ports.ObjectInfo{}, s.lookupErr("stat", key, err)
	}
	return s.describe(key, fi), nil
}

// Delete removes the object and its sidecar, then the folders they leave
// empty; a missing object is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	lock := s.keyLock(key)
	lock.Lock()
	removed, err := s.removeFile(objectPath(key))
	if err == nil {
		_, err = s.removeFile(metaPath(key))
	}
	lock.Unlock()
	if err != nil {
		return fmt.Errorf("local storage: delete %s: %w", key, err)
	}
	if !removed {
		return nil
	}
	if err := s.syncDir(path.Dir(objectPath(key))); err != nil && !notExist(err) {
		return fmt.Errorf("local storage: delete %s: %w", key, err)
	}
	s.prune(objectsDir, path.Dir(objectPath(key)))
	s.prune(metaDir, path.Dir(metaPath(key)))
	return nil
}

// removeFile removes the file (or symbolic link) name; a missing one, or a
// folder, is left alone.
func (s *Storage) removeFile(name string) (bool, error) {
	fi, err := s.root.Lstat(name)
	if err != nil {
		if notExist(err) || errors.Is(err, syscall.ENAMETOOLONG) {
			return false, nil
		}
		return false, err
	}
	if fi.IsDir() {
		return false, nil
	}
	if err := s.root.Remove(name); err != nil && !notExist(err) {
		return false, err
	}
	return true, nil
}

// prune removes dir and its parents while they are empty, up to top
// (excluded). A Put racing with it retries its rename.
func (s *Storage) prune(top, dir string) {
	for dir != top && strings.HasPrefix(dir, top+"/") {
		if err := s.root.Remove(dir); err != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

// List calls fn for every object under prefix, in lexical order of keys,
// with its key, size and modification time.
func (s *Storage) List(ctx context.Context, prefix string, fn func(ports.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := files.CheckPrefix(prefix); err != nil {
		return err
	}
	dir := objectPath(strings.TrimSuffix(prefix, "/"))
	if fi, err := s.root.Lstat(dir); err != nil || !fi.IsDir() {
		if err == nil || notExist(err) || errors.Is(err, syscall.ENAMETOOLONG) {
			return nil
		}
		return fmt.Errorf("local storage: list %s: %w", prefix, err)
	}
	err := fs.WalkDir(s.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) { // removed while listed
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // folders are walked; links and devices are no objects
		}
		key := strings.TrimPrefix(p, objectsDir+"/")
		if checkKey(key) != nil {
			return nil // put there by hand: not addressable
		}
		fi, err := d.Info()
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if err := fn(ports.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return fnError{err}
		}
		return nil
	})
	var stop fnError
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("local storage: list %s: %w", prefix, err)
	}
	return err
}

// fnError carries the error of List's fn through fs.WalkDir untouched (fn
// may return fs.SkipDir without meaning it for the walk).
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// CreateUpload starts a multipart upload of key: a folder under uploads/
// with the upload's info.
func (s *Storage) CreateUpload(ctx context.Context, key string, opts ports.PutOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	b, err := json.Marshal(uploadInfo{Key: key, ContentType: opts.ContentType, Created: s.now().UTC()})
	if err != nil {
		return "", fmt.Errorf("local storage: create upload of %s: %w", key, err)
	}
	tmp, err := s.stageBytes(b)
	if err != nil {
		return "", fmt.Errorf("local storage: create upload of %s: %w", key, err)
	}
	defer s.discard(tmp)
	var id string
	for {
		id = randomHex(16)
		err = s.root.Mkdir(uploadPath(id), dirPerm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err == nil {
		err = s.root.Rename(tmp, uploadPath(id, infoFile))
	}
	if err == nil {
		err = s.syncDir(uploadPath(id))
	}
	if err == nil {
		err = s.syncDir(uploadsDir)
	}
	if err != nil {
		_ = s.root.RemoveAll(uploadPath(id))
		return "", fmt.Errorf("local storage: create upload of %s: %w", key, err)
	}
	return id, nil
}

// PutPart stores part n of the upload through a staging file, replacing a
// part n sent before. Its ETag is drawn at random (see the package doc).
func (s *Storage) PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (ports.Part, error) {
	if err := ctx.Err(); err != nil {
		return ports.Part{}, err
	}
	if err := checkKey(key); err != nil {
		return ports.Part{}, err
	}
	if err := files.CheckPart(n, size); err != nil {
		return ports.Part{}, err
	}
	if _, err := s.loadUpload(key, uploadID); err != nil {
		return ports.Part{}, err
	}
	st, err := s.stage(ctx, r, size)
	if err != nil {
		return ports.Part{}, fmt.Errorf("local storage: part %d of upload %s: %w", n, uploadID, err)
	}
	defer s.discard(st.name)
	mb, err := json.Marshal(st.meta(""))
	if err != nil {
		return ports.Part{}, err
	}
	mtmp, err := s.stageBytes(mb)
	if err != nil {
		return ports.Part{}, fmt.Errorf("local storage: part %d of upload %s: %w", n, uploadID, err)
	}
	defer s.discard(mtmp)

	lock := s.uploadLock(uploadID)
	lock.Lock()
	defer lock.Unlock()
	if err := ctx.Err(); err != nil {
		return ports.Part{}, err
	}
	if _, err := s.loadUpload(key, uploadID); err != nil {
		return ports.Part{}, err // aborted or completed meanwhile
	}
	name := strconv.Itoa(n)
	if err := s.root.Rename(st.name, uploadPath(uploadID, name)); err != nil {
		if notExist(err) {
			return ports.Part{}, notFoundUpload(key, uploadID)
		}
		return ports.Part{}, fmt.Errorf("local storage: part %d of upload %s: %w", n, uploadID, err)
	}
	if err := s.root.Rename(mtmp, uploadPath(uploadID, name+".json")); err != nil {
		return ports.Part{}, fmt.Errorf("local storage: part %d of upload %s: %w", n, uploadID, err)
	}
	if err := s.syncDir(uploadPath(uploadID)); err != nil {
		return ports.Part{}, fmt.Errorf("local storage: part %d of upload %s: %w", n, uploadID, err)
	}
	return ports.Part{Number: n, Size: st.size, ETag: st.etag}, nil
}

// ListParts returns the parts received so far, by number.
func (s *Storage) ListParts(ctx context.Context, key, uploadID string) ([]ports.Part, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	lock := s.uploadLock(uploadID)
	lock.Lock()
	defer lock.Unlock()
	if _, err := s.loadUpload(key, uploadID); err != nil {
		return nil, err
	}
	parts, err := s.parts(uploadID)
	if err != nil {
		return nil, fmt.Errorf("local storage: list parts of upload %s: %w", uploadID, err)
	}
	list := make([]ports.Part, 0, len(parts))
	for _, p := range parts {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Number < list[j].Number })
	return list, nil
}

// parts reads the parts of an upload; the upload's lock is held.
func (s *Storage) parts(uploadID string) (map[int]ports.Part, error) {
	entries, err := fs.ReadDir(s.root.FS(), uploadPath(uploadID))
	if err != nil {
		if notExist(err) {
			return nil, core.Publicf(core.ErrNotFound, "no upload %q", uploadID)
		}
		return nil, err
	}
	parts := map[int]ports.Part{}
	for _, e := range entries {
		n, ok := partNumber(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			if notExist(err) {
				continue
			}
			return nil, err
		}
		m := s.readMeta(uploadPath(uploadID, e.Name()+".json"), fi)
		parts[n] = ports.Part{Number: n, Size: fi.Size(), ETag: m.ETag}
	}
	return parts, nil
}

// CompleteUpload streams the parts given, in order, into a staging file,
// renames it into place and removes the upload. A refused list of parts
// leaves the upload as it was.
func (s *Storage) CompleteUpload(ctx context.Context, key, uploadID string, parts []ports.Part) (ports.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err
	}
	if err := checkKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	lock := s.uploadLock(uploadID)
	lock.Lock()
	defer lock.Unlock()
	up, err := s.loadUpload(key, uploadID)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return ports.ObjectInfo{}, core.Invalid("parts", "no part to assemble")
	}
	have, err := s.parts(uploadID)
	if err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("local storage: complete upload %s: %w", uploadID, err)
	}
	for i, want := range parts {
		if want.Number < 1 || want.Number > ports.MaxParts {
			return ports.ObjectInfo{}, core.Invalid("parts", fmt.Sprintf("part number %d is not between 1 and %d", want.Number, ports.MaxParts))
		}
		if i > 0 && want.Number <= parts[i-1].Number {
			return ports.ObjectInfo{}, core.Invalid("parts", "the parts are not in ascending order of their numbers")
		}
		got, ok := have[want.Number]
		if !ok {
			return ports.ObjectInfo{}, core.Invalid("parts", fmt.Sprintf("part %d was not received", want.Number))
		}
		if unquote(want.ETag) != got.ETag {
			return ports.ObjectInfo{}, core.Invalid("parts", fmt.Sprintf("part %d is not the one received (ETag %q)", want.Number, want.ETag))
		}
	}

	st, err := s.assemble(ctx, uploadID, parts, have)
	if err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("local storage: complete upload %s: %w", uploadID, err)
	}
	defer s.discard(st.name)
	info, err := s.commit(ctx, key, st, up.ContentType)
	if err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("local storage: complete upload %s: %w", uploadID, err)
	}
	// The object is in place: the upload ends whatever happens next (a
	// folder left behind without its info is unknown, and purged).
	s.dropUpload(uploadID)
	return info, nil
}

// assemble copies the parts into a staging file; the upload's lock is held,
// so no part changes meanwhile.
func (s *Storage) assemble(ctx context.Context, uploadID string, parts []ports.Part, have map[int]ports.Part) (staged, error) {
	return s.writeStaging(func(w io.Writer, buf []byte) (int64, error) {
		var total int64
		for _, p := range parts {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			pf, err := s.root.Open(uploadPath(uploadID, strconv.Itoa(p.Number)))
			if err != nil {
				return 0, err
			}
			n, err := io.CopyBuffer(w, &ctxReader{ctx: ctx, r: pf}, buf)
			_ = pf.Close()
			if err != nil {
				return 0, err
			}
			if n != have[p.Number].Size {
				return 0, fmt.Errorf("part %d holds %d bytes, not %d", p.Number, n, have[p.Number].Size)
			}
			total += n
		}
		return total, nil
	})
}

// AbortUpload removes the upload and its parts; an unknown upload (or one
// of another key) is not an error.
func (s *Storage) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	lock := s.uploadLock(uploadID)
	lock.Lock()
	defer lock.Unlock()
	if _, err := s.loadUpload(key, uploadID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := s.root.Remove(uploadPath(uploadID, infoFile)); err != nil && !notExist(err) {
		return fmt.Errorf("local storage: abort upload %s: %w", uploadID, err)
	}
	s.dropUpload(uploadID)
	return nil
}

// dropUpload removes an upload's folder: its info first, so that an upload
// whose folder cannot be removed whole is unknown all the same.
func (s *Storage) dropUpload(uploadID string) {
	_ = s.root.Remove(uploadPath(uploadID, infoFile))
	_ = s.root.RemoveAll(uploadPath(uploadID))
	_ = s.syncDir(uploadsDir)
}

// PurgeUploads removes the uploads created before olderThan (abandoned: the
// core aborts the uploads it gives up, this is the safety net) with their
// parts, and staging files last written before olderThan (left by a crash or
// a stalled client). It returns the number of uploads removed.
func (s *Storage) PurgeUploads(ctx context.Context, olderThan time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	entries, err := fs.ReadDir(s.root.FS(), uploadsDir)
	if err != nil {
		return 0, fmt.Errorf("local storage: purge uploads: %w", err)
	}
	purged := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return purged, err
		}
		id := e.Name()
		if !validUploadID(id) || !e.IsDir() {
			continue
		}
		if s.purgeUpload(id, olderThan) {
			purged++
		}
	}
	if _, err := s.purgeStaging(ctx, olderThan); err != nil {
		return purged, fmt.Errorf("local storage: purge uploads: %w", err)
	}
	return purged, nil
}

// purgeUpload removes the upload id when it was created before olderThan (by
// its info, else by its folder's modification time).
func (s *Storage) purgeUpload(id string, olderThan time.Time) bool {
	lock := s.uploadLock(id)
	lock.Lock()
	defer lock.Unlock()
	var created time.Time
	if b, err := s.root.ReadFile(uploadPath(id, infoFile)); err == nil {
		var info uploadInfo
		if json.Unmarshal(b, &info) == nil {
			created = info.Created
		}
	}
	if created.IsZero() {
		fi, err := s.root.Lstat(uploadPath(id))
		if err != nil {
			return false
		}
		created = fi.ModTime()
	}
	if !created.Before(olderThan) {
		return false
	}
	s.dropUpload(id)
	return true
}

// purgeStaging removes the staging files last written before olderThan.
func (s *Storage) purgeStaging(ctx context.Context, olderThan time.Time) (int, error) {
	entries, err := fs.ReadDir(s.root.FS(), stagingDir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		fi, err := e.Info()
		if err != nil || fi.IsDir() || !fi.ModTime().Before(olderThan) {
			continue
		}
		if s.root.Remove(path.Join(stagingDir, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// staged is a synced file in staging/ holding the bytes of an object or a
// part.
type staged struct {
	name    string
	size    int64
	modTime time.Time
	etag    string
}

func (st staged) meta(contentType string) meta {
	return meta{Size: st.size, ModTime: st.modTime.UnixNano(), ETag: st.etag, ContentType: contentType}
}

// stage writes r to a staging file: size bytes exactly, or all of r when
// size is -1. On failure the file is removed.
func (s *Storage) stage(ctx context.Context, r io.Reader, size int64) (staged, error) {
	return s.writeStaging(func(w io.Writer, buf []byte) (int64, error) {
		src := io.Reader(fullReader{&ctxReader{ctx: ctx, r: r}})
		if size >= 0 {
			src = io.LimitReader(src, size+1) // one more byte tells a longer body
		}
		n, err := io.CopyBuffer(w, src, buf)
		if err != nil {
			return 0, bodyErr(err)
		}
		switch {
		case size >= 0 && n < size:
			return 0, core.Invalid("size", fmt.Sprintf("the body holds %d bytes, not the %d declared", n, size))
		case size >= 0 && n > size:
			return 0, core.Invalid("size", fmt.Sprintf("the body holds more than the %d bytes declared", size))
		}
		return n, nil
	})
}

// writeStaging runs write on a new staging file (through a pooled copy
// buffer) and seals it; when write fails the file is removed.
func (s *Storage) writeStaging(write func(w io.Writer, buf []byte) (int64, error)) (staged, error) {
	f, name, err := s.createStaging()
	if err != nil {
		return staged{}, err
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	n, err := write(&writeback{f: f}, *buf)
	if err != nil {
		_ = f.Close()
		s.discard(name)
		return staged{}, err
	}
	return s.seal(f, name, n)
}

// seal syncs and closes a written staging file.
func (s *Storage) seal(f *os.File, name string, n int64) (staged, error) {
	err := f.Sync()
	var fi os.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && fi.Size() != n {
		err = fmt.Errorf("staging file %s holds %d bytes, %d were written", name, fi.Size(), n)
	}
	if err != nil {
		s.discard(name)
		return staged{}, err
	}
	var tag [16]byte
	_, _ = rand.Read(tag[:])
	return staged{name: name, size: n, modTime: fi.ModTime(), etag: hex.EncodeToString(tag[:])}, nil
}

// copyBuffers are the buffers bytes are copied through. Small enough that
// what the caller's reader just produced (and hashed) is still in the CPU's
// cache when it is written: 1 MiB buffers made 256 MiB uploads about a
// third slower than 32 KiB ones (bench.BenchmarkFileUpload).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fullReader fills each buffer whole before it is written: a multipart
// part reads 4 KiB at a time, and a write each would cost a system call
// per 4 KiB.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) { return readahead.Fill(f.r, p) }

// writeback writes to a staging file and starts the disk writing each
// writebackChunk written (startWriteback), so that the disk works while the
// rest arrives. It hides the file's ReadFrom, which would copy through a
// small buffer of its own instead of the one given to io.CopyBuffer.
type writeback struct {
	f         *os.File
	off, done int64 // bytes written; bytes handed to the disk
}

// writebackChunk is how much a staging file is written before its disk
// writing is started.
const writebackChunk = 8 << 20

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.done >= writebackChunk {
		startWriteback(w.f, w.done, w.off-w.done)
		w.done = w.off
	}
	return n, err
}

// bodyErr wraps an error of reading the caller's reader (ctx's own error
// as is).
func bodyErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("reading the body: %w", err)
}

// stageBytes writes b to a synced staging file and returns its name.
func (s *Storage) stageBytes(b []byte) (string, error) {
	f, name, err := s.createStaging()
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.discard(name)
		return "", err
	}
	return name, nil
}

// createStaging creates a new file in staging/.
func (s *Storage) createStaging() (*os.File, string, error) {
	for {
		name := path.Join(stagingDir, randomHex(12)+".tmp")
		f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, name, nil
	}
}

// discard removes a staging file (gone already once renamed into place).
func (s *Storage) discard(name string) {
	if name != "" {
		_ = s.root.Remove(name)
	}
}

// commit renames a staged object into place as key, its sidecar after it,
// and syncs their folders.
func (s *Storage) commit(ctx context.Context, key string, st staged, contentType string) (ports.ObjectInfo, error) {
	mb, err := json.Marshal(st.meta(contentType))
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	mtmp, err := s.stageBytes(mb)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	defer s.discard(mtmp)

	lock := s.keyLock(key)
	lock.Lock()
	defer lock.Unlock()
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, err // the last moment to give up
	}
	if err := s.renameInto(st.name, objectPath(key)); err != nil {
		return ports.ObjectInfo{}, placeErr(key, err)
	}
	// The object is in place: from here a failure leaves it with no
	// sidecar, or a stale one, which Stat recognises and does without.
	metaErr := s.renameInto(mtmp, metaPath(key))
	if err := s.syncDir(path.Dir(objectPath(key))); err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("making %s durable: %w", key, err)
	}
	if metaErr == nil {
		_ = s.syncDir(path.Dir(metaPath(key)))
	} else {
		_, _ = s.removeFile(metaPath(key))
		contentType = ""
	}
	return ports.ObjectInfo{Key: key, Size: st.size, ModTime: st.modTime, ETag: st.etag, ContentType: contentType}, nil
}

// renameInto renames from to to, creating to's folders; it tries again when
// a Delete pruned them in between, which MkdirAll itself may report: as
// ENOENT (a folder it opened was removed before it made the next one in
// it) or as EEXIST (it found the folder there, and it was gone when it
// looked at what was there). A real object in a folder's place fails every
// try.
func (s *Storage) renameInto(from, to string) error {
	var err error
	for range 5 {
		if err = s.root.MkdirAll(path.Dir(to), dirPerm); err != nil {
			if errors.Is(err, fs.ErrExist) || notExist(err) {
				continue
			}
			return err
		}
		if err = s.root.Rename(from, to); err == nil || !notExist(err) {
			return err
		}
		if _, serr := s.root.Lstat(from); serr != nil {
			return err // the staged file itself is gone
		}
	}
	return err
}

// placeErr names why an object could not be put at key.
func placeErr(key string, err error) error {
	switch {
	case errors.Is(err, syscall.ENAMETOOLONG):
		return fmt.Errorf("%w: %w", core.Invalid("key", fmt.Sprintf("storage key %q is too long for the local disk", key)), err)
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EEXIST),
		errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", core.Publicf(core.ErrConflict,
			"storage key %q collides with another object: on a local disk an object cannot also be a folder of objects", key), err)
	}
	return err
}

// lookupErr is the error of finding no object at key.
func (s *Storage) lookupErr(op, key string, err error) error {
	if notExist(err) || errors.Is(err, syscall.ENAMETOOLONG) {
		return fmt.Errorf("local storage: %s %s: %w", op, key, core.Publicf(core.ErrNotFound, "no stored object %q", key))
	}
	return fmt.Errorf("local storage: %s %s: %w", op, key, err)
}

// meta is the sidecar of an object or a part.
type meta struct {
	Size        int64  `json:"size"`
	ModTime     int64  `json:"mod_time_ns"`
	ETag        string `json:"etag"`
	ContentType string `json:"content_type,omitempty"`
}

// readMeta returns the sidecar name of the file fi when it matches it, else
// metadata made of fi alone.
func (s *Storage) readMeta(name string, fi os.FileInfo) meta {
	if f, err := s.root.Open(name); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, maxMeta))
		_ = f.Close()
		var m meta
		if err == nil && json.Unmarshal(b, &m) == nil &&
			m.Size == fi.Size() && m.ModTime == fi.ModTime().UnixNano() && m.ETag != "" {
			return m
		}
	}
	return meta{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), ETag: fmt.Sprintf("%x-%x", fi.Size(), fi.ModTime().UnixNano())}
}

// describe is the ObjectInfo of the object key whose file is fi; the key's
// lock is held.
func (s *Storage) describe(key string, fi os.FileInfo) ports.ObjectInfo {
	m := s.readMeta(metaPath(key), fi)
	return ports.ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: m.ETag, ContentType: m.ContentType}
}

// uploadInfo is the info.json of an upload.
type uploadInfo struct {
	Key         string    `json:"key"`
	ContentType string    `json:"content_type,omitempty"`
	Created     time.Time `json:"created"`
}

// loadUpload reads the info of the upload uploadID of key: core.ErrNotFound
// when there is none, or it is another key's.
func (s *Storage) loadUpload(key, uploadID string) (uploadInfo, error) {
	if !validUploadID(uploadID) {
		return uploadInfo{}, notFoundUpload(key, uploadID)
	}
	b, err := s.root.ReadFile(uploadPath(uploadID, infoFile))
	if err != nil {
		if notExist(err) {
			return uploadInfo{}, notFoundUpload(key, uploadID)
		}
		return uploadInfo{}, fmt.Errorf("local storage: upload %s: %w", uploadID, err)
	}
	var info uploadInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return uploadInfo{}, fmt.Errorf("local storage: upload %s: reading its info: %w", uploadID, err)
	}
	if info.Key != key {
		return uploadInfo{}, notFoundUpload(key, uploadID)
	}
	return info, nil
}

func notFoundUpload(key, uploadID string) error {
	return core.Publicf(core.ErrNotFound, "no upload %q of %q", uploadID, key)
}

// syncDir makes the entries of dir durable (no-op on Windows, which cannot
// sync a folder).
func (s *Storage) syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Storage) keyLock(key string) *sync.RWMutex { return &s.keys[stripe(key)] }

func (s *Storage) uploadLock(id string) *sync.Mutex { return &s.uploads[stripe(id)] }

func stripe(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32() % stripes
}

// checkKey is files.CheckKey, plus the limit of file systems on a name.
func checkKey(key string) error {
	if err := files.CheckKey(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if len(seg) > maxSegment {
			return core.Invalid("key", fmt.Sprintf("storage key %q: a segment longer than %d bytes cannot be stored on a local disk", key[:64]+"…", maxSegment))
		}
	}
	return nil
}

func objectPath(key string) string { return objectsDir + "/" + key }

func metaPath(key string) string { return metaDir + "/" + key }

func uploadPath(id string, name ...string) string {
	return path.Join(append([]string{uploadsDir, id}, name...)...)
}

// validUploadID reports whether id is one New could have made: 32 lowercase
// hex digits.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// partNumber parses the name of a part file: a number from 1 to
// ports.MaxParts without leading zeros.
func partNumber(name string) (int, bool) {
	if name == "" || name[0] == '0' || len(name) > 5 {
		return 0, false
	}
	n, err := strconv.Atoi(name)
	if err != nil || n < 1 || n > ports.MaxParts || strconv.Itoa(n) != name {
		return 0, false
	}
	return n, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func unquote(etag string) string {
	return strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(etag, "W/"), `"`), `"`)
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

var (
	_ ports.MultipartStorage = (*Storage)(nil)
	_ io.Closer              = (*Storage)(nil)
)
