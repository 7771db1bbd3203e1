package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/audit/memory"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest/audittest"
	"github.com/framework-m/framework-m/ports"
)

func TestContract(t *testing.T) {
	audittest.Run(t, func(t *testing.T) ports.AuditLog { return memory.New() })
}

func TestContractSharedLog(t *testing.T) {
	shared := memory.New()
	audittest.Run(t, func(t *testing.T) ports.AuditLog { return shared })
}

func sample(id string, at time.Time) ports.AuditEntry {
	return ports.AuditEntry{
		ID: id, Timestamp: at, TenantID: "t1", UserID: "u1", Action: ports.AuditUpdate,
		DocType: "Invoice", DocumentID: "INV-1",
		Changes:  map[string][2]any{"total": {1, 2}, "lines": {[]any{"a"}, []any{"a", "b"}}},
		Metadata: map[string]any{"request_id": "r1", "nested": map[string]any{"k": "v"}},
	}
}

func TestEntriesReturnsCopiesInLoggedOrder(t *testing.T) {
	l := memory.New()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, l.Log(context.Background(), sample("b", at), sample("a", at.Add(time.Hour))))

	got := l.Entries()
	require.Len(t, got, 2)
	assert.Equal(t, "b", got[0].ID)
	assert.Equal(t, "a", got[1].ID)

	got[0].Changes["total"] = [2]any{"x", "y"}
	got[0].Changes["lines"][1].([]any)[0] = "changed"
	got[0].Metadata["nested"].(map[string]any)["k"] = "changed"
	got[0].ID = "changed"
	again := l.Entries()
	assert.Equal(t, sample("b", at), again[0], "Entries returns copies")
}

func TestLogCopiesNestedValues(t *testing.T) {
	l := memory.New()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e := sample("a", at)
	require.NoError(t, l.Log(context.Background(), e))
	e.Changes["lines"][1].([]any)[1] = "changed"
	e.Metadata["nested"].(map[string]any)["k"] = "changed"
	assert.Equal(t, sample("a", at), l.Entries()[0])

	res, err := l.Query(context.Background(), ports.AuditFilter{TenantID: "t1"}, ports.AuditPage{Limit: 1})
	require.NoError(t, err)
	res.Entries[0].Metadata["request_id"] = "changed"
	assert.Equal(t, sample("a", at), l.Entries()[0], "Query returns copies")
}

func TestLogSkipsStoredIDs(t *testing.T) {
	l := memory.New()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := context.Background()
	require.NoError(t, l.Log(ctx, sample("a", at), sample("b", at)))
	require.NoError(t, l.Log(ctx, sample("a", at), sample("b", at), sample("c", at)), "a retried batch")
	require.NoError(t, l.Log(ctx, sample("d", at), sample("d", at)))
	assert.Len(t, l.Entries(), 4)
}

func TestLogRefusesEntriesWithoutIDOrTenant(t *testing.T) {
	l := memory.New()
	at := time.Now()
	noID := sample("", at)
	noTenant := sample("x", at)
	noTenant.TenantID = ""
	for _, bad := range []ports.AuditEntry{noID, noTenant} {
		err := l.Log(context.Background(), sample("ok", at), bad)
		require.ErrorIs(t, err, core.ErrValidation)
	}
	assert.Empty(t, l.Entries(), "a refused batch stores nothing")
}

func TestQueryPageDefaults(t *testing.T) {
	l := memory.New()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var batch []ports.AuditEntry
	for i := range memory.MaxLimit + 5 {
		batch = append(batch, sample(time.Duration(i).String(), at.Add(time.Duration(i))))
	}
	require.NoError(t, l.Log(context.Background(), batch...))
	ctx := context.Background()
	res, err := l.Query(ctx, ports.AuditFilter{}, ports.AuditPage{})
	require.NoError(t, err)
	assert.Len(t, res.Entries, memory.DefaultLimit)
	assert.Equal(t, int64(len(batch)), res.Total)
	res, err = l.Query(ctx, ports.AuditFilter{}, ports.AuditPage{Limit: memory.MaxLimit + 100, Offset: -3})
	require.NoError(t, err)
	assert.Len(t, res.Entries, memory.MaxLimit)
	assert.Equal(t, batch[len(batch)-1].ID, res.Entries[0].ID, "a negative offset is 0")
	assert.NotNil(t, res.Entries)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.Query(canceled, ports.AuditFilter{}, ports.AuditPage{})
	require.ErrorIs(t, err, context.Canceled)
}
