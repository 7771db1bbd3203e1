package fmtest

import (
	"bytes"
	"sync"
)

// LogBuffer collects what a logger writes from concurrent requests, for tests
// that assert on log lines:
//
//	var logs fmtest.LogBuffer
//	app := fmtest.New(t, fmtest.SQLite, frameworkm.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
