// Package storagetest is the contract suite of ports.Storage and
// ports.MultipartStorage: the behaviour every file storage must show, written
// once and run against each of them (memory, local disk, S3).
//
//	func TestStorage(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) ports.Storage {
//			return mystorage.New(...) // release it with t.Cleanup
//		})
//	}
//
// Every behaviour is a parallel subtest of its own that asks for a storage
// and uses keys under a random first segment of its own (as the core puts a
// tenant's segment first), so storages that share one bucket or directory
// pass too. The suite moves a few tens of MiB in all (the multipart cases
// need parts of ports.MinPartSize), so it also runs against a real S3 server.
//
// The contract, beyond the port's doc comments:
//
//   - Put returns the stored object's Key, Size and a non-empty ETag; Stat
//     and Open return the same ETag until the object changes, a ModTime that
//     is set, and the ContentType given to Put (or to CreateUpload) when one
//     was given. Replacing an object with other bytes changes its ETag.
//   - The ObjectInfo of Open describes the whole object, whatever the range:
//     its Size is the object's (a download needs it for Content-Range).
//   - A range is clipped to the end of the object; a range starting at or
//     past the end (every range of an empty object included) is
//     core.ErrValidation wrapping ports.ErrRangeNotSatisfiable; a negative
//     offset is core.ErrValidation.
//   - A size below -1 is core.ErrValidation, as is a size other than the
//     body's; a Put that fails for any reason (size, reader error, canceled
//     context) creates nothing and leaves an object it would have replaced
//     exactly as it was.
//   - Every method refuses a bad key (List: a bad prefix) with
//     core.ErrValidation and creates nothing. A key of exactly
//     ports.MaxStorageKey bytes (in segments of at most 64 bytes) works.
//   - Every method fails with the context's error when ctx is done, and
//     changes nothing; a Put whose context ends while its body streams fails
//     and leaves no object.
//   - List passes each object's Key, Size and ModTime (ETag and ContentType
//     where the backend lists them), calling fn from one goroutine at a time;
//     fn may call the storage (the sweep of orphans deletes what it lists);
//     fn's error stops it and is returned.
//   - Multipart: parts may arrive in any order and be sent again; ListParts
//     returns them by number with sizes and ETags; CompleteUpload wants the
//     parts in ascending order (core.ErrValidation otherwise, as for an empty
//     list, a missing part or a wrong ETag — and the upload stays usable
//     after such a refusal); an upload is tied to its key (any other key sees
//     core.ErrNotFound, and AbortUpload with another key leaves it alone);
//     a completed or aborted upload is unknown (core.ErrNotFound) afterwards;
//     a part number outside 1..ports.MaxParts or a negative part size is
//     core.ErrValidation.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// NewStorage returns the storage one behaviour of the suite is checked on.
// It is called once per subtest, possibly from parallel subtests; storages
// may share a backend (a bucket, a directory), since every subtest uses keys
// of its own. Release resources with t.Cleanup.
type NewStorage = func(t *testing.T) ports.Storage

// Run checks that the storages newStorage returns keep the ports.Storage
// contract and, when they implement ports.MultipartStorage, that one too.
func Run(t *testing.T, newStorage NewStorage) {
	t.Helper()
	ctx := context.Background()

	t.Run("PutThenOpenAndStat", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "docs/report.txt"
		data := pattern(1, 10_000)
		info, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), ports.PutOptions{ContentType: "text/plain; charset=utf-8"})
		require.NoError(t, err)
		assert.Equal(t, key, info.Key)
		assert.Equal(t, int64(len(data)), info.Size)
		require.NotEmpty(t, info.ETag, "Put returns the ETag")

		got, oinfo := readAll(t, s, key, nil)
		requireSameBytes(t, data, got)
		assert.Equal(t, key, oinfo.Key)
		assert.Equal(t, int64(len(data)), oinfo.Size)
		assert.Equal(t, info.ETag, oinfo.ETag, "Open's ETag is Put's")
		assert.Equal(t, "text/plain; charset=utf-8", oinfo.ContentType)

		st, err := s.Stat(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, key, st.Key)
		assert.Equal(t, int64(len(data)), st.Size)
		assert.False(t, st.ModTime.IsZero(), "Stat returns the modification time")
		assert.Equal(t, info.ETag, st.ETag, "Stat's ETag is Put's")
		assert.Equal(t, "text/plain; charset=utf-8", st.ContentType)
	})

	t.Run("CallerMayReuseItsBuffer", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "reuse"
		buf := pattern(2, 4096)
		want := bytes.Clone(buf)
		putBytes(t, s, key, buf, "")
		for i := range buf {
			buf[i] = 0
		}
		got, _ := readAll(t, s, key, nil)
		requireSameBytes(t, want, got)
		// And the bytes read back are the caller's to change.
		got[0] ^= 0xff
		again, _ := readAll(t, s, key, nil)
		requireSameBytes(t, want, again)
	})

	t.Run("PutOfUnknownSizeStreams", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "big.bin"
		data := pattern(3, 3<<20+12345)
		info, err := s.Put(ctx, key, pipeOf(data, 100_000), -1, ports.PutOptions{ContentType: "application/octet-stream"})
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), info.Size)
		got, _ := readAll(t, s, key, nil)
		requireSameBytes(t, data, got)
		st, err := s.Stat(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), st.Size)

		// Known size, from a reader that is no Seeker either.
		key2 := p + "big-known.bin"
		_, err = s.Put(ctx, key2, pipeOf(data[:1<<20], 65_536), 1<<20, ports.PutOptions{})
		require.NoError(t, err)
		got, _ = readAll(t, s, key2, nil)
		requireSameBytes(t, data[:1<<20], got)
	})

	t.Run("EmptyObjects", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		for _, size := range []int64{0, -1} {
			key := fmt.Sprintf("%sempty%d", p, size+1)
			info, err := s.Put(ctx, key, bytes.NewReader(nil), size, ports.PutOptions{})
			require.NoError(t, err, "size %d", size)
			assert.Zero(t, info.Size)
			got, oinfo := readAll(t, s, key, nil)
			assert.Empty(t, got)
			assert.Zero(t, oinfo.Size)
			st, err := s.Stat(ctx, key)
			require.NoError(t, err)
			assert.Zero(t, st.Size)
			_, _, err = s.Open(ctx, key, &ports.ByteRange{Offset: 0, Length: -1})
			requireUnsatisfiable(t, err, "any range of an empty object")
		}
	})

	t.Run("SizeMismatchIsRefusedAndLeavesNothing", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		cases := []struct {
			name     string
			declared int64
			body     int
		}{
			{"BodyShorter", 10, 5},
			{"BodyLonger", 5, 10},
			{"BodyEmpty", 3, 0},
			{"BigBodyLonger", 1 << 20, 1<<20 + 1},
		}
		for _, c := range cases {
			key := p + c.name
			_, err := s.Put(ctx, key, bytes.NewReader(pattern(4, c.body)), c.declared, ports.PutOptions{})
			requireIs(t, err, core.ErrValidation, "%s: declared %d, body %d", c.name, c.declared, c.body)
			requireMissing(t, s, key)

			// Replacing an object: the old one stays.
			old := pattern(5, 100)
			putBytes(t, s, key, old, "text/old")
			_, err = s.Put(ctx, key, bytes.NewReader(pattern(6, c.body)), c.declared, ports.PutOptions{ContentType: "text/new"})
			requireIs(t, err, core.ErrValidation, "%s (replacing)", c.name)
			got, info := readAll(t, s, key, nil)
			requireSameBytes(t, old, got)
			assert.Equal(t, "text/old", info.ContentType)
		}
		_, err := s.Put(ctx, p+"negative", bytes.NewReader(nil), -2, ports.PutOptions{})
		requireIs(t, err, core.ErrValidation, "size -2")
		requireMissing(t, s, p+"negative")
		assertListed(t, s, p, map[string]int64{
			p + "BodyShorter": 100, p + "BodyLonger": 100, p + "BodyEmpty": 100, p + "BigBodyLonger": 100,
		})
	})

	t.Run("FailingReaderLeavesNothing", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		boom := errors.New("the client went away")
		for _, size := range []int64{1 << 20, -1} {
			key := fmt.Sprintf("%sfail%d", p, size+1)
			_, err := s.Put(ctx, key, &failingReader{data: pattern(7, 1<<20), failAfter: 300_000, err: boom}, size, ports.PutOptions{})
			require.Error(t, err, "size %d", size)
			requireMissing(t, s, key)

			old := pattern(8, 50_000)
			info := putBytes(t, s, key, old, "image/png")
			_, err = s.Put(ctx, key, &failingReader{data: pattern(9, 1<<20), failAfter: 300_000, err: boom}, size, ports.PutOptions{ContentType: "text/new"})
			require.Error(t, err, "replacing, size %d", size)
			got, oinfo := readAll(t, s, key, nil)
			requireSameBytes(t, old, got)
			assert.Equal(t, info.ETag, oinfo.ETag)
			assert.Equal(t, "image/png", oinfo.ContentType)
		}
		assertListed(t, s, p, map[string]int64{p + "fail1048577": 50_000, p + "fail0": 50_000})
	})

	t.Run("PutReplaces", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "a/b/c"
		first := putBytes(t, s, key, pattern(10, 5000), "text/first")
		second := putBytes(t, s, key, pattern(11, 3000), "text/second")
		assert.NotEqual(t, first.ETag, second.ETag, "other bytes, another ETag")
		got, _ := readAll(t, s, key, nil)
		requireSameBytes(t, pattern(11, 3000), got)
		st, err := s.Stat(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(3000), st.Size)
		assert.Equal(t, second.ETag, st.ETag)
		assert.Equal(t, "text/second", st.ContentType)
		assertListed(t, s, p, map[string]int64{key: 3000})
	})

	t.Run("OpenRanges", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "ranged"
		data := pattern(12, 1000)
		putBytes(t, s, key, data, "")
		ok := []struct {
			rng  ports.ByteRange
			want []byte
		}{
			{ports.ByteRange{Offset: 100, Length: 200}, data[100:300]},
			{ports.ByteRange{Offset: 0, Length: 1}, data[:1]},
			{ports.ByteRange{Offset: 0, Length: -1}, data},
			{ports.ByteRange{Offset: 900, Length: -1}, data[900:]},
			{ports.ByteRange{Offset: 950, Length: 100}, data[950:]},
			{ports.ByteRange{Offset: 999, Length: 1}, data[999:]},
			{ports.ByteRange{Offset: 999, Length: 1 << 40}, data[999:]},
			{ports.ByteRange{Offset: 0, Length: 1000}, data},
		}
		for _, c := range ok {
			rng := c.rng
			got, info := readAll(t, s, key, &rng)
			requireSameBytes(t, c.want, got, "range %+v", rng)
			assert.Equal(t, int64(1000), info.Size, "Open's ObjectInfo describes the whole object (range %+v)", rng)
			assert.Equal(t, key, info.Key)
			assert.NotEmpty(t, info.ETag)
		}
		for _, rng := range []ports.ByteRange{{Offset: 1000, Length: 1}, {Offset: 1000, Length: -1}, {Offset: 5000, Length: 10}} {
			rc, _, err := s.Open(ctx, key, &rng)
			if rc != nil {
				_ = rc.Close()
			}
			requireUnsatisfiable(t, err, "range %+v of 1000 bytes", rng)
		}
		rc, _, err := s.Open(ctx, key, &ports.ByteRange{Offset: -1, Length: 10})
		if rc != nil {
			_ = rc.Close()
		}
		requireIs(t, err, core.ErrValidation, "a negative offset")
	})

	t.Run("MissingObjects", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		requireMissing(t, s, p+"nothing/here")
		require.NoError(t, s.Delete(ctx, p+"nothing/here"), "deleting a missing object is not an error")
		assertListed(t, s, p, map[string]int64{})
		assertListed(t, s, p+"nothing/", map[string]int64{})
	})

	t.Run("DeleteRemoves", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "x/y/z.pdf"
		putBytes(t, s, key, pattern(13, 777), "application/pdf")
		putBytes(t, s, p+"x/y/keep", pattern(14, 10), "")
		require.NoError(t, s.Delete(ctx, key))
		requireMissing(t, s, key)
		require.NoError(t, s.Delete(ctx, key), "a second Delete")
		assertListed(t, s, p, map[string]int64{p + "x/y/keep": 10})
		// The key is usable again.
		putBytes(t, s, key, pattern(15, 5), "")
		assertListed(t, s, p, map[string]int64{p + "x/y/keep": 10, key: 5})
	})

	t.Run("BadKeysAreRefusedEverywhere", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		t1 := strings.TrimSuffix(p, "/")
		bad := []string{
			"", "/", "/abs/x", "/" + t1 + "/x", "../x", "a/../../x", t1 + "/../x", t1 + "/a/../b",
			"a/./b", t1 + "/./b", ".", "..", "a//b", t1 + "//b", "a/b/", t1 + "/b/",
			"a\\b", t1 + "\\b", "..\\x", t1 + "/a\\..\\..\\x", "a\x00b", t1 + "/a\x00b",
			"C:\\x", "C:/x", t1 + "/C:", "a/b c", t1 + "/b c", t1 + "/b\tc", t1 + "/b\nc",
			t1 + "/é", t1 + "/b*", t1 + "/b?c", t1 + "/~", t1 + "/%2e%2e",
			p + strings.Repeat("k", ports.MaxStorageKey+1-len(p)),
		}
		for _, key := range bad {
			_, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, ports.PutOptions{})
			requireIs(t, err, core.ErrValidation, "Put %q", key)
			_, err = s.Put(ctx, key, bytes.NewReader([]byte("x")), -1, ports.PutOptions{})
			requireIs(t, err, core.ErrValidation, "Put %q of unknown size", key)
			rc, _, err := s.Open(ctx, key, nil)
			if rc != nil {
				_ = rc.Close()
			}
			requireIs(t, err, core.ErrValidation, "Open %q", key)
			_, err = s.Stat(ctx, key)
			requireIs(t, err, core.ErrValidation, "Stat %q", key)
			requireIs(t, s.Delete(ctx, key), core.ErrValidation, "Delete %q", key)
			if key != "" && !strings.HasSuffix(key, "/") {
				requireIs(t, s.List(ctx, key+"/", func(ports.ObjectInfo) error { return nil }), core.ErrValidation, "List %q", key+"/")
			}
			if m, ok := s.(ports.MultipartStorage); ok {
				_, err := m.CreateUpload(ctx, key, ports.PutOptions{})
				requireIs(t, err, core.ErrValidation, "CreateUpload %q", key)
				const id = "0123456789abcdef0123456789abcdef"
				_, err = m.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("x")), 1)
				requireIs(t, err, core.ErrValidation, "PutPart %q", key)
				_, err = m.ListParts(ctx, key, id)
				requireIs(t, err, core.ErrValidation, "ListParts %q", key)
				_, err = m.CompleteUpload(ctx, key, id, []ports.Part{{Number: 1, ETag: "x"}})
				requireIs(t, err, core.ErrValidation, "CompleteUpload %q", key)
				requireIs(t, m.AbortUpload(ctx, key, id), core.ErrValidation, "AbortUpload %q", key)
			}
		}
		for _, pre := range []string{"", "/", t1, p + "a", "../", "/" + p, p + "../", p + "./", p + "a//", p + "a b/", p + "a\\b/", "a\x00/", p + "/"} {
			requireIs(t, s.List(ctx, pre, func(ports.ObjectInfo) error { return nil }), core.ErrValidation, "List %q", pre)
		}
		assertListed(t, s, p, map[string]int64{})
	})

	t.Run("LongestKey", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		var b strings.Builder
		b.WriteString(p)
		for ports.MaxStorageKey-b.Len() > 51 {
			b.WriteString(strings.Repeat("k", 50) + "/")
		}
		b.WriteString(strings.Repeat("k", ports.MaxStorageKey-b.Len()))
		key := b.String()
		require.Len(t, key, ports.MaxStorageKey)
		putBytes(t, s, key, []byte("long"), "")
		got, _ := readAll(t, s, key, nil)
		assert.Equal(t, "long", string(got))
		assertListed(t, s, p, map[string]int64{key: 4})
		require.NoError(t, s.Delete(ctx, key))
		requireMissing(t, s, key)
	})

	t.Run("ListReturnsExactlyThePrefix", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		under := map[string]int64{p + "t1/a": 1, p + "t1/b/c": 22, p + "t1/b/d/e/f": 333, p + "t1/.hidden": 4}
		for k, n := range under {
			putBytes(t, s, k, pattern(16, int(n)), "")
		}
		putBytes(t, s, p+"t1x/a", []byte("sibling"), "")
		putBytes(t, s, p+"t2/a", []byte("other"), "")
		before := time.Now().Add(-time.Hour)

		var mu sync.Mutex
		got := map[string]int64{}
		require.NoError(t, s.List(ctx, p+"t1/", func(o ports.ObjectInfo) error {
			mu.Lock()
			defer mu.Unlock()
			_, dup := got[o.Key]
			assert.False(t, dup, "listed twice: %q", o.Key)
			got[o.Key] = o.Size
			assert.True(t, o.ModTime.After(before), "ModTime of %q is set: %v", o.Key, o.ModTime)
			return nil
		}))
		assert.Equal(t, under, got)

		all := map[string]int64{p + "t1x/a": 7, p + "t2/a": 5}
		for k, n := range under {
			all[k] = n
		}
		assertListed(t, s, p, all)
		assertListed(t, s, p+"t1/b/", map[string]int64{p + "t1/b/c": 22, p + "t1/b/d/e/f": 333})
		assertListed(t, s, p+"t1/a/", map[string]int64{})
		assertListed(t, s, p+"t3/", map[string]int64{})
	})

	t.Run("ListStopsAtFnsError", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		for i := range 5 {
			putBytes(t, s, fmt.Sprintf("%sf%d", p, i), []byte("x"), "")
		}
		stop := errors.New("enough")
		calls := 0
		err := s.List(ctx, p, func(ports.ObjectInfo) error {
			calls++
			return stop
		})
		require.ErrorIs(t, err, stop)
		assert.Equal(t, 1, calls, "List stops at fn's first error")
	})

	t.Run("ListWhileDeleting", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		want := map[string]int64{}
		for i := range 6 {
			k := fmt.Sprintf("%sd/%d/obj", p, i)
			putBytes(t, s, k, []byte("x"), "")
			want[k] = 1
		}
		// The sweep of orphans deletes what it lists, from fn.
		got := map[string]int64{}
		require.NoError(t, s.List(ctx, p, func(o ports.ObjectInfo) error {
			got[o.Key] = o.Size
			return s.Delete(ctx, o.Key)
		}))
		assert.Equal(t, want, got)
		assertListed(t, s, p, map[string]int64{})
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		const writers = 8
		var wg sync.WaitGroup
		errs := make(chan error, 4*writers)
		for i := range writers {
			wg.Go(func() {
				key := fmt.Sprintf("%sown/%d", p, i)
				data := pattern(uint64(100+i), 40_000+i)
				if _, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), ports.PutOptions{}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for i := range writers {
			got, _ := readAll(t, s, fmt.Sprintf("%sown/%d", p, i), nil)
			requireSameBytes(t, pattern(uint64(100+i), 40_000+i), got, "writer %d", i)
		}

		// One key: whatever wins, the object is one body, whole; readers
		// never see a mix or a partial body.
		key := p + "shared"
		body := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i)}, 30_000+1000*i) }
		whole := func(b []byte) bool {
			if len(b) == 0 {
				return false
			}
			i := int(b[0]) - 'A'
			return i >= 0 && i < writers && bytes.Equal(b, body(i))
		}
		done := make(chan struct{})
		problems := make(chan string, 100)
		var readers sync.WaitGroup
		for range 3 {
			readers.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					rc, _, err := s.Open(ctx, key, nil)
					if errors.Is(err, core.ErrNotFound) {
						continue
					}
					if err != nil {
						problems <- fmt.Sprintf("open: %v", err)
						return
					}
					b, err := io.ReadAll(rc)
					_ = rc.Close()
					if err != nil {
						problems <- fmt.Sprintf("read: %v", err)
						return
					}
					if !whole(b) {
						problems <- fmt.Sprintf("read %d bytes that are no whole body", len(b))
						return
					}
				}
			})
		}
		errs = make(chan error, 3*writers)
		for i := range writers {
			wg.Go(func() {
				for range 3 {
					b := body(i)
					if _, err := s.Put(ctx, key, pipeOf(b, 7000), int64(len(b)), ports.PutOptions{}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(done)
		readers.Wait()
		close(errs)
		close(problems)
		for err := range errs {
			require.NoError(t, err)
		}
		for pr := range problems {
			t.Error(pr)
		}
		got, _ := readAll(t, s, key, nil)
		assert.True(t, whole(got), "the final object is one of the bodies, whole (%d bytes)", len(got))
		st, err := s.Stat(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(len(got)), st.Size)
	})

	t.Run("ContextDone", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "kept"
		putBytes(t, s, key, []byte("kept"), "")
		done, cancel := context.WithCancel(ctx)
		cancel()

		_, err := s.Put(done, p+"new", bytes.NewReader([]byte("x")), 1, ports.PutOptions{})
		require.ErrorIs(t, err, context.Canceled, "Put")
		_, err = s.Put(done, key, bytes.NewReader([]byte("replaced")), 8, ports.PutOptions{})
		require.ErrorIs(t, err, context.Canceled, "Put replacing")
		rc, _, err := s.Open(done, key, nil)
		if rc != nil {
			_ = rc.Close()
		}
		require.ErrorIs(t, err, context.Canceled, "Open")
		_, err = s.Stat(done, key)
		require.ErrorIs(t, err, context.Canceled, "Stat")
		require.ErrorIs(t, s.Delete(done, key), context.Canceled, "Delete")
		require.ErrorIs(t, s.List(done, p, func(ports.ObjectInfo) error { return nil }), context.Canceled, "List")
		if m, ok := s.(ports.MultipartStorage); ok {
			_, err = m.CreateUpload(done, p+"up", ports.PutOptions{})
			require.ErrorIs(t, err, context.Canceled, "CreateUpload")
		}

		requireMissing(t, s, p+"new")
		got, _ := readAll(t, s, key, nil)
		assert.Equal(t, "kept", string(got), "nothing changed")

		// A context ending while the body streams: no object.
		streaming, cancel := context.WithCancel(ctx)
		defer cancel()
		data := pattern(17, 2<<20)
		r := &cancelingReader{r: bytes.NewReader(data), after: 64 << 10, cancel: cancel}
		_, err = s.Put(streaming, p+"streaming", r, int64(len(data)), ports.PutOptions{})
		require.Error(t, err, "Put whose context ends midway")
		requireMissing(t, s, p+"streaming")
		assertListed(t, s, p, map[string]int64{key: 4})
	})

	t.Run("Multipart", func(t *testing.T) {
		t.Parallel()
		if _, ok := newStorage(t).(ports.MultipartStorage); !ok {
			t.Log("the storage is no ports.MultipartStorage: multipart cases not run")
			return
		}
		runMultipart(t, func(t *testing.T) ports.MultipartStorage {
			return newStorage(t).(ports.MultipartStorage)
		})
	})
}

// runMultipart checks the ports.MultipartStorage contract.
func runMultipart(t *testing.T, newStorage func(t *testing.T) ports.MultipartStorage) {
	ctx := context.Background()

	t.Run("PartsInAnyOrderAndResent", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "mp/video.mp4"
		putBytes(t, s, key, []byte("the old object"), "text/old")
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{ContentType: "video/mp4"})
		require.NoError(t, err)
		require.NotEmpty(t, id)

		p1, p2, p2b, p3 := pattern(21, ports.MinPartSize), pattern(22, ports.MinPartSize), pattern(23, ports.MinPartSize), pattern(24, 1234)
		sent := map[int]ports.Part{}
		for _, c := range []struct {
			n    int
			data []byte
		}{{3, p3}, {1, p1}, {2, p2}, {2, p2b}} {
			part, err := s.PutPart(ctx, key, id, c.n, pipeOf(c.data, 1<<20), int64(len(c.data)))
			require.NoError(t, err, "part %d", c.n)
			assert.Equal(t, c.n, part.Number)
			assert.Equal(t, int64(len(c.data)), part.Size)
			require.NotEmpty(t, part.ETag)
			if old, ok := sent[c.n]; ok {
				assert.NotEqual(t, old.ETag, part.ETag, "part %d sent again with other bytes", c.n)
			}
			sent[c.n] = part
		}
		parts, err := s.ListParts(ctx, key, id)
		require.NoError(t, err)
		require.Len(t, parts, 3)
		for i, part := range parts {
			assert.Equal(t, sent[i+1], part, "part %d as received last", i+1)
		}
		// An upload in progress is no object.
		got, _ := readAll(t, s, key, nil)
		assert.Equal(t, "the old object", string(got))
		assertListed(t, s, p, map[string]int64{key: 14})

		info, err := s.CompleteUpload(ctx, key, id, parts)
		require.NoError(t, err)
		want := slicesConcat(p1, p2b, p3)
		assert.Equal(t, key, info.Key)
		assert.Equal(t, int64(len(want)), info.Size)
		assert.NotEmpty(t, info.ETag)
		got, oinfo := readAll(t, s, key, nil)
		requireSameBytes(t, want, got)
		assert.Equal(t, "video/mp4", oinfo.ContentType)
		st, err := s.Stat(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(len(want)), st.Size)
		assert.Equal(t, info.ETag, st.ETag)
		assert.Equal(t, "video/mp4", st.ContentType)
		assertListed(t, s, p, map[string]int64{key: int64(len(want))})

		_, err = s.ListParts(ctx, key, id)
		requireIs(t, err, core.ErrNotFound, "ListParts of a completed upload")
		_, err = s.PutPart(ctx, key, id, 4, bytes.NewReader([]byte("x")), 1)
		requireIs(t, err, core.ErrNotFound, "PutPart to a completed upload")
	})

	t.Run("CompleteRefusesWrongParts", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "mp/doc.bin"
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		p1, p2 := pattern(31, ports.MinPartSize), pattern(32, 999)
		part1, err := s.PutPart(ctx, key, id, 1, bytes.NewReader(p1), int64(len(p1)))
		require.NoError(t, err)
		part2, err := s.PutPart(ctx, key, id, 2, bytes.NewReader(p2), int64(len(p2)))
		require.NoError(t, err)

		wrongETag := part2
		wrongETag.ETag = `"0123456789abcdef0123456789abcdef"`
		if part2.ETag == wrongETag.ETag {
			wrongETag.ETag = `"fedcba9876543210fedcba9876543210"`
		}
		for name, parts := range map[string][]ports.Part{
			"missing part":   {part1, {Number: 3, Size: 999, ETag: part2.ETag}},
			"wrong ETag":     {part1, wrongETag},
			"out of order":   {part2, part1},
			"no parts":       {},
			"part number 0":  {{Number: 0, ETag: part1.ETag}, part2},
			"part twice":     {part1, part1, part2},
			"beyond MaxPart": {part1, {Number: ports.MaxParts + 1, ETag: part2.ETag}},
		} {
			_, err := s.CompleteUpload(ctx, key, id, parts)
			requireIs(t, err, core.ErrValidation, "CompleteUpload with %s", name)
			requireMissing(t, s, key)
		}
		// The upload is still there and completes.
		listed, err := s.ListParts(ctx, key, id)
		require.NoError(t, err)
		require.Equal(t, []ports.Part{part1, part2}, listed)
		_, err = s.CompleteUpload(ctx, key, id, []ports.Part{part1, part2})
		require.NoError(t, err)
		got, _ := readAll(t, s, key, nil)
		requireSameBytes(t, slicesConcat(p1, p2), got)
	})

	t.Run("PartArguments", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "mp/args"
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		for _, n := range []int{0, -1, ports.MaxParts + 1} {
			_, err := s.PutPart(ctx, key, id, n, bytes.NewReader([]byte("x")), 1)
			requireIs(t, err, core.ErrValidation, "part number %d", n)
		}
		_, err = s.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("x")), -1)
		requireIs(t, err, core.ErrValidation, "part size -1")
		_, err = s.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("12345")), 10)
		requireIs(t, err, core.ErrValidation, "part shorter than its size")
		_, err = s.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("1234567890")), 5)
		requireIs(t, err, core.ErrValidation, "part longer than its size")
		_, err = s.PutPart(ctx, key, id, 1, &failingReader{data: pattern(33, 100_000), failAfter: 50_000, err: errors.New("gone")}, 100_000)
		require.Error(t, err, "part whose reader fails")
		parts, err := s.ListParts(ctx, key, id)
		require.NoError(t, err)
		assert.Empty(t, parts, "no refused part was kept")

		part, err := s.PutPart(ctx, key, id, ports.MaxParts, bytes.NewReader([]byte("last")), 4)
		require.NoError(t, err, "part number MaxParts")
		assert.Equal(t, ports.MaxParts, part.Number)
		// A failed re-send leaves the part received before.
		_, err = s.PutPart(ctx, key, id, ports.MaxParts, bytes.NewReader([]byte("xx")), 3)
		requireIs(t, err, core.ErrValidation, "re-sent part of a wrong size")
		parts, err = s.ListParts(ctx, key, id)
		require.NoError(t, err)
		assert.Equal(t, []ports.Part{part}, parts)
		require.NoError(t, s.AbortUpload(ctx, key, id))
	})

	t.Run("UploadsAreTiedToTheirKey", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key, other := p+"mp/mine", p+"mp/other"
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		part, err := s.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("mine")), 4)
		require.NoError(t, err)

		_, err = s.PutPart(ctx, other, id, 2, bytes.NewReader([]byte("x")), 1)
		requireIs(t, err, core.ErrNotFound, "PutPart with another key")
		_, err = s.ListParts(ctx, other, id)
		requireIs(t, err, core.ErrNotFound, "ListParts with another key")
		_, err = s.CompleteUpload(ctx, other, id, []ports.Part{part})
		requireIs(t, err, core.ErrNotFound, "CompleteUpload with another key")
		require.NoError(t, s.AbortUpload(ctx, other, id), "AbortUpload with another key is of an unknown upload")
		requireMissing(t, s, other)

		parts, err := s.ListParts(ctx, key, id)
		require.NoError(t, err, "the upload is untouched")
		assert.Equal(t, []ports.Part{part}, parts)
		_, err = s.CompleteUpload(ctx, key, id, parts)
		require.NoError(t, err)
		got, _ := readAll(t, s, key, nil)
		assert.Equal(t, "mine", string(got))
	})

	t.Run("UnknownUploads", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "mp/unknown"
		for _, id := range []string{"0123456789abcdef0123456789abcdef", "nope"} {
			_, err := s.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("x")), 1)
			requireIs(t, err, core.ErrNotFound, "PutPart to upload %q", id)
			_, err = s.ListParts(ctx, key, id)
			requireIs(t, err, core.ErrNotFound, "ListParts of upload %q", id)
			_, err = s.CompleteUpload(ctx, key, id, []ports.Part{{Number: 1, Size: 1, ETag: "x"}})
			requireIs(t, err, core.ErrNotFound, "CompleteUpload of upload %q", id)
			require.NoError(t, s.AbortUpload(ctx, key, id), "AbortUpload of upload %q", id)
		}
		for _, id := range []string{"", "../../x", "a/b", "..", "a\x00b", `..\x`} {
			_, err := s.PutPart(ctx, key, id, 1, bytes.NewReader([]byte("x")), 1)
			requireNotFoundOrInvalid(t, err, "PutPart to upload %q", id)
			_, err = s.ListParts(ctx, key, id)
			requireNotFoundOrInvalid(t, err, "ListParts of upload %q", id)
			_, err = s.CompleteUpload(ctx, key, id, []ports.Part{{Number: 1, Size: 1, ETag: "x"}})
			requireNotFoundOrInvalid(t, err, "CompleteUpload of upload %q", id)
			if err := s.AbortUpload(ctx, key, id); err != nil {
				requireNotFoundOrInvalid(t, err, "AbortUpload of upload %q", id)
			}
		}
		requireMissing(t, s, key)
		assertListed(t, s, p, map[string]int64{})
	})

	t.Run("AbortDropsTheParts", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "mp/aborted"
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		_, err = s.PutPart(ctx, key, id, 1, bytes.NewReader(pattern(41, 1000)), 1000)
		require.NoError(t, err)
		_, err = s.PutPart(ctx, key, id, 2, bytes.NewReader(pattern(42, 10)), 10)
		require.NoError(t, err)
		require.NoError(t, s.AbortUpload(ctx, key, id))

		_, err = s.ListParts(ctx, key, id)
		requireIs(t, err, core.ErrNotFound, "ListParts after AbortUpload")
		_, err = s.PutPart(ctx, key, id, 3, bytes.NewReader([]byte("x")), 1)
		requireIs(t, err, core.ErrNotFound, "PutPart after AbortUpload")
		_, err = s.CompleteUpload(ctx, key, id, []ports.Part{{Number: 1, Size: 1000}})
		requireIs(t, err, core.ErrNotFound, "CompleteUpload after AbortUpload")
		require.NoError(t, s.AbortUpload(ctx, key, id), "a second AbortUpload")
		requireMissing(t, s, key)
		assertListed(t, s, p, map[string]int64{})
	})

	t.Run("EmptyAndSinglePartUploads", func(t *testing.T) {
		t.Parallel()
		s, p := newStorage(t), prefix()
		key := p + "mp/single"
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{ContentType: "text/plain"})
		require.NoError(t, err)
		parts, err := s.ListParts(ctx, key, id)
		require.NoError(t, err)
		assert.Empty(t, parts, "no part received yet")
		part, err := s.PutPart(ctx, key, id, 7, bytes.NewReader([]byte("only part")), 9)
		require.NoError(t, err)
		info, err := s.CompleteUpload(ctx, key, id, []ports.Part{part})
		require.NoError(t, err)
		assert.Equal(t, int64(9), info.Size)
		got, oinfo := readAll(t, s, key, nil)
		assert.Equal(t, "only part", string(got))
		assert.Equal(t, "text/plain", oinfo.ContentType)

		// Two uploads of one key at once are independent.
		id1, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		id2, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		require.NotEqual(t, id1, id2)
		part1, err := s.PutPart(ctx, key, id1, 1, bytes.NewReader([]byte("one")), 3)
		require.NoError(t, err)
		_, err = s.PutPart(ctx, key, id2, 1, bytes.NewReader([]byte("two!")), 4)
		require.NoError(t, err)
		require.NoError(t, s.AbortUpload(ctx, key, id2))
		_, err = s.CompleteUpload(ctx, key, id1, []ports.Part{part1})
		require.NoError(t, err)
		got, _ = readAll(t, s, key, nil)
		assert.Equal(t, "one", string(got))
	})
}

// prefix returns a fresh first segment, as a tenant's, ending in "/".
func prefix() string { return fmt.Sprintf("st%016x/", rand.Uint64()) }

// pattern returns n pseudo-random bytes, the same for the same seed.
func pattern(seed uint64, n int) []byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// pipeOf returns a reader of data that is no Seeker, no WriterTo and knows
// no length: its bytes come through an io.Pipe, chunk bytes at a time.
func pipeOf(data []byte, chunk int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for len(data) > 0 {
			n := min(chunk, len(data))
			if _, err := pw.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
		_ = pw.Close()
	}()
	return struct{ io.Reader }{pr}
}

// failingReader returns the first failAfter bytes of data, then err.
type failingReader struct {
	data      []byte
	failAfter int
	err       error
	off       int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.off >= r.failAfter {
		return 0, r.err
	}
	n := copy(p, r.data[r.off:r.failAfter])
	r.off += n
	return n, nil
}

// cancelingReader reads r and cancels a context once after bytes have been
// read; it then slows down, so that a backend over the network notices the
// cancellation before the body is through.
type cancelingReader struct {
	r        io.Reader
	after    int
	cancel   context.CancelFunc
	read     int
	canceled bool
}

func (r *cancelingReader) Read(p []byte) (int, error) {
	if r.canceled {
		time.Sleep(5 * time.Millisecond)
	}
	n, err := r.r.Read(p)
	r.read += n
	if !r.canceled && r.read >= r.after {
		r.canceled = true
		r.cancel()
	}
	return n, err
}

// putBytes stores data under key and checks Put's answer.
func putBytes(t *testing.T, s ports.Storage, key string, data []byte, contentType string) ports.ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), ports.PutOptions{ContentType: contentType})
	require.NoError(t, err, "Put %q", key)
	require.Equal(t, int64(len(data)), info.Size, "Put %q", key)
	require.NotEmpty(t, info.ETag, "Put %q", key)
	return info
}

// readAll opens key (rng may be nil) and reads it whole.
func readAll(t *testing.T, s ports.Storage, key string, rng *ports.ByteRange) ([]byte, ports.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key, rng)
	require.NoError(t, err, "Open %q", key)
	defer func() { require.NoError(t, rc.Close(), "Close %q", key) }()
	b, err := io.ReadAll(rc)
	require.NoError(t, err, "reading %q", key)
	return b, info
}

// requireMissing checks that no object is stored under key.
func requireMissing(t *testing.T, s ports.Storage, key string) {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	requireIs(t, err, core.ErrNotFound, "Stat %q", key)
	rc, _, err := s.Open(context.Background(), key, nil)
	if rc != nil {
		_ = rc.Close()
	}
	requireIs(t, err, core.ErrNotFound, "Open %q", key)
}

// assertListed checks that List(prefix) passes exactly want (key → size).
func assertListed(t *testing.T, s ports.Storage, prefix string, want map[string]int64) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int64{}
	require.NoError(t, s.List(context.Background(), prefix, func(o ports.ObjectInfo) error {
		mu.Lock()
		defer mu.Unlock()
		got[o.Key] = o.Size
		return nil
	}), "List %q", prefix)
	if !assert.Equal(t, want, got, "List %q", prefix) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Logf("listed: %q", keys)
	}
}

// requireIs fails unless errors.Is(err, target).
func requireIs(t *testing.T, err, target error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.ErrorIs(t, err, target, msgAndArgs...)
}

// requireNotFoundOrInvalid fails unless err is core.ErrNotFound or
// core.ErrValidation.
func requireNotFoundOrInvalid(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	require.Error(t, err, what)
	require.True(t, errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrValidation),
		"%s: want core.ErrNotFound or core.ErrValidation, got %v", what, err)
}

// requireUnsatisfiable fails unless err is a validation error wrapping
// ports.ErrRangeNotSatisfiable.
func requireUnsatisfiable(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	require.Error(t, err, what)
	require.ErrorIs(t, err, ports.ErrRangeNotSatisfiable, what)
	require.ErrorIs(t, err, core.ErrValidation, what)
}

// requireSameBytes compares byte slices without printing megabytes.
func requireSameBytes(t *testing.T, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	msg := ""
	if len(msgAndArgs) > 0 {
		if f, ok := msgAndArgs[0].(string); ok {
			msg = fmt.Sprintf(f, msgAndArgs[1:]...) + ": "
		}
	}
	require.Failf(t, "bytes differ", "%swant %d bytes (sha256 %x), got %d bytes (sha256 %x); first difference at offset %d",
		msg, len(want), sha256.Sum256(want), len(got), sha256.Sum256(got), i)
}
