package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// pngBytes is a 1×1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// pdfOf returns a PDF-looking body of n bytes.
func pdfOf(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	copy(b, "%PDF-1.7\n")
	return b
}

func filesApp(t *testing.T, driver fmtest.Driver, mutate func(*config.Config)) *fmtest.App {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	if mutate != nil {
		mutate(&cfg)
	}
	return fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
}

// storedKeys lists every object of the app's storage.
func storedKeys(t *testing.T, app *fmtest.App) []string {
	t.Helper()
	var keys []string
	require.NoError(t, app.Files.Storage().List(t.Context(), "files/", func(o ports.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}))
	return keys
}

// rows counts the rows of doctype in the default tenant.
func rows(t *testing.T, app *fmtest.App, doctype string) int {
	t.Helper()
	ctx := app.SystemContext(t.Context(), "")
	res, err := app.Repository.List(ctx, doctype, ports.Query{Limit: 1000})
	require.NoError(t, err)
	return len(res.Items)
}

func uploaded(t *testing.T, res *fmtest.Response) map[string]any {
	t.Helper()
	return res.RequireStatus(t, http.StatusCreated).Data(t)
}

// onS3 switches cfg's storage to the S3 server of FM_TEST_S3_ENDPOINT, under
// a prefix of the test's own (skipped without the server).
func onS3(t *testing.T) func(*config.Config) {
	endpoint := fmtest.SkipUnlessServer(t, "FM_TEST_S3_ENDPOINT", "S3")
	var b [6]byte
	_, _ = rand.Read(b[:])
	return func(c *config.Config) {
		c.Files.StorageBackend = "s3"
		c.Files.S3Endpoint = endpoint
		c.Files.S3Bucket = os.Getenv("FM_TEST_S3_BUCKET")
		c.Files.S3Region = os.Getenv("FM_TEST_S3_REGION")
		c.Files.S3AccessKey = os.Getenv("FM_TEST_S3_ACCESS_KEY")
		c.Files.S3SecretKey = os.Getenv("FM_TEST_S3_SECRET_KEY")
		c.Files.S3UsePathStyle = true
		c.Files.S3Prefix = "fmtest-" + hex.EncodeToString(b[:]) + "/"
	}
}

// TestFileRoundTrip: upload → info → download byte-identical → range (206) →
// 304 on the ETag → delete → 404, and the bytes are gone from storage; on
// SQLite and PostgreSQL with local storage, and on S3.
func TestFileRoundTrip(t *testing.T) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) { fileRoundTrip(t, filesApp(t, d, nil)) })
	}
	t.Run("s3", func(t *testing.T) { fileRoundTrip(t, filesApp(t, fmtest.SQLite, onS3(t))) })
}

func fileRoundTrip(t *testing.T, app *fmtest.App) {
	c := app.As(fmtest.User("ann", "Writer"))
	body := pdfOf(300_000)
	sum := sha256.Sum256(body)
	f := uploaded(t, c.Upload("/api/v1/file/upload", "report.pdf", bytes.NewReader(body), nil))
	id := f["id"].(string)
	assert.Equal(t, "report.pdf", f["file_name"])
	assert.EqualValues(t, len(body), f["size"])
	assert.Equal(t, "application/pdf", f["content_type"])
	assert.Equal(t, hex.EncodeToString(sum[:]), f["sha256"])
	assert.Equal(t, true, f["is_private"])
	assert.Equal(t, "/api/v1/file/"+id, f["url"])

	info := c.Get("/api/v1/file/"+id+"/info").RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, f["sha256"], info["sha256"])

	res := c.Get("/api/v1/file/"+id).RequireStatus(t, http.StatusOK)
	assert.True(t, bytes.Equal(body, res.Body), "byte-identical")
	assert.Equal(t, "application/pdf", res.Header.Get("Content-Type"))
	assert.Equal(t, fmt.Sprint(len(body)), res.Header.Get("Content-Length"))
	assert.Equal(t, `attachment; filename=report.pdf`, res.Header.Get("Content-Disposition"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "private", res.Header.Get("Cache-Control"))
	etag := res.Header.Get("ETag")
	assert.Equal(t, `"`+hex.EncodeToString(sum[:])+`"`, etag)
	assert.Equal(t, `inline; filename=report.pdf`, c.Get("/api/v1/file/"+id+"?inline=true").Header.Get("Content-Disposition"))

	part := c.Raw(http.MethodGet, "/api/v1/file/"+id, nil, http.Header{"Range": {"bytes=1000-1999"}})
	require.Equal(t, http.StatusPartialContent, part.Status)
	assert.Equal(t, body[1000:2000], part.Body)
	assert.Equal(t, fmt.Sprintf("bytes 1000-1999/%d", len(body)), part.Header.Get("Content-Range"))
	tail := c.Raw(http.MethodGet, "/api/v1/file/"+id, nil, http.Header{"Range": {"bytes=-10"}})
	require.Equal(t, http.StatusPartialContent, tail.Status)
	assert.Equal(t, body[len(body)-10:], tail.Body)
	bad := c.Raw(http.MethodGet, "/api/v1/file/"+id, nil, http.Header{"Range": {fmt.Sprintf("bytes=%d-", len(body)+5)}})
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, bad.Status)
	multi := c.Raw(http.MethodGet, "/api/v1/file/"+id, nil, http.Header{"Range": {"bytes=0-9,100-109"}})
	require.Equal(t, http.StatusPartialContent, multi.Status)
	assert.Contains(t, multi.Header.Get("Content-Type"), "multipart/byteranges")
	assert.True(t, bytes.Contains(multi.Body, body[100:110]))

	assert.Equal(t, http.StatusNotModified, c.Raw(http.MethodGet, "/api/v1/file/"+id, nil, http.Header{"If-None-Match": {etag}}).Status)
	head := c.Raw(http.MethodHead, "/api/v1/file/"+id, nil, nil)
	assert.Equal(t, http.StatusOK, head.Status)
	assert.Equal(t, fmt.Sprint(len(body)), head.Header.Get("Content-Length"))
	assert.Empty(t, head.Body)

	require.Len(t, storedKeys(t, app), 1)
	del := c.Delete("/api/v1/file/"+id).RequireStatus(t, http.StatusOK).Data(t)
	assert.Equal(t, map[string]any{"id": id, "deleted": true}, del)
	c.Get("/api/v1/file/"+id).RequireStatus(t, http.StatusNotFound)
	c.Get("/api/v1/file/"+id+"/info").RequireStatus(t, http.StatusNotFound)
	assert.Empty(t, storedKeys(t, app), "the bytes are gone too")
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType), "no upload row left")
}

// TestPresignedUpload: on S3 the client PUTs the file to a presigned URL and
// confirms it; the record is made only for an object that exists, has the
// announced size within the limit and an allowed type — refused objects are
// removed.
func TestPresignedUpload(t *testing.T) {
	app := filesApp(t, fmtest.SQLite, func(c *config.Config) {
		onS3(t)(c)
		c.Files.MaxUploadSize = "64KB"
	})
	c := app.As(fmtest.User("ann", "Writer"))
	presign := func(name string, size int) (string, string) {
		s := c.Post("/api/v1/file/presign", map[string]any{"file_name": name, "file_size": size}).RequireStatus(t, http.StatusCreated).Data(t)
		return s["id"].(string), s["upload_url"].(string)
	}
	put := func(url string, body []byte) {
		req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	confirm := func(id string) *fmtest.Response { return c.Post("/api/v1/file/confirm", map[string]any{"id": id}) }

	body := pdfOf(40_000)
	id, url := presign("direct.pdf", len(body))
	put(url, body)
	f := confirm(id).RequireStatus(t, http.StatusCreated).Data(t)
	assert.EqualValues(t, len(body), f["size"])
	assert.Equal(t, "application/pdf", f["content_type"])
	assert.True(t, bytes.Equal(body, c.Get("/api/v1/file/"+f["id"].(string)).RequireStatus(t, http.StatusOK).Body))
	assert.Equal(t, http.StatusNotFound, confirm(id).Status, "confirmed once")

	id, _ = presign("missing.pdf", 100)
	res := confirm(id)
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Contains(t, res.Err(t).Error.Message, "no file was uploaded")

	id, url = presign("big.pdf", 1000)
	put(url, pdfOf(64<<10+1)) // more than announced, and over the limit
	assert.Equal(t, http.StatusRequestEntityTooLarge, confirm(id).Status)
	id, url = presign("short.pdf", 1000)
	put(url, pdfOf(999))
	assert.Equal(t, http.StatusBadRequest, confirm(id).Status)
	id, url = presign("image.pdf", len(pngBytes))
	put(url, pngBytes)
	assert.Equal(t, http.StatusUnsupportedMediaType, confirm(id).Status)
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.Post("/api/v1/file/presign", map[string]any{"file_name": "x.pdf", "file_size": 64<<10 + 1}).Status)

	assert.Len(t, storedKeys(t, app), 1, "only the confirmed file; refused objects are removed")
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType)-1, "the one never uploaded waits for the sweep")

	local := filesApp(t, fmtest.SQLite, nil).As(fmtest.User("ann", "Writer"))
	assert.Equal(t, http.StatusMethodNotAllowed, local.Post("/api/v1/file/presign", map[string]any{"file_name": "x.pdf", "file_size": 10}).Status, "local storage has no presigned URLs")
}

// TestFileUploadRefusals: oversize → 413 and content judged by its bytes →
// 415, and neither leaves an object, a File or an upload row behind.
func TestFileUploadRefusals(t *testing.T) {
	app := filesApp(t, fmtest.SQLite, func(c *config.Config) { c.Files.MaxUploadSize = "64KB" })
	c := app.As(fmtest.User("ann", "Writer"))

	res := c.Upload("/api/v1/file/upload", "big.pdf", bytes.NewReader(pdfOf(64<<10+1)), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.Status, "%s", res.Body)
	assert.Contains(t, res.Err(t).Error.Message, "64KB")
	uploaded(t, c.Upload("/api/v1/file/upload", "exact.pdf", bytes.NewReader(pdfOf(64<<10)), nil)) // the limit itself passes

	res = c.Upload("/api/v1/file/upload", "image.pdf", bytes.NewReader(pngBytes), nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, res.Status, "a PNG named .pdf is judged by its content: %s", res.Body)
	assert.Contains(t, res.Err(t).Error.Message, "image/png")
	res = c.Upload("/api/v1/file/upload", "tool.exe", strings.NewReader("MZ\x90\x00"), nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, res.Status)
	assert.Contains(t, res.Err(t).Error.Message, ".exe")
	res = c.Upload("/api/v1/file/upload", "README", strings.NewReader("hello"), nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, res.Status)

	png := uploaded(t, c.Upload("/api/v1/file/upload", "image.png", bytes.NewReader(pngBytes), nil))
	assert.Equal(t, "image/png", png["content_type"], "the client's Content-Type is never used")

	assert.Len(t, storedKeys(t, app), 2, "only the two accepted files")
	assert.Equal(t, 2, rows(t, app, doctypes.FileDocType))
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType))

	// Not multipart, no file field, unknown fields.
	assert.Equal(t, http.StatusUnsupportedMediaType, c.Post("/api/v1/file/upload", map[string]any{"file": "x"}).Status)
	assert.Equal(t, http.StatusBadRequest, c.Raw(http.MethodPost, "/api/v1/file/upload", strings.NewReader("--x--\r\n"), http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}).Status)
	res = c.Upload("/api/v1/file/upload", "a.txt", strings.NewReader("hi"), map[string]string{"owner": "bob"})
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Equal(t, http.StatusUnauthorized, app.Anonymous().Upload("/api/v1/file/upload", "a.txt", strings.NewReader("hi"), nil).Status)
}

// TestActiveContentIsNeverInline: an HTML file (allowed by config) is served
// as an attachment even when asked inline, sandboxed by CSP.
func TestActiveContentIsNeverInline(t *testing.T) {
	app := filesApp(t, fmtest.SQLite, func(c *config.Config) {
		c.Files.AllowedExtensions = append(c.Files.AllowedExtensions, "html", "svg")
	})
	c := app.As(fmtest.User("ann", "Writer"))
	for _, up := range []struct{ name, body string }{
		{"page.html", "<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"},
		{"icon.svg", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`},
	} {
		f := uploaded(t, c.Upload("/api/v1/file/upload", up.name, strings.NewReader(up.body), nil))
		res := c.Get("/api/v1/file/"+f["id"].(string)+"?inline=true").RequireStatus(t, http.StatusOK)
		assert.True(t, strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;"), up.name)
		assert.Contains(t, res.Header.Get("Content-Security-Policy"), "sandbox", up.name)
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	}
	// HTML named .txt is refused: its content is not text the extension allows.
	res := c.Upload("/api/v1/file/upload", "notes.txt", strings.NewReader("<html><script>alert(1)</script></html>"), nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, res.Status)
}

// TestFileNamesAreHarmless: names with traversal, separators, control
// characters and quotes are stored as a safe last element, and the key is
// the server's.
func TestFileNamesAreHarmless(t *testing.T) {
	app := filesApp(t, fmtest.SQLite, nil)
	c := app.As(fmtest.User("ann", "Writer"))
	for name, want := range map[string]string{
		"../../../etc/passwd.txt":         "passwd.txt",
		`..\..\windows\system32\evil.txt`: "evil.txt",
		"/abs/path.txt":                   "path.txt",
		// Go's multipart writer sends CR LF as %0D%0A; SafeName's own tests
		// cover control characters.
		"quote\"d\r\nX-Evil: 1.txt": "quoted%0D%0AX-Evil: 1.txt",
		"..txt":                     "txt",
	} {
		res := c.Upload("/api/v1/file/upload", name, strings.NewReader("hello"), nil)
		if want == "txt" {
			assert.Equal(t, http.StatusUnsupportedMediaType, res.Status, "%q has no extension left", name)
			continue
		}
		f := uploaded(t, res)
		assert.Equal(t, want, f["file_name"], name)
		dl := c.Get("/api/v1/file/"+f["id"].(string)).RequireStatus(t, http.StatusOK)
		assert.Equal(t, "hello", string(dl.Body))
		assert.NotContains(t, dl.Header.Get("Content-Disposition"), "\n")
	}
	for _, k := range storedKeys(t, app) {
		assert.NoError(t, files.CheckKey(k))
		assert.True(t, strings.HasPrefix(k, files.KeyPrefix("default")), k)
		assert.NotContains(t, k, "..")
	}
}

// TestFileAccess: a private file is its owner's (others: 404); a public one
// is every user's of the tenant; another tenant's id is 404; files attached
// to a document follow it (read, attach needs write, deleting the document
// deletes them).
func TestFileAccess(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	fmtest.MultiTenant(&cfg)
	app := fmtest.NewWithConfig(t, cfg, frameworkm.WithDocType[Note](noteMeta))
	ann := app.As(fmtest.TenantUser("acme", "ann", "Writer"))
	bob := app.As(fmtest.TenantUser("acme", "bob", "Reader"))
	eve := app.As(fmtest.TenantUser("globex", "eve", "Writer"))

	private := uploaded(t, ann.Upload("/api/v1/file/upload", "p.txt", strings.NewReader("private"), nil))["id"].(string)
	public := uploaded(t, ann.Upload("/api/v1/file/upload", "q.txt", strings.NewReader("public"), map[string]string{"is_private": "false"}))["id"].(string)
	bob.Get("/api/v1/file/"+private).RequireStatus(t, http.StatusNotFound)
	bob.Get("/api/v1/file/"+private+"/info").RequireStatus(t, http.StatusNotFound)
	assert.Equal(t, "public", string(bob.Get("/api/v1/file/"+public).RequireStatus(t, http.StatusOK).Body))
	bob.Delete("/api/v1/file/"+public).RequireStatus(t, http.StatusForbidden)
	for _, id := range []string{private, public} {
		eve.Get("/api/v1/file/"+id).RequireStatus(t, http.StatusNotFound)
		eve.Delete("/api/v1/file/"+id).RequireStatus(t, http.StatusNotFound)
	}
	// Through the resource API: read-only, owners see their own.
	_, total := ann.Get("/api/v1/resource/File").List(t)
	assert.Equal(t, 2, total)
	_, total = bob.Get("/api/v1/resource/File").List(t)
	assert.Zero(t, total)
	assert.NotContains(t, string(ann.Get("/api/v1/resource/File/"+private).Body), "storage_key")
	assert.Equal(t, http.StatusMethodNotAllowed, ann.Post("/api/v1/resource/File", map[string]any{"file_name": "x.txt"}).Status)
	assert.Equal(t, http.StatusMethodNotAllowed, ann.Patch("/api/v1/resource/File/"+private, map[string]any{"file_size": 1}).Status)

	// Attachments.
	note := ann.Post("/api/v1/resource/Note", map[string]any{"title": "n"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	attach := map[string]string{"attached_to_doctype": "Note", "attached_to_name": note}
	att := uploaded(t, ann.Upload("/api/v1/file/upload", "a.txt", strings.NewReader("attached"), attach))
	assert.Equal(t, "Note", att["attached_to_doctype"])
	bob.Upload("/api/v1/file/upload", "b.txt", strings.NewReader("x"), attach).RequireStatus(t, http.StatusNotFound) // cannot read the note
	eve.Upload("/api/v1/file/upload", "b.txt", strings.NewReader("x"), attach).RequireStatus(t, http.StatusNotFound)
	reader := app.As(fmtest.TenantUser("acme", "rita", "Writer"))
	assert.Equal(t, "attached", string(reader.Get("/api/v1/file/"+att["id"].(string)).RequireStatus(t, http.StatusOK).Body), "readers of the note read its private files")
	list := ann.Get("/api/v1/resource/Note/"+note+"/files").RequireStatus(t, http.StatusOK)
	var got struct {
		Data []map[string]any `json:"data"`
	}
	list.JSON(t, &got)
	require.Len(t, got.Data, 1)
	assert.Equal(t, att["id"], got.Data[0]["id"])
	bob.Get("/api/v1/resource/Note/"+note+"/files").RequireStatus(t, http.StatusNotFound)

	keysBefore := len(storedKeys(t, app))
	ann.Delete("/api/v1/resource/Note/"+note).RequireStatus(t, http.StatusOK)
	ann.Get("/api/v1/file/"+att["id"].(string)).RequireStatus(t, http.StatusNotFound)
	assert.Len(t, storedKeys(t, app), keysBefore-1, "deleting the note deleted its file's bytes")
}

// TestUploadSession: a file sent in parts, out of order, one part sent twice
// after a cut-short attempt, resumes from the parts listed and completes
// byte-identical; a wrong hash or a missing part is refused; aborting removes
// the parts.
func TestUploadSession(t *testing.T) {
	limits := func(c *config.Config) {
		c.Files.PartSize = "5MB"
		c.Files.MaxUploadSize = "20MB"
	}
	t.Run("local", func(t *testing.T) { uploadSession(t, filesApp(t, fmtest.SQLite, limits)) })
	t.Run("s3", func(t *testing.T) {
		s3 := onS3(t)
		uploadSession(t, filesApp(t, fmtest.SQLite, func(c *config.Config) { s3(c); limits(c) }))
	})
}

func uploadSession(t *testing.T, app *fmtest.App) {
	c := app.As(fmtest.User("ann", "Writer"))
	body := pdfOf(12<<20 + 12345)
	sum := sha256.Sum256(body)
	s := c.Post("/api/v1/file/uploads", map[string]any{"file_name": "big.pdf", "file_size": len(body), "sha256": hex.EncodeToString(sum[:])}).RequireStatus(t, http.StatusCreated).Data(t)
	id := s["id"].(string)
	assert.EqualValues(t, 3, s["parts"])
	assert.EqualValues(t, 5<<20, s["part_size"])
	partOf := func(n int) []byte { return body[(n-1)*5<<20 : min(n*5<<20, len(body))] }
	put := func(n int, b []byte) *fmtest.Response {
		return c.Raw(http.MethodPut, fmt.Sprintf("/api/v1/file/uploads/%s/parts/%d", id, n), bytes.NewReader(b), nil)
	}
	put(3, partOf(3)).RequireStatus(t, http.StatusOK)
	// Part 1 cut short (a dropped connection), then the wrong size, then whole.
	assert.Equal(t, http.StatusBadRequest, put(1, partOf(1)[:1000]).Status)
	assert.Equal(t, http.StatusRequestEntityTooLarge, put(1, append(bytes.Clone(partOf(1)), 'x')).Status)
	put(1, partOf(1)).RequireStatus(t, http.StatusOK)
	assert.Equal(t, http.StatusBadRequest, put(4, []byte("x")).Status, "no part 4")
	assert.Equal(t, http.StatusBadRequest, c.Post("/api/v1/file/uploads/"+id+"/complete", nil).Status, "part 2 missing")

	info := c.Get("/api/v1/file/uploads/"+id).RequireStatus(t, http.StatusOK).Data(t)
	var have []float64
	for _, p := range info["received"].([]any) {
		have = append(have, p.(map[string]any)["number"].(float64))
	}
	assert.ElementsMatch(t, []float64{1, 3}, have, "resume: what arrived")
	put(2, bytes.Repeat([]byte{'z'}, 5<<20)).RequireStatus(t, http.StatusOK)
	put(2, partOf(2)).RequireStatus(t, http.StatusOK) // sent again: replaces
	app.As(fmtest.User("bob", "Writer")).Get("/api/v1/file/uploads/"+id).RequireStatus(t, http.StatusNotFound)

	f := c.Post("/api/v1/file/uploads/"+id+"/complete", nil).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, hex.EncodeToString(sum[:]), f["sha256"])
	dl := c.Get("/api/v1/file/"+f["id"].(string)).RequireStatus(t, http.StatusOK)
	assert.True(t, bytes.Equal(body, dl.Body), "byte-identical")
	c.Get("/api/v1/file/uploads/"+id).RequireStatus(t, http.StatusNotFound)
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType))

	// A wrong hash: refused, nothing kept.
	s = c.Post("/api/v1/file/uploads", map[string]any{"file_name": "x.pdf", "file_size": 100, "sha256": strings.Repeat("0", 64)}).RequireStatus(t, http.StatusCreated).Data(t)
	id = s["id"].(string)
	put(1, pdfOf(100)).RequireStatus(t, http.StatusOK)
	res := c.Post("/api/v1/file/uploads/"+id+"/complete", nil)
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Contains(t, res.Err(t).Error.Message, "SHA-256")
	assert.Len(t, storedKeys(t, app), 1, "only the completed file")

	// Abort.
	s = c.Post("/api/v1/file/uploads", map[string]any{"file_name": "y.pdf", "file_size": 100}).RequireStatus(t, http.StatusCreated).Data(t)
	id = s["id"].(string)
	put(1, pdfOf(100)).RequireStatus(t, http.StatusOK)
	c.Delete("/api/v1/file/uploads/"+id).RequireStatus(t, http.StatusOK)
	put(1, pdfOf(100)).RequireStatus(t, http.StatusNotFound)
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType))

	// Bounds.
	assert.Equal(t, http.StatusRequestEntityTooLarge, c.Post("/api/v1/file/uploads", map[string]any{"file_name": "z.pdf", "file_size": 21 << 20}).Status)
	assert.Equal(t, http.StatusUnsupportedMediaType, c.Post("/api/v1/file/uploads", map[string]any{"file_name": "z.exe", "file_size": 10}).Status)
	assert.Equal(t, http.StatusBadRequest, c.Post("/api/v1/file/uploads", map[string]any{"file_name": "z.pdf", "file_size": 0}).Status)
}

// TestSweepRemovesAbandonedUploads: an upload whose bytes were stored but
// never recorded (a crash between the two), and a session left open, are
// removed with their bytes once expired.
func TestSweepRemovesAbandonedUploads(t *testing.T) {
	app := filesApp(t, fmtest.SQLite, func(c *config.Config) { c.Files.PartSize = "5MB" })
	c := app.As(fmtest.User("ann", "Writer"))
	ctx := app.SystemContext(context.Background(), "")
	// The crash: a row announcing bytes, the bytes, no File.
	key := files.NewKey("default", "lost.pdf", time.Now())
	_, err := app.Files.Storage().Put(ctx, key, bytes.NewReader(pdfOf(100)), 100, ports.PutOptions{})
	require.NoError(t, err)
	require.NoError(t, app.Repository.Create(ctx, doctypes.FileUploadDocType, &doctypes.FileUpload{Status: doctypes.UploadPending, StorageKey: key, ExpiresAt: time.Now().Add(-time.Hour)}))
	// A session left open with a part, past its expiry.
	s := c.Post("/api/v1/file/uploads", map[string]any{"file_name": "left.pdf", "file_size": 100}).RequireStatus(t, http.StatusCreated).Data(t)
	c.Raw(http.MethodPut, "/api/v1/file/uploads/"+s["id"].(string)+"/parts/1", bytes.NewReader(pdfOf(100)), nil).RequireStatus(t, http.StatusOK)
	doc, err := app.Repository.Get(ctx, doctypes.FileUploadDocType, s["id"].(string))
	require.NoError(t, err)
	open := doc.(*doctypes.FileUpload)
	open.ExpiresAt = time.Now().Add(-time.Hour)
	require.NoError(t, app.Repository.Update(ctx, doctypes.FileUploadDocType, open))
	// And a file uploaded properly, which stays.
	kept := uploaded(t, c.Upload("/api/v1/file/upload", "kept.txt", strings.NewReader("kept"), nil))

	n, err := app.Files.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType))
	keys := storedKeys(t, app)
	assert.Len(t, keys, 1)
	mp := app.Files.Storage().(ports.MultipartStorage)
	_, err = mp.ListParts(ctx, open.StorageKey, open.UploadID)
	assert.Error(t, err, "the session's parts are gone")
	assert.Equal(t, "kept", string(c.Get("/api/v1/file/"+kept["id"].(string)).RequireStatus(t, http.StatusOK).Body))
}

// TestFileRoutesNeedCSRFWithCookies: a page on another site can post a
// multipart form with the user's session cookie; without the CSRF token the
// upload, delete and session routes refuse it and store nothing.
func TestFileRoutesNeedCSRFWithCookies(t *testing.T) {
	app := authApp(t, fmtest.SQLite, nil)
	app.CreateUser(t, annEmail, annPass, "Writer")
	b := app.Browser()
	b.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	res := b.Upload("/api/v1/file/upload", "a.txt", strings.NewReader("forged"), nil)
	assert.Equal(t, http.StatusForbidden, res.Status)
	assert.Contains(t, res.Err(t).Error.Message, "CSRF")
	assert.Equal(t, http.StatusForbidden, b.Post("/api/v1/file/uploads", map[string]any{"file_name": "a.pdf", "file_size": 10}).Status)
	assert.Empty(t, storedKeys(t, app))
	assert.Zero(t, rows(t, app, doctypes.FileUploadDocType))

	id := uploaded(t, b.UseCSRF().Upload("/api/v1/file/upload", "a.txt", strings.NewReader("mine"), nil))["id"].(string)
	forged := app.Browser() // the same user's cookies, no token
	forged.Post("/api/v1/auth/login?session=true", loginBody(annEmail, annPass)).RequireStatus(t, http.StatusOK)
	assert.Equal(t, http.StatusForbidden, forged.Delete("/api/v1/file/"+id).Status)
	assert.Equal(t, "mine", string(forged.Get("/api/v1/file/"+id).RequireStatus(t, http.StatusOK).Body), "reading needs no token")
}

// TestS3DirectTransfers: with presigned parts the client sends a session's
// parts straight to S3 and completes through the API; with
// s3_presigned_downloads a public file's download redirects to a presigned
// URL serving the bytes with the app's Content-Disposition, while a private
// file still streams through the app.
func TestS3DirectTransfers(t *testing.T) {
	app := filesApp(t, fmtest.SQLite, func(c *config.Config) {
		onS3(t)(c)
		c.Files.PartSize = "5MB"
		c.Files.MaxUploadSize = "20MB"
		c.Files.S3PresignedDownloads = true
	})
	c := app.As(fmtest.User("ann", "Writer"))
	body := pdfOf(5<<20 + 777)
	s := c.Post("/api/v1/file/uploads", map[string]any{"file_name": "direct.pdf", "file_size": len(body), "presign_parts": true, "is_private": false}).RequireStatus(t, http.StatusCreated).Data(t)
	urls := s["part_urls"].([]any)
	require.Len(t, urls, 2)
	for i, u := range urls {
		req, err := http.NewRequest(http.MethodPut, u.(string), bytes.NewReader(body[i*5<<20:min((i+1)*5<<20, len(body))]))
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "part %d", i+1)
	}
	f := c.Post("/api/v1/file/uploads/"+s["id"].(string)+"/complete", nil).RequireStatus(t, http.StatusCreated).Data(t)
	assert.Equal(t, false, f["is_private"])

	noRedirect := *c.HTTP
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.HTTP = &noRedirect
	res := c.Get("/api/v1/file/" + f["id"].(string))
	require.Equal(t, http.StatusFound, res.Status)
	got, err := http.Get(res.Header.Get("Location"))
	require.NoError(t, err)
	defer got.Body.Close()
	b, err := io.ReadAll(got.Body)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(body, b), "the presigned URL serves the bytes")
	assert.Equal(t, "attachment; filename=direct.pdf", got.Header.Get("Content-Disposition"))

	private := uploaded(t, c.Upload("/api/v1/file/upload", "p.txt", strings.NewReader("private"), nil))
	assert.Equal(t, "private", string(c.Get("/api/v1/file/"+private["id"].(string)).RequireStatus(t, http.StatusOK).Body), "private files stream through the app")
}
