// Package s3 is the S3 adapter of ports.Storage (minio-go v7): the bytes of
// files live as objects of one bucket of an S3-compatible server (Amazon S3,
// MinIO, Ceph, versitygw, Garage …), under an optional key prefix.
//
// It implements ports.Storage, ports.MultipartStorage (S3's multipart
// upload) and ports.Presigner (presigned URLs, so clients transfer bytes with
// the server directly), and reports the server in /readyz
// (ports.Readiness).
//
// Put streams a body of known size up to Config.PartSize in one PUT, without
// holding it; a larger body, or one of unknown size, goes in a multipart
// upload of parts of PartSize bytes read into one buffer at a time (a body of
// unknown size that turns out to fit in one part is sent in one PUT). Memory
// per Put is therefore at most about PartSize (size/10,000 for a body of
// known size too large for 10,000 parts of PartSize). A body of known size
// holding another count of bytes is refused before the request that would
// store it ends. A Put that fails aborts its multipart upload; parts the
// server still holds after a crash are not objects, and PurgeUploads
// removes them.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/ports"
)

const (
	// DefaultPartSize is the part size of multipart uploads by default.
	DefaultPartSize = 25 << 20
	// MaxPartSize is S3's largest part (and largest single PUT).
	MaxPartSize = 5 << 30
	// MaxObjectSize is S3's largest object.
	MaxObjectSize = 5 << 40
	// DefaultEndpoint is Amazon S3's.
	DefaultEndpoint = "https://s3.amazonaws.com"
	// MaxPresignExpiry is the longest validity of a presigned URL (S3's
	// limit for signature version 4).
	MaxPresignExpiry = 7 * 24 * time.Hour

	// maxObjectName is S3's longest object name, in bytes.
	maxObjectName = 1024

	dialTimeout           = 5 * time.Second
	responseHeaderTimeout = 30 * time.Second
	readyTimeout          = 3 * time.Second
	abortTimeout          = time.Minute
	// maxRetries bounds minio-go's retries of a failed request (it waits up
	// to 200 ms, 400 ms … between them), so an unreachable server is
	// reported within a second or so.
	maxRetries = 3
)

// what names the dependency in core.Unavailable errors.
const what = "file storage"

// Config is the S3 storage's configuration.
type Config struct {
	// Bucket holds the objects (required). New does not create it; see
	// EnsureBucket.
	Bucket string `toml:"bucket"`
	// Region of the bucket. Empty: minio-go asks the server once per
	// bucket (set it to spare that request; "us-east-1" for most
	// S3-compatible servers).
	Region string `toml:"region"`
	// Endpoint is the server: "https://host[:port]", "http://host:port" or
	// "host[:port]" (then UseSSL decides). Empty: Amazon S3.
	Endpoint string `toml:"endpoint"`
	// AccessKey and SecretKey are the static credentials. Both empty: the
	// AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared
	// credentials file, then the instance's or pod's IAM role).
	AccessKey string `toml:"access_key"`
	SecretKey string `toml:"secret_key"`
	// UsePathStyle addresses the bucket in the path (host/bucket/key)
	// rather than in the host name (bucket.host/key): MinIO and most
	// self-hosted servers need it.
	UsePathStyle bool `toml:"use_path_style"`
	// UseSSL speaks HTTPS to an Endpoint given without a scheme.
	UseSSL bool `toml:"use_ssl"`
	// PartSize is the size of the parts of the multipart uploads Put makes,
	// and so its memory use (0: DefaultPartSize; ports.MinPartSize to
	// MaxPartSize). The largest body of unknown size Put takes is
	// ports.MaxParts × PartSize (250 GiB by default).
	PartSize int64 `toml:"part_size"`
	// Prefix starts the name of every object, so that several apps can
	// share a bucket: a storage key ("a/b") followed by "/", or empty.
	Prefix string `toml:"prefix"`
}

// Validate checks the configuration. It never quotes the credentials.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return core.Invalid("bucket", "is required")
	}
	if err := s3utils.CheckValidBucketName(c.Bucket); err != nil {
		return core.Invalid("bucket", err.Error())
	}
	if _, _, err := c.endpoint(); err != nil {
		return err
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return core.Invalid("access_key", "access_key and secret_key go together: set both or neither")
	}
	if c.PartSize != 0 && (c.PartSize < ports.MinPartSize || c.PartSize > MaxPartSize) {
		return core.Invalidf("part_size", "must be between %d (5 MiB) and %d (5 GiB) bytes", ports.MinPartSize, int64(MaxPartSize))
	}
	if c.Prefix != "" {
		if err := files.CheckPrefix(c.Prefix); err != nil {
			return core.Invalid("prefix", "must be a storage key followed by / (such as \"app1/\"), or empty")
		}
		if len(c.Prefix)+ports.MaxStorageKey > maxObjectName {
			return core.Invalidf("prefix", "must be at most %d bytes, so that every storage key fits in an S3 object name", maxObjectName-ports.MaxStorageKey)
		}
	}
	return nil
}

// endpoint returns the host[:port] minio-go wants and whether to use TLS.
func (c Config) endpoint() (host string, secure bool, err error) {
	ep := strings.TrimSpace(c.Endpoint)
	if ep == "" {
		ep = DefaultEndpoint
	}
	if !strings.Contains(ep, "://") {
		scheme := "http://"
		if c.UseSSL {
			scheme = "https://"
		}
		ep = scheme + ep
	}
	bad := func(why string) (string, bool, error) {
		return "", false, core.Invalid("endpoint", why)
	}
	u, perr := url.Parse(ep)
	switch {
	case perr != nil:
		return bad("is not a host[:port] or an http(s) URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("must use http or https")
	case u.User != nil:
		return bad("must not hold credentials (use access_key and secret_key)")
	case u.Host == "" || u.Hostname() == "":
		return bad("has no host")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return bad("must be a scheme and host[:port] only, without path or query")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("has an invalid port")
		}
	}
	return u.Host, u.Scheme == "https", nil
}

// Storage is the S3 implementation of ports.Storage,
// ports.MultipartStorage and ports.Presigner.
type Storage struct {
	client    *minio.Client
	core      minio.Core
	transport *http.Transport
	bucket    string
	region    string
	prefix    string
	partSize  int64
	bufs      sync.Pool // *[]byte of partSize bytes
}

// New returns a storage on the bucket of cfg, which it checks. It makes no
// request: the server may be down at start (see Ready), and the bucket must
// exist (see EnsureBucket).
func New(ctx context.Context, cfg Config, opts ...Option) (*Storage, error) {
	_ = ctx // New makes no request; ctx is for symmetry with other adapters
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	host, secure, _ := cfg.endpoint()
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: transport: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = responseHeaderTimeout
	tr.ExpectContinueTimeout = time.Second
	tr.MaxIdleConnsPerHost = 64

	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Transport: tr}},
		})
	}
	var rt http.RoundTripper = tr
	if o.tracer != nil {
		rt = traced(tr, o.tracer)
	}
	lookup := minio.BucketLookupAuto
	if cfg.UsePathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    rt,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	s := &Storage{
		client:    client,
		core:      minio.Core{Client: client},
		transport: tr,
		bucket:    cfg.Bucket,
		region:    cfg.Region,
		prefix:    cfg.Prefix,
		partSize:  partSize,
	}
	s.bufs.New = func() any { b := make([]byte, s.partSize); return &b }
	return s, nil
}

// Close drops the idle connections to the server.
func (s *Storage) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// Ready reports whether the server answers and the bucket exists, within a
// few seconds.
func (s *Storage) Ready(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(cctx, s.bucket)
	if err != nil {
		// Judged against ctx: running out of our own time is unavailability.
		return s.fail(ctx, "check bucket", "", err)
	}
	if !ok {
		return core.Unavailable(what, fmt.Errorf("bucket %q does not exist", s.bucket))
	}
	return nil
}

// Readiness reports the server in /readyz as "storage". It is not required:
// while it is down only file transfers fail, and every instance shares it.
func (s *Storage) Readiness() ports.Dependency {
	return ports.Dependency{Name: "storage", Check: s.Ready}
}

// EnsureBucket creates the bucket when it does not exist (in Config.Region).
func (s *Storage) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.fail(ctx, "check bucket", "", err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return nil
		}
		return s.fail(ctx, "create bucket", "", err)
	}
	return nil
}

// name is the object name of key.
func (s *Storage) name(key string) string { return s.prefix + key }

// ---- ports.Storage ------------------------------------------------------------

// Put stores the bytes of r under key. See the package documentation for
// how; a body holding another count of bytes than size ≥ 0 fails with
// core.ErrValidation and leaves no object.
func (s *Storage) Put(ctx context.Context, key string, r io.Reader, size int64, opts ports.PutOptions) (ports.ObjectInfo, error) {
	if err := files.CheckKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	if size < -1 {
		return ports.ObjectInfo{}, core.Invalid("size", "must be -1 (unknown) or at least 0")
	}
	if size > MaxObjectSize {
		return ports.ObjectInfo{}, fmt.Errorf("s3 storage: put %q: %w: %d bytes is over S3's limit of 5 TiB", key, core.ErrPayloadTooBig, size)
	}
	if err := ctx.Err(); err != nil {
		return ports.ObjectInfo{}, fmt.Errorf("s3 storage: put %q: %w", key, err)
	}
	body := r
	var sized *sizedReader
	if size >= 0 {
		sized = &sizedReader{r: r, left: size}
		body = sized
		if size == 0 {
			// minio-go sends no body for 0 bytes, so it never reads r.
			if err := sized.probe(); !errors.Is(err, io.EOF) {
				return ports.ObjectInfo{}, s.putFailed(ctx, key, sized, err)
			}
		}
	}
	po := minio.PutObjectOptions{ContentType: opts.ContentType, PartSize: uint64(s.partSize)}
	var (
		ui    minio.UploadInfo
		total = size
		err   error
	)
	if size >= 0 && size <= s.partSize {
		// Streamed in one PUT: S3 stores it whole or not at all.
		ui, err = s.client.PutObject(ctx, s.bucket, s.name(key), body, size, po)
	} else {
		partSize := s.partSize
		if size > partSize*ports.MaxParts {
			partSize = min((size+ports.MaxParts-1)/ports.MaxParts, MaxPartSize)
		}
		ui, total, err = s.putParts(ctx, key, body, partSize, po)
	}
	if err != nil {
		return ports.ObjectInfo{}, s.putFailed(ctx, key, sized, err)
	}
	if sized != nil && !sized.done() {
		// Not reached with minio-go as it is; kept so that a body longer
		// than size can never leave an object truncated to size.
		if perr := sized.finish(); perr != nil {
			s.dropFailed(ctx, key)
			return ports.ObjectInfo{}, s.putFailed(ctx, key, sized, perr)
		}
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		// Stored: only the server's description is missing (its ModTime
		// and the content type it defaulted to). Report what we know.
		info = ports.ObjectInfo{Key: key, Size: total, ModTime: time.Now().UTC().Truncate(time.Second),
			ETag: ui.ETag, ContentType: opts.ContentType}
	}
	return info, nil
}

// putFailed is the error of a Put that failed with err, preferring what the
// body reader reported (a size mismatch, the caller's read error).
func (s *Storage) putFailed(ctx context.Context, key string, sized *sizedReader, err error) error {
	if sized != nil && sized.err != nil {
		if errors.Is(sized.err, core.ErrValidation) {
			return sized.err
		}
		return fmt.Errorf("s3 storage: put %q: reading the body: %w", key, sized.err)
	}
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("s3 storage: put %q: reading the body: %w", key, re.err)
	}
	return s.fail(ctx, "put", key, err)
}

// dropFailed removes the object of a Put found wrong after the fact.
func (s *Storage) dropFailed(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_ = s.client.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{})
}

// readError marks an error of the body reader in putParts.
type readError struct{ err error }

func (e *readError) Error() string { return "reading the body: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// putParts stores r in a multipart upload of parts of partSize bytes, read
// into one buffer at a time; a body that fits in the first part is sent in
// one PUT instead. It returns the server's answer and the count of bytes
// stored. On failure it aborts the upload, even when ctx ended.
func (s *Storage) putParts(ctx context.Context, key string, r io.Reader, partSize int64, po minio.PutObjectOptions) (ui minio.UploadInfo, total int64, err error) {
	var buf []byte
	if partSize == s.partSize {
		bp := s.bufs.Get().(*[]byte)
		defer func() {
			// After a failure the transport may still be reading a part
			// from buf in the background: leave it to the collector.
			if err == nil {
				s.bufs.Put(bp)
			}
		}()
		buf = *bp
	} else {
		buf = make([]byte, partSize)
	}
	name := s.name(key)
	n, rerr := io.ReadFull(r, buf)
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		// A seekable body: minio-go may retry this PUT.
		ui, err = s.client.PutObject(ctx, s.bucket, name, bytes.NewReader(buf[:n]), int64(n), po)
		return ui, int64(n), err
	}
	if rerr != nil {
		return ui, 0, &readError{rerr}
	}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.bucket, name, po)
	if err != nil {
		return ui, 0, err
	}
	defer func() {
		if err != nil {
			s.abort(ctx, name, uploadID)
		}
	}()
	var parts []minio.CompletePart
	for num := 1; ; num++ {
		if num > ports.MaxParts {
			return ui, 0, fmt.Errorf("s3 storage: put %q: %w: the body is larger than %d parts of %d bytes", key, core.ErrPayloadTooBig, ports.MaxParts, partSize)
		}
		p, err := s.core.PutObjectPart(ctx, s.bucket, name, uploadID, num, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectPartOptions{})
		if err != nil {
			return ui, 0, err
		}
		total += int64(n)
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		if rerr == io.ErrUnexpectedEOF {
			break // that was the short last part
		}
		n, rerr = io.ReadFull(r, buf)
		if rerr == io.EOF {
			break // the body ended at a part boundary
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return ui, 0, &readError{rerr}
		}
	}
	ui, err = s.core.CompleteMultipartUpload(ctx, s.bucket, name, uploadID, parts, po)
	return ui, total, err
}

// abort aborts an upload of Put that failed, whether or not ctx ended.
func (s *Storage) abort(ctx context.Context, name, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_ = s.core.AbortMultipartUpload(ctx, s.bucket, name, uploadID)
}

// Open returns the object's bytes, or those of rng (clipped to the end of
// the object). The ObjectInfo describes the whole object.
func (s *Storage) Open(ctx context.Context, key string, rng *ports.ByteRange) (io.ReadCloser, ports.ObjectInfo, error) {
	if err := files.CheckKey(key); err != nil {
		return nil, ports.ObjectInfo{}, err
	}
	if rng != nil && rng.Offset < 0 {
		return nil, ports.ObjectInfo{}, core.Invalid("range", "the offset must not be negative")
	}
	if rng != nil && rng.Length == 0 {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return nil, ports.ObjectInfo{}, err
		}
		if rng.Offset >= info.Size {
			return nil, ports.ObjectInfo{}, rangeError(rng.Offset, info.Size)
		}
		return io.NopCloser(strings.NewReader("")), info, nil
	}
	var o minio.GetObjectOptions
	if rng != nil {
		var err error
		switch end := rng.Offset + rng.Length - 1; {
		case rng.Length > 0 && end >= rng.Offset: // bytes=offset-end
			err = o.SetRange(rng.Offset, end)
		case rng.Offset > 0: // bytes=offset- (to the end; also on overflow)
			err = o.SetRange(rng.Offset, 0)
		}
		if err != nil {
			return nil, ports.ObjectInfo{}, core.Invalid("range", err.Error())
		}
	}
	body, oi, hdr, err := s.core.GetObject(ctx, s.bucket, s.name(key), o)
	if err != nil {
		if er := minio.ToErrorResponse(err); rng != nil && (er.Code == minio.InvalidRange || er.StatusCode == http.StatusRequestedRangeNotSatisfiable) {
			return nil, ports.ObjectInfo{}, rangeError(rng.Offset, -1)
		}
		return nil, ports.ObjectInfo{}, s.fail(ctx, "open", key, err)
	}
	info := s.info(key, oi)
	total, ranged := contentRangeTotal(hdr.Get("Content-Range"))
	if ranged {
		info.Size = total
	}
	if rng == nil {
		return body, info, nil
	}
	if rng.Offset >= info.Size {
		body.Close()
		return nil, ports.ObjectInfo{}, rangeError(rng.Offset, info.Size)
	}
	if !ranged && o.Header().Get("Range") != "" {
		// The server ignored the range and sent the whole object.
		if _, err := io.CopyN(io.Discard, body, rng.Offset); err != nil {
			body.Close()
			return nil, ports.ObjectInfo{}, s.fail(ctx, "open", key, err)
		}
		if rng.Length > 0 {
			return readCloser{io.LimitReader(body, rng.Length), body}, info, nil
		}
	}
	return body, info, nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// rangeError is the error of a range starting at or past the end.
func rangeError(offset, size int64) error {
	why := fmt.Sprintf("starts at byte %d, at or past the end of the object", offset)
	if size >= 0 {
		why = fmt.Sprintf("starts at byte %d, at or past the end of the object (%d bytes)", offset, size)
	}
	return fmt.Errorf("%w: %w", core.Invalid("range", why), ports.ErrRangeNotSatisfiable)
}

// contentRangeTotal returns the complete length of a Content-Range header
// ("bytes 0-9/100"), and whether there was a usable one.
func contentRangeTotal(h string) (int64, bool) {
	i := strings.LastIndexByte(h, '/')
	if !strings.HasPrefix(h, "bytes ") || i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(h[i+1:], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Stat returns the object's size, modification time, ETag and content type.
func (s *Storage) Stat(ctx context.Context, key string) (ports.ObjectInfo, error) {
	if err := files.CheckKey(key); err != nil {
		return ports.ObjectInfo{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return ports.ObjectInfo{}, s.fail(ctx, "stat", key, err)
	}
	return s.info(key, oi), nil
}

// info converts minio-go's description of the object key.
func (s *Storage) info(key string, oi minio.ObjectInfo) ports.ObjectInfo {
	return ports.ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: oi.ETag, ContentType: oi.ContentType}
}

// Delete removes the object; a missing one is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := files.CheckKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return s.fail(ctx, "delete", key, err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix (objects whose
// names are not storage keys, put there by something else, are skipped). The
// ObjectInfo carries no content type: S3 listings have none.
func (s *Storage) List(ctx context.Context, prefix string, fn func(ports.ObjectInfo) error) error {
	if err := files.CheckPrefix(prefix); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjectsIter(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.name(prefix), Recursive: true}) {
		if oi.Err != nil {
			return s.fail(ctx, "list", prefix, oi.Err)
		}
		key, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || files.CheckKey(key) != nil {
			continue
		}
		if err := fn(s.info(key, oi)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// ---- ports.MultipartStorage -----------------------------------------------------

// CreateUpload starts a multipart upload of key.
func (s *Storage) CreateUpload(ctx context.Context, key string, opts ports.PutOptions) (string, error) {
	if err := files.CheckKey(key); err != nil {
		return "", err
	}
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, s.name(key), minio.PutObjectOptions{ContentType: opts.ContentType})
	if err != nil {
		return "", s.fail(ctx, "create upload", key, err)
	}
	return id, nil
}

// checkPart checks the arguments naming a part of an upload.
func checkPart(key, uploadID string, n int) error {
	if err := files.CheckKey(key); err != nil {
		return err
	}
	if err := checkUploadID(uploadID); err != nil {
		return err
	}
	if n < 1 || n > ports.MaxParts {
		return core.Invalidf("part", "the part number must be between 1 and %d", ports.MaxParts)
	}
	return nil
}

// checkUploadID refuses an upload id no S3 server hands out: empty, longer
// than 1,024 bytes, with bytes outside printable ASCII, a space or a
// backslash, or with an empty, "." or ".." path segment. Servers keeping
// uploads in directories named by their id (versitygw's posix backend, for
// one) must never see an id that leaves its directory.
func checkUploadID(id string) error {
	bad := func(why string) error { return core.Invalid("upload_id", why) }
	if id == "" {
		return bad("is required")
	}
	if len(id) > 1024 {
		return bad("is longer than 1024 bytes")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return bad("is not an upload id")
		}
	}
	for _, seg := range strings.Split(id, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("is not an upload id")
		}
	}
	return nil
}

// PutPart stores part n of the upload from r, of size bytes. A body holding
// another count of bytes fails with core.ErrValidation and stores nothing.
func (s *Storage) PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (ports.Part, error) {
	if err := checkPart(key, uploadID, n); err != nil {
		return ports.Part{}, err
	}
	if size < 0 || size > MaxPartSize {
		return ports.Part{}, core.Invalidf("size", "a part holds 0 to %d bytes", int64(MaxPartSize))
	}
	sized := &sizedReader{r: r, left: size}
	if size == 0 {
		if err := sized.probe(); !errors.Is(err, io.EOF) {
			return ports.Part{}, s.putFailed(ctx, key, sized, err)
		}
	}
	p, err := s.core.PutObjectPart(ctx, s.bucket, s.name(key), uploadID, n, sized, size, minio.PutObjectPartOptions{})
	if err != nil {
		return ports.Part{}, s.putFailed(ctx, key, sized, err)
	}
	if !sized.done() {
		if err := sized.finish(); err != nil {
			return ports.Part{}, err // the next PutPart of n replaces it
		}
	}
	return ports.Part{Number: n, Size: size, ETag: normalizeETag(p.ETag)}, nil
}

// ListParts returns the parts received so far, by number.
func (s *Storage) ListParts(ctx context.Context, key, uploadID string) ([]ports.Part, error) {
	if err := checkPart(key, uploadID, 1); err != nil {
		return nil, err
	}
	var parts []ports.Part
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.bucket, s.name(key), uploadID, marker, 1000)
		if err != nil {
			return nil, s.fail(ctx, "list parts", key, err)
		}
		for _, p := range res.ObjectParts {
			parts = append(parts, ports.Part{Number: p.PartNumber, Size: p.Size, ETag: normalizeETag(p.ETag)})
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			break
		}
		marker = res.NextPartNumberMarker
	}
	if parts == nil {
		parts = []ports.Part{}
	}
	return parts, nil
}

// CompleteUpload assembles the parts given into the object key. Before
// asking the server it checks them against the parts received (number, size
// and ETag) and S3's rules (ascending numbers, every part but the last at
// least ports.MinPartSize), so every server refuses the same way.
func (s *Storage) CompleteUpload(ctx context.Context, key, uploadID string, parts []ports.Part) (ports.ObjectInfo, error) {
	if err := checkPart(key, uploadID, 1); err != nil {
		return ports.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return ports.ObjectInfo{}, core.Invalid("parts", "at least one part is required")
	}
	received, err := s.ListParts(ctx, key, uploadID)
	if err != nil {
		return ports.ObjectInfo{}, err
	}
	byNumber := make(map[int]ports.Part, len(received))
	for _, p := range received {
		byNumber[p.Number] = p
	}
	complete := make([]minio.CompletePart, 0, len(parts))
	for i, p := range parts {
		if p.Number < 1 || p.Number > ports.MaxParts {
			return ports.ObjectInfo{}, core.Invalidf("parts", "part number %d is not between 1 and %d", p.Number, ports.MaxParts)
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return ports.ObjectInfo{}, core.Invalid("parts", "the parts must be in ascending order of number, each once")
		}
		got, ok := byNumber[p.Number]
		if !ok {
			return ports.ObjectInfo{}, core.Invalidf("parts", "part %d was not received", p.Number)
		}
		if normalizeETag(p.ETag) != got.ETag || p.Size != got.Size {
			return ports.ObjectInfo{}, core.Invalidf("parts", "part %d is not the one received", p.Number)
		}
		if i < len(parts)-1 && got.Size < ports.MinPartSize {
			return ports.ObjectInfo{}, core.Invalidf("parts", "part %d holds %d bytes: every part but the last must hold at least %d", p.Number, got.Size, ports.MinPartSize)
		}
		complete = append(complete, minio.CompletePart{PartNumber: p.Number, ETag: got.ETag})
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, s.name(key), uploadID, complete, minio.PutObjectOptions{}); err != nil {
		return ports.ObjectInfo{}, s.fail(ctx, "complete upload", key, err)
	}
	return s.Stat(ctx, key)
}

// AbortUpload ends the upload and drops its parts; an unknown upload is not
// an error.
func (s *Storage) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := checkPart(key, uploadID, 1); err != nil {
		return err
	}
	if err := s.core.AbortMultipartUpload(ctx, s.bucket, s.name(key), uploadID); err != nil {
		if isNotFound(err) {
			return nil
		}
		return s.fail(ctx, "abort upload", key, err)
	}
	return nil
}

// PurgeUploads aborts the multipart uploads under the storage's prefix
// (the whole bucket when it has none) started before olderThan: those of
// Puts cut short by a crash, and sessions abandoned without their record.
// It returns how many it aborted.
func (s *Storage) PurgeUploads(ctx context.Context, olderThan time.Time) (int, error) {
	lctx, cancel := context.WithCancel(ctx)
	ch := s.client.ListIncompleteUploads(lctx, s.bucket, s.prefix, true)
	defer func() {
		cancel()
		for range ch { // let the lister end
		}
	}()
	n := 0
	for u := range ch {
		if u.Err != nil {
			return n, s.fail(ctx, "list uploads", s.prefix, u.Err)
		}
		if !strings.HasPrefix(u.Key, s.prefix) || u.UploadID == "" || !u.Initiated.Before(olderThan) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil && !isNotFound(err) {
			return n, s.fail(ctx, "abort upload", strings.TrimPrefix(u.Key, s.prefix), err)
		}
		n++
	}
	return n, ctx.Err()
}

// ---- ports.Presigner ------------------------------------------------------------

// checkExpiry checks the validity of a presigned URL.
func checkExpiry(expiry time.Duration) error {
	if expiry < time.Second || expiry > MaxPresignExpiry {
		return core.Invalid("expiry", "a presigned URL is valid from 1 second to 7 days")
	}
	return nil
}

// PresignPut returns a URL accepting one HTTP PUT of the object key.
func (s *Storage) PresignPut(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := files.CheckKey(key); err != nil {
		return "", err
	}
	if err := checkExpiry(expiry); err != nil {
		return "", err
	}
	u, err := s.client.PresignedPutObject(ctx, s.bucket, s.name(key), expiry)
	if err != nil {
		return "", s.fail(ctx, "presign put", key, err)
	}
	return u.String(), nil
}

// PresignGet returns a URL serving the object key with the
// Content-Disposition given (response-content-disposition).
func (s *Storage) PresignGet(ctx context.Context, key string, expiry time.Duration, disposition string) (string, error) {
	if err := files.CheckKey(key); err != nil {
		return "", err
	}
	if err := checkExpiry(expiry); err != nil {
		return "", err
	}
	params := url.Values{}
	if disposition != "" {
		params.Set("response-content-disposition", disposition)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.name(key), expiry, params)
	if err != nil {
		return "", s.fail(ctx, "presign get", key, err)
	}
	return u.String(), nil
}

// PresignPart returns a URL accepting one HTTP PUT of part n of an upload.
func (s *Storage) PresignPart(ctx context.Context, key, uploadID string, n int, expiry time.Duration) (string, error) {
	if err := checkPart(key, uploadID, n); err != nil {
		return "", err
	}
	if err := checkExpiry(expiry); err != nil {
		return "", err
	}
	params := url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {uploadID}}
	u, err := s.client.Presign(ctx, http.MethodPut, s.bucket, s.name(key), expiry, params)
	if err != nil {
		return "", s.fail(ctx, "presign part", key, err)
	}
	return u.String(), nil
}

// ---- errors ---------------------------------------------------------------------

// normalizeETag strips the quotes some servers and listings keep.
func normalizeETag(etag string) string { return strings.Trim(etag, `"`) }

// isNotFound reports whether err says the object or upload does not exist.
func isNotFound(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, minio.NoSuchUpload, "NotFound":
		return true
	}
	return false
}

// clientCodes are the S3 error codes of requests the adapter should not
// have made: bad arguments rather than a broken server.
var clientCodes = map[string]bool{
	"InvalidPart": true, "InvalidPartOrder": true, "EntityTooSmall": true, "EntityTooLarge": true,
	"InvalidArgument": true, "InvalidRange": true, "IncompleteBody": true, "InvalidDigest": true,
	"BadDigest": true, "KeyTooLongError": true, "MalformedXML": true, "XMinioInvalidObjectName": true,
}

// fail translates an error of minio-go for the operation op on key: a
// missing object or upload → core.ErrNotFound, a refused argument →
// core.ErrValidation, a server that cannot be reached or is failing (or
// refuses the credentials, or lacks the bucket) → core.Unavailable. The
// caller's own cancellation passes as it is.
func (s *Storage) fail(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, core.ErrValidation) || errors.Is(err, core.ErrUnavailable) || errors.Is(err, core.ErrPayloadTooBig) {
		return err
	}
	where := fmt.Sprintf("s3 storage: %s %q", op, key)
	if key == "" {
		where = "s3 storage: " + op
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("%s: %w", where, ctx.Err())
	}
	er := minio.ToErrorResponse(err)
	switch {
	case isNotFound(err):
		return fmt.Errorf("%s: %w", where, core.ErrNotFound)
	case er.Code == "" && er.StatusCode == 0:
		// Not an answer of the server: it could not be reached, or the
		// connection broke (or a check of minio-go's own).
		if transportError(err) {
			return core.Unavailable(what, fmt.Errorf("%s: %w", where, err))
		}
		return fmt.Errorf("%s: %w", where, err)
	case clientCodes[er.Code]:
		return fmt.Errorf("%s: %w", where, core.Invalid("request", er.Code+": "+er.Error()))
	default:
		// 5xx, SlowDown, AccessDenied, NoSuchBucket, signature mismatches:
		// the app cannot use the storage until someone acts or it recovers.
		return core.Unavailable(what, fmt.Errorf("%s: %s (%s, HTTP %d)", where, er.Error(), er.Code, er.StatusCode))
	}
}

// transportError reports whether err comes from the network rather than
// from minio-go's checks of its arguments.
func transportError(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// ---- body size check --------------------------------------------------------------

// sizedReader passes on exactly left bytes of r. When r ends early it fails
// with core.ErrValidation; when the last expected byte is read it checks at
// once that r holds no more (else it fails, before the consumer sends the
// end of its request), so a wrong size can never store an object.
type sizedReader struct {
	r      io.Reader
	left   int64
	probed bool  // r was found to end after the expected bytes
	err    error // first failure, returned from then on
}

// Read implements io.Reader.
func (s *sizedReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.left == 0 {
		return 0, s.probe()
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if s.left == 0 {
		if perr := s.probe(); !errors.Is(perr, io.EOF) {
			return n, perr
		}
		return n, io.EOF
	}
	switch {
	case err == io.EOF:
		s.err = core.Invalid("size", "the body holds fewer bytes than its declared size")
		return n, s.err
	case err != nil:
		s.err = err
		return n, err
	}
	return n, nil
}

// probe checks, once all expected bytes are read, that r holds no more: it
// returns io.EOF when so, else the failure.
func (s *sizedReader) probe() error {
	if s.probed {
		return io.EOF
	}
	var b [1]byte
	n, err := io.ReadFull(s.r, b[:])
	switch {
	case n > 0:
		s.err = core.Invalid("size", "the body holds more bytes than its declared size")
		return s.err
	case errors.Is(err, io.EOF):
		s.probed = true
		return io.EOF
	default:
		s.err = err
		return err
	}
}

// done reports whether all bytes were read and r was found to end there.
func (s *sizedReader) done() bool { return s.left == 0 && s.probed }

// finish reads what the consumer left and checks the size: nil when it
// matches.
func (s *sizedReader) finish() error {
	if _, err := io.Copy(io.Discard, s); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	return nil
}

// Interface guards.
var (
	_ ports.Storage          = (*Storage)(nil)
	_ ports.MultipartStorage = (*Storage)(nil)
	_ ports.Presigner        = (*Storage)(nil)
	_ ports.Readiness        = (*Storage)(nil)
	_ io.Closer              = (*Storage)(nil)
)
