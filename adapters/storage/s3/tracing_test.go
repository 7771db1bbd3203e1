package s3_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/storage/s3"
	"github.com/framework-m/framework-m/fmtest/spantest"
)

// A request to the server made under a request's span is its child span,
// and carries the trace context; one made outside any span makes none.
func TestRequestsAreChildSpans(t *testing.T) {
	spantest.UseW3C(t)

	var mu sync.Mutex
	var seen []string // "METHOD path traceparent"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Traceparent"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK) // HEAD /bucket: the bucket exists
	}))
	t.Cleanup(srv.Close)
	tp, rec := spantest.Recorder()
	st, err := s3.New(t.Context(), s3.Config{
		Bucket: "files", Endpoint: srv.URL, Region: "us-east-1", UsePathStyle: true,
		AccessKey: "key", SecretKey: "secret-key",
	}, s3.WithTracerProvider(tp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	require.NoError(t, st.Ready(context.Background()))
	assert.Empty(t, rec.Ended(), "no span outside a request's span")

	ctx, parent := tp.Tracer("test").Start(context.Background(), "GET /readyz")
	require.NoError(t, st.Ready(ctx))
	parent.End()
	call := spantest.ClientChild(t, rec, parent, "s3 HEAD")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	assert.Equal(t, "HEAD /files/ ", seen[0])
	assert.Equal(t, "HEAD /files/ "+spantest.Traceparent(call), seen[1])
}
