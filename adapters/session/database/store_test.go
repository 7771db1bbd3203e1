package database_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/adapters/session/database"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/sessiontest"
	"github.com/framework-m/framework-m/ports"
)

// forEachDriver runs fn once per database as a subtest. PostgreSQL runs when
// FM_TEST_POSTGRES_DSN is set and skips, saying so, when not (fails under
// FM_REQUIRE_SERVERS).
func forEachDriver(t *testing.T, fn func(t *testing.T, driver fmtest.Driver)) {
	t.Helper()
	for _, d := range []fmtest.Driver{fmtest.SQLite, fmtest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			if d == fmtest.Postgres {
				fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL session store")
			}
			fn(t, d)
		})
	}
}

// open returns a migrated repository with the built-in DocTypes on a fresh
// database of driver (a SQLite file or a PostgreSQL schema), and its handle.
func open(t *testing.T, driver fmtest.Driver) (*db.Repository, *gorm.DB) {
	t.Helper()
	cfg := fmtest.Config(t, driver)
	gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, fmtest.Logger(t))
	require.NoError(t, err, "open %s", driver)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(t.Context()), "migrate")
	return repo, gdb
}

func TestStoreContract(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		sessiontest.RunWithClock(t, func(t *testing.T, now func() time.Time) ports.SessionStore {
			repo, _ := open(t, driver)
			return database.New(repo, repo, database.WithClock(now))
		})
	})
}

// put stores a session row directly through the repository, expired or not
// (Store.Create refuses expired sessions).
func put(t *testing.T, repo ports.Repository, tenant, id, user string, expires time.Time) {
	t.Helper()
	doc := &doctypes.Session{Base: doctype.Base{Name: id}, UserID: user, ExpiresAt: expires}
	require.NoError(t, repo.Create(ports.WithTenantID(t.Context(), tenant), doctypes.SessionDocType, doc))
}

// names returns the session names of tenant, expired or not.
func names(t *testing.T, repo ports.Repository, tenant string) []string {
	t.Helper()
	out, err := listNames(t.Context(), repo, tenant)
	require.NoError(t, err)
	return out
}

// listNames is names for a goroutine that must not stop the test (a
// condition of require.EventuallyWithT): it returns the error.
func listNames(ctx context.Context, repo ports.Repository, tenant string) ([]string, error) {
	res, err := repo.List(ports.WithTenantID(ctx, tenant), doctypes.SessionDocType, ports.Query{Limit: 1000})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range res.Items {
		out = append(out, it.(*doctypes.Session).Name)
	}
	slices.Sort(out)
	return out, nil
}

// eventuallyNames waits until tenant's session names are want. Its
// condition runs in a goroutine of its own, so it reports through
// assert.CollectT, never t.
func eventuallyNames(t *testing.T, repo ports.Repository, tenant string, want []string, msg string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := listNames(t.Context(), repo, tenant)
		if assert.NoError(c, err) {
			assert.Equal(c, want, got)
		}
	}, 5*time.Second, 10*time.Millisecond, msg)
}

// offsetClock is the machine's clock plus an offset the test moves.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time       { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Pass(d time.Duration) { c.offset.Add(int64(d)) }

func TestCleanupDeletesOnlyExpiredRowsOfEveryTenant(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		repo, _ := open(t, driver)
		st := database.New(repo, repo)
		now := time.Now()
		put(t, repo, "A", "a-expired", "ann", now.Add(-time.Hour))
		put(t, repo, "A", "a-just-expired", "ann", now.Add(-time.Millisecond))
		put(t, repo, "A", "a-live", "ann", now.Add(time.Hour))
		put(t, repo, "B", "b-expired", "bob", now.Add(-24*time.Hour))
		put(t, repo, "B", "b-live", "bob", now.Add(time.Minute))

		n, err := st.Cleanup(t.Context())
		require.NoError(t, err)
		assert.EqualValues(t, 3, n, "the expired rows of both tenants")
		assert.Equal(t, []string{"a-live"}, names(t, repo, "A"))
		assert.Equal(t, []string{"b-live"}, names(t, repo, "B"))

		n, err = st.Cleanup(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to clean")

		// Cleanup needs no tenant: it is a system job.
		live, err := st.Get(ports.WithTenantID(t.Context(), "A"), "a-live")
		require.NoError(t, err)
		assert.Equal(t, "ann", live.UserID)
	})
}

func TestRunCleansUpUntilCancelled(t *testing.T) {
	repo, _ := open(t, fmtest.SQLite)
	clk := &offsetClock{}
	st := database.New(repo, repo, database.WithLogger(fmtest.Logger(t)), database.WithCleanupInterval(20*time.Millisecond), database.WithClock(clk.Now))
	put(t, repo, "A", "old", "ann", time.Now().Add(-time.Hour))
	put(t, repo, "A", "live", "ann", time.Now().Add(time.Hour))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.Run(ctx)
	}()
	eventuallyNames(t, repo, "A", []string{"live"}, "Run deletes the expired row")

	// A session that expires only once the store's clock moves past it.
	put(t, repo, "B", "later", "bob", time.Now().Add(time.Minute))
	assert.Equal(t, []string{"later"}, names(t, repo, "B"))
	clk.Pass(2 * time.Minute)
	eventuallyNames(t, repo, "B", nil, "Run keeps cleaning at every interval")

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	assert.Equal(t, []string{"live"}, names(t, repo, "A"), "live sessions survive")
}

func TestDeleteAllForUserPagesThroughManySessions(t *testing.T) {
	repo, _ := open(t, fmtest.SQLite)
	st := database.New(repo, repo)
	ctx := ports.WithTenantID(t.Context(), "A")
	const n = 1203 // more than two pages
	exp := time.Now().Add(time.Hour)
	require.NoError(t, repo.InTx(ctx, func(ctx context.Context) error {
		for i := range n {
			doc := &doctypes.Session{Base: doctype.Base{Name: fmt.Sprintf("s%04d", i)}, UserID: "ann", ExpiresAt: exp}
			if err := repo.Create(ctx, doctypes.SessionDocType, doc); err != nil {
				return err
			}
		}
		return nil
	}))
	listed, err := st.ListForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Len(t, listed, n, "ListForUser returns every session, not one page")
	got, err := st.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, n, got)
	assert.Empty(t, names(t, repo, "A"))
}

func TestSessionDocType(t *testing.T) {
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	dt, ok := reg.Get(doctypes.SessionDocType)
	require.True(t, ok, "doctypes.Register registers Session")
	assert.True(t, dt.Immutable, "only the framework writes sessions")
	assert.True(t, dt.Allows(ports.RoleAdmin, ports.ActionRead))
	assert.True(t, dt.Allows(ports.RoleAdmin, ports.ActionDelete))
	assert.False(t, dt.Allows(ports.RoleAll, ports.ActionRead), "sessions are not for everyone")
	_, visible := dt.VisibleField("csrf_hash")
	assert.False(t, visible, "the CSRF hash is never serialized")
	f, ok := dt.Field("csrf_hash")
	require.True(t, ok)
	assert.True(t, f.Stored, "the CSRF hash is stored")
	for _, name := range []string{"user_id", "expires_at", "ip_address", "user_agent"} {
		_, ok := dt.VisibleField(name)
		assert.True(t, ok, name)
	}
	assert.Contains(t, dt.Indexes, []string{"user_id"})
	assert.Contains(t, dt.Indexes, []string{"expires_at"})
}

func TestCreateWrapsRepositoryErrors(t *testing.T) {
	repo, gdb := open(t, fmtest.SQLite)
	st := database.New(repo, repo)
	ctx := ports.WithTenantID(t.Context(), "A")
	s := &ports.Session{ID: "a/b", UserID: "ann", ExpiresAt: time.Now().Add(time.Hour)}
	assert.ErrorIs(t, st.Create(ctx, s), core.ErrValidation, "a handle the repository cannot name")
	require.NoError(t, db.Close(gdb))
	s.ID = "closed"
	err := st.Create(ctx, s)
	require.Error(t, err)
	assert.NotErrorIs(t, err, core.ErrValidation)
	_, err = st.Cleanup(t.Context())
	assert.Error(t, err, "Cleanup reports a closed database")
}
