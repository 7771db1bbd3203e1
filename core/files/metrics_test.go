package files_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	metricsmemory "github.com/framework-m/framework-m/adapters/metrics/memory"
	"github.com/framework-m/framework-m/adapters/permission/rbac"
	"github.com/framework-m/framework-m/adapters/sniffer/mimetype"
	storagememory "github.com/framework-m/framework-m/adapters/storage/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/files"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/ports"
)

func newFiles(t *testing.T, m ports.Meter) *files.Service {
	t.Helper()
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	feed := &events.Feed{}
	repo := events.NewRepository(memrepo.New(reg), feed, nil)
	res := resource.New(repo, reg, rbac.New(reg, rbac.Options{AdminRoles: []string{ports.RoleAdmin}, AdminBypass: true}), nil)
	return files.New(res, repo, feed, storagememory.New(), mimetype.New(), files.Options{
		MaxUploadSize: 1 << 20, AllowedExtensions: []string{"txt"}, PartSize: 5 << 20, SessionTTL: time.Hour, Meter: m,
	})
}

func metric(m *metricsmemory.Meter, name string, labels ...string) float64 {
	v, _ := m.Value(name, labels...)
	return v
}

// brokenBody fails after its content, as a client that hangs up does.
type brokenBody struct{ r io.Reader }

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("connection reset by peer")
	}
	return n, err
}

// TestStorageMetrics: the bytes of an upload and of a download are counted
// as they stream, equal to the file's size; operations are counted by
// result, a client's broken body apart from storage errors.
func TestStorageMetrics(t *testing.T) {
	m := metricsmemory.New()
	svc := newFiles(t, m)
	ctx := ports.WithUser(ports.WithTenantID(context.Background(), "t1"), &ports.UserContext{ID: "ann", TenantID: "t1"})
	content := strings.Repeat("metered bytes\n", 5000) // 70,000 bytes, several reads

	f, err := svc.Upload(ctx, files.UploadRequest{FileName: "report.txt", Body: strings.NewReader(content)})
	require.NoError(t, err)
	assert.EqualValues(t, len(content), f.FileSize)
	assert.Equal(t, float64(len(content)), metric(m, "fm_storage_bytes_total", "in"))
	assert.Zero(t, metric(m, "fm_storage_bytes_total", "out"))
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "upload", "ok"))

	rc, err := svc.Open(ctx, f, true)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, content, string(got))
	assert.Equal(t, float64(len(content)), metric(m, "fm_storage_bytes_total", "out"))
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "open", "ok"))

	// A range: only what is read counts.
	rc, err = svc.Open(ctx, f, false)
	require.NoError(t, err)
	_, err = rc.Seek(int64(len(content)-10), io.SeekStart)
	require.NoError(t, err)
	tail, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Len(t, tail, 10)
	assert.Equal(t, float64(len(content)+10), metric(m, "fm_storage_bytes_total", "out"))

	// A body that breaks off is the client's fault, not the storage's.
	_, err = svc.Upload(ctx, files.UploadRequest{FileName: "cut.txt", Body: &brokenBody{strings.NewReader(content)}})
	require.Error(t, err)
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "upload", "aborted"))
	assert.Zero(t, metric(m, "fm_storage_operations_total", "upload", "error"))
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "delete", "ok"), "its bytes are removed")

	// Too big: aborted too.
	_, err = svc.Upload(ctx, files.UploadRequest{FileName: "big.txt", Body: strings.NewReader(strings.Repeat("x", 2<<20))})
	require.ErrorIs(t, err, core.ErrPayloadTooBig)
	assert.Equal(t, 2.0, metric(m, "fm_storage_operations_total", "upload", "aborted"))

	for _, name := range []string{"fm_storage_bytes_total", "fm_storage_operations_total"} {
		for _, label := range []string{"direction", "op", "result"} {
			for _, v := range m.LabelValues(name, label) {
				assert.NotContains(t, []string{"report.txt", "cut.txt", "ann", "t1"}, v)
			}
		}
	}
}

// TestSessionMetrics: the parts of an upload session count as bytes in,
// and the check of the completed file, which reads it back, as bytes out.
func TestSessionMetrics(t *testing.T) {
	m := metricsmemory.New()
	svc := newFiles(t, m)
	ctx := ports.WithUser(ports.WithTenantID(context.Background(), "t1"), &ports.UserContext{ID: "ann", TenantID: "t1"})
	content := "in one part\n"
	sess, err := svc.OpenSession(ctx, files.SessionRequest{FileName: "part.txt", FileSize: int64(len(content))})
	require.NoError(t, err)
	_, err = svc.PutPart(ctx, sess.ID, 1, strings.NewReader(content+"too much"))
	require.Error(t, err)
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "upload_part", "aborted"))
	in := metric(m, "fm_storage_bytes_total", "in")
	assert.Greater(t, in, float64(len(content)), "what reached the storage counts, refused or not")
	_, err = svc.PutPart(ctx, sess.ID, 1, strings.NewReader(content))
	require.NoError(t, err)
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "upload_part", "ok"))
	assert.Equal(t, in+float64(len(content)), metric(m, "fm_storage_bytes_total", "in"))
	f, err := svc.Complete(ctx, sess.ID)
	require.NoError(t, err)
	assert.EqualValues(t, len(content), f.FileSize)
	assert.Equal(t, float64(len(content)), metric(m, "fm_storage_bytes_total", "out"))
	assert.Equal(t, 1.0, metric(m, "fm_storage_operations_total", "open", "ok"))
}
