package email_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/emailqueue/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

// sender answers each Send with the next scripted error (nil: accept) and
// records what it accepted; block, when set, holds every Send until closed.
type sender struct {
	mu       sync.Mutex
	script   []error
	sent     []ports.EmailMessage
	attempts int
	started  chan struct{}
	block    chan struct{}
}

func (s *sender) Send(ctx context.Context, msg ports.EmailMessage) error {
	s.mu.Lock()
	s.attempts++
	var reply error
	if len(s.script) > 0 {
		reply, s.script = s.script[0], s.script[1:]
	}
	block, started := s.block, s.started
	s.mu.Unlock()
	if started != nil {
		select {
		case started <- struct{}{}:
		default:
		}
	}
	if block != nil {
		<-block
	}
	if reply != nil {
		return reply
	}
	for _, a := range msg.Attachments {
		r, err := a.Open(ctx)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, r)
		_ = r.Close()
	}
	s.mu.Lock()
	s.sent = append(s.sent, msg)
	s.mu.Unlock()
	return nil
}

func (s *sender) sentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

var errBusy = errors.New("451 4.3.0 try again later")

// files are attachments of one tenant: id → content; Check refuses "secret".
type files map[string]string

func (f files) Check(_ context.Context, ids []string) error {
	for i, id := range ids {
		if _, ok := f[id]; !ok || id == "secret" {
			return core.Invalidf(fmt.Sprintf("attachments[%d]", i), "file %q not found", id)
		}
	}
	return nil
}

func (f files) Open(_ context.Context, id string) (ports.EmailAttachment, error) {
	content, ok := f[id]
	if !ok {
		return ports.EmailAttachment{}, core.ErrNotFound
	}
	return ports.EmailAttachment{FileName: id, ContentType: "text/plain", Size: int64(len(content)),
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }}, nil
}

func newService(t *testing.T, s *sender, f email.Attachments, o email.ProcessorOptions) (*email.Service, *memory.Queue) {
	t.Helper()
	q := memory.New()
	if o.RetryBase == 0 {
		o.RetryBase, o.RetryMax = time.Millisecond, 2*time.Millisecond
	}
	if o.PollInterval == 0 {
		o.PollInterval = 10 * time.Millisecond
	}
	return email.New(q, s, f, email.Options{
		From: ports.EmailAddress{Address: "app@example.com", Name: "App"}, MaxRetries: 3, Processor: o,
	}), q
}

func ctxFor(tenant string, roles ...string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: "u-" + tenant, Roles: roles})
}

func simple(subject string) email.Request {
	return email.Request{To: []ports.EmailAddress{{Address: "ann@example.com", Name: "Ann"}}, Subject: subject, HTML: "<p>hi</p>", Text: "hi"}
}

// drain processes batches until get(id) reaches a final status or the
// deadline passes, and returns it.
func drain(t *testing.T, svc *email.Service, q *memory.Queue, ctx context.Context, id string) *ports.QueuedEmail {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := svc.Processor().ProcessQueue(context.Background()); err != nil {
			t.Fatal(err)
		}
		e, err := q.Get(ctx, id)
		require.NoError(t, err)
		if e.Status == ports.EmailSent || e.Status == ports.EmailFailed {
			return e
		}
		time.Sleep(2 * time.Millisecond)
	}
	e, _ := q.Get(ctx, id)
	t.Fatalf("email %s still %s", id, e.Status)
	return nil
}

func TestRetryThenSent(t *testing.T) {
	s := &sender{script: []error{errBusy, errBusy}}
	svc, q := newService(t, s, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	e, err := svc.QueueEmail(ctx, simple("retry"))
	require.NoError(t, err)
	got := drain(t, svc, q, ctx, e.ID)
	assert.Equal(t, ports.EmailSent, got.Status)
	assert.Equal(t, 2, got.RetryCount)
	assert.Equal(t, 3, s.attempts)
	require.Len(t, s.sent, 1)
	assert.Equal(t, e.MessageID, s.sent[0].MessageID, "every attempt carries the Message-ID assigned when queued")
	assert.True(t, strings.HasSuffix(e.MessageID, "@example.com"), e.MessageID)
	assert.False(t, got.SentAt.IsZero())
	assert.Empty(t, got.Error)
}

func TestRejectedFailsAtOnce(t *testing.T) {
	s := &sender{script: []error{fmt.Errorf("%w: 550 5.1.1 no such user", ports.ErrEmailRejected)}}
	svc, q := newService(t, s, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	e, err := svc.QueueEmail(ctx, simple("rejected"))
	require.NoError(t, err)
	got := drain(t, svc, q, ctx, e.ID)
	assert.Equal(t, ports.EmailFailed, got.Status)
	assert.Equal(t, 0, got.RetryCount)
	assert.Contains(t, got.Error, "550 5.1.1 no such user")
	assert.Equal(t, 1, s.attempts)
}

func TestRetriesExhausted(t *testing.T) {
	s := &sender{script: []error{errBusy, errBusy, errBusy, errBusy}}
	svc, q := newService(t, s, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	two := 2
	req := simple("exhausted")
	req.MaxRetries = &two
	e, err := svc.QueueEmail(ctx, req)
	require.NoError(t, err)
	got := drain(t, svc, q, ctx, e.ID)
	assert.Equal(t, ports.EmailFailed, got.Status)
	assert.Equal(t, 2, got.RetryCount)
	assert.Equal(t, 3, s.attempts, "one attempt and two retries")
	assert.Contains(t, got.Error, "try again later")
}

func TestSendAfterHonoured(t *testing.T) {
	s := &sender{}
	svc, q := newService(t, s, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	req := simple("later")
	req.SendAfter = time.Now().Add(300 * time.Millisecond)
	e, err := svc.QueueEmail(ctx, req)
	require.NoError(t, err)
	n, err := svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "an email whose send_after is ahead is not claimed")
	assert.Zero(t, s.sentCount())
	time.Sleep(350 * time.Millisecond)
	got := drain(t, svc, q, ctx, e.ID)
	assert.Equal(t, ports.EmailSent, got.Status)
	assert.False(t, got.SentAt.Before(req.SendAfter.UTC().Truncate(time.Millisecond)), "sent at %v, before %v", got.SentAt, req.SendAfter)
}

func TestSendQueuedEmailNow(t *testing.T) {
	s := &sender{}
	svc, _ := newService(t, s, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	req := simple("scheduled")
	req.SendAfter = time.Now().Add(time.Hour)
	e, err := svc.QueueEmail(ctx, req)
	require.NoError(t, err)
	got, err := svc.SendQueuedEmail(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, ports.EmailSent, got.Status)
	_, err = svc.SendQueuedEmail(ctx, e.ID)
	assert.ErrorIs(t, err, core.ErrConflict, "a sent email is not sent again")
	_, err = svc.SendQueuedEmail(ctxFor("t2"), e.ID)
	assert.ErrorIs(t, err, core.ErrNotFound, "another tenant's email")
}

func TestPriorityThenAge(t *testing.T) {
	s := &sender{}
	svc, _ := newService(t, s, nil, email.ProcessorOptions{BatchSize: 10})
	ctx := ctxFor("t1")
	for _, p := range []string{"low", "normal", "high", "normal"} {
		req := simple(p)
		req.Priority = p
		_, err := svc.QueueEmail(ctx, req)
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	_, err := svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	var order []string
	for _, m := range s.sent {
		order = append(order, m.Subject)
	}
	assert.Equal(t, []string{"high", "normal", "normal", "low"}, order)
}

// TestExpiredLeaseSentAgain: a worker that claimed an email and died holds
// it until its lease ends; then another sends it, with its Message-ID.
func TestExpiredLeaseSentAgain(t *testing.T) {
	s := &sender{}
	svc, q := newService(t, s, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	e, err := svc.QueueEmail(ctx, simple("orphan"))
	require.NoError(t, err)
	claimed, err := q.Claim(context.Background(), 10, 150*time.Millisecond) // the worker that dies
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	n, err := svc.Processor().ProcessQueue(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "a leased email is not claimed again while the lease runs")
	time.Sleep(200 * time.Millisecond)
	got := drain(t, svc, q, ctx, e.ID)
	assert.Equal(t, ports.EmailSent, got.Status)
	require.Len(t, s.sent, 1)
	assert.Equal(t, e.MessageID, s.sent[0].MessageID)
	assert.ErrorIs(t, q.MarkSent(context.Background(), claimed[0].Lease(), time.Now()), ports.ErrEmailLeaseLost,
		"the dead worker's lease no longer counts")
}

// TestShutdownFinishesInFlight: when the app stops, the email being sent
// is finished and marked, and the rest of the batch goes back to the queue.
func TestShutdownFinishesInFlight(t *testing.T) {
	s := &sender{block: make(chan struct{}), started: make(chan struct{}, 1)}
	svc, q := newService(t, s, nil, email.ProcessorOptions{Workers: 1, BatchSize: 5})
	ctx := ctxFor("t1")
	var ids []string
	for i := range 5 {
		e, err := svc.QueueEmail(ctx, simple(fmt.Sprint("batch ", i)))
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	<-s.started // the first email is with the server
	stop()
	time.Sleep(20 * time.Millisecond)
	close(s.block) // the server answers
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	var sent, queued int
	for _, id := range ids {
		e, err := q.Get(ctx, id)
		require.NoError(t, err)
		switch e.Status {
		case ports.EmailSent:
			sent++
		case ports.EmailQueued:
			queued++
			assert.Empty(t, e.LeaseToken, "released emails hold no lease")
		default:
			t.Errorf("email %s is %s", id, e.Status)
		}
	}
	assert.Equal(t, 1, sent, "the email in flight is finished")
	assert.Equal(t, 4, queued, "the rest are released at once, not left to their lease")
}

// TestWorkersDrain: workers started with Run send everything queued, each
// once, and an email queued while they idle wakes them.
func TestWorkersDrain(t *testing.T) {
	s := &sender{}
	svc, q := newService(t, s, nil, email.ProcessorOptions{Workers: 4, BatchSize: 3, PollInterval: time.Hour})
	ctx := ctxFor("t1")
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	time.Sleep(20 * time.Millisecond) // the workers find nothing and idle (an hour's poll)
	for i := range 50 {
		_, err := svc.QueueEmail(ctx, simple(fmt.Sprint("n", i)))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return s.sentCount() == 50 }, 5*time.Second, 5*time.Millisecond)
	seen := map[string]bool{}
	s.mu.Lock()
	for _, m := range s.sent {
		assert.False(t, seen[m.MessageID], "sent twice: %s", m.MessageID)
		seen[m.MessageID] = true
	}
	s.mu.Unlock()
	// Sent marks are recorded in batches (up to 200 ms after the send).
	var list []ports.QueuedEmail
	require.Eventually(t, func() bool {
		var err error
		list, _, err = q.List(ctx, ports.EmailQueueFilter{Status: ports.EmailSent, Limit: 100})
		return err == nil && len(list) == 50
	}, 5*time.Second, 10*time.Millisecond)
	assert.Len(t, list, 50)
}

func TestAttachments(t *testing.T) {
	s := &sender{}
	f := files{"a.txt": "alpha", "secret": "x"}
	svc, q := newService(t, s, f, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	req := simple("with file")
	req.Attachments = []string{"a.txt"}
	e, err := svc.QueueEmail(ctx, req)
	require.NoError(t, err)
	got := drain(t, svc, q, ctx, e.ID)
	require.Equal(t, ports.EmailSent, got.Status)
	require.Len(t, s.sent[0].Attachments, 1)
	assert.Equal(t, "a.txt", s.sent[0].Attachments[0].FileName)

	req.Attachments = []string{"a.txt", "secret"}
	_, err = svc.QueueEmail(ctx, req)
	var verr *core.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Contains(t, verr.FieldMap(), "attachments[1]")

	// A file deleted after queueing fails the email for good.
	req.Attachments = []string{"a.txt"}
	e, err = svc.QueueEmail(ctx, req)
	require.NoError(t, err)
	delete(f, "a.txt")
	got = drain(t, svc, q, ctx, e.ID)
	assert.Equal(t, ports.EmailFailed, got.Status)
	assert.Contains(t, got.Error, "gone")

	_, noFiles := newService(t, s, nil, email.ProcessorOptions{})
	_ = noFiles
	svc2, _ := newService(t, s, nil, email.ProcessorOptions{})
	_, err = svc2.QueueEmail(ctx, req)
	require.ErrorAs(t, err, &verr)
	assert.Contains(t, verr.FieldMap(), "attachments")
}

func TestValidation(t *testing.T) {
	svc, q := newService(t, &sender{}, nil, email.ProcessorOptions{})
	ctx := ctxFor("t1")
	many := make([]ports.EmailAddress, email.MaxRecipients+1)
	for i := range many {
		many[i] = ports.EmailAddress{Address: fmt.Sprintf("u%d@example.com", i)}
	}
	eleven := 11
	cases := []struct {
		name  string
		edit  func(r *email.Request)
		field string
	}{
		{"no recipient", func(r *email.Request) { r.To = nil }, "to"},
		{"bad to", func(r *email.Request) { r.To = append(r.To, ports.EmailAddress{Address: "not an address"}) }, "to[1]"},
		{"header injection in address", func(r *email.Request) { r.Cc = []ports.EmailAddress{{Address: "a@b.c\r\nBcc: x@y.z"}} }, "cc[0]"},
		{"header injection in name", func(r *email.Request) { r.To[0].Name = "Ann\r\nBcc: x@y.z" }, "to[0]"},
		{"display form is not an address", func(r *email.Request) { r.Bcc = []ports.EmailAddress{{Address: "Ann <ann@example.com>"}} }, "bcc[0]"},
		{"bad from", func(r *email.Request) { r.From = &ports.EmailAddress{Address: "@example.com"} }, "from_address"},
		{"bad reply-to", func(r *email.Request) { r.ReplyTo = &ports.EmailAddress{Address: "x"} }, "reply_to"},
		{"long subject", func(r *email.Request) { r.Subject = strings.Repeat("é", email.MaxSubject+1) }, "subject"},
		{"subject with newline", func(r *email.Request) { r.Subject = "a\nBcc: x@y.z" }, "subject"},
		{"too many recipients", func(r *email.Request) { r.To = many }, "to"},
		{"bad priority", func(r *email.Request) { r.Priority = "urgent" }, "priority"},
		{"retries", func(r *email.Request) { r.MaxRetries = &eleven }, "max_retries"},
		{"bad reference", func(r *email.Request) { r.References = []string{"no at sign"} }, "references[0]"},
		{"bad in-reply-to", func(r *email.Request) { r.InReplyTo = "<a b@c>" }, "in_reply_to"},
		{"huge body", func(r *email.Request) { r.HTML = strings.Repeat("x", email.MaxBody+1) }, "body"},
		{"invalid utf-8", func(r *email.Request) { r.Text = "\xff" }, "text_body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := simple("ok")
			c.edit(&req)
			_, err := svc.QueueEmail(ctx, req)
			var verr *core.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Contains(t, verr.FieldMap(), c.field, "%v", verr.FieldMap())
		})
	}
	_, total, err := q.List(ctx, ports.EmailQueueFilter{})
	require.NoError(t, err)
	assert.Zero(t, total, "nothing invalid was queued")

	req := simple("threaded")
	req.InReplyTo = "<parent@example.com>"
	req.References = []string{"<root@example.com>", "parent@example.com"}
	e, err := svc.QueueEmail(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, "parent@example.com", e.InReplyTo)
	assert.Equal(t, []string{"root@example.com", "parent@example.com"}, e.References)
	assert.Equal(t, "u-t1", e.Owner)
	assert.Equal(t, "app@example.com", e.From.Address, "the default From")
}

func TestManagersOnly(t *testing.T) {
	svc, _ := newService(t, &sender{}, nil, email.ProcessorOptions{})
	_, err := svc.Submit(ctxFor("t1"), simple("x"))
	assert.ErrorIs(t, err, core.ErrForbidden)
	_, _, err = svc.List(ctxFor("t1"), ports.EmailQueueFilter{})
	assert.ErrorIs(t, err, core.ErrForbidden)
	_, err = svc.Submit(ports.WithTenantID(context.Background(), "t1"), simple("x"))
	assert.ErrorIs(t, err, core.ErrUnauthorized)
	e, err := svc.Submit(ctxFor("t1", email.ManagerRole), simple("x"))
	require.NoError(t, err)
	_, err = svc.Get(ctxFor("t1", ports.RoleAdmin), e.ID)
	require.NoError(t, err)
	_, err = svc.Get(ctxFor("t2", ports.RoleAdmin), e.ID)
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = svc.Retry(ctxFor("t1", ports.RoleAdmin), e.ID)
	assert.ErrorIs(t, err, core.ErrConflict, "a Queued email is not retried")
	c, err := svc.Cancel(ctxFor("t1", ports.RoleAdmin), e.ID)
	require.NoError(t, err)
	assert.Equal(t, ports.EmailCancelled, c.Status)
	_, err = svc.Cancel(ctxFor("t1", ports.RoleAdmin), e.ID)
	assert.ErrorIs(t, err, core.ErrConflict)
	r, err := svc.Retry(ctxFor("t1", ports.RoleAdmin), e.ID)
	require.NoError(t, err)
	assert.Equal(t, ports.EmailQueued, r.Status)
	_, _, err = svc.List(ctxFor("t1", ports.RoleAdmin), ports.EmailQueueFilter{Status: "Lost"})
	var verr *core.ValidationError
	require.ErrorAs(t, err, &verr)
}
