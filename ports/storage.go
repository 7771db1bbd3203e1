package ports

import (
	"context"
	"errors"
	"io"
	"time"
)

// Storage keeps the bytes of files; their metadata lives in the File
// DocType. Keys are slash-separated paths of segments made of letters,
// digits and . _ - (no empty, "." or ".." segment, no leading slash, at most
// MaxStorageKey bytes); the core builds them and always starts them with the
// tenant's own segment, so one tenant's objects are never addressed from
// another's. An adapter refuses any other key with core.ErrValidation and
// must never touch anything outside its own root or bucket whatever key it is
// given.
//
// Every method honours ctx. Errors: core.ErrNotFound for a missing object
// (or upload), core.ErrValidation for a bad key, range or part number, and
// core.Unavailable errors when the backend cannot be reached.
type Storage interface {
	// Put stores the bytes of r under key, replacing any object there. size
	// is their count, or -1 when unknown (the adapter then streams them, in
	// parts where it must; it never holds the whole body in memory). A Put
	// that fails, or whose r fails, never leaves a partial object, not even
	// after a crash: the object that was under key before (if any) stays as
	// it was. When size ≥ 0 and r holds another count of bytes, Put fails
	// (core.ErrValidation).
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)
	// Open returns the object's bytes: all of them when rng is nil, else
	// those of rng, clipped to the end (core.ErrValidation, wrapping
	// ErrRangeNotSatisfiable, for a range starting at or past the end, and
	// for any range of an empty object). The ObjectInfo describes the whole
	// object, whatever the range. The caller closes the reader.
	Open(ctx context.Context, key string, rng *ByteRange) (io.ReadCloser, ObjectInfo, error)
	// Stat returns the object's size, modification time, ETag and content
	// type; it is also how to ask whether an object exists (files.Exists).
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix (a key
	// prefix as built by the core, ending in "/"), in no set order, until fn
	// returns an error, which List returns. Upload parts not yet completed
	// are not objects.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
}

// MaxStorageKey is the longest storage key, in bytes.
const MaxStorageKey = 900

// PutOptions are optional properties of a stored object.
type PutOptions struct {
	// ContentType is stored with the object where the backend keeps one.
	ContentType string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	ModTime     time.Time
	ETag        string // the backend's (quoted or not, as the backend has it)
	ContentType string // as stored, where the backend keeps one
}

// ByteRange is Length bytes from Offset; Length < 0 means to the end.
type ByteRange struct {
	Offset, Length int64
}

// ErrRangeNotSatisfiable is wrapped by the error of Open for a range that
// starts at or past the end of the object.
var ErrRangeNotSatisfiable = errors.New("range not satisfiable")

// MultipartStorage is implemented by storages that assemble an object from
// numbered parts sent separately (resumable uploads): S3's multipart upload,
// part files on a local disk. Parts are numbered 1 to MaxParts; a part sent
// again replaces the one sent before; every part but the last must hold at
// least MinPartSize bytes where the backend requires it (S3: 5 MiB).
type MultipartStorage interface {
	Storage
	// CreateUpload starts an upload of the object key and returns its id.
	CreateUpload(ctx context.Context, key string, opts PutOptions) (uploadID string, err error)
	// PutPart stores part n of the upload from r, of size bytes (≥ 0).
	PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (Part, error)
	// ListParts returns the parts received so far, by number.
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	// CompleteUpload assembles the parts given, in ascending order of
	// number without repeats, into the object key and ends the upload; it
	// fails (core.ErrValidation) when one is missing, out of order or not the
	// one received, and the upload then stays usable.
	CompleteUpload(ctx context.Context, key, uploadID string, parts []Part) (ObjectInfo, error)
	// AbortUpload ends the upload and drops its parts; an unknown upload is
	// not an error.
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// MaxParts is the highest part number of a multipart upload.
const MaxParts = 10000

// MinPartSize is the smallest size of every part but the last that every
// backend accepts (S3's minimum).
const MinPartSize = 5 << 20

// Part is one received part of a multipart upload.
type Part struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
}

// Presigner is implemented by storages that hand out URLs through which a
// client transfers an object's bytes directly, without the app in between.
type Presigner interface {
	// PresignPut returns a URL accepting one HTTP PUT of the object key, until
	// expiry.
	PresignPut(ctx context.Context, key string, expiry time.Duration) (string, error)
	// PresignGet returns a URL serving the object key until expiry, with the
	// Content-Disposition given (empty: the backend's default).
	PresignGet(ctx context.Context, key string, expiry time.Duration, disposition string) (string, error)
	// PresignPart returns a URL accepting one HTTP PUT of part n of an upload.
	PresignPart(ctx context.Context, key, uploadID string, n int, expiry time.Duration) (string, error)
}

// SniffLen is how many leading bytes of a file a ContentSniffer is given.
const SniffLen = 3072

// ContentSniffer tells a file's type from its content, never from what the
// client claims.
type ContentSniffer interface {
	// Sniff returns the MIME type of content beginning with head (its first
	// SniffLen bytes, or all of it when shorter) and whether that is a type
	// a file with extension ext (lower case, without the dot) may have.
	Sniff(head []byte, ext string) (contentType string, agrees bool)
}
