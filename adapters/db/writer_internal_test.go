package db

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

type walNote struct {
	doctype.Base
	Body string `json:"body"`
}

// TestRunKeepsTheWALBounded: while Run checkpoints beside the writer, the
// writer does not checkpoint itself, and the WAL still starts over under
// writes that never pause; when Run stops, the writer checkpoints again and
// the WAL is emptied.
func TestRunKeepsTheWALBounded(t *testing.T) {
	defer func(every time.Duration, frames int) { checkpointEvery, walRestartFrames = every, frames }(checkpointEvery, walRestartFrames)
	checkpointEvery, walRestartFrames = 20*time.Millisecond, 256

	dir := t.TempDir()
	gdb, err := Open(t.Context(), config.Database{Driver: "sqlite"}, dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = Close(gdb) })
	reg := doctype.NewRegistry()
	doctype.MustRegister[walNote](reg, doctype.Meta{Name: "WAL Note"})
	r := New(gdb, reg)
	require.NoError(t, r.Migrate(t.Context()))
	ctx := ports.WithTenantID(t.Context(), "A")
	autoCkpt := func() (n int) {
		require.NoError(t, r.DB(ctx).Raw("PRAGMA wal_autocheckpoint").Row().Scan(&n))
		return n
	}
	require.Equal(t, autoCheckpoint, autoCkpt(), "without Run the writer checkpoints as SQLite does")

	runCtx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.Run(runCtx); close(done) }()
	require.Eventually(t, func() bool { return autoCkpt() == 0 }, 5*time.Second, 5*time.Millisecond, "Run takes checkpoints off the writer")

	wal := filepath.Join(dir, DefaultSQLiteFile+"-wal")
	var maxWAL atomic.Int64
	deadline := time.Now().Add(1500 * time.Millisecond)
	body := string(make([]byte, 2000))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				require.NoError(t, r.Create(ctx, "WAL Note", &walNote{Body: body}))
				if fi, err := os.Stat(wal); err == nil && fi.Size() > maxWAL.Load() {
					maxWAL.Store(fi.Size())
				}
			}
		})
	}
	wg.Wait()
	// 256 frames of 4 KiB is 1 MiB; unchecked, these writes grow the WAL by
	// tens of MiB a second.
	assert.Less(t, maxWAL.Load(), int64(16<<20), "the WAL starts over while writes go on")

	stop()
	<-done
	assert.Equal(t, autoCheckpoint, autoCkpt(), "the writer checkpoints again")
	fi, err := os.Stat(wal)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the WAL is checkpointed and truncated when Run ends")
}
