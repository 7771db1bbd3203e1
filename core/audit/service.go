// Package audit is the audit trail: every committed create, update and
// delete through the repository with its field-level diff, reads of
// DocTypes whose Meta asks for it, and the identity part's security events,
// written in batches to a ports.AuditLog off the request path.
//
// Record never blocks and never fails: entries wait in a bounded queue for
// the writer (Run), which writes them in batches, retries a failed batch
// with backoff a bounded number of times and then counts its entries as
// lost, in a log line carrying the count — never silently. An entry that
// finds the queue full is dropped and counted the same way. Close (the
// app's shutdown) writes everything still queued.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Options tune the writer.
type Options struct {
	// QueueSize bounds the entries waiting to be written (default 10,000).
	QueueSize int
	// BatchSize is the most entries one Log call carries (default 500).
	BatchSize int
	// FlushInterval is the longest an entry waits for its batch to fill
	// (default 200 ms).
	FlushInterval time.Duration
	// MaxRetries is how often a failed batch is tried again (default 0:
	// none; the composition root sets [audit] max_retries).
	MaxRetries int
	// Backoff is the wait before the first retry, doubled each time up to
	// 5 s (default 100 ms).
	Backoff time.Duration
	// ShutdownTimeout bounds how long Close may spend writing what is left
	// (default 10 s), once the write under way when the app began stopping
	// has returned: that one is finished, not abandoned, so a log whose
	// calls can hang should bound them itself (the database's statement
	// timeout, the HTTP client's).
	ShutdownTimeout time.Duration
	// Logger receives the counts of lost entries (default slog.Default()).
	Logger *slog.Logger
	// Now stamps entries (default time.Now).
	Now func() time.Time
	// AfterCommit, when set, holds back what Record is given inside a
	// transaction until it commits (and drops it when it rolls back):
	// ports.Repository.AfterCommit.
	AfterCommit func(ctx context.Context, fn func(ctx context.Context))
	// Meter receives fm_audit_entries_written_total,
	// fm_audit_entries_dropped_total{reason} (what Stats counts as dropped
	// and lost) and fm_audit_queue_depth (nil: none).
	Meter ports.Meter
}

func (o *Options) defaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 10_000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 200 * time.Millisecond
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stats counts what became of recorded entries.
type Stats struct {
	// Written entries were stored by the log.
	Written int64
	// Dropped entries found the queue full, or came after Close.
	Dropped int64
	// Lost entries were in batches the log refused every time they were tried.
	Lost int64
}

// Service records audit entries and writes them to a ports.AuditLog.
//
// Recorded entries wait in a slice under a mutex, not in a channel: a
// channel send wakes the writer for every entry, which on a busy machine
// costs each audited request a thread wake-up. The writer is woken only
// when the slice stops being empty (to start the flush interval) and when
// it holds a whole batch.
type Service struct {
	sink ports.AuditLog
	reg  *doctype.Registry
	opts Options

	mu      sync.Mutex         // guards pending, held and closed
	pending []ports.AuditEntry // recorded, not yet taken by the writer
	held    int                // taken by the writer, not yet written: with pending, at most QueueSize
	closed  bool               // entries are dropped from now on
	spare   []ports.AuditEntry // the writer's: the other buffer, swapped with pending
	kick    chan struct{}      // one token: the writer has entries to look at
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	running atomic.Bool // the writer (Run, or Close when Run never ran) has started
	once    sync.Once

	written, dropped, lost atomic.Int64
	lastDropLog            atomic.Int64 // unix nanos of the last "dropped" log line
	metrics                metrics
}

// New returns a Service writing to sink; reg describes the DocTypes whose
// changes it audits (Subscribe). Start its writer with Run.
func New(sink ports.AuditLog, reg *doctype.Registry, opts Options) *Service {
	opts.defaults()
	return &Service{
		sink:    sink,
		reg:     reg,
		opts:    opts,
		kick:    make(chan struct{}, 1),
		flushes: make(chan chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		metrics: newMetrics(opts.Meter),
	}
}

// Log is the ports.AuditLog the entries go to (for queries).
func (s *Service) Log() ports.AuditLog { return s.sink }

// Stats returns the counts so far.
func (s *Service) Stats() Stats {
	return Stats{Written: s.written.Load(), Dropped: s.dropped.Load(), Lost: s.lost.Load()}
}

// Record queues entries, filling what they leave empty from ctx: ID,
// Timestamp, TenantID, UserID (the principal) and the request's id, address
// and user agent in Metadata. It never blocks: an entry that finds the
// queue full is dropped and counted.
func (s *Service) Record(ctx context.Context, entries ...ports.AuditEntry) {
	filled := make([]ports.AuditEntry, len(entries))
	for i, e := range entries {
		s.fill(ctx, &e)
		filled[i] = e
	}
	if s.opts.AfterCommit != nil {
		s.opts.AfterCommit(ctx, func(context.Context) { s.enqueue(filled) })
		return
	}
	s.enqueue(filled)
}

// enqueue queues entries without waiting. An entry without a tenant (a
// Record outside any tenant) is dropped and counted: no backend could
// store it, and it would fail its whole batch.
func (s *Service) enqueue(entries []ports.AuditEntry) {
	var closed, noTenant, full int64
	s.mu.Lock()
	was := len(s.pending)
	for _, e := range entries {
		switch {
		case s.closed:
			closed++
		case e.TenantID == "":
			noTenant++
		case len(s.pending)+s.held >= s.opts.QueueSize:
			full++
		default:
			s.pending = append(s.pending, e)
		}
	}
	n := len(s.pending)
	s.setDepth()
	s.mu.Unlock()
	if (was == 0 && n > 0) || (was < s.opts.BatchSize && n >= s.opts.BatchSize) {
		select { // wake the writer: a first entry to time, or a whole batch
		case s.kick <- struct{}{}:
		default:
		}
	}
	if closed > 0 {
		s.drop(closed, dropClosed, "the audit trail is closed")
	}
	if noTenant > 0 {
		s.drop(noTenant, dropNoTenant, "an audit entry without a tenant")
	}
	if full > 0 {
		s.drop(full, dropQueueFull, "the audit queue is full")
	}
}

// fill completes e from ctx.
func (s *Service) fill(ctx context.Context, e *ports.AuditEntry) {
	if e.ID == "" {
		e.ID = doctype.NewUUIDv7()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = s.opts.Now()
	}
	e.Timestamp = e.Timestamp.UTC()
	if e.TenantID == "" {
		e.TenantID = ports.TenantIDFrom(ctx)
	}
	if e.UserID == "" {
		if u := ports.UserFrom(ctx); u != nil {
			e.UserID = u.ID
		}
	}
	ri := ports.RequestInfoFrom(ctx)
	if ri == (ports.RequestInfo{}) {
		return
	}
	md := make(map[string]any, len(e.Metadata)+3)
	for k, v := range e.Metadata {
		md[k] = v
	}
	for k, v := range map[string]string{"request_id": ri.ID, "ip": ri.ClientIP, "user_agent": ri.UserAgent} {
		if _, set := md[k]; !set && v != "" {
			md[k] = v
		}
	}
	e.Metadata = md
}

// drop counts n entries dropped for reason (a metric label) and says so,
// why, at most once every 10 s.
func (s *Service) drop(n int64, reason, why string) {
	total := s.dropped.Add(n)
	s.metrics.dropped.Add(float64(n), reason)
	now := time.Now().UnixNano()
	last := s.lastDropLog.Load()
	if now-last >= int64(10*time.Second) && s.lastDropLog.CompareAndSwap(last, now) {
		s.opts.Logger.Error("audit entries dropped", "reason", why, "dropped_total", total)
	}
}

// Run writes queued entries in batches until ctx ends or Close is called,
// then writes what is left (within Options.ShutdownTimeout) and returns.
// ctx only says when to stop: a write under way when it ends is finished,
// not abandoned.
func (s *Service) Run(ctx context.Context) {
	if !s.running.CompareAndSwap(false, true) {
		return
	}
	defer close(s.done)
	quit := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { s.once.Do(func() { close(s.stop) }) })
	defer stop()
	go func() { <-s.stop; close(quit) }()
	wctx := context.WithoutCancel(ctx)
	timer := time.NewTimer(s.opts.FlushInterval)
	timer.Stop()
	armed := false // the timer runs for the oldest entry waiting
	for {
		if stopping(quit) {
			s.finish(quit)
			return
		}
		select {
		case <-s.kick:
			s.mu.Lock()
			n := len(s.pending)
			s.mu.Unlock()
			switch {
			case n >= s.opts.BatchSize:
				s.drain(wctx, quit, false)
				timer.Stop()
				armed = false
			case n > 0 && !armed:
				timer.Reset(s.opts.FlushInterval)
				armed = true
			}
		case <-timer.C:
			armed = false
			s.drain(wctx, quit, false)
		case reply := <-s.flushes:
			timer.Stop()
			armed = false
			s.drain(wctx, quit, false)
			if stopping(quit) { // what the drain left is written first
				s.finish(quit)
				close(reply)
				return
			}
			close(reply)
		case <-quit:
			s.finish(quit)
			return
		}
	}
}

// drain writes what is pending, in batches of Options.BatchSize: one
// round, what is pending when it starts (entries recorded meanwhile kicked
// the writer, or wait for Flush), or with all every round until nothing is
// left (finish: nothing new comes once the trail is closed). When the app
// starts stopping (quit) between two batches of a round that is not all,
// the rest goes back to the front of pending and drain returns: finish
// writes it, within Options.ShutdownTimeout.
func (s *Service) drain(ctx context.Context, quit <-chan struct{}, all bool) {
	for {
		s.mu.Lock()
		taken := s.pending
		s.pending = s.spare[:0]
		s.held = len(taken)
		s.setDepth()
		s.mu.Unlock()
		if len(taken) == 0 {
			s.spare = taken
			return
		}
		for i := 0; i < len(taken); i += s.opts.BatchSize {
			batch := taken[i:min(i+s.opts.BatchSize, len(taken))]
			if (!all && stopping(quit)) || !s.write(ctx, batch, quit, !all) {
				s.mu.Lock() // the app is stopping: the rest is finish's
				s.pending = append(slices.Clone(taken[i:]), s.pending...)
				s.held = 0
				s.setDepth()
				s.mu.Unlock()
				return
			}
			s.mu.Lock()
			s.held -= len(batch)
			s.setDepth()
			s.mu.Unlock()
		}
		clear(taken) // let go of the entries' maps
		s.spare = taken[:0]
		if !all {
			return
		}
	}
}

// setDepth sets the queue-depth gauge to what counts against QueueSize;
// s.mu is held.
func (s *Service) setDepth() { s.metrics.depth.Set(float64(len(s.pending) + s.held)) }

// stopping reports whether quit is closed.
func stopping(quit <-chan struct{}) bool {
	select {
	case <-quit:
		return true
	default:
		return false
	}
}

// finish closes the trail to new entries and writes what is pending,
// within Options.ShutdownTimeout.
func (s *Service) finish(quit <-chan struct{}) {
	s.mu.Lock() // no enqueue is half way: what is pending now is all
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	s.drain(ctx, quit, true)
}

// write logs batch, retrying with backoff; a batch refused every time is
// counted as lost, with a log line, and write reports true. Once quit is
// closed (the app is stopping) a failed batch is not retried here when
// yield is set: write reports false, and the caller leaves the batch to
// finish, whose retries (without waiting) end with ShutdownTimeout. The
// attempt under way when quit closes is finished, not abandoned.
func (s *Service) write(ctx context.Context, batch []ports.AuditEntry, quit <-chan struct{}, yield bool) bool {
	wait := s.opts.Backoff
	var err error
	for attempt := 0; attempt <= s.opts.MaxRetries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-quit:
				t.Stop()
				if yield {
					return false
				}
			case <-ctx.Done():
				t.Stop()
			}
			wait = min(2*wait, 5*time.Second)
		}
		if ctx.Err() != nil {
			break
		}
		if err = s.sink.Log(ctx, batch...); err == nil {
			s.written.Add(int64(len(batch)))
			s.metrics.written.Add(float64(len(batch)))
			return true
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	total := s.lost.Add(int64(len(batch)))
	s.metrics.dropped.Add(float64(len(batch)), dropWriteFailed)
	s.opts.Logger.Error("audit entries lost: the audit log refused them", "entries", len(batch),
		"attempts", s.opts.MaxRetries+1, "lost_total", total, "err", err)
	return true
}

// Flush waits until every entry recorded before it has been written (or
// counted as lost), or until ctx ends; once the writer has stopped it
// returns at once. It waits for a writer that has not started yet (Run).
func (s *Service) Flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case s.flushes <- reply:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the writer after it has written everything queued, and waits
// for it; when Run never ran (a command-line tool that builds the app
// without starting it), Close writes what was recorded itself. Entries
// recorded afterwards are dropped and counted.
func (s *Service) Close() error {
	s.once.Do(func() { close(s.stop) })
	if s.running.CompareAndSwap(false, true) {
		closed := make(chan struct{})
		close(closed)
		s.finish(closed)
		close(s.done)
		return nil
	}
	<-s.done
	return nil
}

// Query returns the entries of the log that filter selects.
func (s *Service) Query(ctx context.Context, filter ports.AuditFilter, page ports.AuditPage) (ports.AuditResult, error) {
	res, err := s.sink.Query(ctx, filter, page)
	if err != nil {
		return ports.AuditResult{}, fmt.Errorf("query the audit log: %w", err)
	}
	return res, nil
}

// Subscribe audits every committed change of a DocType that is not
// NotAudited, through feed.
func (s *Service) Subscribe(feed ports.ChangeFeed) {
	feed.Subscribe(ports.AllDocTypes, s.onChange)
}

// onChange records one committed change, with its diff.
func (s *Service) onChange(ctx context.Context, ev ports.ChangeEvent) {
	dt, ok := s.reg.Get(ev.DocType)
	if !ok || dt.NotAudited || (dt.IsSingle && ev.Action == ports.ActionCreate) {
		return // a single's creation only stores its defaults, on first read
	}
	action := ports.AuditUpdate
	switch ev.Action {
	case ports.ActionCreate:
		action = ports.AuditCreate
	case ports.ActionDelete:
		action = ports.AuditDelete
	}
	e := ports.AuditEntry{
		Timestamp:  ev.At,
		TenantID:   ev.TenantID,
		Action:     action,
		DocType:    dt.Name,
		DocumentID: ev.Name,
		Changes:    Changes(dt, ev.Before, ev.After),
	}
	if ev.Principal != nil {
		e.UserID = ev.Principal.ID
	}
	if action == ports.AuditUpdate && len(e.Changes) == 0 {
		return // a save that changed nothing a reader would see
	}
	s.Record(ctx, e)
}

// Changes is the field-level diff of a write of a document of dt (before
// nil for a create, after nil for a delete): {field: [old, new]}. Hidden
// fields are masked (ports.AuditMasked); values that are not plain (lists,
// maps, structs other than times) are copied as JSON, so the entry never
// shares memory with the document.
func Changes(dt *doctype.DocType, before, after any) map[string][2]any {
	diff := dt.Diff(before, after)
	if len(diff) == 0 {
		return nil
	}
	out := make(map[string][2]any, len(diff))
	for _, c := range diff {
		if c.Field.Hidden {
			out[c.Field.Name] = [2]any{mask(c.Old), mask(c.New)}
			continue
		}
		out[c.Field.Name] = [2]any{plain(c.Old), plain(c.New)}
	}
	return out
}

func mask(v any) any {
	if v == nil {
		return nil
	}
	return ports.AuditMasked
}

var timeType = reflect.TypeFor[time.Time]()

// plain returns v if it is a scalar or a time, else its JSON.
func plain(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return v
	}
	if rv.Type() == timeType {
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return json.RawMessage(b)
}
