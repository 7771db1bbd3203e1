package gotenberg_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/print/gotenberg"
	"github.com/framework-m/framework-m/fmtest/spantest"
	"github.com/framework-m/framework-m/ports"
)

func TestConversionIsAChildSpan(t *testing.T) {
	spantest.UseW3C(t)
	tp, rec := spantest.Recorder()
	var mu sync.Mutex
	var traceparents []string
	c, _ := fake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		mu.Unlock()
		servePDF(w)
	}, func(cfg *gotenberg.Config) { cfg.TracerProvider = tp })

	convert := func(ctx context.Context) {
		body, err := c.HTMLToPDF(ctx, page, ports.PDFOptions{})
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, body)
		require.NoError(t, body.Close())
	}
	convert(context.Background())
	assert.Empty(t, rec.Ended(), "no span outside a request's span")

	ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /api/v1/print/:doctype/:name")
	convert(ctx)
	parent.End()

	child := spantest.ClientChild(t, rec, parent, "gotenberg POST")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, traceparents, 2)
	assert.Empty(t, traceparents[0], "no trace context without a span")
	assert.Equal(t, spantest.Traceparent(child), traceparents[1],
		"the service sees the client span as its parent")
}
