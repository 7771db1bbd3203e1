package readahead_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/framework-m/framework-m/core/readahead"
)

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)}).Read(b)
	return b
}

// TestReadsTheWholeStream reads streams of several lengths, from sources
// that return a few bytes or whole buffers at a time, through Read with
// buffers of several sizes and through WriteTo: every byte, in order.
func TestReadsTheWholeStream(t *testing.T) {
	for _, n := range []int{0, 1, 4095, readahead.BufferSize - 1, readahead.BufferSize, 2*readahead.BufferSize + 17} {
		want := payload(n)
		sources := map[string]func() io.Reader{
			"whole":   func() io.Reader { return bytes.NewReader(want) },
			"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(want)) },
			"4KiB":    func() io.Reader { return &smallReader{r: bytes.NewReader(want), max: 4096} },
			"dataEOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(want)) },
		}
		for name, src := range sources {
			if name == "onebyte" && n > readahead.BufferSize {
				continue // a million one-byte reads prove nothing more
			}
			for _, count := range []int{1, 4} {
				ra := readahead.New(src(), count)
				got, err := io.ReadAll(ra) // Read, 512 bytes and growing
				ra.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%d bytes from %s (count %d), Read: got %d bytes (equal %v), err %v", n, name, count, len(got), bytes.Equal(got, want), err)
				}
				ra = readahead.New(src(), count)
				var buf bytes.Buffer
				k, err := io.Copy(&buf, ra) // WriteTo
				ra.Close()
				if err != nil || k != int64(n) || !bytes.Equal(buf.Bytes(), want) {
					t.Fatalf("%d bytes from %s (count %d), WriteTo: wrote %d (equal %v), err %v", n, name, count, k, bytes.Equal(buf.Bytes(), want), err)
				}
			}
		}
	}
}

// smallReader returns at most max bytes a Read, as a multipart part does.
type smallReader struct {
	r   io.Reader
	max int
}

func (s *smallReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.max)]) }

// TestSourceErrorComesAfterItsBytes: what the source gave before failing is
// read first, then its error, through Read and WriteTo alike.
func TestSourceErrorComesAfterItsBytes(t *testing.T) {
	for _, boom := range []error{errors.New("connection reset"), io.ErrUnexpectedEOF} {
		sourceErrorComesAfterItsBytes(t, boom)
	}
}

func sourceErrorComesAfterItsBytes(t *testing.T, boom error) {
	want := payload(2*readahead.BufferSize + 100)
	src := func() io.Reader { return io.MultiReader(bytes.NewReader(want), iotest.ErrReader(boom)) }

	ra := readahead.New(src(), 2)
	got, err := io.ReadAll(ra)
	ra.Close()
	if !errors.Is(err, boom) || !bytes.Equal(got, want) {
		t.Fatalf("Read: %d bytes (equal %v), err %v; want all %d bytes, then %v", len(got), bytes.Equal(got, want), err, len(want), boom)
	}
	ra = readahead.New(src(), 2)
	var buf bytes.Buffer
	_, err = ra.WriteTo(&buf)
	ra.Close()
	if !errors.Is(err, boom) || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteTo: %d bytes, err %v; want all %d bytes, then %v", buf.Len(), err, len(want), boom)
	}
}

// TestWriterErrorStopsWriteTo: a failing writer ends WriteTo with its error.
func TestWriterErrorStopsWriteTo(t *testing.T) {
	ra := readahead.New(bytes.NewReader(payload(3*readahead.BufferSize)), 2)
	defer ra.Close()
	full := errors.New("disk full")
	n, err := ra.WriteTo(&failingWriter{after: readahead.BufferSize + 10, err: full})
	if !errors.Is(err, full) || n != readahead.BufferSize+10 {
		t.Fatalf("WriteTo = %d, %v; want %d, %v", n, err, readahead.BufferSize+10, full)
	}
}

// failingWriter takes after bytes, then fails with err.
type failingWriter struct {
	after, written int
	err            error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if left := f.after - f.written; len(p) > left {
		f.written += left
		return left, f.err
	}
	f.written += len(p)
	return len(p), nil
}

// TestReadsAheadBounded: the goroutine reads ahead of a consumer that does
// not read, but never more than count buffers.
func TestReadsAheadBounded(t *testing.T) {
	src := &countingReader{r: bytes.NewReader(payload(10 * readahead.BufferSize))}
	ra := readahead.New(src, 3)
	defer ra.Close()
	deadline := time.Now().Add(5 * time.Second)
	for src.n.Load() < 3*readahead.BufferSize && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // would it go on?
	if got := src.n.Load(); got != 3*readahead.BufferSize {
		t.Fatalf("read %d bytes ahead of a consumer that read none; want exactly 3 buffers (%d)", got, 3*readahead.BufferSize)
	}
	one := make([]byte, 10)
	if _, err := io.ReadFull(ra, one); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ra, make([]byte, readahead.BufferSize)); err != nil { // frees the first buffer
		t.Fatal(err)
	}
	for src.n.Load() < 4*readahead.BufferSize && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := src.n.Load(); got != 4*readahead.BufferSize {
		t.Fatalf("read %d bytes after one buffer was consumed; want 4 buffers", got)
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestCloseLetsGoOfTheSource: Close stops the goroutine in the middle of a
// stream (it does not read the source again afterwards), waits for a read
// in progress, and later Reads fail instead of hanging.
func TestCloseLetsGoOfTheSource(t *testing.T) {
	before := runtime.NumGoroutine()
	gate := make(chan struct{})
	src := &gatedReader{gate: gate, started: make(chan struct{}, 100)}
	ra := readahead.New(src, 2)
	<-src.started // the goroutine is in the source's Read
	closed := make(chan struct{})
	go func() { ra.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the source's Read was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate) // the Read in progress returns
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the source's Read did")
	}
	reads := src.reads.Load()
	time.Sleep(20 * time.Millisecond)
	if src.reads.Load() != reads {
		t.Fatal("the source was read after Close returned")
	}
	if _, err := ra.Read(make([]byte, 10)); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Read after Close = %v, want io.ErrClosedPipe", err)
	}
	ra.Close() // twice is harmless
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

// gatedReader returns 1 KiB a Read, and blocks until gate closes.
type gatedReader struct {
	gate, started chan struct{}
	reads         atomic.Int64
}

func (g *gatedReader) Read(p []byte) (int, error) {
	select {
	case g.started <- struct{}{}:
	default:
	}
	<-g.gate
	g.reads.Add(1)
	return copy(p, make([]byte, 1024)), nil
}

// TestTapSeesEveryByte: the tap is given the whole stream, in order, by the
// time the Read or WriteTo that reports its end returns, for streams of
// several lengths and sources that return little at a time.
func TestTapSeesEveryByte(t *testing.T) {
	for _, n := range []int{0, 1, readahead.BufferSize, 3*readahead.BufferSize + 5} {
		want := payload(n)
		for _, count := range []int{1, 2, 4} {
			var tapped bytes.Buffer
			ra := readahead.NewTap(&smallReader{r: bytes.NewReader(want), max: 4096}, count, &tapped)
			got, err := io.ReadAll(ra)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes (count %d), Read: got %d bytes, err %v", n, count, len(got), err)
			}
			if !bytes.Equal(tapped.Bytes(), want) { // read before Close: ReadAll's EOF waited for the tap
				t.Fatalf("%d bytes (count %d): the tap had %d bytes (equal %v) when the stream ended", n, count, tapped.Len(), bytes.Equal(tapped.Bytes(), want))
			}
			ra.Close()

			tapped.Reset()
			ra = readahead.NewTap(bytes.NewReader(want), count, &tapped)
			var buf bytes.Buffer
			if k, err := io.Copy(&buf, ra); err != nil || k != int64(n) || !bytes.Equal(tapped.Bytes(), want) {
				t.Fatalf("%d bytes (count %d), WriteTo: wrote %d, err %v; the tap had %d bytes", n, count, k, err, tapped.Len())
			}
			ra.Close()
		}
	}
}

// TestTapRunsBesideTheConsumer: while the tap is held in its first Write,
// the consumer still reads the buffers after the first one (the tap is not
// a step of the consumer's reads); the end of the stream is reported only
// once the tap has caught up.
func TestTapRunsBesideTheConsumer(t *testing.T) {
	want := payload(3 * readahead.BufferSize)
	tap := &heldWriter{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	ra := readahead.NewTap(bytes.NewReader(want), 4, tap)
	defer ra.Close()
	<-tap.entered
	got := make([]byte, len(want))
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(ra, got); read <- err }()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the consumer could not read while the tap was busy with the first buffer")
	}
	ended := make(chan error, 1)
	go func() { _, err := ra.Read(make([]byte, 1)); ended <- err }()
	select {
	case err := <-ended:
		t.Fatalf("the end of the stream (%v) was reported while the tap still held the first buffer", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(tap.gate)
	if err := <-ended; !errors.Is(err, io.EOF) {
		t.Fatalf("the end of the stream = %v, want io.EOF", err)
	}
	if !bytes.Equal(got, want) || !bytes.Equal(tap.buf.Bytes(), want) {
		t.Fatalf("consumer equal %v, tap equal %v (%d bytes)", bytes.Equal(got, want), bytes.Equal(tap.buf.Bytes(), want), tap.buf.Len())
	}
}

// heldWriter keeps what it is given; its first Write waits for gate.
type heldWriter struct {
	gate    chan struct{}
	entered chan struct{}
	buf     bytes.Buffer
	once    atomic.Bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.once.CompareAndSwap(false, true) {
		h.entered <- struct{}{}
		<-h.gate
	}
	return h.buf.Write(p)
}

// TestTapErrorEndsTheStream: a tap that fails ends the stream with its
// error instead of io.EOF (the consumer read every byte, but what needed
// them all did not get them), and is not written to again.
func TestTapErrorEndsTheStream(t *testing.T) {
	boom := errors.New("tap failed")
	tap := &refusingWriter{err: boom}
	ra := readahead.NewTap(bytes.NewReader(payload(3*readahead.BufferSize)), 2, tap)
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if !errors.Is(err, boom) {
		t.Fatalf("ReadAll = %d bytes, %v; want the tap's error", len(got), err)
	}
	if n := tap.writes.Load(); n != 1 {
		t.Fatalf("the tap was written %d times, want once (not after its error)", n)
	}
}

// refusingWriter fails every Write with err, and counts them.
type refusingWriter struct {
	err    error
	writes atomic.Int32
}

func (f *refusingWriter) Write([]byte) (int, error) { f.writes.Add(1); return 0, f.err }

// TestCloseWaitsForTheTap: Close in the middle of a stream returns only
// once the tap's Write in progress does, and leaves no goroutine behind.
func TestCloseWaitsForTheTap(t *testing.T) {
	before := runtime.NumGoroutine()
	tap := &heldWriter{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	ra := readahead.NewTap(bytes.NewReader(payload(8*readahead.BufferSize)), 2, tap)
	<-tap.entered
	if _, err := io.ReadFull(ra, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { ra.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the tap's Write was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(tap.gate)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the tap's Write did")
	}
	if _, err := ra.Read(make([]byte, 10)); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Read after Close = %v, want io.ErrClosedPipe", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}
