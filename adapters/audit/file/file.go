// Package file writes the audit trail as JSON Lines ([audit] backend =
// "file"): one JSON object (a ports.AuditEntry) per line, appended to one
// file, for a log shipper (Filebeat, Fluent Bit, the Splunk forwarder) to
// carry to where it is searched and kept.
//
// Each Log call encodes its entries first and then appends all their lines
// with one write under a mutex, so lines of concurrent calls are never torn
// or interleaved, and a batch is never split between two files. A write that
// fails is undone (the file is cut back to where it was), so a batch is
// stored whole or not at all and can be retried. Nothing is synced per call
// (the shipper reads from the page cache); Close syncs.
//
// The file is rotated by size: when a batch would take it past MaxSize,
// audit.jsonl becomes audit.jsonl.1 (audit.jsonl.1 becomes audit.jsonl.2 and
// so on; the file past MaxBackups is removed) and a new audit.jsonl is
// started. A batch larger than MaxSize goes whole into a file of its own.
// Configure the shipper to follow the path by name (Filebeat's filestream
// input does by default) so it finishes a rotated file before it moves on.
// One process writes one file: give every app instance a path of its own.
//
// Query reads the files back (newest data first: the current file, then
// .1, .2 …), line by line, skipping lines that do not decode (a line torn
// by a crash) and lines longer than MaxLine. It reads every line of every
// file on each call, so it is meant for small deployments and tests;
// production reads the trail where the shipper sends it.
package file

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// MaxLine is the longest line Query reads; longer lines are skipped.
const MaxLine = 1 << 20

// DefaultLimit is the page size of a Query whose AuditPage.Limit is 0 or
// less; MaxLimit is the largest page a Query returns.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// File modes of what New creates.
const (
	dirMode  os.FileMode = 0o750
	fileMode os.FileMode = 0o640
)

// Config is the [audit.file] section.
type Config struct {
	// Path is the file written. Empty in the configuration means
	// DATA_DIR/audit/audit.jsonl (the composition root fills it in); New
	// needs it set.
	Path string `toml:"path"`
	// MaxSize is the size past which the file is rotated, such as "100MB"
	// (B, KB, MB or GB; 1 KB = 1,024 bytes).
	MaxSize string `toml:"max_size"`
	// MaxBackups is how many rotated files are kept (audit.jsonl.1 …
	// audit.jsonl.N), at least 1; older ones are removed.
	MaxBackups int `toml:"max_backups"`
}

// DefaultConfig returns the documented defaults of [audit.file].
func DefaultConfig() Config { return Config{MaxSize: "100MB", MaxBackups: 10} }

// maxBackupsLimit bounds MaxBackups (every rotation renames each backup).
const maxBackupsLimit = 1000

// Validate checks the values of an [audit.file] table, selected or not; the
// fields of its *core.ValidationError are keys of the section. An empty path
// is valid: it stands for the default the composition root fills in.
func (c Config) Validate() error {
	verr := &core.ValidationError{}
	if c.Path != "" && strings.TrimSpace(c.Path) == "" {
		verr.Add("path", "must not be blank")
	}
	if n, err := config.ParseSize(c.MaxSize); err != nil {
		verr.Add("max_size", err.Error())
	} else if n <= 0 {
		verr.Add("max_size", "must be more than 0")
	}
	if c.MaxBackups < 1 || c.MaxBackups > maxBackupsLimit {
		verr.Add("max_backups", fmt.Sprintf("must be between 1 and %d, not %d", maxBackupsLimit, c.MaxBackups))
	}
	return verr.Err()
}

// Log is the JSONL implementation of ports.AuditLog. It is safe for
// concurrent use. Close it when done.
type Log struct {
	path       string
	maxSize    int64
	maxBackups int

	mu     sync.Mutex
	f      *os.File // nil after a failed rotation, until reopened
	size   int64    // bytes of f, every one of them a whole line
	closed bool
}

// New opens (creating it and its directory when missing) the file cfg names
// for appending. cfg.Path must be set; cfg must be valid (Validate).
func New(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("audit file: %w", err)
	}
	if cfg.Path == "" {
		return nil, fmt.Errorf("audit file: %w", core.Invalid("path", "is required"))
	}
	maxSize, _ := config.ParseSize(cfg.MaxSize) // checked by Validate
	l := &Log{path: filepath.Clean(cfg.Path), maxSize: maxSize, maxBackups: cfg.MaxBackups}
	if err := os.MkdirAll(filepath.Dir(l.path), dirMode); err != nil {
		return nil, fmt.Errorf("audit file: create the directory: %w", err)
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

// open opens l.path for appending and learns its size. A file that does not
// end with a newline (a crash cut its last line) gets one, so the next line
// written stands on its own.
func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("audit file: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("audit file: open: %w", err)
	}
	size := st.Size()
	if size > 0 {
		last, err := lastByte(l.path, size)
		if err == nil && last != '\n' {
			var n int
			n, err = f.Write([]byte{'\n'})
			size += int64(n)
		}
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("audit file: open: %w", err)
		}
	}
	l.f, l.size = f, size
	return nil
}

// lastByte returns the byte at size-1 of the file at path.
func lastByte(path string, size int64) (byte, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var b [1]byte
	if _, err := r.ReadAt(b[:], size-1); err != nil {
		return 0, err
	}
	return b[0], nil
}

// errClosed is returned by a Log call after Close.
var errClosed = errors.New("audit file: closed")

// Log appends one JSON line per entry, all with one write. With ctx done,
// an entry without ID or TenantID (core.ErrValidation) or one that does not
// encode as JSON, it writes nothing. Timestamps are written in UTC. An entry
// logged twice is written twice (the file is never read back to check).
func (l *Log) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for i := range entries {
		e := entries[i]
		if e.ID == "" {
			return fmt.Errorf("audit file: %w", core.Invalidf("id", "audit entry %d of %d has no id", i+1, len(entries)))
		}
		if e.TenantID == "" {
			return fmt.Errorf("audit file: %w", core.Invalidf("tenant_id", "audit entry %s has no tenant", e.ID))
		}
		e.Timestamp = e.Timestamp.UTC()
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("audit file: encode entry %s: %w", e.ID, err)
		}
		buf.Write(line) // json.Marshal escapes every newline inside strings
		buf.WriteByte('\n')
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil { // it may have ended while waiting
		return fmt.Errorf("audit file: %w", err)
	}
	if l.closed {
		return errClosed
	}
	if l.f != nil && l.size > 0 && l.size+int64(buf.Len()) > l.maxSize {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if l.f == nil { // a rotation failed after closing the file
		if err := l.open(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(buf.Bytes())
	if err != nil {
		if n > 0 { // undo the part written, so a retry leaves no torn line
			if terr := l.f.Truncate(l.size); terr != nil {
				// Reopening ends the torn line (see open) before the next write.
				err = errors.Join(err, fmt.Errorf("cut the partial write back: %w", terr))
				_ = l.f.Close()
				l.f, l.size = nil, 0
			}
		}
		return fmt.Errorf("audit file: write %d entries: %w", len(entries), err)
	}
	l.size += int64(n)
	return nil
}

// rotate syncs and closes the file, shifts the backups (the oldest past
// MaxBackups is removed) and opens a new file. Called with l.mu held.
func (l *Log) rotate() error {
	err := l.f.Sync()
	err = errors.Join(err, l.f.Close())
	l.f, l.size = nil, 0
	if err != nil {
		return fmt.Errorf("audit file: rotate: %w", err)
	}
	for i := l.maxBackups; i >= 1; i-- {
		src := l.path
		if i > 1 {
			src = backup(l.path, i-1)
		}
		if err := os.Rename(src, backup(l.path, i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit file: rotate: %w", err)
		}
	}
	l.removeExtraBackups()
	return l.open()
}

// removeExtraBackups removes backups numbered past MaxBackups (kept by a
// configuration that had more).
func (l *Log) removeExtraBackups() {
	names, err := os.ReadDir(filepath.Dir(l.path))
	if err != nil {
		return
	}
	prefix := filepath.Base(l.path) + "."
	for _, de := range names {
		n, ok := strings.CutPrefix(de.Name(), prefix)
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i > l.maxBackups && strconv.Itoa(i) == n {
			_ = os.Remove(filepath.Join(filepath.Dir(l.path), de.Name()))
		}
	}
}

// backup is the path of backup number i of path.
func backup(path string, i int) string { return path + "." + strconv.Itoa(i) }

// Close syncs and closes the file. Log fails afterwards; Query still reads.
// Closing again does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	err = errors.Join(err, l.f.Close())
	l.f = nil
	if err != nil {
		return fmt.Errorf("audit file: close: %w", err)
	}
	return nil
}

// Query reads the current file and every backup and returns the entries
// filter selects, newest first (by Timestamp, then ID, both descending); one
// page of them (Limit 0 or less means DefaultLimit, more than MaxLimit means
// MaxLimit; a negative Offset means 0) and how many match in all unless
// page.SkipTotal (then Total is -1). It holds at most Offset+Limit entries
// in memory. It reads what was written when it started: the files are
// opened under the writers' mutex, and the current file only up to the
// lines written by then.
func (l *Log) Query(ctx context.Context, filter ports.AuditFilter, page ports.AuditPage) (ports.AuditResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.AuditResult{}, fmt.Errorf("audit file: %w", err)
	}
	files, err := l.snapshot()
	if err != nil {
		return ports.AuditResult{}, err
	}
	defer func() {
		for _, f := range files {
			_ = f.f.Close()
		}
	}()
	limit, offset := page.Limit, max(page.Offset, 0)
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	best := &topK{k: offset + limit}
	var total int64
	for _, f := range files {
		err := scanLines(ctx, f.r, func(line []byte) {
			var e ports.AuditEntry
			if json.Unmarshal(line, &e) != nil || !filter.Matches(e) {
				return
			}
			total++
			best.offer(e)
		})
		if err != nil {
			return ports.AuditResult{}, fmt.Errorf("audit file: read %s: %w", f.f.Name(), err)
		}
	}
	sorted := best.sorted()
	res := ports.AuditResult{Entries: []ports.AuditEntry{}, Total: total}
	if page.SkipTotal {
		res.Total = -1
	}
	if offset < len(sorted) {
		res.Entries = sorted[offset:]
	}
	return res, nil
}

// openFile is one file Query reads, through r.
type openFile struct {
	f *os.File
	r io.Reader
}

// snapshot opens the current file (to be read up to its size now) and the
// backups, under the mutex, so no rotation moves them while they open.
func (l *Log) snapshot() ([]openFile, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var files []openFile
	fail := func(err error) ([]openFile, error) {
		for _, f := range files {
			_ = f.f.Close()
		}
		return nil, fmt.Errorf("audit file: query: %w", err)
	}
	for i := 0; i <= l.maxBackups; i++ {
		path := l.path
		if i > 0 {
			path = backup(l.path, i)
		}
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		var r io.Reader = f
		if i == 0 && l.f != nil {
			r = io.LimitReader(f, l.size)
		}
		files = append(files, openFile{f: f, r: r})
	}
	return files, nil
}

// scanLines calls fn with each line of r (without its newline), skipping
// lines longer than MaxLine, and stops with ctx's error when ctx ends.
func scanLines(ctx context.Context, r io.Reader, fn func(line []byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the reader's buffer, so far
	tooLong := false
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		chunk, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong {
				if len(long)+len(chunk) > MaxLine {
					tooLong, long = true, nil
				} else {
					long = append(long, chunk...)
				}
			}
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return err
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if !tooLong && len(line) <= MaxLine && len(bytes.TrimSpace(line)) > 0 {
			fn(line)
		}
		long, tooLong = nil, false
		if err != nil { // io.EOF
			return nil
		}
	}
}

// topK keeps the k newest entries offered: a heap whose root is the oldest
// kept.
type topK struct {
	k  int
	es []ports.AuditEntry
}

func (h *topK) Len() int           { return len(h.es) }
func (h *topK) Less(i, j int) bool { return ports.NewestFirst(h.es[i], h.es[j]) > 0 } // older first
func (h *topK) Swap(i, j int)      { h.es[i], h.es[j] = h.es[j], h.es[i] }
func (h *topK) Push(x any)         { h.es = append(h.es, x.(ports.AuditEntry)) }
func (h *topK) Pop() any {
	e := h.es[len(h.es)-1]
	h.es = h.es[:len(h.es)-1]
	return e
}

// offer keeps e if it is among the k newest so far.
func (h *topK) offer(e ports.AuditEntry) {
	switch {
	case h.k <= 0:
	case len(h.es) < h.k:
		heap.Push(h, e)
	case ports.NewestFirst(e, h.es[0]) < 0:
		h.es[0] = e
		heap.Fix(h, 0)
	}
}

// sorted returns the kept entries, newest first (emptying h).
func (h *topK) sorted() []ports.AuditEntry {
	out := make([]ports.AuditEntry, len(h.es))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(ports.AuditEntry)
	}
	return out
}

var (
	_ ports.AuditLog = (*Log)(nil)
	_ io.Closer      = (*Log)(nil)
)
