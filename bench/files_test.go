package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framework-m/framework-m/fmtest"
)

// benchFileSize is the file the file benchmarks move.
const benchFileSize = 256 << 20

// BenchmarkFileUpload uploads a 256 MiB file (a PDF to the sniffer) through
// POST /api/v1/file/upload over loopback HTTP, as one multipart request
// sent from a file on disk that holds the whole body (multipartFile: the
// client sends it with sendfile), to the local disk and to S3. It reports the
// API's throughput (MB/s), the throughput of a plain copy of the same file
// on the same disk timed right before each upload (disk-MB/s: read, write,
// fsync, through a 32 KiB buffer as a process copies), their ratio (the
// goal: ≥ 0.8) and the peak growth of the process's heap during the
// upload, client and server together (peak-heap-MiB; the goal: ≤ 64). Each
// upload is checked (size, SHA-256) and deleted through the API.
func BenchmarkFileUpload(b *testing.B) {
	for _, backend := range fileBackends {
		b.Run(backend, func(b *testing.B) {
			fb := newFileBench(b, backend)
			form, size := fb.multipartFile("bench.pdf")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fb.diskCopy()
				body, err := os.Open(form)
				if err != nil {
					b.Fatal(err)
				}
				mem := sampleMemory()
				b.StartTimer()
				t0 := time.Now()
				var f uploadedFile
				fb.c.call(b, http.MethodPost, "/api/v1/file/upload", body, size,
					http.Header{"Content-Type": {"multipart/form-data; boundary=" + benchBoundary}}, http.StatusCreated, &f)
				fb.api += time.Since(t0)
				b.StopTimer()
				fb.heap(mem)
				body.Close()
				if f.Size != benchFileSize || f.SHA256 != fb.sum {
					b.Fatalf("uploaded %d bytes of SHA-256 %s, want %d and %s", f.Size, f.SHA256, benchFileSize, fb.sum)
				}
				fb.c.call(b, http.MethodDelete, "/api/v1/file/"+f.ID, nil, 0, nil, http.StatusOK, nil)
				b.StartTimer()
			}
			fb.report()
		})
	}
}

// BenchmarkFileDownload downloads a 256 MiB file stored on the local disk
// or on S3 through GET /api/v1/file/{id} over loopback HTTP, streamed into
// a file on disk (fsynced, as the plain copy is) by a client that reads the
// answer ahead (core/readahead) while it writes, as a download manager
// does: a client alternating socket reads and disk writes was the slowest
// stage, slower than the server. It reports the API's
// throughput (MB/s), that of a plain copy of the same file on the same disk
// timed right before each download (disk-MB/s), their ratio (the goal:
// ≥ 0.8) and the peak growth of the process's heap during the download,
// client and server together (peak-heap-MiB; the goal: ≤ 64). Each
// download is checked (size, SHA-256).
func BenchmarkFileDownload(b *testing.B) {
	for _, backend := range fileBackends {
		b.Run(backend, func(b *testing.B) {
			fb := newFileBench(b, backend)
			form, size := fb.multipartFile("bench.pdf")
			body, err := os.Open(form)
			if err != nil {
				b.Fatal(err)
			}
			var f uploadedFile
			fb.c.call(b, http.MethodPost, "/api/v1/file/upload", body, size,
				http.Header{"Content-Type": {"multipart/form-data; boundary=" + benchBoundary}}, http.StatusCreated, &f)
			body.Close()
			b.Cleanup(func() { fb.c.call(b, http.MethodDelete, "/api/v1/file/"+f.ID, nil, 0, nil, http.StatusOK, nil) })
			dst := filepath.Join(fb.dir, "downloaded.pdf")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fb.diskCopy()
				out, err := os.Create(dst)
				if err != nil {
					b.Fatal(err)
				}
				mem := sampleMemory()
				b.StartTimer()
				t0 := time.Now()
				n, announced := fb.c.download(b, f.ID, out)
				if err := out.Sync(); err != nil {
					b.Fatal(err)
				}
				fb.api += time.Since(t0)
				b.StopTimer()
				fb.heap(mem)
				out.Close()
				if n != benchFileSize || announced != benchFileSize {
					b.Fatalf("downloaded %d bytes (Content-Length %d), want %d", n, announced, benchFileSize)
				}
				if sum := fileSum(b, dst); sum != fb.sum {
					b.Fatalf("downloaded SHA-256 %s, want %s", sum, fb.sum)
				}
				os.Remove(dst)
				b.StartTimer()
			}
			fb.report()
		})
	}
}

// fileBench is one run of a file benchmark: an app on a backend, the
// 256 MiB source file, and the times measured.
type fileBench struct {
	b        *testing.B
	c        *fileClient
	dir, src string
	sum      string
	api      time.Duration // the API transfers
	disk     time.Duration // the plain copies
	peak     uint64        // the largest heap growth of a transfer
}

func newFileBench(b *testing.B, backend string) *fileBench {
	b.Helper()
	cfg := filesConfig(b, backend)
	cfg.Files.MaxUploadSize = "1GB"
	cfg.App.LogLevel = "warn"
	app := newFilesApp(b, cfg)
	fb := &fileBench{b: b, c: newFileClient(app, fmtest.User("ann", "Writer")), dir: b.TempDir()}
	fb.src = filepath.Join(fb.dir, "source.pdf")
	fb.sum = writeGenFile(b, fb.src, "bench", benchFileSize)
	b.SetBytes(benchFileSize)
	b.ResetTimer()
	return fb
}

// diskCopy copies the source file to another file of the same directory,
// through a 32 KiB buffer, and syncs it: the plain disk copy the API's
// throughput is compared with. The timer is stopped.
func (fb *fileBench) diskCopy() {
	dst := filepath.Join(fb.dir, "copy.pdf")
	t0 := time.Now()
	src, err := os.Open(fb.src)
	if err != nil {
		fb.b.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		fb.b.Fatal(err)
	}
	// Hide ReadFrom/WriteTo: io.Copy would copy_file_range in the kernel,
	// which no server streaming a request body can do.
	n, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{src}, make([]byte, 32<<10))
	if err == nil {
		err = out.Sync()
	}
	if err != nil || n != benchFileSize {
		fb.b.Fatalf("disk copy: %d bytes: %v", n, err)
	}
	out.Close()
	src.Close()
	fb.disk += time.Since(t0)
	os.Remove(dst)
}

// heap stops mem and keeps the largest heap growth.
func (fb *fileBench) heap(mem *memSampler) {
	heap, _ := mem.Stop()
	fb.peak = max(fb.peak, heap)
}

// report adds the custom metrics.
func (fb *fileBench) report() {
	n := float64(fb.b.N)
	fb.b.ReportMetric(float64(benchFileSize)*n/fb.disk.Seconds()/1e6, "disk-MB/s")
	fb.b.ReportMetric(fb.disk.Seconds()/fb.api.Seconds(), "ratio")
	fb.b.ReportMetric(inMiB(fb.peak), "peak-heap-MiB")
}

// benchBoundary is the multipart boundary of the uploads.
const benchBoundary = "framework-m-bench-boundary-7c1e"

// multipartFrame returns what a multipart body holding only the file field
// has before and after the file's bytes, so that a client can send the
// file streamed from disk with a Content-Length, as browsers do.
func multipartFrame(b *testing.B, name string) (head, tail []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(benchBoundary); err != nil {
		b.Fatal(err)
	}
	if _, err := mw.CreateFormFile("file", name); err != nil {
		b.Fatal(err)
	}
	head = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		b.Fatal(err)
	}
	return head, bytes.Clone(buf.Bytes())
}

// multipartFile writes, beside the source file, the whole multipart body
// of its upload as the file field name (the source's bytes framed by the
// part's header and the closing boundary), synced, and returns its path
// and size. Sent from a file, the body leaves the client through sendfile:
// the client, which shares the machine's two cores with the server, then
// costs the server as little CPU as one on another machine would.
func (fb *fileBench) multipartFile(name string) (string, int64) {
	b := fb.b
	head, tail := multipartFrame(b, name)
	path := filepath.Join(fb.dir, "form.multipart")
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	src, err := os.Open(fb.src)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	n, err := io.Copy(out, io.MultiReader(bytes.NewReader(head), src, bytes.NewReader(tail)))
	if err == nil {
		err = out.Sync()
	}
	if err != nil {
		b.Fatal(err)
	}
	return path, n
}

// fileSum is the hex SHA-256 of the file at path.
func fileSum(b *testing.B, path string) string {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
