package settings

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// instance is one app instance's settings service over a shared database file.
func instance(t *testing.T, dir string, clk *clock) *Service {
	t.Helper()
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	gdb, err := db.Open(context.Background(), config.Database{Driver: "sqlite"}, dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(gdb) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(context.Background()))
	feed := &events.Feed{}
	res := resource.New(events.NewRepository(repo, feed, nil), reg, rbac.New(reg, rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true}), nil)
	s := New(res, feed, doctypes.SystemSettingsDocType, time.Minute)
	s.now = clk.now
	return s
}

func admin(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: "root", Roles: []string{ports.RoleAdmin}})
}

func TestCacheAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	a, b := instance(t, dir, clk), instance(t, dir, clk)
	ctx := admin("default")

	snapB, err := b.Get(ctx)
	require.NoError(t, err)
	assert.False(t, snapB.Maintenance)

	_, err = a.Update(ctx, []byte(`{"maintenance_mode": true}`), nil)
	require.NoError(t, err)
	assert.True(t, a.Maintenance(ctx), "the instance that changed it sees it at once")
	assert.False(t, b.Maintenance(ctx), "another instance serves its cache until the TTL")

	clk.add(59 * time.Second)
	assert.False(t, b.Maintenance(ctx))
	clk.add(2 * time.Second)
	assert.True(t, b.Maintenance(ctx), "after the TTL the change reaches every instance")
}

func TestCacheServesWithoutReading(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := instance(t, t.TempDir(), clk)
	ctx := admin("default")
	first, err := s.Get(ctx)
	require.NoError(t, err)
	second, err := s.Get(ctx)
	require.NoError(t, err)
	assert.Same(t, first, second, "a fresh entry is served from memory")
	s.Invalidate("default")
	third, err := s.Get(ctx)
	require.NoError(t, err)
	assert.NotSame(t, first, third)
	assert.Equal(t, first.ETag, third.ETag, "same content, same ETag")
}

func TestUpdateValidatesAndAuthorizes(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := instance(t, t.TempDir(), clk)
	user := ports.WithUser(ports.WithTenantID(context.Background(), "default"), &ports.UserContext{ID: "ann"})
	_, err := s.Update(user, []byte(`{"app_name":"x"}`), nil)
	assert.Error(t, err)
	_, err = s.Update(admin("default"), []byte(`{"session_expiry": 0}`), nil)
	assert.Error(t, err)
	snap, err := s.Get(user)
	require.NoError(t, err)
	assert.Equal(t, "Framework M", snap.Doc.(*doctypes.SystemSettings).AppName, "failed updates change nothing")
}

func TestMaintenanceFalseWhenUnreadable(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := instance(t, t.TempDir(), clk)
	// No tenant in the context: the read fails; maintenance must not lock users out.
	assert.False(t, s.Maintenance(context.Background()))
}

// A change made straight on the repository, around the settings and resource
// services, invalidates the cache of its tenant only.
func TestWriteAroundTheServiceInvalidates(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	s := instance(t, t.TempDir(), clk)
	other, err := s.Get(admin("other"))
	require.NoError(t, err)
	_, err = s.Get(admin("default"))
	require.NoError(t, err)
	require.False(t, s.Maintenance(admin("default")))

	sys := ports.WithUser(ports.WithTenantID(context.Background(), "default"), &ports.SystemUser)
	repo := s.res.Repository()
	doc, err := repo.Get(sys, doctypes.SystemSettingsDocType, doctypes.SystemSettingsDocType)
	require.NoError(t, err)
	doc.(*doctypes.SystemSettings).MaintenanceMode = true
	require.NoError(t, repo.Update(sys, doctypes.SystemSettingsDocType, doc))

	assert.True(t, s.Maintenance(admin("default")), "seen at once, before the TTL")
	again, err := s.Get(admin("other"))
	require.NoError(t, err)
	assert.Same(t, other, again, "another tenant's entry stays cached")
}

// feed captures the notice handlers watching it.
type feed map[string][]ports.NoticeHandler

func (f feed) Subscribe(string, ports.ChangeHandler)       {}
func (f feed) Watch(doctype string, h ports.NoticeHandler) { f[doctype] = append(f[doctype], h) }
func (f feed) Synced() bool                                { return true }

// A notice invalidates its tenant only, and one without a tenant every tenant
// (what another instance's hub sends after reconnecting).
func TestInvalidatesTheNoticesTenant(t *testing.T) {
	changes := feed{}
	s := New(nil, changes, doctypes.SystemSettingsDocType, time.Minute)
	require.Len(t, changes[doctypes.SystemSettingsDocType], 1)
	notify := changes[doctypes.SystemSettingsDocType][0]
	s.cache["acme"], s.cache["elsewhere"] = &Snapshot{}, &Snapshot{}

	notify(ports.ChangeNotice{DocType: doctypes.SystemSettingsDocType, TenantID: "acme", Name: doctypes.SystemSettingsDocType})
	assert.Equal(t, uint64(1), s.gen["acme"])
	assert.Zero(t, s.gen["elsewhere"])
	assert.NotContains(t, s.cache, "acme")
	assert.Contains(t, s.cache, "elsewhere", "another tenant's entry stays")

	notify(ports.ChangeNotice{DocType: doctypes.SystemSettingsDocType})
	assert.Empty(t, s.cache, "everything is dropped")
	assert.Equal(t, uint64(1), s.gen[""], "loads of every tenant that raced it are not kept")
}
