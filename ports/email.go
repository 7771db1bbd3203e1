package ports

import (
	"context"
	"errors"
	"fmt"
	"io"
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
