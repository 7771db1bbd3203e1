// Package database keeps the email queue in the app's database, as Email
// Queue rows ([email.queue] backend = "database", the default): every app
// instance sharing the database shares the queue. Workers claim due rows
// with one UPDATE … RETURNING whose candidate rows PostgreSQL locks with
// FOR UPDATE SKIP LOCKED, so concurrent claims on many instances never take
// the same row and never wait for each other; on SQLite the same statement
// runs alone (one writer), which makes it atomic. Every later change of a
// claimed row is conditional on the claim's lease token.
package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Store is what the queue needs of the app's database: transactions (on
// SQLite they take the one writer's turn) and the GORM handle joined to
// the transaction in ctx. The repository of adapters/db is one.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	DB(ctx context.Context) *gorm.DB
}

// Queue is the database implementation of ports.EmailQueue.
type Queue struct {
	store    Store
	table    string
	postgres bool
	now      func() time.Time

	indexMu sync.Mutex
	indexed bool
}

// New returns a Queue over store, whose Email Queue DocType is stored in
// table (doctypes.EmailQueueMeta, migrated before the first claim).
func New(ctx context.Context, store Store, table string) (*Queue, error) {
	if !validIdent(table) {
		return nil, fmt.Errorf("email queue: bad table name %q", table)
	}
	return &Queue{store: store, table: table, postgres: store.DB(ctx).Name() == "postgres", now: time.Now}, nil
}

// claimIndex adds, once, the index claims read: the due rows in claim
// order, across tenants (a partial index the DocType's Meta cannot say).
func (q *Queue) claimIndex(ctx context.Context) error {
	q.indexMu.Lock()
	defer q.indexMu.Unlock()
	if q.indexed {
		return nil
	}
	idx := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS idx_%s_claim ON %s (priority_rank DESC, queued_at, name) WHERE status IN ('Queued', 'Sending')`, q.table, q.table)
	if err := q.write(ctx, func(tx *gorm.DB) error { return tx.Exec(idx).Error }); err != nil {
		return fmt.Errorf("email queue: create the claim index: %w", err)
	}
	q.indexed = true
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// stamp is the time the database keeps: UTC, to the microsecond.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// newToken returns a random lease token.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func notFound(id string) error {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return core.Publicf(core.ErrNotFound, "email %q not found", id)
}

var errLeaseLost = fmt.Errorf("%w: %w", core.ErrConflict, ports.ErrEmailLeaseLost)

// write runs fn in a transaction of its own.
func (q *Queue) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return q.store.InTx(ctx, func(ctx context.Context) error { return fn(q.store.DB(ctx)) })
}

// Enqueue stores e in the tenant of ctx as Queued.
func (q *Queue) Enqueue(ctx context.Context, e *ports.QueuedEmail) error {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	if e.MessageID == "" {
		return errors.New("email queue: enqueue: MessageID is empty")
	}
	now := stamp(q.now())
	e.TenantID = tid
	if e.ID == "" {
		e.ID = doctype.NewUUIDv7()
	}
	if e.QueuedAt.IsZero() {
		e.QueuedAt = now
	}
	e.Status = ports.EmailQueued
	if e.Priority == "" {
		e.Priority = ports.EmailPriorityNormal
	}
	e.QueuedAt = stamp(e.QueuedAt)
	if !e.SendAfter.IsZero() {
		e.SendAfter = stamp(e.SendAfter)
	}
	if !e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = stamp(e.NextAttemptAt)
	}
	e.LeaseToken, e.LeaseUntil, e.SentAt = "", time.Time{}, time.Time{}
	row := doctypes.NewEmailQueue(e)
	row.Owner = e.Owner
	row.CreatedAt, row.ModifiedAt, row.ModifiedBy, row.Version = now, now, e.Owner, 1
	err = q.write(ctx, func(tx *gorm.DB) error { return tx.Table(q.table).Create(row).Error })
	if err != nil {
		if isDuplicate(err) {
			return core.Publicf(core.ErrConflict, "email %q already exists", e.ID)
		}
		return fmt.Errorf("email queue: enqueue: %w", err)
	}
	return nil
}

// isDuplicate reports a unique violation, on either driver.
func isDuplicate(err error) bool {
	if errors.Is(err, core.ErrConflict) || errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "duplicate key value") || strings.Contains(s, "23505")
}

// claimSQL is the claim: the due rows in claim order, leased at once.
func (q *Queue) claimSQL() string {
	lock := ""
	if q.postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return fmt.Sprintf(`UPDATE %[1]s SET status = 'Sending', lease_token = %[3]s, lease_until = ?, available_at = ?, modified_at = ?, version = version + 1
WHERE (tenant_id, name) IN (
  SELECT tenant_id, name FROM %[1]s
  WHERE status IN ('Queued', 'Sending') AND available_at <= ?
  ORDER BY priority_rank DESC, queued_at, name
  LIMIT ?%[2]s)
RETURNING *`, q.table, lock, q.randomToken())
}

// randomToken is the SQL of a random lease token, one per row: 128 bits in
// hex (PostgreSQL's gen_random_uuid, SQLite's randomblob).
func (q *Queue) randomToken() string {
	if q.postgres {
		return "replace(gen_random_uuid()::text, '-', '')"
	}
	return "lower(hex(randomblob(16)))"
}

// Claim leases up to n due emails of any tenant for d.
func (q *Queue) Claim(ctx context.Context, n int, d time.Duration) ([]ports.QueuedEmail, error) {
	if n <= 0 {
		return nil, nil
	}
	if err := q.claimIndex(ctx); err != nil {
		return nil, err
	}
	now := stamp(q.now())
	until := now.Add(d)
	var rows []doctypes.EmailQueue
	err := q.write(ctx, func(tx *gorm.DB) error {
		return tx.Raw(q.claimSQL(), until, until, now, now, n).Scan(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("email queue: claim: %w", err)
	}
	slices.SortFunc(rows, func(a, b doctypes.EmailQueue) int {
		if a.PriorityRank != b.PriorityRank {
			return b.PriorityRank - a.PriorityRank
		}
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := make([]ports.QueuedEmail, len(rows))
	for i := range rows {
		out[i] = rows[i].ToQueued()
	}
	return out, nil
}

// ClaimID leases the Queued email id of the tenant in ctx for d.
func (q *Queue) ClaimID(ctx context.Context, id string, d time.Duration) (*ports.QueuedEmail, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	now := stamp(q.now())
	until := now.Add(d)
	var rows []doctypes.EmailQueue
	err = q.write(ctx, func(tx *gorm.DB) error {
		return tx.Raw(fmt.Sprintf(`UPDATE %s SET status = 'Sending', lease_token = ?, lease_until = ?, available_at = ?, modified_at = ?, version = version + 1
WHERE tenant_id = ? AND name = ? AND status = 'Queued' RETURNING *`, q.table), newToken(), until, until, now, tid, id).Scan(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("email queue: claim %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, q.whyNot(ctx, id, "is not Queued")
	}
	e := rows[0].ToQueued()
	return &e, nil
}

// whyNot explains a conditional change that changed nothing: the email is
// not there, or its status (reason) forbids it.
func (q *Queue) whyNot(ctx context.Context, id, reason string) error {
	e, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	return core.Publicf(core.ErrConflict, "email %q %s (it is %s)", id, reason, e.Status)
}

// leased runs a change of the email l holds; none changed is a lost lease.
func (q *Queue) leased(ctx context.Context, l ports.EmailLease, set string, args ...any) error {
	if l.Token == "" {
		return errLeaseLost
	}
	var changed int64
	err := q.write(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(fmt.Sprintf(`UPDATE %s SET %s, lease_token = '', lease_until = NULL, modified_at = ?, version = version + 1
WHERE tenant_id = ? AND name = ? AND status = 'Sending' AND lease_token = ?`, q.table, set),
			append(args, stamp(q.now()), l.TenantID, l.ID, l.Token)...)
		changed = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("email queue: %s: %w", l.ID, err)
	}
	if changed == 0 {
		return errLeaseLost
	}
	return nil
}

// MarkSent records that the email held by l was accepted at at.
func (q *Queue) MarkSent(ctx context.Context, l ports.EmailLease, at time.Time) error {
	return q.leased(ctx, l, "status = 'Sent', sent_at = ?, error = ''"+eraseSensitive, stamp(at))
}

// eraseSensitive empties a sensitive email's bodies as it ends.
const eraseSensitive = `, body = CASE WHEN sensitive THEN '' ELSE body END, text_body = CASE WHEN sensitive THEN '' ELSE text_body END`

// MarkSentBatch records that the emails held by ls were accepted at at,
// in one statement; it returns the leases that were lost.
func (q *Queue) MarkSentBatch(ctx context.Context, ls []ports.EmailLease, at time.Time) ([]ports.EmailLease, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	var lost []ports.EmailLease
	for start := 0; start < len(ls); start += 300 { // bound the statement's parameters
		chunk := ls[start:min(start+300, len(ls))]
		tuples := make([]string, len(chunk))
		args := []any{stamp(at), stamp(q.now())}
		for i, l := range chunk {
			tuples[i] = "(?, ?, ?)"
			args = append(args, l.TenantID, l.ID, l.Token)
		}
		var marked []struct {
			TenantID string
			Name     string
		}
		err := q.write(ctx, func(tx *gorm.DB) error {
			return tx.Raw(fmt.Sprintf(`UPDATE %s SET status = 'Sent', sent_at = ?, error = ''`+eraseSensitive+`, lease_token = '', lease_until = NULL, modified_at = ?, version = version + 1
WHERE status = 'Sending' AND (tenant_id, name, lease_token) IN (%s) RETURNING tenant_id, name`, q.table, strings.Join(tuples, ", ")), args...).Scan(&marked).Error
		})
		if err != nil {
			return nil, fmt.Errorf("email queue: mark %d sent: %w", len(chunk), err)
		}
		done := make(map[[2]string]bool, len(marked))
		for _, m := range marked {
			done[[2]string{m.TenantID, m.Name}] = true
		}
		for _, l := range chunk {
			if !done[[2]string{l.TenantID, l.ID}] {
				lost = append(lost, l)
			}
		}
	}
	return lost, nil
}

// MarkFailed records a failed attempt of the email held by l.
func (q *Queue) MarkFailed(ctx context.Context, l ports.EmailLease, reason string, retryAt time.Time) error {
	if retryAt.IsZero() {
		return q.leased(ctx, l, "status = 'Failed', error = ?"+eraseSensitive, reason)
	}
	at := stamp(retryAt)
	return q.leased(ctx, l, "status = 'Queued', error = ?, retry_count = retry_count + 1, next_attempt_at = ?, available_at = ?", reason, at, at)
}

// Release returns the email held by l to the queue, due now.
func (q *Queue) Release(ctx context.Context, l ports.EmailLease) error {
	return q.leased(ctx, l, "status = 'Queued', available_at = ?", stamp(q.now()))
}

// tenantChange runs a change of the email id of the tenant in ctx whose
// status is one of from; none changed is explained by whyNot.
func (q *Queue) tenantChange(ctx context.Context, id string, from []string, set, reason string, args ...any) error {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	var changed int64
	err = q.write(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(fmt.Sprintf(`UPDATE %s SET %s, modified_at = ?, modified_by = ?, version = version + 1
WHERE tenant_id = ? AND name = ? AND status IN ?`, q.table, set),
			append(args, stamp(q.now()), actor(ctx), tid, id, from)...)
		changed = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("email queue: %s: %w", id, err)
	}
	if changed == 0 {
		return q.whyNot(ctx, id, reason)
	}
	return nil
}

func actor(ctx context.Context) string {
	if u := ports.UserFrom(ctx); u != nil {
		return u.ID
	}
	return ports.SystemUser.ID
}

// Cancel makes the Queued email id Cancelled.
func (q *Queue) Cancel(ctx context.Context, id string) error {
	return q.tenantChange(ctx, id, []string{ports.EmailQueued}, "status = 'Cancelled'", "can be cancelled only while Queued")
}

// Retry queues the Failed or Cancelled email id again, due now.
func (q *Queue) Retry(ctx context.Context, id string) error {
	now := stamp(q.now())
	return q.tenantChange(ctx, id, []string{ports.EmailFailed, ports.EmailCancelled},
		"status = 'Queued', retry_count = 0, error = '', next_attempt_at = NULL, send_after = NULL, available_at = ?",
		"can be retried only when Failed or Cancelled", now)
}

// Get returns the email id of the tenant in ctx.
func (q *Queue) Get(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	var rows []doctypes.EmailQueue
	if err := q.store.DB(ctx).Table(q.table).Where("tenant_id = ? AND name = ?", tid, id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("email queue: get %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, notFound(id)
	}
	e := rows[0].ToQueued()
	return &e, nil
}

// List returns the emails of the tenant in ctx that f selects, newest
// first, and how many it selects.
func (q *Queue) List(ctx context.Context, f ports.EmailQueueFilter) ([]ports.QueuedEmail, int, error) {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return nil, 0, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 1000)
	sel := q.store.DB(ctx).Table(q.table).Where("tenant_id = ?", tid)
	if f.Status != "" {
		sel = sel.Where("status = ?", f.Status)
	}
	if f.ReferenceDocType != "" {
		sel = sel.Where("reference_doctype = ?", f.ReferenceDocType)
	}
	if f.ReferenceID != "" {
		sel = sel.Where("reference_id = ?", f.ReferenceID)
	}
	var total int64
	if err := sel.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("email queue: count: %w", err)
	}
	var rows []doctypes.EmailQueue
	if err := sel.Order("queued_at DESC, name DESC").Limit(limit).Offset(max(f.Offset, 0)).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("email queue: list: %w", err)
	}
	out := make([]ports.QueuedEmail, len(rows))
	for i := range rows {
		out[i] = rows[i].ToQueued()
	}
	return out, int(total), nil
}

// Depth returns how many emails of every tenant are Queued. It is the one
// read of this queue that is deliberately not scoped to the tenant of ctx
// (like Claim, it serves the processor, which spans tenants): a single
// COUNT over the status column, returning a number and nothing of any
// email, for the fm_email_queue_depth gauge.
func (q *Queue) Depth(ctx context.Context) (int64, error) {
	var n int64
	// Cross-tenant on purpose: no tenant_id condition (see the doc comment).
	err := q.store.DB(ctx).Raw(fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE status = ?`, q.table), ports.EmailQueued).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("email queue: depth: %w", err)
	}
	return n, nil
}

var (
	_ ports.EmailQueue       = (*Queue)(nil)
	_ ports.EmailSentBatcher = (*Queue)(nil)
	_ ports.EmailQueueDepth  = (*Queue)(nil)
)
