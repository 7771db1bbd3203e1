package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/audit"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// sink is a ports.AuditLog that keeps batches, and fails while failing is set.
type sink struct {
	mu      sync.Mutex
	batches [][]ports.AuditEntry
	failing int // calls left to fail; -1: fail forever
	calls   int
	block   chan struct{} // when set, Log waits for it
}

func (s *sink) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failing != 0 {
		if s.failing > 0 {
			s.failing--
		}
		return errors.New("sink down")
	}
	s.batches = append(s.batches, append([]ports.AuditEntry(nil), entries...))
	return nil
}

func (s *sink) Query(context.Context, ports.AuditFilter, ports.AuditPage) (ports.AuditResult, error) {
	return ports.AuditResult{}, ports.ErrAuditNotQueryable
}

func (s *sink) entries() []ports.AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ports.AuditEntry
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

func start(t *testing.T, s *sink, opts audit.Options) (*audit.Service, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	var mu sync.Mutex
	opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	svc := audit.New(s, doctype.NewRegistry(), opts)
	go svc.Run(context.Background())
	t.Cleanup(func() { _ = svc.Close() })
	return svc, &logs
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

var ctx = ports.WithRequestInfo(
	ports.WithUser(ports.WithTenantID(context.Background(), "acme"), &ports.UserContext{ID: "ann"}),
	ports.RequestInfo{ID: "req-1", ClientIP: "10.0.0.7", UserAgent: "curl/8"})

// TestRecordFillsFromTheContextAndBatches: entries get an id, a time, the
// tenant, the principal and the request's metadata, and reach the log in
// batches of at most BatchSize.
func TestRecordFillsFromTheContextAndBatches(t *testing.T) {
	s := &sink{}
	svc, _ := start(t, s, audit.Options{BatchSize: 10, FlushInterval: time.Hour})
	for range 25 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin, Metadata: map[string]any{"method": "password"}})
	}
	require.NoError(t, svc.Flush(context.Background()))
	got := s.entries()
	require.Len(t, got, 25)
	ids := map[string]bool{}
	for _, e := range got {
		ids[e.ID] = true
		assert.Equal(t, "acme", e.TenantID)
		assert.Equal(t, "ann", e.UserID)
		assert.False(t, e.Timestamp.IsZero())
		assert.Equal(t, time.UTC, e.Timestamp.Location())
		assert.Equal(t, map[string]any{"method": "password", "request_id": "req-1", "ip": "10.0.0.7", "user_agent": "curl/8"}, e.Metadata)
	}
	assert.Len(t, ids, 25, "ids are unique")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.batches {
		assert.LessOrEqual(t, len(b), 10)
	}
	assert.Equal(t, int64(25), svc.Stats().Written)
}

// TestWholeBatchIsWrittenAtOnce: a batch that fills is written without
// waiting for the flush interval, nor for Flush.
func TestWholeBatchIsWrittenAtOnce(t *testing.T) {
	s := &sink{}
	svc, _ := start(t, s, audit.Options{BatchSize: 10, FlushInterval: time.Hour})
	for range 9 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	time.Sleep(20 * time.Millisecond)
	assert.Empty(t, s.entries(), "a partial batch waits for the interval")
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogin})
	require.Eventually(t, func() bool { return len(s.entries()) == 11 }, 5*time.Second, 5*time.Millisecond,
		"the whole batch, and what came with it")
}

// TestEntriesRecordedDuringAWriteAreWritten: entries recorded while the
// writer is busy with a batch are written after it, within the flush
// interval, without Flush: none is stranded.
func TestEntriesRecordedDuringAWriteAreWritten(t *testing.T) {
	s := &ctxSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{BatchSize: 5, FlushInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	go svc.Run(context.Background())
	t.Cleanup(func() { _ = svc.Close() })
	for range 5 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	<-s.entered // the writer is busy with the first batch
	for range 3 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogout})
	}
	close(s.release)
	require.Eventually(t, func() bool { return len(s.entries()) == 8 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, audit.Stats{Written: 8}, svc.Stats())
}

// TestFlushIntervalWritesAPartialBatch: a lone entry is written within the
// flush interval, without Flush.
func TestFlushIntervalWritesAPartialBatch(t *testing.T) {
	s := &sink{}
	svc, _ := start(t, s, audit.Options{BatchSize: 100, FlushInterval: 20 * time.Millisecond})
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogout})
	require.Eventually(t, func() bool { return len(s.entries()) == 1 }, 5*time.Second, 5*time.Millisecond)
}

// TestBriefOutageIsRetried: a log that fails twice gets the batch on the
// third try; nothing is lost.
func TestBriefOutageIsRetried(t *testing.T) {
	s := &sink{failing: 2}
	svc, logs := start(t, s, audit.Options{MaxRetries: 3, Backoff: time.Millisecond})
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogout})
	require.NoError(t, svc.Flush(context.Background()))
	assert.Len(t, s.entries(), 2)
	assert.Equal(t, audit.Stats{Written: 2}, svc.Stats())
	assert.NotContains(t, logs.String(), "lost")
}

// TestLongOutageCountsTheLoss: a batch refused on every try is counted as
// lost, in a log line with the count; later batches go through.
func TestLongOutageCountsTheLoss(t *testing.T) {
	s := &sink{failing: 3}
	svc, logs := start(t, s, audit.Options{MaxRetries: 2, Backoff: time.Millisecond})
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogin}, ports.AuditEntry{Action: ports.AuditLogin})
	require.NoError(t, svc.Flush(context.Background()))
	assert.Equal(t, int64(3), svc.Stats().Lost)
	assert.Equal(t, 3, s.calls, "one try and two retries")
	assert.Contains(t, logs.String(), "audit entries lost")
	assert.Contains(t, logs.String(), "lost_total=3")
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogout})
	require.NoError(t, svc.Flush(context.Background()))
	assert.Len(t, s.entries(), 1)
}

// TestFullQueueDropsWithoutBlocking: while the log hangs, Record returns at
// once; what does not fit in the queue is dropped and counted in the log.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	s := &sink{block: make(chan struct{})}
	svc, logs := start(t, s, audit.Options{QueueSize: 10, BatchSize: 1, FlushInterval: time.Millisecond})
	t0 := time.Now()
	for range 100 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	assert.Less(t, time.Since(t0), 2*time.Second, "Record never waits for the log")
	close(s.block)
	require.NoError(t, svc.Flush(context.Background()))
	st := svc.Stats()
	assert.Equal(t, int64(100), st.Written+st.Dropped, "%+v", st)
	assert.GreaterOrEqual(t, st.Dropped, int64(100-12), "%+v", st)
	assert.Contains(t, logs.String(), "audit entries dropped")
}

// TestCloseWritesEverythingQueued: Close writes what waits, however much,
// and entries recorded afterwards are dropped and counted.
func TestCloseWritesEverythingQueued(t *testing.T) {
	s := &sink{}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{QueueSize: 5000, BatchSize: 100, FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	for range 4321 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	cancel() // the app shuts down
	<-done
	require.NoError(t, svc.Close())
	assert.Len(t, s.entries(), 4321)
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogout})
	assert.Equal(t, int64(1), svc.Stats().Dropped)
}

// TestRecordWaitsForTheCommit: with AfterCommit, an entry recorded in a
// transaction is queued when it commits, and never when it rolls back.
func TestRecordWaitsForTheCommit(t *testing.T) {
	s := &sink{}
	var pending []func(context.Context)
	svc, _ := start(t, s, audit.Options{AfterCommit: func(_ context.Context, fn func(context.Context)) { pending = append(pending, fn) }})
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditAccountErase})
	require.NoError(t, svc.Flush(context.Background()))
	assert.Empty(t, s.entries(), "not before the commit")
	pending[0](context.Background()) // the commit
	require.NoError(t, svc.Flush(context.Background()))
	assert.Len(t, s.entries(), 1)
}

type Invoice struct {
	doctype.Base
	Customer string             `json:"customer"`
	Amount   doctype.Decimal    `json:"amount"`
	Tags     doctype.StringList `json:"tags"`
	Secret   string             `json:"secret"`
	Due      time.Time          `json:"due"`
	Token    string             `json:"-"`
}

// TestChangesDiffMasksAndCopies: the diff holds the changed fields only,
// Base's bookkeeping left out; hidden fields are masked; lists are copied
// (as JSON), so that a later change of the document cannot reach the entry.
func TestChangesDiffMasksAndCopies(t *testing.T) {
	reg := doctype.NewRegistry()
	dt := doctype.MustRegister[Invoice](reg, doctype.Meta{Name: "Invoice", Hidden: []string{"secret"}})
	due := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	before := &Invoice{Customer: "Acme", Amount: doctype.MustDecimal("10.00"), Tags: doctype.StringList{"a"}, Secret: "s1", Due: due, Token: "t1"}
	before.Name, before.Version, before.ModifiedAt = "INV-1", 1, time.Now()
	after := *before
	after.Tags = doctype.StringList{"a", "b"}
	after.Amount = doctype.MustDecimal("12.50")
	after.Secret, after.Token = "s2", "t2"
	after.Due = due.In(time.FixedZone("X", 3600)) // the same instant
	after.Version, after.ModifiedAt = 2, time.Now().Add(time.Second)

	ch := audit.Changes(dt, before, &after)
	after.Tags[0] = "changed later"
	raw, err := json.Marshal(ch)
	require.NoError(t, err)
	assert.JSONEq(t, `{"amount":["10.00","12.50"],"tags":[["a"],["a","b"]],"secret":["***","***"],"token":["***","***"]}`,
		string(raw), "the json:\"-\" field is hidden too: %s", raw)

	created := audit.Changes(dt, nil, before)
	assert.Equal(t, [2]any{nil, "Acme"}, created["customer"])
	assert.NotContains(t, created, "version")
	assert.NotContains(t, created, "name")
	deleted := audit.Changes(dt, before, nil)
	assert.Equal(t, [2]any{"Acme", nil}, deleted["customer"])
	assert.Equal(t, [2]any{ports.AuditMasked, nil}, deleted["secret"])
	assert.Nil(t, audit.Changes(dt, before, before), "no change, no diff")
}

// ctxSink is a log whose Log waits for release and fails when its context
// has ended: a database whose driver gives up on a canceled context.
type ctxSink struct {
	sink
	entered chan struct{}
	release chan struct{}
}

func (c *ctxSink) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.release
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.sink.Log(ctx, entries...)
}

// TestShutdownFinishesTheWriteUnderWay: the app's context ending while a
// batch is being written does not lose it, nor what is queued behind it.
func TestShutdownFinishesTheWriteUnderWay(t *testing.T) {
	s := &ctxSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{BatchSize: 100, FlushInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	for range 300 {
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	<-s.entered // a batch is being written
	cancel()    // the app shuts down
	close(s.release)
	<-done
	assert.Equal(t, audit.Stats{Written: 300}, svc.Stats())
	assert.Len(t, s.entries(), 300)
}

// TestCloseWithoutRunWritesWhatWasRecorded: a command-line tool builds the
// app without starting it; what it records is written when it closes.
func TestCloseWithoutRunWritesWhatWasRecorded(t *testing.T) {
	s := &sink{}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{Logger: slog.New(slog.DiscardHandler)})
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditPasswordChange})
	require.NoError(t, svc.Close())
	assert.Len(t, s.entries(), 1)
	require.NoError(t, svc.Flush(context.Background()), "Flush after Close returns at once")
}

// TestEntryWithoutTenantIsDroppedAlone: an entry recorded outside any tenant
// is counted as dropped; the others of its batch are written.
func TestEntryWithoutTenantIsDroppedAlone(t *testing.T) {
	s := &sink{}
	svc, logs := start(t, s, audit.Options{})
	svc.Record(context.Background(), ports.AuditEntry{Action: ports.AuditLogin})
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	require.NoError(t, svc.Flush(context.Background()))
	assert.Len(t, s.entries(), 1)
	assert.Equal(t, int64(1), svc.Stats().Dropped)
	assert.Contains(t, logs.String(), "without a tenant")
}

// slowSink takes d per Log call, and gives up when its context ends.
type slowSink struct {
	sink
	d time.Duration
}

func (s *slowSink) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.sink.Log(ctx, entries...)
}

// TestShutdownIsBoundedDuringALongRound: the app stopping while the writer
// is half way through a round of many batches finishes the batch under way,
// and then has ShutdownTimeout for the rest, whatever keeps arriving: what
// it cannot write in time is counted as lost, not waited for.
func TestShutdownIsBoundedDuringALongRound(t *testing.T) {
	s := &slowSink{d: 20 * time.Millisecond}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{BatchSize: 1, FlushInterval: time.Hour,
		ShutdownTimeout: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	for range 100 { // a whole batch: one round of 100 batches, 2 s of writing
		svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	}
	stopRecording := make(chan struct{})
	recorded := make(chan int)
	go func() { // and a steady stream on top
		n := 0
		defer func() { recorded <- n }()
		for {
			select {
			case <-stopRecording:
				return
			case <-time.After(2 * time.Millisecond):
				svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogout})
				n++
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	cancel() // the app shuts down
	select {
	case <-done:
	case <-time.After(1500 * time.Millisecond):
		t.Fatalf("the writer still runs 1.5 s after shutdown began (ShutdownTimeout 100 ms): %+v", svc.Stats())
	}
	close(stopRecording)
	n := <-recorded
	st := svc.Stats()
	assert.Positive(t, st.Lost, "what did not fit in the time is counted as lost")
	assert.Equal(t, int64(100+n), st.Written+st.Lost+st.Dropped, "every entry is written or counted: %+v", st)
}

// slowFailSink refuses every batch after d (or when its context ends).
type slowFailSink struct {
	sink
	d     time.Duration
	calls atomic.Int32
}

func (s *slowFailSink) Log(ctx context.Context, _ ...ports.AuditEntry) error {
	s.calls.Add(1)
	select {
	case <-time.After(s.d):
		return errors.New("connect timeout")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestShutdownStopsRetrying: a batch waiting for its next try when the app
// stops is not tried again without a deadline: its tries end with
// ShutdownTimeout, and it is counted as lost.
func TestShutdownStopsRetrying(t *testing.T) {
	s := &slowFailSink{d: 200 * time.Millisecond}
	svc := audit.New(s, doctype.NewRegistry(), audit.Options{BatchSize: 1, FlushInterval: time.Hour,
		MaxRetries: 10, Backoff: time.Hour, ShutdownTimeout: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	svc.Record(ctx, ports.AuditEntry{Action: ports.AuditLogin})
	require.Eventually(t, func() bool { return s.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(250 * time.Millisecond) // the first try failed: the writer waits an hour for the next
	cancel()
	select {
	case <-done:
	case <-time.After(1500 * time.Millisecond):
		t.Fatalf("the writer still runs 1.5 s after shutdown began (ShutdownTimeout 100 ms), %d tries", s.calls.Load())
	}
	assert.Equal(t, audit.Stats{Lost: 1}, svc.Stats())
}
