package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/storage/s3"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/storagetest"
	"github.com/framework-m/framework-m/ports"
)

const mib = 1 << 20

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serverConfig is the test server's configuration (FM_TEST_S3_*), or skips.
func serverConfig(t *testing.T) s3.Config {
	t.Helper()
	endpoint := fmtest.SkipUnlessServer(t, "FM_TEST_S3_ENDPOINT", "S3")
	cfg := s3.Config{
		Endpoint:     endpoint,
		AccessKey:    os.Getenv("FM_TEST_S3_ACCESS_KEY"),
		SecretKey:    os.Getenv("FM_TEST_S3_SECRET_KEY"),
		Bucket:       os.Getenv("FM_TEST_S3_BUCKET"),
		Region:       os.Getenv("FM_TEST_S3_REGION"),
		UsePathStyle: true,
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "fm-test"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg
}

// newStorage returns a storage on the test bucket under a prefix of this
// test's own (cfg.Prefix), whose objects and uploads are removed at the end.
func newStorage(t *testing.T, edit func(*s3.Config)) *s3.Storage {
	t.Helper()
	cfg := serverConfig(t)
	cfg.Prefix = "fmtest-" + randomHex() + "/"
	if edit != nil {
		edit(&cfg)
	}
	s, err := s3.New(t.Context(), cfg)
	require.NoError(t, err)
	require.NoError(t, s.EnsureBucket(t.Context()))
	t.Cleanup(func() { cleanup(t, cfg) })
	return s
}

// cleanup removes every object and upload under cfg.Prefix.
func cleanup(t *testing.T, cfg s3.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefixed, err := s3.New(ctx, cfg)
	if err != nil {
		return
	}
	_, err = prefixed.PurgeUploads(ctx, time.Now().Add(time.Hour))
	assert.NoError(t, err)
	root := cfg
	root.Prefix = ""
	whole, err := s3.New(ctx, root)
	if err != nil {
		return
	}
	var keys []string
	assert.NoError(t, whole.List(ctx, cfg.Prefix, func(oi ports.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}))
	for _, k := range keys {
		assert.NoError(t, whole.Delete(ctx, k))
	}
}

// pattern is a non-seekable reader of n deterministic bytes.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x*31 + x>>11)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func sum(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	_, err := io.Copy(h, r)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func readAll(t *testing.T, s *s3.Storage, key string, rng *ports.ByteRange) string {
	t.Helper()
	rc, _, err := s.Open(t.Context(), key, rng)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc) // small test objects only
	require.NoError(t, err)
	return string(b)
}

// noUploadsLeft fails unless the storage has no incomplete uploads (it
// purges them to find out).
func noUploadsLeft(t *testing.T, s *s3.Storage) {
	t.Helper()
	n, err := s.PurgeUploads(t.Context(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "a failed Put left a multipart upload behind")
}

// TestContract runs the Storage and MultipartStorage contract suite, each
// subtest on a prefix of its own of the test bucket.
func TestContract(t *testing.T) {
	serverConfig(t)
	storagetest.Run(t, func(t *testing.T) ports.Storage { return newStorage(t, nil) })
}

func TestPutOpenStatDelete(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	info, err := s.Put(ctx, "acme/files/a.txt", strings.NewReader("hello, world"), 12, ports.PutOptions{ContentType: "text/plain"})
	require.NoError(t, err)
	assert.Equal(t, "acme/files/a.txt", info.Key)
	assert.EqualValues(t, 12, info.Size)
	assert.NotEmpty(t, info.ETag)
	assert.Equal(t, "text/plain", info.ContentType)
	assert.WithinDuration(t, time.Now(), info.ModTime, time.Minute)

	st, err := s.Stat(ctx, "acme/files/a.txt")
	require.NoError(t, err)
	assert.Equal(t, info, st)

	rc, oi, err := s.Open(ctx, "acme/files/a.txt", nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, "hello, world", string(b))
	assert.EqualValues(t, 12, oi.Size)
	assert.Equal(t, info.ETag, oi.ETag)

	// Replacing.
	_, err = s.Put(ctx, "acme/files/a.txt", strings.NewReader("bye"), -1, ports.PutOptions{})
	require.NoError(t, err)
	assert.Equal(t, "bye", readAll(t, s, "acme/files/a.txt", nil))

	// Empty objects, of known and unknown size.
	for _, size := range []int64{0, -1} {
		info, err = s.Put(ctx, "acme/empty", strings.NewReader(""), size, ports.PutOptions{})
		require.NoError(t, err)
		assert.Zero(t, info.Size)
		assert.Empty(t, readAll(t, s, "acme/empty", nil))
	}

	require.NoError(t, s.Delete(ctx, "acme/files/a.txt"))
	_, err = s.Stat(ctx, "acme/files/a.txt")
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.NoError(t, s.Delete(ctx, "acme/files/a.txt"), "deleting a missing object is not an error")
}

func TestNotFound(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	_, err := s.Stat(ctx, "acme/missing")
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, _, err = s.Open(ctx, "acme/missing", nil)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, _, err = s.Open(ctx, "acme/missing", &ports.ByteRange{Offset: 3, Length: 2})
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, _, err = s.Open(ctx, "acme/missing", &ports.ByteRange{Offset: 0, Length: 0})
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.NoError(t, s.Delete(ctx, "acme/missing"))

	_, err = s.PutPart(ctx, "acme/missing", "no-such-upload", 1, strings.NewReader("x"), 1)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = s.ListParts(ctx, "acme/missing", "no-such-upload")
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = s.CompleteUpload(ctx, "acme/missing", "no-such-upload", []ports.Part{{Number: 1, Size: 1, ETag: "x"}})
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.NoError(t, s.AbortUpload(ctx, "acme/missing", "no-such-upload"))
}

func TestBadKeys(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	for _, key := range []string{"", "/abs", "a/../b", "a//b", "a/", "sp ace", "a/./b", strings.Repeat("k", ports.MaxStorageKey+1)} {
		_, err := s.Put(ctx, key, strings.NewReader("x"), 1, ports.PutOptions{})
		assert.ErrorIs(t, err, core.ErrValidation, "Put %q", key)
		_, err = s.Stat(ctx, key)
		assert.ErrorIs(t, err, core.ErrValidation, "Stat %q", key)
		_, _, err = s.Open(ctx, key, nil)
		assert.ErrorIs(t, err, core.ErrValidation, "Open %q", key)
		assert.ErrorIs(t, s.Delete(ctx, key), core.ErrValidation, "Delete %q", key)
		_, err = s.PresignGet(ctx, key, time.Minute, "")
		assert.ErrorIs(t, err, core.ErrValidation, "PresignGet %q", key)
	}
	for _, prefix := range []string{"", "acme", "/acme/", "../"} {
		err := s.List(ctx, prefix, func(ports.ObjectInfo) error { return nil })
		assert.ErrorIs(t, err, core.ErrValidation, "List %q", prefix)
	}
}

func TestRanges(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	_, err := s.Put(ctx, "acme/r", strings.NewReader("0123456789"), 10, ports.PutOptions{})
	require.NoError(t, err)
	for _, c := range []struct {
		rng  ports.ByteRange
		want string
	}{
		{ports.ByteRange{Offset: 0, Length: -1}, "0123456789"},
		{ports.ByteRange{Offset: 0, Length: 3}, "012"},
		{ports.ByteRange{Offset: 0, Length: 1}, "0"},
		{ports.ByteRange{Offset: 2, Length: 1<<63 - 1}, "23456789"},
		{ports.ByteRange{Offset: 4, Length: 2}, "45"},
		{ports.ByteRange{Offset: 7, Length: -1}, "789"},
		{ports.ByteRange{Offset: 7, Length: 100}, "789"},
		{ports.ByteRange{Offset: 9, Length: 1}, "9"},
		{ports.ByteRange{Offset: 3, Length: 0}, ""},
	} {
		rng := c.rng
		assert.Equal(t, c.want, readAll(t, s, "acme/r", &rng), "%+v", rng)
		_, info, err := s.Open(ctx, "acme/r", &rng)
		require.NoError(t, err)
		assert.EqualValues(t, 10, info.Size, "the info describes the whole object")
	}
	for _, rng := range []ports.ByteRange{{Offset: 10, Length: -1}, {Offset: 10, Length: 1}, {Offset: 11, Length: 5}, {Offset: 10, Length: 0}} {
		_, _, err := s.Open(ctx, "acme/r", &rng)
		assert.ErrorIs(t, err, ports.ErrRangeNotSatisfiable, "%+v", rng)
		assert.ErrorIs(t, err, core.ErrValidation, "%+v", rng)
	}
	_, _, err = s.Open(ctx, "acme/r", &ports.ByteRange{Offset: -1, Length: 2})
	assert.ErrorIs(t, err, core.ErrValidation)

	_, err = s.Put(ctx, "acme/empty", strings.NewReader(""), 0, ports.PutOptions{})
	require.NoError(t, err)
	_, _, err = s.Open(ctx, "acme/empty", &ports.ByteRange{Offset: 0, Length: -1})
	assert.ErrorIs(t, err, ports.ErrRangeNotSatisfiable, "a range of an empty object starts at its end")
}

func TestList(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	for _, k := range []string{"acme/a", "acme/sub/b", "acme/sub/deep/c", "acmex/d", "other/e"} {
		_, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)), ports.PutOptions{})
		require.NoError(t, err)
	}
	// An incomplete upload is not an object.
	id, err := s.CreateUpload(ctx, "acme/pending", ports.PutOptions{})
	require.NoError(t, err)
	_, err = s.PutPart(ctx, "acme/pending", id, 1, strings.NewReader("part"), 4)
	require.NoError(t, err)

	got := map[string]int64{}
	require.NoError(t, s.List(ctx, "acme/", func(oi ports.ObjectInfo) error {
		got[oi.Key] = oi.Size
		assert.NotEmpty(t, oi.ETag)
		assert.False(t, oi.ModTime.IsZero())
		return nil
	}))
	assert.Equal(t, map[string]int64{"acme/a": 6, "acme/sub/b": 10, "acme/sub/deep/c": 15}, got)

	stop := errors.New("stop")
	calls := 0
	err = s.List(ctx, "acme/", func(ports.ObjectInfo) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	require.NoError(t, s.List(ctx, "nobody/", func(ports.ObjectInfo) error { t.Error("nothing under nobody/"); return nil }))
}

// A body of unknown size larger than a part goes in parts of PartSize
// (a multipart ETag ends in -<parts>); one that fits goes in one PUT.
func TestPutStreamsInParts(t *testing.T) {
	s := newStorage(t, func(c *s3.Config) { c.PartSize = 5 * mib })
	ctx := t.Context()
	const size = 12*mib + 7
	want := sum(t, &pattern{n: size})

	for _, declared := range []int64{-1, size} {
		info, err := s.Put(ctx, "acme/big", &pattern{n: size}, declared, ports.PutOptions{ContentType: "application/x-test"})
		require.NoError(t, err, "size %d", declared)
		assert.EqualValues(t, size, info.Size)
		assert.True(t, strings.HasSuffix(info.ETag, "-3"), "three parts of 5 MiB: ETag %q", info.ETag)
		assert.Equal(t, "application/x-test", info.ContentType)
		rc, _, err := s.Open(ctx, "acme/big", nil)
		require.NoError(t, err)
		assert.Equal(t, want, sum(t, rc))
		rc.Close()
		rc, _, err = s.Open(ctx, "acme/big", &ports.ByteRange{Offset: 5*mib - 3, Length: 10})
		require.NoError(t, err)
		got, _ := io.ReadAll(rc)
		rc.Close()
		p := &pattern{n: 5*mib + 7}
		_, _ = io.CopyN(io.Discard, p, 5*mib-3)
		exp, _ := io.ReadAll(p)
		assert.Equal(t, exp, got, "a range across a part boundary")
	}

	// Exactly two parts: no empty third part.
	info, err := s.Put(ctx, "acme/even", &pattern{n: 10 * mib}, -1, ports.PutOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 10*mib, info.Size)
	assert.True(t, strings.HasSuffix(info.ETag, "-2"), "ETag %q", info.ETag)

	// Fits in one part: one PUT.
	info, err = s.Put(ctx, "acme/small", &pattern{n: 1000}, -1, ports.PutOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 1000, info.Size)
	assert.NotContains(t, info.ETag, "-")
	noUploadsLeft(t, s)
}

// onlyReader hides every method of a reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// A body holding more or fewer bytes than declared fails with
// ErrValidation and stores nothing, whatever its type (minio-go reads only
// the declared bytes of an io.ReaderAt) and whether it goes in one PUT or in
// parts.
func TestPutSizeMismatch(t *testing.T) {
	s := newStorage(t, func(c *s3.Config) { c.PartSize = 5 * mib })
	ctx := t.Context()
	bodies := map[string]func(n int64) io.Reader{
		"bytes.Reader": func(n int64) io.Reader { return bytes.NewReader(bytes.Repeat([]byte("x"), int(n))) },
		"plain reader": func(n int64) io.Reader { return onlyReader{&pattern{n: n}} },
	}
	for name, body := range bodies {
		for _, c := range []struct{ declared, actual int64 }{
			{5, 6}, {6, 5}, {0, 1}, {1, 0}, {5 * mib, 5*mib + 1}, {7 * mib, 7*mib + 1}, {7 * mib, 7*mib - 1}, {11 * mib, 6 * mib},
		} {
			key := "acme/mismatch-" + randomHex()
			_, err := s.Put(ctx, key, body(c.actual), c.declared, ports.PutOptions{})
			assert.ErrorIs(t, err, core.ErrValidation, "%s: declared %d, holds %d", name, c.declared, c.actual)
			assert.ErrorContains(t, err, "than its declared size", "%s: declared %d, holds %d: found by the adapter", name, c.declared, c.actual)
			_, err = s.Stat(ctx, key)
			assert.ErrorIs(t, err, core.ErrNotFound, "%s: declared %d, holds %d: no object", name, c.declared, c.actual)
		}
	}
	noUploadsLeft(t, s)

	// A failed Put does not touch the object already there.
	_, err := s.Put(ctx, "acme/keep", strings.NewReader("old"), 3, ports.PutOptions{})
	require.NoError(t, err)
	_, err = s.Put(ctx, "acme/keep", strings.NewReader("longer"), 3, ports.PutOptions{})
	assert.ErrorIs(t, err, core.ErrValidation)
	assert.Equal(t, "old", readAll(t, s, "acme/keep", nil))
}

// failing fails after n bytes.
type failing struct {
	n   int64
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(int64(len(p)), f.n)
	for i := range p[:k] {
		p[i] = 'f'
	}
	f.n -= k
	return int(k), nil
}

func TestPutReaderFails(t *testing.T) {
	s := newStorage(t, func(c *s3.Config) { c.PartSize = 5 * mib })
	ctx := t.Context()
	boom := errors.New("client went away")
	for _, c := range []struct{ after, size int64 }{{100, -1}, {100, 1000}, {7 * mib, -1}, {7 * mib, 12 * mib}, {2 * mib, 3 * mib}} {
		key := "acme/fail-" + randomHex()
		_, err := s.Put(ctx, key, &failing{n: c.after, err: boom}, c.size, ports.PutOptions{})
		assert.ErrorIs(t, err, boom, "%+v", c)
		assert.NotErrorIs(t, err, core.ErrUnavailable, "%+v: the client's failure, not the server's", c)
		_, err = s.Stat(ctx, key)
		assert.ErrorIs(t, err, core.ErrNotFound, "%+v", c)
	}
	noUploadsLeft(t, s)
}

// A canceled Put leaves no object and no upload, even when the cancel comes
// between parts.
func TestPutCanceled(t *testing.T) {
	s := newStorage(t, func(c *s3.Config) { c.PartSize = 5 * mib })
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelAfter{r: &pattern{n: 20 * mib}, n: 7 * mib, cancel: cancel}
	_, err := s.Put(ctx, "acme/canceled", r, -1, ports.PutOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Stat(t.Context(), "acme/canceled")
	assert.ErrorIs(t, err, core.ErrNotFound)
	noUploadsLeft(t, s)
}

// cancelAfter calls cancel once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestMultipart(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	key := "acme/uploads/movie.bin"
	id, err := s.CreateUpload(ctx, key, ports.PutOptions{ContentType: "video/x-test"})
	require.NoError(t, err)
	require.NotEmpty(t, id)

	parts, err := s.ListParts(ctx, key, id)
	require.NoError(t, err)
	assert.Empty(t, parts)

	// Part 2 first, part 1 sent twice (the second replaces the first).
	p2, err := s.PutPart(ctx, key, id, 2, strings.NewReader("tail"), 4)
	require.NoError(t, err)
	_, err = s.PutPart(ctx, key, id, 1, &pattern{n: 5 * mib}, 5*mib)
	require.NoError(t, err)
	p1, err := s.PutPart(ctx, key, id, 1, bytes.NewReader(bytes.Repeat([]byte("a"), 5*mib)), 5*mib)
	require.NoError(t, err)
	assert.Equal(t, ports.Part{Number: 1, Size: 5 * mib, ETag: p1.ETag}, p1)
	assert.NotContains(t, p1.ETag, `"`)

	parts, err = s.ListParts(ctx, key, id)
	require.NoError(t, err)
	assert.Equal(t, []ports.Part{p1, p2}, parts, "ListParts agrees with PutPart, ETags included")

	// Bad arguments.
	for _, n := range []int{0, -1, ports.MaxParts + 1} {
		_, err = s.PutPart(ctx, key, id, n, strings.NewReader("x"), 1)
		assert.ErrorIs(t, err, core.ErrValidation, "part %d", n)
	}
	for _, bad := range []string{"", "..", "../x", "a/../b", "a/./b", "/a", "a b", "a\\b", "a\x00b", strings.Repeat("u", 1025)} {
		_, err = s.PutPart(ctx, key, bad, 1, strings.NewReader("x"), 1)
		assert.ErrorIs(t, err, core.ErrValidation, "upload id %q", bad)
		_, err = s.PresignPart(ctx, key, bad, 1, time.Minute)
		assert.ErrorIs(t, err, core.ErrValidation, "upload id %q", bad)
		assert.ErrorIs(t, s.AbortUpload(ctx, key, bad), core.ErrValidation, "upload id %q", bad)
	}
	_, err = s.PutPart(ctx, key, id, 3, strings.NewReader("xyz"), 2)
	assert.ErrorIs(t, err, core.ErrValidation, "a part longer than its size")
	_, err = s.PutPart(ctx, key, id, 3, strings.NewReader("x"), 2)
	assert.ErrorIs(t, err, core.ErrValidation, "a part shorter than its size")
	parts, err = s.ListParts(ctx, key, id)
	require.NoError(t, err)
	assert.Len(t, parts, 2, "no part 3 was stored")

	for name, bad := range map[string][]ports.Part{
		"none":          nil,
		"missing":       {p1, p2, {Number: 3, Size: 1, ETag: "x"}},
		"wrong etag":    {p1, {Number: 2, Size: 4, ETag: "0123"}},
		"wrong size":    {p1, {Number: 2, Size: 5, ETag: p2.ETag}},
		"out of order":  {p2, p1},
		"twice":         {p1, p1, p2},
		"small non-end": {p2, {Number: 3, Size: 1}},
	} {
		_, err = s.CompleteUpload(ctx, key, id, bad)
		assert.ErrorIs(t, err, core.ErrValidation, name)
	}
	// Quoted ETags are the same ETags.
	info, err := s.CompleteUpload(ctx, key, id, []ports.Part{p1, {Number: 2, Size: 4, ETag: `"` + p2.ETag + `"`}})
	require.NoError(t, err)
	assert.EqualValues(t, 5*mib+4, info.Size)
	assert.Equal(t, "video/x-test", info.ContentType)
	rc, _, err := s.Open(ctx, key, &ports.ByteRange{Offset: 5*mib - 2, Length: -1})
	require.NoError(t, err)
	got, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, "aatail", string(got))

	_, err = s.ListParts(ctx, key, id)
	assert.ErrorIs(t, err, core.ErrNotFound, "a completed upload is gone")

	// Abort drops an upload.
	id2, err := s.CreateUpload(ctx, "acme/uploads/abandoned", ports.PutOptions{})
	require.NoError(t, err)
	_, err = s.PutPart(ctx, "acme/uploads/abandoned", id2, 1, strings.NewReader("x"), 1)
	require.NoError(t, err)
	require.NoError(t, s.AbortUpload(ctx, "acme/uploads/abandoned", id2))
	_, err = s.ListParts(ctx, "acme/uploads/abandoned", id2)
	assert.ErrorIs(t, err, core.ErrNotFound)
	assert.NoError(t, s.AbortUpload(ctx, "acme/uploads/abandoned", id2), "twice")
	_, err = s.Stat(ctx, "acme/uploads/abandoned")
	assert.ErrorIs(t, err, core.ErrNotFound)
}

func TestPurgeUploads(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	id, err := s.CreateUpload(ctx, "acme/stale", ports.PutOptions{})
	require.NoError(t, err)
	_, err = s.PutPart(ctx, "acme/stale", id, 1, strings.NewReader("x"), 1)
	require.NoError(t, err)

	n, err := s.PurgeUploads(ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "a recent upload is kept")
	_, err = s.ListParts(ctx, "acme/stale", id)
	require.NoError(t, err)

	// Another storage's uploads (another prefix of the bucket) are not touched.
	other := newStorage(t, nil)
	oid, err := other.CreateUpload(ctx, "acme/stale", ports.PutOptions{})
	require.NoError(t, err)

	n, err = s.PurgeUploads(ctx, time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.ListParts(ctx, "acme/stale", id)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = other.ListParts(ctx, "acme/stale", oid)
	assert.NoError(t, err, "outside the prefix")
}

func TestPresignPut(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	u, err := s.PresignPut(ctx, "acme/direct.txt", time.Minute)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, strings.NewReader("sent directly"))
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	info, err := s.Stat(ctx, "acme/direct.txt")
	require.NoError(t, err)
	assert.EqualValues(t, len("sent directly"), info.Size)

	for _, e := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		_, err = s.PresignPut(ctx, "acme/x", e)
		assert.ErrorIs(t, err, core.ErrValidation, "expiry %v", e)
	}
}

func TestPresignGet(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	_, err := s.Put(ctx, "acme/report.pdf", strings.NewReader("%PDF-1.7"), 8, ports.PutOptions{ContentType: "application/pdf"})
	require.NoError(t, err)
	for _, disposition := range []string{"", `attachment; filename="report.pdf"`} {
		u, err := s.PresignGet(ctx, "acme/report.pdf", time.Minute, disposition)
		require.NoError(t, err)
		res, err := http.Get(u)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		assert.Equal(t, "%PDF-1.7", string(body))
		if disposition != "" {
			assert.Equal(t, disposition, res.Header.Get("Content-Disposition"))
		}
	}
}

func TestPresignPart(t *testing.T) {
	s := newStorage(t, nil)
	ctx := t.Context()
	key := "acme/direct-parts.bin"
	id, err := s.CreateUpload(ctx, key, ports.PutOptions{})
	require.NoError(t, err)
	var parts []ports.Part
	for n, body := range [][]byte{bytes.Repeat([]byte("1"), 5*mib), []byte("end")} {
		u, err := s.PresignPart(ctx, key, id, n+1, time.Minute)
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.NotEmpty(t, res.Header.Get("ETag"))
		parts = append(parts, ports.Part{Number: n + 1, Size: int64(len(body)), ETag: res.Header.Get("ETag")})
	}
	listed, err := s.ListParts(ctx, key, id)
	require.NoError(t, err)
	require.Len(t, listed, 2)
	assert.Equal(t, strings.Trim(parts[1].ETag, `"`), listed[1].ETag)
	info, err := s.CompleteUpload(ctx, key, id, parts)
	require.NoError(t, err)
	assert.EqualValues(t, 5*mib+3, info.Size)

	_, err = s.PresignPart(ctx, key, id, 0, time.Minute)
	assert.ErrorIs(t, err, core.ErrValidation)
	_, err = s.PresignPart(ctx, key, "", 1, time.Minute)
	assert.ErrorIs(t, err, core.ErrValidation)
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A server that is not there is reported as unavailable, quickly.
func TestUnavailable(t *testing.T) {
	s, err := s3.New(t.Context(), s3.Config{
		Endpoint: "http://" + freePort(t), Bucket: "fm-test", Region: "us-east-1", UsePathStyle: true,
		AccessKey: "AKIDEXAMPLE", SecretKey: "never-shown-secret",
	})
	require.NoError(t, err)
	ctx := t.Context()
	checks := map[string]func() error{
		"Stat": func() error { _, err := s.Stat(ctx, "acme/a"); return err },
		"Open": func() error { _, _, err := s.Open(ctx, "acme/a", nil); return err },
		"Put": func() error {
			_, err := s.Put(ctx, "acme/a", strings.NewReader("x"), 1, ports.PutOptions{})
			return err
		},
		"Put -1": func() error {
			_, err := s.Put(ctx, "acme/a", strings.NewReader("x"), -1, ports.PutOptions{})
			return err
		},
		"Delete": func() error { return s.Delete(ctx, "acme/a") },
		"List":   func() error { return s.List(ctx, "acme/", func(ports.ObjectInfo) error { return nil }) },
		"Create": func() error { _, err := s.CreateUpload(ctx, "acme/a", ports.PutOptions{}); return err },
		"Purge":  func() error { _, err := s.PurgeUploads(ctx, time.Now()); return err },
		"Ready":  func() error { return s.Ready(ctx) },
	}
	for name, check := range checks {
		start := time.Now()
		err := check()
		assert.ErrorIs(t, err, core.ErrUnavailable, name)
		assert.Less(t, time.Since(start), 3*time.Second, name)
		if err != nil {
			assert.NotContains(t, err.Error(), "never-shown-secret", name)
		}
	}
	dep := s.Readiness()
	assert.Equal(t, "storage", dep.Name)
	assert.Error(t, dep.Check(ctx))
}

func TestReady(t *testing.T) {
	s := newStorage(t, nil)
	require.NoError(t, s.Ready(t.Context()))
	require.NoError(t, s.Readiness().Check(t.Context()))

	cfg := serverConfig(t)
	cfg.Bucket = "fm-missing-" + randomHex()
	missing, err := s3.New(t.Context(), cfg)
	require.NoError(t, err)
	assert.ErrorIs(t, missing.Ready(t.Context()), core.ErrUnavailable, "a missing bucket")
}

// Refused credentials make the storage unavailable, and never show.
func TestWrongCredentials(t *testing.T) {
	cfg := serverConfig(t)
	cfg.SecretKey = "wrong-secret-" + randomHex()
	s, err := s3.New(t.Context(), cfg)
	require.NoError(t, err)
	_, err = s.Stat(t.Context(), "acme/a")
	require.ErrorIs(t, err, core.ErrUnavailable)
	assert.NotContains(t, err.Error(), cfg.SecretKey)
	_, err = s.Put(t.Context(), "acme/a", strings.NewReader("x"), 1, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrUnavailable)
	assert.NotContains(t, err.Error(), cfg.SecretKey)
}

func TestConfigValidate(t *testing.T) {
	ok := s3.Config{Bucket: "files", Endpoint: "http://127.0.0.1:9000", AccessKey: "a", SecretKey: "b"}
	require.NoError(t, ok.Validate())
	for _, ep := range []string{"", "https://s3.eu-west-1.amazonaws.com", "minio:9000", "http://minio:9000/", "https://[::1]:9000"} {
		c := ok
		c.Endpoint = ep
		assert.NoError(t, c.Validate(), ep)
	}
	for name, edit := range map[string]func(*s3.Config){
		"no bucket":          func(c *s3.Config) { c.Bucket = "" },
		"bad bucket":         func(c *s3.Config) { c.Bucket = "a/b" },
		"short bucket":       func(c *s3.Config) { c.Bucket = "ab" },
		"small parts":        func(c *s3.Config) { c.PartSize = ports.MinPartSize - 1 },
		"huge parts":         func(c *s3.Config) { c.PartSize = 5<<30 + 1 },
		"ftp":                func(c *s3.Config) { c.Endpoint = "ftp://host" },
		"path":               func(c *s3.Config) { c.Endpoint = "http://host:9000/base" },
		"user in url":        func(c *s3.Config) { c.Endpoint = "http://key:hidden-secret@host:9000" },
		"bad port":           func(c *s3.Config) { c.Endpoint = "host:99999" },
		"half credentials":   func(c *s3.Config) { c.SecretKey = "" },
		"prefix without /":   func(c *s3.Config) { c.Prefix = "app" },
		"prefix with ..":     func(c *s3.Config) { c.Prefix = "../" },
		"prefix with slash/": func(c *s3.Config) { c.Prefix = "/app/" },
		"long prefix":        func(c *s3.Config) { c.Prefix = strings.Repeat("p", 124) + "/" },
	} {
		c := ok
		edit(&c)
		err := c.Validate()
		assert.ErrorIs(t, err, core.ErrValidation, name)
		if err != nil {
			assert.NotContains(t, err.Error(), "hidden-secret", name)
		}
		_, err = s3.New(t.Context(), c)
		assert.ErrorIs(t, err, core.ErrValidation, name)
	}
	c := ok
	c.PartSize = ports.MinPartSize
	c.Prefix = "app1/blobs/"
	assert.NoError(t, c.Validate())
}
