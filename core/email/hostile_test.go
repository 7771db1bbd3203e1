package email_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/emailqueue/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

// flakyQueue is a memory queue whose database "goes away" on demand:
// MarkSent fails while markDown > 0 (counting down), Release blocks until
// its context ends while releaseHangs is set.
type flakyQueue struct {
	*memory.Queue
	markDown     atomic.Int32
	releaseHangs atomic.Bool
	releases     atomic.Int32
}

var errDown = errors.New("connection refused")

func (f *flakyQueue) MarkSent(ctx context.Context, l ports.EmailLease, at time.Time) error {
	if f.markDown.Add(-1) >= 0 {
		return errDown
	}
	return f.Queue.MarkSent(ctx, l, at)
}

func (f *flakyQueue) Release(ctx context.Context, l ports.EmailLease) error {
	f.releases.Add(1)
	if f.releaseHangs.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.Queue.Release(ctx, l)
}

// Regression test (a review found it): one failed MarkSent (a database blip of a few milliseconds, the
// process alive and well) is not tried again while the lease still runs:
// the email stays Sending, is claimed again when the lease ends and the
// recipient gets it twice (processor.go attempt/markSent log and give up).
func TestHostileMarkSentBlipSendsTwice(t *testing.T) {
	s := &sender{}
	q := &flakyQueue{Queue: memory.New()}
	svc := email.New(q, s, nil, email.Options{From: ports.EmailAddress{Address: "app@example.com"},
		Processor: email.ProcessorOptions{Lease: 300 * time.Millisecond, PollInterval: 10 * time.Millisecond}})
	ctx := ctxFor("t1")
	e, err := svc.QueueEmail(ctx, simple("blip"))
	require.NoError(t, err)
	q.markDown.Store(1) // the next MarkSent fails once; the database is back right after
	_, err = svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	time.Sleep(400 * time.Millisecond)
	_, err = svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	got, err := q.Get(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, ports.EmailSent, got.Status)
	if n := s.sentCount(); n != 1 {
		t.Errorf("BUG: a one-off MarkSent failure made the email be sent %d times", n)
	}
}

// Regression test (a review found it): shutdown with an unreachable database takes 10s per email left in
// the batch (each Release gets its own 10s timeout, one after the other):
// with the default batch of 20, over three minutes, far beyond any
// orchestrator's grace period.
func TestHostileShutdownWithDatabaseDown(t *testing.T) {
	if testing.Short() {
		t.Skip("waits ~12s")
	}
	s := &sender{block: make(chan struct{}), started: make(chan struct{}, 1)}
	q := &flakyQueue{Queue: memory.New()}
	svc := email.New(q, s, nil, email.Options{From: ports.EmailAddress{Address: "app@example.com"},
		Processor: email.ProcessorOptions{Workers: 1, BatchSize: 5, PollInterval: 10 * time.Millisecond}})
	ctx := ctxFor("t1")
	for range 5 {
		_, err := svc.QueueEmail(ctx, simple("x"))
		require.NoError(t, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	<-s.started
	q.releaseHangs.Store(true) // the database stops answering
	stop()
	close(s.block)
	start := time.Now()
	select {
	case <-done:
	case <-time.After(12 * time.Second):
		t.Errorf("BUG: Run still running %v after its context ended (%d releases tried, 10s each)", time.Since(start).Round(time.Second), q.releases.Load())
	}
}

// Regression test (a review found it): backoff doubles a time.Duration with no overflow guard
// (processor.go backoff): with RetryBase ≥ 2^62 and a RetryMax above it,
// d*2 wraps negative and rand.N panics, killing the process. Config caps the
// values, but ProcessorOptions is a public API.
func TestHostileBackoffOverflow(t *testing.T) {
	s := &sender{script: []error{errBusy}}
	q := memory.New()
	svc := email.New(q, s, nil, email.Options{From: ports.EmailAddress{Address: "app@example.com"},
		Processor: email.ProcessorOptions{RetryBase: 1 << 62, RetryMax: math.MaxInt64}})
	ctx := ctxFor("t1")
	e := &ports.QueuedEmail{MessageID: "m@example.com", To: []ports.EmailAddress{{Address: "ann@example.com"}},
		Subject: "x", Text: "x", Priority: "normal", MaxRetries: 5, RetryCount: 1}
	require.NoError(t, q.Enqueue(ctx, e))
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("BUG: backoff overflow panics: %v", r)
			}
		}()
		_, err := svc.Processor().ProcessQueue(context.Background())
		require.NoError(t, err)
	}()
}

// The configured extremes (retry_max_ms 7 days, ten retries) stay finite
// and positive.
func TestHostileBackoffConfiguredExtremes(t *testing.T) {
	script := make([]error, 11)
	for i := range script {
		script[i] = errBusy
	}
	s := &sender{script: script}
	q := memory.New()
	svc := email.New(q, s, nil, email.Options{From: ports.EmailAddress{Address: "app@example.com"}, MaxRetries: 10,
		Processor: email.ProcessorOptions{RetryBase: 24 * time.Hour, RetryMax: 7 * 24 * time.Hour}})
	ctx := ctxFor("t1")
	e := &ports.QueuedEmail{MessageID: "m@example.com", To: []ports.EmailAddress{{Address: "ann@example.com"}},
		Subject: "x", Text: "x", Priority: "normal", MaxRetries: 10, RetryCount: 9}
	require.NoError(t, q.Enqueue(ctx, e))
	_, err := svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	got, err := q.Get(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, ports.EmailQueued, got.Status)
	wait := time.Until(got.NextAttemptAt)
	assert.Greater(t, wait, 3*24*time.Hour)
	assert.LessOrEqual(t, wait, 7*24*time.Hour)
}

// Validation refuses every address, name and Message-ID that could break
// a header or the envelope, and lets one-line unicode through.
func TestHostileValidation(t *testing.T) {
	svc, _ := newService(t, &sender{}, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	bad := []email.Request{
		{To: []ports.EmailAddress{{Address: "a@b@c.com"}}},
		{To: []ports.EmailAddress{{Address: "@example.com"}}},
		{To: []ports.EmailAddress{{Address: "ann@"}}},
		{To: []ports.EmailAddress{{Address: "ann"}}},
		{To: []ports.EmailAddress{{Address: "ann@example.com\r"}}},
		{To: []ports.EmailAddress{{Address: "(comment)ann@example.com"}}},
		{To: []ports.EmailAddress{{Address: "ann@example.com (comment)"}}},
		{To: []ports.EmailAddress{{Address: "ann@example.com", Name: "A\nB"}}},
		{To: []ports.EmailAddress{{Address: "ann@example.com", Name: "A\x00"}}},
		{To: []ports.EmailAddress{{Address: "ann@example.com", Name: "\xff"}}},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, Subject: "a\rb"},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, Subject: "\xc3"},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, InReplyTo: "<>x@y"},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, InReplyTo: "no-at-sign"},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, InReplyTo: "<a b@c>"},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, References: []string{"<>"}},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, References: []string{"<a@b>\t<c@d>"}},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, ReplyTo: &ports.EmailAddress{Address: "x\n@y.z"}},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, From: &ports.EmailAddress{Address: "ann@example.com", Name: "x\r"}},
		{To: []ports.EmailAddress{{Address: "ann@example.com"}}, Attachments: []string{""}},
	}
	for i, req := range bad {
		_, err := svc.QueueEmail(ctx, req)
		var verr *core.ValidationError
		assert.ErrorAs(t, err, &verr, "case %d: %+v", i, req)
	}
	ok, err := svc.QueueEmail(ctx, email.Request{
		To:      []ports.EmailAddress{{Address: "zoë@exämple.com", Name: `Zoë "Q" \ O'Neil`}},
		Subject: "Über \u2028 caf\u00e9", Text: "x", InReplyTo: " <abc@def> ", References: []string{"a@b", "<c@d>"},
	})
	require.NoError(t, err)
	assert.Equal(t, "abc@def", ok.InReplyTo)
	assert.Equal(t, []string{"a@b", "c@d"}, ok.References)
}

// Only the exact admin or System Manager role manages the queue.
func TestHostileAdmitRoleCase(t *testing.T) {
	svc, _ := newService(t, &sender{}, nil, email.ProcessorOptions{})
	for _, role := range []string{"system manager", "SYSTEM MANAGER", "System Manager ", "Admin ", "administrator", ""} {
		_, err := svc.Submit(ctxFor("t1", role), simple("x"))
		assert.ErrorIs(t, err, core.ErrForbidden, "%q", role)
		_, _, err = svc.List(ctxFor("t1", role), ports.EmailQueueFilter{})
		assert.ErrorIs(t, err, core.ErrForbidden, "%q", role)
	}
	_, err := svc.Submit(ports.WithTenantID(context.Background(), "t1"), simple("x"))
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	_, err = svc.Submit(ctxFor("t1", email.ManagerRole), simple("x"))
	assert.NoError(t, err)
}

// Many workers over one queue send each email exactly once, under -race.
func TestHostileWorkersNoDuplicates(t *testing.T) {
	s := &sender{}
	svc, q := newService(t, s, nil, email.ProcessorOptions{Workers: 8, BatchSize: 3, PollInterval: 5 * time.Millisecond})
	ctx := ctxFor("t1")
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(runCtx) })
	var ids []string
	for range 200 {
		e, err := svc.QueueEmail(ctx, simple("x"))
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	require.Eventually(t, func() bool { return s.sentCount() >= 200 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	stop()
	wg.Wait()
	assert.Equal(t, 200, s.sentCount())
	seen := map[string]bool{}
	for _, m := range s.sent {
		assert.False(t, seen[m.MessageID], "sent twice: %s", m.MessageID)
		seen[m.MessageID] = true
	}
	for _, id := range ids {
		e, err := q.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, ports.EmailSent, e.Status)
	}
}
