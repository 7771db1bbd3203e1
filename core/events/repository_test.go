package events_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/fmtest/repotest"
	"github.com/framework-m/framework-m/ports"
)

type note struct {
	doctype.Base
	Title string `json:"title"`
}

var noteMeta = doctype.Meta{Name: "Note", Naming: doctype.NamingPrompt}

type entry struct {
	doctype.Base
	Text string `json:"text"`
}

var entryMeta = doctype.Meta{Name: "Entry", Naming: doctype.NamingPrompt}

// counting counts the reads and AfterCommit calls made on the repository it wraps.
type counting struct {
	ports.Repository
	gets, afterCommits atomic.Int64
}

func (c *counting) Get(ctx context.Context, doctypeName, name string) (any, error) {
	c.gets.Add(1)
	return c.Repository.Get(ctx, doctypeName, name)
}

func (c *counting) AfterCommit(ctx context.Context, fn func(ctx context.Context)) {
	c.afterCommits.Add(1)
	c.Repository.AfterCommit(ctx, fn)
}

// at is the clock of every test repository.
var at = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// env is the decorator over a SQLite repository. raw is the undecorated
// repository: what tests write or read with it publishes and counts nothing.
type env struct {
	raw   *db.Repository
	inner *counting
	feed  *events.Feed
	repo  *events.Repository
}

func openDB(t *testing.T, reg *doctype.Registry) *db.Repository {
	t.Helper()
	gdb, err := db.Open(t.Context(), config.Default().Database, t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	raw := db.New(gdb, reg)
	require.NoError(t, raw.Migrate(t.Context()))
	return raw
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := doctype.NewRegistry()
	_, err := doctype.Register[note](reg, noteMeta)
	require.NoError(t, err)
	_, err = doctype.Register[entry](reg, entryMeta)
	require.NoError(t, err)
	raw := openDB(t, reg)
	inner := &counting{Repository: raw}
	feed := &events.Feed{}
	return &env{raw: raw, inner: inner, feed: feed, repo: events.NewRepository(inner, feed, func() time.Time { return at })}
}

// as returns a context of user id in tenant, in a request.
func as(tenant, id string) context.Context {
	ctx := ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: id, TenantID: tenant})
	return ports.WithRequestInfo(ctx, ports.RequestInfo{ID: "req-" + id, ClientIP: "192.0.2.7", UserAgent: "events-test"})
}

func system(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
}

// seed stores a note directly, publishing nothing.
func (e *env) seed(t *testing.T, tenant, name, title string) {
	t.Helper()
	require.NoError(t, e.raw.Create(system(tenant), "Note", &note{Base: doctype.Base{Name: name}, Title: title}))
}

func (e *env) exists(t *testing.T, tenant, doctypeName, name string) bool {
	t.Helper()
	_, err := e.raw.Get(system(tenant), doctypeName, name)
	if errors.Is(err, core.ErrNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

// update reads doctype/name with ctx and writes it back changed by change.
func update[T any](ctx context.Context, r ports.Repository, doctypeName, name string, change func(*T)) error {
	d, err := r.Get(ctx, doctypeName, name)
	if err != nil {
		return err
	}
	change(d.(*T))
	return r.Update(ctx, doctypeName, d)
}

// recorder collects change events, and the tenant of each handler's context.
type recorder struct {
	mu      sync.Mutex
	events  []ports.ChangeEvent
	tenants []string
}

func (r *recorder) hook(ctx context.Context, ev ports.ChangeEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.tenants = append(r.tenants, ports.TenantIDFrom(ctx))
}

func (r *recorder) all() []ports.ChangeEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (e *env) record(doctypeName string) *recorder {
	r := &recorder{}
	e.feed.Subscribe(doctypeName, r.hook)
	return r
}

func titleOf(t *testing.T, doc any) string {
	t.Helper()
	if doc == nil {
		return ""
	}
	require.IsType(t, &note{}, doc)
	return doc.(*note).Title
}

// Each write publishes exactly one event, after its commit, describing it.
func TestWritePublishesOneEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		write  func(ctx context.Context, r ports.Repository) (written any, err error)
		action ports.Action
		before string // title of Before; "" for none
		after  string // title of After; "" for none
		// versions of Before and After
		beforeVersion, afterVersion int64
	}{
		{
			name: "create",
			write: func(ctx context.Context, r ports.Repository) (any, error) {
				n := &note{Base: doctype.Base{Name: "n1"}, Title: "created"}
				return n, r.Create(ctx, "Note", n)
			},
			action: ports.ActionCreate, after: "created", afterVersion: 1,
		},
		{
			name: "update",
			write: func(ctx context.Context, r ports.Repository) (any, error) {
				d, err := r.Get(ctx, "Note", "n1")
				if err != nil {
					return nil, err
				}
				d.(*note).Title = "second"
				return d, r.Update(ctx, "Note", d)
			},
			action: ports.ActionWrite, before: "first", beforeVersion: 1, after: "second", afterVersion: 2,
		},
		{
			name: "delete",
			write: func(ctx context.Context, r ports.Repository) (any, error) {
				return nil, r.Delete(ctx, "Note", "n1")
			},
			action: ports.ActionDelete, before: "first", beforeVersion: 1,
		},
	} {
		for _, inTx := range []bool{false, true} {
			name := tc.name
			if inTx {
				name += " in a transaction"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				if tc.action != ports.ActionCreate {
					e.seed(t, "t1", "n1", "first")
				}
				notes := e.record("Note")
				ctx := as("t1", "ann")
				var written any
				var err error
				if inTx {
					err = e.repo.InTx(ctx, func(ctx context.Context) error {
						var err error
						written, err = tc.write(ctx, e.repo)
						assert.Empty(t, notes.all(), "nothing is published before the commit")
						return err
					})
				} else {
					written, err = tc.write(ctx, e.repo)
				}
				require.NoError(t, err)

				evs := notes.all()
				require.Len(t, evs, 1)
				ev := evs[0]
				assert.Equal(t, "Note", ev.DocType)
				assert.Equal(t, "n1", ev.Name)
				assert.Equal(t, tc.action, ev.Action)
				assert.Equal(t, tc.before, titleOf(t, ev.Before), "before")
				assert.Equal(t, tc.after, titleOf(t, ev.After), "after")
				if tc.before == "" {
					assert.Nil(t, ev.Before)
				} else {
					assert.Equal(t, tc.beforeVersion, ev.Before.(*note).Version)
				}
				if tc.after == "" {
					assert.Nil(t, ev.After)
				} else {
					assert.Same(t, written, ev.After, "After is the document as written")
					assert.Equal(t, tc.afterVersion, ev.After.(*note).Version)
				}
				assert.Equal(t, "t1", ev.TenantID)
				require.NotNil(t, ev.Principal)
				assert.Same(t, ports.UserFrom(ctx), ev.Principal)
				assert.Equal(t, ports.RequestInfo{ID: "req-ann", ClientIP: "192.0.2.7", UserAgent: "events-test"}, ev.Request)
				assert.Equal(t, at, ev.At)
				assert.Equal(t, []string{"t1"}, notes.tenants, "the handler's context carries the writer's tenant")
			})
		}
	}
}

// Outside a request and without a principal the event says so.
func TestEventWithoutPrincipalOrRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	notes := e.record("Note")
	require.NoError(t, e.repo.Create(ports.WithTenantID(context.Background(), "t2"), "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"}))
	evs := notes.all()
	require.Len(t, evs, 1)
	assert.Equal(t, "t2", evs[0].TenantID)
	assert.Nil(t, evs[0].Principal)
	assert.Zero(t, evs[0].Request)
}

// A handler runs with a context free of the committed transaction: it may
// write (and its write publishes in turn).
func TestHandlerMayWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.feed.Subscribe("Note", func(ctx context.Context, ev ports.ChangeEvent) {
		assert.NoError(t, e.repo.Create(ctx, "Entry", &entry{Base: doctype.Base{Name: "log-" + ev.Name}, Text: string(ev.Action)}))
	})
	entries := e.record("Entry")
	err := e.repo.InTx(as("t1", "ann"), func(ctx context.Context) error {
		return e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"})
	})
	require.NoError(t, err)
	assert.True(t, e.exists(t, "t1", "Entry", "log-n1"))
	evs := entries.all()
	require.Len(t, evs, 1)
	assert.Equal(t, "log-n1", evs[0].Name)
	assert.Equal(t, "ann", evs[0].Principal.ID)
}

// Moved from core/resource: the change hooks of the resource service are now
// the events of its repository.
func TestHooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	notes := e.record("Note")
	entries := e.record("Entry")
	ctx := as("t1", "ann")

	require.NoError(t, e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "first"}))
	require.NoError(t, update(ctx, e.repo, "Note", "n1", func(n *note) { n.Title = "second" }))
	require.NoError(t, e.repo.Delete(ctx, "Note", "n1"))

	evs := notes.all()
	require.Len(t, evs, 3)
	for i, want := range []struct {
		action ports.Action
		title  string
	}{
		{ports.ActionCreate, "first"},
		{ports.ActionWrite, "second"},
		{ports.ActionDelete, "second"}, // the document as it was
	} {
		assert.Equal(t, "Note", evs[i].DocType)
		assert.Equal(t, "n1", evs[i].Name)
		assert.Equal(t, want.action, evs[i].Action)
		doc := evs[i].After
		if want.action == ports.ActionDelete {
			doc = evs[i].Before
		}
		require.IsType(t, &note{}, doc)
		assert.Equal(t, want.title, doc.(*note).Title, "event %d", i)
	}
	assert.Empty(t, entries.all(), "hooks of another DocType do not run")
}

func TestHooksRunInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	var order []string
	for _, name := range []string{"a", "b", "c"} {
		e.feed.Subscribe("Note", func(context.Context, ports.ChangeEvent) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
		})
	}
	require.NoError(t, e.repo.Create(as("t1", "ann"), "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"}))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"a", "b", "c"}, order)
}

// Inside a transaction, hooks wait for the commit and never run on rollback.
func TestHooksAfterCommitOnly(t *testing.T) {
	t.Parallel()
	t.Run("committed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		recorded := e.record("Note")
		err := e.repo.InTx(as("t1", "ann"), func(ctx context.Context) error {
			if err := e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"}); err != nil {
				return err
			}
			if err := update(ctx, e.repo, "Note", "n1", func(n *note) { n.Title = "y" }); err != nil {
				return err
			}
			assert.Empty(t, recorded.all(), "nothing runs before the commit")
			return nil
		})
		require.NoError(t, err)
		evs := recorded.all()
		require.Len(t, evs, 2)
		assert.Equal(t, ports.ActionCreate, evs[0].Action)
		assert.Equal(t, ports.ActionWrite, evs[1].Action)
		assert.Equal(t, "x", titleOf(t, evs[1].Before), "the update replaced the transaction's own create")
	})

	t.Run("rolled back", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.seed(t, "t1", "old", "old")
		recorded := e.record("Note")
		boom := errors.New("later step failed")
		err := e.repo.InTx(as("t1", "ann"), func(ctx context.Context) error {
			if err := e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"}); err != nil {
				return err
			}
			if err := e.repo.Delete(ctx, "Note", "old"); err != nil {
				return err
			}
			return boom
		})
		require.ErrorIs(t, err, boom)
		assert.Empty(t, recorded.all(), "no hook runs for changes that never happened")
		assert.False(t, e.exists(t, "t1", "Note", "n1"))
		assert.True(t, e.exists(t, "t1", "Note", "old"))
	})

	t.Run("failed savepoint", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.seed(t, "t1", "old", "old")
		recorded := e.record("Note")
		err := e.repo.InTx(as("t1", "ann"), func(ctx context.Context) error {
			if err := e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "kept"}, Title: "x"}); err != nil {
				return err
			}
			inner := e.repo.InTx(ctx, func(ctx context.Context) error {
				if err := e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "undone"}, Title: "x"}); err != nil {
					return err
				}
				if err := update(ctx, e.repo, "Note", "old", func(n *note) { n.Title = "undone too" }); err != nil {
					return err
				}
				return errors.New("inner step failed")
			})
			assert.Error(t, inner)
			return nil
		})
		require.NoError(t, err)
		evs := recorded.all()
		require.Len(t, evs, 1)
		assert.Equal(t, "kept", evs[0].Name)
		assert.False(t, e.exists(t, "t1", "Note", "undone"))
	})
}

// A write that fails publishes nothing, and its error passes through unchanged.
func TestFailedWritePublishesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, r ports.Repository) error
		is    error
	}{
		{"duplicate name", func(ctx context.Context, r ports.Repository) error {
			return r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "again"})
		}, core.ErrConflict},
		{"invalid name", func(ctx context.Context, r ports.Repository) error {
			return r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "a/b"}, Title: "x"})
		}, core.ErrValidation},
		{"stale version", func(ctx context.Context, r ports.Repository) error {
			return r.Update(ctx, "Note", &note{Base: doctype.Base{Name: "n1", Version: 1}, Title: "stale"})
		}, core.ErrConflict},
		{"future version", func(ctx context.Context, r ports.Repository) error {
			return r.Update(ctx, "Note", &note{Base: doctype.Base{Name: "n1", Version: 7}, Title: "future"})
		}, core.ErrConflict},
		{"update of a missing document", func(ctx context.Context, r ports.Repository) error {
			return r.Update(ctx, "Note", &note{Base: doctype.Base{Name: "nope", Version: 1}, Title: "x"})
		}, core.ErrNotFound},
		{"delete of a missing document", func(ctx context.Context, r ports.Repository) error {
			return r.Delete(ctx, "Note", "nope")
		}, core.ErrNotFound},
		{"another tenant's document", func(ctx context.Context, r ports.Repository) error {
			return r.Delete(as("t2", "ann"), "Note", "n1")
		}, core.ErrNotFound},
		{"not a document", func(ctx context.Context, r ports.Repository) error {
			return r.Update(ctx, "Note", struct{ Title string }{"x"})
		}, nil},
	} {
		for _, sub := range []string{"Note", ports.AllDocTypes} {
			t.Run(tc.name+" subscribed to "+sub, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.seed(t, "t1", "n1", "first")
				require.NoError(t, update(system("t1"), e.raw, "Note", "n1", func(n *note) { n.Title = "second" }))
				recorded := e.record(sub)
				ctx := as("t1", "ann")

				err := tc.write(ctx, e.repo)
				require.Error(t, err)
				if tc.is != nil {
					require.ErrorIs(t, err, tc.is)
				}
				errRaw := tc.write(ctx, e.raw)
				assert.Equal(t, errRaw.Error(), err.Error(), "the error is the inner repository's")
				var ce *core.ConflictError
				if errors.As(errRaw, &ce) && ce.Current != nil {
					require.ErrorAs(t, err, &ce)
					assert.Equal(t, "second", titleOf(t, ce.Current), "the conflict carries the current document")
				}
				assert.Empty(t, recorded.all())
				d, err := e.raw.Get(system("t1"), "Note", "n1")
				require.NoError(t, err)
				assert.Equal(t, "second", d.(*note).Title, "nothing changed")
				assert.Equal(t, int64(2), d.(*note).Version)
			})
		}
	}
}

// A subscriber to a DocType sees its changes only; one to all sees every one.
func TestSubscriptionScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	notes, entries, all := e.record("Note"), e.record("Entry"), e.record(ports.AllDocTypes)
	ctx := as("t1", "ann")
	require.NoError(t, e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"}))
	require.NoError(t, e.repo.Create(ctx, "Entry", &entry{Base: doctype.Base{Name: "e1"}, Text: "x"}))
	require.NoError(t, update(ctx, e.repo, "Entry", "e1", func(en *entry) { en.Text = "y" }))
	require.NoError(t, e.repo.Delete(ctx, "Note", "n1"))

	type change struct {
		doctype, name string
		action        ports.Action
	}
	changes := func(evs []ports.ChangeEvent) []change {
		out := make([]change, 0, len(evs))
		for _, ev := range evs {
			out = append(out, change{ev.DocType, ev.Name, ev.Action})
		}
		return out
	}
	assert.Equal(t, []change{{"Note", "n1", ports.ActionCreate}, {"Note", "n1", ports.ActionDelete}}, changes(notes.all()))
	assert.Equal(t, []change{{"Entry", "e1", ports.ActionCreate}, {"Entry", "e1", ports.ActionWrite}}, changes(entries.all()))
	assert.Equal(t, []change{
		{"Note", "n1", ports.ActionCreate},
		{"Entry", "e1", ports.ActionCreate},
		{"Entry", "e1", ports.ActionWrite},
		{"Note", "n1", ports.ActionDelete},
	}, changes(all.all()))
}

// The stored document is read before an update or delete only when somebody
// listens to its DocType; nobody listening costs no read and no AfterCommit.
func TestReadsOnlyForSubscribers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		subscribe          []string
		gets, afterCommits int64
	}{
		{"nobody", nil, 0, 0},
		{"another DocType", []string{"Entry"}, 0, 0},
		{"the DocType", []string{"Note"}, 2, 3},
		{"all DocTypes", []string{ports.AllDocTypes}, 2, 3},
		{"both", []string{"Note", ports.AllDocTypes}, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for _, dt := range tc.subscribe {
				e.record(dt)
			}
			ctx := as("t1", "ann")
			require.NoError(t, e.repo.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "x"}))
			require.NoError(t, update(ctx, e.raw, "Note", "n1", func(n *note) { n.Title = "y" }))
			d, err := e.raw.Get(ctx, "Note", "n1")
			require.NoError(t, err)
			d.(*note).Title = "z"
			require.NoError(t, e.repo.Update(ctx, "Note", d))
			require.NoError(t, e.repo.Delete(ctx, "Note", "n1"))
			assert.Equal(t, tc.gets, e.inner.gets.Load(), "reads of the stored document")
			assert.Equal(t, tc.afterCommits, e.inner.afterCommits.Load(), "events scheduled")
		})
	}
}

// The decorator keeps the Repository contract, with and without subscribers.
func TestRepositoryContract(t *testing.T) {
	for _, tc := range []struct {
		name      string
		subscribe bool
	}{
		{"nobody subscribed", false},
		{"all subscribed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repotest.Run(t, func(t *testing.T, reg *doctype.Registry) ports.Repository {
				feed := &events.Feed{}
				if tc.subscribe {
					feed.Subscribe(ports.AllDocTypes, func(context.Context, ports.ChangeEvent) {})
				}
				return events.NewRepository(openDB(t, reg), feed, nil)
			})
		})
	}
}
