package template

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest/printtest"
	"github.com/framework-m/framework-m/ports"
)

// ---------------------------------------------------------------------------
// Helpers

func newRenderer(t testing.TB, cfg Config) *Renderer {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// templateErr asserts err is a *ports.TemplateError and returns it.
func templateErr(t testing.TB, err error) *ports.TemplateError {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want a *ports.TemplateError")
	}
	var te *ports.TemplateError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want a *ports.TemplateError", err, err)
	}
	return te
}

func docData(doc map[string]any) ports.PrintData {
	return ports.PrintData{Doc: doc}
}

func renderString(t testing.TB, r *Renderer, src string, data ports.PrintData) string {
	t.Helper()
	out, err := r.RenderHTMLString(context.Background(), src, data)
	if err != nil {
		t.Fatalf("RenderHTMLString(%q): %v", src, err)
	}
	return out
}

// hangBound bounds a run that must be cut off: generous, as it only tells a
// hang from an ended run.
const hangBound = 5 * time.Second

// renderBounded runs RenderHTMLString in a goroutine and fails the test
// when it has not returned within hangBound (the goroutine is left to
// finish, or to die with the test binary).
func renderBounded(t testing.TB, r *Renderer, ctx context.Context, src string, data ports.PrintData) (string, error, time.Duration) {
	t.Helper()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		out, err := r.RenderHTMLString(ctx, src, data)
		done <- result{out, err}
	}()
	select {
	case res := <-done:
		return res.out, res.err, time.Since(start)
	case <-time.After(hangBound):
		t.Fatalf("%.120s: still running after %v", src, hangBound)
		return "", nil, 0
	}
}

// bodyOf is what a non-paged page holds inside <main>.
func bodyOf(t testing.TB, page []byte) string {
	t.Helper()
	s := string(page)
	_, rest, ok := strings.Cut(s, `<main class="fm-print">`)
	if !ok {
		t.Fatalf("page has no <main>: %q", s)
	}
	body, _, ok := strings.Cut(rest, "</main>")
	if !ok {
		t.Fatalf("page has no </main>: %q", s)
	}
	return body
}

// ---------------------------------------------------------------------------
// 1. Escaping

const (
	xssScript = `<script>alert(1)</script>`
	xssAttr   = `"><img onerror=x>`
)

func TestEscaping(t *testing.T) {
	r := newRenderer(t, Config{})
	data := docData(map[string]any{"x": xssScript, "y": xssAttr})
	ctx := context.Background()

	check := func(t *testing.T, out string) {
		t.Helper()
		for _, raw := range []string{"<script", "<img", `"><`} {
			if strings.Contains(out, raw) {
				t.Errorf("output holds unescaped %q: %q", raw, out)
			}
		}
		if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("output lacks the escaped script: %q", out)
		}
		if !strings.Contains(out, "&#34;&gt;&lt;img onerror=x&gt;") {
			t.Errorf("output lacks the escaped attribute breaker: %q", out)
		}
	}

	src := `<p>{{.doc.x}}</p><p>{{.doc.y}}</p>`
	t.Run("RenderHTMLString", func(t *testing.T) {
		check(t, renderString(t, r, src, data))
	})
	t.Run("RenderHTML", func(t *testing.T) {
		got, err := r.RenderHTML(ctx, data, ports.PrintTemplate{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		check(t, bodyOf(t, got.HTML))
	})
	t.Run("attribute", func(t *testing.T) {
		out := renderString(t, r, `<a title="{{.doc.y}}">{{.doc.x}}</a>`, data)
		check(t, out)
		if !strings.HasPrefix(out, `<a title="&#34;&gt;&lt;img onerror=x&gt;">`) {
			t.Errorf("attribute value not escaped in place: %q", out)
		}
		// Exactly one element: the value never closed the attribute.
		if strings.Count(out, "<") != 2 {
			t.Errorf("value added markup: %q", out)
		}
	})
	t.Run("header and footer", func(t *testing.T) {
		got, err := r.RenderHTML(ctx, data, ports.PrintTemplate{Source: "b", HeaderHTML: "{{.doc.x}}", FooterHTML: "{{.doc.y}}", Paged: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range [][]byte{got.Header, got.Footer} {
			if strings.Contains(string(part), "<script") || strings.Contains(string(part), "<img") {
				t.Errorf("margin document holds unescaped markup: %q", part)
			}
		}
	})
	t.Run("title", func(t *testing.T) {
		d := ports.PrintData{Doc: map[string]any{"name": xssScript}, Meta: ports.PrintMeta{Name: "Note"}}
		got, err := r.RenderHTML(ctx, d, ports.PrintTemplate{Source: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got.HTML), "<title>Note &lt;script&gt;alert(1)&lt;/script&gt;</title>") {
			t.Errorf("title not escaped: %q", got.HTML)
		}
		if strings.Contains(string(got.HTML), "<script") {
			t.Errorf("page holds a <script>: %q", got.HTML)
		}
	})
}

// ---------------------------------------------------------------------------
// 2. Runaway templates

func TestRunawayTemplates(t *testing.T) {
	list := make([]any, 1000)
	for i := range list {
		list[i] = i
	}
	const huge = 1 << 62
	tests := []struct {
		name string
		cfg  Config
		src  string
		doc  map[string]any
		want []string // the Reason holds one of these
	}{
		{
			name: "range over a big int, no output",
			cfg:  Config{Timeout: 5 * time.Second, MaxSteps: 10_000},
			src:  `{{range 1000000000}}{{end}}`,
			want: []string{"ran more than 10000 loop iterations and template calls"},
		},
		{
			name: "range over a big int, default budget",
			cfg:  Config{Timeout: 200 * time.Millisecond},
			src:  `{{range 1000000000}}{{end}}`,
			// under -race the deadline may come first
			want: []string{"ran more than 1000000 loop iterations", "time limit"},
		},
		{
			name: "nested ranges over data, no output",
			cfg:  Config{Timeout: 5 * time.Second, MaxSteps: 10_000},
			src:  `{{range .doc.l}}{{range $.doc.l}}{{range $.doc.l}}{{range $.doc.l}}{{end}}{{end}}{{end}}{{end}}`,
			doc:  map[string]any{"l": list},
			want: []string{"ran more than 10000 loop iterations and template calls"},
		},
		{
			name: "nested ranges with two variables",
			cfg:  Config{Timeout: 5 * time.Second, MaxSteps: 10_000},
			src:  `{{range $i, $e := .doc.l}}{{range $j, $f := $.doc.l}}{{range $.doc.l}}{{end}}{{end}}{{end}}`,
			doc:  map[string]any{"l": list},
			want: []string{"ran more than 10000 loop iterations and template calls"},
		},
		{
			name: "infinite recursion",
			cfg:  Config{Timeout: 200 * time.Millisecond},
			src:  `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
			want: []string{"calls templates more than 64 deep"},
		},
		{
			name: "infinite recursion, small budget",
			cfg:  Config{Timeout: 200 * time.Millisecond, MaxSteps: 10},
			src:  `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`,
			want: []string{"ran more than 10 loop iterations and template calls"},
		},
		{
			name: "exponential recursion",
			cfg:  Config{Timeout: 200 * time.Millisecond},
			src:  `{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`,
			want: []string{"calls templates more than 64 deep"},
		},
		{
			name: "bounded but exponential recursion",
			cfg:  Config{Timeout: 2 * time.Second, MaxSteps: 5_000},
			// depth 40, 2^40 calls: only the budget stops it
			src:  `{{define "a"}}{{if lt (len .) 40}}{{template "a" (printf "%sx" .)}}{{template "a" (printf "%sx" .)}}{{end}}{{end}}{{template "a" ""}}`,
			want: []string{"ran more than 5000 loop iterations and template calls"},
		},
		{
			name: "output flood",
			cfg:  Config{Timeout: 200 * time.Millisecond, MaxOutput: 64 << 10},
			src:  `{{range 100000}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{end}}`,
			want: []string{"wrote more than 65536 bytes"},
		},
		{
			name: "output flood from one big action",
			cfg:  Config{Timeout: 200 * time.Millisecond, MaxOutput: 64 << 10},
			src:  `{{printf "%0999999d" 1}}`,
			want: []string{"builds strings longer than 65536 bytes", "wrote more than 65536 bytes"},
		},
		{
			name: "time limit",
			cfg:  Config{Timeout: 100 * time.Millisecond, MaxSteps: huge},
			src:  `{{range 1000000000}}{{$x := printf "%v-%v" $.doc.l $.doc.l}}{{end}}`,
			doc:  map[string]any{"l": list[:20]},
			want: []string{"ran longer than its time limit"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRenderer(t, tt.cfg)
			out, err, elapsed := renderBounded(t, r, context.Background(), tt.src, docData(tt.doc))
			te := templateErr(t, err)
			if out != "" {
				t.Errorf("a failed run returned %d bytes of output", len(out))
			}
			ok := false
			for _, w := range tt.want {
				ok = ok || strings.Contains(te.Reason, w)
			}
			if !ok {
				t.Errorf("Reason = %q, want one of %q", te.Reason, tt.want)
			}
			if te.Template != partString {
				t.Errorf("Template = %q, want %q", te.Template, partString)
			}
			if strings.Contains(te.Reason, "time limit") && elapsed < tt.cfg.Timeout {
				t.Errorf("time limit reported after %v, before the %v deadline", elapsed, tt.cfg.Timeout)
			}
		})
	}
}

func TestRunawayThroughRenderHTMLNamesFormatAndPart(t *testing.T) {
	r := newRenderer(t, Config{Timeout: 200 * time.Millisecond, MaxSteps: 1000})
	ctx := context.Background()
	_, err := r.RenderHTML(ctx, docData(nil), ports.PrintTemplate{Name: "Std", Source: `{{range 1000000}}{{end}}`})
	te := templateErr(t, err)
	if te.Template != "Std: template" || !strings.Contains(te.Reason, "ran more than 1000") {
		t.Errorf("page: %#v", te)
	}
	_, err = r.RenderHTML(ctx, docData(nil), ports.PrintTemplate{Name: "Std", Source: "ok", FooterHTML: `{{range 1000000}}{{end}}`})
	te = templateErr(t, err)
	if te.Template != "Std: footer_html" || !strings.Contains(te.Reason, "ran more than 1000") {
		t.Errorf("footer: %#v", te)
	}
}

func TestCancelledContextStopsRun(t *testing.T) {
	r := newRenderer(t, Config{Timeout: time.Minute, MaxSteps: 1 << 62})
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err, _ := renderBounded(t, r, ctx, `{{range 1000000000}}{{end}}`, docData(nil))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want it to wrap context.Canceled", err)
		}
	})
	t.Run("cancelled during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err, _ := renderBounded(t, r, ctx, `{{range 1000000000}}{{.}}{{end}}`, docData(nil))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want it to wrap context.Canceled", err)
		}
		// Through RenderHTML too.
		ctx2, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if _, err := r.RenderHTML(ctx2, docData(nil), ports.PrintTemplate{Source: `{{range 1000000000}}{{end}}`}); !errors.Is(err, context.Canceled) {
			t.Fatalf("RenderHTML: err = %v", err)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err, _ := renderBounded(t, r, ctx, `{{range 1000000000}}{{end}}`, docData(nil))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
	})
}

// pinInstance makes every run of source (as part) use one instance, and
// returns it.
func pinInstance(t *testing.T, r *Renderer, part, source string) *instance {
	t.Helper()
	e, err := r.entry(part, source)
	if err != nil {
		t.Fatal(err)
	}
	inst, ok := e.pool.Get().(*instance)
	if !ok || inst == nil {
		t.Fatal("no instance in the pool")
	}
	e.pool.New = func() any { return inst }
	e.pool.Put(inst)
	return inst
}

func TestBudgetResetBetweenRuns(t *testing.T) {
	r := newRenderer(t, Config{Timeout: 200 * time.Millisecond, MaxSteps: 1000, MaxOutput: 4096})
	ctx := context.Background()

	t.Run("steps", func(t *testing.T) {
		src := `{{range .doc.n}}{{end}}{{.doc.name}}`
		inst := pinInstance(t, r, partString, src)
		_, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 1_000_000}))
		if te := templateErr(t, err); !strings.Contains(te.Reason, "ran more than 1000") {
			t.Fatalf("Reason = %q", te.Reason)
		}
		if inst.st.err == nil {
			t.Fatal("the pinned instance did not run the runaway doc")
		}
		// 600 steps a run: two runs' worth exceed the budget unless it resets.
		for i := range 5 {
			out, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 600, "name": fmt.Sprint("ok", i)}))
			if err != nil || out != fmt.Sprint("ok", i) {
				t.Fatalf("run %d after a runaway one: %q, %v", i, out, err)
			}
		}
	})
	t.Run("output", func(t *testing.T) {
		src := `{{range .doc.n}}0123456789{{end}}`
		pinInstance(t, r, partString, src)
		_, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 500}))
		if te := templateErr(t, err); !strings.Contains(te.Reason, "wrote more than 4096") {
			t.Fatalf("Reason = %q", te.Reason)
		}
		for range 3 {
			out, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 300}))
			if err != nil || len(out) != 3000 {
				t.Fatalf("after a flood: %d bytes, %v", len(out), err)
			}
		}
	})
	t.Run("deadline", func(t *testing.T) {
		r := newRenderer(t, Config{Timeout: 100 * time.Millisecond, MaxSteps: 1 << 62})
		src := `{{range .doc.n}}{{$x := printf "%v" $.doc}}{{end}}{{.doc.name}}`
		pinInstance(t, r, partString, src)
		_, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 1 << 40}))
		if te := templateErr(t, err); !strings.Contains(te.Reason, "time limit") {
			t.Fatalf("Reason = %q", te.Reason)
		}
		time.Sleep(150 * time.Millisecond) // past the first run's deadline
		out, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 10, "name": "fresh"}))
		if err != nil || out != "fresh" {
			t.Fatalf("after a timeout: %q, %v", out, err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		src := `{{range .doc.n}}{{end}}{{.doc.name}}`
		pinInstance(t, r, partString, src)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.RenderHTMLString(cctx, src, docData(map[string]any{"n": 900})); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		out, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"n": 900, "name": "again"}))
		if err != nil || out != "again" {
			t.Fatalf("after a cancelled run: %q, %v", out, err)
		}
	})
}

// ---------------------------------------------------------------------------
// 3. No file or environment access; Check

func TestCheckRejectsUnknownFunctions(t *testing.T) {
	r := newRenderer(t, Config{})
	ctx := context.Background()
	for _, tt := range []struct{ src, fn string }{
		{`{{readFile "/etc/passwd"}}`, "readFile"},
		{`{{env "HOME"}}`, "env"},
		{`{{getenv "HOME"}}`, "getenv"},
		{`{{exec "id"}}`, "exec"},
		{`{{os.Getenv "HOME"}}`, "os"},
		{`{{include "/etc/passwd"}}`, "include"},
		{`{{"/etc/passwd" | readFile}}`, "readFile"},
		{`{{template "x" (readFile "/etc/passwd")}}`, "readFile"},
	} {
		err := r.Check(ctx, tt.src)
		te := templateErr(t, err)
		want := fmt.Sprintf("function %q not defined", tt.fn)
		if te.Reason != want || te.Line != 1 || te.Template != partPage {
			t.Errorf("Check(%q) = %#v, want line 1, reason %q", tt.src, te, want)
		}
		// Rendering the same text fails the same way, never reading anything.
		out, err := r.RenderHTMLString(ctx, tt.src, docData(nil))
		if te := templateErr(t, err); te.Reason != want || out != "" {
			t.Errorf("RenderHTMLString(%q) = %q, %#v", tt.src, out, te)
		}
	}
}

func TestCallHasNothingToCall(t *testing.T) {
	// call is a text/template builtin, so Check accepts it; the data has
	// no functions, so it fails when run.
	r := newRenderer(t, Config{})
	src := `{{call .doc.x}}`
	if err := r.Check(context.Background(), src); err != nil {
		t.Logf("Check(%q) = %v", src, err)
	}
	for _, x := range []any{nil, "HOME", 1} {
		_, err := r.RenderHTMLString(context.Background(), src, docData(map[string]any{"x": x}))
		templateErr(t, err)
	}
}

func TestCheckLineNumbers(t *testing.T) {
	r := newRenderer(t, Config{})
	ctx := context.Background()
	tests := []struct {
		src    string
		line   int
		reason string
	}{
		{"<h1>{{.doc.name}}</h1>\n<p>ok</p>\n{{readFile \"/etc/passwd\"}}\n", 3, `function "readFile" not defined`},
		{"a\nb\n{{env \"HOME\"}}", 3, `function "env" not defined`},
		{"a\nb\n{{if}}\n", 3, "missing value for if"},
		{"a\nb\n{{.doc.x}}{{if .doc.x}}", 3, "unexpected EOF"},
		{"a\n{{.doc.x", 2, "unclosed action"},
		{"a\nb\nc\n{{end}}", 4, "unexpected {{end}}"},
		{"{{define \"row\"}}\n\n{{nope}}{{end}}", 3, `function "nope" not defined`},
	}
	for _, tt := range tests {
		te := templateErr(t, r.Check(ctx, tt.src))
		if te.Line != tt.line || !strings.Contains(te.Reason, tt.reason) {
			t.Errorf("Check(%q) = line %d %q, want line %d and %q", tt.src, te.Line, te.Reason, tt.line, tt.reason)
		}
		if !strings.Contains(te.Error(), fmt.Sprintf("line %d: ", tt.line)) {
			t.Errorf("Error() = %q lacks the line", te.Error())
		}
	}
	for _, ok := range []string{"", "plain", `{{.doc.x}}`, `{{range .doc.items}}{{.qty}}{{end}}`, `{{define "a"}}x{{end}}{{template "a" .}}`, `{{currency .doc.total "EUR"}}{{date .doc.d}}{{number 1 2}}`} {
		if err := r.Check(ctx, ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
}

func TestRunTimeErrorLine(t *testing.T) {
	r := newRenderer(t, Config{})
	_, err := r.RenderHTMLString(context.Background(), "a\nb\n{{index .doc.x 5}}", docData(map[string]any{"x": []int{1}}))
	te := templateErr(t, err)
	if te.Line != 3 || !strings.Contains(te.Reason, "index out of range") {
		t.Errorf("= %#v, want line 3 and the index error", te)
	}
}

// Check should catch what always fails when rendered: html/template's
// contextual-escaping errors are found only when a template first runs.
func TestCheckReportsEscapingErrors(t *testing.T) {
	r := newRenderer(t, Config{})
	for _, src := range []string{
		`{{if .doc.x}}<a href="{{end}}`,
		`<a href="{{.doc.x}}`,
		`<script>{{.doc.x}}`,
	} {
		_, rerr := r.RenderHTMLString(context.Background(), src, docData(map[string]any{"x": 1}))
		templateErr(t, rerr) // rendering always fails
		if err := r.Check(context.Background(), src); err == nil {
			t.Errorf("Check(%q) = nil, but every render fails: %v", src, rerr)
		} else {
			templateErr(t, err)
		}
	}
}

// ---------------------------------------------------------------------------
// 4. file: templates

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileTemplates(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.html"), "<p>OK {{.doc.name}}</p>")
	writeFile(t, filepath.Join(dir, "sub", "inner.html"), "inner {{.doc.name}}")
	writeFile(t, filepath.Join(dir, "bad.html"), "line\n{{readFile \"x\"}}")
	writeFile(t, filepath.Join(outside, "secret.html"), "SECRET")
	writeFile(t, filepath.Join(dir, "big.html"), strings.Repeat("x", 2048))
	if err := os.Symlink(filepath.Join(outside, "secret.html"), filepath.Join(dir, "escape.html")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "outdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.html", filepath.Join(dir, "alias.html")); err != nil {
		t.Fatal(err)
	}
	r := newRenderer(t, Config{TemplateDir: dir, MaxTemplateSize: 1024})
	ctx := context.Background()
	data := docData(map[string]any{"name": "INV-1"})

	t.Run("ok", func(t *testing.T) {
		if err := r.Check(ctx, "file:ok.html"); err != nil {
			t.Fatalf("Check: %v", err)
		}
		got, err := r.RenderHTML(ctx, data, ports.PrintTemplate{Source: "file:ok.html"})
		if err != nil {
			t.Fatal(err)
		}
		if body := bodyOf(t, got.HTML); body != "<p>OK INV-1</p>" {
			t.Errorf("body = %q", body)
		}
		if out := renderString(t, r, "file:sub/inner.html", data); out != "inner INV-1" {
			t.Errorf("sub/inner.html = %q", out)
		}
		if out := renderString(t, r, "file:alias.html", data); out != "<p>OK INV-1</p>" {
			t.Errorf("a symlink inside the directory = %q", out)
		}
		if out := renderString(t, r, "file:sub/../ok.html", data); out != "<p>OK INV-1</p>" {
			t.Errorf("sub/../ok.html = %q", out)
		}
	})
	refused := []struct{ source, reason string }{
		{"file:../x", "not a relative path inside the template directory"},
		{"file:/etc/passwd", "not a relative path inside the template directory"},
		{"file:sub/../../x", "not a relative path inside the template directory"},
		{"file:..", "not a relative path"},
		{"file:", "not a relative path"},
		{`file:sub\inner.html`, "not a relative path"},
		{"file:escape.html", "cannot be read"},
		{"file:outdir/secret.html", "cannot be read"},
		{"file:missing.html", "does not exist"},
		{"file:sub", "not a regular file"},
		{"file:big.html", "longer than 1024 bytes"},
	}
	for _, tt := range refused {
		t.Run(tt.source, func(t *testing.T) {
			te := templateErr(t, r.Check(ctx, tt.source))
			if !strings.Contains(te.Reason, tt.reason) {
				t.Errorf("Check: Reason = %q, want %q", te.Reason, tt.reason)
			}
			got, err := r.RenderHTML(ctx, data, ports.PrintTemplate{Name: "F", Source: tt.source})
			te = templateErr(t, err)
			if !strings.Contains(te.Reason, tt.reason) || te.Template != "F: template" {
				t.Errorf("RenderHTML: %#v", te)
			}
			if strings.Contains(string(got.HTML), "SECRET") {
				t.Errorf("read a file outside the directory")
			}
			out, _ := r.RenderHTMLString(ctx, tt.source, data)
			if strings.Contains(out, "SECRET") {
				t.Errorf("read a file outside the directory")
			}
		})
	}
	t.Run("parse error in a file", func(t *testing.T) {
		te := templateErr(t, r.Check(ctx, "file:bad.html"))
		if te.Line != 2 || te.Reason != `function "readFile" not defined` {
			t.Errorf("= %#v", te)
		}
	})
	t.Run("no template dir", func(t *testing.T) {
		r := newRenderer(t, Config{})
		te := templateErr(t, r.Check(ctx, "file:ok.html"))
		if !strings.Contains(te.Reason, "need [print] template_dir") {
			t.Errorf("Reason = %q", te.Reason)
		}
		_, err := r.RenderHTML(ctx, data, ports.PrintTemplate{Source: "file:ok.html"})
		if te := templateErr(t, err); !strings.Contains(te.Reason, "need [print] template_dir") {
			t.Errorf("RenderHTML: Reason = %q", te.Reason)
		}
	})
	t.Run("bad template dir", func(t *testing.T) {
		if _, err := New(Config{TemplateDir: filepath.Join(dir, "nope")}); err == nil {
			t.Error("New with a missing template_dir: nil error")
		}
	})
}

func TestFileTemplateEditIsPickedUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.html")
	writeFile(t, path, "v1 {{.doc.name}}")
	r := newRenderer(t, Config{TemplateDir: dir})
	data := docData(map[string]any{"name": "X"})
	for range 2 {
		if out := renderString(t, r, "file:f.html", data); out != "v1 X" {
			t.Fatalf("first = %q", out)
		}
	}
	writeFile(t, path, "version two {{.doc.name}}!")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if out := renderString(t, r, "file:f.html", data); out != "version two X!" {
		t.Errorf("after the edit = %q", out)
	}
	got, err := r.RenderHTML(context.Background(), data, ports.PrintTemplate{Source: "file:f.html"})
	if err != nil || bodyOf(t, got.HTML) != "version two X!" {
		t.Errorf("RenderHTML after the edit = %q, %v", got.HTML, err)
	}
	// An edit that breaks the file is reported, not served from the cache.
	writeFile(t, path, "{{broken")
	even := later.Add(time.Hour)
	if err := os.Chtimes(path, even, even); err != nil {
		t.Fatal(err)
	}
	templateErr(t, r.Check(context.Background(), "file:f.html"))
	// Removed: does not exist.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if te := templateErr(t, r.Check(context.Background(), "file:f.html")); !strings.Contains(te.Reason, "does not exist") {
		t.Errorf("Reason = %q", te.Reason)
	}
}

// A FIFO (or any special file) in the template directory must not hang a
// render: os.Root.Open blocks on a FIFO without a writer.
func TestFileTemplateFIFODoesNotHang(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.html"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r := newRenderer(t, Config{TemplateDir: dir})
	done := make(chan error, 1)
	go func() { done <- r.Check(context.Background(), "file:pipe.html") }()
	select {
	case err := <-done:
		if te := templateErr(t, err); !strings.Contains(te.Reason, "not a regular file") {
			t.Errorf("Reason = %q", te.Reason)
		}
	case <-time.After(3 * time.Second):
		t.Error("Check(\"file:pipe.html\") hangs opening a FIFO (goroutine leaked)")
	}
}

// ---------------------------------------------------------------------------
// 5. Range semantics after the rewrite

func TestRangeSemantics(t *testing.T) {
	r := newRenderer(t, Config{})
	doc := map[string]any{
		"name":  "D",
		"items": []map[string]any{{"qty": 1}, {"qty": 2}, {"qty": 3}},
		"anys":  []any{map[string]any{"qty": 7}, map[string]any{"qty": 8}},
		"m":     map[string]any{"b": 2, "a": 1, "c": 3},
		"im":    map[int]string{10: "ten", 2: "two", -1: "minus"},
		"empty": []any{},
		"emptm": map[string]any{},
		"nils":  []int(nil),
		"nilm":  map[string]int(nil),
		"ptr":   &[]int{4, 5},
		"ints":  []int{5, 6},
		"arr":   [2]string{"p", "q"},
		"n":     3,
		"zero":  0,
		"neg":   -2,
		"s":     "str",
	}
	tests := []struct{ src, want string }{
		{`{{range $i, $e := .doc.items}}{{$i}}={{$e.qty}};{{end}}`, "0=1;1=2;2=3;"},
		{`{{range .doc.items}}{{.qty}}{{end}}`, "123"},
		{`{{range $e := .doc.items}}{{$e.qty}}{{end}}`, "123"},
		{`{{range .doc.anys}}{{.qty}}{{end}}`, "78"},
		{`{{range .doc.items}}{{$.doc.name}}{{end}}`, "DDD"},
		{`{{range $k, $v := .doc.m}}{{$k}}={{$v}},{{end}}`, "a=1,b=2,c=3,"},
		{`{{range .doc.m}}{{.}}{{end}}`, "123"},
		{`{{range $k, $v := .doc.im}}{{$k}}={{$v}},{{end}}`, "-1=minus,2=two,10=ten,"},
		{`{{range .doc.empty}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.emptm}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.nils}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.nilm}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.missing}}x{{else}}none{{end}}`, "none"},
		{`{{range $i, $e := .doc.missing}}x{{else}}none{{end}}`, "none"},
		{`{{range .nothing.at.all}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.zero}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.neg}}x{{else}}none{{end}}`, "none"},
		{`{{range .doc.items}}{{if eq .qty 2}}{{break}}{{end}}{{.qty}}{{end}}`, "1"},
		{`{{range .doc.items}}{{if eq .qty 2}}{{continue}}{{end}}{{.qty}}{{end}}`, "13"},
		{`{{range $i, $e := .doc.items}}{{if eq $i 1}}{{continue}}{{end}}{{$e.qty}}{{end}}`, "13"},
		{`{{range .doc.items}}{{range $.doc.ints}}{{break}}{{end}}{{.qty}}{{end}}`, "123"},
		{`{{range .doc.items}}{{range $.doc.ints}}{{.}}{{continue}}x{{end}};{{end}}`, "56;56;56;"},
		{`{{range 3}}{{.}}{{end}}`, "012"},
		{`{{range $i := 3}}{{$i}}{{end}}`, "012"},
		{`{{range .doc.n}}{{.}}{{end}}`, "012"},
		{`{{range .doc.ptr}}{{.}}{{end}}`, "45"},
		{`{{range $i, $e := .doc.arr}}{{$i}}{{$e}}{{end}}`, "0p1q"},
		{`{{$x := 0}}{{range .doc.ints}}{{$x = .}}{{end}}{{$x}}`, "6"},
		{`{{$i := 9}}{{$e := 9}}{{range $i, $e = .doc.ints}}{{end}}{{$i}}{{$e}}`, "16"},
		{`{{range .doc.items}}{{with .qty}}{{.}}{{end}}{{end}}`, "123"},
		{`{{define "row"}}[{{.qty}}]{{end}}{{range .doc.items}}{{template "row" .}}{{end}}`, "[1][2][3]"},
		{`{{define "r"}}{{range .}}{{.}}{{end}}{{end}}{{template "r" .doc.ints}}{{template "r" .doc.nils}}`, "56"},
		{`{{block "b" .doc.ints}}{{range .}}{{.}}{{end}}{{end}}`, "56"},
		{`{{define "x"}}X{{end}}{{template "x"}}`, "X"},
		{`{{range (len .doc.items)}}{{.}}{{end}}`, "012"},
		{`{{len .doc.items}}`, "3"},
	}
	for _, tt := range tests {
		out, err := r.RenderHTMLString(context.Background(), tt.src, docData(doc))
		if err != nil || out != tt.want {
			t.Errorf("%s\n got %q, %v\nwant %q", tt.src, out, err, tt.want)
		}
	}
	// What cannot be ranged over is a TemplateError naming why.
	for _, src := range []string{`{{range .doc.s}}{{end}}`, `{{range $k, $v := .doc.s}}{{end}}`} {
		_, err := r.RenderHTMLString(context.Background(), src, docData(doc))
		if te := templateErr(t, err); !strings.Contains(te.Reason, "range can't iterate over string") {
			t.Errorf("%s: Reason = %q", src, te.Reason)
		}
	}
}

// The rewrite gave every range and template call a budget command: a
// template without one is not counted. The budget counts one step per
// iteration and per call.
func TestStepsAreCounted(t *testing.T) {
	r := newRenderer(t, Config{MaxSteps: 10})
	ok := map[string]string{
		`{{range 10}}{{end}}`: "",
		`{{define "a"}}{{.}}{{end}}{{range 5}}{{template "a" .}}{{end}}`:                  "01234",
		`{{if true}}{{range 4}}{{end}}{{else}}{{end}}{{with 1}}{{range 6}}{{end}}{{end}}`: "",
	}
	for src, want := range ok {
		out, err := r.RenderHTMLString(context.Background(), src, docData(nil))
		if err != nil || out != want {
			t.Errorf("%s: %q, %v; want %q within 10 steps", src, out, err, want)
		}
	}
	over := []string{
		`{{range 11}}{{end}}`,
		`{{define "a"}}{{end}}{{range 6}}{{template "a" .}}{{end}}`,
		`{{if true}}{{range 11}}{{end}}{{end}}`,
		`{{if false}}{{else}}{{range 11}}{{end}}{{end}}`,
		`{{with 1}}{{range 11}}{{end}}{{end}}`,
		`{{with 0}}{{else}}{{range 11}}{{end}}{{end}}`,
		`{{range 1}}{{else}}{{end}}{{range .doc.missing}}{{else}}{{range 11}}{{end}}{{end}}`,
		`{{define "a"}}{{range 11}}{{end}}{{end}}{{template "a"}}`,
		`{{block "b" .}}{{range 11}}{{end}}{{end}}`,
		`{{range $i, $e := 11}}{{end}}`,
	}
	for _, src := range over {
		_, err := r.RenderHTMLString(context.Background(), src, docData(nil))
		if err == nil {
			t.Errorf("%s: nil error, want the 10-step budget to stop it", src)
			continue
		}
		if te := templateErr(t, err); !strings.Contains(te.Reason, "ran more than 10 loop iterations") {
			t.Errorf("%s: Reason = %q", src, te.Reason)
		}
	}
}

// ---------------------------------------------------------------------------
// 6. Filters through templates

func TestFiltersInTemplates(t *testing.T) {
	r := newRenderer(t, Config{})
	// 20:00 UTC on New Year's Eve is already 2025 in Kolkata (UTC+5:30).
	d := time.Date(2024, 12, 31, 20, 0, 0, 0, time.UTC)
	data := ports.PrintData{
		Doc: map[string]any{
			"total":    doctype.MustDecimal("1234.5"),
			"ftotal":   1234.5,
			"cur":      "EUR",
			"d":        d,
			"ds":       "2024-12-31",
			"qty":      doctype.MustDecimal("3"),
			"modified": d,
		},
		Settings: map[string]any{"date_format": "dd.mm.yyyy", "timezone": "Asia/Kolkata", "time_format": "HH:mm"},
	}
	want, err := FormatCurrency(doctype.MustDecimal("1234.5"), "EUR")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ src, want string }{
		{`{{currency .doc.total "EUR"}}`, want},
		{`{{.doc.total | currency "EUR"}}`, want},
		{`{{currency .doc.total .doc.cur}}`, want},
		{`{{.doc.total | currency .doc.cur}}`, want},
		{`{{currency .doc.ftotal "EUR"}}`, want},
		{`{{currency .doc.total}}`, "$1,234.50"},
		{`{{.doc.total | currency}}`, "$1,234.50"},
		{`{{currency .doc.missing "EUR"}}`, ""},
		{`{{date .doc.d}}`, "01.01.2025"},
		{`{{.doc.d | date}}`, "01.01.2025"},
		{`{{.doc.d | date "yyyy"}}`, "2025"},
		{`{{date .doc.d "yyyy-mm-dd"}}`, "2025-01-01"},
		{`{{date .doc.ds}}`, "31.12.2024"}, // a calendar date is never shifted
		{`{{.doc.ds | date "yyyy"}}`, "2024"},
		{`{{datetime .doc.modified}}`, "01.01.2025 01:30"},
		{`{{.doc.modified | datetime "HH:mm"}}`, "01:30"},
		{`{{number .doc.qty 2}}`, "3.00"},
		{`{{number 1234567}}`, "1,234,567"},
		{`{{date .doc.missing}}`, ""},
	}
	for _, tt := range tests {
		out, err := r.RenderHTMLString(context.Background(), tt.src, data)
		if err != nil || out != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.src, out, err, tt.want)
		}
	}
	// Without settings: UTC and yyyy-mm-dd.
	out, err := r.RenderHTMLString(context.Background(), `{{date .doc.d}}`, docData(map[string]any{"d": d}))
	if err != nil || out != "2024-12-31" {
		t.Errorf("default locale: %q, %v", out, err)
	}
	// Filter errors are template errors naming the filter.
	for _, src := range []string{`{{currency .doc.total "EURO"}}`, `{{currency "x" "y" "z"}}`, `{{date .doc.total}}`, `{{date .doc.d "qq"}}`} {
		_, err := r.RenderHTMLString(context.Background(), src, data)
		templateErr(t, err)
	}
	// A bad time zone in the settings is an error, before anything runs.
	bad := data
	bad.Settings = map[string]any{"timezone": "Not/AZone"}
	if _, err := r.RenderHTMLString(context.Background(), `x`, bad); err == nil {
		t.Error("bad timezone: nil error")
	}
	if _, err := r.RenderHTML(context.Background(), bad, ports.PrintTemplate{Source: "x"}); err == nil {
		t.Error("bad timezone (RenderHTML): nil error")
	}
}

// FormatCurrency reads "" as USD, and README shows
// {{currency .doc.total .doc.currency}}: a document whose currency field is
// empty must still print, not fail the whole render.
func TestCurrencyFilterEmptyCode(t *testing.T) {
	r := newRenderer(t, Config{})
	data := docData(map[string]any{"total": doctype.MustDecimal("5"), "currency": ""})
	for _, src := range []string{`{{currency .doc.total .doc.currency}}`, `{{.doc.total | currency .doc.currency}}`} {
		out, err := r.RenderHTMLString(context.Background(), src, data)
		if err != nil || out != "$5.00" {
			t.Errorf("%s with currency \"\" = %q, %v; want \"$5.00\" as FormatCurrency(v, \"\")", src, out, err)
		}
	}
	// An empty amount prints nothing, whichever way it is written (an
	// empty code must not make "EUR" the value).
	empty := docData(map[string]any{"amount": "", "none": nil})
	for _, src := range []string{
		`{{currency .doc.amount "EUR"}}`, `{{.doc.amount | currency "EUR"}}`,
		`{{currency .doc.none "EUR"}}`, `{{.doc.none | currency "EUR"}}`,
		`{{currency .doc.amount}}`, `{{.doc.amount | currency}}`,
	} {
		out, err := r.RenderHTMLString(context.Background(), src, empty)
		if err != nil || out != "" {
			t.Errorf("%s with an empty amount = %q, %v; want \"\"", src, out, err)
		}
	}
}

// ---------------------------------------------------------------------------
// 7. Default layout

func TestDefaultLayout(t *testing.T) {
	r := newRenderer(t, Config{})
	data := ports.PrintData{
		Doc: map[string]any{
			"name":     "INV-0001",
			"customer": "ACME <Corp>",
			"paid":     true,
			"draft":    false,
			"qty":      1234,
			"posted":   time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC),
			"items": []map[string]any{
				{"item": "Widget", "qty": 2, "rate": doctype.MustDecimal("9.50")},
				{"item": "Gadget", "qty": 1000, "rate": doctype.MustDecimal("1")},
				{"item": "Thing & Co", "qty": 3},
			},
		},
		Meta: ports.PrintMeta{Name: "Invoice", Fields: []ports.PrintField{
			{Name: "customer", Label: "Customer", Kind: "data"},
			{Name: "paid", Label: "Is Paid", Kind: "check"},
			{Name: "draft", Label: "Is Draft", Kind: "check"},
			{Name: "qty", Label: "Total Qty", Kind: "number"},
			{Name: "posted", Label: "Posted On", Kind: "date"},
			{Name: "note", Label: "Note", Kind: "data"},
			{Name: "items", Label: "Line Items", Kind: "table", Fields: []ports.PrintField{
				{Name: "item", Label: "Item", Kind: "data"},
				{Name: "qty", Label: "Qty", Kind: "number"},
				{Name: "rate", Label: "Rate", Kind: "money"},
			}},
		}},
		Settings: map[string]any{"date_format": "dd/mm/yyyy"},
	}
	got, err := r.RenderHTML(context.Background(), data, ports.PrintTemplate{})
	if err != nil {
		t.Fatal(err)
	}
	page := string(got.HTML)
	wants := []string{
		"<title>Invoice INV-0001</title>",
		"<h1>Invoice INV-0001</h1>",
		"<tr><th>Customer</th><td>ACME &lt;Corp&gt;</td></tr>",
		"<tr><th>Is Paid</th><td>Yes</td></tr>",
		"<tr><th>Is Draft</th><td>No</td></tr>",
		`<tr><th>Total Qty</th><td class="fm-num">1,234</td></tr>`,
		"<tr><th>Posted On</th><td>06/05/2024</td></tr>",
		"<tr><th>Note</th><td></td></tr>",
		"<h2>Line Items</h2>",
		`<thead><tr><th>Item</th><th class="fm-num">Qty</th><th>Rate</th></tr></thead>`,
		`<tr><td>Widget</td><td class="fm-num">2</td><td>9.50</td></tr>`,
		`<tr><td>Gadget</td><td class="fm-num">1,000</td><td>1</td></tr>`,
		`<tr><td>Thing &amp; Co</td><td class="fm-num">3</td><td></td></tr>`,
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:">`,
		`<meta charset="utf-8">`,
	}
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Errorf("page holds a <script>")
	}
	// The table: one body row per child, and it is not among the fields.
	_, tbody, _ := strings.Cut(page, "<tbody>")
	tbody, _, _ = strings.Cut(tbody, "</tbody>")
	if n := strings.Count(tbody, "<tr>"); n != 3 {
		t.Errorf("items table has %d rows, want 3: %q", n, tbody)
	}
	if strings.Contains(page, "<th>Line Items</th>") {
		t.Errorf("the table field is listed among the plain fields")
	}
	// Fields in Meta order.
	if strings.Index(page, "Customer") > strings.Index(page, "Is Paid") || strings.Index(page, "Posted On") > strings.Index(page, "Line Items") {
		t.Errorf("fields out of order")
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html><html><head>") || !strings.HasSuffix(page, "</body></html>") {
		t.Errorf("not a whole document")
	}

	// A whitespace-only Source is the default layout too; an empty table
	// has a header and no rows.
	data.Doc["items"] = nil
	got, err = r.RenderHTML(context.Background(), data, ports.PrintTemplate{Source: " \n"})
	if err != nil {
		t.Fatal(err)
	}
	_, tbody, _ = strings.Cut(string(got.HTML), "<tbody>")
	tbody, _, _ = strings.Cut(tbody, "</tbody>")
	if strings.Contains(tbody, "<tr>") || !strings.Contains(string(got.HTML), "<h2>Line Items</h2>") {
		t.Errorf("empty table: %q", tbody)
	}
}

func TestDefaultLayoutJSONAndNoName(t *testing.T) {
	r := newRenderer(t, Config{})
	data := ports.PrintData{
		Doc:  map[string]any{"attrs": map[string]any{"k": "<v>"}},
		Meta: ports.PrintMeta{Name: "Thing", Fields: []ports.PrintField{{Name: "attrs", Label: "Attrs", Kind: "json"}}},
	}
	got, err := r.RenderHTML(context.Background(), data, ports.PrintTemplate{})
	if err != nil {
		t.Fatal(err)
	}
	page := string(got.HTML)
	if !strings.Contains(page, "<title>Thing</title>") {
		t.Errorf("title without a doc name: %q", page)
	}
	if !strings.Contains(page, `<td>{&#34;k&#34;:&#34;\u003cv\u003e&#34;}</td>`) {
		t.Errorf("json field: %q", page)
	}
}

// ---------------------------------------------------------------------------
// 8. Paged or not

func TestHeaderFooter(t *testing.T) {
	r := newRenderer(t, Config{})
	data := ports.PrintData{Doc: map[string]any{"name": "INV-9"}, Meta: ports.PrintMeta{Name: "Invoice"}}
	pt := ports.PrintTemplate{
		Source:     `<p id="content">{{.doc.name}}</p>`,
		HeaderHTML: `<div id="hdr">Head {{.doc.name}}</div>`,
		FooterHTML: `<div id="ftr">Foot <span class="pageNumber"></span></div>`,
		CSS:        `p{color:red}`,
	}
	t.Run("not paged", func(t *testing.T) {
		got, err := r.RenderHTML(context.Background(), data, pt)
		if err != nil {
			t.Fatal(err)
		}
		page := string(got.HTML)
		h := strings.Index(page, `<div id="hdr">Head INV-9</div>`)
		c := strings.Index(page, `<p id="content">INV-9</p>`)
		f := strings.Index(page, `<div id="ftr">Foot`)
		if h < 0 || c < 0 || f < 0 || !(h < c && c < f) {
			t.Errorf("header %d, content %d, footer %d: want all, in that order: %q", h, c, f, page)
		}
		if !(h < strings.Index(page, "<main") && strings.Index(page, "</main>") < f) {
			t.Errorf("header/footer not around <main>: %q", page)
		}
		if len(got.Header) != 0 || len(got.Footer) != 0 {
			t.Errorf("non-paged render returned header/footer documents")
		}
		if !strings.Contains(page, "p{color:red}</style>") {
			t.Errorf("CSS missing")
		}
	})
	t.Run("paged", func(t *testing.T) {
		p := pt
		p.Paged = true
		got, err := r.RenderHTML(context.Background(), data, p)
		if err != nil {
			t.Fatal(err)
		}
		page := string(got.HTML)
		if strings.Contains(page, "hdr") || strings.Contains(page, "ftr") {
			t.Errorf("paged HTML holds the header or footer: %q", page)
		}
		if bodyOf(t, got.HTML) != `<p id="content">INV-9</p>` {
			t.Errorf("paged body = %q", bodyOf(t, got.HTML))
		}
		for name, doc := range map[string]string{"header": string(got.Header), "footer": string(got.Footer)} {
			if !strings.HasPrefix(doc, "<!DOCTYPE html><html><head>") || !strings.HasSuffix(doc, "</body></html>") {
				t.Errorf("%s is not a whole document: %q", name, doc)
			}
			if !strings.Contains(doc, "Content-Security-Policy") || !strings.Contains(doc, "p{color:red}") {
				t.Errorf("%s lacks the CSP or the format's CSS: %q", name, doc)
			}
		}
		if !strings.Contains(string(got.Header), `<div id="hdr">Head INV-9</div>`) {
			t.Errorf("header = %q", got.Header)
		}
		if !strings.Contains(string(got.Footer), `<div id="ftr">Foot <span class="pageNumber"></span></div>`) {
			t.Errorf("footer = %q", got.Footer)
		}
	})
	t.Run("paged without header or footer", func(t *testing.T) {
		got, err := r.RenderHTML(context.Background(), data, ports.PrintTemplate{Source: "x", Paged: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.Header != nil || got.Footer != nil {
			t.Errorf("Header %q, Footer %q; want none", got.Header, got.Footer)
		}
	})
	t.Run("header error names the part", func(t *testing.T) {
		_, err := r.RenderHTML(context.Background(), data, ports.PrintTemplate{Name: "Std", Source: "x", HeaderHTML: "a\n{{nope}}"})
		te := templateErr(t, err)
		if te.Template != "Std: header_html" || te.Line != 2 {
			t.Errorf("= %#v", te)
		}
	})
}

// ---------------------------------------------------------------------------
// 9. CSS stays inside <style>

func TestCSSCannotCloseStyle(t *testing.T) {
	r := newRenderer(t, Config{})
	for _, css := range []string{
		`</style><script>x</script>`,
		`</STYLE><script>x</script>`,
		`p{}</style ><img src=x onerror=alert(1)>`,
		`</ style><script>x</script>`,
	} {
		for _, paged := range []bool{false, true} {
			got, err := r.RenderHTML(context.Background(), docData(nil), ports.PrintTemplate{Source: "body", CSS: css, HeaderHTML: "h", Paged: paged})
			if err != nil {
				t.Fatal(err)
			}
			for name, doc := range map[string][]byte{"HTML": got.HTML, "Header": got.Header} {
				if len(doc) == 0 {
					continue
				}
				low := strings.ToLower(string(doc))
				if strings.Contains(low, "</style><script>") {
					t.Errorf("CSS %q closed <style> in %s: %q", css, name, doc)
				}
				if n := strings.Count(low, "</style"); n != 1 {
					t.Errorf("CSS %q: %s has %d </style, want only the page's own: %q", css, name, n, doc)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// 10. Concurrency

func TestConcurrentRendersDoNotCrossTalk(t *testing.T) {
	r := newRenderer(t, Config{})
	pt := ports.PrintTemplate{
		Name:       "Conc",
		Source:     `<h1>{{.doc.name}}</h1>{{range $i, $e := .doc.items}}[{{$i}}:{{$e.qty}}]{{end}}{{currency .doc.total .doc.cur}}`,
		HeaderHTML: `H{{.doc.name}}`,
		Paged:      true,
	}
	const goroutines, renders = 8, 50
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*renders)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range renders {
				name := fmt.Sprintf("D-%d-%d", g, i)
				items := make([]map[string]any, g+1)
				var want strings.Builder
				fmt.Fprintf(&want, "<h1>%s</h1>", name)
				for k := range items {
					items[k] = map[string]any{"qty": g*1000 + i*10 + k}
					fmt.Fprintf(&want, "[%d:%d]", k, g*1000+i*10+k)
				}
				want.WriteString(fmt.Sprintf("$%d.00", g*100+i))
				data := docData(map[string]any{"name": name, "items": items, "total": g*100 + i, "cur": "USD"})
				got, err := r.RenderHTML(context.Background(), data, pt)
				if err != nil {
					errs <- fmt.Sprintf("%s: %v", name, err)
					continue
				}
				if body := bodyOf(t, got.HTML); body != want.String() {
					errs <- fmt.Sprintf("%s: body %q, want %q", name, body, want.String())
				}
				if !strings.Contains(string(got.Header), "<body>H"+name+"</body>") {
					errs <- fmt.Sprintf("%s: header %q", name, got.Header)
				}
				out, err := r.RenderHTMLString(context.Background(), `{{.doc.name}}`, data)
				if err != nil || out != name {
					errs <- fmt.Sprintf("%s: string %q, %v", name, out, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 10 {
			t.Error(e)
		}
	}
}

func TestRunawayDoesNotDisturbConcurrentRenders(t *testing.T) {
	r := newRenderer(t, Config{Timeout: 200 * time.Millisecond, MaxSteps: 200_000})
	// The same template text is runaway for one doc and fine for others;
	// a second, different runaway template runs alongside.
	src := `{{range .doc.n}}{{end}}{{.doc.name}}`
	stop := make(chan struct{})
	var bad sync.WaitGroup
	runaways := 0
	var mu sync.Mutex
	for _, rs := range []string{src, `{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`} {
		bad.Add(1)
		go func() {
			defer bad.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_, err := r.RenderHTMLString(context.Background(), rs, docData(map[string]any{"n": 1 << 40, "name": "bad"}))
				var te *ports.TemplateError
				if !errors.As(err, &te) {
					t.Errorf("runaway: %v", err)
					return
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("runaway took %v", time.Since(start))
				}
				mu.Lock()
				runaways++
				mu.Unlock()
			}
		}()
	}
	var good sync.WaitGroup
	for g := range 4 {
		good.Add(1)
		go func() {
			defer good.Done()
			for i := range 40 {
				name := fmt.Sprintf("g%d-%d", g, i)
				out, err := r.RenderHTMLString(context.Background(), src, docData(map[string]any{"n": 100, "name": name}))
				if err != nil || out != name {
					t.Errorf("good render %s = %q, %v", name, out, err)
				}
			}
		}()
	}
	good.Wait()
	close(stop)
	bad.Wait()
	if runaways == 0 {
		t.Error("no runaway render finished while the good ones ran")
	}
}

// A "file:" template that is already cached is not read again; a cache
// eviction between that check and the cache lookup must not leave an empty
// template cached in its place.
func TestFileTemplateSurvivesCacheEviction(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.html"), "OK {{.doc.name}}")
	r := newRenderer(t, Config{TemplateDir: dir, CacheSize: 2})
	data := docData(map[string]any{"name": "n"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() { // a changing workload: the cache fills and is cleared
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = r.RenderHTMLString(context.Background(), fmt.Sprintf("x%d-%d", g, i), data)
			}
		}()
	}
	bad, first := 0, ""
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
		got, err := r.RenderHTML(context.Background(), data, ports.PrintTemplate{Source: "file:ok.html"})
		if err != nil {
			t.Fatal(err)
		}
		if body := bodyOf(t, got.HTML); body != "OK n" {
			if bad++; bad == 1 {
				first = body
			}
		}
	}
	close(stop)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d renders of file:ok.html came out as %q, not \"OK n\"", bad, first)
	}
}

// ---------------------------------------------------------------------------
// 11. Parse cache and size limit

func TestParseCache(t *testing.T) {
	r := newRenderer(t, Config{MaxTemplateSize: 1024})
	ctx := context.Background()
	bad := "a\n{{.doc.x"
	te1 := templateErr(t, r.Check(ctx, bad))
	te2 := templateErr(t, r.Check(ctx, bad))
	if *te1 != *te2 || te1.Line != 2 {
		t.Errorf("Check twice: %#v, %#v", te1, te2)
	}
	// The failed parse is cached: Check and RenderHTML with the page part
	// share it.
	_, err := r.RenderHTML(ctx, docData(nil), ports.PrintTemplate{Source: bad})
	if te := templateErr(t, err); te.Reason != te1.Reason || te.Line != te1.Line {
		t.Errorf("RenderHTML: %#v, Check: %#v", te, te1)
	}
	// Cached good templates render fresh data each time.
	for _, name := range []string{"a", "b", "c"} {
		if out := renderString(t, r, "{{.doc.name}}", docData(map[string]any{"name": name})); out != name {
			t.Errorf("= %q, want %q", out, name)
		}
	}

	long := strings.Repeat("x", 1025)
	for _, check := range []func() error{
		func() error { return r.Check(ctx, long) },
		func() error { _, err := r.RenderHTMLString(ctx, long, docData(nil)); return err },
		func() error {
			_, err := r.RenderHTML(ctx, docData(nil), ports.PrintTemplate{Source: "ok", FooterHTML: long})
			return err
		},
	} {
		if te := templateErr(t, check()); !strings.Contains(te.Reason, "longer than 1024 bytes") {
			t.Errorf("Reason = %q", te.Reason)
		}
	}
	if err := r.Check(ctx, strings.Repeat("x", 1024)); err != nil {
		t.Errorf("a template of exactly the limit: %v", err)
	}
}

func TestCacheSizeBound(t *testing.T) {
	r := newRenderer(t, Config{CacheSize: 4})
	for i := range 50 {
		src := fmt.Sprintf("t%d {{.doc.name}}", i)
		if out := renderString(t, r, src, docData(map[string]any{"name": "n"})); out != fmt.Sprintf("t%d n", i) {
			t.Fatalf("= %q", out)
		}
		r.mu.Lock()
		n := len(r.cache)
		r.mu.Unlock()
		if n > 4 {
			t.Fatalf("cache holds %d entries, bound 4", n)
		}
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Timeout != DefaultTimeout || c.MaxOutput != DefaultMaxOutput || c.MaxSteps != DefaultMaxSteps ||
		c.MaxTemplateSize != DefaultMaxTemplateSize || c.CacheSize != DefaultCacheSize {
		t.Errorf("WithDefaults = %+v", c)
	}
	for _, bad := range []Config{{Timeout: -1}, {MaxOutput: -1}, {MaxSteps: -1}, {MaxTemplateSize: -1}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v): nil error", bad)
		}
	}
}

// ---------------------------------------------------------------------------
// Nested ranges inside recursion: cut off in time, and the run must also end
// in time. A template recursing through a range builds one text/template
// walkRange frame (two recover-and-repanic defers) per level; the error that
// stops it is re-panicked at every level, which costs time quadratic in the
// depth, after the deadline has already passed.

func TestRunawayRecursionThroughRangeEndsQuickly(t *testing.T) {
	// 8,000 steps: 4,000 levels of a range and a template call. Cut off
	// by the budget long before the 2s deadline; the error then unwinds
	// through 4,000 walkRange frames (tens of seconds today).
	r := newRenderer(t, Config{Timeout: 2 * time.Second, MaxSteps: 8_000})
	src := `{{define "a"}}{{range 1}}{{template "a" $}}{{end}}{{end}}{{template "a" .}}`
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := r.RenderHTMLString(context.Background(), src, docData(nil))
		done <- err
	}()
	select {
	case err := <-done:
		te := templateErr(t, err)
		t.Logf("ended after %v: %s", time.Since(start), te.Reason)
	case <-time.After(5 * time.Second):
		// The goroutine keeps a CPU busy until the test binary exits.
		t.Errorf("%s (MaxSteps 8000, Timeout 2s) is still running after 5s", src)
	}
}

// html/template escapes a range body twice (to find the context a loop
// settles in), and each nested range again: escaping costs 2^depth. It runs
// in Check (and at a template's first render), outside the run's budget and
// deadline, so a few hundred bytes of nested ranges must be refused or
// escaped in bounded time, never hang a save or a render.
func TestDeeplyNestedRangesAreBounded(t *testing.T) {
	r := newRenderer(t, Config{Timeout: 200 * time.Millisecond})
	// Sensible nesting still works.
	ok := strings.Repeat("{{range 2}}", 6) + "x" + strings.Repeat("{{end}}", 6)
	if out := renderString(t, r, ok, docData(nil)); out != strings.Repeat("x", 64) {
		t.Errorf("6 nested ranges = %q", out)
	}
	// 24 levels, 433 bytes: about 20s of escaping today (2^24 body walks).
	src := strings.Repeat("{{range 1}}", 24) + "x" + strings.Repeat("{{end}}", 24)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- r.Check(context.Background(), src) }()
	select {
	case err := <-done:
		if err != nil {
			templateErr(t, err)
		}
		t.Logf("Check of 24 nested ranges: %v after %v", err, time.Since(start))
	case <-time.After(hangBound):
		// The goroutine keeps a CPU busy until it ends or the binary exits.
		t.Errorf("Check of %d bytes of 24 nested ranges still running after %v", len(src), hangBound)
	}
}

// ---------------------------------------------------------------------------
// Benchmark

const benchInvoiceTemplate = `<div class="inv-head">
<h1>{{.settings.app_name}} — Invoice {{.doc.name}}</h1>
<table class="fm-fields">
<tr><th>Customer</th><td>{{.doc.customer}}</td></tr>
<tr><th>Address</th><td>{{.doc.address}}</td></tr>
<tr><th>Posting Date</th><td>{{date .doc.posting_date}}</td></tr>
<tr><th>Due Date</th><td>{{date .doc.due_date}}</td></tr>
<tr><th>Currency</th><td>{{.doc.currency}}</td></tr>
</table>
</div>
<table class="fm-table items">
<thead><tr><th>#</th><th>Item</th><th>Description</th><th class="fm-num">Qty</th><th class="fm-num">Rate</th><th class="fm-num">Amount</th></tr></thead>
<tbody>
{{- range $i, $it := .doc.items}}
<tr><td>{{$i}}</td><td>{{$it.item_code}}</td><td>{{$it.description}}</td><td class="fm-num">{{number $it.qty}}</td><td class="fm-num">{{currency $it.rate $.doc.currency}}</td><td class="fm-num">{{$it.amount | currency $.doc.currency}}</td></tr>
{{- end}}
</tbody></table>
<table class="totals">
<tr><th>Net Total</th><td class="fm-num">{{currency .doc.net_total .doc.currency}}</td></tr>
<tr><th>Tax ({{.doc.tax_rate}}%)</th><td class="fm-num">{{currency .doc.tax .doc.currency}}</td></tr>
<tr><th>Grand Total</th><td class="fm-num"><strong>{{currency .doc.grand_total .doc.currency}}</strong></td></tr>
</table>
{{if eq .doc.status "Paid"}}<p class="paid">Paid — thank you.</p>{{else}}<p>Please pay by {{date .doc.due_date}}.</p>{{end}}
`

func benchInvoice() ports.PrintData {
	items := make([]map[string]any, 10)
	for i := range items {
		qty := i + 1
		items[i] = map[string]any{
			"item_code":   fmt.Sprintf("ITEM-%03d", i),
			"description": fmt.Sprintf("Widget <model %d> & accessories", i),
			"qty":         qty,
			"rate":        doctype.MustDecimal(fmt.Sprintf("%d.25", 10+i)),
			"amount":      doctype.MustDecimal(fmt.Sprintf("%d.%02d", qty*(10+i)+qty/4, (qty*25)%100)),
		}
	}
	return ports.PrintData{
		Doc: map[string]any{
			"name":         "INV-2024-0042",
			"customer":     "ACME Corporation",
			"address":      "1 Road Runner Way, Desert",
			"posting_date": time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC),
			"due_date":     "2024-03-31",
			"currency":     "EUR",
			"items":        items,
			"net_total":    doctype.MustDecimal("1234.50"),
			"tax_rate":     19,
			"tax":          doctype.MustDecimal("234.56"),
			"grand_total":  doctype.MustDecimal("1469.06"),
			"status":       "Unpaid",
		},
		Meta:     ports.PrintMeta{Name: "Invoice"},
		Settings: map[string]any{"app_name": "Framework M", "date_format": "dd.mm.yyyy", "timezone": "Europe/Berlin"},
	}
}

func TestBenchInvoiceRenders(t *testing.T) {
	r := newRenderer(t, Config{})
	got, err := r.RenderHTML(context.Background(), benchInvoice(), ports.PrintTemplate{Source: benchInvoiceTemplate, CSS: "h1{color:#123}"})
	if err != nil {
		t.Fatal(err)
	}
	body := bodyOf(t, got.HTML)
	for _, w := range []string{"Invoice INV-2024-0042", "<td>01.03.2024</td>", "<td>31.03.2024</td>", "€10.25", "€1,469.06", "<td>9</td>", "Widget &lt;model 3&gt; &amp; accessories", "Please pay by 31.03.2024."} {
		if !strings.Contains(body, w) {
			t.Errorf("invoice lacks %q", w)
		}
	}
	if n := strings.Count(body, `<td class="fm-num">€`); n != 20+2 {
		t.Errorf("%d currency cells, want 22", n)
	}
}

func BenchmarkRenderInvoice(b *testing.B) {
	r := newRenderer(b, Config{})
	data := benchInvoice()
	pt := ports.PrintTemplate{Name: "Invoice", Source: benchInvoiceTemplate, CSS: "h1{color:#123}"}
	ctx := context.Background()
	if _, err := r.RenderHTML(ctx, data, pt); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.RenderHTML(ctx, data, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRendererContract(t *testing.T) {
	printtest.RunRenderer(t, func(t *testing.T) ports.TemplateRenderer {
		r, err := New(Config{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// TestFilterOptionsMayBeEmpty: an empty currency code or date format from
// the data means the default, written either way round; internal names
// never show in errors.
func TestFilterOptionsMayBeEmpty(t *testing.T) {
	r := newRenderer(t, Config{})
	data := docData(map[string]any{"total": 5, "code": "", "d": "2026-03-01", "fmt": "", "s": "text"})
	for src, want := range map[string]string{
		`{{currency .doc.total .doc.code}}`:   "$5.00",
		`{{.doc.total | currency .doc.code}}`: "$5.00",
		`{{date .doc.d .doc.fmt}}`:            "2026-03-01",
		`{{.doc.d | date .doc.fmt}}`:          "2026-03-01",
		`{{datetime .doc.d .doc.fmt}}`:        "2026-03-01 00:00:00",
	} {
		out, err := r.RenderHTMLString(context.Background(), src, data)
		if err != nil || out != want {
			t.Errorf("%s = %q, %v; want %q", src, out, err, want)
		}
	}
	_, err := r.RenderHTMLString(context.Background(), `{{range .doc.s}}{{end}}`, data)
	te := templateErr(t, err)
	if strings.Contains(te.Reason, "_fm_") {
		t.Errorf("internal names in %q", te.Reason)
	}
}

// TestStringBuildersAreBudgeted: printf and the other string functions
// count what they build against the output limit, written or not, before
// and after they run; the sandbox's names are reserved; a template writing
// <meta http-equiv> is refused at Check and at render.
func TestStringBuildersAreBudgeted(t *testing.T) {
	r := newRenderer(t, Config{MaxOutput: 1 << 20})
	ctx := context.Background()
	for _, src := range []string{
		`{{$x := printf "%0999999d" 1}}{{$x = printf "%s%s" $x $x}}{{len $x}}`,
		`{{$x := printf "%0900000d" 1}}{{$y := print $x $x}}`,
		`{{$x := printf "%0500000d" 1}}{{$y := js $x}}`,
		`{{$x := printf "%0500000d" 1}}{{$y := urlquery $x $x $x}}`,
		`{{printf "%0999999d%0999999d" 1 2}}`,
	} {
		_, err := r.RenderHTMLString(ctx, src, docData(nil))
		if te := templateErr(t, err); !strings.Contains(te.Reason, "builds strings longer than") {
			t.Errorf("%s: %q", src, te.Reason)
		}
	}
	// What would make fmt repeat work past the format's length is refused
	// outright (found by review: %[1]*[1]d two thousand times built 2 GB).
	items := make([]any, 200)
	for i := range items {
		items[i] = map[string]any{"x": i}
	}
	for src, why := range map[string]string{
		`{{printf "%*d" 900000 1}}`:        "* widths",
		`{{printf "%[1]s%[1]s%[1]s" "x"}}`: "argument indexes",
		`{{printf "%[1]*[1]d" 999999}}`:    "argument indexes",
		`{{printf "%999999v" .doc.items}}`: "lists or maps",
		`{{printf "%.5v" .doc}}`:           "lists or maps",
		`{{printf "%5`:                     "",
	} {
		_, err := r.RenderHTMLString(ctx, src, docData(map[string]any{"items": items}))
		if err == nil || (why != "" && !strings.Contains(err.Error(), why)) {
			t.Errorf("%s: %v, want a refusal naming %q", src, err, why)
		}
	}
	if out, err := r.RenderHTMLString(ctx, `{{printf "%-6s|%6.2f|%%|%v" "ab" 3.14159 .doc.items}}`, docData(map[string]any{"items": []any{1, 2}})); err != nil || out != "ab    |  3.14|%|[1 2]" {
		t.Errorf("ordinary printf: %q, %v", out, err)
	}
	if out, err := r.RenderHTMLString(ctx, `{{printf "%05d|%s" 42 "ok"}}{{print 1 2}}`, docData(nil)); err != nil || out != "00042|ok1 2" {
		t.Errorf("small strings: %q, %v", out, err)
	}
	for _, src := range []string{`{{_fm_leave}}`, `{{if _fm_enter}}{{end}}`, `{{range _fm_iter1 .doc}}{{end}}`} {
		if te := templateErr(t, r.Check(ctx, src)); !strings.Contains(te.Reason, "not defined") {
			t.Errorf("%s: %q", src, te.Reason)
		}
	}
	for _, src := range []string{`<META HTTP-EQUIV="refresh" content="0;url=http://10.0.0.1/">`, "x\n<meta/http-equiv=refresh>",
		`<meta name=">" http-equiv="refresh" content="0;url=http://169.254.169.254/">`, `<meta charset="utf-8">`, "<meta\nhttp-equiv=refresh>"} {
		if te := templateErr(t, r.Check(ctx, src)); !strings.Contains(te.Reason, "http-equiv") {
			t.Errorf("%s: %q", src, te.Reason)
		}
	}
	// Assembled at render time: html/template escapes the "<" (and the
	// output scan would refuse it).
	out, err := r.RenderHTMLString(ctx, `<{{.doc.tag}} http-equiv="refresh">`, docData(map[string]any{"tag": "meta"}))
	if err == nil && strings.Contains(strings.ToLower(out), "<meta") {
		t.Errorf("a <meta http-equiv> assembled at render time passed: %q", out)
	}
}
