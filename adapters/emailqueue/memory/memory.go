// Package memory keeps the email queue in process memory ([email.queue]
// backend = "memory"): for tests and for trying the framework out, never for
// an app whose queued emails must outlive it or that runs more than one
// instance.
//
// The queue copies what it is given and what it returns (slices and the
// ReplyTo mailbox included), so callers never share its state. Emails are
// keyed by tenant and id. Claim hands out due emails by priority (high,
// normal, low), then oldest QueuedAt, then id; a lease token is 128 random
// bits in hex.
package memory

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// DefaultLimit is the page size of a List whose Limit is 0 or less;
// MaxLimit is the largest page a List returns.
const (
	DefaultLimit = 20
	MaxLimit     = 1000
)

// Queue is the in-memory implementation of ports.EmailQueue. It is safe for
// concurrent use; the zero value is not usable (call New).
type Queue struct {
	mu     sync.Mutex
	emails map[key]*ports.QueuedEmail
}

// key names an email: its tenant and its id.
type key struct{ tenant, id string }

// New returns an empty Queue.
func New() *Queue { return &Queue{emails: map[key]*ports.QueuedEmail{}} }

// Enqueue stores a copy of e in the tenant of ctx as Queued, without a
// lease, and writes back to e its TenantID, Status and, when they were
// empty, its new ID and QueuedAt (now, UTC). Without a tenant in ctx it is
// core.ErrNoTenant; without a MessageID core.ErrValidation; an ID the
// tenant uses already core.ErrConflict.
func (q *Queue) Enqueue(ctx context.Context, e *ports.QueuedEmail) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory email queue: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	if e == nil {
		return core.Invalid("email", "is required")
	}
	if e.MessageID == "" {
		return core.Invalid("message_id", "is required")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	id := e.ID
	if id == "" {
		id = doctype.NewUUIDv7()
	}
	k := key{tenant, id}
	if _, used := q.emails[k]; used {
		return core.Publicf(core.ErrConflict, "email %q exists already", id)
	}
	e.ID, e.TenantID, e.Status = id, tenant, ports.EmailQueued
	if e.QueuedAt.IsZero() {
		e.QueuedAt = time.Now().UTC()
	}
	e.LeaseToken, e.LeaseUntil = "", time.Time{}
	stored := clone(*e)
	q.emails[k] = &stored
	return nil
}

// Claim leases up to n due emails of any tenant for d and returns copies of
// them as Sending, in claim order. n of 0 or less claims none.
func (q *Queue) Claim(ctx context.Context, n int, d time.Duration) ([]ports.QueuedEmail, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory email queue: %w", err)
	}
	out := []ports.QueuedEmail{}
	if n <= 0 {
		return out, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var due []*ports.QueuedEmail
	for _, e := range q.emails {
		if isDue(e, now) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, claimOrder)
	due = due[:min(n, len(due))]
	tokens := make([]string, len(due)) // drawn first: a failure changes nothing
	for i := range tokens {
		var err error
		if tokens[i], err = newToken(); err != nil {
			return nil, err
		}
	}
	for i, e := range due {
		lease(e, tokens[i], now, d)
		out = append(out, clone(*e))
	}
	return out, nil
}

// ClaimID leases the Queued email id of the tenant in ctx for d, due or
// not, and returns a copy of it as Sending.
func (q *Queue) ClaimID(ctx context.Context, id string, d time.Duration) (*ports.QueuedEmail, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory email queue: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.find(tenant, id)
	if err != nil {
		return nil, err
	}
	if e.Status != ports.EmailQueued {
		return nil, core.Publicf(core.ErrConflict, "email %q is %s: only a Queued email can be sent now", id, e.Status)
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	lease(e, token, time.Now(), d)
	c := clone(*e)
	return &c, nil
}

// MarkSent records that the email held by l was accepted at at (now when
// at is zero): Sent, its lease and Error cleared.
func (q *Queue) MarkSent(ctx context.Context, l ports.EmailLease, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory email queue: %w", err)
	}
	if at.IsZero() {
		at = time.Now()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.held(l)
	if err != nil {
		return err
	}
	e.Status, e.SentAt, e.Error = ports.EmailSent, at.UTC(), ""
	erase(e)
	unlease(e)
	return nil
}

// MarkFailed records a failed attempt of the email held by l: Queued again
// at retryAt with RetryCount one more, or Failed when retryAt is zero.
// Either way Error is reason and the lease is cleared.
func (q *Queue) MarkFailed(ctx context.Context, l ports.EmailLease, reason string, retryAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory email queue: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.held(l)
	if err != nil {
		return err
	}
	e.Error = reason
	if retryAt.IsZero() {
		e.Status = ports.EmailFailed
		erase(e)
	} else {
		e.Status, e.NextAttemptAt = ports.EmailQueued, retryAt.UTC()
		e.RetryCount++
	}
	unlease(e)
	return nil
}

// Release returns the email held by l to the queue as Queued, its lease
// cleared and nothing else changed.
func (q *Queue) Release(ctx context.Context, l ports.EmailLease) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory email queue: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.held(l)
	if err != nil {
		return err
	}
	e.Status = ports.EmailQueued
	unlease(e)
	return nil
}

// Cancel makes the Queued email id of the tenant in ctx Cancelled.
func (q *Queue) Cancel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory email queue: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.find(tenant, id)
	if err != nil {
		return err
	}
	if e.Status != ports.EmailQueued {
		return core.Publicf(core.ErrConflict, "email %q is %s: only a Queued email can be cancelled", id, e.Status)
	}
	e.Status = ports.EmailCancelled
	return nil
}

// Retry queues the Failed or Cancelled email id of the tenant in ctx again:
// Queued, RetryCount 0, Error and NextAttemptAt cleared (SendAfter is kept).
func (q *Queue) Retry(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory email queue: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.find(tenant, id)
	if err != nil {
		return err
	}
	if e.Status != ports.EmailFailed && e.Status != ports.EmailCancelled {
		return core.Publicf(core.ErrConflict, "email %q is %s: only a Failed or Cancelled email can be queued again", id, e.Status)
	}
	e.Status, e.RetryCount, e.Error, e.NextAttemptAt, e.SendAfter = ports.EmailQueued, 0, "", time.Time{}, time.Time{}
	unlease(e)
	return nil
}

// Get returns a copy of the email id of the tenant in ctx.
func (q *Queue) Get(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory email queue: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, err := q.find(tenant, id)
	if err != nil {
		return nil, err
	}
	c := clone(*e)
	return &c, nil
}

// List returns copies of the emails of the tenant in ctx that f selects,
// newest first (QueuedAt, then ID, descending), one page of them (Limit 0
// or less means DefaultLimit, more than MaxLimit means MaxLimit; a negative
// Offset means 0), and how many it selects in all.
func (q *Queue) List(ctx context.Context, f ports.EmailQueueFilter) ([]ports.QueuedEmail, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("memory email queue: %w", err)
	}
	tenant, err := tenantOf(ctx)
	if err != nil {
		return nil, 0, err
	}
	q.mu.Lock()
	var found []*ports.QueuedEmail
	for k, e := range q.emails {
		if k.tenant == tenant && matches(e, f) {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *ports.QueuedEmail) int {
		return cmp.Or(b.QueuedAt.Compare(a.QueuedAt), cmp.Compare(b.ID, a.ID))
	})
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit, offset := min(limit, MaxLimit), max(f.Offset, 0)
	out := []ports.QueuedEmail{}
	if offset < len(found) {
		for _, e := range found[offset:min(offset+limit, len(found))] {
			out = append(out, clone(*e))
		}
	}
	q.mu.Unlock()
	return out, len(found), nil
}

// find returns the stored email id of tenant, or core.ErrNotFound.
func (q *Queue) find(tenant, id string) (*ports.QueuedEmail, error) {
	e, ok := q.emails[key{tenant, id}]
	if !ok {
		return nil, core.Publicf(core.ErrNotFound, "email %q not found", id)
	}
	return e, nil
}

// held returns the stored email l holds: Sending under l's token. Anything
// else (no such email, another status, another token) is the lease lost.
func (q *Queue) held(l ports.EmailLease) (*ports.QueuedEmail, error) {
	e, ok := q.emails[key{l.TenantID, l.ID}]
	if !ok || e.Status != ports.EmailSending || l.Token == "" || e.LeaseToken != l.Token {
		return nil, fmt.Errorf("email %q: %w: %w", l.ID, core.ErrConflict, ports.ErrEmailLeaseLost)
	}
	return e, nil
}

// tenantOf returns the tenant of ctx, or core.ErrNoTenant.
func tenantOf(ctx context.Context) (string, error) {
	tenant := ports.TenantIDFrom(ctx)
	if tenant == "" {
		return "", fmt.Errorf("memory email queue: %w", core.ErrNoTenant)
	}
	return tenant, nil
}

// isDue reports whether Claim may hand e out at now: Queued with SendAfter
// and NextAttemptAt not after now, or Sending with its lease run out.
func isDue(e *ports.QueuedEmail, now time.Time) bool {
	switch e.Status {
	case ports.EmailQueued:
		return !e.SendAfter.After(now) && !e.NextAttemptAt.After(now)
	case ports.EmailSending:
		return e.LeaseUntil.Before(now)
	}
	return false
}

// claimOrder sorts emails as Claim hands them out: highest priority first,
// then oldest, then by id.
func claimOrder(a, b *ports.QueuedEmail) int {
	return cmp.Or(
		cmp.Compare(rank(b.Priority), rank(a.Priority)),
		a.QueuedAt.Compare(b.QueuedAt),
		cmp.Compare(a.ID, b.ID),
	)
}

// rank orders priorities: high 2, low 0, anything else (normal) 1.
func rank(priority string) int {
	switch priority {
	case ports.EmailPriorityHigh:
		return 2
	case ports.EmailPriorityLow:
		return 0
	}
	return 1
}

// matches reports whether f selects e (its tenant aside).
func matches(e *ports.QueuedEmail, f ports.EmailQueueFilter) bool {
	return (f.Status == "" || e.Status == f.Status) &&
		(f.ReferenceDocType == "" || e.ReferenceDocType == f.ReferenceDocType) &&
		(f.ReferenceID == "" || e.ReferenceID == f.ReferenceID)
}

// lease makes e Sending under token until now+d.
func lease(e *ports.QueuedEmail, token string, now time.Time, d time.Duration) {
	e.Status, e.LeaseToken, e.LeaseUntil = ports.EmailSending, token, now.Add(d).UTC()
}

// unlease clears e's lease.
func unlease(e *ports.QueuedEmail) { e.LeaseToken, e.LeaseUntil = "", time.Time{} }

// newToken returns 128 random bits in hex.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("memory email queue: lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// clone returns a copy of e that shares no slice or mailbox with it.
func clone(e ports.QueuedEmail) ports.QueuedEmail {
	if e.ReplyTo != nil {
		r := *e.ReplyTo
		e.ReplyTo = &r
	}
	e.To, e.Cc, e.Bcc = slices.Clone(e.To), slices.Clone(e.Cc), slices.Clone(e.Bcc)
	e.References, e.Attachments = slices.Clone(e.References), slices.Clone(e.Attachments)
	return e
}

// Depth returns how many emails of every tenant are Queued (see
// ports.EmailQueueDepth): deliberately across tenants, a count only.
func (q *Queue) Depth(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory email queue: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var n int64
	for _, e := range q.emails {
		if e.Status == ports.EmailQueued {
			n++
		}
	}
	return n, nil
}

var (
	_ ports.EmailQueue      = (*Queue)(nil)
	_ ports.EmailQueueDepth = (*Queue)(nil)
)

// erase empties a sensitive email's bodies as it ends.
func erase(e *ports.QueuedEmail) {
	if e.Sensitive {
		e.HTML, e.Text = "", ""
	}
}
