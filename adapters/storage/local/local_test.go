package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/storage/local"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest/storagetest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) ports.Storage {
		return newStorage(t, t.TempDir())
	})
}

// TestContractOnASharedRoot runs the suite with a storage of its own per
// subtest over one directory, as several processes sharing a disk.
func TestContractOnASharedRoot(t *testing.T) {
	dir := t.TempDir()
	storagetest.Run(t, func(t *testing.T) ports.Storage { return newStorage(t, dir) })
}

func newStorage(t *testing.T, dir string) *local.Storage {
	t.Helper()
	s, err := local.New(local.Config{Root: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var ctx = context.Background()

func put(t *testing.T, s ports.Storage, key, body, contentType string) ports.ObjectInfo {
	t.Helper()
	info, err := s.Put(ctx, key, strings.NewReader(body), int64(len(body)), ports.PutOptions{ContentType: contentType})
	require.NoError(t, err)
	return info
}

func read(t *testing.T, s ports.Storage, key string) string {
	t.Helper()
	rc, _, err := s.Open(ctx, key, nil)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

// tree lists the regular files and links under dir (relative, slashed)
// with their contents (a link: "-> target").
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			got[rel] = "-> " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			got[rel] = string(b)
		}
		return nil
	}))
	return got
}

func dirs(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	}))
	sort.Strings(got)
	return got
}

func TestConfig(t *testing.T) {
	require.ErrorIs(t, local.Config{}.Validate(), core.ErrValidation)
	require.ErrorIs(t, local.Config{Root: "  "}.Validate(), core.ErrValidation)
	require.NoError(t, local.Config{Root: "/srv/files"}.Validate())
	_, err := local.New(local.Config{})
	require.ErrorIs(t, err, core.ErrValidation)

	root := filepath.Join(t.TempDir(), "a", "b", "files")
	s := newStorage(t, root)
	fi, err := os.Stat(root)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	assert.Equal(t, []string{"meta", "objects", "staging", "uploads"}, dirs(t, root))
	require.NoError(t, s.Close())

	// The root may not be a file; its folders may not be links.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err = local.New(local.Config{Root: file})
	require.Error(t, err)
	if runtime.GOOS != "windows" {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		require.NoError(t, os.Mkdir(outside, 0o750))
		root := filepath.Join(base, "root")
		require.NoError(t, os.Mkdir(root, 0o750))
		require.NoError(t, os.Symlink(outside, filepath.Join(root, "staging")))
		_, err = local.New(local.Config{Root: root})
		require.Error(t, err, "staging/ is a link out of the root")
		assert.Empty(t, tree(t, outside))
	}
}

func TestLayout(t *testing.T) {
	root := t.TempDir()
	s := newStorage(t, root)
	info := put(t, s, "files/t1/2030/01/02/abc-report.pdf", "%PDF-1.7", "application/pdf")
	files := tree(t, root)
	assert.Equal(t, "%PDF-1.7", files["objects/files/t1/2030/01/02/abc-report.pdf"], "the object is a plain file")
	assert.Contains(t, files["meta/files/t1/2030/01/02/abc-report.pdf"], `"content_type":"application/pdf"`)
	assert.Contains(t, files["meta/files/t1/2030/01/02/abc-report.pdf"], info.ETag)
	assert.Len(t, files, 2, "nothing else: %v", files)
	assert.Len(t, info.ETag, 32, "the hex MD5 of the bytes")

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(root, "objects/files/t1/2030/01/02/abc-report.pdf"))
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o027, "no write for the group, nothing for others: %v", fi.Mode())
		fi, err = os.Stat(filepath.Join(root, "objects/files/t1/2030"))
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o027, "%v", fi.Mode())
	}

	// Delete removes the sidecar and the folders left empty.
	put(t, s, "files/t1/2030/01/03/keep", "k", "")
	require.NoError(t, s.Delete(ctx, "files/t1/2030/01/02/abc-report.pdf"))
	assert.Equal(t, map[string]string{
		"objects/files/t1/2030/01/03/keep": "k",
		"meta/files/t1/2030/01/03/keep":    tree(t, root)["meta/files/t1/2030/01/03/keep"],
	}, tree(t, root))
	assert.Equal(t, []string{
		"meta", "meta/files", "meta/files/t1", "meta/files/t1/2030", "meta/files/t1/2030/01", "meta/files/t1/2030/01/03",
		"objects", "objects/files", "objects/files/t1", "objects/files/t1/2030", "objects/files/t1/2030/01", "objects/files/t1/2030/01/03",
		"staging", "uploads",
	}, dirs(t, root))
	require.NoError(t, s.Delete(ctx, "files/t1/2030/01/03/keep"))
	assert.Equal(t, []string{"meta", "objects", "staging", "uploads"}, dirs(t, root))
}

func TestKeysCannotLeaveTheirTree(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	require.NoError(t, os.Mkdir(outside, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600))
	s := newStorage(t, root)
	bad := []string{
		"../outside/secret", "../../outside/secret", "a/../../outside/secret", "/" + filepath.ToSlash(outside) + "/secret",
		filepath.Join(outside, "secret"), "..\\outside\\secret", "a\\..\\..\\outside\\secret", "C:\\outside\\secret",
		"secret\x00", "a\x00/../../outside/secret", "../meta/x", "../staging/x", "../uploads/x", "./x", "x/.", "",
		"a//b", "a/b/", "a b",
	}
	for _, key := range bad {
		_, err := s.Put(ctx, key, strings.NewReader("pwned"), 5, ports.PutOptions{})
		require.ErrorIs(t, err, core.ErrValidation, "Put %q", key)
		_, _, err = s.Open(ctx, key, nil)
		require.ErrorIs(t, err, core.ErrValidation, "Open %q", key)
		_, err = s.Stat(ctx, key)
		require.ErrorIs(t, err, core.ErrValidation, "Stat %q", key)
		require.ErrorIs(t, s.Delete(ctx, key), core.ErrValidation, "Delete %q", key)
		_, err = s.CreateUpload(ctx, key, ports.PutOptions{})
		require.ErrorIs(t, err, core.ErrValidation, "CreateUpload %q", key)
	}
	for _, id := range []string{"../../outside", "../objects", "..", "", "/tmp", "0123456789abcdef0123456789abcdeg"} {
		_, err := s.PutPart(ctx, "k", id, 1, strings.NewReader("pwned"), 5)
		require.ErrorIs(t, err, core.ErrNotFound, "PutPart to upload %q", id)
		_, err = s.ListParts(ctx, "k", id)
		require.ErrorIs(t, err, core.ErrNotFound, "ListParts of upload %q", id)
		require.NoError(t, s.AbortUpload(ctx, "k", id), "AbortUpload of upload %q", id)
	}
	// Keys that look like the other folders stay under objects/.
	put(t, s, "meta/x", "m", "")
	put(t, s, "staging/x", "s", "")
	put(t, s, "uploads/x", "u", "")
	put(t, s, ".tmp/x", "t", "")
	files := tree(t, root)
	for _, k := range []string{"meta/x", "staging/x", "uploads/x", ".tmp/x"} {
		assert.Contains(t, files, "objects/"+k)
		assert.Contains(t, files, "meta/"+k)
	}
	assert.Len(t, files, 8, "%v", files)
	assert.Equal(t, map[string]string{"secret": "secret"}, tree(t, outside))
}

func TestLinksCannotLeadOutOfTheRoot(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	require.NoError(t, os.Mkdir(outside, 0o750))
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))
	s := newStorage(t, root)
	put(t, s, "t/real", "real", "")

	objects := filepath.Join(root, "objects", "t")
	links := map[string]string{
		"absdir":  outside,                                 // a folder out, absolute
		"reldir":  "../../../outside",                      // a folder out, relative
		"absfile": secret,                                  // a file out, absolute
		"relfile": "../../../outside/secret",               // a file out, relative
		"deep":    "../../objects/../../../outside/secret", // climbing through the root
	}
	for name, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(objects, name)))
	}
	for _, key := range []string{"t/absfile", "t/relfile", "t/absdir/secret", "t/reldir/secret", "t/deep"} {
		rc, _, err := s.Open(ctx, key, nil)
		if err == nil {
			b, _ := io.ReadAll(rc)
			_ = rc.Close()
			t.Fatalf("Open %q read %q out of the root", key, b)
		}
		_, err = s.Stat(ctx, key)
		require.Error(t, err, "Stat %q", key)
	}
	for _, key := range []string{"t/absdir/new", "t/reldir/new", "t/absdir/secret", "t/reldir/secret"} {
		_, err := s.Put(ctx, key, strings.NewReader("pwned"), 5, ports.PutOptions{})
		require.Error(t, err, "Put %q", key)
		_ = s.Delete(ctx, key)
		id, err := s.CreateUpload(ctx, key, ports.PutOptions{})
		require.NoError(t, err)
		part, err := s.PutPart(ctx, key, id, 1, strings.NewReader("pwned"), 5)
		require.NoError(t, err)
		_, err = s.CompleteUpload(ctx, key, id, []ports.Part{part})
		require.Error(t, err, "CompleteUpload %q", key)
		require.NoError(t, s.AbortUpload(ctx, key, id))
	}
	// A Put or Delete of a link replaces or removes the link, not its target.
	put(t, s, "t/absfile", "mine", "")
	assert.Equal(t, "mine", read(t, s, "t/absfile"))
	require.NoError(t, s.Delete(ctx, "t/relfile"))

	// List walks no link.
	var listed []string
	require.NoError(t, s.List(ctx, "t/", func(o ports.ObjectInfo) error {
		listed = append(listed, o.Key)
		return nil
	}))
	sort.Strings(listed)
	assert.NotContains(t, listed, "t/absdir/secret")
	assert.NotContains(t, listed, "t/reldir/secret")
	assert.NotContains(t, listed, "t/deep")

	// A sidecar replaced by a link out is not read.
	require.NoError(t, os.Remove(filepath.Join(root, "meta", "t", "real")))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "meta"), []byte(`{"size":4,"etag":"stolen","content_type":"text/stolen"}`), 0o600))
	require.NoError(t, os.Symlink(filepath.Join(outside, "meta"), filepath.Join(root, "meta", "t", "real")))
	st, err := s.Stat(ctx, "t/real")
	require.NoError(t, err)
	assert.NotEqual(t, "stolen", st.ETag)
	assert.Empty(t, st.ContentType)
	put(t, s, "t/real", "new!", "text/plain")

	// An upload folder planted as a link out is neither used nor removed.
	id := "0123456789abcdef0123456789abcdef"
	require.NoError(t, os.WriteFile(filepath.Join(outside, "info.json"), []byte(`{"key":"t/up","created":"2000-01-01T00:00:00Z"}`), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "uploads", id)))
	_, err = s.PutPart(ctx, "t/up", id, 1, strings.NewReader("pwned"), 5)
	require.Error(t, err)
	_, err = s.ListParts(ctx, "t/up", id)
	require.Error(t, err)
	_ = s.AbortUpload(ctx, "t/up", id)
	_, err = s.PurgeUploads(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)

	// The staging folder swapped for a link out: writes fail, outside.
	require.NoError(t, os.Rename(filepath.Join(root, "staging"), filepath.Join(root, "staging.old")))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "staging")))
	_, err = s.Put(ctx, "t/x", strings.NewReader("pwned"), 5, ports.PutOptions{})
	require.Error(t, err)
	_, err = s.PurgeUploads(ctx, time.Now().Add(time.Hour))
	require.Error(t, err, "staging/ is a link out")

	assert.Equal(t, map[string]string{
		"secret":    "secret",
		"meta":      `{"size":4,"etag":"stolen","content_type":"text/stolen"}`,
		"info.json": `{"key":"t/up","created":"2000-01-01T00:00:00Z"}`,
	}, tree(t, outside), "nothing out of the root was written or removed")
}

// failing fails after half of its bytes.
type failing struct {
	data []byte
	off  int
	err  error
}

func (f *failing) Read(p []byte) (int, error) {
	half := len(f.data) / 2
	if f.off >= half {
		return 0, f.err
	}
	n := copy(p, f.data[f.off:half])
	f.off += n
	return n, nil
}

func TestNoPartialObjectEver(t *testing.T) {
	root := t.TempDir()
	s := newStorage(t, root)
	boom := errors.New("connection reset")
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, size := range []int64{int64(len(body)), -1} {
		_, err := s.Put(ctx, "t/new", &failing{data: body, err: boom}, size, ports.PutOptions{})
		require.ErrorIs(t, err, boom, "the reader's error is wrapped")
		_, err = s.Stat(ctx, "t/new")
		require.ErrorIs(t, err, core.ErrNotFound)

		put(t, s, "t/old", "old bytes", "text/plain")
		_, err = s.Put(ctx, "t/old", &failing{data: body, err: boom}, size, ports.PutOptions{})
		require.ErrorIs(t, err, boom)
		assert.Equal(t, map[string]string{
			"objects/t/old": "old bytes",
			"meta/t/old":    tree(t, root)["meta/t/old"],
		}, tree(t, root), "no partial file anywhere, staging/ empty")
	}

	// A crash leaves a staging file at most: no object, and New removes it
	// once it is a day old.
	stale := filepath.Join(root, "staging", "0123456789abcdef01234567.tmp")
	fresh := filepath.Join(root, "staging", "76543210fedcba9876543210.tmp")
	require.NoError(t, os.WriteFile(stale, body[:1000], 0o600))
	require.NoError(t, os.WriteFile(fresh, body[:1000], 0o600))
	old := time.Now().Add(-25 * time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))
	s2 := newStorage(t, root)
	assert.NoFileExists(t, stale)
	assert.FileExists(t, fresh)
	assertListed(t, s2, "t/", "t/old")
}

func assertListed(t *testing.T, s ports.Storage, prefix string, want ...string) {
	t.Helper()
	var got []string
	require.NoError(t, s.List(ctx, prefix, func(o ports.ObjectInfo) error {
		got = append(got, o.Key)
		return nil
	}))
	sort.Strings(got)
	sort.Strings(want)
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	assert.Equal(t, want, got)
}

func TestNoStagingFileLeftAfterFailures(t *testing.T) {
	root := t.TempDir()
	s := newStorage(t, root)
	staging := func() []string {
		entries, err := os.ReadDir(filepath.Join(root, "staging"))
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	body := strings.Repeat("x", 100_000)
	_, err := s.Put(ctx, "t/a", strings.NewReader(body), 10, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrValidation)
	assert.Empty(t, staging(), "body longer than declared")
	_, err = s.Put(ctx, "t/a", strings.NewReader(body), 200_000, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrValidation)
	assert.Empty(t, staging(), "body shorter than declared")
	_, err = s.Put(ctx, "t/a", &failing{data: []byte(body), err: io.ErrUnexpectedEOF}, -1, ports.PutOptions{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Empty(t, staging(), "reader failing")
	cctx, cancel := context.WithCancel(ctx)
	_, err = s.Put(cctx, "t/a", io.MultiReader(strings.NewReader(body), readerFunc(func([]byte) (int, error) {
		cancel()
		return 0, nil
	}), strings.NewReader(body)), -1, ports.PutOptions{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, staging(), "context canceled midway")

	// The same for parts, and a completion refused.
	id, err := s.CreateUpload(ctx, "t/a", ports.PutOptions{})
	require.NoError(t, err)
	_, err = s.PutPart(ctx, "t/a", id, 1, strings.NewReader(body), 10)
	require.ErrorIs(t, err, core.ErrValidation)
	_, err = s.PutPart(ctx, "t/a", id, 1, &failing{data: []byte(body), err: io.ErrUnexpectedEOF}, int64(len(body)))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Empty(t, staging(), "parts")
	part, err := s.PutPart(ctx, "t/a", id, 1, strings.NewReader(body), int64(len(body)))
	require.NoError(t, err)
	_, err = s.CompleteUpload(ctx, "t/a", id, []ports.Part{{Number: 1, ETag: "nope"}})
	require.ErrorIs(t, err, core.ErrValidation)
	cctx, cancel = context.WithCancel(ctx)
	cancel()
	_, err = s.CompleteUpload(cctx, "t/a", id, []ports.Part{part})
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, staging(), "completion")
	_, err = s.CompleteUpload(ctx, "t/a", id, []ports.Part{part})
	require.NoError(t, err)
	assert.Empty(t, staging())
	assert.Equal(t, body, read(t, s, "t/a"))
	assert.Equal(t, []string{"meta", "meta/t", "objects", "objects/t", "staging", "uploads"}, dirs(t, root), "the upload's folder is gone")
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestSidecarOutOfStepIsNotBelieved(t *testing.T) {
	root := t.TempDir()
	s := newStorage(t, root)
	info := put(t, s, "t/doc", "first", "text/plain")
	// As after a crash between the two renames, or a change by hand.
	require.NoError(t, os.WriteFile(filepath.Join(root, "objects", "t", "doc"), []byte("second!"), 0o640))
	st, err := s.Stat(ctx, "t/doc")
	require.NoError(t, err)
	assert.Equal(t, int64(7), st.Size)
	assert.NotEqual(t, info.ETag, st.ETag)
	assert.NotEmpty(t, st.ETag)
	assert.Empty(t, st.ContentType, "the content type was the old bytes'")
	_, oinfo, err := s.Open(ctx, "t/doc", nil)
	require.NoError(t, err)
	assert.Equal(t, st.ETag, oinfo.ETag, "Stat and Open agree")
	// A sidecar missing altogether: the same.
	require.NoError(t, os.Remove(filepath.Join(root, "meta", "t", "doc")))
	st2, err := s.Stat(ctx, "t/doc")
	require.NoError(t, err)
	assert.Equal(t, st.ETag, st2.ETag)
	// Put brings them back in step.
	info = put(t, s, "t/doc", "third", "text/csv")
	st, err = s.Stat(ctx, "t/doc")
	require.NoError(t, err)
	assert.Equal(t, info.ETag, st.ETag)
	assert.Equal(t, "text/csv", st.ContentType)
}

func TestObjectAndFolderCollide(t *testing.T) {
	s := newStorage(t, t.TempDir())
	put(t, s, "t/a", "object", "")
	_, err := s.Put(ctx, "t/a/b", strings.NewReader("x"), 1, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrConflict)
	_, err = s.Stat(ctx, "t/a/b")
	require.ErrorIs(t, err, core.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "t/a/b"))
	assert.Equal(t, "object", read(t, s, "t/a"))

	put(t, s, "t/c/d", "inside", "")
	_, err = s.Put(ctx, "t/c", strings.NewReader("x"), 1, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrConflict)
	_, err = s.Stat(ctx, "t/c")
	require.ErrorIs(t, err, core.ErrNotFound, "a folder is no object")
	_, _, err = s.Open(ctx, "t/c", nil)
	require.ErrorIs(t, err, core.ErrNotFound)
	require.NoError(t, s.Delete(ctx, "t/c"))
	assert.Equal(t, "inside", read(t, s, "t/c/d"))
	assertListed(t, s, "t/", "t/a", "t/c/d")
}

func TestLongSegmentIsRefused(t *testing.T) {
	s := newStorage(t, t.TempDir())
	key := "t/" + strings.Repeat("n", 256)
	_, err := s.Put(ctx, key, strings.NewReader("x"), 1, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrValidation)
	_, err = s.Stat(ctx, key)
	require.ErrorIs(t, err, core.ErrValidation)
	_, err = s.CreateUpload(ctx, key, ports.PutOptions{})
	require.ErrorIs(t, err, core.ErrValidation)
	put(t, s, "t/"+strings.Repeat("n", 255), "ok", "")
}

func TestUploadsLayoutAndPurge(t *testing.T) {
	root := t.TempDir()
	s := newStorage(t, root)
	id, err := s.CreateUpload(ctx, "t/big", ports.PutOptions{ContentType: "video/mp4"})
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{32}$`, id)
	p2, err := s.PutPart(ctx, "t/big", id, 2, strings.NewReader("world"), 5)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{32}$`, p2.ETag, "128 random bits")
	again, err := s.PutPart(ctx, "t/big", id, 2, strings.NewReader("world"), 5)
	require.NoError(t, err)
	assert.NotEqual(t, p2.ETag, again.ETag, "a part sent again is another part, even with the same bytes")
	p2 = again
	_, err = s.PutPart(ctx, "t/big", id, 1, strings.NewReader("hello "), 6)
	require.NoError(t, err)
	files := tree(t, root)
	assert.Equal(t, "hello ", files["uploads/"+id+"/1"])
	assert.Equal(t, "world", files["uploads/"+id+"/2"])
	assert.Contains(t, files["uploads/"+id+"/info.json"], `"key":"t/big"`)
	assert.Contains(t, files["uploads/"+id+"/2.json"], p2.ETag)
	assertListed(t, s, "t/")

	other, err := s.CreateUpload(ctx, "t/other", ports.PutOptions{})
	require.NoError(t, err)
	// A folder left by a crash before its info was written.
	orphan := filepath.Join(root, "uploads", "ffffffffffffffffffffffffffffffff")
	require.NoError(t, os.Mkdir(orphan, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(orphan, "1"), []byte("x"), 0o640))
	old := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(orphan, old, old))
	stale := filepath.Join(root, "staging", "aaaaaaaaaaaaaaaaaaaaaaaa.tmp")
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o640))
	require.NoError(t, os.Chtimes(stale, old, old))

	n, err := s.PurgeUploads(ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the orphaned folder is that old")
	assert.NoDirExists(t, orphan)
	assert.NoFileExists(t, stale)
	parts, err := s.ListParts(ctx, "t/big", id)
	require.NoError(t, err)
	assert.Len(t, parts, 2)

	n, err = s.PurgeUploads(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for _, up := range []struct{ key, id string }{{"t/big", id}, {"t/other", other}} {
		_, err = s.ListParts(ctx, up.key, up.id)
		require.ErrorIs(t, err, core.ErrNotFound)
	}
	assert.Equal(t, []string{"meta", "objects", "staging", "uploads"}, dirs(t, root))

	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.PurgeUploads(done, time.Now())
	require.ErrorIs(t, err, context.Canceled)
}

// TestDeletesRaceWithPuts: a Delete prunes the folders it empties while
// Puts into the same folders go on; every Put succeeds.
func TestDeletesRaceWithPuts(t *testing.T) {
	s := newStorage(t, t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				key := fmt.Sprintf("t/2030/01/%02d/w%d-%d", i%3, w, i)
				if _, err := s.Put(ctx, key, strings.NewReader("x"), 1, ports.PutOptions{}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					continue
				}
				if i%2 == 0 {
					if err := s.Delete(ctx, key); err != nil {
						errs <- fmt.Errorf("delete %s: %w", key, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	require.NoError(t, s.List(ctx, "t/", func(ports.ObjectInfo) error { n++; return nil }))
	assert.Equal(t, 8*20, n)
}

func TestRangesReadOnlyTheirBytes(t *testing.T) {
	s := newStorage(t, t.TempDir())
	put(t, s, "t/r", "0123456789", "")
	rc, info, err := s.Open(ctx, "t/r", &ports.ByteRange{Offset: 3, Length: 4})
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, "3456", string(b))
	assert.Equal(t, int64(10), info.Size)
	_, _, err = s.Open(ctx, "t/r", &ports.ByteRange{Offset: 10, Length: -1})
	require.ErrorIs(t, err, ports.ErrRangeNotSatisfiable)
	require.ErrorIs(t, err, core.ErrValidation)
}
