// Package email queues emails and sends them in the background: Queue
// checks and stores an email (ports.EmailQueue), and the Processor's
// workers claim due emails with a lease, send them (ports.EmailSender) and
// record the outcome, trying temporary failures again with backoff. An
// email is never sent in the request that queued it.
package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// Limits of one queued email.
const (
	// MaxSubject is the longest subject, in characters.
	MaxSubject = 500
	// MaxRecipients bounds To, Cc and Bcc together.
	MaxRecipients = 500
	// MaxBody bounds the HTML and text bodies together, in bytes.
	MaxBody = 10 << 20
	// MaxAttachments bounds the files of one email.
	MaxAttachments = 50
	// MaxReferences bounds the Message-IDs an email threads on.
	MaxReferences = 100
	// MaxRetries is the most a temporary failure may be tried again.
	MaxRetries = 10
	// maxAddress is the longest address (RFC 5321's path limit).
	maxAddress = 254
	// maxName is the longest display name.
	maxName = 200
	// maxMessageID is the longest Message-ID (a header line's limit).
	maxMessageID = 250
	// maxErrorText is the longest failure text kept.
	maxErrorText = 2000
)

// ManagerRole may manage the queue beside the admin roles.
const ManagerRole = "System Manager"

// Request is an email to queue.
type Request struct {
	// From is the sender (nil: [email] from).
	From    *ports.EmailAddress  `json:"from_address"`
	ReplyTo *ports.EmailAddress  `json:"reply_to"`
	To      []ports.EmailAddress `json:"to"`
	Cc      []ports.EmailAddress `json:"cc"`
	Bcc     []ports.EmailAddress `json:"bcc"`
	Subject string               `json:"subject"`
	// HTML and Text are the bodies (either or both).
	HTML string `json:"body"`
	Text string `json:"text_body"`
	// Attachments are File ids of the tenant the caller may read.
	Attachments []string `json:"attachments"`
	// InReplyTo and References thread the email (Message-IDs, with or
	// without angle brackets).
	InReplyTo  string   `json:"in_reply_to"`
	References []string `json:"references"`
	// Priority is low, normal (""), or high.
	Priority string `json:"priority"`
	// MaxRetries overrides [email.queue] max_retries (0–10).
	MaxRetries *int `json:"max_retries"`
	// SendAfter holds the email back until then (zero: now).
	SendAfter time.Time `json:"send_after"`
	// ReferenceDocType and ReferenceID name the document it is about.
	ReferenceDocType string `json:"reference_doctype"`
	ReferenceID      string `json:"reference_id"`
	// Sensitive marks an email carrying a secret (a sign-in link): its
	// bodies are never shown to those who read the queue, and are erased
	// once it is Sent or Failed. Set by app code, not by the admin API.
	Sensitive bool `json:"-"`
}

// Attachments checks and opens the files emails carry.
type Attachments interface {
	// Check returns a *core.ValidationError naming "attachments" unless
	// the principal in ctx may read every file of ids.
	Check(ctx context.Context, ids []string) error
	// Open returns file id of the tenant in ctx, to be read when the email
	// is sent; a file that is gone is core.ErrNotFound.
	Open(ctx context.Context, id string) (ports.EmailAttachment, error)
}

// Options configure a Service.
type Options struct {
	// From is the sender of emails that name none; its domain ends every
	// Message-ID.
	From ports.EmailAddress
	// MaxRetries is the default of Request.MaxRetries.
	MaxRetries int
	// ManagerRoles may manage the queue (the admin roles and System
	// Manager).
	ManagerRoles []string
	// Lease, Workers, BatchSize, PollInterval, RetryBase and RetryMax
	// configure the Processor (see ProcessorOptions).
	Processor ProcessorOptions
	// Logger receives what the workers do (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Meter receives the processor's metrics: fm_email_send_total{result},
	// fm_email_send_duration_seconds and, when the queue implements
	// ports.EmailQueueDepth, fm_email_queue_depth (nil: none).
	Meter ports.Meter
}

// Service queues emails and manages the queue; its Processor sends them.
type Service struct {
	queue ports.EmailQueue
	files Attachments
	opts  Options
	proc  *Processor

	wakeMu sync.Mutex
	wake   chan struct{}
}

// New returns a Service over queue, sending with sender. files may be nil:
// then emails cannot carry attachments.
func New(queue ports.EmailQueue, sender ports.EmailSender, files Attachments, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.From.Address == "" {
		opts.From = ports.EmailAddress{Address: "noreply@localhost"}
	}
	if opts.MaxRetries < 0 || opts.MaxRetries > MaxRetries {
		opts.MaxRetries = 3
	}
	s := &Service{queue: queue, files: files, opts: opts, wake: make(chan struct{})}
	s.proc = newProcessor(s, sender, opts.Processor)
	return s
}

// Queue returns the port the Service keeps emails in.
func (s *Service) Queue() ports.EmailQueue { return s.queue }

// Processor returns the Service's processor: its workers run with Run.
func (s *Service) Processor() *Processor { return s.proc }

// Run runs the processor's workers until ctx ends (see Processor.Run).
func (s *Service) Run(ctx context.Context) { s.proc.Run(ctx) }

// QueueEmail checks req and queues it in the tenant of ctx, owned by the
// principal in ctx (the system when there is none): a *core.ValidationError
// names the first bad fields, and nothing is queued. It returns the queued
// email, whose MessageID every attempt will carry. Trusted callers (app
// code, the drafts) use it; the admin API uses Submit.
func (s *Service) QueueEmail(ctx context.Context, req Request) (*ports.QueuedEmail, error) {
	if _, err := core.RequireTenant(ctx); err != nil {
		return nil, err
	}
	e, err := s.build(req)
	if err != nil {
		return nil, err
	}
	if len(req.Attachments) > 0 {
		if s.files == nil {
			return nil, core.Invalid("attachments", "this app stores no files")
		}
		if err := s.files.Check(ctx, e.Attachments); err != nil {
			return nil, err
		}
	}
	if u := ports.UserFrom(ctx); u != nil {
		e.Owner = u.ID
	} else {
		e.Owner = ports.SystemUser.ID
	}
	if err := s.queue.Enqueue(ctx, e); err != nil {
		return nil, fmt.Errorf("queue email: %w", err)
	}
	if e.Sensitive {
		defer redact(e) // the caller (the admin API's answer) sees no secret either
	}
	if !e.SendAfter.After(s.opts.Now()) {
		s.signal()
	}
	return e, nil
}

// SendQueuedEmail sends the Queued email id of the tenant in ctx now,
// whatever its send_after, and returns it as it ended: Sent, Queued again
// after a temporary failure, or Failed. An email a worker holds or that is
// done is core.ErrConflict.
func (s *Service) SendQueuedEmail(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	return s.proc.ProcessSingle(ctx, id)
}

// build checks req and returns the email to store.
func (s *Service) build(req Request) (*ports.QueuedEmail, error) {
	v := &core.ValidationError{}
	from := s.opts.From
	if req.From != nil {
		from = *req.From
		checkAddress(v, "from_address", from)
	}
	if req.ReplyTo != nil {
		checkAddress(v, "reply_to", *req.ReplyTo)
	}
	n := 0
	for _, l := range []struct {
		field string
		list  []ports.EmailAddress
	}{{"to", req.To}, {"cc", req.Cc}, {"bcc", req.Bcc}} {
		n += len(l.list)
		if len(l.list) > MaxRecipients {
			v.Add(l.field, fmt.Sprintf("at most %d recipients", MaxRecipients))
			continue
		}
		for i, a := range l.list {
			checkAddress(v, fmt.Sprintf("%s[%d]", l.field, i), a)
		}
	}
	switch {
	case n == 0:
		v.Add("to", "at least one recipient (to, cc or bcc) is required")
	case n > MaxRecipients:
		v.Add("to", fmt.Sprintf("at most %d recipients in to, cc and bcc together", MaxRecipients))
	}
	if !utf8.ValidString(req.Subject) || strings.ContainsAny(req.Subject, "\r\n\x00") {
		v.Add("subject", "must be one line of text")
	} else if utf8.RuneCountInString(req.Subject) > MaxSubject {
		v.Add("subject", fmt.Sprintf("must be at most %d characters", MaxSubject))
	}
	if len(req.HTML)+len(req.Text) > MaxBody {
		v.Add("body", fmt.Sprintf("body and text_body together must be at most %d MB", MaxBody>>20))
	} else {
		if !utf8.ValidString(req.HTML) {
			v.Add("body", "must be UTF-8 text")
		}
		if !utf8.ValidString(req.Text) {
			v.Add("text_body", "must be UTF-8 text")
		}
	}
	if len(req.Attachments) > MaxAttachments {
		v.Add("attachments", fmt.Sprintf("at most %d files", MaxAttachments))
	}
	for i, id := range req.Attachments {
		if id == "" || len(id) > 140 {
			v.Add(fmt.Sprintf("attachments[%d]", i), "must be a File id")
		}
	}
	inReplyTo, ok := messageID(req.InReplyTo)
	if !ok {
		v.Add("in_reply_to", "must be a Message-ID such as <id@example.com>")
	}
	refs := make([]string, 0, len(req.References))
	if len(req.References) > MaxReferences {
		v.Add("references", fmt.Sprintf("at most %d Message-IDs", MaxReferences))
	} else {
		for i, r := range req.References {
			id, ok := messageID(r)
			if !ok || id == "" {
				v.Add(fmt.Sprintf("references[%d]", i), "must be a Message-ID such as <id@example.com>")
				continue
			}
			refs = append(refs, id)
		}
	}
	prio := req.Priority
	if prio == "" {
		prio = ports.EmailPriorityNormal
	}
	if !slices.Contains(ports.EmailPriorities, prio) {
		v.Add("priority", "must be low, normal or high")
	}
	retries := s.opts.MaxRetries
	if req.MaxRetries != nil {
		retries = *req.MaxRetries
		if retries < 0 || retries > MaxRetries {
			v.Add("max_retries", fmt.Sprintf("must be between 0 and %d", MaxRetries))
		}
	}
	if y := req.SendAfter.UTC().Year(); !req.SendAfter.IsZero() && (y < 0 || y > 9999) {
		v.Add("send_after", "must be a time between the years 0 and 9999 (UTC)")
	}
	if len(req.ReferenceDocType) > 140 || len(req.ReferenceID) > 140 {
		v.Add("reference_doctype", "reference_doctype and reference_id must be at most 140 characters")
	}
	for _, r := range []struct{ field, value string }{{"reference_doctype", req.ReferenceDocType}, {"reference_id", req.ReferenceID}} {
		if !plainText(r.value) {
			v.Add(r.field, "must be text without control characters")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	id := doctype.NewUUIDv7()
	return &ports.QueuedEmail{
		ID: id, MessageID: id + "@" + domainOf(from.Address),
		From: from, ReplyTo: req.ReplyTo, To: orEmpty(req.To), Cc: orEmpty(req.Cc), Bcc: orEmpty(req.Bcc),
		Subject: req.Subject, HTML: req.HTML, Text: req.Text, InReplyTo: inReplyTo, References: refs,
		Attachments: orEmpty(slices.Clone(req.Attachments)), Status: ports.EmailQueued, Priority: prio,
		MaxRetries: retries, QueuedAt: s.opts.Now().UTC(), SendAfter: utcOrZero(req.SendAfter),
		ReferenceDocType: req.ReferenceDocType, ReferenceID: req.ReferenceID, Sensitive: req.Sensitive,
	}, nil
}

// orEmpty is l, or an empty list for nil (lists answer [] in JSON).
func orEmpty[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// checkAddress adds a problem of field unless a is one mailbox.
func checkAddress(v *core.ValidationError, field string, a ports.EmailAddress) {
	if err := ValidAddress(a); err != nil {
		v.Add(field, err.Error())
	}
}

// ValidAddress reports why a is not one mailbox: an address of at most 254
// characters that net/mail parses whole, and a display name of one line.
func ValidAddress(a ports.EmailAddress) error {
	addr := a.Address
	switch {
	case addr == "":
		return errors.New("address is required")
	case len(addr) > maxAddress:
		return fmt.Errorf("address must be at most %d characters", maxAddress)
	case strings.ContainsAny(addr, "\r\n\x00<>,;\" \t") || !utf8.ValidString(addr):
		return fmt.Errorf("%q is not an email address", clip(addr))
	}
	p, err := mail.ParseAddress(addr)
	if err != nil || p.Address != addr || !strings.Contains(addr, "@") || strings.HasSuffix(addr, "@") {
		return fmt.Errorf("%q is not an email address", clip(addr))
	}
	if len(a.Name) > maxName || strings.ContainsAny(a.Name, "\r\n\x00") || !utf8.ValidString(a.Name) {
		return fmt.Errorf("name must be one line of at most %d characters", maxName)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// messageID strips the angle brackets of a Message-ID and reports whether
// it is one ("" is none).
func messageID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" {
		return "", true
	}
	if len(s) > maxMessageID || !strings.Contains(s, "@") {
		return "", false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || r == '<' || r == '>' || r == '"' || r == '\\' || r == ',' {
			return "", false
		}
	}
	return s, true
}

// domainOf is the domain of addr, for Message-IDs.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}

// signal wakes idle workers of this instance: an email is due now.
func (s *Service) signal() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

// woken returns the channel the next signal closes.
func (s *Service) woken() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

// Admit returns nil when the principal in ctx may manage the queue (an
// admin role or System Manager), else core.ErrUnauthorized or
// core.ErrForbidden.
func (s *Service) Admit(ctx context.Context) error {
	u := ports.UserFrom(ctx)
	if u == nil {
		return core.Public(core.ErrUnauthorized, "authentication required")
	}
	if u.IsAdmin() || u.HasRole(ManagerRole) {
		return nil
	}
	for _, r := range s.opts.ManagerRoles {
		if u.HasRole(r) {
			return nil
		}
	}
	return core.Public(core.ErrForbidden, "managing the email queue needs the System Manager or an admin role")
}

// plainText reports whether s is UTF-8 without NUL: what every column of
// both databases stores.
func plainText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// checkID refuses an id no email can have (too long, not UTF-8, NUL) as
// not found, before it reaches the queue.
func checkID(id string) error {
	if id == "" || len(id) > 140 || !plainText(id) {
		return core.Publicf(core.ErrNotFound, "email %q not found", clip(strings.ToValidUTF8(strings.ReplaceAll(id, "\x00", ""), "?")))
	}
	return nil
}

// Submit queues req for a queue manager (the admin API).
func (s *Service) Submit(ctx context.Context, req Request) (*ports.QueuedEmail, error) {
	if err := s.Admit(ctx); err != nil {
		return nil, err
	}
	return s.QueueEmail(ctx, req)
}

// List returns the emails of the tenant in ctx that f selects, newest
// first, and how many it selects, for a queue manager.
func (s *Service) List(ctx context.Context, f ports.EmailQueueFilter) ([]ports.QueuedEmail, int, error) {
	if err := s.Admit(ctx); err != nil {
		return nil, 0, err
	}
	if f.Status != "" && !slices.Contains(ports.EmailStatuses, f.Status) {
		return nil, 0, core.Invalid("status", "must be one of "+strings.Join(ports.EmailStatuses, ", "))
	}
	switch {
	case f.Limit == 0:
		f.Limit = 20
	case f.Limit < 0 || f.Limit > 1000:
		return nil, 0, core.Invalid("limit", "must be between 1 and 1000")
	}
	if f.Offset < 0 || f.Offset > 1_000_000 {
		return nil, 0, core.Invalid("offset", "must be between 0 and 1000000")
	}
	for _, r := range []struct{ field, value string }{{"reference_doctype", f.ReferenceDocType}, {"reference_id", f.ReferenceID}} {
		if !plainText(r.value) || len(r.value) > 140 {
			return nil, 0, core.Invalid(r.field, "must be text of at most 140 characters without control characters")
		}
	}
	items, total, err := s.queue.List(ctx, f)
	for i := range items {
		redact(&items[i])
	}
	return items, total, err
}

// redact hides a sensitive email's bodies from those who read the queue.
func redact(e *ports.QueuedEmail) {
	if e != nil && e.Sensitive {
		e.HTML, e.Text = "", ""
	}
}

// shown is e as the queue's readers see it.
func shown(e *ports.QueuedEmail, err error) (*ports.QueuedEmail, error) {
	redact(e)
	return e, err
}

// Get returns the email id of the tenant in ctx, for a queue manager.
func (s *Service) Get(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	if err := s.Admit(ctx); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	return shown(s.queue.Get(ctx, id))
}

// Retry queues the Failed or Cancelled email id again, for a queue
// manager; other statuses are core.ErrConflict.
func (s *Service) Retry(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	if err := s.Admit(ctx); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	if e, err := s.queue.Get(ctx, id); err == nil && e.Sensitive {
		return nil, core.Public(core.ErrConflict, "a sensitive email (a sign-in link) is not sent again: its bodies are erased; ask for a new one")
	}
	if err := s.queue.Retry(ctx, id); err != nil {
		return nil, err
	}
	s.signal()
	return shown(s.queue.Get(ctx, id))
}

// Cancel cancels the Queued email id, for a queue manager; other statuses
// are core.ErrConflict.
func (s *Service) Cancel(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	if err := s.Admit(ctx); err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := s.queue.Cancel(ctx, id); err != nil {
		return nil, err
	}
	return shown(s.queue.Get(ctx, id))
}
