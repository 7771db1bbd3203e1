package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/hub/memory"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/notify"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/ports"
)

// fixture is a notification service over an in-memory store, running.
type fixture struct {
	svc  *notify.Service
	res  *resource.Service
	repo ports.Repository
}

func newFixture(t *testing.T, hub ports.NotificationHub, opts notify.Options) *fixture {
	t.Helper()
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	feed := &events.Feed{}
	repo := events.NewRepository(memrepo.New(reg), feed, nil)
	res := resource.New(repo, reg, rbac.New(reg, rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true}), nil)
	svc, err := notify.New(res, repo, feed, hub, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, svc.Synced, time.Second, time.Millisecond)
	return &fixture{svc: svc, res: res, repo: repo}
}

func as(tenant, id string, roles ...string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: id, TenantID: tenant, Roles: roles})
}

func system(tenant string) context.Context {
	return ports.WithTenantID(context.Background(), tenant)
}

func (f *fixture) notify(t *testing.T, tenant, user, subject string) *doctypes.Notification {
	t.Helper()
	n, err := f.svc.Notify(system(tenant), user, notify.Notification{Subject: subject})
	require.NoError(t, err)
	return n
}

// fakeConn records frames; block makes writes wait until it is closed.
type fakeConn struct {
	mu       sync.Mutex
	frames   [][]byte
	got      chan struct{}
	closed   chan notify.CloseReason
	block    chan struct{}
	pingErr  error
	pings    int
	writeErr error
}

func newConn() *fakeConn {
	return &fakeConn{got: make(chan struct{}, 1000), closed: make(chan notify.CloseReason, 1)}
}

func (c *fakeConn) Write(ctx context.Context, frame []byte) error {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	c.frames = append(c.frames, append([]byte(nil), frame...))
	err := c.writeErr
	c.mu.Unlock()
	c.got <- struct{}{}
	return err
}

func (c *fakeConn) Ping(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pings++
	return c.pingErr
}

func (c *fakeConn) Close(r notify.CloseReason) {
	select {
	case c.closed <- r:
	default:
	}
}

// subjects waits for n frames and returns their types and subjects.
func (c *fakeConn) wait(t *testing.T, n int) []string {
	t.Helper()
	for range n {
		select {
		case <-c.got:
		case <-time.After(2 * time.Second):
			t.Fatalf("got %d frames, want %d", len(c.snapshot()), n)
		}
	}
	var out []string
	for _, f := range c.snapshot() {
		var m struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal(f, &m))
		if m.Type == "notification" {
			out = append(out, m.Data["subject"].(string))
		} else {
			out = append(out, m.Type)
		}
	}
	return out
}

func (c *fakeConn) snapshot() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.frames...)
}

func (c *fakeConn) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-c.got:
		t.Fatalf("unexpected frame: %s", c.snapshot()[len(c.snapshot())-1])
	case <-time.After(d):
	}
}

func (c *fakeConn) closedWith(t *testing.T) notify.CloseReason {
	t.Helper()
	select {
	case r := <-c.closed:
		return r
	case <-time.After(3 * time.Second):
		t.Fatal("not closed")
		return 0
	}
}

func open(t *testing.T, f *fixture, ctx context.Context, o notify.StreamOptions) (*fakeConn, *notify.Stream) {
	t.Helper()
	tk, err := f.svc.Admit(ctx)
	require.NoError(t, err)
	c := newConn()
	st := tk.Open(ctx, o)
	st.Start(c)
	return c, st
}

func TestNotifyValidates(t *testing.T) {
	f := newFixture(t, nil, notify.Options{})
	for name, n := range map[string]notify.Notification{
		"subject":           {},
		"notification_type": {Subject: "s", Type: "spam"},
		"doctype":           {Subject: "s", DocType: strings.Repeat("d", 141)},
	} {
		_, err := f.svc.Notify(system("t"), "ann", n)
		var ve *core.ValidationError
		require.True(t, errors.As(err, &ve), name)
		assert.Contains(t, ve.FieldMap(), name)
	}
	_, err := f.svc.Notify(system("t"), "", notify.Notification{Subject: "s"})
	assert.ErrorIs(t, err, core.ErrValidation)
	_, err = f.svc.Notify(context.Background(), "ann", notify.Notification{Subject: "s"})
	assert.ErrorIs(t, err, core.ErrNoTenant)

	n, err := f.svc.Notify(as("t", "bob"), "ann", notify.Notification{Subject: "hi", Metadata: map[string]any{"url": "/x"}})
	require.NoError(t, err)
	assert.Equal(t, "bob", n.FromUser, "from the principal")
	assert.Equal(t, doctypes.NotificationInfo, n.NotificationType)
	assert.False(t, n.Timestamp.IsZero())
	assert.Len(t, n.Name, 36)
	n = f.notify(t, "t", "ann", "from the system")
	assert.Empty(t, n.FromUser)
}

func TestListMarkReadDelete(t *testing.T) {
	f := newFixture(t, nil, notify.Options{})
	var ids []string
	for i := range 5 {
		ids = append(ids, f.notify(t, "t", "ann", fmt.Sprintf("n%d", i)).Name)
	}
	f.notify(t, "t", "bob", "bob's")
	f.notify(t, "u", "ann", "other tenant")
	ann := as("t", "ann")
	page, err := f.svc.List(ann, notify.ListParams{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	assert.Equal(t, "n4", page.Items[0].Subject)
	assert.EqualValues(t, 5, page.Total)
	assert.EqualValues(t, 5, page.Unread)

	_, err = f.svc.MarkRead(ann, ids[0])
	require.NoError(t, err)
	_, err = f.svc.MarkRead(as("t", "bob"), ids[1])
	assert.ErrorIs(t, err, core.ErrNotFound)
	_, err = f.svc.MarkRead(as("t", "root", ports.RoleAdmin), ids[1])
	assert.ErrorIs(t, err, core.ErrNotFound, "admins mark their own only")
	_, err = f.svc.MarkRead(as("u", "ann"), ids[1])
	assert.ErrorIs(t, err, core.ErrNotFound, "another tenant")
	_, err = f.svc.MarkRead(ann, "nope")
	assert.ErrorIs(t, err, core.ErrValidation)
	_, err = f.svc.MarkRead(context.Background(), ids[1])
	assert.ErrorIs(t, err, core.ErrUnauthorized)

	unread := false
	page, err = f.svc.List(ann, notify.ListParams{Read: &unread})
	require.NoError(t, err)
	assert.EqualValues(t, 4, page.Total)
	assert.EqualValues(t, 4, page.Unread)

	n, err := f.svc.ReadAll(ann)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	page, err = f.svc.List(ann, notify.ListParams{})
	require.NoError(t, err)
	assert.EqualValues(t, 0, page.Unread)
	page, err = f.svc.List(as("t", "bob"), notify.ListParams{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, page.Unread, "bob's untouched")

	assert.ErrorIs(t, f.svc.Delete(as("t", "bob"), ids[2]), core.ErrNotFound)
	require.NoError(t, f.svc.Delete(ann, ids[2]))
	assert.ErrorIs(t, f.svc.Delete(ann, ids[2]), core.ErrNotFound)

	// Since: oldest first, the newest limit, and whether there were more.
	docs, more, err := f.svc.Since(ann, ids[0], 2)
	require.NoError(t, err)
	assert.True(t, more)
	require.Len(t, docs, 2)
	assert.Equal(t, "n3", docs[0].Subject)
	assert.Equal(t, "n4", docs[1].Subject)
	docs, more, err = f.svc.Since(ann, ids[0], 10)
	require.NoError(t, err)
	assert.False(t, more)
	assert.Len(t, docs, 3)
}

func TestReadAllManyPages(t *testing.T) {
	f := newFixture(t, nil, notify.Options{})
	for i := range 450 {
		f.notify(t, "t", "ann", fmt.Sprint(i))
	}
	n, err := f.svc.ReadAll(as("t", "ann"))
	require.NoError(t, err)
	assert.Equal(t, 450, n)
}

func TestGuardKeepsNotificationsAsCreated(t *testing.T) {
	f := newFixture(t, nil, notify.Options{})
	n := f.notify(t, "t", "ann", "original")
	ann := as("t", "ann")
	_, err := f.res.Update(ann, doctypes.NotificationDocType, n.Name, []byte(`{"subject":"changed"}`), nil)
	assert.ErrorIs(t, err, core.ErrValidation)
	_, err = f.res.Update(as("t", "root", ports.RoleAdmin), doctypes.NotificationDocType, n.Name, []byte(`{"message":"changed"}`), nil)
	assert.ErrorIs(t, err, core.ErrValidation, "admins too")
	_, err = f.res.Update(ann, doctypes.NotificationDocType, n.Name, []byte(`{"read":true}`), nil)
	assert.NoError(t, err)
}

func TestStreamDeliversOwnOnly(t *testing.T) {
	f := newFixture(t, notify.NewLocalHub(), notify.Options{})
	ann, _ := open(t, f, as("t", "ann"), notify.StreamOptions{})
	bob, _ := open(t, f, as("t", "bob"), notify.StreamOptions{})
	otherTenant, _ := open(t, f, as("u", "ann"), notify.StreamOptions{})
	f.notify(t, "t", "ann", "one")
	f.notify(t, "t", "ann", "two")
	assert.Equal(t, []string{"one", "two"}, ann.wait(t, 2))
	bob.quiet(t, 50*time.Millisecond)
	otherTenant.quiet(t, 0)
	// Created inside a transaction: pushed once it commits, never when it rolls back.
	err := f.repo.InTx(system("t"), func(ctx context.Context) error {
		_, err := f.svc.Notify(ctx, "ann", notify.Notification{Subject: "rolled back"})
		require.NoError(t, err)
		return errors.New("undo")
	})
	require.Error(t, err)
	ann.quiet(t, 50*time.Millisecond)
}

func TestStreamLimitPerUser(t *testing.T) {
	f := newFixture(t, nil, notify.Options{MaxConnectionsPerUser: 2})
	ctx := as("t", "ann")
	t1, err := f.svc.Admit(ctx)
	require.NoError(t, err)
	t2, err := f.svc.Admit(ctx)
	require.NoError(t, err)
	_, err = f.svc.Admit(ctx)
	var rl *core.RateLimitError
	require.ErrorAs(t, err, &rl)
	_, err = f.svc.Admit(as("t", "bob"))
	require.NoError(t, err, "per user")
	_, err = f.svc.Admit(as("u", "ann"))
	require.NoError(t, err, "per tenant")
	t1.Cancel()
	t1.Cancel() // once
	t3, err := f.svc.Admit(ctx)
	require.NoError(t, err)
	st := t2.Open(ctx, notify.StreamOptions{})
	st.Start(newConn())
	_, err = f.svc.Admit(ctx)
	require.Error(t, err)
	st.Close(notify.CloseClientGone)
	_, err = f.svc.Admit(ctx)
	require.NoError(t, err, "a closed stream frees its slot")
	t3.Cancel()
	_, err = f.svc.Admit(context.Background())
	assert.ErrorIs(t, err, core.ErrUnauthorized)
}

func TestSlowStreamIsDropped(t *testing.T) {
	f := newFixture(t, nil, notify.Options{SendBuffer: 3, WriteTimeout: time.Hour})
	slow, _ := open(t, f, as("t", "ann"), notify.StreamOptions{})
	slow.block = make(chan struct{}) // never written
	fast, _ := open(t, f, as("t", "ann"), notify.StreamOptions{})
	start := time.Now()
	for i := range 10 {
		f.notify(t, "t", "ann", fmt.Sprint(i))
		fast.wait(t, 1) // a client that keeps up
	}
	assert.Less(t, time.Since(start), time.Second, "the publisher never waits for a client")
	assert.Equal(t, notify.CloseSlow, slow.closedWith(t))
	assert.Len(t, fast.snapshot(), 10)
	assert.Equal(t, 1, f.svc.Count())
}

func TestSlowWriteTimesOut(t *testing.T) {
	f := newFixture(t, nil, notify.Options{WriteTimeout: 50 * time.Millisecond})
	slow, _ := open(t, f, as("t", "ann"), notify.StreamOptions{})
	slow.block = make(chan struct{})
	f.notify(t, "t", "ann", "stuck")
	assert.Equal(t, notify.CloseSlow, slow.closedWith(t))
}

func TestStreamSinceReplaysWithoutDuplicates(t *testing.T) {
	f := newFixture(t, nil, notify.Options{ReplayLimit: 3})
	seen := f.notify(t, "t", "ann", "seen")
	f.notify(t, "t", "ann", "a")
	f.notify(t, "t", "ann", "b")
	c, _ := open(t, f, as("t", "ann"), notify.StreamOptions{Since: seen.Name})
	assert.Equal(t, []string{"a", "b"}, c.wait(t, 2))
	f.notify(t, "t", "ann", "live")
	assert.Equal(t, []string{"a", "b", "live"}, c.wait(t, 1))
	c.quiet(t, 50*time.Millisecond)

	// More missed than the replay sends.
	for i := range 5 {
		f.notify(t, "t", "ann", fmt.Sprint(i))
	}
	c2, _ := open(t, f, as("t", "ann"), notify.StreamOptions{Since: seen.Name})
	assert.Equal(t, []string{"missed", "2", "3", "4"}, c2.wait(t, 4))
}

// TestReplayRacesLive: notifications created while a stream replays reach
// it once each, in order, with no gap.
func TestReplayRacesLive(t *testing.T) {
	f := newFixture(t, nil, notify.Options{ReplayLimit: 1000, SendBuffer: 1000})
	seen := f.notify(t, "t", "ann", "seen")
	for i := range 50 {
		f.notify(t, "t", "ann", fmt.Sprintf("%03d", i))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 50; i < 100; i++ {
			f.notify(t, "t", "ann", fmt.Sprintf("%03d", i))
		}
	}()
	c, _ := open(t, f, as("t", "ann"), notify.StreamOptions{Since: seen.Name})
	<-done
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("%03d", i))
	}
	got := c.wait(t, 100)
	c.quiet(t, 50*time.Millisecond)
	assert.ElementsMatch(t, want, got, "each once")
}

func TestStreamRecheckAndPing(t *testing.T) {
	f := newFixture(t, nil, notify.Options{RecheckInterval: 20 * time.Millisecond, PingInterval: 20 * time.Millisecond})
	var mu sync.Mutex
	var checkErr error
	recheck := func(context.Context) error { mu.Lock(); defer mu.Unlock(); return checkErr }
	c, _ := open(t, f, as("t", "ann"), notify.StreamOptions{Recheck: recheck})
	require.Eventually(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.pings >= 2 }, time.Second, time.Millisecond)
	mu.Lock()
	checkErr = core.Unavailable("the session store", errors.New("down"))
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, f.svc.Count(), "an unavailable store does not close streams")
	mu.Lock()
	checkErr = fmt.Errorf("session: %w", core.ErrUnauthorized)
	mu.Unlock()
	assert.Equal(t, notify.CloseRevoked, c.closedWith(t))
	assert.Equal(t, 0, f.svc.Count())

	c2, _ := open(t, f, as("t", "ann"), notify.StreamOptions{})
	c2.mu.Lock()
	c2.pingErr = errors.New("no pong")
	c2.mu.Unlock()
	assert.Equal(t, notify.CloseUnresponsive, c2.closedWith(t))
}

// TestSharedHub: two services on one memory hub (two instances): a
// notification reaches the other's streams, once; one too large for the
// hub travels as its id and is loaded; when the hub's subscription comes
// back after an interruption, streams are told to reconnect.
func TestSharedHub(t *testing.T) {
	h := memory.New()
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	store := memrepo.New(reg) // one database
	mk := func() *fixture {
		feed := &events.Feed{}
		repo := events.NewRepository(store, feed, nil)
		res := resource.New(repo, reg, rbac.New(reg, rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true}), nil)
		svc, err := notify.New(res, repo, feed, notify.NewSharedHub(h), notify.Options{})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		require.Eventually(t, svc.Synced, time.Second, time.Millisecond)
		return &fixture{svc: svc, res: res, repo: repo}
	}
	a, b := mk(), mk()
	onA, _ := open(t, a, as("t", "ann"), notify.StreamOptions{})
	onB, _ := open(t, b, as("t", "ann"), notify.StreamOptions{})
	bobOnB, _ := open(t, b, as("t", "bob"), notify.StreamOptions{})
	a.notify(t, "t", "ann", "from a")
	assert.Equal(t, []string{"from a"}, onB.wait(t, 1))
	assert.Equal(t, []string{"from a"}, onA.wait(t, 1))
	_, err := a.svc.Notify(system("t"), "ann", notify.Notification{Subject: "large", Message: strings.Repeat("m", 9000)})
	require.NoError(t, err)
	assert.Equal(t, []string{"from a", "large"}, onB.wait(t, 1))
	assert.Equal(t, []string{"from a", "large"}, onA.wait(t, 1))
	var m struct {
		Data doctypes.Notification `json:"data"`
	}
	require.NoError(t, json.Unmarshal(onB.snapshot()[1], &m))
	assert.Len(t, m.Data.Message, 9000, "loaded on B")
	onA.quiet(t, 50*time.Millisecond)
	onB.quiet(t, 0)
	bobOnB.quiet(t, 0)
}

// flakyHub is a NotificationHub whose subscription drops when told.
type flakyHub struct {
	notify.LocalHub
	drop chan struct{}
}

func (h *flakyHub) Subscribe(ctx context.Context, hd ports.NotificationHandler) error {
	hd.Connected(true)
	for {
		select {
		case <-ctx.Done():
			hd.Connected(false)
			return nil
		case <-h.drop:
			hd.Connected(false)
			hd.Connected(true)
		}
	}
}

func TestHubInterruptionClosesStreams(t *testing.T) {
	h := &flakyHub{LocalHub: *notify.NewLocalHub(), drop: make(chan struct{})}
	f := newFixture(t, h, notify.Options{})
	c, _ := open(t, f, as("t", "ann"), notify.StreamOptions{})
	c.quiet(t, 20*time.Millisecond)
	h.drop <- struct{}{}
	assert.Equal(t, notify.CloseResync, c.closedWith(t), "reconnect with since= to catch up")
}

func TestSharedHubPayloads(t *testing.T) {
	h := memory.New()
	sh := notify.NewSharedHub(h)
	got := make(chan ports.NotificationMessage, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = sh.Subscribe(ctx, handlerFunc(func(m ports.NotificationMessage) { got <- m })) }()
	time.Sleep(20 * time.Millisecond)
	small := []byte(`{"type":"notification","data":{"subject":"é"}}`)
	require.NoError(t, sh.Publish(ctx, ports.NotificationMessage{Origin: "o", TenantID: "t", UserID: "u", ID: "i", Frame: small}))
	m := <-got
	assert.Equal(t, ports.NotificationMessage{Origin: "o", TenantID: "t", UserID: "u", ID: "i", Frame: small}, m)
	large := []byte(`{"x":"` + strings.Repeat("y", ports.MaxHubPayload) + `"}`)
	require.NoError(t, sh.Publish(ctx, ports.NotificationMessage{TenantID: "t", UserID: "u", ID: "i", Frame: large}))
	m = <-got
	assert.Nil(t, m.Frame, "too large: the id only")
	assert.Error(t, sh.Publish(ctx, ports.NotificationMessage{TenantID: "t", UserID: strings.Repeat("u", ports.MaxHubPayload), ID: "i"}))
}

type handlerFunc func(ports.NotificationMessage)

func (f handlerFunc) Deliver(m ports.NotificationMessage) { f(m) }
func (f handlerFunc) Connected(bool)                      {}

// TestCreatedBeforeStartIsSent: a stream is registered before its
// connection is upgraded, so a notification created in between is sent
// once the stream starts; a stream closed before it starts closes its
// connection at Start.
func TestCreatedBeforeStartIsSent(t *testing.T) {
	f := newFixture(t, nil, notify.Options{SendBuffer: 2})
	tk, err := f.svc.Admit(as("t", "ann"))
	require.NoError(t, err)
	st := tk.Open(as("t", "ann"), notify.StreamOptions{})
	f.notify(t, "t", "ann", "early")
	c := newConn()
	st.Start(c)
	assert.Equal(t, []string{"early"}, c.wait(t, 1))

	tk, err = f.svc.Admit(as("t", "ann"))
	require.NoError(t, err)
	st = tk.Open(as("t", "ann"), notify.StreamOptions{})
	for i := range 3 {
		f.notify(t, "t", "ann", fmt.Sprint(i))
	}
	c2 := newConn()
	st.Start(c2)
	assert.Equal(t, notify.CloseSlow, c2.closedWith(t))
}
