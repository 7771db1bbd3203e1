// Package audittest is the contract suite of ports.AuditLog for the logs
// that can read back what they wrote (database, JSONL file, memory …):
// written once and run against each of them.
//
//	func TestAuditLog(t *testing.T) {
//		audittest.Run(t, func(t *testing.T) ports.AuditLog {
//			return mylog.New(...) // release it with t.Cleanup
//		})
//	}
//
// Every behaviour is a parallel subtest of its own that asks for a log and
// writes entries of random tenants of its own, and queries with those
// tenants only, so logs that share one table, file or index pass too. The
// suite writes a few hundred entries in all.
//
// The contract, beyond the port's doc comments:
//
//   - Query returns what Log stored, every field: timestamps equal (at
//     microsecond precision, which is what the suite writes; compared in
//     UTC), Changes and Metadata equal once encoded as JSON (a number may
//     come back as float64; an empty map may come back as nil).
//   - Entries come newest first: by Timestamp descending, then, for equal
//     timestamps, by ID descending.
//   - Every field of ports.AuditFilter filters, alone or combined (ANDed);
//     From is inclusive and To exclusive. An entry of one tenant is never
//     returned for a filter naming another.
//   - Limit and Offset page through the matches (the suite asks for pages
//     of 1 to 1,000 entries); Total counts every match whatever the page,
//     and is -1 with SkipTotal. An Offset past the matches returns no entry
//     and the same Total.
//   - Log with no entries succeeds and stores nothing.
//   - Log with a context that is done returns an error and stores none of
//     its entries (never part of a batch).
//   - Log does not keep the caller's maps or slice: changing them after Log
//     returns changes nothing stored.
//   - Concurrent Log calls all land, none lost and none twice.
//
// Every entry the suite writes has an ID (a UUIDv7) and a TenantID, as the
// framework's entries always have.
package audittest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// NewLog returns the log one behaviour of the suite is checked on. It is
// called once per subtest, possibly from parallel subtests; logs may share a
// backend (a table, a file, an index), since every subtest uses tenants of
// its own. Release resources with t.Cleanup.
type NewLog = func(t *testing.T) ports.AuditLog

// Run checks that the logs newLog returns keep the ports.AuditLog contract,
// each behaviour in a parallel subtest of its own.
func Run(t *testing.T, newLog NewLog) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, l ports.AuditLog)
	}{
		{"LogThenQueryRoundTrips", testRoundTrip},
		{"NewestFirst", testNewestFirst},
		{"Filters", testFilters},
		{"FromInclusiveToExclusive", testTimeBounds},
		{"Paging", testPaging},
		{"SkipTotal", testSkipTotal},
		{"TenantIsolation", testTenantIsolation},
		{"NoMatch", testNoMatch},
		{"EmptyLog", testEmptyLog},
		{"CanceledContextStoresNothing", testCanceled},
		{"CallerMayReuseItsEntries", testCallerReuse},
		{"ConcurrentLogsAllLand", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newLog(t))
		})
	}
}

// base is the time the suite's entries are stamped around (microsecond
// precision, as PostgreSQL keeps).
var base = time.Date(2025, 3, 14, 9, 26, 53, 589_793_000, time.UTC)

// tenant returns a tenant id no other subtest uses.
func tenant() string { return fmt.Sprintf("audittest-%016x", rand.Uint64()) }

// entry returns an entry of tenantID at base+offset with a fresh ID.
func entry(tenantID string, offset time.Duration, action string) ports.AuditEntry {
	return ports.AuditEntry{
		ID:        doctype.NewUUIDv7(),
		Timestamp: base.Add(offset),
		TenantID:  tenantID,
		UserID:    "user-1",
		Action:    action,
	}
}

func testRoundTrip(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	tn := tenant()
	update := entry(tn, 3*time.Second, ports.AuditUpdate)
	update.DocType, update.DocumentID = "Invoice", "INV-0001"
	update.Changes = map[string][2]any{
		"customer": {"Acme", "Acme Ltd"},
		"total":    {100, 125.5},
		"due_date": {nil, "2025-04-01"},
		"notes":    {"paid late", nil},
		"secret":   {ports.AuditMasked, ports.AuditMasked},
	}
	update.Metadata = map[string]any{"request_id": "req-1", "ip": "203.0.113.7", "user_agent": "curl/8.5", "attempt": 2}
	create := entry(tn, 2*time.Second, ports.AuditCreate)
	create.UserID = "user-2"
	create.DocType, create.DocumentID = "Customer", "CUST-7"
	create.Changes = map[string][2]any{"name": {nil, "Globex"}, "credit": {nil, 0}}
	failed := entry(tn, time.Second, ports.AuditLoginFailed)
	failed.UserID = "" // an unknown user
	failed.Timestamp = failed.Timestamp.In(time.FixedZone("UTC+2", 2*3600))
	failed.Metadata = map[string]any{"login": "nobody@example.com", "reason": "unknown user"}
	read := entry(tn, 0, ports.AuditRead)
	read.DocType, read.DocumentID = "Invoice", "INV-0001"

	require.NoError(t, l.Log(ctx, update, create))
	require.NoError(t, l.Log(ctx, failed, read))

	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 10})
	assert.Equal(t, int64(4), res.Total)
	requireSameEntries(t, []ports.AuditEntry{update, create, failed, read}, res.Entries)
}

func testNewestFirst(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	tn := tenant()
	var all []ports.AuditEntry
	for i := range 12 {
		all = append(all, entry(tn, time.Duration(i)*time.Minute, ports.AuditUpdate))
	}
	for range 4 { // four entries at one instant: ordered by ID
		all = append(all, entry(tn, 5*time.Minute+30*time.Second, ports.AuditRead))
	}
	shuffled := slices.Clone(all)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	require.NoError(t, l.Log(ctx, shuffled[:5]...))
	require.NoError(t, l.Log(ctx, shuffled[5:6]...))
	require.NoError(t, l.Log(ctx, shuffled[6:]...))

	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 100})
	assert.Equal(t, int64(len(all)), res.Total)
	requireSameEntries(t, expect(all, ports.AuditFilter{TenantID: tn}), res.Entries)
}

// dataset logs a mix of users, actions, DocTypes and documents of one
// tenant, an entry a minute from base, and returns them.
func dataset(t *testing.T, l ports.AuditLog, tn string) []ports.AuditEntry {
	t.Helper()
	users := []string{"alice", "bob", "carol"}
	actions := []string{ports.AuditCreate, ports.AuditUpdate, ports.AuditRead, ports.AuditDelete}
	docs := []struct{ doctype, id string }{{"Invoice", "INV-1"}, {"Invoice", "INV-2"}, {"Customer", "CUST-1"}, {"Customer", "INV-1"}}
	var all []ports.AuditEntry
	for i := range 30 {
		e := entry(tn, time.Duration(i)*time.Minute, actions[i%len(actions)])
		e.UserID = users[i%len(users)]
		d := docs[(i/2)%len(docs)]
		e.DocType, e.DocumentID = d.doctype, d.id
		e.Metadata = map[string]any{"request_id": fmt.Sprintf("req-%d", i)}
		all = append(all, e)
	}
	login := entry(tn, 7*time.Minute+30*time.Second, ports.AuditLogin)
	login.UserID = "alice"
	all = append(all, login)
	require.NoError(t, l.Log(context.Background(), all[:16]...))
	require.NoError(t, l.Log(context.Background(), all[16:]...))
	return all
}

func testFilters(t *testing.T, l ports.AuditLog) {
	tn := tenant()
	all := dataset(t, l, tn)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	cases := []struct {
		name string
		f    ports.AuditFilter
	}{
		{"Tenant", ports.AuditFilter{}},
		{"UserID", ports.AuditFilter{UserID: "bob"}},
		{"Action", ports.AuditFilter{Action: ports.AuditRead}},
		{"ActionOfOneEntry", ports.AuditFilter{Action: ports.AuditLogin}},
		{"DocType", ports.AuditFilter{DocType: "Customer"}},
		{"DocumentID", ports.AuditFilter{DocumentID: "INV-1"}},
		{"From", ports.AuditFilter{From: at(20)}},
		{"To", ports.AuditFilter{To: at(8)}},
		{"FromTo", ports.AuditFilter{From: at(5), To: at(12)}},
		{"DocTypeAndDocumentID", ports.AuditFilter{DocType: "Invoice", DocumentID: "INV-1"}},
		{"UserAndAction", ports.AuditFilter{UserID: "alice", Action: ports.AuditCreate}},
		{"Everything", ports.AuditFilter{UserID: "carol", Action: ports.AuditUpdate, DocType: "Customer", DocumentID: "INV-1", From: at(0), To: at(30)}},
		{"NoUserMatches", ports.AuditFilter{UserID: "mallory"}},
		{"NoCombinationMatches", ports.AuditFilter{UserID: "alice", Action: ports.AuditLogin, DocType: "Invoice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.TenantID = tn
			want := expect(all, f)
			res := query(t, l, f, ports.AuditPage{Limit: 100})
			assert.Equal(t, int64(len(want)), res.Total)
			requireSameEntries(t, want, res.Entries)
		})
	}
}

func testTimeBounds(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	tn := tenant()
	from, to := base, base.Add(time.Hour)
	before := entry(tn, -time.Microsecond, ports.AuditRead)
	atFrom := entry(tn, 0, ports.AuditRead)
	inside := entry(tn, 30*time.Minute, ports.AuditRead)
	lastIn := entry(tn, time.Hour-time.Microsecond, ports.AuditRead)
	atTo := entry(tn, time.Hour, ports.AuditRead)
	after := entry(tn, 2*time.Hour, ports.AuditRead)
	require.NoError(t, l.Log(ctx, after, atTo, lastIn, inside, atFrom, before))

	cases := []struct {
		name     string
		from, to time.Time
		want     []ports.AuditEntry
	}{
		{"Both", from, to, []ports.AuditEntry{lastIn, inside, atFrom}},
		{"FromOnly", from, time.Time{}, []ports.AuditEntry{after, atTo, lastIn, inside, atFrom}},
		{"ToOnly", time.Time{}, to, []ports.AuditEntry{lastIn, inside, atFrom, before}},
		{"FromEqualsTo", from, from, nil},
		{"BoundsInAnotherZone", from.In(time.FixedZone("UTC-5", -5*3600)), to.In(time.FixedZone("UTC+9", 9*3600)), []ports.AuditEntry{lastIn, inside, atFrom}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := query(t, l, ports.AuditFilter{TenantID: tn, From: c.from, To: c.to}, ports.AuditPage{Limit: 100})
			assert.Equal(t, int64(len(c.want)), res.Total)
			requireSameEntries(t, c.want, res.Entries)
		})
	}
}

func testPaging(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	tn := tenant()
	var all []ports.AuditEntry
	for i := range 25 {
		all = append(all, entry(tn, time.Duration(i)*time.Second, ports.AuditUpdate))
	}
	require.NoError(t, l.Log(ctx, all...))
	want := expect(all, ports.AuditFilter{TenantID: tn})

	var pages []ports.AuditEntry
	for offset := 0; offset < 25; offset += 10 {
		res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 10, Offset: offset})
		assert.Equal(t, int64(25), res.Total, "Total counts every match, whatever the page")
		require.Len(t, res.Entries, min(10, 25-offset))
		pages = append(pages, res.Entries...)
	}
	requireSameEntries(t, want, pages)

	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 7, Offset: 3})
	assert.Equal(t, int64(25), res.Total)
	requireSameEntries(t, want[3:10], res.Entries)

	res = query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 1, Offset: 24})
	requireSameEntries(t, want[24:], res.Entries)

	res = query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 10, Offset: 25})
	assert.Empty(t, res.Entries, "an offset past the matches returns no entry")
	assert.Equal(t, int64(25), res.Total)

	res = query(t, l, ports.AuditFilter{TenantID: tn, Action: ports.AuditUpdate, From: base.Add(20 * time.Second)}, ports.AuditPage{Limit: 2, Offset: 1})
	assert.Equal(t, int64(5), res.Total, "Total counts the matches of the filter")
	requireSameEntries(t, want[1:3], res.Entries)
}

func testSkipTotal(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	tn := tenant()
	var all []ports.AuditEntry
	for i := range 5 {
		all = append(all, entry(tn, time.Duration(i)*time.Second, ports.AuditRead))
	}
	require.NoError(t, l.Log(ctx, all...))
	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 3, SkipTotal: true})
	assert.Equal(t, int64(-1), res.Total, "SkipTotal leaves Total at -1")
	requireSameEntries(t, expect(all, ports.AuditFilter{TenantID: tn})[:3], res.Entries)

	res = query(t, l, ports.AuditFilter{TenantID: tenant()}, ports.AuditPage{Limit: 3, SkipTotal: true})
	assert.Equal(t, int64(-1), res.Total)
	assert.Empty(t, res.Entries)
}

func testTenantIsolation(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	a, b := tenant(), tenant()
	var ofA, ofB []ports.AuditEntry
	for i := range 6 {
		ea := entry(a, time.Duration(2*i)*time.Second, ports.AuditUpdate)
		eb := entry(b, time.Duration(2*i+1)*time.Second, ports.AuditUpdate)
		for _, e := range []*ports.AuditEntry{&ea, &eb} {
			e.DocType, e.DocumentID = "Invoice", "INV-1" // the same names in both tenants
		}
		ofA, ofB = append(ofA, ea), append(ofB, eb)
	}
	require.NoError(t, l.Log(ctx, append(slices.Clone(ofA[:3]), ofB[:3]...)...), "a batch may mix tenants")
	require.NoError(t, l.Log(ctx, append(slices.Clone(ofB[3:]), ofA[3:]...)...))

	for _, c := range []struct {
		tenant string
		want   []ports.AuditEntry
	}{{a, ofA}, {b, ofB}} {
		for _, f := range []ports.AuditFilter{
			{TenantID: c.tenant},
			{TenantID: c.tenant, UserID: "user-1", Action: ports.AuditUpdate, DocType: "Invoice", DocumentID: "INV-1"},
			{TenantID: c.tenant, From: base, To: base.Add(time.Hour)},
		} {
			res := query(t, l, f, ports.AuditPage{Limit: 100})
			assert.Equal(t, int64(len(c.want)), res.Total)
			requireSameEntries(t, expect(c.want, f), res.Entries)
			for _, e := range res.Entries {
				require.Equal(t, c.tenant, e.TenantID, "an entry of another tenant was returned")
			}
		}
	}
}

func testNoMatch(t *testing.T, l ports.AuditLog) {
	res := query(t, l, ports.AuditFilter{TenantID: tenant()}, ports.AuditPage{Limit: 10})
	assert.Empty(t, res.Entries)
	assert.Equal(t, int64(0), res.Total)
}

func testEmptyLog(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	require.NoError(t, l.Log(ctx), "Log with no entries")
	require.NoError(t, l.Log(ctx, []ports.AuditEntry{}...), "Log with an empty batch")
	tn := tenant()
	e := entry(tn, 0, ports.AuditRead)
	require.NoError(t, l.Log(ctx, e), "the log works after empty calls")
	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 10})
	requireSameEntries(t, []ports.AuditEntry{e}, res.Entries)
}

func testCanceled(t *testing.T, l ports.AuditLog) {
	tn := tenant()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var batch []ports.AuditEntry
	for i := range 20 {
		batch = append(batch, entry(tn, time.Duration(i)*time.Second, ports.AuditCreate))
	}
	require.Error(t, l.Log(ctx, batch...), "Log with a context that is done fails")
	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 100})
	assert.Empty(t, res.Entries, "Log with a context that is done stores nothing")
	assert.Equal(t, int64(0), res.Total)

	require.NoError(t, l.Log(context.Background(), batch...), "the batch may be logged again")
	res = query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 100})
	requireSameEntries(t, expect(batch, ports.AuditFilter{TenantID: tn}), res.Entries)
}

func testCallerReuse(t *testing.T, l ports.AuditLog) {
	ctx := context.Background()
	tn := tenant()
	batch := make([]ports.AuditEntry, 3)
	for i := range batch {
		e := entry(tn, time.Duration(i)*time.Second, ports.AuditUpdate)
		e.Changes = map[string][2]any{"status": {"Draft", "Submitted"}}
		e.Metadata = map[string]any{"request_id": fmt.Sprintf("req-%d", i)}
		batch[i] = e
	}
	want := make([]ports.AuditEntry, len(batch))
	for i, e := range batch {
		want[i] = e
		want[i].Changes = map[string][2]any{"status": {"Draft", "Submitted"}}
		want[i].Metadata = map[string]any{"request_id": fmt.Sprintf("req-%d", i)}
	}
	require.NoError(t, l.Log(ctx, batch...))
	for i := range batch { // the caller reuses its slice and maps
		batch[i].Changes["status"] = [2]any{"changed", "afterwards"}
		batch[i].Changes["added"] = [2]any{nil, 1}
		batch[i].Metadata["request_id"] = "changed"
		batch[i].ID, batch[i].UserID = "changed", "changed"
	}
	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 10})
	requireSameEntries(t, expect(want, ports.AuditFilter{TenantID: tn}), res.Entries)
}

func testConcurrent(t *testing.T, l ports.AuditLog) {
	const writers, perWriter = 8, 30
	tn := tenant()
	all := make([][]ports.AuditEntry, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		for i := range perWriter {
			all[w] = append(all[w], entry(tn, time.Duration(w*perWriter+i)*time.Millisecond, ports.AuditRead))
		}
		wg.Go(func() {
			for i, size := 0, 1; i < perWriter; i, size = i+size, size%5+1 {
				if err := l.Log(context.Background(), all[w][i:min(i+size, perWriter)]...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	want := expect(slices.Concat(all...), ports.AuditFilter{TenantID: tn})
	res := query(t, l, ports.AuditFilter{TenantID: tn}, ports.AuditPage{Limit: 1000})
	assert.Equal(t, int64(writers*perWriter), res.Total, "every entry lands once")
	requireSameEntries(t, want, res.Entries)
}

// query runs l.Query and requires it to succeed.
func query(t *testing.T, l ports.AuditLog, f ports.AuditFilter, p ports.AuditPage) ports.AuditResult {
	t.Helper()
	res, err := l.Query(context.Background(), f, p)
	require.NoError(t, err, "Query(%+v, %+v)", f, p)
	return res
}

// expect is what a log should return for f out of all: the matches, newest
// first, then by ID descending. It spells the contract out itself rather
// than call ports.AuditFilter.Matches and ports.NewestFirst, which the
// memory and file logs use: a mistake there must fail this suite, not pass
// it twice.
func expect(all []ports.AuditEntry, f ports.AuditFilter) []ports.AuditEntry {
	var out []ports.AuditEntry
	for _, e := range all {
		switch {
		case f.TenantID != "" && e.TenantID != f.TenantID,
			f.UserID != "" && e.UserID != f.UserID,
			f.Action != "" && e.Action != f.Action,
			f.DocType != "" && e.DocType != f.DocType,
			f.DocumentID != "" && e.DocumentID != f.DocumentID,
			!f.From.IsZero() && e.Timestamp.Before(f.From),
			!f.To.IsZero() && !e.Timestamp.Before(f.To):
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b ports.AuditEntry) int {
		if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
}

// flatEntry is an entry as the suite compares it: the timestamp in UTC,
// Changes and Metadata as JSON.
type flatEntry struct {
	ID, TenantID, UserID, Action, DocType, DocumentID string
	Timestamp                                         string
	Changes, Metadata                                 string
}

func normalise(t *testing.T, e ports.AuditEntry) flatEntry {
	t.Helper()
	return flatEntry{
		ID: e.ID, TenantID: e.TenantID, UserID: e.UserID, Action: e.Action, DocType: e.DocType, DocumentID: e.DocumentID,
		Timestamp: e.Timestamp.UTC().Format(time.RFC3339Nano),
		Changes:   jsonOf(t, len(e.Changes) == 0, e.Changes),
		Metadata:  jsonOf(t, len(e.Metadata) == 0, e.Metadata),
	}
}

// jsonOf is v as JSON, "null" when empty (nil and empty maps are alike).
// encoding/json sorts map keys and writes 2 and 2.0 alike, so a value that
// came back as float64 encodes as the int it was.
func jsonOf(t *testing.T, empty bool, v any) string {
	t.Helper()
	if empty {
		return "null"
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// requireSameEntries checks got holds want's entries in want's order, every
// field equal; timestamps are compared with time.Equal.
func requireSameEntries(t *testing.T, want, got []ports.AuditEntry) {
	t.Helper()
	wantIDs, gotIDs := ids(want), ids(got)
	require.Equal(t, wantIDs, gotIDs, "the entries, newest first (then by ID descending)")
	for i := range want {
		assert.True(t, want[i].Timestamp.Equal(got[i].Timestamp), "entry %s: timestamp %s, want %s", want[i].ID, got[i].Timestamp, want[i].Timestamp)
		assert.Equal(t, normalise(t, want[i]), normalise(t, got[i]), "entry %s", want[i].ID)
	}
}

func ids(es []ports.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}
