package files

import (
	"io"

	"github.com/framework-m/framework-m/ports"
)

// The file service's metrics; their labels take fixed sets of values.
const (
	metricBytes = "fm_storage_bytes_total"
	metricOps   = "fm_storage_operations_total"
)

// Directions of fm_storage_bytes_total, seen from the storage.
const (
	// dirIn: bytes written to the storage (uploads, upload parts).
	dirIn = "in"
	// dirOut: bytes read from the storage (downloads, email attachments,
	// the check of a completed upload).
	dirOut = "out"
)

// Operations of fm_storage_operations_total.
const (
	opUpload = "upload"      // a file stored at once
	opPart   = "upload_part" // one part of an upload session
	opOpen   = "open"        // an object opened for reading (a download, from its offset)
	opDelete = "delete"      // an object removed
)

// Results of fm_storage_operations_total.
const (
	resultOK    = "ok"
	resultError = "error"
	// resultAborted: the client's fault (its body broke off, was too big
	// or too short), not the storage's.
	resultAborted = "aborted"
)

// Label values bound once: a variadic call with literal values would
// allocate its slice on every Read of every stream.
var (
	labelsIn  = []string{dirIn}
	labelsOut = []string{dirOut}
)

// metrics are the file service's instruments.
type metrics struct {
	bytes ports.Counter
	ops   ports.Counter
}

func newMetrics(m ports.Meter) *metrics {
	m = ports.MeterOrNop(m)
	ms := &metrics{
		bytes: m.Counter(metricBytes,
			"Bytes streamed through this instance to the file storage (in) and from it (out); presigned transfers, which bypass it, are not counted.",
			"direction"),
		ops: m.Counter(metricOps,
			"Operations on the file storage, by operation (upload, upload_part, open, delete) and result (ok, error; aborted: the client's body was at fault).",
			"op", "result"),
	}
	ms.bytes.Add(0, dirIn)
	ms.bytes.Add(0, dirOut)
	for _, op := range []string{opUpload, opPart, opOpen, opDelete} {
		for _, r := range []string{resultOK, resultError} {
			ms.ops.Add(0, op, r) // the usual series exist from the start
		}
	}
	return ms
}

// op counts one operation by its error (nil: ok).
func (m *metrics) op(op string, err error) {
	if err != nil {
		m.ops.Add(1, op, resultError)
		return
	}
	m.ops.Add(1, op, resultOK)
}

// out counts n bytes read from the storage.
func (m *metrics) out(n int) {
	if n > 0 {
		m.bytes.Add(float64(n), labelsOut...)
	}
}

// in counts n bytes handed to the storage.
func (m *metrics) in(n int) {
	if n > 0 {
		m.bytes.Add(float64(n), labelsIn...)
	}
}

// countedReadCloser counts the bytes read from a storage object as they
// stream: nothing is buffered.
type countedReadCloser struct {
	io.ReadCloser
	m *metrics
}

func (c countedReadCloser) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.m.out(n)
	return n, err
}
