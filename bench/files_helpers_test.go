package bench

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/framework-m/framework-m/adapters/storage/s3"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/readahead"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const mib = 1 << 20

// pdfHeader starts every generated file: random bytes alone sniff as
// application/octet-stream, which no allowed extension agrees with; behind
// this header they are a PDF to the sniffer.
const pdfHeader = "%PDF-1.7\n"

// The storage backends the file tests and benchmarks run on.
const (
	backendLocal = "local"
	backendS3    = "s3"
)

var fileBackends = []string{backendLocal, backendS3}

// genReader reads n pseudo-random bytes of the file seed from offset off
// (a multiple of 16): AES-CTR keyed by the seed, so any offset of the file
// can be produced again without the bytes before it, in constant memory and
// at several GB/s. The file starts with pdfHeader.
type genReader struct {
	ctr      cipher.Stream
	off, end int64
}

func newGen(seed string, off, n int64) *genReader {
	if off%aes.BlockSize != 0 {
		panic("genReader: offset not a multiple of 16")
	}
	key := sha256.Sum256([]byte("framework-m bench file " + seed))
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		panic(err)
	}
	iv := make([]byte, aes.BlockSize)
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	return &genReader{ctr: cipher.NewCTR(block, iv), off: off, end: off + n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.end-g.off)]
	clear(p)
	g.ctr.XORKeyStream(p, p)
	if g.off < int64(len(pdfHeader)) {
		copy(p, pdfHeader[g.off:])
	}
	g.off += int64(len(p))
	return len(p), nil
}

// genSum is the hex SHA-256 and size of the file seed of size bytes,
// computed while generating it.
func genSum(seed string, size int64) string {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, newGen(seed, 0, size), make([]byte, 1*mib)); err != nil {
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeGenFile writes the file seed of size bytes to path (synced) and
// returns its hex SHA-256.
func writeGenFile(tb testing.TB, path, seed string, size int64) string {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), newGen(seed, 0, size), make([]byte, 1*mib)); err != nil {
		tb.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// s3Server is the S3 server of FM_TEST_S3_*.
type s3Server struct {
	endpoint, accessKey, secretKey, bucket, region string
}

// testS3 returns the S3 server of FM_TEST_S3_*, or skips tb (fails it
// under FM_REQUIRE_SERVERS).
func testS3(tb testing.TB) s3Server {
	tb.Helper()
	s := s3Server{
		endpoint:  fmtest.SkipUnlessServer(tb, "FM_TEST_S3_ENDPOINT", "S3"),
		accessKey: os.Getenv("FM_TEST_S3_ACCESS_KEY"),
		secretKey: os.Getenv("FM_TEST_S3_SECRET_KEY"),
		bucket:    os.Getenv("FM_TEST_S3_BUCKET"),
		region:    os.Getenv("FM_TEST_S3_REGION"),
	}
	if s.bucket == "" {
		s.bucket = "fm-test"
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	return s
}

// client is a minio-go client of the server, to look at what the app left
// there (incomplete multipart uploads) without going through the app.
func (s s3Server) client(tb testing.TB) *minio.Client {
	tb.Helper()
	u, err := url.Parse(s.endpoint)
	if err != nil || u.Host == "" {
		tb.Fatalf("FM_TEST_S3_ENDPOINT %q is not a URL such as http://127.0.0.1:9000", s.endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.accessKey, s.secretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       s.region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// incompleteUploads lists the server's unfinished multipart uploads of the
// bucket under prefix.
func (s s3Server) incompleteUploads(tb testing.TB, prefix string) []minio.ObjectMultipartInfo {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []minio.ObjectMultipartInfo
	for u := range s.client(tb).ListIncompleteUploads(ctx, s.bucket, prefix, true) {
		if u.Err != nil {
			tb.Fatalf("list incomplete uploads under %s: %v", prefix, u.Err)
		}
		out = append(out, u)
	}
	return out
}

// filesConfig is a test app's configuration on SQLite with its files on
// backend: the local disk (under the app's DATA_DIR) or the S3 server of
// FM_TEST_S3_* (skipping tb when it is not set).
func filesConfig(tb testing.TB, backend string) config.Config {
	tb.Helper()
	cfg := fmtest.Config(tb, fmtest.SQLite)
	cfg.Files.StorageBackend = backend
	if backend == backendS3 {
		s := testS3(tb)
		cfg.Files.S3Endpoint = s.endpoint
		cfg.Files.S3AccessKey = s.accessKey
		cfg.Files.S3SecretKey = s.secretKey
		cfg.Files.S3Bucket = s.bucket
		cfg.Files.S3Region = s.region
		cfg.Files.S3UsePathStyle = true
	}
	return cfg
}

// newFilesApp starts the app of cfg and, on S3, makes sure the bucket
// exists and removes, when tb ends, whatever the app's records say it
// stored or began to store there (the safety net behind the deletions the
// tests make through the API).
func newFilesApp(tb testing.TB, cfg config.Config) *fmtest.App {
	tb.Helper()
	app := fmtest.NewWithConfig(tb, cfg)
	if st, ok := app.Files.Storage().(*s3.Storage); ok {
		if err := st.EnsureBucket(context.Background()); err != nil {
			tb.Fatalf("S3 bucket: %v", err)
		}
		// Registered after NewWithConfig's: runs before the app shuts down.
		tb.Cleanup(func() { purgeAppStorage(tb, app) })
	}
	return app
}

// purgeAppStorage removes the bytes of every File and File Upload row of
// the app's default tenant, and aborts their multipart uploads.
func purgeAppStorage(tb testing.TB, app *fmtest.App) {
	ctx, cancel := context.WithTimeout(app.SystemContext(context.Background(), ""), time.Minute)
	defer cancel()
	store := app.Files.Storage()
	for _, dt := range []string{doctypes.FileDocType, doctypes.FileUploadDocType} {
		res, err := app.Repository.List(ctx, dt, ports.Query{Limit: 1000, SkipCount: true})
		if err != nil {
			tb.Errorf("cleanup: list %s: %v", dt, err)
			continue
		}
		for _, it := range res.Items {
			var key, uploadID string
			switch d := it.(type) {
			case *doctypes.File:
				key = d.StorageKey
			case *doctypes.FileUpload:
				key, uploadID = d.StorageKey, d.UploadID
			}
			if mp, ok := store.(ports.MultipartStorage); ok && uploadID != "" {
				_ = mp.AbortUpload(ctx, key, uploadID)
			}
			if key != "" {
				if err := store.Delete(ctx, key); err != nil {
					tb.Errorf("cleanup: delete %s: %v", key, err)
				}
			}
		}
	}
}

// fileClient sends requests to a test app as one user, streaming bodies
// both ways (fmtest's client reads whole responses into memory).
type fileClient struct {
	base string
	user string
	http *http.Client
}

func newFileClient(app *fmtest.App, u *ports.UserContext) *fileClient {
	b, _ := json.Marshal(u)
	return &fileClient{base: app.URL, user: string(b), http: app.Server.Client()}
}

// do sends method path with body of size bytes (-1: unknown, streamed in
// chunks) and returns the response, whose body the caller closes.
func (c *fileClient) do(ctx context.Context, method, path string, body io.Reader, size int64, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set(fmtest.HeaderUser, c.user)
	return c.http.Do(req)
}

// call sends a request, wants status want and decodes the "data" of the
// answer into out (when not nil).
func (c *fileClient) call(tb testing.TB, method, path string, body io.Reader, size int64, h http.Header, want int, out any) {
	tb.Helper()
	res, err := c.do(context.Background(), method, path, body, size, h)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1*mib))
	if err != nil {
		tb.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	if res.StatusCode != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil || len(env.Data) == 0 {
			tb.Fatalf("%s %s: no data in %s (%v)", method, path, b, err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, env.Data, err)
		}
	}
}

// postJSON sends v as JSON.
func (c *fileClient) postJSON(tb testing.TB, path string, v any, want int, out any) {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	c.call(tb, http.MethodPost, path, bytes.NewReader(b), int64(len(b)), http.Header{"Content-Type": {"application/json"}}, want, out)
}

// uploadedFile is the answer to an upload (web.FileInfo).
type uploadedFile struct {
	ID          string `json:"id"`
	FileName    string `json:"file_name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
}

// download streams GET /api/v1/file/{id} into w and returns the bytes
// copied and the Content-Length announced.
func (c *fileClient) download(tb testing.TB, id string, w io.Writer) (n, announced int64) {
	tb.Helper()
	res, err := c.do(context.Background(), http.MethodGet, "/api/v1/file/"+id, nil, 0, nil)
	if err != nil {
		tb.Fatalf("download %s: %v", id, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		tb.Fatalf("download %s: status %d: %s", id, res.StatusCode, b)
	}
	ra := readahead.New(res.Body, 4)
	defer ra.Close()
	n, err = io.Copy(w, ra)
	if err != nil {
		tb.Fatalf("download %s: after %d bytes: %v", id, n, err)
	}
	return n, res.ContentLength
}

// memSampler samples the process's heap every 20 ms and keeps the peak of
// the bytes in heap objects (live and not yet swept) and of all the memory
// the runtime holds from the OS (what MemStats.Sys counts).
type memSampler struct {
	stop      chan struct{}
	once      sync.Once
	done      sync.WaitGroup
	baseHeap  uint64
	baseTotal uint64
	peakHeap  uint64
	peakTotal uint64
}

var memMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/total:bytes"}

func readMem() (heap, total uint64) {
	s := []metrics.Sample{{Name: memMetrics[0]}, {Name: memMetrics[1]}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// sampleMemory collects garbage, takes the baseline and starts sampling.
func sampleMemory() *memSampler {
	runtime.GC()
	m := &memSampler{stop: make(chan struct{})}
	m.baseHeap, m.baseTotal = readMem()
	m.peakHeap, m.peakTotal = m.baseHeap, m.baseTotal
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			heap, total := readMem()
			m.peakHeap, m.peakTotal = max(m.peakHeap, heap), max(m.peakTotal, total)
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// Stop ends the sampling (calling it again is harmless) and returns the
// peak growth over the baseline of the heap's objects and of the runtime's
// memory, in bytes.
func (m *memSampler) Stop() (heap, total uint64) {
	m.once.Do(func() { close(m.stop) })
	m.done.Wait()
	return m.peakHeap - m.baseHeap, m.peakTotal - m.baseTotal
}

// errDropped is what an interrupted client body fails with.
var errDropped = errors.New("connection dropped by the test")

// failingReader passes n bytes of r, then fails.
type failingReader struct {
	r    io.Reader
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errDropped
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

func inMiB(n uint64) float64 { return float64(n) / mib }

func fmtMiB(n uint64) string { return fmt.Sprintf("%.1f MiB", inMiB(n)) }
