// Package readahead reads a stream ahead of its consumer, in a goroutine of
// its own: while the consumer works on one buffer (hashes it, writes it to a
// disk or a socket), the next ones are being read. A large upload then costs
// the slowest of its stages instead of their sum, on as many cores as there
// are stages.
//
// Buffers are filled whole (a source that returns a few KiB per Read, as a
// multipart part does, is still handed on in full buffers), and memory is
// bounded by count × size.
//
// A tap (NewTap) is a third stage that sees every byte beside the consumer,
// in a goroutine of its own: a hash then no longer takes its turn between
// the consumer's writes.
package readahead

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// BufferSize is the size of each read-ahead buffer: large enough that a
// disk or a socket gets few large writes.
const BufferSize = 1 << 20

// buffers are recycled between readers: most streams are small, and a
// reader for each should not cost fresh megabytes.
var buffers = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// chunk is one buffer: b[off:n] not yet consumed; err ends the stream after
// it. users counts the stages not yet done with it (the consumer, and the
// tap when there is one); the last one hands it back to be filled again.
type chunk struct {
	buf    *[]byte // from buffers, taken when first filled
	b      []byte
	off, n int
	err    error
	users  atomic.Int32
}

// Reader reads its source ahead in a goroutine. Read and WriteTo must not
// be called from several goroutines at once; Close must be called (it
// waits for the goroutine, which then no longer touches the source).
type Reader struct {
	full chan *chunk // filled chunks, in order
	free chan *chunk // consumed chunks, to be filled again
	stop chan struct{}
	done chan struct{}
	once sync.Once

	// With a tap: the filled chunks in order for it, closed when the
	// filling ends; tapped is closed when the tap has let go of every
	// chunk, and tapErr is then its first error.
	taps   chan *chunk
	tapped chan struct{}
	tapErr error

	cur *chunk // the chunk being consumed
	err error  // the stream's end: io.EOF or the source's error
}

// New starts reading r ahead in up to count buffers of BufferSize bytes
// (at least one).
func New(r io.Reader, count int) *Reader { return start(r, count, nil) }

// NewTap is New, and also writes every byte read from r to tap, in order
// and in a goroutine of its own, while the consumer reads the same buffers.
// The Read or WriteTo that reports the end of the stream returns only once
// tap has been given every byte (and then with tap's first error, if it
// had one, instead of io.EOF); a hash.Hash as tap holds the stream's sum
// from then on. After Close, tap may have seen less (or more) than the
// consumer.
func NewTap(r io.Reader, count int, tap io.Writer) *Reader { return start(r, count, tap) }

func start(r io.Reader, count int, tap io.Writer) *Reader {
	count = max(count, 1)
	ra := &Reader{
		full: make(chan *chunk, count),
		free: make(chan *chunk, count),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range count {
		ra.free <- &chunk{}
	}
	if tap != nil {
		ra.taps = make(chan *chunk, count)
		ra.tapped = make(chan struct{})
		go ra.tap(tap)
	}
	go ra.fill(r)
	return ra
}

// tap writes each chunk to w as it is filled, until the filling ends or
// Close is called. After an error of w it no longer writes, and only
// lets go of the chunks.
func (ra *Reader) tap(w io.Writer) {
	defer close(ra.tapped)
	for {
		var c *chunk
		select {
		case c = <-ra.taps:
		case <-ra.stop:
			return
		}
		if c == nil { // the filling ended
			return
		}
		if ra.tapErr == nil && c.n > 0 {
			if _, err := w.Write(c.b[:c.n]); err != nil {
				ra.tapErr = err
			}
		}
		ra.release(c)
	}
}

// release ends one stage's use of c: the last one sends it to be filled
// again (never blocking: at most count chunks exist).
func (ra *Reader) release(c *chunk) {
	if c.users.Add(-1) == 0 {
		ra.free <- c
	}
}

// fill reads r into free chunks until r ends or Close is called.
func (ra *Reader) fill(r io.Reader) {
	defer close(ra.done)
	if ra.taps != nil {
		defer close(ra.taps)
	}
	for {
		var c *chunk
		select {
		case c = <-ra.free:
		case <-ra.stop:
			return
		}
		if c.buf == nil {
			c.buf = buffers.Get().(*[]byte)
			c.b = *c.buf
		}
		n, err := Fill(r, c.b)
		c.off, c.n, c.err = 0, n, err
		if ra.taps != nil {
			c.users.Store(2)
			ra.taps <- c // never blocks: at most count chunks exist
		} else {
			c.users.Store(1)
		}
		select {
		case ra.full <- c: // never blocks: at most count chunks exist
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// Fill reads r into b until b is full or r fails (io.EOF included), as
// io.ReadFull does, but keeps r's error as it is: ReadFull reports an early
// io.EOF as io.ErrUnexpectedEOF, which could not be told from a source's own.
func Fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// next returns the chunk to consume, waiting for one; nil at the end.
func (ra *Reader) next() *chunk {
	if ra.cur != nil && ra.cur.off < ra.cur.n {
		return ra.cur
	}
	if ra.cur != nil {
		c := ra.cur
		ra.cur = nil
		if c.err != nil {
			ra.end(c.err)
			return nil
		}
		ra.release(c)
	}
	if ra.err != nil {
		return nil
	}
	var c *chunk
	select {
	case c = <-ra.full:
	case <-ra.done: // the goroutine ended: what it filled is queued already
		select {
		case c = <-ra.full:
		default:
			ra.err = io.ErrClosedPipe
			return nil
		}
	}
	ra.cur = c
	if c.n == 0 { // an empty last chunk
		ra.cur = nil
		ra.end(c.err)
		return nil
	}
	return c
}

// end ends the stream with err, the source's: with a tap, once the tap has
// been given every byte, and with its error if it failed.
func (ra *Reader) end(err error) {
	if ra.tapped != nil {
		<-ra.tapped // the filling ended: the tap ends after the last chunk
		if ra.tapErr != nil {
			err = ra.tapErr
		}
	}
	ra.err = err
}

// Read copies read-ahead bytes into p.
func (ra *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c := ra.next()
	if c == nil {
		return 0, ra.err
	}
	n := copy(p, c.b[c.off:c.n])
	c.off += n
	return n, nil
}

// WriteTo writes every read-ahead buffer to w as it comes, without copying
// it first; io.Copy uses it.
func (ra *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		c := ra.next()
		if c == nil {
			if errors.Is(ra.err, io.EOF) {
				return total, nil
			}
			return total, ra.err
		}
		n, err := w.Write(c.b[c.off:c.n])
		c.off += n
		total += int64(n)
		if err != nil {
			return total, err
		}
		if c.off < c.n {
			return total, io.ErrShortWrite
		}
	}
}

// Close stops reading ahead and waits until the goroutines have let go of
// the source (and of the tap): it returns once a Read of the source (or a
// Write of the tap) in progress returns. The buffers go back to be reused;
// Read and WriteTo fail from then on.
func (ra *Reader) Close() error {
	ra.once.Do(func() {
		close(ra.stop)
		<-ra.done
		if ra.tapped != nil {
			<-ra.tapped
			for c := range ra.taps { // closed by fill
				recycle(c)
			}
		}
		recycle(ra.cur)
		ra.cur, ra.err = nil, io.ErrClosedPipe
		for {
			select {
			case c := <-ra.full:
				recycle(c)
			case c := <-ra.free:
				recycle(c)
			default:
				return
			}
		}
	})
	return nil
}

// recycle puts c's buffer back in the pool, once: a chunk may be queued
// for both the consumer and the tap when the Reader is closed.
func recycle(c *chunk) {
	if c != nil && c.buf != nil {
		buffers.Put(c.buf)
		c.buf, c.b = nil, nil
	}
}
