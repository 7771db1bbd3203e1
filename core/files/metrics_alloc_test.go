package files

import (
	"bytes"
	"io"
	"testing"

	"github.com/framework-m/framework-m/ports"
)

// Counting the bytes of a stream allocates nothing per Read (it runs on
// every 32 KiB of every download), whatever the meter.
func TestCountedReadAllocatesNothing(t *testing.T) {
	src := bytes.NewReader(make([]byte, 1<<20))
	r := countedReadCloser{ReadCloser: io.NopCloser(src), m: newMetrics(ports.NopMeter{})}
	buf := make([]byte, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		_, _ = r.Read(buf)
	})
	if allocs != 0 {
		t.Fatalf("Read allocates %.0f times", allocs)
	}
}
