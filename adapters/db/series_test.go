package db_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

type ticket struct {
	doctype.Base
	Title string `json:"title"`
}

// holdKey marks a create to stop right after its INSERT, inside its
// transaction: the stand-in for an instance frozen mid-create.
type holdKey struct{}

// seriesRepo opens PostgreSQL with a short lock timeout, registers tickets
// named by pattern with gaps as given, and returns the repository and a
// function that, called in a create's context, makes that create stop after
// its INSERT until release is closed.
func seriesRepo(t *testing.T, gaps bool, block int) (*db.Repository, func(ctx context.Context) (ctxHeld context.Context, held <-chan struct{}, release func())) {
	t.Helper()
	cfg := fmtest.Config(t, fmtest.Postgres)
	cfg.Database.LockTimeoutMS = 300
	gdb := openCfg(t, cfg)
	reg := doctype.NewRegistry()
	doctype.MustRegister[ticket](reg, doctype.Meta{Name: "Ticket", Naming: "TK-.####", SeriesGaps: gaps, SeriesBlock: block})
	r := newRepo(t, gdb, reg)
	type hold struct {
		held    chan struct{}
		release chan struct{}
	}
	require.NoError(t, db.OnStatement(gdb, "hold", func(ctx context.Context, sql string) {
		if h, ok := ctx.Value(holdKey{}).(*hold); ok && strings.HasPrefix(sql, `INSERT INTO "ticket"`) {
			close(h.held)
			<-h.release
		}
	}))
	return r, func(ctx context.Context) (context.Context, <-chan struct{}, func()) {
		h := &hold{held: make(chan struct{}), release: make(chan struct{})}
		var once sync.Once
		return context.WithValue(ctx, holdKey{}, h), h.held, func() { once.Do(func() { close(h.release) }) }
	}
}

// TestSeriesWithGapsDoesNotWaitForOtherCreates: with a gapless series a create
// stopped in the middle (its transaction open) holds the counter, and another
// create of the prefix waits for it until the lock timeout (503); with
// SeriesGaps the other create goes through at once, and both keep their
// numbers.
func TestSeriesWithGapsDoesNotWaitForOtherCreates(t *testing.T) {
	fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	for _, gaps := range []bool{false, true} {
		t.Run(fmt.Sprintf("gaps=%v", gaps), func(t *testing.T) {
			r, hold := seriesRepo(t, gaps, 0)
			ctx := ports.WithTenantID(t.Context(), "T")
			heldCtx, held, release := hold(ctx)
			defer release()
			stopped := &ticket{Title: "stopped mid-create"}
			done := make(chan error, 1)
			go func() { done <- r.Create(heldCtx, "Ticket", stopped) }()
			<-held

			other := &ticket{Title: "another instance's"}
			began := time.Now()
			err := r.Create(ctx, "Ticket", other)
			if gaps {
				require.NoError(t, err)
				assert.Equal(t, "TK-0002", other.Name, "the next number, taken while the first create is still open")
				assert.Less(t, time.Since(began), 250*time.Millisecond, "waits for no lock")
			} else {
				require.ErrorIs(t, err, core.ErrUnavailable, "waits for the counter's lock, then gives up")
				assert.GreaterOrEqual(t, time.Since(began), 250*time.Millisecond)
			}
			release()
			require.NoError(t, <-done)
			assert.Equal(t, "TK-0001", stopped.Name)
			if !gaps {
				require.NoError(t, r.Create(ctx, "Ticket", other))
				assert.Equal(t, "TK-0002", other.Name, "gapless: the refused create took no number")
			}
		})
	}
}

// TestSeriesWithGapsLeavesAFailedCreatesNumber: a create that fails after
// taking its number leaves a gap (with SeriesGaps) instead of giving the
// number to the next create; names stay unique.
func TestSeriesWithGapsLeavesAFailedCreatesNumber(t *testing.T) {
	fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	r, hold := seriesRepo(t, true, 0)
	ctx := ports.WithTenantID(t.Context(), "T")
	first := &ticket{Title: "one"}
	require.NoError(t, r.Create(ctx, "Ticket", first))
	cctx, cancel := context.WithCancel(ctx)
	heldCtx, held, release := hold(cctx)
	go func() { <-held; cancel(); release() }()
	require.Error(t, r.Create(heldCtx, "Ticket", &ticket{Title: "fails"}), "canceled mid-create: rolled back")
	third := &ticket{Title: "three"}
	require.NoError(t, r.Create(ctx, "Ticket", third))
	assert.Equal(t, "TK-0001", first.Name)
	assert.Equal(t, "TK-0003", third.Name, "the failed create's number stays unused")
	_, err := r.Get(ctx, "Ticket", "TK-0002")
	assert.ErrorIs(t, err, core.ErrNotFound)
}

// TestSeriesBlocks: with SeriesBlock two "instances" (repositories on their
// own pools) reserve numbers in blocks: many concurrent creates get unique
// names, one counter statement per block, and the counter holds the blocks
// reserved.
func TestSeriesBlocks(t *testing.T) {
	fmtest.SkipUnlessServer(t, fmtest.EnvPostgresDSN, "PostgreSQL")
	cfg := fmtest.Config(t, fmtest.Postgres)
	reg := doctype.NewRegistry()
	doctype.MustRegister[ticket](reg, doctype.Meta{Name: "Ticket", Naming: "TK-.####", SeriesGaps: true, SeriesBlock: 10})
	var counterStatements [2]atomic.Int64
	instances := make([]*db.Repository, 2)
	for i := range instances {
		gdb := openCfg(t, cfg)
		instances[i] = newRepo(t, gdb, reg)
		require.NoError(t, db.OnStatement(gdb, "count", func(_ context.Context, sql string) {
			if strings.Contains(sql, db.SeriesTable) {
				counterStatements[i].Add(1)
			}
		}))
	}
	ctx := ports.WithTenantID(t.Context(), "T")
	const perInstance = 25
	var mu sync.Mutex
	var names []string
	var wg sync.WaitGroup
	for i, r := range instances {
		for j := range perInstance {
			wg.Go(func() {
				tk := &ticket{Title: fmt.Sprintf("%d/%d", i, j)}
				if assert.NoError(t, r.Create(ctx, "Ticket", tk)) {
					mu.Lock()
					names = append(names, tk.Name)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Len(t, names, 2*perInstance)
	slices.Sort(names)
	assert.Len(t, slices.Compact(slices.Clone(names)), 2*perInstance, "unique names")
	for i := range instances {
		assert.EqualValues(t, 3, counterStatements[i].Load(), "instance %d: 25 numbers in blocks of 10", i)
	}
	var current int64
	require.NoError(t, instances[0].DB(ctx).Raw("SELECT current FROM "+db.SeriesTable+" WHERE tenant_id = ? AND prefix = ?", "T", "TK-").Scan(&current).Error)
	assert.EqualValues(t, 60, current, "six blocks of ten reserved")
	assert.LessOrEqual(t, names[len(names)-1], "TK-0060")

	// Inside a caller's transaction a reserved number is used; with none
	// left, the counter advances by one in that transaction.
	require.NoError(t, instances[0].InTx(ctx, func(ctx context.Context) error {
		for range 6 {
			if err := instances[0].Create(ctx, "Ticket", &ticket{Title: "in a transaction"}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, instances[0].DB(ctx).Raw("SELECT current FROM "+db.SeriesTable+" WHERE tenant_id = ? AND prefix = ?", "T", "TK-").Scan(&current).Error)
	assert.EqualValues(t, 61, current, "five numbers left in the block, then one more")
}

// TestSeriesGapsNeedsASeries: the registry refuses SeriesGaps and
// SeriesBlock where they mean nothing or are out of bounds.
func TestSeriesGapsNeedsASeries(t *testing.T) {
	for _, m := range []doctype.Meta{
		{Name: "A", SeriesGaps: true},
		{Name: "B", Naming: "field:title", SeriesBlock: 5, SeriesGaps: true},
		{Name: "C", Naming: "C-.###", SeriesBlock: 5},
		{Name: "D", Naming: "D-.###", SeriesGaps: true, SeriesBlock: doctype.MaxSeriesBlock + 1},
		{Name: "E", Naming: "E-.###", SeriesGaps: true, SeriesBlock: -1},
	} {
		_, err := doctype.Register[ticket](doctype.NewRegistry(), m)
		assert.ErrorContains(t, err, "SeriesBlock", m.Name)
	}
	_, err := doctype.Register[ticket](doctype.NewRegistry(), doctype.Meta{Name: "F", Naming: "F-.###", SeriesGaps: true, SeriesBlock: 50})
	assert.NoError(t, err)
}

// TestReadsDoNotQueueBehindBlockedWrites: with every write connection taken
// by creates waiting for a series counter another instance holds, reads
// still get a connection (their own pool) and answer at once.
func TestReadsDoNotQueueBehindBlockedWrites(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.Postgres)
	cfg.Database.MaxWriteConns = 2
	cfg.Database.LockTimeoutMS = 3000
	gdb := openCfg(t, cfg)
	reg := doctype.NewRegistry()
	doctype.MustRegister[ticket](reg, doctype.Meta{Name: "Ticket", Naming: "TK-.####"})
	r := newRepo(t, gdb, reg)
	ctx := ports.WithTenantID(t.Context(), "T")
	first := &ticket{Title: "one"}
	require.NoError(t, r.Create(ctx, "Ticket", first))

	// Another instance, stopped inside a create: it holds the counter's row.
	other := openCfg(t, cfg)
	frozen := other.WithContext(t.Context()).Begin()
	require.NoError(t, frozen.Exec("UPDATE "+db.SeriesTable+" SET current = current WHERE prefix = ?", "TK-").Error)
	defer frozen.Rollback()
	var frozenPID int
	require.NoError(t, frozen.Raw("SELECT pg_backend_pid()").Scan(&frozenPID).Error)

	var wg sync.WaitGroup
	for range cfg.Database.MaxWriteConns {
		wg.Go(func() { _ = r.Create(ctx, "Ticket", &ticket{Title: "waits"}) })
	}
	defer wg.Wait()
	require.Eventually(t, func() bool {
		var waiting int
		_ = other.Raw("SELECT count(*) FROM pg_stat_activity WHERE ? = ANY(pg_blocking_pids(pid))", frozenPID).Scan(&waiting).Error
		return waiting == cfg.Database.MaxWriteConns
	}, 3*time.Second, 10*time.Millisecond, "every write connection waits for the lock")

	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	began := time.Now()
	got, err := r.Get(rctx, "Ticket", first.Name)
	require.NoError(t, err, "a read while every write connection is blocked")
	assert.Equal(t, "one", got.(*ticket).Title)
	res, err := r.List(rctx, "Ticket", ports.Query{})
	require.NoError(t, err)
	assert.Len(t, res.Items, 1)
	assert.Less(t, time.Since(began), 500*time.Millisecond)
}

type expiring struct {
	doctype.Base
	ExpiresAt time.Time `json:"expires_at"`
}

// TestListBefore: maintenance lists documents past a time across every
// tenant, oldest first, at most the limit asked.
func TestListBefore(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		gdb, _ := openDB(t, driver)
		reg := doctype.NewRegistry()
		doctype.MustRegister[expiring](reg, doctype.Meta{Name: "Expiring"})
		r := newRepo(t, gdb, reg)
		now := time.Now().UTC().Truncate(time.Second)
		for i, tenant := range []string{"A", "B", "A", "B"} {
			ctx := ports.WithTenantID(t.Context(), tenant)
			require.NoError(t, r.Create(ctx, "Expiring", &expiring{Base: doctype.Base{Name: fmt.Sprintf("e%d", i)}, ExpiresAt: now.Add(time.Duration(i-2) * time.Hour)}))
		}
		got, err := r.ListBefore(t.Context(), "Expiring", "expires_at", now, 10)
		require.NoError(t, err)
		var names, tenants []string
		for _, d := range got {
			names = append(names, d.(*expiring).Name)
			tenants = append(tenants, d.(*expiring).TenantID)
		}
		assert.Equal(t, []string{"e0", "e1"}, names, "past ones, oldest first")
		assert.Equal(t, []string{"A", "B"}, tenants, "across tenants")
		got, err = r.ListBefore(t.Context(), "Expiring", "expires_at", now.Add(24*time.Hour), 3)
		require.NoError(t, err)
		assert.Len(t, got, 3)
		_, err = r.ListBefore(t.Context(), "Expiring", "nope", now, 1)
		assert.Error(t, err)
	})
}
