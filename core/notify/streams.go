package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Conn is one client connection as a stream drives it: a WebSocket in
// adapters/web. Its methods may be called concurrently.
type Conn interface {
	// Write sends one frame (a JSON text message); ctx bounds it.
	Write(ctx context.Context, frame []byte) error
	// Ping checks that the client answers; ctx bounds the wait.
	Ping(ctx context.Context) error
	// Close ends the connection telling the client why. It may block (a
	// closing handshake): streams call it on a goroutine of its own.
	Close(reason CloseReason)
}

// CloseReason is why a stream ended.
type CloseReason int

// Why streams end.
const (
	// CloseClientGone: the client closed the connection, or it broke.
	CloseClientGone CloseReason = iota
	// CloseRevoked: the stream's session, token or key no longer
	// authenticates, or its user is gone.
	CloseRevoked
	// CloseSlow: the client fell SendBuffer notifications behind, or a
	// write to it timed out. It may reconnect with since=.
	CloseSlow
	// CloseUnresponsive: the client did not answer a ping.
	CloseUnresponsive
	// CloseResync: the hub's subscription was interrupted and
	// notifications may have been missed: reconnect with since=.
	CloseResync
	// CloseShutdown: the instance is shutting down.
	CloseShutdown
	// CloseError: the stream failed (a notification could not be loaded).
	CloseError
)

var reasons = [...]string{"client gone", "credentials revoked", "client too slow", "client unresponsive",
	"notifications interrupted: reconnect with since", "shutting down", "internal error"}

func (r CloseReason) String() string {
	if int(r) < len(reasons) {
		return reasons[r]
	}
	return fmt.Sprintf("close reason %d", int(r))
}

// streamKey is whose streams: one user of one tenant.
type streamKey struct{ tenant, user string }

// streams is the instance's registry of open streams. open's slices are
// never changed in place (replaced instead), so a reader may use one after
// unlocking.
type streams struct {
	mu     sync.RWMutex
	open   map[streamKey][]*Stream
	slots  map[streamKey]int // admitted: opening or open
	closed bool
	m      metrics
}

func (r *streams) init(m metrics) {
	r.open = map[streamKey][]*Stream{}
	r.slots = map[streamKey]int{}
	r.m = m
}

func (r *streams) of(k streamKey) []*Stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.open[k]
}

func (r *streams) all() []*Stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Stream, 0, len(r.open))
	for _, ss := range r.open {
		out = append(out, ss...)
	}
	return out
}

// admit takes one of k's max slots: "" when it did, else why not (a
// rejection reason).
func (r *streams) admit(k streamKey, max int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return rejectShutdown
	case r.slots[k] >= max:
		return rejectUserLimit
	}
	r.slots[k]++
	return ""
}

// release gives k's slot back.
func (r *streams) release(k streamKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(k)
}

func (r *streams) releaseLocked(k streamKey) {
	if r.slots[k] <= 1 {
		delete(r.slots, k)
		return
	}
	r.slots[k]--
}

// add registers st in its admitted slot; false when shutting down.
func (r *streams) add(st *Stream) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.releaseLocked(st.key)
		r.m.rejected.Add(1, rejectShutdown)
		return false
	}
	cur := r.open[st.key]
	next := make([]*Stream, len(cur), len(cur)+1)
	copy(next, cur)
	r.open[st.key] = append(next, st)
	r.m.connections.Add(1)
	return true
}

// remove unregisters st and frees its slot; false when st was not
// registered.
func (r *streams) remove(st *Stream) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.open[st.key]
	i := -1
	for j, s := range cur {
		if s == st {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	if len(cur) == 1 {
		delete(r.open, st.key)
	} else {
		next := make([]*Stream, 0, len(cur)-1)
		next = append(append(next, cur[:i]...), cur[i+1:]...)
		r.open[st.key] = next
	}
	r.releaseLocked(st.key)
	r.m.connections.Add(-1)
	return true
}

// shutdown closes every stream and admits no more.
func (r *streams) shutdown() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for _, st := range r.all() {
		st.Close(CloseShutdown)
	}
}

// Count returns how many streams are open on this instance.
func (s *Service) Count() int {
	s.streams.mu.RLock()
	defer s.streams.mu.RUnlock()
	n := 0
	for _, ss := range s.streams.open {
		n += len(ss)
	}
	return n
}

// Ticket is one of a user's stream slots, held from the admission of a
// stream's request to its opening (or its cancellation when the connection
// cannot be upgraded).
type Ticket struct {
	s    *Service
	key  streamKey
	used atomic.Bool
}

// Admit checks that the caller may open a stream (they may read their
// notifications, and have fewer than MaxConnectionsPerUser streams open on
// this instance) and takes a slot. Call Open or Cancel on the ticket.
func (s *Service) Admit(ctx context.Context) (*Ticket, error) {
	m := s.streams.m
	u, err := principal(ctx)
	if err != nil {
		m.rejected.Add(1, rejectUnauthenticated)
		return nil, err
	}
	tenant := ports.TenantIDFrom(ctx)
	if tenant == "" {
		m.rejected.Add(1, rejectUnauthenticated)
		return nil, core.ErrNoTenant
	}
	if ok, err := s.res.Can(ctx, s.dt, ports.ActionRead, nil); err != nil {
		return nil, err
	} else if !ok {
		m.rejected.Add(1, rejectForbidden)
		return nil, core.Publicf(core.ErrForbidden, "not permitted to read %s", s.dt.Name)
	}
	k := streamKey{tenant: tenant, user: u.ID}
	if why := s.streams.admit(k, s.opts.MaxConnectionsPerUser); why != "" {
		m.rejected.Add(1, why)
		return nil, &core.RateLimitError{
			Message:    fmt.Sprintf("too many notification streams open: at most %d per user", s.opts.MaxConnectionsPerUser),
			RetryAfter: s.opts.PingInterval,
		}
	}
	return &Ticket{s: s, key: k}, nil
}

// Cancel gives the slot back (the connection was not upgraded).
func (t *Ticket) Cancel() {
	if !t.used.Swap(true) {
		t.s.streams.release(t.key)
	}
}

// StreamOptions configure one stream.
type StreamOptions struct {
	// Since is the id of the last notification the client has: the stream
	// first sends those created after it (see Options.ReplayLimit).
	Since string
	// Recheck authenticates the stream's credentials again, every
	// RecheckInterval. An error wrapping core.ErrUnauthorized,
	// core.ErrForbidden or core.ErrNotFound closes the stream
	// (CloseRevoked); other errors are logged and it is tried again.
	Recheck func(ctx context.Context) error
}

// Open registers the stream of the admitted caller, before its connection
// is upgraded, so that nothing created from then on is missed: what arrives
// waits (up to SendBuffer) until Start. ctx must carry the caller's tenant
// and principal and live as long as the stream (it is detached from the
// request). Call Start with the connection, or Close when there is none.
func (t *Ticket) Open(ctx context.Context, o StreamOptions) *Stream {
	if t.used.Swap(true) {
		panic("notify: a ticket opened twice")
	}
	s := t.s
	ctx, cancel := context.WithCancel(ctx)
	st := &Stream{svc: s, key: t.key, ctx: ctx, cancel: cancel, since: o.Since, recheck: o.Recheck}
	now := time.Now().UnixNano()
	st.lastPing.Store(now)
	st.lastCheck.Store(now)
	st.writing = true // held until Start
	if !s.streams.add(st) {
		st.Close(CloseShutdown)
	}
	return st
}

// Start sends the stream over conn: first, with since=, what the client
// missed, then what arrived since Open, then live notifications. Call Close
// on the stream when the client goes away.
func (st *Stream) Start(conn Conn) {
	st.mu.Lock()
	if st.conn != nil {
		st.mu.Unlock()
		panic("notify: a stream started twice")
	}
	st.conn = conn
	closed, reason := st.closed, st.reason
	st.mu.Unlock()
	if closed {
		go func() { conn.Close(reason); st.cancel() }()
		return
	}
	if st.since != "" {
		go st.replay()
	} else {
		go st.drain()
	}
}

// Stream is one client's open stream of notifications.
type Stream struct {
	svc     *Service
	key     streamKey
	ctx     context.Context
	cancel  context.CancelFunc
	since   string
	recheck func(ctx context.Context) error

	mu      sync.Mutex
	conn    Conn // set by Start
	queue   []item
	writing bool // a goroutine is writing (replay or drain)
	closed  bool
	reason  CloseReason // why it closed
	// replayed holds the ids the replay sent, not to be sent again when
	// their message arrives, until replayedUntil.
	replayed      map[string]struct{}
	replayedUntil time.Time

	lastPing, lastCheck atomic.Int64 // unix nanoseconds
	pinging, rechecking atomic.Bool
}

// item is a notification waiting for its stream: its frame, or nil to load.
type item struct {
	id    string
	frame []byte
}

// replayKeep is how long a stream remembers what its replay sent, to drop
// the live copies of those notifications.
const replayKeep = time.Minute

// UserID returns whose stream it is.
func (st *Stream) UserID() string { return st.key.user }

// Close ends the stream (idempotent): it is unregistered at once and its
// connection closed on a goroutine of its own.
func (st *Stream) Close(reason CloseReason) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed, st.reason = true, reason
	st.queue = nil
	conn := st.conn
	st.mu.Unlock()
	if st.svc.streams.remove(st) {
		st.svc.streams.m.closed.Add(1, reason.label())
	}
	if reason != CloseClientGone && reason != CloseShutdown {
		st.svc.log.Info("notification stream closed", "user", st.key.user, "tenant", st.key.tenant, "reason", reason.String())
	}
	if conn == nil { // not started: Start closes the connection
		st.cancel()
		return
	}
	go func() {
		conn.Close(reason)
		st.cancel()
	}()
}

// enqueue queues m for the client; a client SendBuffer behind is dropped.
// It never blocks.
func (st *Stream) enqueue(m ports.NotificationMessage) {
	st.mu.Lock()
	if st.closed || (st.since != "" && m.ID <= st.since) {
		st.mu.Unlock()
		return
	}
	if len(st.queue) >= st.svc.opts.SendBuffer {
		st.mu.Unlock()
		st.Close(CloseSlow)
		return
	}
	st.queue = append(st.queue, item{id: m.ID, frame: m.Frame})
	start := !st.writing
	st.writing = true
	st.mu.Unlock()
	if start {
		go st.drain()
	}
}

// replay sends what the client missed since its last notification, then
// what arrived meanwhile.
func (st *Stream) replay() {
	docs, more, err := st.svc.Since(st.ctx, st.since, st.svc.opts.ReplayLimit)
	if err != nil {
		if st.ctx.Err() == nil {
			st.svc.log.Warn("cannot replay missed notifications", "user", st.key.user, "err", err)
		}
		st.Close(CloseError)
		return
	}
	sent := make(map[string]struct{}, len(docs))
	for _, n := range docs {
		sent[n.Name] = struct{}{}
	}
	st.mu.Lock()
	st.replayed, st.replayedUntil = sent, time.Now().Add(replayKeep)
	st.mu.Unlock()
	if more {
		info := fmt.Appendf(nil, `{"since":%q,"sent":%d}`, st.since, len(docs))
		if !st.write(wrap("missed", info)) {
			return
		}
	}
	for _, n := range docs {
		frame, err := st.svc.Frame(n)
		if err != nil || !st.write(frame) {
			st.Close(CloseError)
			return
		}
	}
	st.drain()
}

// drain writes the queue until it is empty, then lets the next enqueue start
// another drain.
func (st *Stream) drain() {
	for {
		st.mu.Lock()
		if st.closed || len(st.queue) == 0 {
			st.writing = false
			st.queue = nil
			st.mu.Unlock()
			return
		}
		it := st.queue[0]
		st.queue[0] = item{}
		st.queue = st.queue[1:]
		_, dup := st.replayed[it.id]
		st.mu.Unlock()
		if dup {
			continue
		}
		frame := it.frame
		if frame == nil {
			var ok bool
			if frame, ok = st.load(it.id); !ok {
				continue
			}
		}
		if !st.write(frame) {
			return
		}
	}
}

// load reads notification id (whose message came without its frame).
func (st *Stream) load(id string) ([]byte, bool) {
	doc, err := st.svc.repo.Get(st.ctx, st.svc.dt.Name, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, false // deleted meanwhile
	}
	if err != nil {
		if st.ctx.Err() == nil {
			st.svc.log.Warn("cannot load a notification for its stream", "user", st.key.user, "err", err)
		}
		st.Close(CloseError)
		return nil, false
	}
	n, ok := doc.(*doctypes.Notification)
	if !ok || n.UserID != st.key.user {
		return nil, false
	}
	frame, err := st.svc.Frame(n)
	return frame, err == nil
}

// write sends one frame; a failure (or a client too slow to take it within
// WriteTimeout) closes the stream.
func (st *Stream) write(frame []byte) bool {
	ctx, cancel := context.WithTimeout(st.ctx, st.svc.opts.WriteTimeout)
	err := st.conn.Write(ctx, frame)
	cancel()
	if err != nil {
		reason := CloseClientGone
		if errors.Is(err, context.DeadlineExceeded) {
			reason = CloseSlow
		}
		st.Close(reason)
		return false
	}
	return true
}

// ping checks that the client answers.
func (st *Stream) ping() {
	defer st.pinging.Store(false)
	ctx, cancel := context.WithTimeout(st.ctx, st.svc.opts.PongTimeout)
	err := st.conn.Ping(ctx)
	cancel()
	st.lastPing.Store(time.Now().UnixNano())
	if err != nil && st.ctx.Err() == nil {
		st.Close(CloseUnresponsive)
	}
}

// check authenticates the stream's credentials again.
func (st *Stream) check() {
	defer st.rechecking.Store(false)
	ctx, cancel := context.WithTimeout(st.ctx, 10*time.Second)
	err := st.recheck(ctx)
	cancel()
	st.lastCheck.Store(time.Now().UnixNano())
	switch {
	case err == nil || st.ctx.Err() != nil:
	case errors.Is(err, core.ErrUnauthorized), errors.Is(err, core.ErrForbidden), errors.Is(err, core.ErrNotFound):
		st.Close(CloseRevoked)
	default:
		st.svc.log.Warn("cannot recheck a notification stream's credentials; trying again", "user", st.key.user, "err", err)
	}
}

// tick pings and rechecks the streams that are due, and forgets old replays.
func (st *Stream) tick(now time.Time) {
	o := st.svc.opts
	st.mu.Lock()
	started := st.conn != nil
	st.mu.Unlock()
	if !started {
		return
	}
	if now.UnixNano()-st.lastPing.Load() >= int64(o.PingInterval) && !st.pinging.Swap(true) {
		go st.ping()
	}
	if st.recheck != nil && now.UnixNano()-st.lastCheck.Load() >= int64(o.RecheckInterval) && !st.rechecking.Swap(true) {
		go st.check()
	}
	st.mu.Lock()
	if st.replayed != nil && now.After(st.replayedUntil) {
		st.replayed = nil
	}
	st.mu.Unlock()
}

// keepAlive ticks every stream until ctx ends.
func (s *Service) keepAlive(ctx context.Context) {
	every := min(time.Second, s.opts.RecheckInterval/4, s.opts.PingInterval/4)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, st := range s.streams.all() {
				st.tick(now)
			}
		}
	}
}

// deliver hands m to this instance's streams of its tenant and user.
func (s *Service) deliver(m ports.NotificationMessage) {
	for _, st := range s.streams.of(streamKey{tenant: m.TenantID, user: m.UserID}) {
		st.enqueue(m)
	}
}

// hubLink is the service as the hub's handler.
type hubLink struct {
	s *Service
	// up: the subscription receives; down: it stopped after receiving.
	up, down atomic.Bool
}

// Deliver hands another instance's message to this instance's streams.
func (l *hubLink) Deliver(m ports.NotificationMessage) {
	if m.Origin == l.s.origin {
		return // delivered when it was created
	}
	l.s.deliver(m)
}

// Connected closes every stream when the subscription resumes after an
// interruption: notifications may have been missed meanwhile, and clients
// reconnecting with since= get them.
func (l *hubLink) Connected(ok bool) {
	l.up.Store(ok)
	if !ok {
		l.down.Store(true)
		return
	}
	if l.down.Swap(false) {
		l.s.log.Warn("notifications from other instances resumed after an interruption; streams reconnect to catch up")
		for _, st := range l.s.streams.all() {
			st.Close(CloseResync)
		}
	}
}
