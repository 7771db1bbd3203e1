package events_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/ports"
)

// stub is a repository that stores nothing: every write succeeds and
// AfterCommit runs at once, as outside a transaction.
type stub struct{}

func (stub) Get(context.Context, string, string) (any, error) { return &note{}, nil }
func (stub) List(context.Context, string, ports.Query) (ports.ListResult, error) {
	return ports.ListResult{}, nil
}
func (stub) Create(context.Context, string, any) error                      { return nil }
func (stub) Update(context.Context, string, any) error                      { return nil }
func (stub) Delete(context.Context, string, string) error                   { return nil }
func (stub) InTx(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
func (stub) AfterCommit(ctx context.Context, fn func(context.Context))      { fn(ctx) }
func (stub) Ping(context.Context) error                                     { return nil }

var _ ports.Repository = stub{}

func TestListens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		subscribe []string
		want      map[string]bool
	}{
		{"no subscription", nil, map[string]bool{"Note": false, "Entry": false}},
		{"one DocType", []string{"Note"}, map[string]bool{"Note": true, "Entry": false}},
		{"all DocTypes", []string{ports.AllDocTypes}, map[string]bool{"Note": true, "Entry": true}},
		{"both", []string{"Note", ports.AllDocTypes}, map[string]bool{"Note": true, "Entry": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var f events.Feed // the zero Feed is ready to use
			for _, dt := range tc.subscribe {
				f.Subscribe(dt, func(context.Context, ports.ChangeEvent) {})
			}
			for dt, want := range tc.want {
				assert.Equal(t, want, f.Listens(dt), dt)
			}
		})
	}
}

func TestSubscribeNilHandlerPanics(t *testing.T) {
	t.Parallel()
	var f events.Feed
	assert.Panics(t, func() { f.Subscribe("Note", nil) })
	assert.False(t, f.Listens("Note"))
}

// Handlers of a DocType run in subscription order, then those of all
// DocTypes in theirs, whatever order the two kinds subscribed in.
func TestHandlerOrder(t *testing.T) {
	t.Parallel()
	var f events.Feed
	var order []string
	sub := func(dt, label string) {
		f.Subscribe(dt, func(_ context.Context, ev ports.ChangeEvent) {
			order = append(order, label+":"+ev.DocType)
		})
	}
	sub(ports.AllDocTypes, "all1")
	sub("Note", "a")
	sub("Entry", "x")
	sub("Note", "b")
	sub(ports.AllDocTypes, "all2")
	sub("Note", "c")
	r := events.NewRepository(stub{}, &f, nil)
	ctx := ports.WithTenantID(context.Background(), "t1")

	require.NoError(t, r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}}))
	assert.Equal(t, []string{"a:Note", "b:Note", "c:Note", "all1:Note", "all2:Note"}, order)

	order = nil
	require.NoError(t, r.Create(ctx, "Entry", &entry{Base: doctype.Base{Name: "e1"}}))
	assert.Equal(t, []string{"x:Entry", "all1:Entry", "all2:Entry"}, order)

	order = nil
	require.NoError(t, r.Create(ctx, "Other", &note{Base: doctype.Base{Name: "o1"}}))
	assert.Equal(t, []string{"all1:Other", "all2:Other"}, order, "a DocType nobody names gets the handlers of all")
}

// Subscribing while writes run is safe (go test -race).
func TestSubscribeConcurrently(t *testing.T) {
	t.Parallel()
	var f events.Feed
	r := events.NewRepository(stub{}, &f, nil)
	ctx := ports.WithTenantID(context.Background(), "t1")
	var mu sync.Mutex
	seen := 0
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			dt := []string{"Note", ports.AllDocTypes}[i%2]
			f.Subscribe(dt, func(context.Context, ports.ChangeEvent) {
				mu.Lock()
				seen++
				mu.Unlock()
			})
		})
		wg.Go(func() {
			for j := range 20 {
				assert.NoError(t, r.Create(ctx, "Note", &note{Base: doctype.Base{Name: fmt.Sprintf("n%d-%d", i, j)}}))
				f.Listens("Entry")
			}
		})
	}
	wg.Wait()
	seen = 0
	require.NoError(t, r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "last"}}))
	assert.Equal(t, 8, seen, "every subscription made it")
}

// Without a subscriber to its DocType a write costs the decorator no
// allocation: no event, no closure, no read.
func TestNoSubscriberAllocatesNothing(t *testing.T) {
	var f events.Feed
	f.Subscribe("Entry", func(context.Context, ports.ChangeEvent) {})
	var r ports.Repository = events.NewRepository(stub{}, &f, nil)
	ctx := ports.WithTenantID(context.Background(), "t1")
	doc := &note{Base: doctype.Base{Name: "n1"}}
	allocs := testing.AllocsPerRun(100, func() {
		_ = r.Create(ctx, "Note", doc)
		_ = r.Update(ctx, "Note", doc)
		_ = r.Delete(ctx, "Note", "n1")
	})
	assert.Zero(t, allocs)
}
