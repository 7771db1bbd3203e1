package db

import (
	"context"
	"fmt"
	"log/slog"
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
	read       *gorm.DB
	checkpoint *gorm.DB // a connection of its own for WAL checkpoints (nil: none)
	slot       writeSlot
	log        *slog.Logger
}

// log returns the logger Open was given.
func (r *Repository) log() *slog.Logger {
	if sp := splitOf(r.db); sp != nil && sp.log != nil {
		return sp.log
	}
	return slog.Default()
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

// By default SQLite checkpoints the WAL into the database file inside the
// commit that crosses wal_autocheckpoint pages: that commit writes and syncs
// the database file while holding the write lock, and every writer queued
// behind it waits. While Run runs, the write connection does not checkpoint;
// Run does, every checkpointEvery, on a connection of its own, beside the
// writer (PASSIVE: it never blocks it). The WAL starts over from its
// beginning only when a write finds it wholly copied, which never happens
// while writes keep appending to it; so once it holds walRestartFrames, Run
// takes one turn of the writer to copy the few frames the last checkpoint
// left, and the next write starts the WAL over.
var (
	checkpointEvery  = 250 * time.Millisecond
	walRestartFrames = 4096 // 16 MiB of 4 KiB pages
)

const autoCheckpoint = 1000 // SQLite's default wal_autocheckpoint

// Run checkpoints an SQLite database's WAL in the background until ctx ends
// (see above); on PostgreSQL and in-memory SQLite it returns at once. The App
// runs it; without it the writer checkpoints as SQLite does by default.
func (r *Repository) Run(ctx context.Context) {
	sp := splitOf(r.db)
	if sp == nil || sp.checkpoint == nil {
		return
	}
	if err := r.setAutoCheckpoint(ctx, 0); err != nil {
		r.log().Warn("could not move WAL checkpoints off the write path", "err", err)
		return
	}
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.setAutoCheckpoint(bg, autoCheckpoint); err != nil {
				r.log().Warn("could not restore WAL checkpoints on the writer", "err", err)
			}
			r.checkpoint(bg, sp.checkpoint, "TRUNCATE")
			return
		case <-t.C:
			if frames := r.checkpoint(ctx, sp.checkpoint, "PASSIVE"); frames > walRestartFrames {
				if err := r.slot.acquire(ctx); err != nil {
					continue
				}
				r.checkpoint(ctx, sp.checkpoint, "PASSIVE")
				r.slot.release()
			}
		}
	}
}

// setAutoCheckpoint sets wal_autocheckpoint on the write connection.
func (r *Repository) setAutoCheckpoint(ctx context.Context, pages int) error {
	if err := r.slot.acquire(ctx); err != nil {
		return err
	}
	defer r.slot.release()
	return r.db.WithContext(ctx).Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", pages)).Error
}

// checkpoint runs one checkpoint of mode and returns the WAL's size in
// frames (0 when it failed, which is logged).
func (r *Repository) checkpoint(ctx context.Context, conn *gorm.DB, mode string) int {
	var busy, frames, done int
	err := conn.WithContext(ctx).Raw("PRAGMA wal_checkpoint("+mode+")").Row().Scan(&busy, &frames, &done)
	if err != nil {
		if ctx.Err() == nil {
			r.log().Warn("WAL checkpoint failed", "mode", mode, "err", err)
		}
		return 0
	}
	return frames
}
