package gotenberg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/print/gotenberg"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/printtest"
	"github.com/framework-m/framework-m/ports"
)

// ---- helpers ---------------------------------------------------------------

// realConverter returns a converter on the Gotenberg of FM_TEST_GOTENBERG_URL,
// or skips. The poppler tools the assertions need are installed with it.
func realConverter(t *testing.T, edit func(*gotenberg.Config)) *gotenberg.Converter {
	t.Helper()
	u := fmtest.SkipUnlessServer(t, "FM_TEST_GOTENBERG_URL", "Gotenberg")
	for _, tool := range []string{"pdftotext", "pdfinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (poppler-utils; .ci/gotenberg/start installs it): %v", tool, err)
		}
	}
	cfg := gotenberg.Config{URL: u, Timeout: time.Minute}
	if edit != nil {
		edit(&cfg)
	}
	c, err := gotenberg.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// convert converts page and returns the path of the PDF, checked to start
// with %PDF.
func convert(t *testing.T, c *gotenberg.Converter, page ports.Rendered, opts ports.PDFOptions) string {
	t.Helper()
	body, err := c.HTMLToPDF(context.Background(), page, opts)
	require.NoError(t, err)
	b, err := io.ReadAll(body)
	require.NoError(t, err)
	require.NoError(t, body.Close())
	require.True(t, strings.HasPrefix(string(b), "%PDF-"), "not a PDF: %.40q", b)
	path := filepath.Join(t.TempDir(), "out.pdf")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// pdfInfo is what pdfinfo says of a PDF.
type pdfInfo struct {
	Pages         int
	Width, Height float64 // of the first page, in points
	Title         string
}

var pageSizeLine = regexp.MustCompile(`(?m)^Page size:\s+([0-9.]+) x ([0-9.]+) pts`)

func info(t *testing.T, path string) pdfInfo {
	t.Helper()
	out, err := exec.Command("pdfinfo", path).CombinedOutput()
	require.NoError(t, err, "pdfinfo: %s", out)
	var pi pdfInfo
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Pages":
			pi.Pages, _ = strconv.Atoi(v)
		case "Title":
			pi.Title = v
		}
	}
	m := pageSizeLine.FindStringSubmatch(string(out))
	require.NotNil(t, m, "no page size in pdfinfo's output:\n%s", out)
	pi.Width, _ = strconv.ParseFloat(m[1], 64)
	pi.Height, _ = strconv.ParseFloat(m[2], 64)
	return pi
}

// text returns the text of page n (1-based) of a PDF, or of every page
// when n is 0.
func text(t *testing.T, path string, n int) string {
	t.Helper()
	args := []string{"-layout"}
	if n > 0 {
		args = append(args, "-f", strconv.Itoa(n), "-l", strconv.Itoa(n))
	}
	out, err := exec.Command("pdftotext", append(args, path, "-")...).CombinedOutput()
	require.NoError(t, err, "pdftotext: %s", out)
	return string(out)
}

func doc(body string) []byte {
	return []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test page</title></head><body>` + body + `</body></html>`)
}

// closedURL returns the URL of a local port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

// fake serves handler and returns a converter on it.
func fake(t *testing.T, handler http.HandlerFunc, edit func(*gotenberg.Config)) (*gotenberg.Converter, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	cfg := gotenberg.Config{URL: srv.URL, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := gotenberg.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, srv
}

// hang reads the request and waits until the client goes away (the server
// notices only once the request's body is read).
func hang(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

const fakePDF = "%PDF-1.4\nfake\n%%EOF\n"

func servePDF(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/pdf")
	_, _ = io.WriteString(w, fakePDF)
}

var page = ports.Rendered{HTML: doc("<p>hello</p>")}

// ---- the real service ------------------------------------------------------

func TestRealContract(t *testing.T) {
	printtest.RunPDF(t, func(t *testing.T) ports.PDFConverter { return realConverter(t, nil) })
}

func TestRealA4PortraitByDefault(t *testing.T) {
	c := realConverter(t, nil)
	path := convert(t, c, ports.Rendered{
		HTML: doc(`<h1>Invoice INV-2026-00042</h1><p>Grand total: 1,234.50 EUR</p><p>Ünïcødé façade</p>`),
	}, ports.PDFOptions{Title: "Invoice INV-2026-00042"})

	pi := info(t, path)
	assert.InDelta(t, 595, pi.Width, 2, "A4 width in points")
	assert.InDelta(t, 842, pi.Height, 2, "A4 height in points")
	assert.Equal(t, 1, pi.Pages)
	assert.Equal(t, "Invoice INV-2026-00042", pi.Title, "PDFOptions.Title is the PDF's title")

	txt := text(t, path, 0)
	assert.Contains(t, txt, "Invoice INV-2026-00042")
	assert.Contains(t, txt, "Grand total: 1,234.50 EUR")
	assert.Contains(t, txt, "Ünïcødé façade")
}

func TestRealPageSizes(t *testing.T) {
	cases := []struct {
		name          string
		cfgSize       string
		opts          ports.PDFOptions
		width, height float64
	}{
		{"letter landscape", "", ports.PDFOptions{PageSize: ports.PageLetter, Landscape: true}, 792, 612},
		{"legal", "", ports.PDFOptions{PageSize: ports.PageLegal}, 612, 1008},
		{"a5 landscape", "", ports.PDFOptions{PageSize: ports.PageA5, Landscape: true}, 595, 420},
		{"config default letter", ports.PageLetter, ports.PDFOptions{}, 612, 792},
		{"options win over config", ports.PageLetter, ports.PDFOptions{PageSize: ports.PageA3}, 842, 1191},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := realConverter(t, func(cfg *gotenberg.Config) { cfg.DefaultPageSize = tc.cfgSize })
			opts := tc.opts
			opts.MarginLeft, opts.MarginRight = "0.5in", "36pt"
			path := convert(t, c, ports.Rendered{HTML: doc("<p>Sized page</p>")}, opts)
			pi := info(t, path)
			assert.InDelta(t, tc.width, pi.Width, 2)
			assert.InDelta(t, tc.height, pi.Height, 2)
			assert.Contains(t, text(t, path, 0), "Sized page")
		})
	}
}

func TestRealHeaderAndFooterOnEveryPage(t *testing.T) {
	c := realConverter(t, nil)
	var body strings.Builder
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&body, `<div style="page-break-after: always"><p>Body of section %d</p></div>`, i)
	}
	bodyEnd := `<p>Last words</p>`
	hf := func(word string) []byte {
		return []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>` +
			`<div style="font-size:10px; width:100%; text-align:center">` + word +
			` page <span class="pageNumber"></span> of <span class="totalPages"></span></div></body></html>`)
	}
	path := convert(t, c, ports.Rendered{
		HTML:   doc(body.String() + bodyEnd),
		Header: hf("Headerword"),
		Footer: hf("Footerword"),
	}, ports.PDFOptions{MarginTop: "25mm", MarginBottom: "25mm"})

	pi := info(t, path)
	require.GreaterOrEqual(t, pi.Pages, 3)
	for n := 1; n <= pi.Pages; n++ {
		txt := text(t, path, n)
		assert.Contains(t, txt, "Headerword", "page %d", n)
		assert.Contains(t, txt, "Footerword", "page %d", n)
		assert.Contains(t, txt, fmt.Sprintf("page %d of %d", n, pi.Pages), "page %d: Chromium's page number classes", n)
	}
	assert.Contains(t, text(t, path, 2), "Body of section 2")
}

func TestRealNoHeaderWithoutOne(t *testing.T) {
	c := realConverter(t, nil)
	path := convert(t, c, ports.Rendered{HTML: doc("<p>Only the page</p>")}, ports.PDFOptions{MarginTop: "25mm"})
	assert.Equal(t, "Only the page", strings.TrimSpace(text(t, path, 0)))
}

func TestRealRefusedSettingsAreValidationErrors(t *testing.T) {
	c := realConverter(t, nil)
	// Margins larger than the page pass our syntax check; Chromium refuses
	// them and Gotenberg answers 400.
	_, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{MarginTop: "500mm", MarginBottom: "500mm"})
	require.Error(t, err)
	assert.ErrorIs(t, err, core.ErrValidation)
	assert.NotErrorIs(t, err, core.ErrUnavailable)
	assert.Contains(t, err.Error(), "Chromium")
}

func TestRealCloseBeforeTheEnd(t *testing.T) {
	c := realConverter(t, nil)
	body, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.NoError(t, err)
	head := make([]byte, 5)
	_, err = io.ReadFull(body, head)
	require.NoError(t, err)
	assert.Equal(t, "%PDF-", string(head))
	require.NoError(t, body.Close())
	// The converter is still usable afterwards.
	convert(t, c, page, ports.PDFOptions{})
}

func TestRealIsAvailableAndReadiness(t *testing.T) {
	c := realConverter(t, nil)
	ctx := context.Background()
	require.NoError(t, c.IsAvailable(ctx))

	dep := c.Readiness()
	assert.Equal(t, "pdf", dep.Name)
	assert.False(t, dep.Required, "prints fall back to HTML: not required")
	require.NotNil(t, dep.Check)
	assert.NoError(t, dep.Check(ctx))
}

// ---- failures, on a closed port and on fake servers ------------------------

func TestClosedPortIsUnavailableFast(t *testing.T) {
	c, err := gotenberg.New(gotenberg.Config{URL: closedURL(t), Timeout: 5 * time.Second, Retries: 2})
	require.NoError(t, err)
	start := time.Now()
	_, err = c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, core.ErrUnavailable)
	var ue *core.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "pdf service", ue.What)
	assert.Contains(t, err.Error(), "after 3 attempts")
	assert.Less(t, time.Since(start), 2*time.Second, "2 retries back off ~100+200ms")

	// Many retries stay within the timeout.
	c, err = gotenberg.New(gotenberg.Config{URL: closedURL(t), Timeout: 500 * time.Millisecond, Retries: gotenberg.MaxRetries})
	require.NoError(t, err)
	start = time.Now()
	_, err = c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)

	err = c.IsAvailable(context.Background())
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.ErrorIs(t, c.Readiness().Check(context.Background()), core.ErrUnavailable)
}

func TestCredentialsAreSentAndNeverInErrors(t *testing.T) {
	var user, pass string
	var ok bool
	c, srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok = r.BasicAuth()
		servePDF(w)
	}, nil)
	u := strings.Replace(srv.URL, "http://", "http://ann:s3cr3t-pw@", 1)
	c, err := gotenberg.New(gotenberg.Config{URL: u + "/"})
	require.NoError(t, err)
	body, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.NoError(t, err)
	require.NoError(t, body.Close())
	assert.True(t, ok)
	assert.Equal(t, "ann", user)
	assert.Equal(t, "s3cr3t-pw", pass)
	require.NoError(t, c.IsAvailable(context.Background()))

	bad := strings.Replace(closedURL(t), "http://", "http://ann:s3cr3t-pw@", 1)
	c, err = gotenberg.New(gotenberg.Config{URL: bad, Retries: 1})
	require.NoError(t, err)
	_, err = c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.ErrorIs(t, err, core.ErrUnavailable)
	assert.NotContains(t, err.Error(), "s3cr3t")
	assert.NotContains(t, err.Error(), "ann")
	err = c.IsAvailable(context.Background())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t")

	err = gotenberg.Config{URL: "ftp://ann:s3cr3t-pw@host"}.Validate()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t")
}

func TestFormFields(t *testing.T) {
	type got struct {
		path   string
		fields map[string]string
		files  map[string]string // name → content
		ctypes map[string]string
	}
	var mu sync.Mutex
	var last got
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		g := got{path: r.URL.Path, fields: map[string]string{}, files: map[string]string{}, ctypes: map[string]string{}}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			http.Error(w, "not a form", http.StatusBadRequest)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FileName() != "" {
				g.files[p.FileName()] = string(b)
				g.ctypes[p.FileName()] = p.Header.Get("Content-Type")
			} else {
				g.fields[p.FormName()] = string(b)
			}
		}
		mu.Lock()
		last = g
		mu.Unlock()
		servePDF(w)
	}, func(cfg *gotenberg.Config) { cfg.MarginLeft = "1.5cm" })

	run := func(page ports.Rendered, opts ports.PDFOptions) got {
		t.Helper()
		body, err := c.HTMLToPDF(context.Background(), page, opts)
		require.NoError(t, err)
		b, err := io.ReadAll(body)
		require.NoError(t, err)
		require.NoError(t, body.Close())
		assert.Equal(t, fakePDF, string(b))
		mu.Lock()
		defer mu.Unlock()
		return last
	}

	g := run(ports.Rendered{HTML: []byte("<p>page</p>")}, ports.PDFOptions{})
	assert.Equal(t, "/forms/chromium/convert/html", g.path)
	assert.Equal(t, map[string]string{"index.html": "<p>page</p>"}, g.files, "no header or footer file without them")
	assert.Equal(t, "text/html; charset=utf-8", g.ctypes["index.html"])
	assert.Equal(t, map[string]string{
		"paperWidth": "210mm", "paperHeight": "297mm",
		"marginTop": "10mm", "marginBottom": "10mm", "marginLeft": "1.5cm", "marginRight": "10mm",
		"printBackground": "true",
	}, g.fields)

	g = run(ports.Rendered{HTML: []byte("<p>page</p>"), Header: []byte("<p>head</p>"), Footer: []byte("<p>foot</p>")},
		ports.PDFOptions{PageSize: ports.PageLetter, Landscape: true, MarginTop: "1in", MarginRight: "12pt", Title: `Invoice "1"`})
	assert.Equal(t, map[string]string{"index.html": "<p>page</p>", "header.html": "<p>head</p>", "footer.html": "<p>foot</p>"}, g.files)
	assert.Equal(t, map[string]string{
		"paperWidth": "215.9mm", "paperHeight": "279.4mm", "landscape": "true",
		"marginTop": "1in", "marginBottom": "10mm", "marginLeft": "1.5cm", "marginRight": "12pt",
		"printBackground": "true", "metadata": `{"Title":"Invoice \"1\""}`,
	}, g.fields)
}

func TestBadOptionsAreRefusedWithoutARequest(t *testing.T) {
	var attempts atomic.Int32
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) { attempts.Add(1); servePDF(w) }, nil)
	cases := []struct {
		opts  ports.PDFOptions
		field string
	}{
		{ports.PDFOptions{PageSize: "B5"}, "page_size"},
		{ports.PDFOptions{MarginTop: "10"}, "margin_top"},
		{ports.PDFOptions{MarginBottom: "1em"}, "margin_bottom"},
		{ports.PDFOptions{MarginLeft: "-5mm"}, "margin_left"},
		{ports.PDFOptions{MarginRight: "5 mm"}, "margin_right"},
	}
	for _, tc := range cases {
		_, err := c.HTMLToPDF(context.Background(), page, tc.opts)
		require.ErrorIs(t, err, core.ErrValidation, "%+v", tc.opts)
		var ve *core.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Contains(t, ve.FieldMap(), tc.field)
	}
	assert.Zero(t, attempts.Load())
}

func TestSlowServerTimesOut(t *testing.T) {
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		hang(r) // accepts, never answers
	}, func(cfg *gotenberg.Config) { cfg.Timeout = 500 * time.Millisecond })
	start := time.Now()
	_, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestCallerCancelIsNotUnavailable(t *testing.T) {
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) { hang(r) }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.HTMLToPDF(ctx, page, ports.PDFOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, core.ErrUnavailable)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, c.IsAvailable(ctx), context.Canceled)
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name     string
		retries  int
		answers  []int // status per attempt; 200 after the list
		attempts int32
		err      error
	}{
		{"503 twice then 200", 0, []int{503, 503}, 3, nil},
		{"429 then 200", 0, []int{429}, 2, nil},
		{"503 beyond the retries", 1, []int{503, 503, 503}, 2, core.ErrUnavailable},
		{"500 is not retried", 5, []int{500}, 1, core.ErrUnavailable},
		{"404 is not retried", 5, []int{404}, 1, core.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var attempts atomic.Int32
			c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
				n := int(attempts.Add(1))
				if n <= len(tc.answers) {
					http.Error(w, "busy "+strconv.Itoa(n), tc.answers[n-1])
					return
				}
				servePDF(w)
			}, func(cfg *gotenberg.Config) { cfg.Retries = tc.retries })
			body, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
			assert.Equal(t, tc.attempts, attempts.Load())
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.NotErrorIs(t, err, core.ErrValidation)
				return
			}
			require.NoError(t, err)
			b, err := io.ReadAll(body)
			require.NoError(t, err)
			assert.Equal(t, fakePDF, string(b))
			require.NoError(t, body.Close())
		})
	}
}

func TestRetryAfterBeyondTheTimeoutGivesUp(t *testing.T) {
	var attempts atomic.Int32
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	}, func(cfg *gotenberg.Config) { cfg.Timeout = 2 * time.Second })
	start := time.Now()
	_, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.Equal(t, int32(1), attempts.Load())
	assert.Less(t, time.Since(start), time.Second)
}

func TestBadRequestIsValidationWithTheMessage(t *testing.T) {
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Invalid form data: form field 'marginTop' is invalid", http.StatusBadRequest)
	}, nil)
	_, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.ErrorIs(t, err, core.ErrValidation)
	assert.NotErrorIs(t, err, core.ErrUnavailable)
	assert.Contains(t, err.Error(), "Invalid form data: form field 'marginTop' is invalid")

	// A long message is cut to 500 bytes.
	c, _ = fake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("é", 2000), http.StatusBadRequest)
	}, nil)
	_, err = c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.ErrorIs(t, err, core.ErrValidation)
	msg := err.Error()
	assert.Contains(t, msg, strings.Repeat("é", 250))
	assert.NotContains(t, msg, strings.Repeat("é", 251))
	assert.True(t, strings.HasSuffix(msg, "é"), "cut on a character boundary")
}

func TestAnswerThatIsNotAPDFIsUnavailable(t *testing.T) {
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>a proxy's page</html>")
	}, nil)
	_, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	assert.ErrorIs(t, err, core.ErrUnavailable)
}

func TestCloseEndsTheStream(t *testing.T) {
	done := make(chan struct{})
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = io.WriteString(w, "%PDF-1.4\n")
		w.(http.Flusher).Flush()
		hang(r) // the rest never comes
	}, nil)
	body, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.NoError(t, err, "the body is returned before the whole PDF arrives")
	head := make([]byte, 5)
	_, err = io.ReadFull(body, head)
	require.NoError(t, err)
	assert.Equal(t, "%PDF-", string(head))
	require.NoError(t, body.Close())
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("closing the body did not end the request")
	}
}

func TestTimeoutBoundsTheStream(t *testing.T) {
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = io.WriteString(w, "%PDF-1.4\n")
		w.(http.Flusher).Flush()
		hang(r)
	}, func(cfg *gotenberg.Config) { cfg.Timeout = 300 * time.Millisecond })
	body, err := c.HTMLToPDF(context.Background(), page, ports.PDFOptions{})
	require.NoError(t, err)
	defer body.Close()
	start := time.Now()
	_, err = io.ReadAll(body)
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestIsAvailableStatus(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	_, srv := fake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/base/health" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
		_, _ = io.WriteString(w, `{"status":"down"}`)
	}, nil)
	// The base URL may have a path (a service behind a proxy).
	c, err := gotenberg.New(gotenberg.Config{URL: srv.URL + "/base/"})
	require.NoError(t, err)
	require.NoError(t, c.IsAvailable(context.Background()))
	status.Store(http.StatusServiceUnavailable)
	err = c.IsAvailable(context.Background())
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.Contains(t, err.Error(), "503")
	assert.Contains(t, err.Error(), `{"status":"down"}`)
}

// ---- configuration ---------------------------------------------------------

func TestConfigDefaults(t *testing.T) {
	cfg := gotenberg.Config{URL: "http://127.0.0.1:3000"}.WithDefaults()
	assert.Equal(t, 30*time.Second, cfg.Timeout)
	assert.Equal(t, 2, cfg.Retries)
	assert.Equal(t, "A4", cfg.DefaultPageSize)
	assert.Equal(t, []string{"10mm", "10mm", "10mm", "10mm"}, []string{cfg.MarginTop, cfg.MarginBottom, cfg.MarginLeft, cfg.MarginRight})
	assert.NoError(t, cfg.Validate())

	kept := gotenberg.Config{URL: "http://x", Timeout: time.Second, Retries: 5, DefaultPageSize: "Legal", MarginTop: "1in"}.WithDefaults()
	assert.Equal(t, time.Second, kept.Timeout)
	assert.Equal(t, 5, kept.Retries)
	assert.Equal(t, "Legal", kept.DefaultPageSize)
	assert.Equal(t, "1in", kept.MarginTop)
	assert.Equal(t, "10mm", kept.MarginBottom)
}

func TestConfigValidate(t *testing.T) {
	ok := gotenberg.Config{URL: "http://127.0.0.1:3000"}
	cases := []struct {
		name  string
		edit  func(*gotenberg.Config)
		field string // "" = valid
	}{
		{"minimal", func(c *gotenberg.Config) {}, ""},
		{"https with path", func(c *gotenberg.Config) { c.URL = "https://pdf.example.com/gotenberg/" }, ""},
		{"basic auth", func(c *gotenberg.Config) { c.URL = "http://u:p@gotenberg:3000" }, ""},
		{"no url", func(c *gotenberg.Config) { c.URL = "" }, "url"},
		{"not a url", func(c *gotenberg.Config) { c.URL = "http://[::1" }, "url"},
		{"no scheme", func(c *gotenberg.Config) { c.URL = "127.0.0.1:3000" }, "url"},
		{"ftp", func(c *gotenberg.Config) { c.URL = "ftp://host" }, "url"},
		{"no host", func(c *gotenberg.Config) { c.URL = "http:///path" }, "url"},
		{"query", func(c *gotenberg.Config) { c.URL = "http://host:3000?x=1" }, "url"},
		{"bad port", func(c *gotenberg.Config) { c.URL = "http://host:99999" }, "url"},
		{"negative timeout", func(c *gotenberg.Config) { c.Timeout = -time.Second }, "timeout_ms"},
		{"negative retries", func(c *gotenberg.Config) { c.Retries = -2 }, "retries"},
		{"too many retries", func(c *gotenberg.Config) { c.Retries = 11 }, "retries"},
		{"max retries", func(c *gotenberg.Config) { c.Retries = 10 }, ""},
		{"unknown page size", func(c *gotenberg.Config) { c.DefaultPageSize = "B5" }, "default_page_size"},
		{"page size any case", func(c *gotenberg.Config) { c.DefaultPageSize = "letter" }, ""},
		{"margin without unit", func(c *gotenberg.Config) { c.MarginTop = "10" }, "margin_top"},
		{"margin em", func(c *gotenberg.Config) { c.MarginBottom = "2em" }, "margin_bottom"},
		{"margin negative", func(c *gotenberg.Config) { c.MarginLeft = "-1mm" }, "margin_left"},
		{"margin word", func(c *gotenberg.Config) { c.MarginRight = "auto" }, "margin_right"},
		{"margin mm", func(c *gotenberg.Config) { c.MarginTop = "10mm" }, ""},
		{"margin every unit", func(c *gotenberg.Config) {
			c.MarginTop, c.MarginBottom, c.MarginLeft, c.MarginRight = "0.5in", "1.5cm", "12pt", "40px"
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.field == "" {
				assert.NoError(t, err)
				_, err = gotenberg.New(cfg)
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, core.ErrValidation)
			var ve *core.ValidationError
			require.True(t, errors.As(err, &ve))
			assert.Contains(t, ve.FieldMap(), tc.field)
			_, err = gotenberg.New(cfg)
			assert.ErrorIs(t, err, core.ErrValidation, "New validates")
		})
	}

	// Every problem at once.
	err := gotenberg.Config{URL: "nope", Timeout: -1, Retries: 99, DefaultPageSize: "X", MarginTop: "1", MarginRight: "1"}.Validate()
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	for _, f := range []string{"url", "timeout_ms", "retries", "default_page_size", "margin_top", "margin_right"} {
		assert.Contains(t, ve.FieldMap(), f)
	}
}
