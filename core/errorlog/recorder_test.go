package errorlog_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/errorlog"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

const (
	operator  = "operator"
	errorLogs = "Test Error Log"
)

// errorLog is a test error-log DocType.
type errorLog struct {
	doctype.Base
	Title     string          `json:"title"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
	UserID    string          `json:"user_id"`
	Timestamp time.Time       `json:"timestamp"`
	Context   doctype.JSONMap `json:"context"`
}

var errorLogMeta = doctype.Meta{Name: errorLogs, Immutable: true}

// builder builds errorLog documents and keeps the records it was given.
type builder struct {
	mu   sync.Mutex
	recs []ports.ErrorRecord
}

func (b *builder) build(rec ports.ErrorRecord) any {
	b.mu.Lock()
	b.recs = append(b.recs, rec)
	b.mu.Unlock()
	return &errorLog{
		Title: rec.Title, Message: rec.Message, RequestID: rec.RequestID, UserID: rec.UserID,
		Timestamp: rec.Timestamp, Context: rec.Context,
	}
}

func (b *builder) records() []ports.ErrorRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ports.ErrorRecord(nil), b.recs...)
}

type env struct {
	repo *db.Repository
	b    *builder
	rec  *errorlog.Recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	cfg := fmtest.Config(t, fmtest.SQLite)
	reg := doctype.NewRegistry()
	_, err := doctype.Register[errorLog](reg, errorLogMeta)
	require.NoError(t, err)
	gdb, err := db.Open(ctx, cfg.Database, cfg.App.DataDir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(ctx))
	b := &builder{}
	return &env{repo: repo, b: b, rec: errorlog.New(repo, errorLogs, b.build, operator)}
}

// logs returns the error logs stored in tenant.
func (e *env) logs(t *testing.T, tenant string) []*errorLog {
	t.Helper()
	ctx := ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
	res, err := e.repo.List(ctx, errorLogs, ports.Query{Limit: 100})
	require.NoError(t, err)
	out := make([]*errorLog, 0, len(res.Items))
	for _, it := range res.Items {
		out = append(out, it.(*errorLog))
	}
	return out
}

func requestCtx(tenant string, u *ports.UserContext) context.Context {
	ctx := ports.WithTenantID(context.Background(), tenant)
	if u != nil {
		ctx = ports.WithUser(ctx, u)
	}
	return ctx
}

// Every record goes to the operator's tenant, whatever tenant the request ran
// in, keeps the request's tenant in its context, and is written as System.
func TestRecordGoesToTheOperatorsTenant(t *testing.T) {
	ann := &ports.UserContext{ID: "ann", TenantID: "acme", Roles: []string{"Sales"}}
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		rec         ports.ErrorRecord
		wantContext map[string]any
	}{
		{
			name:        "customer tenant",
			ctx:         requestCtx("acme", ann),
			rec:         ports.ErrorRecord{Title: "boom", RequestID: "req-1", UserID: "ann", TenantID: "acme"},
			wantContext: map[string]any{"tenant_id": "acme"},
		},
		{
			name:        "context kept beside the tenant",
			ctx:         requestCtx("acme", ann),
			rec:         ports.ErrorRecord{Title: "boom", RequestID: "req-2", TenantID: "acme", Context: map[string]any{"route": "/api/v1/Note"}},
			wantContext: map[string]any{"route": "/api/v1/Note", "tenant_id": "acme"},
		},
		{
			name:        "record's tenant wins over a forged one in the context",
			ctx:         requestCtx("acme", ann),
			rec:         ports.ErrorRecord{Title: "boom", RequestID: "req-3", TenantID: "acme", Context: map[string]any{"tenant_id": "globex"}},
			wantContext: map[string]any{"tenant_id": "acme"},
		},
		{
			name:        "the operator's own tenant",
			ctx:         requestCtx(operator, ann),
			rec:         ports.ErrorRecord{Title: "boom", RequestID: "req-4", TenantID: operator},
			wantContext: map[string]any{"tenant_id": operator},
		},
		{
			name: "no request tenant",
			ctx:  context.Background(),
			rec:  ports.ErrorRecord{Title: "boom", RequestID: "req-5"},
		},
		{
			name: "anonymous request",
			ctx:  requestCtx("acme", nil),
			rec:  ports.ErrorRecord{Title: "boom", RequestID: "req-6", TenantID: "acme"},
			wantContext: map[string]any{
				"tenant_id": "acme",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			require.NoError(t, e.rec.Record(tc.ctx, tc.rec))

			assert.Empty(t, e.logs(t, "acme"), "never in a customer tenant")
			logs := e.logs(t, operator)
			require.Len(t, logs, 1)
			l := logs[0]
			assert.Equal(t, operator, l.TenantID)
			assert.Equal(t, tc.rec.RequestID, l.RequestID)
			assert.Equal(t, tc.rec.Title, l.Title)
			assert.Equal(t, ports.SystemUser.ID, l.Owner, "written as the System user")
			assert.Equal(t, ports.SystemUser.ID, l.ModifiedBy)
			if tc.wantContext == nil {
				assert.NotContains(t, l.Context, "tenant_id")
			} else {
				assert.Equal(t, doctype.JSONMap(tc.wantContext), l.Context)
			}

			recs := e.b.records()
			require.Len(t, recs, 1)
			assert.Equal(t, operator, recs[0].TenantID, "the builder sees the operator's tenant")
		})
	}
}

func TestRecordWithCancelledRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() context.Context
	}{
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(requestCtx("acme", &ports.UserContext{ID: "ann"}))
			cancel()
			return ctx
		}},
		{"deadline passed", func() context.Context {
			ctx, cancel := context.WithDeadline(requestCtx("acme", &ports.UserContext{ID: "ann"}), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := tc.ctx()
			require.Error(t, ctx.Err(), "control: the request is gone")

			require.NoError(t, e.rec.Record(ctx, ports.ErrorRecord{Title: "client went away", RequestID: "req-1", TenantID: "acme"}))
			logs := e.logs(t, operator)
			require.Len(t, logs, 1)
			assert.Equal(t, "req-1", logs[0].RequestID)
			assert.Equal(t, doctype.JSONMap{"tenant_id": "acme"}, logs[0].Context)
		})
	}
}

func TestRecordTimestamp(t *testing.T) {
	e := newEnv(t)
	ctx := requestCtx("acme", nil)

	before := time.Now().UTC()
	require.NoError(t, e.rec.Record(ctx, ports.ErrorRecord{Title: "no time", RequestID: "now", TenantID: "acme"}))
	after := time.Now().UTC()

	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	require.NoError(t, e.rec.Record(ctx, ports.ErrorRecord{Title: "timed", RequestID: "then", TenantID: "acme", Timestamp: at}))

	recs := e.b.records()
	require.Len(t, recs, 2)
	assert.False(t, recs[0].Timestamp.IsZero(), "a missing time is filled in")
	assert.Equal(t, time.UTC, recs[0].Timestamp.Location())
	assert.False(t, recs[0].Timestamp.Before(before.Add(-time.Millisecond)))
	assert.False(t, recs[0].Timestamp.After(after.Add(time.Millisecond)))
	assert.True(t, at.Equal(recs[1].Timestamp), "a given time is kept")

	stored := map[string]time.Time{}
	for _, l := range e.logs(t, operator) {
		stored[l.RequestID] = l.Timestamp
	}
	assert.True(t, at.Equal(stored["then"]))
	assert.False(t, stored["now"].IsZero())
}

func TestRecordError(t *testing.T) {
	e := newEnv(t)
	r := errorlog.New(e.repo, "Unregistered", (&builder{}).build, operator)
	err := r.Record(requestCtx("acme", nil), ports.ErrorRecord{Title: "boom", TenantID: "acme"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "record error log")

	// A failing repository error stays inspectable.
	failing := errorlog.New(failingRepo{e.repo, core.ErrUnavailable}, errorLogs, (&builder{}).build, operator)
	err = failing.Record(requestCtx("acme", nil), ports.ErrorRecord{Title: "boom"})
	assert.ErrorIs(t, err, core.ErrUnavailable)
	assert.Empty(t, e.logs(t, operator))
}

// failingRepo fails every Create.
type failingRepo struct {
	ports.Repository
	err error
}

func (f failingRepo) Create(context.Context, string, any) error { return f.err }

// The recorder passes the request's context values on (a trace id, say)
// while replacing its tenant and principal.
func TestRecordKeepsContextValues(t *testing.T) {
	type traceKey struct{}
	var seen struct {
		trace  any
		tenant string
		user   *ports.UserContext
	}
	spy := spyRepo{create: func(ctx context.Context) {
		seen.trace = ctx.Value(traceKey{})
		seen.tenant = ports.TenantIDFrom(ctx)
		seen.user = ports.UserFrom(ctx)
	}}
	r := errorlog.New(spy, errorLogs, (&builder{}).build, operator)
	ctx := context.WithValue(requestCtx("acme", &ports.UserContext{ID: "ann", Roles: []string{"Admin"}}), traceKey{}, "trace-1")
	require.NoError(t, r.Record(ctx, ports.ErrorRecord{Title: "boom", TenantID: "acme"}))
	assert.Equal(t, "trace-1", seen.trace)
	assert.Equal(t, operator, seen.tenant)
	require.NotNil(t, seen.user)
	assert.True(t, seen.user.IsSystemUser())
	assert.Equal(t, ports.SystemUser.ID, seen.user.ID)
}

type spyRepo struct {
	ports.Repository
	create func(ctx context.Context)
}

func (s spyRepo) Create(ctx context.Context, _ string, _ any) error {
	if s.create == nil {
		return errors.New("no spy")
	}
	s.create(ctx)
	return nil
}

var _ ports.ErrorRecorder = (*errorlog.Recorder)(nil)
