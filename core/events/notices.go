package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// NoticeTopic is the Hub topic change notices travel on.
const NoticeTopic = "changes"

// noticeQueue bounds the notices waiting to be published to the hub.
const noticeQueue = 4096

// wireNotice is a notice on the hub: from which instance, and what changed.
type wireNotice struct {
	Origin string `json:"o"`
	ports.ChangeNotice
}

// notices is the part of a Feed that keeps caches exact: watchers, and the
// hub linking this instance to the others sharing its database.
type notices struct {
	wmu      sync.Mutex
	watchers atomic.Pointer[map[string][]ports.NoticeHandler]

	hub    ports.Hub
	origin string
	log    *slog.Logger
	// synced is whether caches may answer from memory: always without a hub;
	// with one, only while its subscription receives.
	synced  atomic.Bool
	qmu     sync.RWMutex // sending on queue (R) against closing it (W)
	queue   chan ports.ChangeNotice
	pubOnce sync.Once
	pubDone chan struct{}
	closed  atomic.Bool
	// overflow: notices were dropped from a full queue; "everything changed"
	// goes out once the queue drains.
	overflow atomic.Bool
}

// UseHub links the feed to the other instances through hub: Watch handlers
// hear of their changes, and they of this instance's. Until Run has
// subscribed, and whenever the subscription is down, Synced reports false, so
// caches answer from the database. Call it before Run; log may be nil.
func (f *Feed) UseHub(hub ports.Hub, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	f.n.hub, f.n.log = hub, log
	f.n.origin = randomID()
	f.n.queue = make(chan ports.ChangeNotice, noticeQueue)
	f.n.pubDone = make(chan struct{})
}

// Synced reports whether this instance hears of every change made by the
// others sharing its database (always, without a hub): whether a cache kept by
// Watch may answer from memory.
func (f *Feed) Synced() bool {
	if f == nil || f.n.hub == nil {
		return true
	}
	return f.n.synced.Load()
}

// Watch registers h for the notices of doctype: of this instance's changes
// to it through the repository (after commit) and by Announce, and, through
// the hub, of every other instance's. A notice with an empty TenantID or Name
// means everything (sent, too, when the hub reconnects, since notices may have
// been lost meanwhile). Watch panics if h is nil.
func (f *Feed) Watch(doctype string, h ports.NoticeHandler) {
	if h == nil {
		panic("events: Watch with a nil handler")
	}
	f.n.wmu.Lock()
	defer f.n.wmu.Unlock()
	next := map[string][]ports.NoticeHandler{}
	first := true
	if cur := f.n.watchers.Load(); cur != nil {
		for dt, hs := range *cur {
			next[dt] = hs
		}
		_, seen := (*cur)[doctype]
		first = !seen
	}
	next[doctype] = append(slices.Clone(next[doctype]), h)
	f.n.watchers.Store(&next)
	if first {
		f.Subscribe(doctype, func(ctx context.Context, ev ports.ChangeEvent) {
			f.Announce(ctx, ports.ChangeNotice{DocType: ev.DocType, TenantID: ev.TenantID, Name: ev.Name, Action: ev.Action})
		})
	}
}

func (f *Feed) watchersOf(doctype string) []ports.NoticeHandler {
	if w := f.n.watchers.Load(); w != nil {
		return (*w)[doctype]
	}
	return nil
}

// Announce tells the watchers of n.DocType, here and (through the hub) in the
// other instances, that records changed. The repository announces its
// committed changes by itself; code whose records live elsewhere (sessions in
// Redis, say) announces its own, after they are made.
func (f *Feed) Announce(ctx context.Context, n ports.ChangeNotice) {
	if f == nil {
		return
	}
	f.deliver(n)
	if f.n.hub == nil {
		return
	}
	f.n.qmu.RLock()
	defer f.n.qmu.RUnlock()
	if f.n.closed.Load() {
		return
	}
	f.n.pubOnce.Do(func() { go f.publishLoop() })
	select {
	case f.n.queue <- n:
	default:
		// The hub is far behind: writers do not wait for it. Once it catches
		// up, the others are told that everything changed.
		if !f.n.overflow.Swap(true) {
			f.n.log.WarnContext(ctx, "change notices are backing up; the hub is slow or down", "doctype", n.DocType)
		}
	}
}

// deliver runs the local watchers of n.DocType.
func (f *Feed) deliver(n ports.ChangeNotice) {
	for _, h := range f.watchersOf(n.DocType) {
		h(n)
	}
}

// flushAll tells every watcher that everything changed.
func (f *Feed) flushAll() {
	if w := f.n.watchers.Load(); w != nil {
		for dt := range *w {
			f.deliver(ports.ChangeNotice{DocType: dt})
		}
	}
}

// publishLoop sends queued notices to the hub until Close, retrying a notice
// the hub refuses (others' caches depend on it) with a growing pause.
func (f *Feed) publishLoop() {
	defer close(f.n.pubDone)
	backoff := 50 * time.Millisecond
	for n := range f.n.queue {
		f.publish(n, &backoff)
		if len(f.n.queue) == 0 && f.n.overflow.Swap(false) {
			if w := f.n.watchers.Load(); w != nil {
				for dt := range *w {
					f.publish(ports.ChangeNotice{DocType: dt}, &backoff)
				}
			}
		}
	}
}

// publish sends n to the hub, retrying with a growing pause while it refuses
// (others' caches depend on it), giving up only after Close.
func (f *Feed) publish(n ports.ChangeNotice, backoff *time.Duration) {
	payload, _ := json.Marshal(wireNotice{Origin: f.n.origin, ChangeNotice: n})
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := f.n.hub.Publish(ctx, NoticeTopic, payload)
		cancel()
		if err == nil {
			*backoff = 50 * time.Millisecond
			return
		}
		if f.n.closed.Load() && attempt >= 2 {
			f.n.log.Error("could not tell the other instances of a change", "doctype", n.DocType, "err", err)
			return
		}
		if attempt == 0 {
			f.n.log.Warn("publishing a change notice failed; retrying", "doctype", n.DocType, "err", err)
		}
		time.Sleep(*backoff)
		*backoff = min(2**backoff, 2*time.Second)
	}
}

// Run subscribes to the other instances' notices until ctx ends (without a
// hub it returns at once). The App starts it.
func (f *Feed) Run(ctx context.Context) {
	if f.n.hub == nil {
		return
	}
	for ctx.Err() == nil {
		err := f.n.hub.Subscribe(ctx, NoticeTopic, &noticeReceiver{f: f, ctx: ctx})
		f.n.synced.Store(false)
		if err == nil || ctx.Err() != nil {
			return
		}
		f.n.log.Error("cannot subscribe to change notices; caches answer from the database", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// Close publishes the notices still queued (waiting at most a few seconds)
// and stops publishing; later notices reach this instance's watchers only.
func (f *Feed) Close() error {
	if f == nil || f.n.hub == nil {
		return nil
	}
	f.n.qmu.Lock()
	if f.n.closed.Swap(true) {
		f.n.qmu.Unlock()
		return nil
	}
	running := true
	f.n.pubOnce.Do(func() { running = false }) // never announced: no loop will start
	close(f.n.queue)
	f.n.qmu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-f.n.pubDone:
	case <-time.After(5 * time.Second):
		f.n.log.Warn("change notices left unpublished at shutdown", "count", len(f.n.queue))
	}
	return nil
}

// noticeReceiver is the feed as the hub's handler, for Run's ctx.
type noticeReceiver struct {
	f   *Feed
	ctx context.Context
}

// Receive runs the watchers of another instance's notice.
func (r *noticeReceiver) Receive(payload []byte) {
	f := r.f
	var w wireNotice
	if err := json.Unmarshal(payload, &w); err != nil || w.DocType == "" {
		f.n.log.Warn("ignoring a malformed change notice from the hub")
		return
	}
	if w.Origin == f.n.origin {
		return // this instance's own: its watchers have run
	}
	f.deliver(w.ChangeNotice)
}

// Connected stops caches from answering while notices may be missed, and
// empties them when the subscription (re)starts.
func (r *noticeReceiver) Connected(ok bool) {
	f := r.f
	if !ok {
		f.n.synced.Store(false)
		if r.ctx.Err() != nil {
			return // shutting down
		}
		f.n.log.Warn("change notices from other instances interrupted; caches answer from the database until they resume")
		return
	}
	f.flushAll()
	f.n.synced.Store(true)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
