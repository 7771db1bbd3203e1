package files

import (
	"context"
	"errors"
	"io"

	"github.com/framework-m/framework-m/ports"
)

// objectReader reads a stored object and seeks in it without reading: the
// storage is opened at the offset of the first Read after a Seek, so a
// download of a range fetches only from there. It counts each opening and
// the bytes read as they stream.
type objectReader struct {
	m     *metrics
	ctx   context.Context
	store ports.Storage
	key   string
	size  int64
	off   int64         // where the next Read reads
	rc    io.ReadCloser // the object opened at rcOff, or nil
	rcOff int64
}

// open opens the object at the current offset.
func (o *objectReader) open() error {
	if o.rc != nil {
		_ = o.rc.Close()
		o.rc = nil
	}
	rc, _, err := o.store.Open(o.ctx, o.key, &ports.ByteRange{Offset: o.off, Length: -1})
	o.m.op(opOpen, err)
	if err != nil {
		return err
	}
	o.rc, o.rcOff = rc, o.off
	return nil
}

func (o *objectReader) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.rc == nil || o.rcOff != o.off {
		if err := o.open(); err != nil {
			return 0, err
		}
	}
	n, err := o.rc.Read(p)
	o.m.out(n)
	o.off += int64(n)
	o.rcOff = o.off
	if errors.Is(err, io.EOF) && o.off < o.size {
		err = io.ErrUnexpectedEOF // the object is shorter than its record says
	}
	return n, err
}

// Seek moves the offset; the object is opened again at the next Read only if
// it moved.
func (o *objectReader) Seek(offset int64, whence int) (int64, error) {
	abs := offset
	switch whence {
	case io.SeekCurrent:
		abs += o.off
	case io.SeekEnd:
		abs += o.size
	}
	if abs < 0 {
		return 0, errors.New("files: seek before the start")
	}
	o.off = abs
	return abs, nil
}

func (o *objectReader) Close() error {
	if o.rc == nil {
		return nil
	}
	err := o.rc.Close()
	o.rc = nil
	return err
}
