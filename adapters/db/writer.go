package db

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/framework-m/framework-m/core"
)

// SQLite lets one connection write at a time. Many pooled connections racing
// for its write lock wait in the driver's busy handler, which sleeps in
// growing steps: that is what made the tail latency of concurrent writes.
// So an SQLite database gets one write connection, whose transactions queue
// in Go (first come, first served, each caller's context honoured while it
// waits), and a pool of read-only connections that WAL lets read beside it.
// PostgreSQL keeps its one pool.

// splitName is the name of the GORM plugin carrying an SQLite database's
// reader pool and write slot.
const splitName = "framework-m:sqlite-split"

// split is what Open attaches to an SQLite database: the read-only pool
// (nil: read through the one connection) and the write slot.
type split struct {
	read *gorm.DB
	slot writeSlot
}

// Name names the plugin.
func (*split) Name() string { return splitName }

// Initialize does nothing: the plugin only carries the handles.
func (*split) Initialize(*gorm.DB) error { return nil }

func splitOf(gdb *gorm.DB) *split {
	if p, ok := gdb.Config.Plugins[splitName].(*split); ok {
		return p
	}
	return nil
}

// writeSlot is a fair lock: a buffered channel of one, whose blocked senders
// the Go runtime serves in the order they arrived. A nil slot never blocks.
type writeSlot chan struct{}

// errWriterBusy is what a write that gave up waiting for the writer answers:
// the request's deadline passed while others' writes ran.
var errWriterBusy = core.Public(core.ErrUnavailable, "the database is busy; try again")

// acquire waits for the slot, until ctx ends.
func (s writeSlot) acquire(ctx context.Context) error {
	if s == nil {
		return nil
	}
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the SQLite writer: %w: %w", errWriterBusy, ctx.Err())
	}
}

// release frees the slot for the next writer in line.
func (s writeSlot) release() {
	if s != nil {
		<-s
	}
}

// writerIdle is how long the SQLite write connection may sit idle before it
// is closed (it reopens on the next write).
const writerIdle = 30 * time.Minute
