package memrepo_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/fmtest/repotest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	repotest.Run(t, func(t *testing.T, reg *doctype.Registry) ports.Repository {
		return memrepo.New(reg)
	})
}

type note struct {
	doctype.Base
	Title  string             `json:"title"`
	Secret string             `json:"-"`
	Dept   string             `json:"dept"`
	Tags   doctype.StringList `json:"tags"`
	Memo   *string            `json:"memo"`
	Cache  string             `json:"cache" gorm:"-"`
	Count  int                `json:"count"`
}

const noteDT = "Note"

var errBoom = errors.New("boom")

func newRepo(t *testing.T) (*memrepo.Repository, context.Context) {
	t.Helper()
	reg := doctype.NewRegistry()
	doctype.MustRegister[note](reg, doctype.Meta{Name: noteDT})
	return memrepo.New(reg), ports.WithTenantID(t.Context(), "A")
}

func create(t *testing.T, r *memrepo.Repository, ctx context.Context, n *note) *note {
	t.Helper()
	require.NoError(t, r.Create(ctx, noteDT, n))
	return n
}

func get(t *testing.T, r *memrepo.Repository, ctx context.Context, name string) *note {
	t.Helper()
	d, err := r.Get(ctx, noteDT, name)
	require.NoError(t, err)
	return d.(*note)
}

func listNames(t *testing.T, r *memrepo.Repository, ctx context.Context, filters ...ports.Filter) []string {
	t.Helper()
	res, err := r.List(ctx, noteDT, ports.Query{Filters: filters, Orders: []ports.Order{{Field: "name"}}, Limit: 100})
	require.NoError(t, err)
	out := []string{}
	for _, it := range res.Items {
		out = append(out, it.(*note).Name)
	}
	return out
}

func TestDocumentsAreCopies(t *testing.T) {
	r, ctx := newRepo(t)
	n := &note{Title: "kept", Tags: doctype.StringList{"a"}}
	create(t, r, ctx, n)
	n.Title, n.Tags[0] = "changed after create", "changed"

	got := get(t, r, ctx, n.Name)
	assert.Equal(t, "kept", got.Title)
	assert.Equal(t, []string{"a"}, []string(got.Tags))

	got.Title, got.Tags[0] = "changed after get", "x"
	again := get(t, r, ctx, n.Name)
	assert.Equal(t, "kept", again.Title)
	assert.Equal(t, []string{"a"}, []string(again.Tags))

	res, err := r.List(ctx, noteDT, ports.Query{})
	require.NoError(t, err)
	res.Items[0].(*note).Tags[0] = "y"
	assert.Equal(t, []string{"a"}, []string(get(t, r, ctx, n.Name).Tags), "listed documents are copies too")
}

func TestHiddenFieldsAreStoredAndUnstoredOnesAreNot(t *testing.T) {
	r, ctx := newRepo(t)
	n := create(t, r, ctx, &note{Title: "t", Secret: "hash", Cache: "computed"})
	got := get(t, r, ctx, n.Name)
	assert.Equal(t, "hash", got.Secret, `json:"-" fields are stored`)
	assert.Empty(t, got.Cache, `gorm:"-" fields are not`)
	assert.Equal(t, []string{n.Name}, listNames(t, r, ctx, ports.Filter{Field: "secret", Op: ports.OpEq, Value: "hash"}),
		"hidden fields can be filtered on by their snake_case name")
}

func TestWrongDocumentTypeIsRefused(t *testing.T) {
	r, ctx := newRepo(t)
	type other struct{ doctype.Base }
	assert.Error(t, r.Create(ctx, noteDT, &other{}))
	assert.Error(t, r.Create(ctx, noteDT, (*note)(nil)))
	assert.Error(t, r.Create(ctx, noteDT, note{}))
	_, err := r.Get(ctx, "Nope", "x")
	assert.ErrorIs(t, err, core.ErrNotFound, "unknown DocType")
}

func TestFilterGroups(t *testing.T) {
	r, ctx := newRepo(t)
	for _, n := range []*note{
		{Base: doctype.Base{Name: "a", Owner: "ann"}, Dept: "sales"},
		{Base: doctype.Base{Name: "b", Owner: "bob"}, Dept: "sales"},
		{Base: doctype.Base{Name: "c", Owner: "bob"}, Dept: "ops"},
		{Base: doctype.Base{Name: "d", Owner: "cid"}, Dept: "ops", Count: 3},
	} {
		create(t, r, ctx, n)
	}
	eq := func(field string, v any) ports.Filter { return ports.Filter{Field: field, Op: ports.OpEq, Value: v} }
	cases := []struct {
		name   string
		filter ports.Filter
		want   []string
	}{
		{"one group", ports.Filter{Any: [][]ports.Filter{{eq("owner", "ann")}}}, []string{"a"}},
		{"two groups", ports.Filter{Any: [][]ports.Filter{{eq("owner", "ann")}, {eq("dept", "ops")}}}, []string{"a", "c", "d"}},
		{"a group ANDs", ports.Filter{Any: [][]ports.Filter{{eq("owner", "bob"), eq("dept", "ops")}}}, []string{"c"}},
		{"no group matches nothing", ports.Filter{Any: [][]ports.Filter{}}, []string{}},
		{"an empty group matches everything", ports.Filter{Any: [][]ports.Filter{{eq("owner", "ann")}, {}}}, []string{"a", "b", "c", "d"}},
		{"nested", ports.Filter{Any: [][]ports.Filter{{{Any: [][]ports.Filter{{eq("count", 3)}}}}}}, []string{"d"}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, listNames(t, r, ctx, c.filter), c.name)
	}
	got := listNames(t, r, ctx, eq("dept", "sales"), ports.Filter{Any: [][]ports.Filter{{eq("owner", "bob")}, {eq("owner", "cid")}}})
	assert.Equal(t, []string{"b"}, got, "groups AND with the other filters")

	_, err := r.List(ctx, noteDT, ports.Query{Filters: []ports.Filter{{Any: [][]ports.Filter{{}, {eq("nope", 1)}}}}})
	assert.ErrorIs(t, err, core.ErrValidation, "a bad filter in any group is refused")
}

func TestNullsAndLike(t *testing.T) {
	r, ctx := newRepo(t)
	memo := "Ünïcode Memo"
	create(t, r, ctx, &note{Base: doctype.Base{Name: "with"}, Memo: &memo})
	create(t, r, ctx, &note{Base: doctype.Base{Name: "without"}})
	f := func(op ports.Operator, v any) ports.Filter { return ports.Filter{Field: "memo", Op: op, Value: v} }
	assert.Equal(t, []string{"with"}, listNames(t, r, ctx, f(ports.OpLike, "üNÏ%")), "like ignores case beyond ASCII")
	assert.Equal(t, []string{}, listNames(t, r, ctx, f(ports.OpNe, "x"), f(ports.OpIsNull, nil)), "NULL != x is not true")
	assert.Equal(t, []string{"without"}, listNames(t, r, ctx, f(ports.OpEq, nil)), "= nil is IS NULL")
	assert.Equal(t, []string{"with"}, listNames(t, r, ctx, f(ports.OpNe, nil)), "!= nil is IS NOT NULL")
	assert.Equal(t, []string{}, listNames(t, r, ctx, f(ports.OpNotIn, []any{"x", nil})), "not in with a NULL is never true")
	assert.Equal(t, []string{"with"}, listNames(t, r, ctx, f(ports.OpIn, []any{memo, nil})))

	res, err := r.List(ctx, noteDT, ports.Query{Orders: []ports.Order{{Field: "memo"}}})
	require.NoError(t, err)
	assert.Equal(t, "without", res.Items[0].(*note).Name, "NULLs sort first")

	_, err = r.List(ctx, noteDT, ports.Query{Filters: []ports.Filter{{Field: "count", Op: ports.OpLike, Value: "1%"}}})
	assert.ErrorIs(t, err, core.ErrValidation, "like on a number")
	_, err = r.List(ctx, noteDT, ports.Query{Filters: []ports.Filter{{Field: "count", Op: ports.OpEq, Value: "many"}}})
	assert.ErrorIs(t, err, core.ErrValidation, "a value that is no number")
}

func TestStringsPostgreSQLRefusesAreRefused(t *testing.T) {
	r, ctx := newRepo(t)
	long := &note{Base: doctype.Base{Owner: strings.Repeat("x", 141)}}
	assert.ErrorIs(t, r.Create(ctx, noteDT, long), core.ErrValidation, "owner is size:140")
	assert.ErrorIs(t, r.Create(ctx, noteDT, &note{Title: "a\x00b"}), core.ErrValidation, "NUL")
}

func TestAfterCommit(t *testing.T) {
	r, ctx := newRepo(t)
	var mu sync.Mutex
	var ran []string
	record := func(what string) func(context.Context) {
		return func(context.Context) {
			mu.Lock()
			ran = append(ran, what)
			mu.Unlock()
		}
	}
	r.AfterCommit(ctx, record("no tx: at once"))
	assert.Equal(t, []string{"no tx: at once"}, ran)

	ran = nil
	require.NoError(t, r.InTx(ctx, func(ctx context.Context) error {
		r.AfterCommit(ctx, record("outer"))
		assert.NoError(t, r.InTx(ctx, func(ctx context.Context) error {
			r.AfterCommit(ctx, record("savepoint"))
			return nil
		}))
		assert.Error(t, r.InTx(ctx, func(ctx context.Context) error {
			r.AfterCommit(ctx, record("failed savepoint"))
			return errBoom
		}))
		assert.Empty(t, ran, "nothing runs before the commit")
		return nil
	}))
	assert.Equal(t, []string{"outer", "savepoint"}, ran, "a committed savepoint's functions run at the outer commit; a failed one's never")

	ran = nil
	assert.ErrorIs(t, r.InTx(ctx, func(ctx context.Context) error {
		r.AfterCommit(ctx, record("rolled back"))
		return errBoom
	}), errBoom)
	assert.Empty(t, ran, "never after a rollback")
}

func TestAfterCommitMayWriteAgain(t *testing.T) {
	r, ctx := newRepo(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			err := r.InTx(ctx, func(ctx context.Context) error {
				if err := r.Create(ctx, noteDT, &note{Title: "in tx", Count: i}); err != nil {
					return err
				}
				r.AfterCommit(ctx, func(after context.Context) {
					// Outside the finished transaction: a write and a new transaction.
					assert.NoError(t, r.Create(after, noteDT, &note{Title: "after"}))
					assert.NoError(t, r.InTx(after, func(ctx context.Context) error {
						return r.Create(ctx, noteDT, &note{Title: "after, in tx"})
					}))
				})
				return nil
			})
			assert.NoError(t, err)
		}
	}()
	// Meanwhile, other writers queue for the writer lock.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				assert.NoError(t, r.Create(ctx, noteDT, &note{Title: "concurrent"}))
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: transactions with AfterCommit writes did not finish")
	}
	res, err := r.List(ctx, noteDT, ports.Query{Limit: 1})
	require.NoError(t, err)
	assert.EqualValues(t, 20*3+40, res.Total)
}

func TestReadsOutsideATransactionSeeCommittedState(t *testing.T) {
	r, ctx := newRepo(t)
	inTx := make(chan struct{})
	release := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- r.InTx(ctx, func(ctx context.Context) error {
			if err := r.Create(ctx, noteDT, &note{Base: doctype.Base{Name: "pending"}}); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	_, err := r.Get(ctx, noteDT, "pending")
	assert.ErrorIs(t, err, core.ErrNotFound, "an open transaction's write is invisible outside it")
	assert.Equal(t, []string{}, listNames(t, r, ctx), "reads do not wait for the writer")
	close(release)
	require.NoError(t, <-errc)
	get(t, r, ctx, "pending")
}

func TestAFinishedTransactionCannotBeUsed(t *testing.T) {
	r, ctx := newRepo(t)
	var kept context.Context
	require.NoError(t, r.InTx(ctx, func(ctx context.Context) error {
		kept = ctx
		return nil
	}))
	assert.Error(t, r.Create(kept, noteDT, &note{}), "a write with a committed transaction's context")
	_, err := r.Get(kept, noteDT, "x")
	assert.Error(t, err)
	ran := false
	r.AfterCommit(kept, func(context.Context) { ran = true })
	assert.True(t, ran, "AfterCommit on a committed transaction runs at once")

	require.NoError(t, r.InTx(ctx, func(ctx context.Context) error {
		var inner context.Context
		require.NoError(t, r.InTx(ctx, func(ctx context.Context) error {
			inner = ctx
			return nil
		}))
		// A released savepoint's context joins the outer transaction, as in SQL.
		return r.Create(inner, noteDT, &note{Base: doctype.Base{Name: "via savepoint ctx"}})
	}))
	get(t, r, ctx, "via savepoint ctx")
}

func TestTwoRepositoriesDoNotShareTransactions(t *testing.T) {
	r1, ctx := newRepo(t)
	r2, _ := newRepo(t)
	assert.NoError(t, r1.InTx(ctx, func(ctx context.Context) error {
		// r2 must not think it runs in r1's transaction (nor wait for r1's lock).
		return r2.InTx(ctx, func(ctx context.Context) error {
			if err := r1.Create(ctx, noteDT, &note{Base: doctype.Base{Name: "one"}}); err != nil {
				return err
			}
			return r2.Create(ctx, noteDT, &note{Base: doctype.Base{Name: "two"}})
		})
	}))
	get(t, r1, ctx, "one")
	get(t, r2, ctx, "two")
	_, err := r2.Get(ctx, noteDT, "one")
	assert.ErrorIs(t, err, core.ErrNotFound)
}

func TestPanicRollsBackAndReleasesTheLock(t *testing.T) {
	r, ctx := newRepo(t)
	assert.Panics(t, func() {
		_ = r.InTx(ctx, func(ctx context.Context) error {
			_ = r.Create(ctx, noteDT, &note{Base: doctype.Base{Name: "doomed"}})
			panic("boom")
		})
	})
	_, err := r.Get(ctx, noteDT, "doomed")
	assert.ErrorIs(t, err, core.ErrNotFound)
	create(t, r, ctx, &note{Title: "the lock is free"})
}

func TestPing(t *testing.T) {
	r, ctx := newRepo(t)
	assert.NoError(t, r.Ping(ctx))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, r.Ping(cancelled), context.Canceled)
}
