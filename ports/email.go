package ports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// EmailAddress is a mailbox: an address and an optional display name.
type EmailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// String is the mailbox as a header shows it: "Name <address>" or the
// address alone.
func (a EmailAddress) String() string {
	if a.Name == "" {
		return a.Address
	}
	return fmt.Sprintf("%q <%s>", a.Name, a.Address)
}

// EmailAttachment is a file sent with an email. Its bytes are read when the
// email is sent (from file storage), never kept in the queue.
type EmailAttachment struct {
	// FileName is the name the recipient sees.
	FileName string `json:"file_name"`
	// ContentType is the attachment's media type.
	ContentType string `json:"content_type"`
	// Size is the byte count, -1 when unknown.
	Size int64 `json:"size"`
	// Open returns the bytes; the sender closes them.
	Open func(ctx context.Context) (io.ReadCloser, error) `json:"-"`
}

// EmailMessage is one email to send.
type EmailMessage struct {
	// MessageID is the Message-ID header's value without the angle
	// brackets ("0190…@example.com"): assigned when the email is queued and
	// the same on every attempt, so a copy that arrives twice (a crash after
	// the server accepted it) can be recognised.
	MessageID string
	From      EmailAddress
	ReplyTo   *EmailAddress
	// To, Cc and Bcc are the recipients; Bcc goes in the envelope only.
	To, Cc, Bcc []EmailAddress
	Subject     string
	// HTML and Text are the bodies: both make multipart/alternative.
	HTML, Text string
	// InReplyTo and References thread the email (Message-IDs without
	// angle brackets).
	InReplyTo   string
	References  []string
	Attachments []EmailAttachment
}

// Recipients lists every envelope recipient: To, Cc and Bcc.
func (m EmailMessage) Recipients() []EmailAddress {
	out := make([]EmailAddress, 0, len(m.To)+len(m.Cc)+len(m.Bcc))
	out = append(out, m.To...)
	out = append(out, m.Cc...)
	return append(out, m.Bcc...)
}

// ErrEmailRejected is a permanent delivery failure (an SMTP 5xx reply, an
// address the server refuses): trying again cannot help. Other Send errors
// are temporary (4xx replies, network errors, timeouts) and are retried.
var ErrEmailRejected = errors.New("email rejected")

// EmailSender delivers emails (SMTP, an API, a log for development).
type EmailSender interface {
	// Send delivers msg or fails: an error wrapping ErrEmailRejected when
	// retrying cannot help, any other error when it may. It honours ctx.
	Send(ctx context.Context, msg EmailMessage) error
}

// Statuses of a queued email. Queued emails wait for a worker; Sending ones
// are leased to one; Sent, Failed and Cancelled are final (an admin may
// queue a Failed or Cancelled one again).
const (
	EmailQueued    = "Queued"
	EmailSending   = "Sending"
	EmailSent      = "Sent"
	EmailFailed    = "Failed"
	EmailCancelled = "Cancelled"
)

// EmailStatuses lists the statuses of a queued email.
var EmailStatuses = []string{EmailQueued, EmailSending, EmailSent, EmailFailed, EmailCancelled}

// Priorities of a queued email: high ones are sent first, then normal, then
// low; within one priority the oldest first.
const (
	EmailPriorityLow    = "low"
	EmailPriorityNormal = "normal"
	EmailPriorityHigh   = "high"
)

// EmailPriorities lists the priorities of a queued email.
var EmailPriorities = []string{EmailPriorityLow, EmailPriorityNormal, EmailPriorityHigh}

// QueuedEmail is an email in the queue: the message (its attachments as
// File ids of its tenant, read from storage when it is sent), its delivery
// state and, while a worker holds it, the lease.
type QueuedEmail struct {
	// ID names the email in its tenant (a UUIDv7).
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// Owner is the user who queued it ("system" for the framework).
	Owner string `json:"owner"`
	// MessageID is assigned when the email is queued and sent on every
	// attempt (see EmailMessage.MessageID).
	MessageID   string         `json:"message_id"`
	From        EmailAddress   `json:"from_address"`
	ReplyTo     *EmailAddress  `json:"reply_to,omitempty"`
	To          []EmailAddress `json:"to"`
	Cc          []EmailAddress `json:"cc"`
	Bcc         []EmailAddress `json:"bcc"`
	Subject     string         `json:"subject"`
	HTML        string         `json:"body"`
	Text        string         `json:"text_body"`
	InReplyTo   string         `json:"in_reply_to,omitempty"`
	References  []string       `json:"references,omitempty"`
	Attachments []string       `json:"attachments"`
	// Status is one of EmailStatuses; Priority one of EmailPriorities.
	Status   string `json:"status"`
	Priority string `json:"priority"`
	// Error is the last failure's text.
	Error string `json:"error,omitempty"`
	// RetryCount counts the failed attempts that were tried again;
	// MaxRetries is how many may be (0–10).
	RetryCount int       `json:"retry_count"`
	MaxRetries int       `json:"max_retries"`
	QueuedAt   time.Time `json:"queued_at"`
	// SendAfter holds the email back until then (zero: send now).
	SendAfter time.Time `json:"send_after,omitzero"`
	// NextAttemptAt is when a failed attempt is tried again (zero: now).
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	SentAt        time.Time `json:"sent_at,omitzero"`
	// ReferenceDocType and ReferenceID name the document the email is about.
	ReferenceDocType string `json:"reference_doctype,omitempty"`
	ReferenceID      string `json:"reference_id,omitempty"`
	// Sensitive emails carry secrets (sign-in links): their bodies are
	// never shown when the queue is read, and are erased once the email is
	// Sent or Failed.
	Sensitive bool `json:"sensitive,omitempty"`
	// LeaseToken and LeaseUntil are set while a worker holds the email
	// (Sending): another worker may claim it once LeaseUntil has passed.
	LeaseToken string    `json:"-"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// Lease returns what proves a worker's hold on e.
func (e *QueuedEmail) Lease() EmailLease {
	return EmailLease{TenantID: e.TenantID, ID: e.ID, Token: e.LeaseToken}
}

// Message returns e as the sender takes it, without attachments (the
// processor opens those from storage).
func (e *QueuedEmail) Message() EmailMessage {
	return EmailMessage{
		MessageID: e.MessageID, From: e.From, ReplyTo: e.ReplyTo,
		To: e.To, Cc: e.Cc, Bcc: e.Bcc, Subject: e.Subject, HTML: e.HTML, Text: e.Text,
		InReplyTo: e.InReplyTo, References: e.References,
	}
}

// EmailLease names an email a worker holds: its tenant, its id and the
// token its claim drew.
type EmailLease struct {
	TenantID string
	ID       string
	Token    string
}

// EmailQueueFilter selects queued emails of one tenant for List.
type EmailQueueFilter struct {
	// Status keeps emails of one status ("" : all).
	Status string
	// ReferenceDocType and ReferenceID keep emails about one document.
	ReferenceDocType, ReferenceID string
	// Limit (1–1000; 0: 20) and Offset page the list, newest first.
	Limit, Offset int
}

// ErrEmailLeaseLost is what MarkSent, MarkFailed and Release return when
// the caller's lease has expired and another worker claimed the email, or
// the email was changed under it. Adapters wrap it together with
// core.ErrConflict.
var ErrEmailLeaseLost = errors.New("email lease lost")

// EmailQueue keeps the emails waiting to be sent, for every tenant. Workers
// of any number of app instances share it: Claim hands each due email to
// one of them at a time, for the length of a lease.
//
// Tenant-scoped methods (Enqueue, Get, List, Cancel, Retry) act in the
// tenant of ctx only: an email of another tenant is core.ErrNotFound. The
// processor's methods (Claim, MarkSent, MarkFailed, Release) span tenants.
type EmailQueue interface {
	// Enqueue stores e in the tenant of ctx as Queued: it sets TenantID,
	// and ID (a UUIDv7) and QueuedAt when they are empty. MessageID must be
	// set. An ID already used is core.ErrConflict.
	Enqueue(ctx context.Context, e *QueuedEmail) error
	// Claim leases up to n due emails of any tenant for d and returns them
	// as Sending, each with a new LeaseToken and LeaseUntil = now + d,
	// highest priority first, then oldest. Due: Queued, with SendAfter and
	// NextAttemptAt passed; or Sending with an expired lease (its worker
	// stopped). Two concurrent claims never return the same email.
	Claim(ctx context.Context, n int, d time.Duration) ([]QueuedEmail, error)
	// ClaimID leases the Queued email id of the tenant in ctx for d, due or
	// not (SendAfter and NextAttemptAt are not waited for): sending one
	// email now. An email in any other status (a worker holds it, it is
	// done) is core.ErrConflict; none is core.ErrNotFound.
	ClaimID(ctx context.Context, id string, d time.Duration) (*QueuedEmail, error)
	// MarkSent records that the email held by l was accepted at at: Sent,
	// lease cleared, Error cleared; a Sensitive email's bodies erased.
	MarkSent(ctx context.Context, l EmailLease, at time.Time) error
	// MarkFailed records a failed attempt of the email held by l with its
	// reason. With a non-zero retryAt it goes back to Queued, RetryCount
	// one more, NextAttemptAt = retryAt; with a zero retryAt it is Failed
	// (a Sensitive email's bodies erased).
	MarkFailed(ctx context.Context, l EmailLease, reason string, retryAt time.Time) error
	// Release returns the email held by l to the queue unchanged (Queued,
	// due now, RetryCount as it was): a worker stopping before it tried.
	Release(ctx context.Context, l EmailLease) error
	// Cancel makes the Queued email id Cancelled; any other status is
	// core.ErrConflict.
	Cancel(ctx context.Context, id string) error
	// Retry queues the Failed or Cancelled email id again, due now (its
	// SendAfter and NextAttemptAt cleared), with RetryCount 0 and Error
	// cleared; any other status is core.ErrConflict.
	Retry(ctx context.Context, id string) error
	// Get returns the email id.
	Get(ctx context.Context, id string) (*QueuedEmail, error)
	// List returns the emails f selects, newest first, and how many it
	// selects in all.
	List(ctx context.Context, f EmailQueueFilter) ([]QueuedEmail, int, error)
}

// EmailSentBatcher is implemented by queues that record many sent emails
// in one statement. The processor then records the emails of one claimed
// batch together, once the batch is done, instead of one write per email:
// an instance that dies meanwhile has its batch's sent emails sent again
// after their lease, with their Message-IDs, like any email accepted by the
// server and not yet recorded.
type EmailSentBatcher interface {
	// MarkSentBatch is MarkSent for each of ls; it returns those whose
	// lease was lost (their emails are left as they are).
	MarkSentBatch(ctx context.Context, ls []EmailLease, at time.Time) (lost []EmailLease, err error)
}

// EmailQueueDepth is implemented by queues that can say how many emails are
// waiting to be sent. The processor then reports that number as a gauge
// (fm_email_queue_depth), refreshed every few seconds, never per claim.
type EmailQueueDepth interface {
	// Depth returns how many emails of every tenant are Queued: due now or
	// held back (SendAfter, a retry's NextAttemptAt), not those a worker
	// holds or that are done. It deliberately spans tenants and returns a
	// count only, never an email; ctx needs no tenant.
	Depth(ctx context.Context) (int64, error)
}
