package frameworkm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"time"

	emaillog "github.com/framework-m/framework-m/adapters/email/log"
	"github.com/framework-m/framework-m/adapters/email/smtp"
	emailqueuedb "github.com/framework-m/framework-m/adapters/emailqueue/database"
	emailqueuememory "github.com/framework-m/framework-m/adapters/emailqueue/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// builtinEmailSenders are the senders [email] sender may name: "log" logs
// each email instead of sending it (the default: nothing to install),
// "smtp" sends through the server of [email.smtp].
var builtinEmailSenders = map[string]Backend[ports.EmailSender]{
	"log": Factory(func(d Deps) (ports.EmailSender, error) { return emaillog.New(d.Logger), nil }),
	"smtp": NewBackend(smtp.DefaultConfig(), func(d Deps, c smtp.Config) (ports.EmailSender, error) {
		return smtp.New(c, smtp.WithTracerProvider(d.Tracer))
	}),
}

// builtinEmailQueues are the queues [email.queue] backend may name:
// "database" (Email Queue rows, shared by every instance on the database)
// and "memory" (one process, for tests).
var builtinEmailQueues = map[string]Backend[ports.EmailQueue]{
	"database": Factory(func(d Deps) (ports.EmailQueue, error) {
		store, ok := d.Store.(emailqueuedb.Store)
		if !ok {
			return nil, fmt.Errorf("the database email queue needs the SQL repository, not %T", d.Store)
		}
		dt, ok := d.Registry.Get(doctypes.EmailQueueDocType)
		if !ok {
			return nil, errors.New("the Email Queue DocType is not registered")
		}
		return emailqueuedb.New(context.Background(), store, dt.TableName())
	}),
	"memory": Factory(func(Deps) (ports.EmailQueue, error) { return emailqueuememory.New(), nil }),
}

// WithEmailSender adds an email sender under name, to be chosen with
// [email] sender and configured in [email.<name>].
func WithEmailSender(name string, b Backend[ports.EmailSender]) Option {
	return func(o *options) { o.emailSenders.register(name, b) }
}

// WithEmailQueueBackend adds an email queue under name, to be chosen with
// [email.queue] backend and configured in [email.queue.<name>].
func WithEmailQueueBackend(name string, b Backend[ports.EmailQueue]) Option {
	return func(o *options) { o.emailQueues.register(name, b) }
}

// buildEmail builds [email] sender, [email.queue] backend and the email
// service over them; its workers run with the app.
func (a *App) buildEmail(o *options, d Deps) error {
	c := a.Config.Email
	sender, err := o.emailSenders.build(d, "email.sender", c.Sender)
	if err != nil {
		return err
	}
	if sender == nil {
		return fmt.Errorf("email.sender = %q built no sender", c.Sender)
	}
	a.adopt(sender)
	queue, err := o.emailQueues.build(d, "email.queue.backend", c.Queue.Backend)
	if err != nil {
		return err
	}
	if queue == nil {
		return fmt.Errorf("email.queue.backend = %q built no queue", c.Queue.Backend)
	}
	a.adopt(queue)
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("email.from: %w", err)
	}
	var attachments email.Attachments
	if a.Files != nil {
		attachments = fileAttachments{files: a.Files}
	}
	q := c.Queue
	a.Email = email.New(queue, sender, attachments, email.Options{
		From:         ports.EmailAddress{Address: from.Address, Name: from.Name},
		MaxRetries:   q.MaxRetries,
		ManagerRoles: a.Config.Permissions.AdminRoles,
		Logger:       a.Logger,
		Meter:        a.Meter,
		Processor: email.ProcessorOptions{
			Workers: q.Workers, BatchSize: q.BatchSize,
			PollInterval: time.Duration(q.PollIntervalMS) * time.Millisecond,
			Lease:        time.Duration(q.LeaseSeconds) * time.Second,
			RetryBase:    time.Duration(q.RetryBaseMS) * time.Millisecond,
			RetryMax:     time.Duration(q.RetryMaxMS) * time.Millisecond,
		},
	})
	a.adopt(a.Email)
	return nil
}

// QueueEmail queues an email in the tenant of ctx (see email.Service): the
// app's workers send it in the background.
func (a *App) QueueEmail(ctx context.Context, req email.Request) (*ports.QueuedEmail, error) {
	return a.Email.QueueEmail(ctx, req)
}

// SendQueuedEmail sends the queued email id of the tenant in ctx now.
func (a *App) SendQueuedEmail(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	return a.Email.SendQueuedEmail(ctx, id)
}

// fileAttachments are emails' attachments from the app's files: checked
// with the caller's permissions when queued, opened as the system when
// sent.
type fileAttachments struct{ files *files.Service }

// Check reports the first file of ids the principal in ctx may not read.
func (f fileAttachments) Check(ctx context.Context, ids []string) error {
	for i, id := range ids {
		if _, err := f.files.Get(ctx, id); err != nil {
			if errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrForbidden) {
				return core.Invalidf(fmt.Sprintf("attachments[%d]", i), "file %q not found", clipID(id))
			}
			return err
		}
	}
	return nil
}

// Open returns file id of the tenant in ctx, read when the email is sent.
func (f fileAttachments) Open(ctx context.Context, id string) (ports.EmailAttachment, error) {
	rec, err := f.files.Record(ctx, id)
	if err != nil {
		return ports.EmailAttachment{}, err
	}
	return ports.EmailAttachment{
		FileName: rec.FileName, ContentType: rec.ContentType, Size: rec.FileSize,
		Open: func(ctx context.Context) (io.ReadCloser, error) { return f.files.Open(ctx, rec, true) },
	}, nil
}

func clipID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}
