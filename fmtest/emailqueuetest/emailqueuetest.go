// Package emailqueuetest is the contract suite of ports.EmailQueue: the
// behaviour every email queue must show, written once and run against each
// of them (memory, the database queue on SQLite and PostgreSQL, a third
// party's).
//
//	func TestQueue(t *testing.T) {
//		emailqueuetest.Run(t, func(t *testing.T) ports.EmailQueue {
//			return myqueue.New(...) // empty storage of its own; release it with t.Cleanup
//		})
//	}
//
// Every behaviour is a parallel subtest of its own on a fresh, empty queue.
// Leases and retries are checked on the real clock: the suite waits a few
// hundred milliseconds for a short lease or a retry time to pass, so the
// queue's clock must be the machine's. The whole suite takes about a second.
//
// The contract, beyond the port's doc comments:
//
//   - Enqueue writes back to its argument what it set: TenantID, Status
//     (Queued) and, when they were empty, ID (a UUIDv7) and QueuedAt (now).
//     Without a tenant in ctx it fails.
//   - Get, List, Claim and ClaimID return every field as stored: strings
//     byte for byte (unicode included), mailboxes with their names, slices in
//     order, times equal as instants to the microsecond (the suite writes
//     millisecond times). A nil and an empty slice count as the same.
//   - Values returned are the caller's: changing them, or the email given
//     to Enqueue afterwards, changes nothing stored.
//   - Claim returns the emails in claim order (priority high, normal, low;
//     then oldest QueuedAt first), each with a lease token of its own. It
//     needs no tenant in ctx, nor do MarkSent, MarkFailed and Release: the
//     suite calls them with none.
//   - A lease is lost (core.ErrConflict and ports.ErrEmailLeaseLost) once
//     another claim took the email, once the email left Sending (MarkSent,
//     MarkFailed or Release done with it), and for any token but the last
//     one Claim or ClaimID drew, the empty one included.
//   - MarkFailed and Release keep what they do not name: Release keeps
//     Error and RetryCount, MarkFailed with a zero retryAt keeps
//     RetryCount; both clear the lease. MarkSent stores at as SentAt.
//   - Cancel, Retry and ClaimID of an id the tenant does not have are
//     core.ErrNotFound; in a status they do not accept, core.ErrConflict,
//     and the email is left as it was.
package emailqueuetest

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// NewQueue returns an email queue of its own, empty and ready to use. It is
// called once per behaviour the suite checks, possibly from parallel
// subtests; release the queue with t.Cleanup.
type NewQueue = func(t *testing.T) ports.EmailQueue

// Run checks that the queues newQueue returns keep the ports.EmailQueue
// contract, each behaviour in a parallel subtest of its own on a fresh queue.
func Run(t *testing.T, newQueue NewQueue) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, q ports.EmailQueue)
	}{
		{"EnqueueGetRoundTrip", testRoundTrip},
		{"EnqueueSetsDefaults", testEnqueueDefaults},
		{"EnqueueDuplicateIDIsConflict", testEnqueueDuplicate},
		{"EnqueueNeedsATenant", testEnqueueNoTenant},
		{"CallerCannotChangeStoredEmails", testCopies},
		{"TenantIsolation", testTenantIsolation},
		{"ClaimSpansTenants", testClaimSpansTenants},
		{"ClaimLeases", testClaimLeases},
		{"ClaimEmptyQueue", testClaimEmpty},
		{"ClaimOrderAndN", testClaimOrder},
		{"ClaimWaitsForSendAfterAndNextAttempt", testClaimWaits},
		{"ExpiredLeaseIsClaimedAgain", testExpiredLease},
		{"ConcurrentClaimsNeverShareAnEmail", testConcurrentClaims},
		{"MarkSent", testMarkSent},
		{"WrongLeaseIsLost", testWrongLease},
		{"MarkFailedRetriesLater", testMarkFailedRetry},
		{"MarkFailedPermanently", testMarkFailedPermanent},
		{"Release", testRelease},
		{"Cancel", testCancel},
		{"Retry", testRetry},
		{"ClaimID", testClaimID},
		{"ListFiltersAndOrder", testList},
		{"ListPaging", testListPaging},
		{"ListDefaultLimit", testListDefaultLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(t)
			if q == nil {
				t.Fatal("emailqueuetest: newQueue returned nil")
			}
			tt.fn(t, q)
		})
	}
}

// lease is the lease of claims that must not run out during a subtest;
// short is one the suite waits to run out.
const (
	lease = time.Minute
	short = 300 * time.Millisecond
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// in returns a context of tenant.
func in(t *testing.T, tenant string) context.Context {
	return ports.WithTenantID(t.Context(), tenant)
}

// now is the current time in UTC at millisecond precision, which every
// queue keeps exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// sample returns a Queued email of normal priority with a fresh MessageID.
func sample(subject string) *ports.QueuedEmail {
	return &ports.QueuedEmail{
		Owner:     "system",
		MessageID: doctype.NewUUIDv7() + "@example.com",
		From:      ports.EmailAddress{Address: "noreply@example.com"},
		To:        []ports.EmailAddress{{Address: "ann@example.com"}},
		Subject:   subject,
		Text:      "Hello",
		Status:    ports.EmailQueued,
		Priority:  ports.EmailPriorityNormal,
		// MaxRetries is not 0 so a queue that drops it is seen.
		MaxRetries: 3,
	}
}

// at returns a sample email queued at queuedAt.
func at(subject string, queuedAt time.Time) *ports.QueuedEmail {
	e := sample(subject)
	e.QueuedAt = queuedAt
	return e
}

func enqueue(t *testing.T, q ports.EmailQueue, ctx context.Context, e *ports.QueuedEmail) *ports.QueuedEmail {
	t.Helper()
	require.NoError(t, q.Enqueue(ctx, e), "enqueue %q", e.Subject)
	require.NotEmpty(t, e.ID, "Enqueue writes the id back")
	return e
}

func get(t *testing.T, q ports.EmailQueue, ctx context.Context, id string) *ports.QueuedEmail {
	t.Helper()
	got, err := q.Get(ctx, id)
	require.NoError(t, err, "get email %s", id)
	require.NotNil(t, got, "get email %s", id)
	return got
}

// claim claims up to n emails for d, with no tenant in ctx.
func claim(t *testing.T, q ports.EmailQueue, n int, d time.Duration) []ports.QueuedEmail {
	t.Helper()
	got, err := q.Claim(t.Context(), n, d)
	require.NoError(t, err, "claim %d", n)
	return got
}

// claimOne claims and requires exactly the email id.
func claimOne(t *testing.T, q ports.EmailQueue, id string, d time.Duration) ports.QueuedEmail {
	t.Helper()
	got := claim(t, q, 10, d)
	require.Equal(t, []string{id}, ids(got), "the one due email is claimed")
	return got[0]
}

func ids(es []ports.QueuedEmail) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = es[i].ID
	}
	return out
}

func list(t *testing.T, q ports.EmailQueue, ctx context.Context, f ports.EmailQueueFilter) ([]string, int) {
	t.Helper()
	got, total, err := q.List(ctx, f)
	require.NoError(t, err, "list %+v", f)
	return ids(got), total
}

// status requires the email id of ctx's tenant to be in status st.
func status(t *testing.T, q ports.EmailQueue, ctx context.Context, id, st string, msgAndArgs ...any) *ports.QueuedEmail {
	t.Helper()
	got := get(t, q, ctx, id)
	require.Equal(t, st, got.Status, msgAndArgs...)
	return got
}

// leaseLost asserts err is a lost lease.
func leaseLost(t *testing.T, err error, what string) {
	t.Helper()
	assert.ErrorIs(t, err, ports.ErrEmailLeaseLost, what)
	assert.ErrorIs(t, err, core.ErrConflict, what)
}

// noLease asserts e holds no lease.
func noLease(t *testing.T, e *ports.QueuedEmail, what string) {
	t.Helper()
	assert.Empty(t, e.LeaseToken, "%s: lease token cleared", what)
	assert.True(t, e.LeaseUntil.IsZero(), "%s: lease_until cleared, got %s", what, e.LeaseUntil)
}

// leased asserts e was just leased for d: Sending, a token, LeaseUntil now+d.
func leased(t *testing.T, e *ports.QueuedEmail, d time.Duration, what string) {
	t.Helper()
	assert.Equal(t, ports.EmailSending, e.Status, "%s: status", what)
	assert.NotEmpty(t, e.LeaseToken, "%s: lease token", what)
	assert.WithinDuration(t, time.Now().Add(d), e.LeaseUntil, time.Second, "%s: lease_until is now + d", what)
}

// sameTime asserts two instants are equal to the microsecond.
func sameTime(t *testing.T, want, got time.Time, field string) {
	t.Helper()
	if want.IsZero() || got.IsZero() {
		assert.Truef(t, want.IsZero() && got.IsZero(), "%s: want %s, got %s", field, want, got)
		return
	}
	d := got.Sub(want)
	assert.Truef(t, d > -time.Microsecond && d < time.Microsecond, "%s: want %s, got %s",
		field, want.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// assertEmail checks every field of got against want but the lease token.
func assertEmail(t *testing.T, want, got *ports.QueuedEmail, what string) {
	t.Helper()
	if !assert.NotNil(t, got, what) {
		return
	}
	assert.Equal(t, want.ID, got.ID, "%s: id", what)
	assert.Equal(t, want.TenantID, got.TenantID, "%s: tenant_id", what)
	assert.Equal(t, want.Owner, got.Owner, "%s: owner", what)
	assert.Equal(t, want.MessageID, got.MessageID, "%s: message_id", what)
	assert.Equal(t, want.From, got.From, "%s: from", what)
	assert.Equal(t, want.ReplyTo, got.ReplyTo, "%s: reply_to", what)
	assert.Equal(t, orEmpty(want.To), orEmpty(got.To), "%s: to", what)
	assert.Equal(t, orEmpty(want.Cc), orEmpty(got.Cc), "%s: cc", what)
	assert.Equal(t, orEmpty(want.Bcc), orEmpty(got.Bcc), "%s: bcc", what)
	assert.Equal(t, want.Subject, got.Subject, "%s: subject", what)
	assert.Equal(t, want.HTML, got.HTML, "%s: html", what)
	assert.Equal(t, want.Text, got.Text, "%s: text", what)
	assert.Equal(t, want.InReplyTo, got.InReplyTo, "%s: in_reply_to", what)
	assert.Equal(t, orEmpty(want.References), orEmpty(got.References), "%s: references", what)
	assert.Equal(t, orEmpty(want.Attachments), orEmpty(got.Attachments), "%s: attachments", what)
	assert.Equal(t, want.Status, got.Status, "%s: status", what)
	assert.Equal(t, want.Priority, got.Priority, "%s: priority", what)
	assert.Equal(t, want.Error, got.Error, "%s: error", what)
	assert.Equal(t, want.RetryCount, got.RetryCount, "%s: retry_count", what)
	assert.Equal(t, want.MaxRetries, got.MaxRetries, "%s: max_retries", what)
	assert.Equal(t, want.ReferenceDocType, got.ReferenceDocType, "%s: reference_doctype", what)
	assert.Equal(t, want.ReferenceID, got.ReferenceID, "%s: reference_id", what)
	sameTime(t, want.QueuedAt, got.QueuedAt, what+": queued_at")
	sameTime(t, want.SendAfter, got.SendAfter, what+": send_after")
	sameTime(t, want.NextAttemptAt, got.NextAttemptAt, what+": next_attempt_at")
	sameTime(t, want.SentAt, got.SentAt, what+": sent_at")
	sameTime(t, want.LeaseUntil, got.LeaseUntil, what+": lease_until")
}

// full returns an email with every field Enqueue keeps set.
func full() *ports.QueuedEmail {
	ts := now()
	return &ports.QueuedEmail{
		ID:        doctype.NewUUIDv7(),
		Owner:     "ann@example.com",
		MessageID: doctype.NewUUIDv7() + "@mail.example.com",
		From:      ports.EmailAddress{Address: "billing@example.com", Name: "Billing — Acme GmbH"},
		ReplyTo:   &ports.EmailAddress{Address: "support@example.com", Name: `Support "Desk"`},
		To: []ports.EmailAddress{
			{Address: "ann@example.com", Name: "Ann O'Neil"},
			{Address: "bob@example.org"},
		},
		Cc:          []ports.EmailAddress{{Address: "carol@example.com", Name: "Carol 张"}},
		Bcc:         []ports.EmailAddress{{Address: "audit@example.com", Name: "Audit"}, {Address: "archive@example.com"}},
		Subject:     "Rechnung INV-0001 — bereit ✓",
		HTML:        "<p>Grüße, 世界 🚀</p>\n<p>&amp; more</p>",
		Text:        "Grüße, 世界 🚀\r\n& more",
		InReplyTo:   "thread-1@example.com",
		References:  []string{"thread-0@example.com", "thread-1@example.com"},
		Attachments: []string{"file-0001", "file-0002"},
		Status:      ports.EmailQueued,
		Priority:    ports.EmailPriorityHigh,
		MaxRetries:  7,
		QueuedAt:    ts.Add(-time.Minute),
		// Both passed, so the email is due and Claim returns it too.
		SendAfter:        ts.Add(-30 * time.Second),
		NextAttemptAt:    ts.Add(-20 * time.Second),
		ReferenceDocType: "Sales Invoice",
		ReferenceID:      "INV-0001",
	}
}

// clone copies e deeply, for the suite's expectations.
func clone(e *ports.QueuedEmail) *ports.QueuedEmail {
	c := *e
	if e.ReplyTo != nil {
		r := *e.ReplyTo
		c.ReplyTo = &r
	}
	c.To = append([]ports.EmailAddress(nil), e.To...)
	c.Cc = append([]ports.EmailAddress(nil), e.Cc...)
	c.Bcc = append([]ports.EmailAddress(nil), e.Bcc...)
	c.References = append([]string(nil), e.References...)
	c.Attachments = append([]string(nil), e.Attachments...)
	return &c
}

func testRoundTrip(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := full()
	want := clone(e)
	want.TenantID = "t1"
	enqueue(t, q, ctx, e)
	assert.Equal(t, want.ID, e.ID, "Enqueue keeps a given id")
	assert.Equal(t, "t1", e.TenantID, "Enqueue sets the tenant")
	assert.Equal(t, ports.EmailQueued, e.Status)
	sameTime(t, want.QueuedAt, e.QueuedAt, "Enqueue keeps a given queued_at")

	assertEmail(t, want, get(t, q, ctx, e.ID), "Get")

	listed, total, err := q.List(ctx, ports.EmailQueueFilter{})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	require.Len(t, listed, 1)
	assertEmail(t, want, &listed[0], "List")

	claimed := claimOne(t, q, e.ID, lease)
	leased(t, &claimed, lease, "Claim")
	want.Status, want.LeaseUntil = ports.EmailSending, claimed.LeaseUntil
	assertEmail(t, want, &claimed, "Claim returns the whole email")
	assertEmail(t, want, get(t, q, ctx, e.ID), "Get of the claimed email")

	// ClaimID returns the whole email too.
	other := full()
	want = clone(other)
	enqueue(t, q, ctx, other)
	byID, err := q.ClaimID(ctx, other.ID, lease)
	require.NoError(t, err)
	leased(t, byID, lease, "ClaimID")
	want.TenantID, want.Status, want.LeaseUntil = "t1", ports.EmailSending, byID.LeaseUntil
	assertEmail(t, want, byID, "ClaimID returns the whole email")
}

func testEnqueueDefaults(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	before := time.Now()
	e := sample("defaults")
	e.Status = ""
	enqueue(t, q, ctx, e)
	assert.Regexp(t, uuidV7, e.ID, "Enqueue sets a UUIDv7 id")
	assert.Equal(t, "t1", e.TenantID)
	assert.Equal(t, ports.EmailQueued, e.Status, "Enqueue stores the email as Queued")
	assert.WithinDuration(t, before, e.QueuedAt, time.Second, "Enqueue stamps queued_at with now")

	got := get(t, q, ctx, e.ID)
	assert.Equal(t, ports.EmailQueued, got.Status)
	assert.Equal(t, "t1", got.TenantID)
	sameTime(t, e.QueuedAt, got.QueuedAt, "the queued_at Enqueue wrote back is the one stored")

	second := enqueue(t, q, ctx, sample("second"))
	assert.Regexp(t, uuidV7, second.ID)
	assert.NotEqual(t, e.ID, second.ID, "every email gets an id of its own")
	_, total := list(t, q, ctx, ports.EmailQueueFilter{})
	assert.Equal(t, 2, total)
}

func testEnqueueDuplicate(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	first := enqueue(t, q, ctx, sample("first"))
	dup := sample("duplicate")
	dup.ID = first.ID
	assert.ErrorIs(t, q.Enqueue(ctx, dup), core.ErrConflict, "an id used in the tenant")
	assert.Equal(t, "first", get(t, q, ctx, first.ID).Subject, "the first email is unchanged")
	got, total := list(t, q, ctx, ports.EmailQueueFilter{})
	assert.Equal(t, []string{first.ID}, got)
	assert.Equal(t, 1, total)
}

func testEnqueueNoTenant(t *testing.T, q ports.EmailQueue) {
	assert.Error(t, q.Enqueue(t.Context(), sample("nobody's")), "Enqueue without a tenant in ctx")
	assert.Empty(t, claim(t, q, 10, lease), "nothing was stored")

	e := enqueue(t, q, in(t, "t1"), sample("t1's"))
	got, err := q.Get(t.Context(), e.ID)
	assert.Error(t, err, "Get without a tenant in ctx")
	assert.Nil(t, got)
}

func testCopies(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := full()
	enqueue(t, q, ctx, e)
	want := clone(e)

	e.To[0].Name = "changed"
	e.Cc[0].Address = "changed@example.com"
	e.Bcc[1].Address = "changed@example.com"
	e.ReplyTo.Name = "changed"
	e.References[0] = "changed@example.com"
	e.Attachments[1] = "changed"
	e.Subject = "changed"
	assertEmail(t, want, get(t, q, ctx, want.ID), "after changing the enqueued email")

	got := get(t, q, ctx, want.ID)
	got.To[1].Address = "changed@example.com"
	got.ReplyTo.Address = "changed@example.com"
	got.References[1] = "changed@example.com"
	got.Attachments[0] = "changed"
	assertEmail(t, want, get(t, q, ctx, want.ID), "after changing what Get returned")

	listed, _, err := q.List(ctx, ports.EmailQueueFilter{})
	require.NoError(t, err)
	require.Len(t, listed, 1)
	listed[0].To[0].Address = "changed@example.com"
	listed[0].ReplyTo.Name = "changed"
	assertEmail(t, want, get(t, q, ctx, want.ID), "after changing what List returned")

	claimed := claimOne(t, q, want.ID, lease)
	claimed.To[0].Address = "changed@example.com"
	claimed.ReplyTo.Name = "changed"
	claimed.Attachments[0] = "changed"
	want.Status, want.LeaseUntil = ports.EmailSending, claimed.LeaseUntil
	assertEmail(t, want, get(t, q, ctx, want.ID), "after changing what Claim returned")
}

func testTenantIsolation(t *testing.T, q ports.EmailQueue) {
	ctx1, ctx2 := in(t, "t1"), in(t, "t2")
	e := enqueue(t, q, ctx1, sample("t1's"))
	mine := enqueue(t, q, ctx2, sample("t2's"))

	got, err := q.Get(ctx2, e.ID)
	assert.ErrorIs(t, err, core.ErrNotFound, "Get of another tenant's email")
	assert.Nil(t, got)
	assert.ErrorIs(t, q.Cancel(ctx2, e.ID), core.ErrNotFound, "Cancel of another tenant's email")
	claimed, err := q.ClaimID(ctx2, e.ID, lease)
	assert.ErrorIs(t, err, core.ErrNotFound, "ClaimID of another tenant's email")
	assert.Nil(t, claimed)
	listed, total := list(t, q, ctx2, ports.EmailQueueFilter{})
	assert.Equal(t, []string{mine.ID}, listed, "List shows the tenant's emails only")
	assert.Equal(t, 1, total)
	status(t, q, ctx1, e.ID, ports.EmailQueued, "nothing another tenant did changed the email")

	// Retry needs a Failed email: fail it for good.
	c, err := q.ClaimID(ctx1, e.ID, lease)
	require.NoError(t, err)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "550 no such user", time.Time{}))
	assert.ErrorIs(t, q.Retry(ctx2, e.ID), core.ErrNotFound, "Retry of another tenant's email")
	status(t, q, ctx1, e.ID, ports.EmailFailed, "Retry from another tenant changed nothing")
}

func testClaimSpansTenants(t *testing.T, q ports.EmailQueue) {
	a := enqueue(t, q, in(t, "t1"), sample("t1's"))
	b := enqueue(t, q, in(t, "t2"), sample("t2's"))
	got := claim(t, q, 10, lease)
	require.ElementsMatch(t, []string{a.ID, b.ID}, ids(got), "Claim takes the due emails of every tenant")
	tenants := map[string]string{}
	for _, e := range got {
		tenants[e.ID] = e.TenantID
	}
	assert.Equal(t, map[string]string{a.ID: "t1", b.ID: "t2"}, tenants, "claimed emails carry their tenant")
	for _, e := range got {
		require.NoError(t, q.MarkSent(t.Context(), e.Lease(), now()), "MarkSent of %s's email", e.TenantID)
	}
	status(t, q, in(t, "t1"), a.ID, ports.EmailSent)
	status(t, q, in(t, "t2"), b.ID, ports.EmailSent)
}

func testClaimLeases(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	a := enqueue(t, q, ctx, sample("a"))
	b := enqueue(t, q, ctx, sample("b"))
	got := claim(t, q, 10, lease)
	require.ElementsMatch(t, []string{a.ID, b.ID}, ids(got))
	for i := range got {
		leased(t, &got[i], lease, "Claim")
		stored := get(t, q, ctx, got[i].ID)
		assert.Equal(t, ports.EmailSending, stored.Status, "the claimed email is Sending")
		sameTime(t, got[i].LeaseUntil, stored.LeaseUntil, "stored lease_until")
	}
	assert.NotEqual(t, got[0].LeaseToken, got[1].LeaseToken, "every claimed email has a token of its own")
	assert.Empty(t, claim(t, q, 10, lease), "a claimed email is not claimed again while its lease runs")
}

func testClaimEmpty(t *testing.T, q ports.EmailQueue) {
	assert.Empty(t, claim(t, q, 10, lease), "an empty queue")
	e := enqueue(t, q, in(t, "t1"), sample("a"))
	claimOne(t, q, e.ID, lease)
	assert.Empty(t, claim(t, q, 10, lease), "no due email left")
}

func testClaimOrder(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	base := now().Add(-time.Hour)
	mk := func(name, prio string, offset time.Duration) *ports.QueuedEmail {
		e := at(name, base.Add(offset))
		e.Priority = prio
		return e
	}
	// Enqueued newest first within each priority, so neither the order of
	// enqueueing nor that of the ids is the order of claiming.
	highNew := enqueue(t, q, ctx, mk("highNew", ports.EmailPriorityHigh, 5*time.Second))
	lowNew := enqueue(t, q, ctx, mk("lowNew", ports.EmailPriorityLow, 3*time.Second))
	normNew := enqueue(t, q, ctx, mk("normNew", ports.EmailPriorityNormal, 4*time.Second))
	lowOld := enqueue(t, q, ctx, mk("lowOld", ports.EmailPriorityLow, 0))
	highOld := enqueue(t, q, ctx, mk("highOld", ports.EmailPriorityHigh, 2*time.Second))
	normOld := enqueue(t, q, ctx, mk("normOld", ports.EmailPriorityNormal, time.Second))

	assert.Equal(t, []string{highOld.ID, highNew.ID}, ids(claim(t, q, 2, lease)), "the two high ones, oldest first")
	assert.Equal(t, []string{normOld.ID, normNew.ID, lowOld.ID}, ids(claim(t, q, 3, lease)), "then normal, then low")
	assert.Equal(t, []string{lowNew.ID}, ids(claim(t, q, 10, lease)), "the last one")
	assert.Empty(t, claim(t, q, 10, lease))
}

func testClaimWaits(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	ts := now()
	laterSend := sample("send later")
	laterSend.SendAfter = ts.Add(time.Hour)
	laterRetry := sample("retry later")
	laterRetry.NextAttemptAt = ts.Add(time.Hour)
	pastSend := sample("send after passed")
	pastSend.SendAfter = ts.Add(-time.Minute)
	pastRetry := sample("next attempt passed")
	pastRetry.NextAttemptAt = ts.Add(-time.Minute)
	for _, e := range []*ports.QueuedEmail{laterSend, laterRetry, pastSend, pastRetry} {
		enqueue(t, q, ctx, e)
	}
	assert.ElementsMatch(t, []string{pastSend.ID, pastRetry.ID}, ids(claim(t, q, 10, lease)),
		"only the emails whose send_after and next_attempt_at passed")
	assert.Empty(t, claim(t, q, 10, lease))
	status(t, q, ctx, laterSend.ID, ports.EmailQueued)
	status(t, q, ctx, laterRetry.ID, ports.EmailQueued)
}

func testExpiredLease(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	first := claimOne(t, q, e.ID, short)
	leased(t, &first, short, "a short claim")
	assert.Empty(t, claim(t, q, 10, lease), "not claimed again while the lease runs")

	time.Sleep(time.Until(first.LeaseUntil) + 150*time.Millisecond)
	second := claimOne(t, q, e.ID, lease)
	leased(t, &second, lease, "the claim after the lease ran out")
	assert.NotEqual(t, first.LeaseToken, second.LeaseToken, "a new claim draws a new token")
	assert.Empty(t, claim(t, q, 10, lease), "the new lease runs")

	leaseLost(t, q.MarkSent(t.Context(), first.Lease(), now()), "MarkSent under the expired lease")
	leaseLost(t, q.MarkFailed(t.Context(), first.Lease(), "timeout", now().Add(time.Minute)), "MarkFailed under the expired lease")
	leaseLost(t, q.MarkFailed(t.Context(), first.Lease(), "timeout", time.Time{}), "MarkFailed for good under the expired lease")
	leaseLost(t, q.Release(t.Context(), first.Lease()), "Release under the expired lease")
	got := status(t, q, ctx, e.ID, ports.EmailSending, "the old lease changed nothing")
	sameTime(t, second.LeaseUntil, got.LeaseUntil, "lease_until is the new claim's")
	assert.Empty(t, got.Error)
	assert.Zero(t, got.RetryCount)

	require.NoError(t, q.MarkSent(t.Context(), second.Lease(), now()), "the new lease holds")
	status(t, q, ctx, e.ID, ports.EmailSent)
}

func testConcurrentClaims(t *testing.T, q ports.EmailQueue) {
	const total, workers, batch = 200, 8, 7
	for i := range total {
		enqueue(t, q, in(t, fmt.Sprintf("t%d", i%2+1)), sample(fmt.Sprintf("email %d", i)))
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		claims int
		errs   []error
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				got, err := q.Claim(t.Context(), batch, lease)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if len(got) > batch {
					errs = append(errs, fmt.Errorf("claim of %d returned %d emails", batch, len(got)))
				}
				claims += len(got)
				// Stopping once as many claims came back as were queued
				// keeps a queue that hands emails out twice from looping.
				done := claims >= total
				for _, e := range got {
					counts[e.TenantID+"/"+e.ID]++
					if e.Status != ports.EmailSending || e.LeaseToken == "" {
						errs = append(errs, fmt.Errorf("email %s claimed as %q with token %q", e.ID, e.Status, e.LeaseToken))
					}
				}
				mu.Unlock()
				if err != nil || len(got) == 0 || done {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	assert.Len(t, counts, total, "every email was claimed")
	for id, n := range counts {
		assert.Equal(t, 1, n, "email %s was claimed %d times", id, n)
	}
	assert.Empty(t, claim(t, q, 10, lease), "none left")
}

func testMarkSent(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	c := claimOne(t, q, e.ID, lease)
	// A failed attempt first, due again at once, so MarkSent has an Error
	// to clear.
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "421 try again later", now().Add(-time.Second)))
	c = claimOne(t, q, e.ID, lease)

	sentAt := now().Add(-2 * time.Second)
	require.NoError(t, q.MarkSent(t.Context(), c.Lease(), sentAt))
	got := status(t, q, ctx, e.ID, ports.EmailSent)
	sameTime(t, sentAt, got.SentAt, "sent_at is the time given")
	noLease(t, got, "MarkSent")
	assert.Empty(t, got.Error, "MarkSent clears the error")
	assert.Equal(t, 1, got.RetryCount, "MarkSent keeps the retry count")

	assert.Empty(t, claim(t, q, 10, lease), "a Sent email is not claimed")
	leaseLost(t, q.MarkSent(t.Context(), c.Lease(), now()), "MarkSent twice under one lease")
	leaseLost(t, q.Release(t.Context(), c.Lease()), "Release after MarkSent")
	sameTime(t, sentAt, status(t, q, ctx, e.ID, ports.EmailSent).SentAt, "still sent at the first time")
}

func testWrongLease(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	unclaimed := ports.EmailLease{TenantID: "t1", ID: e.ID}
	leaseLost(t, q.MarkSent(t.Context(), unclaimed, now()), "MarkSent of a Queued email with no token")
	leaseLost(t, q.MarkFailed(t.Context(), unclaimed, "x", time.Time{}), "MarkFailed of a Queued email with no token")
	leaseLost(t, q.Release(t.Context(), unclaimed), "Release of a Queued email with no token")
	status(t, q, ctx, e.ID, ports.EmailQueued, "unchanged")

	c := claimOne(t, q, e.ID, lease)
	for _, token := range []string{"", "not-the-token", c.LeaseToken + "0"} {
		l := c.Lease()
		l.Token = token
		leaseLost(t, q.MarkSent(t.Context(), l, now()), "MarkSent with token "+token)
		leaseLost(t, q.MarkFailed(t.Context(), l, "x", now().Add(time.Minute)), "MarkFailed with token "+token)
		leaseLost(t, q.MarkFailed(t.Context(), l, "x", time.Time{}), "MarkFailed for good with token "+token)
		leaseLost(t, q.Release(t.Context(), l), "Release with token "+token)
	}
	got := status(t, q, ctx, e.ID, ports.EmailSending, "a wrong token changes nothing")
	sameTime(t, c.LeaseUntil, got.LeaseUntil, "lease_until")
	assert.Zero(t, got.RetryCount)
	assert.Empty(t, got.Error)
	require.NoError(t, q.MarkSent(t.Context(), c.Lease(), now()), "the right token still holds")
}

func testMarkFailedRetry(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	c := claimOne(t, q, e.ID, lease)
	retryAt := time.Now().Add(short).UTC().Truncate(time.Millisecond)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "451 greylisted", retryAt))

	got := status(t, q, ctx, e.ID, ports.EmailQueued, "a failed attempt to retry is Queued again")
	assert.Equal(t, 1, got.RetryCount, "retry_count one more")
	sameTime(t, retryAt, got.NextAttemptAt, "next_attempt_at is retryAt")
	assert.Equal(t, "451 greylisted", got.Error)
	noLease(t, got, "MarkFailed")
	assert.Empty(t, claim(t, q, 10, lease), "not due before retryAt")
	leaseLost(t, q.MarkSent(t.Context(), c.Lease(), now()), "the lease ended with MarkFailed")

	time.Sleep(time.Until(retryAt) + 150*time.Millisecond)
	again := claimOne(t, q, e.ID, lease)
	assert.Equal(t, 1, again.RetryCount, "the claimed email carries its retry count")
	assert.NotEqual(t, c.LeaseToken, again.LeaseToken)
	require.NoError(t, q.MarkFailed(t.Context(), again.Lease(), "451 still greylisted", now().Add(-time.Second)))
	got = status(t, q, ctx, e.ID, ports.EmailQueued)
	assert.Equal(t, 2, got.RetryCount, "retry_count counts every retried attempt")
	assert.Equal(t, "451 still greylisted", got.Error, "error is the last failure's")
}

func testMarkFailedPermanent(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	c := claimOne(t, q, e.ID, lease)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "421 try again later", now().Add(-time.Second)))
	c = claimOne(t, q, e.ID, lease)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "550 no such user", time.Time{}))

	got := status(t, q, ctx, e.ID, ports.EmailFailed, "a zero retryAt fails the email")
	assert.Equal(t, "550 no such user", got.Error)
	assert.Equal(t, 1, got.RetryCount, "a final failure keeps the retry count")
	noLease(t, got, "MarkFailed")
	assert.True(t, got.SentAt.IsZero(), "never sent")
	assert.Empty(t, claim(t, q, 10, lease), "a Failed email is not claimed")
	leaseLost(t, q.Release(t.Context(), c.Lease()), "the lease ended with MarkFailed")
}

func testRelease(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	c := claimOne(t, q, e.ID, lease)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "421 try again later", now().Add(-time.Second)))
	c = claimOne(t, q, e.ID, lease)
	require.NoError(t, q.Release(t.Context(), c.Lease()))

	got := status(t, q, ctx, e.ID, ports.EmailQueued, "a released email is Queued")
	assert.Equal(t, 1, got.RetryCount, "Release keeps the retry count")
	assert.Equal(t, "421 try again later", got.Error, "Release keeps the error")
	noLease(t, got, "Release")

	again := claimOne(t, q, e.ID, lease)
	assert.NotEqual(t, c.LeaseToken, again.LeaseToken)
	assert.Equal(t, 1, again.RetryCount)
	leaseLost(t, q.Release(t.Context(), c.Lease()), "Release under the lease released before")
	status(t, q, ctx, e.ID, ports.EmailSending, "held by the new claim")
}

// inStatus enqueues an email in tenant t1 and brings it to st.
func inStatus(t *testing.T, q ports.EmailQueue, st string) *ports.QueuedEmail {
	t.Helper()
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample(st))
	switch st {
	case ports.EmailQueued:
	case ports.EmailCancelled:
		require.NoError(t, q.Cancel(ctx, e.ID))
	default:
		c, err := q.ClaimID(ctx, e.ID, lease)
		require.NoError(t, err)
		switch st {
		case ports.EmailSent:
			require.NoError(t, q.MarkSent(t.Context(), c.Lease(), now()))
		case ports.EmailFailed:
			require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "550 no such user", time.Time{}))
		}
	}
	status(t, q, ctx, e.ID, st, "set up an email in status %s", st)
	return e
}

func testCancel(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := enqueue(t, q, ctx, sample("a"))
	require.NoError(t, q.Cancel(ctx, e.ID))
	status(t, q, ctx, e.ID, ports.EmailCancelled)
	assert.Empty(t, claim(t, q, 10, lease), "a Cancelled email is not claimed")

	for _, st := range []string{ports.EmailSending, ports.EmailSent, ports.EmailFailed, ports.EmailCancelled} {
		e := inStatus(t, q, st)
		assert.ErrorIs(t, q.Cancel(ctx, e.ID), core.ErrConflict, "Cancel of a %s email", st)
		status(t, q, ctx, e.ID, st, "a refused Cancel leaves the email %s", st)
	}
	assert.ErrorIs(t, q.Cancel(ctx, doctype.NewUUIDv7()), core.ErrNotFound, "Cancel of an unknown id")
}

func testRetry(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")

	// A Failed email with a retry count and an error.
	failed := enqueue(t, q, ctx, sample("failed"))
	c := claimOne(t, q, failed.ID, lease)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "421 try again later", now().Add(-time.Second)))
	c = claimOne(t, q, failed.ID, lease)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "550 no such user", time.Time{}))
	require.NoError(t, q.Retry(ctx, failed.ID))
	got := status(t, q, ctx, failed.ID, ports.EmailQueued, "Retry of a Failed email")
	assert.Zero(t, got.RetryCount, "Retry resets the retry count")
	assert.Empty(t, got.Error, "Retry clears the error")
	claimed := claimOne(t, q, failed.ID, lease)
	assert.Zero(t, claimed.RetryCount)

	// A Cancelled email that waited for a retry an hour away.
	cancelled := enqueue(t, q, ctx, sample("cancelled"))
	c = claimOne(t, q, cancelled.ID, lease)
	require.NoError(t, q.MarkFailed(t.Context(), c.Lease(), "421 try again later", now().Add(time.Hour)))
	require.NoError(t, q.Cancel(ctx, cancelled.ID))
	require.NoError(t, q.Retry(ctx, cancelled.ID))
	got = status(t, q, ctx, cancelled.ID, ports.EmailQueued, "Retry of a Cancelled email")
	assert.Zero(t, got.RetryCount)
	assert.Empty(t, got.Error)
	claimOne(t, q, cancelled.ID, lease) // due now, not in an hour

	for _, st := range []string{ports.EmailQueued, ports.EmailSending, ports.EmailSent} {
		e := inStatus(t, q, st)
		assert.ErrorIs(t, q.Retry(ctx, e.ID), core.ErrConflict, "Retry of a %s email", st)
		status(t, q, ctx, e.ID, st, "a refused Retry leaves the email %s", st)
	}
	assert.ErrorIs(t, q.Retry(ctx, doctype.NewUUIDv7()), core.ErrNotFound, "Retry of an unknown id")
}

func testClaimID(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	e := sample("scheduled")
	e.SendAfter = now().Add(time.Hour)
	enqueue(t, q, ctx, e)
	retrying := sample("waiting for a retry")
	retrying.NextAttemptAt = now().Add(time.Hour)
	enqueue(t, q, ctx, retrying)

	c, err := q.ClaimID(ctx, e.ID, lease)
	require.NoError(t, err, "ClaimID does not wait for send_after")
	require.NotNil(t, c)
	assert.Equal(t, e.ID, c.ID)
	assert.Equal(t, "t1", c.TenantID)
	leased(t, c, lease, "ClaimID")
	sameTime(t, c.LeaseUntil, status(t, q, ctx, e.ID, ports.EmailSending).LeaseUntil, "stored lease_until")
	assert.Empty(t, claim(t, q, 10, lease), "Claim does not take the email ClaimID holds")

	again, err := q.ClaimID(ctx, e.ID, lease)
	assert.ErrorIs(t, err, core.ErrConflict, "ClaimID of a Sending email")
	assert.Nil(t, again)
	sameTime(t, c.LeaseUntil, status(t, q, ctx, e.ID, ports.EmailSending).LeaseUntil, "the refused ClaimID kept the lease")
	require.NoError(t, q.MarkSent(t.Context(), c.Lease(), now()), "the lease ClaimID drew holds")
	_, err = q.ClaimID(ctx, e.ID, lease)
	assert.ErrorIs(t, err, core.ErrConflict, "ClaimID of a Sent email")

	r, err := q.ClaimID(ctx, retrying.ID, lease)
	require.NoError(t, err, "ClaimID does not wait for next_attempt_at")
	leased(t, r, lease, "ClaimID")

	for _, st := range []string{ports.EmailFailed, ports.EmailCancelled} {
		x := inStatus(t, q, st)
		_, err := q.ClaimID(ctx, x.ID, lease)
		assert.ErrorIs(t, err, core.ErrConflict, "ClaimID of a %s email", st)
		status(t, q, ctx, x.ID, st)
	}
	_, err = q.ClaimID(ctx, doctype.NewUUIDv7(), lease)
	assert.ErrorIs(t, err, core.ErrNotFound, "ClaimID of an unknown id")
}

func testList(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	base := now().Add(-time.Hour)
	mk := func(name string, offset time.Duration, doctype, id string) *ports.QueuedEmail {
		e := at(name, base.Add(offset))
		e.ReferenceDocType, e.ReferenceID = doctype, id
		return e
	}
	// Enqueued out of order, so neither the order of enqueueing nor that of
	// the ids is the order of queued_at.
	e := enqueue(t, q, ctx, mk("e", 5*time.Second, "", ""))
	c := enqueue(t, q, ctx, mk("c", 3*time.Second, "Order", "INV-1"))
	a := enqueue(t, q, ctx, mk("a", time.Second, "Invoice", "INV-1"))
	d := enqueue(t, q, ctx, mk("d", 4*time.Second, "Invoice", "INV-1"))
	b := enqueue(t, q, ctx, mk("b", 2*time.Second, "Invoice", "INV-2"))
	enqueue(t, q, in(t, "t2"), mk("other tenant", 6*time.Second, "Invoice", "INV-1"))
	require.NoError(t, q.Cancel(ctx, d.ID))

	cases := []struct {
		name  string
		f     ports.EmailQueueFilter
		want  []string
		total int
	}{
		{"all", ports.EmailQueueFilter{}, []string{e.ID, d.ID, c.ID, b.ID, a.ID}, 5},
		{"cancelled", ports.EmailQueueFilter{Status: ports.EmailCancelled}, []string{d.ID}, 1},
		{"queued", ports.EmailQueueFilter{Status: ports.EmailQueued}, []string{e.ID, c.ID, b.ID, a.ID}, 4},
		{"sent", ports.EmailQueueFilter{Status: ports.EmailSent}, []string{}, 0},
		{"about Invoice INV-1", ports.EmailQueueFilter{ReferenceDocType: "Invoice", ReferenceID: "INV-1"}, []string{d.ID, a.ID}, 2},
		{"queued about Invoice INV-1", ports.EmailQueueFilter{Status: ports.EmailQueued, ReferenceDocType: "Invoice", ReferenceID: "INV-1"}, []string{a.ID}, 1},
		{"about Order INV-1", ports.EmailQueueFilter{ReferenceDocType: "Order", ReferenceID: "INV-1"}, []string{c.ID}, 1},
		{"about Invoice INV-9", ports.EmailQueueFilter{ReferenceDocType: "Invoice", ReferenceID: "INV-9"}, []string{}, 0},
	}
	for _, tc := range cases {
		got, total := list(t, q, ctx, tc.f)
		assert.Equal(t, tc.want, got, "%s: the emails, newest first", tc.name)
		assert.Equal(t, tc.total, total, "%s: total", tc.name)
	}
}

func testListPaging(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	base := now().Add(-time.Hour)
	var newestFirst []string
	for i := range 5 {
		e := enqueue(t, q, ctx, at(fmt.Sprintf("email %d", i), base.Add(time.Duration(i)*time.Second)))
		newestFirst = append([]string{e.ID}, newestFirst...)
	}
	pages := []struct {
		limit, offset int
		want          []string
	}{
		{2, 0, newestFirst[:2]},
		{2, 2, newestFirst[2:4]},
		{2, 4, newestFirst[4:]},
		{3, 1, newestFirst[1:4]},
		{1000, 0, newestFirst},
		{2, 5, []string{}},
		{2, 50, []string{}},
	}
	for _, p := range pages {
		got, total := list(t, q, ctx, ports.EmailQueueFilter{Limit: p.limit, Offset: p.offset})
		assert.Equal(t, p.want, got, "limit %d offset %d", p.limit, p.offset)
		assert.Equal(t, 5, total, "limit %d offset %d: total counts every match", p.limit, p.offset)
	}
	got, total := list(t, q, ctx, ports.EmailQueueFilter{Status: ports.EmailQueued, Limit: 1, Offset: 1})
	assert.Equal(t, newestFirst[1:2], got, "paging with a filter")
	assert.Equal(t, 5, total)
}

func testListDefaultLimit(t *testing.T, q ports.EmailQueue) {
	ctx := in(t, "t1")
	base := now().Add(-time.Hour)
	var newestFirst []string
	for i := range 23 {
		e := enqueue(t, q, ctx, at(fmt.Sprintf("email %d", i), base.Add(time.Duration(i)*time.Second)))
		newestFirst = append([]string{e.ID}, newestFirst...)
	}
	got, total := list(t, q, ctx, ports.EmailQueueFilter{})
	assert.Equal(t, newestFirst[:20], got, "Limit 0 is 20")
	assert.Equal(t, 23, total)
	got, total = list(t, q, ctx, ports.EmailQueueFilter{Offset: 20})
	assert.Equal(t, newestFirst[20:], got, "Limit 0 is 20, from Offset")
	assert.Equal(t, 23, total)
}
