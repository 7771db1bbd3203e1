package db_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
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

type seriesNote struct {
	doctype.Base
	Title string `json:"title"`
}

// TestConcurrentCreatesKeepSeriesGapless runs many writers at once: every
// create succeeds (SQLite writers queue for its one write connection instead
// of failing with "database is locked"), and the naming series stays gapless
// and unique.
func TestConcurrentCreatesKeepSeriesGapless(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		var logs fmtest.LogBuffer // at debug level, where GORM's failed statements go
		cfg := fmtest.Config(t, driver)
		reg := doctype.NewRegistry()
		doctype.MustRegister[seriesNote](reg, doctype.Meta{Name: "Series Note", Naming: "SN-.#####"})
		gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close(gdb) })
		r := newRepo(t, gdb, reg)
		ctx := ports.WithTenantID(t.Context(), "A")

		const writers, each = 48, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := r.Create(ctx, "Series Note", &seriesNote{Title: fmt.Sprintf("%d-%d", w, i)}); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("create: %v", err)
		}
		res, err := r.List(ctx, "Series Note", ports.Query{Limit: writers * each})
		require.NoError(t, err)
		names := make([]string, 0, len(res.Items))
		for _, it := range res.Items {
			names = append(names, it.(*seriesNote).Name)
		}
		sort.Strings(names)
		require.Len(t, names, writers*each)
		for i, n := range names {
			require.Equal(t, fmt.Sprintf("SN-%05d", i+1), n, "names are SN-00001 … without gaps or repeats")
		}
		assert.NotContains(t, logs.String(), "database is locked")
	})
}

// TestSQLiteWriterQueue: a write waits for the one writer no longer than its
// context allows, answering 503-class ErrUnavailable, and reads go on beside a
// long write transaction.
func TestSQLiteWriterQueue(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	reg := doctype.NewRegistry()
	doctype.MustRegister[note](reg, doctype.Meta{Name: "Note"})
	r := newRepo(t, openCfg(t, cfg), reg)
	ctx := ports.WithTenantID(t.Context(), "A")
	require.NoError(t, r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "first"}))

	holding, done := make(chan struct{}), make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- r.InTx(ctx, func(ctx context.Context) error {
			if err := r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n2"}, Title: "in a long transaction"}); err != nil {
				return err
			}
			close(holding)
			<-done
			return nil
		})
	}()
	<-holding

	// Reads do not wait for the writer.
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	doc, err := r.Get(readCtx, "Note", "n1")
	require.NoError(t, err, "a read beside an open write transaction")
	assert.Equal(t, "first", doc.(*note).Title)
	_, err = r.Get(readCtx, "Note", "n2")
	assert.ErrorIs(t, err, core.ErrNotFound, "uncommitted rows are not seen")

	// A write gives up when its context ends while it waits.
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	err = r.Create(short, "Note", &note{Title: "waits"})
	require.Error(t, err)
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	err = r.Update(short, "Note", doc)
	assert.ErrorIs(t, err, core.ErrUnavailable, "an update waits in the same line")

	// The one waiting without a deadline runs once the writer is free.
	queued := make(chan error, 1)
	go func() { queued <- r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n3"}, Title: "queued"}) }()
	close(done)
	require.NoError(t, <-txErr)
	require.NoError(t, <-queued)
	res, err := r.List(ctx, "Note", ports.Query{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, res.Total, "n1, n2 and n3; nothing of the writes that gave up")
}

// TestReadsSurviveATerminatedConnection: a read whose pooled connection the
// server ended (a restart, pg_terminate_backend) is tried once more on a fresh
// one instead of failing the request.
func TestReadsSurviveATerminatedConnection(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.Postgres)
	app := fmt.Sprintf("fmtest-terminated-%d", time.Now().UnixNano())
	cfg.Database.DSN += "&application_name=" + app
	cfg.Database.MaxOpenConns = 1 // one read connection
	reg := doctype.NewRegistry()
	doctype.MustRegister[note](reg, doctype.Meta{Name: "Note"})
	r := newRepo(t, openCfg(t, cfg), reg)
	ctx := ports.WithTenantID(t.Context(), "A")
	require.NoError(t, r.Create(ctx, "Note", &note{Base: doctype.Base{Name: "n1"}, Title: "kept"}))

	admin := openCfg(t, fmtest.Config(t, fmtest.Postgres))
	for round := range 2 {
		var killed int
		require.NoError(t, admin.Raw("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?", app).Scan(&killed).Error)
		require.GreaterOrEqual(t, killed, 1, "round %d: the repository's read connection (and its write one, the first time)", round)
		if round == 0 {
			_, err := r.Get(ctx, "Note", "n1")
			assert.NoError(t, err, "a get on a terminated connection")
		} else {
			res, err := r.List(ctx, "Note", ports.Query{})
			require.NoError(t, err, "a list on a terminated connection")
			assert.EqualValues(t, 1, res.Total)
		}
	}
}

// TestSecretNamesStayOutOfErrors: the names of credential records (Meta.
// SecretNames) never appear in the repository's error texts.
func TestSecretNamesStayOutOfErrors(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	reg := doctype.NewRegistry()
	doctype.MustRegister[note](reg, doctype.Meta{Name: "Token Note", SecretNames: true})
	doctype.MustRegister[seriesNote](reg, doctype.Meta{Name: "Plain Note"})
	gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, nil)
	require.NoError(t, err)
	r := newRepo(t, gdb, reg)
	require.NoError(t, db.Close(gdb)) // every read now fails
	ctx := ports.WithTenantID(t.Context(), "A")
	const secret = "jti-0123456789abcdef"
	_, err = r.Get(ctx, "Token Note", secret)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.Contains(t, err.Error(), "name withheld")
	err = r.Delete(ctx, "Token Note", secret)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	_, err = r.Get(ctx, "Plain Note", "ordinary")
	assert.Contains(t, err.Error(), `"ordinary"`, "other DocTypes keep the name, for debugging")
}
