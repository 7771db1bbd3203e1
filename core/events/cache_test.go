package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// loader counts the loads of a cache.
type loader struct {
	n   atomic.Int64
	val string
}

func (l *loader) load(context.Context) (string, error) {
	l.n.Add(1)
	return l.val, nil
}

func inTenant(tenant string) context.Context {
	return ports.WithTenantID(context.Background(), tenant)
}

func TestCacheForgetsWhatNoticesName(t *testing.T) {
	feed := &events.Feed{}
	c := events.NewCache[string](feed, "Thing", 0)
	l := &loader{val: "v1"}
	a, b := inTenant("a"), inTenant("b")

	get := func(ctx context.Context, name string) string {
		v, err := c.Get(ctx, name, l.load)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, "v1", get(a, "x"))
	assert.Equal(t, "v1", get(a, "x"))
	assert.EqualValues(t, 1, l.n.Load(), "the second read is a hit")

	l.val = "v2"
	get(a, "y")
	get(b, "x")
	require.EqualValues(t, 3, l.n.Load())

	feed.Announce(a, ports.ChangeNotice{DocType: "Thing", TenantID: "a", Name: "x"})
	assert.Equal(t, "v2", get(a, "x"), "a named record is loaded again")
	get(a, "y")
	get(b, "x")
	assert.EqualValues(t, 4, l.n.Load(), "only the named record was forgotten")

	feed.Announce(a, ports.ChangeNotice{DocType: "Other", TenantID: "a", Name: "y"})
	get(a, "y")
	assert.EqualValues(t, 4, l.n.Load(), "another DocType's notice changes nothing")

	feed.Announce(a, ports.ChangeNotice{DocType: "Thing", TenantID: "a"})
	get(a, "x")
	get(a, "y")
	get(b, "x")
	assert.EqualValues(t, 6, l.n.Load(), "a tenant's notice forgets its records only")

	feed.Announce(a, ports.ChangeNotice{DocType: "Thing"})
	get(b, "x")
	assert.EqualValues(t, 7, l.n.Load(), "an empty notice forgets everything")
	assert.Equal(t, 1, c.Len())
}

func TestCacheKeepsNoErrorsAndNoRacedLoad(t *testing.T) {
	feed := &events.Feed{}
	c := events.NewCache[string](feed, "Thing", 0)
	ctx := inTenant("a")
	boom := errors.New("down")
	_, err := c.Get(ctx, "x", func(context.Context) (string, error) { return "", boom })
	require.ErrorIs(t, err, boom)
	assert.Zero(t, c.Len(), "errors are not kept")

	// A change committed while a load ran: the loaded (old) value is
	// returned to its caller but not kept.
	v, err := c.Get(ctx, "x", func(ctx context.Context) (string, error) {
		feed.Announce(ctx, ports.ChangeNotice{DocType: "Thing", TenantID: "a", Name: "x"})
		return "stale", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "stale", v)
	assert.Zero(t, c.Len(), "a load that raced a notice is not kept")
}

func TestCacheIsBounded(t *testing.T) {
	feed := &events.Feed{}
	c := events.NewCache[int](feed, "Thing", 64)
	ctx := inTenant("a")
	for i := range 1000 {
		_, err := c.Get(ctx, string(rune('A'+i%26))+time.Duration(i).String(), func(context.Context) (int, error) { return i, nil })
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, c.Len(), 64)
	assert.Greater(t, c.Len(), 0)
}

// hub is an in-memory ports.Hub for these tests: subscriptions connect when
// told to.
type hub struct {
	mu   sync.Mutex
	subs []ports.HubHandler
	up   bool
	sent atomic.Int64
}

func (h *hub) Publish(_ context.Context, _ string, payload []byte) error {
	h.sent.Add(1)
	h.mu.Lock()
	subs, up := append([]ports.HubHandler(nil), h.subs...), h.up
	h.mu.Unlock()
	if up {
		for _, s := range subs {
			s.Receive(payload)
		}
	}
	return nil
}

func (h *hub) Subscribe(ctx context.Context, _ string, hh ports.HubHandler) error {
	h.mu.Lock()
	h.subs = append(h.subs, hh)
	up := h.up
	h.mu.Unlock()
	if up {
		hh.Connected(true)
	}
	<-ctx.Done()
	return nil
}

// setUp connects (or disconnects) every subscription.
func (h *hub) setUp(up bool) {
	h.mu.Lock()
	h.up = up
	subs := append([]ports.HubHandler(nil), h.subs...)
	h.mu.Unlock()
	for _, s := range subs {
		s.Connected(up)
	}
}

func (h *hub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// TestInstancesShareNotices: two feeds on one hub are two instances: a change
// on one reaches the other's caches; while the hub is down caches answer from
// the loader and keep nothing, and they start empty when it is back.
func TestInstancesShareNotices(t *testing.T) {
	h := &hub{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feeds := []*events.Feed{{}, {}}
	caches := make([]*events.Cache[string], 2)
	var heard [2]atomic.Int64
	for i, f := range feeds {
		f.UseHub(h, nil)
		caches[i] = events.NewCache[string](f, "Thing", 0)
		f.Watch("Thing", func(ports.ChangeNotice) { heard[i].Add(1) })
		assert.False(t, f.Synced(), "not synced before the hub is subscribed")
		go f.Run(ctx)
	}
	require.Eventually(t, func() bool { return h.subscribers() == 2 }, 5*time.Second, time.Millisecond)
	l := &loader{val: "v"}
	tctx := inTenant("a")
	_, _ = caches[1].Get(tctx, "x", l.load)
	_, _ = caches[1].Get(tctx, "x", l.load)
	assert.EqualValues(t, 2, l.n.Load(), "nothing is kept while not synced")
	assert.Zero(t, caches[1].Len())

	h.setUp(true)
	require.True(t, feeds[1].Synced())
	_, _ = caches[1].Get(tctx, "x", l.load)
	_, _ = caches[1].Get(tctx, "x", l.load)
	assert.EqualValues(t, 3, l.n.Load(), "kept once synced")

	heard[0].Store(0)
	heard[1].Store(0)
	feeds[0].Announce(tctx, ports.ChangeNotice{DocType: "Thing", TenantID: "a", Name: "x"})
	require.Eventually(t, func() bool { return heard[1].Load() == 1 }, 5*time.Second, time.Millisecond, "the other instance hears of it")
	assert.EqualValues(t, 1, heard[0].Load(), "the announcer's watchers ran once, not again from the hub")
	_, _ = caches[1].Get(tctx, "x", l.load)
	assert.EqualValues(t, 4, l.n.Load(), "the other instance forgot it")

	h.setUp(false)
	assert.False(t, feeds[1].Synced())
	_, _ = caches[1].Get(tctx, "x", l.load)
	assert.EqualValues(t, 5, l.n.Load(), "while the hub is down, reads go to the loader")
	h.setUp(true)
	assert.Zero(t, caches[1].Len(), "caches start empty when the hub is back: notices may have been lost")

	// Close publishes what is queued.
	before := h.sent.Load()
	feeds[0].Announce(tctx, ports.ChangeNotice{DocType: "Thing", TenantID: "a", Name: "y"})
	require.NoError(t, feeds[0].Close())
	assert.Equal(t, before+1, h.sent.Load())
}

// gatedHub holds every Publish until open is closed.
type gatedHub struct {
	*hub
	open chan struct{}
}

func (g gatedHub) Publish(ctx context.Context, topic string, payload []byte) error {
	<-g.open
	return g.hub.Publish(ctx, topic, payload)
}

// TestAStuckHubNeverStallsWriters: when notices back up (the hub is down or
// slow), announcing does not wait for it, and once it catches up the other
// instances are told that everything changed.
func TestAStuckHubNeverStallsWriters(t *testing.T) {
	h := &hub{up: true}
	g := gatedHub{hub: h, open: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer, other := &events.Feed{}, &events.Feed{}
	writer.UseHub(g, nil)
	other.UseHub(h, nil)
	var everything atomic.Int64
	writer.Watch("Thing", func(ports.ChangeNotice) {})
	other.Watch("Thing", func(n ports.ChangeNotice) {
		if n.TenantID == "" && n.Name == "" {
			everything.Add(1)
		}
	})
	go other.Run(ctx)
	require.Eventually(t, other.Synced, 5*time.Second, time.Millisecond)
	everything.Store(0) // the flush of connecting

	tctx := inTenant("a")
	done := make(chan struct{})
	go func() {
		for i := range 10_000 {
			writer.Announce(tctx, ports.ChangeNotice{DocType: "Thing", TenantID: "a", Name: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("announcing waited for the stuck hub")
	}
	close(g.open)
	require.Eventually(t, func() bool { return everything.Load() >= 1 }, 5*time.Second, time.Millisecond,
		"the other instance is told everything changed once the hub catches up")
	require.NoError(t, writer.Close())
}

type syncedFlag bool

func (s syncedFlag) Synced() bool { return bool(s) }

// TestMaxAge: caches kept by notices keep entries their ttl while the feed is
// synced, and at most UnsyncedMaxAge while it is not.
func TestMaxAge(t *testing.T) {
	for _, c := range []struct {
		feed interface{ Synced() bool }
		ttl  time.Duration
		want time.Duration
	}{
		{syncedFlag(true), 30 * time.Second, 30 * time.Second},
		{syncedFlag(true), 0, 0},
		{nil, 30 * time.Second, 30 * time.Second},
		{syncedFlag(false), 30 * time.Second, events.UnsyncedMaxAge},
		{syncedFlag(false), 0, events.UnsyncedMaxAge},
		{syncedFlag(false), 100 * time.Millisecond, 100 * time.Millisecond},
	} {
		assert.Equal(t, c.want, events.MaxAge(c.feed, c.ttl), "%v %v", c.feed, c.ttl)
	}
}
