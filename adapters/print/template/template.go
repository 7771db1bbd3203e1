// Package template is the print templates' renderer (ports.TemplateRenderer)
// in Go's html/template: values are escaped for their place in the HTML, and
// a template reads only the data it is given.
//
// Rendering is sandboxed. Templates have no function that reads files, the
// network or the environment; "file:" templates are read only from under
// the configured directory (through os.Root: no "..", no symlink out). A
// runaway template is cut off: every range iteration and template call
// counts against a step budget and a deadline, and the output against a size
// limit, so `{{range 1000000000}}{{end}}` or a template calling itself ends
// in a *ports.TemplateError instead of a busy goroutine.
//
// Parsed templates are cached by their text, with a pool of instances per
// text so that concurrent renders of one format never share a budget.
package template

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Config bounds the renderer.
type Config struct {
	// TemplateDir holds the "file:" templates; "" refuses them.
	TemplateDir string
	// Timeout bounds one template's run (default 2s).
	Timeout time.Duration
	// MaxOutput bounds the bytes one template writes (default 8 MiB).
	MaxOutput int
	// MaxSteps bounds the range iterations and template calls of one run
	// (default 1,000,000).
	MaxSteps int
	// MaxTemplateSize bounds a template's text, inline or file (default 256 KiB).
	MaxTemplateSize int
	// CacheSize bounds the parsed templates kept (default 512).
	CacheSize int
}

// Defaults of Config.
const (
	DefaultTimeout         = 2 * time.Second
	DefaultMaxOutput       = 8 << 20
	DefaultMaxSteps        = 1_000_000
	DefaultMaxTemplateSize = 256 << 10
	DefaultCacheSize       = 512
)

// WithDefaults fills in the zero values.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.MaxTemplateSize == 0 {
		c.MaxTemplateSize = DefaultMaxTemplateSize
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	return c
}

// Validate reports bad bounds.
func (c Config) Validate() error {
	v := &core.ValidationError{}
	if c.Timeout < 0 {
		v.Add("render_timeout_ms", "must not be negative")
	}
	if c.MaxOutput < 0 {
		v.Add("max_output_size", "must not be negative")
	}
	if c.MaxSteps < 0 {
		v.Add("max_steps", "must not be negative")
	}
	if c.MaxTemplateSize < 0 {
		v.Add("max_template_size", "must not be negative")
	}
	return v.Err()
}

// Renderer renders print templates.
type Renderer struct {
	cfg  Config
	root *os.Root // TemplateDir; nil when there is none

	mu    sync.Mutex
	cache map[string]*entry
}

// New returns a renderer. TemplateDir, when set, must be a directory.
func New(cfg Config) (*Renderer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Renderer{cfg: cfg, cache: map[string]*entry{}}
	if cfg.TemplateDir != "" {
		root, err := os.OpenRoot(cfg.TemplateDir)
		if err != nil {
			return nil, fmt.Errorf("print template_dir: %w", err)
		}
		r.root = root
	}
	return r, nil
}

// Close releases the template directory.
func (r *Renderer) Close() error {
	if r.root != nil {
		return r.root.Close()
	}
	return nil
}

// Part names: the fields of a print format a template comes from.
const (
	partPage   = "template"
	partHeader = "header_html"
	partFooter = "footer_html"
	partString = "string"
)

// Check parses source and reports a *ports.TemplateError when it is not a
// valid template.
func (r *Renderer) Check(_ context.Context, source string) error {
	_, err := r.entry(partPage, source)
	return err
}

// RenderHTML renders data through t (the generated layout when t.Source is
// empty) into a page.
func (r *Renderer) RenderHTML(ctx context.Context, data ports.PrintData, t ports.PrintTemplate) (ports.Rendered, error) {
	loc, err := localeOf(data.Settings)
	if err != nil {
		return ports.Rendered{}, err
	}
	root := rootData(data)
	src := t.Source
	if strings.TrimSpace(src) == "" {
		src = defaultLayout
	}
	body, err := r.exec(ctx, partPage, t.Name, src, root, loc)
	if err != nil {
		return ports.Rendered{}, err
	}
	var header, footer []byte
	if t.HeaderHTML != "" {
		if header, err = r.exec(ctx, partHeader, t.Name, t.HeaderHTML, root, loc); err != nil {
			return ports.Rendered{}, err
		}
	}
	if t.FooterHTML != "" {
		if footer, err = r.exec(ctx, partFooter, t.Name, t.FooterHTML, root, loc); err != nil {
			return ports.Rendered{}, err
		}
	}
	title := titleOf(data)
	css := safeCSS(t.CSS)
	var out ports.Rendered
	if t.Paged {
		out.HTML = document(title, css, nil, body, nil)
		if len(header) > 0 {
			out.Header = marginDocument(css, header)
		}
		if len(footer) > 0 {
			out.Footer = marginDocument(css, footer)
		}
		return out, nil
	}
	out.HTML = document(title, css, header, body, footer)
	return out, nil
}

// RenderHTMLString renders source against data and returns what it writes.
func (r *Renderer) RenderHTMLString(ctx context.Context, source string, data ports.PrintData) (string, error) {
	loc, err := localeOf(data.Settings)
	if err != nil {
		return "", err
	}
	out, err := r.exec(ctx, partString, "", source, rootData(data), loc)
	return string(out), err
}

// titleOf is the page's title: "Invoice INV-0001".
func titleOf(d ports.PrintData) string {
	name, _ := d.Doc["name"].(string)
	return strings.TrimSpace(d.Meta.Name + " " + name)
}

// rootData is the template's dot: maps keyed as in JSON.
func rootData(d ports.PrintData) map[string]any {
	return map[string]any{
		"doc":          d.Doc,
		"meta":         metaMap(d.Meta),
		"print_format": d.Format,
		"settings":     d.Settings,
		"user":         d.User,
	}
}

func metaMap(m ports.PrintMeta) map[string]any {
	return map[string]any{"name": m.Name, "fields": fieldMaps(m.Fields)}
}

func fieldMaps(fs []ports.PrintField) []map[string]any {
	out := make([]map[string]any, len(fs))
	for i, f := range fs {
		out[i] = map[string]any{"name": f.Name, "label": f.Label, "kind": f.Kind, "fields": fieldMaps(f.Fields)}
	}
	return out
}

// localeOf reads the filters' locale from System Settings.
func localeOf(settings map[string]any) (Locale, error) {
	l := Locale{Location: time.UTC, DateFormat: "yyyy-mm-dd", TimeFormat: "HH:mm:ss"}
	if tz, _ := settings["timezone"].(string); tz != "" {
		loc, err := location(tz)
		if err != nil {
			return l, fmt.Errorf("system settings timezone %q: %w", tz, err)
		}
		l.Location = loc
	}
	// Formats the filters cannot read keep the defaults: a bad setting must
	// not break every print (System Settings validates them as well).
	if f, _ := settings["date_format"].(string); f != "" {
		if _, err := GoLayout(f); err == nil {
			l.DateFormat = f
		}
	}
	if f, _ := settings["time_format"].(string); f != "" {
		if _, err := GoLayout(f); err == nil {
			l.TimeFormat = f
		}
	}
	return l, nil
}

// locations caches time zones by name: time.LoadLocation reads the zone
// database on every call.
var locations sync.Map

func location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// entry is one parsed template text: its parse error, or a pool of ready
// instances.
type entry struct {
	err  error
	pool sync.Pool
}

// instance is one parsed and rewritten copy of a template with its own run
// state (the functions it calls close over it).
type instance struct {
	t  *htmltemplate.Template
	st runState
}

// runState is one run's budget.
type runState struct {
	ctx      context.Context
	deadline time.Time
	steps    int
	maxSteps int
	depth    int
	built    int // bytes the string functions (printf …) made
	out      int
	maxOut   int
	err      error // the budget error that cut the run off
	locale   Locale
}

var errStop = errors.New("template stopped")

// step counts one iteration or template call against the budget.
func (s *runState) step() error {
	if s.err != nil {
		return s.err
	}
	s.steps++
	if s.steps > s.maxSteps {
		s.err = fmt.Errorf("ran more than %d loop iterations and template calls", s.maxSteps)
		return s.err
	}
	if s.steps&255 == 0 {
		return s.check()
	}
	return nil
}

// check cuts the run off past its deadline or when its context ends.
func (s *runState) check() error {
	if s.err != nil {
		return s.err
	}
	if time.Now().After(s.deadline) {
		s.err = errors.New("ran longer than its time limit")
		return s.err
	}
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return err
	}
	return nil
}

// build runs f, a string function of the template (printf, print, js …),
// within the run's budget: est, an upper bound of its result's size, must
// fit before it runs, and what it made counts after, so that strings built
// from strings never grow past the output limit, written or not.
func (s *runState) build(est int, f func() string) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if est < 0 || s.built+est > s.maxOut {
		s.err = fmt.Errorf("builds strings longer than %d bytes", s.maxOut)
		return "", s.err
	}
	out := f()
	s.built += len(out)
	if s.built > s.maxOut {
		s.err = fmt.Errorf("builds strings longer than %d bytes", s.maxOut)
		return "", s.err
	}
	return out, nil
}

// sizeOf bounds what formatting args may write: the length of strings, a
// little for other values, and every number in format (a width such as
// %0999999d) or among args (a width given by *).
func sizeOf(format string, args []any) int {
	n := len(format)
	for _, a := range args {
		v := reflect.ValueOf(a)
		switch v.Kind() {
		case reflect.String:
			n += v.Len()
		case reflect.Slice, reflect.Array, reflect.Map:
			n += 64 * (v.Len() + 1)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			n += 32
		default:
			n += 64
		}
	}
	for i := 0; i < len(format); i++ {
		if format[i] < '0' || format[i] > '9' {
			continue
		}
		j := i
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			j++
		}
		w, err := strconv.Atoi(format[i:j])
		if err != nil || w > 1_000_000 {
			w = 1_000_000 // fmt refuses wider
		}
		n += w
		i = j
	}
	return n
}

// printfSize bounds what printf(format, args…) writes, verb by verb. It
// refuses what makes fmt repeat work beyond the format's length: argument
// indexes (%[1]s used a thousand times), widths and precisions from
// arguments (*), and widths or precisions on lists and maps (fmt pads each
// element).
func printfSize(format string, args []any) (int, error) {
	n, next := 0, 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			n++
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		num := func() int {
			v := 0
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				v = min(v*10+int(format[i]-'0'), 1_000_000) // fmt refuses more
				i++
			}
			return v
		}
		width, prec := num(), 0
		if i < len(format) && format[i] == '.' {
			i++
			prec = num()
		}
		if i >= len(format) {
			return 0, errors.New("printf: the format ends inside a verb")
		}
		switch format[i] {
		case '[', '*':
			return 0, errors.New("printf: argument indexes ([n]) and * widths are not allowed in templates")
		case '%':
			n++
			continue
		}
		if next >= len(args) {
			n += 16 // %!v(MISSING)
			continue
		}
		a := args[next]
		next++
		size := sizeOf("", []any{a})
		if width > 0 || prec > 0 {
			switch reflect.ValueOf(a).Kind() {
			case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
				return 0, errors.New("printf: widths and precisions apply to single values, not lists or maps")
			}
		}
		n += max(width, size) + prec + 32
	}
	return n + sizeOf("", args[next:]), nil // extra arguments are written too
}

// Write bounds the output.
func (s *runState) limit(w io.Writer) io.Writer { return &limitWriter{w: w, s: s} }

type limitWriter struct {
	w      io.Writer
	s      *runState
	writes int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	s := l.s
	if s.err != nil {
		return 0, s.err
	}
	s.out += len(p)
	if s.out > s.maxOut {
		s.err = fmt.Errorf("wrote more than %d bytes", s.maxOut)
		return 0, s.err
	}
	l.writes++
	if l.writes&63 == 0 {
		if err := s.check(); err != nil {
			return 0, err
		}
	}
	return l.w.Write(p)
}

// exec runs the template source (part of format) against root.
func (r *Renderer) exec(ctx context.Context, part, format, source string, root map[string]any, loc Locale) ([]byte, error) {
	e, err := r.entry(part, source)
	if err != nil {
		return nil, named(err, format)
	}
	inst, ok := e.pool.Get().(*instance)
	if !ok || inst == nil {
		return nil, named(&ports.TemplateError{Template: part, Reason: "cannot be parsed"}, format)
	}
	defer e.pool.Put(inst)
	inst.st = runState{ctx: ctx, deadline: time.Now().Add(r.cfg.Timeout), maxSteps: r.cfg.MaxSteps, maxOut: r.cfg.MaxOutput, locale: loc}
	var buf bytes.Buffer
	buf.Grow(4096)
	err = inst.t.Execute(inst.st.limit(&buf), root)
	if inst.st.err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(inst.st.err, ctxErr) {
			return nil, fmt.Errorf("render %s: %w", part, ctxErr)
		}
		return nil, named(&ports.TemplateError{Template: part, Reason: inst.st.err.Error()}, format)
	}
	if err != nil {
		return nil, named(templateError(part, err), format)
	}
	if metaEquiv.Match(buf.Bytes()) {
		return nil, named(&ports.TemplateError{Template: part, Reason: errMetaEquiv}, format)
	}
	return buf.Bytes(), nil
}

// named puts the format's name before the part's in a template error.
func named(err error, format string) error {
	var te *ports.TemplateError
	if format != "" && errors.As(err, &te) {
		c := *te
		c.Template = format + ": " + te.Template
		return &c
	}
	return err
}

// entry returns the parsed template of source, parsing it once.
func (r *Renderer) entry(part, source string) (*entry, error) {
	key, load, err := r.source(part, source)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	e, ok := r.cache[key]
	r.mu.Unlock()
	if ok {
		return e, e.err
	}
	e = &entry{}
	text, err := load()
	if err != nil {
		return nil, err // not cached: a file may be fixed
	}
	first, err := r.parse(part, text)
	if err != nil {
		e.err = err
	} else {
		e.pool.New = func() any {
			inst, err := r.parse(part, text)
			if err != nil {
				return nil
			}
			return inst
		}
		e.pool.Put(first)
	}
	r.mu.Lock()
	if len(r.cache) >= r.cfg.CacheSize {
		clear(r.cache) // formats are few; a full cache is a changing workload
	}
	if prev, ok := r.cache[key]; ok {
		e = prev
	} else {
		r.cache[key] = e
	}
	r.mu.Unlock()
	return e, e.err
}

// source returns the cache key of source and how to read its text; "file:"
// sources are files under TemplateDir, keyed by their path, size and
// modification time, so an edited file is parsed again.
func (r *Renderer) source(part, source string) (key string, load func() (string, error), err error) {
	rel, isFile := strings.CutPrefix(source, "file:")
	if !isFile {
		if len(source) > r.cfg.MaxTemplateSize {
			return "", nil, &ports.TemplateError{Template: part, Reason: fmt.Sprintf("is longer than %d bytes", r.cfg.MaxTemplateSize)}
		}
		key := part + "\x00=" + source
		if len(source) > 256 { // the parsed template keeps the text already
			sum := sha256.Sum256([]byte(source))
			key = part + "\x00#" + string(sum[:])
		}
		return key, func() (string, error) { return source, nil }, nil
	}
	rel = strings.TrimSpace(rel)
	if r.root == nil {
		return "", nil, &ports.TemplateError{Template: part, Reason: "file templates need [print] template_dir"}
	}
	if rel == "" || !filepath.IsLocal(rel) || strings.ContainsRune(rel, '\\') {
		return "", nil, &ports.TemplateError{Template: part, Reason: fmt.Sprintf("file %q is not a relative path inside the template directory", rel)}
	}
	fault := func(format string) error {
		return &ports.TemplateError{Template: part, Reason: fmt.Sprintf(format, rel)}
	}
	// Stat first: opening a FIFO (or a device) would block.
	info, err := r.root.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil, fault("file %q does not exist in the template directory")
	case err != nil:
		return "", nil, fault("file %q cannot be read")
	case !info.Mode().IsRegular():
		return "", nil, fault("file %q is not a regular file")
	case info.Size() > int64(r.cfg.MaxTemplateSize):
		return "", nil, &ports.TemplateError{Template: part, Reason: fmt.Sprintf("file %q is longer than %d bytes", rel, r.cfg.MaxTemplateSize)}
	}
	key = part + "\x00file:" + rel + "\x00" + strconv.FormatInt(info.Size(), 10) + "\x00" + strconv.FormatInt(info.ModTime().UnixNano(), 10)
	load = func() (string, error) {
		f, err := r.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return "", fault("file %q cannot be read")
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			return "", fault("file %q is not a regular file")
		}
		b, err := io.ReadAll(io.LimitReader(f, int64(r.cfg.MaxTemplateSize)+1))
		if err != nil {
			return "", fault("file %q cannot be read")
		}
		if len(b) > r.cfg.MaxTemplateSize {
			return "", &ports.TemplateError{Template: part, Reason: fmt.Sprintf("file %q is longer than %d bytes", rel, r.cfg.MaxTemplateSize)}
		}
		return string(b), nil
	}
	return key, load, nil
}

// Function names the rewrite adds to every range and template.
const (
	fnIter1 = "_fm_iter1"
	fnIter2 = "_fm_iter2"
	fnEnter = "_fm_enter"
	fnLeave = "_fm_leave"
)

// MaxDepth bounds how deeply templates call templates ({{template}}): a
// template calling itself ends there, at once, instead of after a
// hundred thousand levels whose unwinding alone takes seconds.
const MaxDepth = 64

// parse parses text into a new instance, rewrites its trees so that every
// range iterates through the budget and every template counts its calls
// and depth, and escapes it (html/template does so at the first run): a
// template that cannot be escaped ("ends in a non-text context") is refused
// here, as a syntax error is.
func (r *Renderer) parse(part, text string) (*instance, error) {
	inst := &instance{}
	t, err := htmltemplate.New(part).Funcs(inst.funcs()).Parse(text)
	if err != nil {
		return nil, templateError(part, err)
	}
	if m := metaEquiv.FindStringIndex(text); m != nil {
		return nil, &ports.TemplateError{Template: part, Line: 1 + strings.Count(text[:m[0]], "\n"), Reason: errMetaEquiv}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			if id := reservedName(tt.Tree.Root); id != nil {
				line, _ := strconv.Atoi(lineOf(tt.Tree, id))
				return nil, &ports.TemplateError{Template: part, Line: line, Reason: fmt.Sprintf("function %q not defined", id.Ident)}
			}
			if rn := tooDeep(tt.Tree.Root, 0); rn != nil {
				line, _ := strconv.Atoi(lineOf(tt.Tree, rn))
				return nil, &ports.TemplateError{Template: part, Line: line, Reason: fmt.Sprintf("nests ranges more than %d deep", MaxRangeNesting)}
			}
			rewrite(tt.Tree.Root)
			guard(tt.Tree.Root)
		}
	}
	inst.t = t
	// A run that may not take a step nor write a byte: it escapes the
	// templates and stops.
	inst.st = runState{ctx: context.Background(), deadline: time.Now().Add(time.Minute)}
	err = t.Execute(inst.st.limit(io.Discard), nil)
	var escErr *htmltemplate.Error
	if errors.As(err, &escErr) {
		return nil, templateError(part, err)
	}
	return inst, nil
}

// metaEquiv finds a <meta http-equiv> element: a refresh would make the PDF
// service's browser navigate (to an internal address, a file), which the
// page's Content-Security-Policy cannot stop.
// Every <meta> is refused, whatever its attributes hold (a ">" inside a
// quoted value ends no tag): the page's head is the framework's.
var metaEquiv = regexp.MustCompile(`(?i)<meta[\s/>]`)

const errMetaEquiv = "writes a <meta> element: the page's head is the framework's (a <meta http-equiv> refresh would send the PDF service's browser elsewhere)"

// reservedName returns the first identifier naming one of the sandbox's
// own functions (_fm_…), which templates may not call.
func reservedName(n parse.Node) *parse.IdentifierNode {
	var found *parse.IdentifierNode
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if found != nil || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.IdentifierNode:
			if strings.HasPrefix(n.Ident, "_fm_") {
				found = n
			}
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(n)
	return found
}

// MaxRangeNesting bounds ranges written one inside another: html/template
// escapes a range's body twice, so escaping costs 2^nesting.
const MaxRangeNesting = 12

// tooDeep returns the first range nested more than MaxRangeNesting deep.
func tooDeep(n parse.Node, depth int) *parse.RangeNode {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if r := tooDeep(c, depth); r != nil {
				return r
			}
		}
	case *parse.IfNode:
		if r := tooDeep(n.List, depth); r != nil {
			return r
		}
		return tooDeep(n.ElseList, depth)
	case *parse.WithNode:
		if r := tooDeep(n.List, depth); r != nil {
			return r
		}
		return tooDeep(n.ElseList, depth)
	case *parse.RangeNode:
		if depth+1 > MaxRangeNesting {
			return n
		}
		if r := tooDeep(n.List, depth+1); r != nil {
			return r
		}
		return tooDeep(n.ElseList, depth)
	}
	return nil
}

func lineOf(t *parse.Tree, n parse.Node) string {
	loc, _ := t.ErrorContext(n) // "name:line:col"
	parts := strings.Split(loc, ":")
	if len(parts) < 3 {
		return "0"
	}
	return parts[len(parts)-2]
}

// guard wraps a template's body in {{if _fm_enter}}{{end}} … {{if
// _fm_leave}}{{end}}: each run of it counts one step and one level of
// depth. (Empty ifs, so that the escaper's contexts do not change.)
func guard(root *parse.ListNode) {
	wrap := func(fn string) parse.Node {
		return &parse.IfNode{BranchNode: parse.BranchNode{NodeType: parse.NodeIf, Pos: root.Pos,
			Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Pos: root.Pos, Cmds: []*parse.CommandNode{call(fn, root.Pos)}},
			List: &parse.ListNode{NodeType: parse.NodeList, Pos: root.Pos}}}
	}
	root.Nodes = append(append([]parse.Node{wrap(fnEnter)}, root.Nodes...), wrap(fnLeave))
}

// rewrite walks a parse tree: a range's pipeline gains a last command
// (_fm_iter1 or _fm_iter2) that turns what it ranges over into a budgeted
// iterator.
func rewrite(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			rewrite(c)
		}
	case *parse.IfNode:
		rewrite(n.List)
		rewrite(n.ElseList)
	case *parse.WithNode:
		rewrite(n.List)
		rewrite(n.ElseList)
	case *parse.RangeNode:
		fn := fnIter1
		if len(n.Pipe.Decl) > 1 {
			fn = fnIter2
		}
		n.Pipe.Cmds = append(n.Pipe.Cmds, call(fn, n.Pipe.Pos))
		rewrite(n.List)
		rewrite(n.ElseList)
	}
}

func call(fn string, pos parse.Pos) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(fn).SetPos(pos)}}
}

// funcs are the template's functions, bound to the instance's run state.
func (inst *instance) funcs() htmltemplate.FuncMap {
	st := &inst.st
	return htmltemplate.FuncMap{
		fnIter1: func(v any) (iter.Seq[any], error) { return iter1(st, v) },
		fnIter2: func(v any) (iter.Seq2[any, any], error) { return iter2(st, v) },
		fnEnter: func() (bool, error) {
			st.depth++
			if st.depth > MaxDepth && st.err == nil {
				st.err = fmt.Errorf("calls templates more than %d deep", MaxDepth)
			}
			if st.depth == 1 {
				return false, st.err // the run itself: not a call
			}
			return false, st.step()
		},
		fnLeave: func() bool { st.depth--; return false },
		// text/template's string builders, within the budget.
		"printf": func(format string, args ...any) (string, error) {
			est, err := printfSize(format, args)
			if err != nil {
				return "", err
			}
			return st.build(est, func() string { return fmt.Sprintf(format, args...) })
		},
		"print": func(args ...any) (string, error) {
			return st.build(sizeOf("", args), func() string { return fmt.Sprint(args...) })
		},
		"println": func(args ...any) (string, error) {
			return st.build(sizeOf("", args)+len(args), func() string { return fmt.Sprintln(args...) })
		},
		"html": func(args ...any) (string, error) {
			return st.build(6*sizeOf("", args), func() string { return htmltemplate.HTMLEscaper(args...) })
		},
		"js": func(args ...any) (string, error) {
			return st.build(6*sizeOf("", args), func() string { return htmltemplate.JSEscaper(args...) })
		},
		"urlquery": func(args ...any) (string, error) {
			return st.build(3*sizeOf("", args), func() string { return htmltemplate.URLQueryEscaper(args...) })
		},
		"currency": func(args ...any) (string, error) {
			v, opt, err := valueFirst("currency", args, isCode)
			if err != nil {
				return "", err
			}
			if opt == nil {
				return FormatCurrency(v)
			}
			return FormatCurrency(v, opt.(string))
		},
		"number": func(v any, decimals ...int) (string, error) { return FormatNumber(v, decimals...) },
		"date": func(args ...any) (string, error) {
			v, opt, err := valueFirst("date", args, isLayout)
			if err != nil {
				return "", err
			}
			if opt == nil || opt == "" {
				return st.locale.FormatDate(v)
			}
			return st.locale.FormatDate(v, opt.(string))
		},
		"datetime": func(args ...any) (string, error) {
			v, opt, err := valueFirst("datetime", args, isLayout)
			if err != nil {
				return "", err
			}
			if opt == nil || opt == "" {
				return st.locale.FormatDatetime(v)
			}
			return st.locale.FormatDatetime(v, opt.(string))
		},
		"field": func(kind string, v any) (string, error) { return formatField(st.locale, kind, v) },
	}
}

// valueFirst reads a filter's arguments written either way: value first
// ({{currency .total "EUR"}}) or piped, value last ({{.total | currency
// "EUR"}}); isOpt tells the option (a currency code, a date format) from a
// value.
func valueFirst(name string, args []any, isOpt func(any) bool) (v, opt any, err error) {
	switch len(args) {
	case 1:
		return args[0], nil, nil
	case 2:
		a, b := args[0], args[1]
		switch {
		case isOpt(a) && !isOpt(b): // piped
			return b, a, nil
		case isOpt(b) && b != "": // value first
			return a, b, nil
		case isOpt(a) && a != "" && b == "": // piped, an empty value
			return b, a, nil
		case isOpt(b): // value first, the default option
			return a, b, nil
		}
		return nil, nil, fmt.Errorf("%s: %v is not an option of %s", name, b, name)
	}
	return nil, nil, fmt.Errorf("%s takes a value and at most one option, not %d arguments", name, len(args))
}

// isCode reports whether v reads as a currency code ("" for the default).
func isCode(v any) bool {
	s, ok := v.(string)
	if !ok || (len(s) != 3 && s != "") {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

// isLayout reports whether v reads as a date or time format ("" for the
// settings' own).
func isLayout(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if s == "" {
		return true
	}
	_, err := GoLayout(s)
	return err == nil
}

// stopped ends a range whose budget ran out: the panic carries the error
// out of the template, as text/template returns an ExecError.
func stopped(st *runState) {
	panic(texttemplate.ExecError{Name: "budget", Err: fmt.Errorf("%w: %w", errStop, st.err)})
}

// elements lists what v ranges over as (index or key, element) pairs,
// without copying: slices and arrays by index, maps in key order, integers
// as 0…n-1.
func elements(v any) (n int, at func(i int) (any, any), err error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return 0, nil, nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Invalid:
		return 0, nil, nil
	case reflect.Slice, reflect.Array:
		return rv.Len(), func(i int) (any, any) { return i, rv.Index(i).Interface() }, nil
	case reflect.Map:
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return lessKey(keys[i], keys[j]) })
		return len(keys), func(i int) (any, any) { return keys[i].Interface(), rv.MapIndex(keys[i]).Interface() }, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c := rv.Int()
		if c < 0 {
			c = 0
		}
		if c > 1<<31 {
			c = 1 << 31
		}
		return int(c), func(i int) (any, any) { return nil, i }, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c := rv.Uint()
		if c > 1<<31 {
			c = 1 << 31
		}
		return int(c), func(i int) (any, any) { return nil, i }, nil
	}
	return 0, nil, fmt.Errorf("range can't iterate over %s", rv.Type())
}

func lessKey(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.String:
		return a.String() < b.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() < b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() < b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() < b.Float()
	}
	return fmt.Sprint(a.Interface()) < fmt.Sprint(b.Interface())
}

// iter1 ranges over v's elements (a range with one variable or none).
func iter1(st *runState, v any) (iter.Seq[any], error) {
	n, at, err := elements(v)
	if err != nil {
		return nil, err
	}
	return func(yield func(any) bool) {
		for i := 0; i < n; i++ {
			if st.step() != nil {
				stopped(st)
			}
			_, e := at(i)
			if !yield(e) {
				return
			}
		}
	}, nil
}

// iter2 ranges over v's (index or key, element) pairs.
func iter2(st *runState, v any) (iter.Seq2[any, any], error) {
	n, at, err := elements(v)
	if err != nil {
		return nil, err
	}
	return func(yield func(any, any) bool) {
		for i := 0; i < n; i++ {
			if st.step() != nil {
				stopped(st)
			}
			k, e := at(i)
			if k == nil {
				k = i
			}
			if !yield(k, e) {
				return
			}
		}
	}, nil
}

// templateError turns html/template's errors ("template: NAME:LINE:COL:
// reason") into a *ports.TemplateError.
func templateError(part string, err error) error {
	var te *ports.TemplateError
	if errors.As(err, &te) {
		return te
	}
	var ee texttemplate.ExecError
	if errors.As(err, &ee) && errors.Is(ee.Err, errStop) {
		return &ports.TemplateError{Template: part, Reason: strings.TrimPrefix(ee.Err.Error(), errStop.Error()+": ")}
	}
	msg := err.Error()
	out := &ports.TemplateError{Template: part, Reason: msg}
	if m := errPos.FindStringSubmatch(msg); m != nil {
		out.Line, _ = strconv.Atoi(m[1])
		out.Reason = m[2]
	} else {
		out.Reason = strings.TrimPrefix(strings.TrimPrefix(msg, "html/template:"), "template:")
		out.Reason = strings.TrimSpace(out.Reason)
	}
	out.Reason = strings.ReplaceAll(out.Reason, "error calling "+fnIter1+": ", "")
	out.Reason = strings.ReplaceAll(out.Reason, "error calling "+fnIter2+": ", "")
	out.Reason = strings.NewReplacer("<"+fnIter1+">", "<range>", "<"+fnIter2+">", "<range>", " | "+fnIter1, "", " | "+fnIter2, "").Replace(out.Reason)
	if len(out.Reason) > 500 {
		out.Reason = out.Reason[:500] + "…"
	}
	return out
}

// errPos reads the line from "template: NAME:LINE:COL: reason" and
// "html/template:NAME:LINE:COL: reason".
var errPos = regexp.MustCompile(`^(?:html/)?template: ?[A-Za-z_]+:(\d+)(?::\d+)?: (.*)$`)

// safeCSS keeps CSS inside its <style> element: "</" cannot end it.
func safeCSS(css string) string {
	return strings.ReplaceAll(css, "</", `<\/`)
}

// pageCSP is the page's own Content Security Policy: no script, no
// request leaves it (a PDF converter's browser fetches nothing the
// template names), styles and images only inline.
const pageCSP = `default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:`

// document assembles a page.
func document(title, css string, header, body, footer []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + len(header) + len(footer) + len(css) + len(baseCSS) + 400)
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="`)
	b.WriteString(pageCSP)
	b.WriteString(`"><title>`)
	b.WriteString(html.EscapeString(title))
	b.WriteString(`</title><style>`)
	b.WriteString(baseCSS)
	b.WriteString(css)
	b.WriteString("</style></head><body>")
	if len(header) > 0 {
		b.WriteString(`<header class="fm-print-header">`)
		b.Write(header)
		b.WriteString("</header>")
	}
	b.WriteString(`<main class="fm-print">`)
	b.Write(body)
	b.WriteString("</main>")
	if len(footer) > 0 {
		b.WriteString(`<footer class="fm-print-footer">`)
		b.Write(footer)
		b.WriteString("</footer>")
	}
	b.WriteString("</body></html>")
	return b.Bytes()
}

// marginDocument is a header or footer as a PDF converter repeats it: a
// document of its own (Chromium shares no styles with the page), in a
// readable size. Chromium fills elements of the classes pageNumber,
// totalPages, date and title.
func marginDocument(css string, content []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="`)
	b.WriteString(pageCSP)
	b.WriteString(`"><style>`)
	b.WriteString(marginCSS)
	b.WriteString(css)
	b.WriteString(`</style></head><body>`)
	b.Write(content)
	b.WriteString("</body></html>")
	return b.Bytes()
}

// baseCSS styles every page, before the format's own CSS.
const baseCSS = `body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;font-size:10pt;color:#222;margin:0}` +
	`h1{font-size:16pt;margin:0 0 12pt}h2{font-size:12pt;margin:14pt 0 6pt}` +
	`table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:3pt 6pt;border-bottom:1px solid #ddd}` +
	`.fm-fields th{width:35%;color:#555;font-weight:normal}.fm-table th{background:#f3f3f3}` +
	`.fm-num{text-align:right;white-space:nowrap}`

// marginCSS styles a header or footer document.
const marginCSS = `html,body{margin:0;padding:0}body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;font-size:9pt;color:#444;width:100%;margin:0 10mm;-webkit-print-color-adjust:exact}`

// defaultLayout prints any document from its Meta: the title, every field
// in a table, and each child list as a table of its own.
const defaultLayout = `<h1>{{.meta.name}} {{.doc.name}}</h1>
<table class="fm-fields">
{{- range $f := .meta.fields}}{{if ne $f.kind "table"}}
<tr><th>{{$f.label}}</th><td{{if eq $f.kind "number"}} class="fm-num"{{end}}>{{field $f.kind (index $.doc $f.name)}}</td></tr>
{{- end}}{{end}}
</table>
{{- range $f := .meta.fields}}{{if eq $f.kind "table"}}
<h2>{{$f.label}}</h2>
<table class="fm-table"><thead><tr>{{range $c := $f.fields}}<th{{if eq $c.kind "number"}} class="fm-num"{{end}}>{{$c.label}}</th>{{end}}</tr></thead>
<tbody>
{{- range $row := index $.doc $f.name}}
<tr>{{range $c := $f.fields}}<td{{if eq $c.kind "number"}} class="fm-num"{{end}}>{{field $c.kind (index $row $c.name)}}</td>{{end}}</tr>
{{- end}}
</tbody></table>
{{- end}}{{end}}
`

// formatField shows a value of the generated layout by its kind.
func formatField(loc Locale, kind string, v any) (string, error) {
	if v == nil {
		return "", nil
	}
	switch kind {
	case "number":
		return FormatNumber(v)
	case "date":
		return loc.FormatDate(v)
	case "datetime":
		return loc.FormatDatetime(v)
	case "check":
		if b, ok := v.(bool); ok {
			if b {
				return "Yes", nil
			}
			return "No", nil
		}
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case fmt.Stringer:
		return v.String(), nil
	}
	if kind == "json" {
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("field of kind json: %w", err)
		}
		return string(b), nil
	}
	return fmt.Sprint(v), nil
}

var (
	_ ports.TemplateRenderer = (*Renderer)(nil)
	_ io.Closer              = (*Renderer)(nil)
)
