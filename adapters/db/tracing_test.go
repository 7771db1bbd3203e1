package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

type tracedNote struct {
	doctype.Base
	Title string `json:"title"`
}

// secretTitle must never appear in a span: it is a bound value.
const secretTitle = "s3cret-title-value"

func attrOf(s sdktrace.ReadOnlySpan, key attribute.Key) (string, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

func TestRepositoryCallsAreChildSpans(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver fmtest.Driver) {
		cfg := fmtest.Config(t, driver)
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, fmtest.Logger(t), db.WithTracerProvider(tp))
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
		reg := doctype.NewRegistry()
		_, err = doctype.Register[tracedNote](reg, doctype.Meta{Name: "Traced Note"})
		require.NoError(t, err)
		repo := newRepo(t, gdb, reg)
		base := ports.WithUser(ports.WithTenantID(context.Background(), "t1"), &ports.SystemUser)
		before := len(rec.Ended())
		require.NoError(t, repo.Create(base, "Traced Note", &tracedNote{Title: "outside any span"}))
		assert.Len(t, rec.Ended(), before, "no span without a recording parent")

		ctx, parent := tp.Tracer("test").Start(base, "GET /api/v1/resource/:doctype")
		note := &tracedNote{Title: secretTitle}
		require.NoError(t, repo.Create(ctx, "Traced Note", note))
		_, err = repo.Get(ctx, "Traced Note", note.Name)
		require.NoError(t, err)
		_, err = repo.List(ctx, "Traced Note", ports.Query{Filters: []ports.Filter{{Field: "title", Op: ports.OpEq, Value: secretTitle}}})
		require.NoError(t, err)
		dup := &tracedNote{Title: secretTitle}
		dup.Name = note.Name
		require.ErrorIs(t, repo.Create(ctx, "Traced Note", dup), core.ErrConflict)
		parent.End()

		var children []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended()[before:] {
			if s.Name() != parent.(sdktrace.ReadOnlySpan).Name() {
				children = append(children, s)
			}
		}
		require.NotEmpty(t, children)
		names := map[string]int{}
		wantSystem := map[fmtest.Driver]string{fmtest.SQLite: "sqlite", fmtest.Postgres: "postgresql"}[driver]
		var failed int
		for _, s := range children {
			names[s.Name()]++
			assert.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID(), s.Name())
			assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), s.Name())
			assert.Equal(t, trace.SpanKindClient, s.SpanKind(), s.Name())
			assert.True(t, strings.HasPrefix(s.Name(), "db."), s.Name())
			sys, _ := attrOf(s, "db.system")
			assert.Equal(t, wantSystem, sys, s.Name())
			stmt, ok := attrOf(s, "db.statement")
			t.Logf("%s: %s", s.Name(), stmt)
			assert.True(t, ok, "%s has its statement", s.Name())
			for _, kv := range s.Attributes() {
				assert.NotContains(t, kv.Value.Emit(), secretTitle, "no bound value in %s's %s", s.Name(), kv.Key)
			}
			if s.Status().Code == codes.Error {
				failed++
				et, _ := attrOf(s, "error.type")
				assert.NotEmpty(t, et)
				assert.NotContains(t, s.Status().Description, secretTitle)
			}
			if s.Name() == "db.create" || s.Name() == "db.query" {
				table, _ := attrOf(s, "db.sql.table")
				assert.Equal(t, "traced_note", table, stmt)
			}
			if s.Name() == "db.query" && strings.Contains(stmt, "title") {
				assert.Regexp(t, `title.{0,12}(\?|\$[0-9])`, stmt, "the filter's value is a placeholder")
			}
		}
		assert.Positive(t, names["db.create"], "%v", names)
		assert.Positive(t, names["db.query"], "%v", names)
		assert.Equal(t, 1, failed, "the duplicate insert fails: %v", names)
	})
}

// An unsampled request's statements make no span at all.
func TestUnsampledParentMakesNoSpans(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, fmtest.Logger(t), db.WithTracerProvider(tp))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	reg := doctype.NewRegistry()
	_, err = doctype.Register[tracedNote](reg, doctype.Meta{Name: "Traced Note"})
	require.NoError(t, err)
	repo := newRepo(t, gdb, reg)
	ctx, parent := tp.Tracer("test").Start(ports.WithUser(ports.WithTenantID(context.Background(), "t1"), &ports.SystemUser), "request")
	require.NoError(t, repo.Create(ctx, "Traced Note", &tracedNote{Title: "x"}))
	parent.End()
	assert.Empty(t, rec.Ended())
}

func TestTraceWithoutProviderDoesNothing(t *testing.T) {
	gdb, _ := openDB(t, fmtest.SQLite)
	require.NoError(t, db.Trace(gdb, nil))
	_, installed := gdb.Config.Plugins["framework-m:tracing"]
	assert.False(t, installed)
}

// Two statements run through one *gorm.DB are both children of the
// request's span, not the second of the first.
func TestReusedHandleSpansShareTheParent(t *testing.T) {
	cfg := fmtest.Config(t, fmtest.SQLite)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	gdb, err := db.Open(t.Context(), cfg.Database, cfg.App.DataDir, fmtest.Logger(t), db.WithTracerProvider(tp))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	require.NoError(t, gdb.Exec("CREATE TABLE thing (id INTEGER PRIMARY KEY, label TEXT)").Error)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	q := gdb.WithContext(ctx).Table("thing").Where("label = ?", secretTitle)
	var n int64
	require.NoError(t, q.Count(&n).Error)
	var rows []map[string]any
	require.NoError(t, q.Find(&rows).Error)
	parent.End()

	var queries []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "db.query" {
			queries = append(queries, s)
		}
	}
	require.Len(t, queries, 2)
	for _, s := range queries {
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
		stmt, _ := attrOf(s, "db.statement")
		assert.NotContains(t, stmt, secretTitle)
		assert.Contains(t, stmt, "label = ?")
	}
}
