package frameworkm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	hubmemory "github.com/framework-m/framework-m/adapters/hub/memory"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/notify"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// frames is a notify.Conn collecting what a stream writes.
type frames struct {
	mu  sync.Mutex
	got [][]byte
}

func (f *frames) Write(_ context.Context, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, b)
	return nil
}
func (f *frames) Ping(context.Context) error { return nil }
func (f *frames) Close(notify.CloseReason)   {}
func (f *frames) count() int                 { f.mu.Lock(); defer f.mu.Unlock(); return len(f.got) }

// TestNotificationsHub: [notifications] hub "" is the app's [hub] (this
// process only when local); another name is built from the hub registry,
// so instances whose [hub] is local still share notifications; an unknown
// name is a configuration error naming the key.
func TestNotificationsHub(t *testing.T) {
	bad := fmtest.Config(t, fmtest.SQLite)
	bad.Notifications.Hub = "carrier-pigeon"
	_, err := frameworkm.New(bad, frameworkm.WithLogger(fmtest.Logger(t)))
	var ce *config.Error
	require.True(t, errors.As(err, &ce), "%v", err)
	assert.Equal(t, "notifications.hub", ce.Problems[0].Key)
	assert.Contains(t, ce.Problems[0].Reason, "carrier-pigeon")

	// One instance, nothing shared: its own streams still get its notifications.
	alone := fmtest.New(t, fmtest.SQLite)
	require.Nil(t, alone.Hub)
	got := &frames{}
	open(t, alone, got)
	_, err = alone.Notifications.Notify(alone.SystemContext(t.Context(), ""), "ann", notify.Notification{Subject: "hi"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return got.count() == 1 }, 2*time.Second, time.Millisecond)

	// Two instances with [hub] local and [notifications] hub on a shared one.
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Hub.Backend = "local"
	cfg.Notifications.Hub = "shared"
	h := hubmemory.New()
	opt := frameworkm.WithHubBackend("shared", frameworkm.Factory(func(frameworkm.Deps) (ports.Hub, error) { return h, nil }))
	a, b := fmtest.NewWithConfig(t, cfg, opt), fmtest.NewWithConfig(t, cfg, opt)
	require.Nil(t, a.Hub)
	require.Eventually(t, func() bool { return a.Notifications.Synced() && b.Notifications.Synced() }, 2*time.Second, time.Millisecond)
	onB := &frames{}
	open(t, b, onB)
	_, err = a.Notifications.Notify(a.SystemContext(t.Context(), ""), "ann", notify.Notification{Subject: "from a"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return onB.count() == 1 }, 2*time.Second, time.Millisecond)
	assert.Contains(t, string(onB.got[0]), `"subject":"from a"`)
}

func open(t *testing.T, app *fmtest.App, c notify.Conn) {
	t.Helper()
	ctx := ports.WithUser(app.SystemContext(t.Context(), ""), fmtest.User("ann"))
	ctx = ports.WithTenantID(ctx, app.Config.Tenancy.DefaultTenantID)
	tk, err := app.Notifications.Admit(ctx)
	require.NoError(t, err)
	tk.Open(ctx, notify.StreamOptions{}).Start(c)
}
