package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const (
	// bigFileSize is the file of the resumable-upload acceptance test.
	bigFileSize = 1 << 30
	// bigPartSize is its part size ([files] part_size = "64MB").
	bigPartSize = 64 << 20
	// bigFileHeapBound bounds the growth of the process's heap (and of the
	// memory the Go runtime holds) while the file goes up and comes back
	// down: less than one part, so neither the server nor the test's client
	// can have held a part, let alone the file. (Measured: 2 to 4 MiB.)
	bigFileHeapBound = 48 << 20
)

// TestResumableUploadOfALargeFile is the acceptance test of resumable
// uploads, on the local disk and on S3: a 1 GiB file (pseudo-random, made
// while it is sent) goes up over real HTTP through an upload session in
// 64 MiB parts. Two parts are interrupted mid-way — one by a client that
// half-closes its connection, which the server answers 400 "cut short",
// one by a client whose body fails — and neither leaves anything behind;
// the session then lists the parts received, the client resends the rest
// and completes, and the file downloads byte-identical (SHA-256 and size,
// which the server also checked against the hash announced). The process's
// heap, sampled every 20 ms throughout, grows by less than a part: client
// and server stream. Then a session abandoned after two parts is removed
// with its parts by the sweep once expired, and every byte written is
// deleted. Skipped in -short.
func TestResumableUploadOfALargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB per backend; skipped in -short")
	}
	for _, backend := range fileBackends {
		t.Run(backend, func(t *testing.T) {
			cfg := filesConfig(t, backend)
			cfg.Files.PartSize = "64MB"
			cfg.Files.MaxUploadSize = "2GB"
			app := newFilesApp(t, cfg)
			c := newFileClient(app, fmtest.User("ann", "Writer"))
			id, key := resumableUpload(t, app, c, cfg, "acceptance-"+backend)
			left := abandonedSession(t, app, c, cfg)
			c.call(t, http.MethodDelete, "/api/v1/file/"+id, nil, 0, nil, http.StatusOK, nil)
			assertNoBytesLeft(t, app, cfg, key, left)
		})
	}
}

// resumableUpload sends the file seed in parts with two interruptions,
// resumes, completes and downloads it, and returns its id and storage key.
func resumableUpload(t *testing.T, app *fmtest.App, c *fileClient, cfg config.Config, seed string) (string, string) {
	start := time.Now()
	sum := genSum(seed, bigFileSize)
	t.Logf("generated and hashed 1 GiB in %v", time.Since(start).Round(time.Millisecond))

	mem := sampleMemory()
	defer mem.Stop() // when a check fails half-way
	phase := time.Now()
	var s files.Session
	c.postJSON(t, "/api/v1/file/uploads", map[string]any{"file_name": "big.pdf", "file_size": bigFileSize, "sha256": sum}, http.StatusCreated, &s)
	require.Equal(t, bigFileSize/bigPartSize, s.Parts)
	require.EqualValues(t, bigPartSize, s.PartSize)
	key := storageKey(t, app, s.ID)
	partPath := func(n int) string { return fmt.Sprintf("/api/v1/file/uploads/%s/parts/%d", s.ID, n) }
	offset := func(n int) int64 { return int64(n-1) * bigPartSize }
	put := func(n int) {
		var p ports.Part
		c.call(t, http.MethodPut, partPath(n), newGen(seed, offset(n), bigPartSize), bigPartSize, nil, http.StatusOK, &p)
		require.Equal(t, n, p.Number)
		require.EqualValues(t, bigPartSize, p.Size)
	}
	for n := 1; n <= 4; n++ {
		put(n)
	}

	// Part 5: the client half-closes its connection after 20 of 64 MiB;
	// the server reads the body's end and answers that the part was cut.
	status, msg := halfClosedPut(t, c, partPath(5), newGen(seed, offset(5), 20*mib), bigPartSize)
	assert.Equal(t, http.StatusBadRequest, status, "%s", msg)
	assert.Contains(t, msg, "cut short")
	// Part 6: the client's body fails after 40 MiB; the request fails.
	res, err := c.do(context.Background(), http.MethodPut, partPath(6), &failingReader{r: newGen(seed, offset(6), bigPartSize), left: 40 * mib}, bigPartSize, nil)
	if err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("an interrupted part was answered %d: %s", res.StatusCode, b)
	}
	assert.ErrorIs(t, err, errDropped)
	if cfg.Files.StorageBackend == backendLocal {
		// The server discards the partial bytes of both (the second
		// request may still be ending on the server: wait for it).
		staging := filepath.Join(localRoot(cfg), "staging")
		require.Eventually(t, func() bool { return len(readDir(t, staging)) == 0 }, 10*time.Second, 20*time.Millisecond,
			"the interrupted parts' staging files are removed: %v", readDir(t, staging))
	}

	// Resume: the session says what arrived; send the rest.
	var info files.Session
	c.call(t, http.MethodGet, "/api/v1/file/uploads/"+s.ID, nil, 0, nil, http.StatusOK, &info)
	have := map[int]bool{}
	for _, p := range info.Received {
		assert.EqualValues(t, bigPartSize, p.Size, "part %d is whole", p.Number)
		have[p.Number] = true
	}
	require.Equal(t, []int{1, 2, 3, 4}, sortedKeys(have), "only the whole parts were received")
	for n := 1; n <= s.Parts; n++ {
		if !have[n] {
			put(n)
		}
	}
	c.call(t, http.MethodGet, "/api/v1/file/uploads/"+s.ID, nil, 0, nil, http.StatusOK, &info)
	require.Len(t, info.Received, s.Parts)
	upload := time.Since(phase)

	phase = time.Now()
	var f uploadedFile
	c.call(t, http.MethodPost, "/api/v1/file/uploads/"+s.ID+"/complete", nil, 0, nil, http.StatusCreated, &f)
	complete := time.Since(phase)
	assert.EqualValues(t, bigFileSize, f.Size)
	assert.Equal(t, sum, f.SHA256, "the server's hash of the assembled file")
	assert.Equal(t, "application/pdf", f.ContentType)
	c.call(t, http.MethodGet, "/api/v1/file/uploads/"+s.ID, nil, 0, nil, http.StatusNotFound, nil)

	phase = time.Now()
	h := sha256.New()
	n, announced := c.download(t, f.ID, h)
	download := time.Since(phase)
	heap, total := mem.Stop()
	assert.EqualValues(t, bigFileSize, announced, "Content-Length")
	assert.EqualValues(t, bigFileSize, n, "bytes downloaded")
	assert.Equal(t, sum, hex.EncodeToString(h.Sum(nil)), "the download is byte-identical")

	t.Logf("upload %v (%.0f MB/s), complete %v, download %v (%.0f MB/s); peak growth: heap objects %s, runtime memory %s",
		upload.Round(time.Millisecond), bigFileSize/upload.Seconds()/1e6, complete.Round(time.Millisecond),
		download.Round(time.Millisecond), bigFileSize/download.Seconds()/1e6, fmtMiB(heap), fmtMiB(total))
	assert.Less(t, heap, uint64(bigFileHeapBound), "the heap grew by %s moving 1 GiB: something holds the bytes", fmtMiB(heap))
	assert.Less(t, total, uint64(bigFileHeapBound), "the runtime took %s more from the OS moving 1 GiB", fmtMiB(total))
	return f.ID, key
}

// abandonedSession opens a session, sends two of its parts and leaves it;
// once it has expired, the sweep removes it with its parts. It returns its
// storage key.
func abandonedSession(t *testing.T, app *fmtest.App, c *fileClient, cfg config.Config) string {
	const seed = "abandoned"
	var s files.Session
	c.postJSON(t, "/api/v1/file/uploads", map[string]any{"file_name": "left.pdf", "file_size": 3 * bigPartSize}, http.StatusCreated, &s)
	for n := 1; n <= 2; n++ {
		c.call(t, http.MethodPut, fmt.Sprintf("/api/v1/file/uploads/%s/parts/%d", s.ID, n),
			newGen(seed, int64(n-1)*bigPartSize, bigPartSize), bigPartSize, nil, http.StatusOK, nil)
	}
	ctx := app.SystemContext(context.Background(), "")
	doc, err := app.Repository.Get(ctx, doctypes.FileUploadDocType, s.ID)
	require.NoError(t, err)
	u := doc.(*doctypes.FileUpload)
	require.NotEmpty(t, u.UploadID)

	// The parts are there …
	switch cfg.Files.StorageBackend {
	case backendLocal:
		assert.Subset(t, readDir(t, filepath.Join(localRoot(cfg), "uploads", u.UploadID)), []string{"1", "2"})
	case backendS3:
		ups := testS3(t).incompleteUploads(t, u.StorageKey)
		require.Len(t, ups, 1, "the session's multipart upload")
		assert.Equal(t, u.UploadID, ups[0].UploadID)
	}

	// … until the session expires and the sweep runs.
	u.ExpiresAt = time.Now().Add(-time.Hour)
	require.NoError(t, app.Repository.Update(ctx, doctypes.FileUploadDocType, u))
	removed, err := app.Files.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, removed, "the abandoned session, and nothing else")
	c.call(t, http.MethodGet, "/api/v1/file/uploads/"+s.ID, nil, 0, nil, http.StatusNotFound, nil)
	_, err = app.Repository.Get(ctx, doctypes.FileUploadDocType, s.ID)
	assert.ErrorIs(t, err, core.ErrNotFound, "its row is gone")
	_, err = app.Files.Storage().(ports.MultipartStorage).ListParts(ctx, u.StorageKey, u.UploadID)
	assert.Error(t, err, "its parts are gone")
	switch cfg.Files.StorageBackend {
	case backendLocal:
		assert.Empty(t, readDir(t, filepath.Join(localRoot(cfg), "uploads")), "no upload folder left")
	case backendS3:
		assert.Empty(t, testS3(t).incompleteUploads(t, u.StorageKey), "no incomplete multipart upload left")
	}
	_, err = app.Files.Storage().Stat(ctx, u.StorageKey)
	assert.ErrorIs(t, err, core.ErrNotFound, "no object either")
	return u.StorageKey
}

// assertNoBytesLeft checks, once everything was deleted through the API,
// that the database holds no File or File Upload row and the storage
// nothing: on the local disk (the app's own) no object, upload or staging
// file at all; on S3 (a bucket other tests may be using at the same time)
// no object and no unfinished upload under the keys the test used.
func assertNoBytesLeft(t *testing.T, app *fmtest.App, cfg config.Config, keys ...string) {
	ctx := app.SystemContext(context.Background(), "")
	for _, dt := range []string{doctypes.FileDocType, doctypes.FileUploadDocType} {
		res, err := app.Repository.List(ctx, dt, ports.Query{Limit: 10})
		require.NoError(t, err)
		assert.Empty(t, res.Items, "%s rows left", dt)
	}
	switch cfg.Files.StorageBackend {
	case backendLocal:
		var objects []string
		require.NoError(t, app.Files.Storage().List(ctx, "files/", func(o ports.ObjectInfo) error {
			objects = append(objects, o.Key)
			return nil
		}))
		assert.Empty(t, objects, "objects left")
		for _, d := range []string{"uploads", "staging"} {
			assert.Empty(t, readDir(t, filepath.Join(localRoot(cfg), d)), "%s left", d)
		}
	case backendS3:
		for _, k := range keys {
			_, err := app.Files.Storage().Stat(ctx, k)
			assert.ErrorIs(t, err, core.ErrNotFound, "object %s left", k)
			assert.Empty(t, testS3(t).incompleteUploads(t, k), "unfinished upload of %s left", k)
		}
	}
}

// storageKey is the storage key of upload session id.
func storageKey(t *testing.T, app *fmtest.App, id string) string {
	t.Helper()
	doc, err := app.Repository.Get(app.SystemContext(context.Background(), ""), doctypes.FileUploadDocType, id)
	require.NoError(t, err)
	return doc.(*doctypes.FileUpload).StorageKey
}

// halfClosedPut sends PUT path announcing declared bytes but sends only
// those of body, then closes its side of the connection (a client that
// stopped mid-way, seen by a server that still answers), and returns the
// answer's status and body.
func halfClosedPut(t *testing.T, c *fileClient, path string, body io.Reader, declared int64) (int, string) {
	t.Helper()
	u, err := url.Parse(c.base)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Minute)))
	w := bufio.NewWriterSize(conn, 256<<10)
	fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s: %s\r\n\r\n", path, u.Host, declared, fmtest.HeaderUser, c.user)
	_, err = io.Copy(w, body)
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the server answers a part cut short")
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		require.NoError(t, err)
	}
	return res.StatusCode, string(b)
}

// localRoot is the local storage's directory of cfg.
func localRoot(cfg config.Config) string {
	if cfg.Files.StoragePath != "" {
		return cfg.Files.StoragePath
	}
	return filepath.Join(cfg.App.DataDir, "files")
}

// readDir lists the names in dir (none when it does not exist).
func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

func sortedKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
