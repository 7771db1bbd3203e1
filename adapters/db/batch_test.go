package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// record is an append-only DocType with a column of each kind a batch
// writes: text, integer, decimal, JSON, a time and a time that may be nil.
type record struct {
	doctype.Base
	Kind   string          `json:"kind"`
	Count  int             `json:"count"`
	Amount doctype.Decimal `json:"amount"`
	Data   doctype.JSONMap `json:"data"`
	At     time.Time       `json:"at"`
	Seen   *time.Time      `json:"seen"`
}

const recordDocType = "Batch Record"

func batchRepo(t *testing.T, driver fmtest.Driver) ports.Repository {
	t.Helper()
	reg := doctype.NewRegistry()
	_, err := doctype.Register[record](reg, doctype.Meta{Name: recordDocType, Naming: "prompt", AppendOnly: true})
	require.NoError(t, err)
	gdb, _ := openDB(t, driver)
	return newRepo(t, gdb, reg)
}

func newRecord(tenant, name, kind string, at time.Time) *record {
	r := &record{Kind: kind, Count: 7, Amount: doctype.MustDecimal("12.50"), Data: doctype.JSONMap{"k": "v", "n": 2.0}, At: at}
	r.TenantID, r.Name, r.Owner, r.ModifiedBy = tenant, name, "ann", "ann"
	r.CreatedAt, r.ModifiedAt, r.Version = at, at, 1
	return r
}

// TestInsertBatch: rows are stored as they are, in their own tenants, with
// every kind of column intact (on PostgreSQL through COPY); a batch sent
// again with new rows among the stored ones stores the new ones and leaves
// the others as they were; inside a transaction that rolls back, nothing
// is stored.
func TestInsertBatch(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		repo := batchRepo(t, driver)
		bi, ok := repo.(ports.BatchInserter)
		require.True(t, ok)
		ctx := context.Background()
		at := time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))
		seen := at.Add(time.Hour)
		first := []*record{newRecord("t1", "r1", "a", at), newRecord("t2", "r1", "b", at), newRecord("t1", "r2", "c", at)}
		first[1].Seen = &seen
		require.NoError(t, bi.InsertBatch(ctx, recordDocType, first))

		got, err := repo.Get(ports.WithTenantID(ctx, "t2"), recordDocType, "r1")
		require.NoError(t, err)
		r := got.(*record)
		assert.Equal(t, "b", r.Kind)
		assert.Equal(t, 7, r.Count)
		assert.Equal(t, "12.50", r.Amount.String())
		assert.Equal(t, doctype.JSONMap{"k": "v", "n": 2.0}, r.Data)
		assert.True(t, r.At.Equal(at.Truncate(time.Microsecond)), "at %v", r.At)
		assert.True(t, r.ModifiedAt.Equal(at.Truncate(time.Microsecond)), "modified_at is the caller's: %v", r.ModifiedAt)
		assert.True(t, r.CreatedAt.Equal(at.Truncate(time.Microsecond)), "created_at is the caller's: %v", r.CreatedAt)
		assert.Equal(t, [2]string{"ann", "ann"}, [2]string{r.Owner, r.ModifiedBy})
		require.NotNil(t, r.Seen)
		assert.True(t, r.Seen.Equal(seen.Truncate(time.Microsecond)))
		assert.EqualValues(t, 1, r.Version)
		got, err = repo.Get(ports.WithTenantID(ctx, "t1"), recordDocType, "r1")
		require.NoError(t, err)
		assert.Nil(t, got.(*record).Seen)

		// Sent again, with two new rows around the stored ones, and the
		// stored ones changed: the new ones are stored, the others kept.
		again := []*record{newRecord("t1", "r0", "new", at), newRecord("t1", "r1", "changed", at),
			newRecord("t2", "r1", "changed", at), newRecord("t1", "r3", "new", at)}
		require.NoError(t, bi.InsertBatch(ctx, recordDocType, again))
		kinds := map[string]string{}
		for _, tenant := range []string{"t1", "t2"} {
			res, err := repo.List(ports.WithTenantID(ctx, tenant), recordDocType, ports.Query{Limit: 10})
			require.NoError(t, err)
			for _, it := range res.Items {
				kinds[tenant+"/"+it.(*record).Name] = it.(*record).Kind
			}
		}
		assert.Equal(t, map[string]string{"t1/r0": "new", "t1/r1": "a", "t1/r2": "c", "t1/r3": "new", "t2/r1": "b"}, kinds)

		// Batches of more than one INSERT's 100 rows, sent again with more:
		// every row once.
		var many []*record
		for i := range 130 {
			many = append(many, newRecord("t3", fmt.Sprintf("m%03d", i), "m", at))
		}
		require.NoError(t, bi.InsertBatch(ctx, recordDocType, many[:120]))
		require.NoError(t, bi.InsertBatch(ctx, recordDocType, many))
		res, err := repo.List(ports.WithTenantID(ctx, "t3"), recordDocType, ports.Query{Limit: 1})
		require.NoError(t, err)
		assert.EqualValues(t, 130, res.Total)

		// In a transaction that rolls back: nothing.
		boom := errors.New("boom")
		err = repo.InTx(ports.WithTenantID(ctx, "t1"), func(tx context.Context) error {
			require.NoError(t, bi.InsertBatch(tx, recordDocType, []*record{newRecord("t1", "r9", "x", at)}))
			_, err := repo.Get(tx, recordDocType, "r9")
			require.NoError(t, err, "visible inside its transaction")
			return boom
		})
		require.ErrorIs(t, err, boom)
		_, err = repo.Get(ports.WithTenantID(ctx, "t1"), recordDocType, "r9")
		require.Error(t, err, "rolled back")

		// Not a slice of the DocType's pointers, or with a nil: refused.
		require.Error(t, bi.InsertBatch(ctx, recordDocType, []record{*newRecord("t1", "r8", "x", at)}))
		require.Error(t, bi.InsertBatch(ctx, recordDocType, []*record{newRecord("t1", "r8", "x", at), nil}))
		_, err = repo.Get(ports.WithTenantID(ctx, "t1"), recordDocType, "r8")
		require.Error(t, err, "nothing of a refused batch is stored")
	})
}
