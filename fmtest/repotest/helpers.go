package repotest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// base is the reference time of the suite's data: microsecond precision, the
// finest every store keeps.
var base = time.Date(2026, 1, 31, 9, 30, 0, 123456000, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

func dec(s string) doctype.Decimal { return doctype.MustDecimal(s) }

// sampleItem returns an item with every field set to a non-zero value.
func sampleItem(title string) *item {
	closed := at(36 * time.Hour).In(time.FixedZone("IST", 5*3600+1800))
	return &item{
		Title:    title,
		Qty:      42,
		Active:   true,
		Amount:   dec("1234.56"),
		Due:      at(24 * time.Hour),
		ClosedAt: &closed,
		Note:     ptr("a note"),
		Tags:     doctype.StringList{"red", "green"},
		Extra:    doctype.JSONMap{"k": "v", "n": 1.5, "ok": true},
	}
}

func baseOf(t *testing.T, doc any) *doctype.Base {
	t.Helper()
	b, err := doctype.BaseOf(doc)
	require.NoError(t, err)
	return b
}

func (f *fixture) create(ctx context.Context, dt string, doc any) {
	f.t.Helper()
	require.NoError(f.t, f.r.Create(ctx, dt, doc), "create %s", dt)
}

func (f *fixture) get(ctx context.Context, dt, name string) any {
	f.t.Helper()
	doc, err := f.r.Get(ctx, dt, name)
	require.NoError(f.t, err, "get %s %q", dt, name)
	require.NotNil(f.t, doc, "get %s %q", dt, name)
	return doc
}

func (f *fixture) getItem(ctx context.Context, name string) *item {
	f.t.Helper()
	doc := f.get(ctx, ItemDocType, name)
	it, ok := doc.(*item)
	require.Truef(f.t, ok, "Get returned %T, want *item", doc)
	return it
}

// count returns the number of documents of dt in ctx's tenant.
func (f *fixture) count(ctx context.Context, dt string) int64 {
	f.t.Helper()
	res, err := f.r.List(ctx, dt, ports.Query{Limit: 1})
	require.NoError(f.t, err, "count %s", dt)
	return res.Total
}

// list returns the names a query selects, in order, and the total.
func (f *fixture) list(ctx context.Context, dt string, q ports.Query) ([]string, int64) {
	f.t.Helper()
	res, err := f.r.List(ctx, dt, q)
	require.NoError(f.t, err, "list %s %+v", dt, q)
	return names(f.t, res.Items), res.Total
}

func names(t *testing.T, items []any) []string {
	t.Helper()
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = baseOf(t, it).Name
	}
	return out
}

// assertSameBase checks two Bases are equal, comparing times as instants.
func assertSameBase(t *testing.T, want, got *doctype.Base, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, want.TenantID, got.TenantID, append([]any{"tenant_id "}, msgAndArgs...)...)
	assert.Equal(t, want.Name, got.Name, append([]any{"name "}, msgAndArgs...)...)
	assert.Equal(t, want.Owner, got.Owner, append([]any{"owner "}, msgAndArgs...)...)
	assert.Equal(t, want.ModifiedBy, got.ModifiedBy, append([]any{"modified_by "}, msgAndArgs...)...)
	assert.Equal(t, want.Version, got.Version, append([]any{"version "}, msgAndArgs...)...)
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "created_at")
	assertSameTime(t, want.ModifiedAt, got.ModifiedAt, "modified_at")
}

// waitPast returns once the clock, at the microsecond precision repositories
// keep, is past ts (a timestamp a repository returned), so a later write gets
// a later timestamp. It waits on the operation's own timestamp, not for a
// guessed while.
func waitPast(t *testing.T, ts time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !time.Now().Truncate(time.Microsecond).After(ts) {
		if time.Now().After(deadline) {
			t.Fatalf("repotest: the clock did not pass %s within 10 s: is the repository's clock ahead?", ts.Format(time.RFC3339Nano))
		}
		time.Sleep(10 * time.Microsecond)
	}
}

func assertSameTime(t *testing.T, want, got time.Time, field string) {
	t.Helper()
	assert.Truef(t, want.Equal(got), "%s: want %s, got %s", field, want.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
}

// assertSameItem checks every field of two items: Decimals by value, times as
// instants, nil and empty lists and maps as equal.
func assertSameItem(t *testing.T, want, got *item) {
	t.Helper()
	assertSameBase(t, &want.Base, &got.Base)
	assert.Equal(t, want.Title, got.Title, "title")
	assert.Equal(t, want.Qty, got.Qty, "qty")
	assert.Equal(t, want.Active, got.Active, "active")
	assert.Zerof(t, want.Amount.Cmp(got.Amount), "amount: want %s, got %s", want.Amount, got.Amount)
	assertSameTime(t, want.Due, got.Due, "due")
	if want.ClosedAt == nil || got.ClosedAt == nil {
		assert.Equal(t, want.ClosedAt == nil, got.ClosedAt == nil, "closed_at: want %v, got %v", want.ClosedAt, got.ClosedAt)
	} else {
		assertSameTime(t, *want.ClosedAt, *got.ClosedAt, "closed_at")
	}
	assert.Equal(t, want.Note, got.Note, "note")
	if len(want.Tags) == 0 {
		assert.Empty(t, got.Tags, "tags")
	} else {
		assert.Equal(t, []string(want.Tags), []string(got.Tags), "tags")
	}
	if len(want.Extra) == 0 {
		assert.Empty(t, got.Extra, "extra")
	} else {
		assert.Equal(t, map[string]any(want.Extra), map[string]any(got.Extra), "extra")
	}
}

// assertSameNames compares two name lists as sets.
func assertSameNames(t *testing.T, want, got []string, msgAndArgs ...any) {
	t.Helper()
	w, g := slices.Clone(want), slices.Clone(got)
	slices.Sort(w)
	slices.Sort(g)
	assert.Equal(t, w, g, msgAndArgs...)
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%04d", prefix, i))
	}
	return out
}
