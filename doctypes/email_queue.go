package doctypes

import (
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// EmailQueue is an email waiting to be sent, being sent, or done: the
// message (its attachments as File ids: the bytes stay in storage), its
// delivery state and the lease of the worker sending it. Only the email
// queue writes rows (core/email through ports.EmailQueue); admins read
// them through the resource API and manage them at /api/v1/email-queue.
type EmailQueue struct {
	doctype.Base
	ToAddrs     doctype.JSONList[ports.EmailAddress] `json:"to" gorm:"column:to_addrs"`
	CcAddrs     doctype.JSONList[ports.EmailAddress] `json:"cc" gorm:"column:cc_addrs"`
	BccAddrs    doctype.JSONList[ports.EmailAddress] `json:"bcc" gorm:"column:bcc_addrs"`
	FromAddress doctype.JSONList[ports.EmailAddress] `json:"from_address" gorm:"column:from_address"`
	ReplyTo     doctype.JSONList[ports.EmailAddress] `json:"reply_to" gorm:"column:reply_to"`
	// Subject is at most 500 characters.
	Subject string `json:"subject" gorm:"size:2000"`
	// Body is the HTML body, TextBody the plain-text one.
	Body     string `json:"body" gorm:"size:10485760"`
	TextBody string `json:"text_body" gorm:"size:10485760"`
	// Attachments are File ids of the email's tenant.
	Attachments doctype.StringList `json:"attachments"`
	// InReplyTo and References thread the email.
	InReplyTo  string             `json:"in_reply_to" gorm:"size:998"`
	References doctype.StringList `json:"references" gorm:"column:refs"`
	// Status is Queued, Sending, Sent, Failed or Cancelled.
	Status string `json:"status" gorm:"size:20"`
	// Priority is low, normal or high.
	Priority string `json:"priority" gorm:"size:10"`
	// Error is the last failure's text.
	Error      string    `json:"error" gorm:"size:2000"`
	RetryCount int       `json:"retry_count"`
	MaxRetries int       `json:"max_retries"`
	QueuedAt   time.Time `json:"queued_at"`
	// SendAfter holds the email back until then.
	SendAfter *time.Time `json:"send_after"`
	// NextAttemptAt is when a failed attempt is tried again.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	SentAt        *time.Time `json:"sent_at"`
	// ReferenceDoctype and ReferenceID name the document the email is about.
	ReferenceDoctype string `json:"reference_doctype" gorm:"size:140"`
	ReferenceID      string `json:"reference_id" gorm:"size:140"`
	// MessageID is assigned when the email is queued and sent on every
	// attempt, so a copy delivered twice can be recognised.
	MessageID string `json:"message_id" gorm:"size:998"`
	// Sensitive emails carry secrets: their bodies are erased once done.
	Sensitive bool `json:"sensitive"`
	// LeaseUntil is when the worker's hold on a Sending email ends.
	LeaseUntil *time.Time `json:"lease_until"`
	// LeaseToken proves a worker's hold (never shown).
	LeaseToken string `json:"-" gorm:"size:64"`
	// PriorityRank orders claims (high 2, normal 1, low 0) and AvailableAt
	// is when the email may be claimed next (never shown).
	PriorityRank int       `json:"-"`
	AvailableAt  time.Time `json:"-"`
}

// EmailQueueDocType is EmailQueue's DocType name.
const EmailQueueDocType = "Email Queue"

// EmailQueueMeta describes EmailQueue: written only by the email queue
// (Immutable), read and deleted by admins and System Managers.
var EmailQueueMeta = doctype.Meta{
	Name:        EmailQueueDocType,
	Description: "Emails queued for the background sender: their messages, statuses, retries and errors.",
	Permissions: []doctype.Rule{
		{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete},
		{Role: "System Manager", Actions: doctype.Read | doctype.Delete},
	},
	Immutable:  true,
	NotAudited: true,
	// Bodies are read through /api/v1/email-queue, which hides sensitive
	// ones, never through the resource API.
	Hidden:       []string{"lease_token", "priority_rank", "available_at", "body", "text_body"},
	Indexes:      [][]string{{"status", "queued_at"}, {"reference_doctype", "reference_id"}},
	DefaultOrder: []ports.Order{{Field: "queued_at", Desc: true}},
}

// PriorityRank returns the claim order of priority p: high 2, normal 1,
// anything else 0.
func PriorityRank(p string) int {
	switch p {
	case ports.EmailPriorityHigh:
		return 2
	case ports.EmailPriorityNormal:
		return 1
	}
	return 0
}

// ToQueued returns the row as the port's value.
func (q *EmailQueue) ToQueued() ports.QueuedEmail {
	e := ports.QueuedEmail{
		ID: q.Name, TenantID: q.TenantID, Owner: q.Owner, MessageID: q.MessageID,
		To: q.ToAddrs, Cc: q.CcAddrs, Bcc: q.BccAddrs,
		Subject: q.Subject, HTML: q.Body, Text: q.TextBody, InReplyTo: q.InReplyTo, References: q.References,
		Attachments: q.Attachments, Status: q.Status, Priority: q.Priority, Error: q.Error,
		RetryCount: q.RetryCount, MaxRetries: q.MaxRetries, QueuedAt: q.QueuedAt,
		ReferenceDocType: q.ReferenceDoctype, ReferenceID: q.ReferenceID, LeaseToken: q.LeaseToken,
		Sensitive: q.Sensitive,
	}
	if len(q.FromAddress) > 0 {
		e.From = q.FromAddress[0]
	}
	if len(q.ReplyTo) > 0 {
		r := q.ReplyTo[0]
		e.ReplyTo = &r
	}
	e.SendAfter, e.NextAttemptAt, e.SentAt, e.LeaseUntil = deref(q.SendAfter), deref(q.NextAttemptAt), deref(q.SentAt), deref(q.LeaseUntil)
	return e
}

// NewEmailQueue returns the row that stores e.
func NewEmailQueue(e *ports.QueuedEmail) *EmailQueue {
	q := &EmailQueue{
		Base:    doctype.Base{TenantID: e.TenantID, Name: e.ID, Owner: e.Owner},
		ToAddrs: e.To, CcAddrs: e.Cc, BccAddrs: e.Bcc, FromAddress: doctype.JSONList[ports.EmailAddress]{e.From},
		Subject: e.Subject, Body: e.HTML, TextBody: e.Text, InReplyTo: e.InReplyTo, References: e.References,
		Attachments: e.Attachments, Status: e.Status, Priority: e.Priority, Error: e.Error,
		RetryCount: e.RetryCount, MaxRetries: e.MaxRetries, QueuedAt: e.QueuedAt,
		SendAfter: ptr(e.SendAfter), NextAttemptAt: ptr(e.NextAttemptAt), SentAt: ptr(e.SentAt),
		ReferenceDoctype: e.ReferenceDocType, ReferenceID: e.ReferenceID, MessageID: e.MessageID,
		LeaseUntil: ptr(e.LeaseUntil), LeaseToken: e.LeaseToken, PriorityRank: PriorityRank(e.Priority),
		Sensitive: e.Sensitive,
	}
	if e.ReplyTo != nil {
		q.ReplyTo = doctype.JSONList[ports.EmailAddress]{*e.ReplyTo}
	}
	q.AvailableAt = e.QueuedAt
	for _, t := range []time.Time{e.SendAfter, e.NextAttemptAt} {
		if t.After(q.AvailableAt) {
			q.AvailableAt = t
		}
	}
	return q
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
