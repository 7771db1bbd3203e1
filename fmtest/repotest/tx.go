package repotest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

var errBoom = errors.New("repotest: boom")

var txCases = []testCase{
	{"ErrorRollsBackEverything", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		kept := sampleItem("kept")
		f.create(ctx, ItemDocType, kept)
		doomed := sampleItem("doomed")
		f.create(ctx, ItemDocType, doomed)

		var created *item
		err := f.r.InTx(ctx, func(ctx context.Context) error {
			created = sampleItem("created in tx")
			if !assert.NoError(t, f.r.Create(ctx, ItemDocType, created)) {
				return errBoom
			}
			assert.Equal(t, "created in tx", f.getItem(ctx, created.Name).Title, "a transaction sees its own writes")
			upd := f.getItem(ctx, kept.Name)
			upd.Title = "updated in tx"
			assert.NoError(t, f.r.Update(ctx, ItemDocType, upd))
			assert.NoError(t, f.r.Delete(ctx, ItemDocType, doomed.Name))
			assert.NoError(t, f.r.Create(ctx, InvoiceDocType, &invoice{Customer: "rolled back"}))
			assert.NoError(t, f.r.Create(ctx, SettingsDocType, &settings{Theme: "rolled back"}))
			return errBoom
		})
		assert.ErrorIs(t, err, errBoom, "InTx returns fn's error")

		_, err = f.r.Get(ctx, ItemDocType, created.Name)
		assert.ErrorIs(t, err, core.ErrNotFound, "the create was rolled back")
		assertSameItem(t, kept, f.getItem(ctx, kept.Name))
		assertSameItem(t, doomed, f.getItem(ctx, doomed.Name))
		assert.EqualValues(t, 2, f.count(ctx, ItemDocType))
		_, err = f.r.Get(ctx, SettingsDocType, SettingsDocType)
		assert.ErrorIs(t, err, core.ErrNotFound)
		inv := &invoice{Customer: "after"}
		f.create(ctx, InvoiceDocType, inv)
		assert.Equal(t, "CINV-0001", inv.Name, "the series number taken in the rolled back transaction is free again")
	}},
	{"SuccessCommits", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		kept := sampleItem("kept")
		f.create(ctx, ItemDocType, kept)
		doomed := sampleItem("doomed")
		f.create(ctx, ItemDocType, doomed)
		created := sampleItem("created in tx")
		require.NoError(t, f.r.InTx(ctx, func(ctx context.Context) error {
			if err := f.r.Create(ctx, ItemDocType, created); err != nil {
				return err
			}
			kept.Title = "updated in tx"
			if err := f.r.Update(ctx, ItemDocType, kept); err != nil {
				return err
			}
			return f.r.Delete(ctx, ItemDocType, doomed.Name)
		}))
		assertSameItem(t, created, f.getItem(ctx, created.Name))
		assertSameItem(t, kept, f.getItem(ctx, kept.Name))
		assert.EqualValues(t, 2, kept.Version)
		_, err := f.r.Get(ctx, ItemDocType, doomed.Name)
		assert.ErrorIs(t, err, core.ErrNotFound)
	}},
	{"NestedJoinsTheOuter", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		inner, outer := sampleItem("inner"), sampleItem("outer")
		err := f.r.InTx(ctx, func(ctx context.Context) error {
			assert.NoError(t, f.r.Create(ctx, ItemDocType, outer))
			assert.NoError(t, f.r.InTx(ctx, func(ctx context.Context) error {
				f.getItem(ctx, outer.Name) // the inner sees the outer's writes
				return f.r.Create(ctx, ItemDocType, inner)
			}))
			f.getItem(ctx, inner.Name) // and the outer the inner's
			return errBoom
		})
		assert.ErrorIs(t, err, errBoom)
		assert.EqualValues(t, 0, f.count(ctx, ItemDocType), "the outer's failure rolls back the inner's writes too")

		err = f.r.InTx(ctx, func(ctx context.Context) error {
			return f.r.InTx(ctx, func(ctx context.Context) error {
				assert.NoError(t, f.r.Create(ctx, ItemDocType, sampleItem("inner")))
				return errBoom
			})
		})
		assert.ErrorIs(t, err, errBoom, "an inner error passes through the outer")
		assert.EqualValues(t, 0, f.count(ctx, ItemDocType))

		both := sampleItem("committed")
		require.NoError(t, f.r.InTx(ctx, func(ctx context.Context) error {
			return f.r.InTx(ctx, func(ctx context.Context) error {
				return f.r.Create(ctx, ItemDocType, both)
			})
		}))
		f.getItem(ctx, both.Name)
	}},
	{"HandledErrorKeepsTheTransactionUsable", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		existing := sampleItem("existing")
		existing.Name = "taken"
		f.create(ctx, ItemDocType, existing)

		before, after := sampleItem("before"), sampleItem("after")
		err := f.r.InTx(ctx, func(ctx context.Context) error {
			assert.NoError(t, f.r.Create(ctx, ItemDocType, before))
			dup := sampleItem("dup")
			dup.Name = "taken"
			assert.ErrorIs(t, f.r.Create(ctx, ItemDocType, dup), core.ErrConflict)
			// fn handles the conflict and goes on: the transaction must still work.
			assert.NoError(t, f.r.Create(ctx, ItemDocType, after), "a call after a handled conflict")
			_, err := f.r.Get(ctx, ItemDocType, before.Name)
			assert.NoError(t, err, "a read after a handled conflict")
			return nil
		})
		assert.NoError(t, err, "commit after a handled conflict")
		for _, d := range []*item{existing, before, after} {
			_, err := f.r.Get(ctx, ItemDocType, d.Name)
			assert.NoError(t, err, "%s is committed", d.Title)
		}
	}},
}

var concurrencyCases = []testCase{
	{"SeriesNamesAreConsecutive", func(t *testing.T, f *fixture) {
		const n = 16
		tenants := []string{"A", "B"}
		got := map[string][]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			for _, tenant := range tenants {
				wg.Go(func() {
					inv := &invoice{Customer: fmt.Sprintf("%s-%d", tenant, i)}
					if err := f.r.Create(f.ctx(tenant), InvoiceDocType, inv); !assert.NoError(t, err, "concurrent create %s/%d (no retries allowed)", tenant, i) {
						return
					}
					mu.Lock()
					got[tenant] = append(got[tenant], inv.Name)
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		for _, tenant := range tenants {
			assertSameNames(t, seq("CINV-", 1, n), got[tenant], "tenant %s: distinct, consecutive names", tenant)
			assert.EqualValues(t, n, f.count(f.ctx(tenant), InvoiceDocType))
		}
		inv := &invoice{Customer: "next"}
		f.create(f.ctx("A"), InvoiceDocType, inv)
		assert.Equal(t, fmt.Sprintf("CINV-%04d", n+1), inv.Name)
	}},
	{"OneOfConcurrentUpdatesWins", func(t *testing.T, f *fixture) {
		const n = 12
		ctx := f.ctx("A")
		doc := sampleItem("contested")
		f.create(ctx, ItemDocType, doc)
		var wg sync.WaitGroup
		results := make([]error, n)
		for i := range n {
			wg.Go(func() {
				mine := *doc
				mine.Qty = i
				results[i] = f.r.Update(ctx, ItemDocType, &mine)
			})
		}
		wg.Wait()
		won := -1
		for i, err := range results {
			if err == nil {
				assert.Equal(t, -1, won, "only one update of version 1 may succeed; %d and %d both did", won, i)
				won = i
				continue
			}
			assert.ErrorIs(t, err, core.ErrConflict, "update %d", i)
		}
		require.NotEqual(t, -1, won, "one update must succeed")
		got := f.getItem(ctx, doc.Name)
		assert.EqualValues(t, 2, got.Version)
		assert.Equal(t, won, got.Qty, "the stored document is the winner's")
	}},
	{"ReadModifyWriteLosesNoUpdate", func(t *testing.T, f *fixture) {
		const n = 12
		ctx := f.ctx("A")
		doc := &item{Title: "counter"}
		f.create(ctx, ItemDocType, doc)
		results := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i] = f.r.InTx(ctx, func(ctx context.Context) error {
					cur, err := f.r.Get(ctx, ItemDocType, doc.Name)
					if err != nil {
						return err
					}
					it := cur.(*item)
					it.Qty++
					return f.r.Update(ctx, ItemDocType, it)
				})
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range results {
			if err == nil {
				ok++
				continue
			}
			assert.ErrorIs(t, err, core.ErrConflict, "transaction %d either commits or reports a conflict", i)
		}
		got := f.getItem(ctx, doc.Name)
		assert.Positive(t, ok)
		assert.Equal(t, ok, got.Qty, "every committed increment is kept, none lost")
		assert.EqualValues(t, 1+ok, got.Version)
	}},
}

var pingCases = []testCase{
	{"Succeeds", func(t *testing.T, f *fixture) {
		assert.NoError(t, f.r.Ping(t.Context()))
		assert.NoError(t, f.r.Ping(ports.WithTenantID(t.Context(), "A")))
	}},
}
