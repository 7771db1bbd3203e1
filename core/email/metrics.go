package email

import (
	"context"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// The email metrics. Their one label, result, takes a fixed set of values.
const (
	metricSend     = "fm_email_send_total"
	metricDuration = "fm_email_send_duration_seconds"
	metricDepth    = "fm_email_queue_depth"
)

// Results of one attempt to send an email.
const (
	resultSent   = "sent"   // the server accepted it
	resultRetry  = "retry"  // a temporary failure: it is tried again later
	resultFailed = "failed" // a permanent failure, or the last retry: Failed
)

// depthEvery is how often the queue depth gauge is refreshed: one COUNT
// per instance every depthEvery, whatever the number of workers.
const depthEvery = 15 * time.Second

// depthTimeout bounds one refresh of the queue depth.
const depthTimeout = 5 * time.Second

// metrics are the processor's instruments.
type metrics struct {
	send     ports.Counter
	duration ports.Histogram
	depth    ports.Gauge
	// recording is false for ports.NopMeter: the depth is then not queried.
	recording bool
}

func newMetrics(m ports.Meter) metrics {
	_, nop := m.(ports.NopMeter)
	recording := m != nil && !nop
	m = ports.MeterOrNop(m)
	ms := metrics{
		send: m.Counter(metricSend,
			"Attempts to send a queued email, by result (sent; retry: a temporary failure tried again later; failed: given up).", "result"),
		duration: m.Histogram(metricDuration,
			"Time one attempt to send a queued email took, attachments opened included, whatever its result.", ports.DurationBuckets),
		depth: m.Gauge(metricDepth,
			"Emails of every tenant waiting to be sent (Queued), as this instance last counted them (every 15 s while its workers run)."),
		recording: recording,
	}
	for _, r := range []string{resultSent, resultRetry, resultFailed} {
		ms.send.Add(0, r) // every series exists from the start
	}
	return ms
}

// watchDepth refreshes the queue depth gauge now and every depthEvery
// until ctx ends, when the queue can count its emails and metrics are on.
func (p *Processor) watchDepth(ctx context.Context) {
	dq, ok := p.svc.queue.(ports.EmailQueueDepth)
	if !ok || !p.metrics.recording {
		return
	}
	t := time.NewTicker(depthEvery)
	defer t.Stop()
	failing := false
	for {
		qctx, cancel := context.WithTimeout(ctx, depthTimeout)
		n, err := dq.Depth(qctx)
		cancel()
		switch {
		case err == nil:
			p.metrics.depth.Set(float64(n))
			failing = false
		case ctx.Err() != nil:
			return
		case !failing: // one line per outage, like the claims
			p.log.Warn("email queue: cannot count the queued emails for fm_email_queue_depth", "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
