package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// ProcessorOptions configure the workers.
type ProcessorOptions struct {
	// Workers is how many emails this instance sends at once (0: none;
	// Run returns at once).
	Workers int
	// BatchSize is how many emails one claim takes (default 20).
	BatchSize int
	// PollInterval is how often idle workers look for due emails (default
	// 1s); an email queued on this instance wakes them at once.
	PollInterval time.Duration
	// Lease is how long a worker holds what it claimed (default 5m); the
	// emails of a worker that died are claimed again after it.
	Lease time.Duration
	// RetryBase and RetryMax bound the backoff of temporary failures:
	// RetryBase × 2^retries, between half and all of it at random, at most
	// RetryMax (defaults 30s and 1h).
	RetryBase, RetryMax time.Duration
	// SendTimeout bounds one attempt, attachments included (default 2m,
	// at most half the lease).
	SendTimeout time.Duration
}

// Processor sends queued emails: Run's workers claim due emails with a
// lease and send them one at a time each.
type Processor struct {
	svc    *Service
	sender ports.EmailSender
	opts   ProcessorOptions
	log    *slog.Logger
	// metrics are the attempts' counts and times and the queue depth.
	metrics metrics
	// failing is set while claims fail (the queue's database is down):
	// the first failure is logged, then nothing until claims work again.
	failing atomic.Bool
}

func newProcessor(s *Service, sender ports.EmailSender, o ProcessorOptions) *Processor {
	if o.BatchSize <= 0 {
		o.BatchSize = 20
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 30 * time.Second
	}
	if o.RetryMax < o.RetryBase {
		o.RetryMax = max(time.Hour, o.RetryBase)
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 2 * time.Minute
	}
	o.SendTimeout = min(o.SendTimeout, o.Lease/2)
	return &Processor{svc: s, sender: sender, opts: o, log: s.opts.Logger, metrics: newMetrics(s.opts.Meter)}
}

// Run runs the workers until ctx ends. Each claims a batch, sends it one
// email at a time and claims again; with nothing due it waits for the poll
// interval or an email queued on this instance. When ctx ends, a worker
// finishes the email it is sending (within the send timeout) and returns
// the rest of its batch to the queue for others. While the workers run,
// the queue depth gauge is refreshed every 15 s (when the queue implements
// ports.EmailQueueDepth and a Meter records).
func (p *Processor) Run(ctx context.Context) {
	if p.opts.Workers <= 0 {
		return
	}
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Go(func() { p.work(ctx) })
	}
	wg.Go(func() { p.watchDepth(ctx) })
	wg.Wait()
}

// work is one worker's loop.
func (p *Processor) work(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		wake := p.svc.woken()
		n, err := p.processBatch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The queue is unreachable: wait longer each time, up to a minute;
			// one line for the outage, not one per worker and try.
			backoff = min(max(2*backoff, p.opts.PollInterval), time.Minute)
			if p.failing.CompareAndSwap(false, true) {
				p.log.Warn("email queue: claims fail; workers try again with backoff", "err", err)
			}
			sleep(ctx, backoff, nil)
			continue
		}
		if backoff > 0 && p.failing.CompareAndSwap(true, false) {
			p.log.Info("email queue: claims work again")
		}
		backoff = 0
		if n < p.opts.BatchSize {
			sleep(ctx, p.opts.PollInterval, wake)
		}
	}
}

func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}

// ProcessQueue claims one batch of due emails and sends them, returning
// how many it claimed. When ctx ends it stops after the email in flight
// and releases the rest.
func (p *Processor) ProcessQueue(ctx context.Context) (int, error) {
	return p.processBatch(ctx)
}

func (p *Processor) processBatch(ctx context.Context) (int, error) {
	batch, err := p.svc.queue.Claim(ctx, p.opts.BatchSize, p.opts.Lease)
	if err != nil {
		return 0, fmt.Errorf("claim emails: %w", err)
	}
	// With a queue that records many sent emails at once, the batch's are
	// recorded together: when it ends, or every markEvery while it runs.
	batcher, _ := p.svc.queue.(ports.EmailSentBatcher)
	var sent []ports.EmailLease
	var unsent []ports.EmailLease
	since := time.Now()
	for i := range batch {
		e := &batch[i]
		// An email is only sent while its lease leaves time for the attempt;
		// past that, another worker may claim it and both would send.
		if ctx.Err() != nil || p.svc.opts.Now().Add(p.opts.SendTimeout).After(e.LeaseUntil) {
			unsent = append(unsent, e.Lease())
			continue
		}
		if p.attempt(e, batcher != nil) && batcher != nil {
			sent = append(sent, e.Lease())
		}
		if len(sent) >= markBatch || (len(sent) > 0 && time.Since(since) > markEvery) {
			p.markSent(batcher, sent, e.LeaseUntil)
			sent, since = sent[:0], time.Now()
		}
	}
	if len(batch) > 0 {
		p.markSent(batcher, sent, batch[0].LeaseUntil)
	}
	p.release(unsent)
	return len(batch), nil
}

// A batch's sent emails are recorded together, markBatch at a time or
// after markEvery, whichever comes first: few writes per email, and few
// emails sent again should the instance die (at most markBatch per worker,
// each with its Message-ID).
const (
	markBatch = 10
	markEvery = 200 * time.Millisecond
)

// markSent records the sent emails of ls, held until leaseUntil, in one
// write; if that fails, one by one (see record).
func (p *Processor) markSent(batcher ports.EmailSentBatcher, ls []ports.EmailLease, leaseUntil time.Time) {
	if len(ls) == 0 {
		return
	}
	now := p.svc.opts.Now().UTC()
	var lost []ports.EmailLease
	err := p.record(leaseUntil, func(ctx context.Context) error {
		var err error
		lost, err = batcher.MarkSentBatch(ctx, ls, now)
		return err
	})
	if err != nil {
		p.log.Error("email queue: sent, but could not record it; the emails are sent again after their lease",
			"emails", len(ls), "err", err)
		return
	}
	for _, l := range lost {
		p.log.Error("email queue: sent, but its lease was lost; another worker may send it again", "email", l.ID)
	}
}

// record runs write until it succeeds, a lost lease stops it, or the lease
// ending at leaseUntil is about to end: a database that blinks must not
// make an email that was sent be sent again.
func (p *Processor) record(leaseUntil time.Time, write func(ctx context.Context) error) error {
	wait := 50 * time.Millisecond
	margin := min(time.Second, p.opts.Lease/10) // the lease must outlast the write
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := write(ctx)
		cancel()
		if err == nil || errors.Is(err, ports.ErrEmailLeaseLost) || errors.Is(err, core.ErrNotFound) {
			return err
		}
		if p.svc.opts.Now().Add(wait + margin).After(leaseUntil) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
}

// ProcessSingle sends the Queued email id of the tenant in ctx now and
// returns it as it ended.
func (p *Processor) ProcessSingle(ctx context.Context, id string) (*ports.QueuedEmail, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	e, err := p.svc.queue.ClaimID(ctx, id, p.opts.Lease)
	if err != nil {
		return nil, err
	}
	p.attempt(e, false)
	return p.svc.queue.Get(ctx, id)
}

// releaseWithin bounds how long returning a batch's unsent emails may take
// (a stopping app with its database gone must not hang): those not
// returned by then wait for their lease.
const releaseWithin = 10 * time.Second

// release returns the emails of ls to the queue untried.
func (p *Processor) release(ls []ports.EmailLease) {
	if len(ls) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseWithin)
	defer cancel()
	for i, l := range ls {
		if err := p.svc.queue.Release(ctx, l); err != nil {
			p.log.Warn("email queue: could not return emails to the queue; they are sent after their lease",
				"emails", len(ls)-i, "err", err)
			return
		}
	}
}

// attempt sends e once and records the outcome, except a success when
// deferSent (the caller records it with others); it reports whether e was
// sent. It runs to its end even when the app is stopping: an email handed
// to the server must be recorded.
func (p *Processor) attempt(e *ports.QueuedEmail, deferSent bool) bool {
	ctx := ports.WithTenantID(context.Background(), e.TenantID)
	sendCtx, cancel := context.WithTimeout(ctx, p.opts.SendTimeout)
	start := time.Now()
	err := p.send(sendCtx, e)
	p.metrics.duration.Observe(time.Since(start).Seconds())
	cancel()
	now := p.svc.opts.Now().UTC()
	if err == nil {
		p.metrics.send.Add(1, resultSent)
		if deferSent {
			return true
		}
		if merr := p.record(e.LeaseUntil, func(ctx context.Context) error { return p.svc.queue.MarkSent(ctx, e.Lease(), now) }); merr != nil {
			p.log.Error("email queue: sent, but could not record it", "email", e.ID, "message_id", e.MessageID, "err", merr)
		}
		return true
	}
	retryAt := time.Time{}
	if !errors.Is(err, ports.ErrEmailRejected) && e.RetryCount < e.MaxRetries {
		retryAt = now.Add(p.backoff(e.RetryCount))
		p.metrics.send.Add(1, resultRetry)
	} else {
		p.metrics.send.Add(1, resultFailed)
	}
	p.log.Warn("email queue: attempt failed", "email", e.ID, "tenant", e.TenantID, "err", err,
		"permanent", errors.Is(err, ports.ErrEmailRejected), "retry_at", retryAt)
	reason := clipError(err.Error())
	if merr := p.record(e.LeaseUntil, func(ctx context.Context) error { return p.svc.queue.MarkFailed(ctx, e.Lease(), reason, retryAt) }); merr != nil {
		p.log.Error("email queue: could not record a failed attempt", "email", e.ID, "err", merr)
	}
	return false
}

// send opens e's attachments and hands it to the sender.
func (p *Processor) send(ctx context.Context, e *ports.QueuedEmail) error {
	msg := e.Message()
	for _, id := range e.Attachments {
		if p.svc.files == nil {
			return fmt.Errorf("attachment %s: this app stores no files: %w", id, ports.ErrEmailRejected)
		}
		a, err := p.svc.files.Open(ctx, id)
		if errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("attachment %s is gone: %w", id, ports.ErrEmailRejected)
		}
		if err != nil {
			return fmt.Errorf("attachment %s: %w", id, err)
		}
		msg.Attachments = append(msg.Attachments, a)
	}
	return p.sender.Send(ctx, msg)
}

// backoff is the wait before retry n+1: RetryBase × 2^n, between half and
// all of it, at most RetryMax.
func (p *Processor) backoff(n int) time.Duration {
	d := p.opts.RetryBase
	for range n {
		if d > p.opts.RetryMax/2 { // doubling again would pass the cap (or overflow)
			d = p.opts.RetryMax
			break
		}
		d *= 2
	}
	d = min(d, p.opts.RetryMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// clipError makes a failure's text storable: valid UTF-8 without NUL
// (what a server answers is not always), at most maxErrorText bytes, cut
// between characters.
func clipError(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
