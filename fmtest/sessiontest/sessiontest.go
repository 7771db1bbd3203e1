// Package sessiontest is the contract suite of ports.SessionStore: the
// behaviour every session store must show, written once and run against each
// of them (the database store on SQLite and PostgreSQL, the Redis store).
//
//	func TestStore(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) ports.SessionStore {
//			return mystore.New(...) // a store of its own for this test
//		})
//	}
//
// A store that reads the time from a clock it is given passes RunWithClock
// too, which checks expiry by moving that clock instead of waiting.
//
// The contract, beyond the port's doc comments:
//
//   - Create stamps s.CreatedAt (the store's clock) and s.TenantID (the tenant
//     in ctx) and writes them back to s; Get and ListForUser return exactly what
//     was stored, every field included (times equal as instants, kept to at
//     least the second).
//   - Create refuses a nil session, an empty ID or UserID, and an ExpiresAt that
//     is not in the future with core.ErrValidation; an ID already used in the
//     tenant is core.ErrConflict and leaves the stored session as it was.
//   - An expired session does not exist: Get, Delete and ListForUser do not see
//     it and DeleteAllForUser does not count it.
//   - Every operation is scoped to the tenant in ctx; without one it fails with
//     core.ErrNoTenant and changes nothing.
package sessiontest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// NewStore returns a session store of its own (nothing shared with stores
// returned earlier), ready to use. It is called once per behaviour the suite
// checks, possibly from parallel tests; release the store with t.Cleanup.
type NewStore = func(t *testing.T) ports.SessionStore

// NewClockedStore is NewStore for a store that reads the time from now.
type NewClockedStore = func(t *testing.T, now func() time.Time) ports.SessionStore

// Run checks that the stores newStore returns keep the ports.SessionStore
// contract. Each behaviour is a parallel subtest of its own, on a fresh store.
// Expiry is checked on the real clock: the suite waits for a short session to
// expire.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	run(t, func(t *testing.T) (ports.SessionStore, *clock) { return newStore(t), &clock{} })
}

// RunWithClock is Run for stores that take a clock. Each behaviour gives its
// store a clock of its own, which runs with the machine's and jumps forward
// where the suite lets time pass, so expiry is checked without waiting.
func RunWithClock(t *testing.T, newStore NewClockedStore) {
	t.Helper()
	run(t, func(t *testing.T) (ports.SessionStore, *clock) {
		c := &clock{fake: true}
		return newStore(t, c.Now), c
	})
}

func run(t *testing.T, newStore func(t *testing.T) (ports.SessionStore, *clock)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, clk := newStore(t)
			if s == nil {
				t.Fatal("sessiontest: newStore returned nil")
			}
			c.fn(t, &fixture{t: t, s: s, clock: clk})
		})
	}
}

// clock is a store's time: the machine's, plus (when fake) the time the suite
// let pass by moving it.
type clock struct {
	fake   bool
	mu     sync.Mutex
	offset time.Duration
}

// Now is the store's current time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Pass lets at least d pass on the store's clock: a fake clock jumps, the
// real one is waited for.
func (c *clock) Pass(d time.Duration) {
	if !c.fake {
		time.Sleep(d)
		return
	}
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type testCase struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

var cases = []testCase{
	{"CreateGetRoundTrip", testRoundTrip},
	{"CreateValidates", testCreateValidates},
	{"CreateDuplicateIsConflict", testCreateDuplicate},
	{"GetMissingIsNotFound", testGetMissing},
	{"ExpiredSessionsDoNotExist", testExpired},
	{"Delete", testDelete},
	{"DeleteMissingIsNotFound", testDeleteMissing},
	{"ListForUserNewestFirst", testListForUser},
	{"DeleteAllForUser", testDeleteAllForUser},
	{"TenantIsolation", testTenantIsolation},
	{"SameIDInTwoTenants", testSameIDInTwoTenants},
	{"NoTenantFailsAndWritesNothing", testNoTenant},
	{"ConcurrentCreatesForOneUser", testConcurrentCreates},
}

// fixture is a fresh store and the helpers the checks share.
type fixture struct {
	t     *testing.T
	s     ports.SessionStore
	clock *clock
}

// ctx returns a context scoped to tenant.
func (f *fixture) ctx(tenant string) context.Context {
	return ports.WithTenantID(f.t.Context(), tenant)
}

// newID returns a fresh session handle: 64 hex digits, like the SHA-256 the
// framework uses.
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sample returns a session of user with every field set, expiring in an hour
// of the store's clock (a whole second, so stores keeping seconds compare
// equal).
func (f *fixture) sample(user string) *ports.Session {
	return &ports.Session{
		ID:           newID(),
		UserID:       user,
		ExpiresAt:    f.clock.Now().Add(time.Hour).Truncate(time.Second),
		IPAddress:    "2001:db8::1",
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64) sessiontest",
		CSRFHash:     newID(),
		TokenVersion: 7,
	}
}

func (f *fixture) create(ctx context.Context, s *ports.Session) *ports.Session {
	f.t.Helper()
	require.NoError(f.t, f.s.Create(ctx, s), "create session %s of %q", s.ID, s.UserID)
	return s
}

func (f *fixture) get(ctx context.Context, id string) *ports.Session {
	f.t.Helper()
	got, err := f.s.Get(ctx, id)
	require.NoError(f.t, err, "get session %s", id)
	require.NotNil(f.t, got, "get session %s", id)
	return got
}

func (f *fixture) notFound(ctx context.Context, id string, msgAndArgs ...any) {
	f.t.Helper()
	got, err := f.s.Get(ctx, id)
	assert.ErrorIs(f.t, err, core.ErrNotFound, msgAndArgs...)
	assert.Nil(f.t, got, msgAndArgs...)
}

// waitPast returns once the store's clock is a millisecond past ts (a
// CreatedAt the store returned), so the next session it creates is newer at
// any precision down to the millisecond. It waits on the operation's own
// timestamp, not for a guessed while; the clock does not jump here.
func (f *fixture) waitPast(ts time.Time) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f.clock.Now().After(ts.Add(time.Millisecond)) {
		if time.Now().After(deadline) {
			f.t.Fatalf("sessiontest: the clock did not pass created_at %s within 10 s: is the store's clock ahead?", ts.Format(time.RFC3339Nano))
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (f *fixture) list(ctx context.Context, user string) []*ports.Session {
	f.t.Helper()
	got, err := f.s.ListForUser(ctx, user)
	require.NoError(f.t, err, "list sessions of %q", user)
	return got
}

func ids(ss []*ports.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// assertSame checks every field of two sessions, times as instants.
func assertSame(t *testing.T, want, got *ports.Session, msgAndArgs ...any) {
	t.Helper()
	if !assert.NotNil(t, got, msgAndArgs...) {
		return
	}
	msg := fmt.Sprint(msgAndArgs...)
	assert.Equal(t, want.ID, got.ID, "id %s", msg)
	assert.Equal(t, want.UserID, got.UserID, "user_id %s", msg)
	assert.Equal(t, want.TenantID, got.TenantID, "tenant_id %s", msg)
	assert.Equal(t, want.IPAddress, got.IPAddress, "ip_address %s", msg)
	assert.Equal(t, want.UserAgent, got.UserAgent, "user_agent %s", msg)
	assert.Equal(t, want.CSRFHash, got.CSRFHash, "csrf_hash %s", msg)
	assert.Equal(t, want.TokenVersion, got.TokenVersion, "token_version %s", msg)
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "created_at "+msg)
	assertSameTime(t, want.ExpiresAt, got.ExpiresAt, "expires_at "+msg)
}

func assertSameTime(t *testing.T, want, got time.Time, field string) {
	t.Helper()
	assert.Truef(t, want.Equal(got), "%s: want %s, got %s", field, want.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
}

func testRoundTrip(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	s := f.sample("ann")
	expires := s.ExpiresAt
	before := f.clock.Now().Add(-time.Second)
	f.create(ctx, s)
	after := f.clock.Now().Add(time.Second)

	assert.Equal(t, "A", s.TenantID, "Create sets the tenant from ctx")
	assert.True(t, s.CreatedAt.After(before) && s.CreatedAt.Before(after),
		"Create stamps created_at with the current time: got %s", s.CreatedAt)
	assertSameTime(t, expires, s.ExpiresAt, "Create keeps expires_at")

	got := f.get(ctx, s.ID)
	assertSame(t, s, got, "Get returns what Create stored")

	listed := f.list(ctx, "ann")
	require.Len(t, listed, 1)
	assertSame(t, s, listed[0], "ListForUser returns what Create stored")

	got.UserID = "mallory"
	assertSame(t, s, f.get(ctx, s.ID), "changing a returned session changes nothing stored")
}

func testCreateValidates(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	assert.ErrorIs(t, f.s.Create(ctx, nil), core.ErrValidation, "nil session")

	bad := map[string]func(s *ports.Session){
		"empty id":                func(s *ports.Session) { s.ID = "" },
		"empty user id":           func(s *ports.Session) { s.UserID = "" },
		"zero expires_at":         func(s *ports.Session) { s.ExpiresAt = time.Time{} },
		"expires_at in the past":  func(s *ports.Session) { s.ExpiresAt = f.clock.Now().Add(-time.Minute) },
		"expires_at of right now": func(s *ports.Session) { s.ExpiresAt = f.clock.Now() },
	}
	for name, mutate := range bad {
		s := f.sample("ann")
		mutate(s)
		assert.ErrorIs(t, f.s.Create(ctx, s), core.ErrValidation, name)
		if s.ID != "" {
			f.notFound(ctx, s.ID, name+": nothing stored")
		}
	}
	assert.Empty(t, f.list(ctx, "ann"), "no invalid session was stored")
	assert.Empty(t, f.list(ctx, ""), "no invalid session was stored")
}

func testCreateDuplicate(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	first := f.create(ctx, f.sample("ann"))

	dup := f.sample("bob")
	dup.ID = first.ID
	assert.ErrorIs(t, f.s.Create(ctx, dup), core.ErrConflict, "an id used in the tenant")

	assertSame(t, first, f.get(ctx, first.ID), "the first session is unchanged")
	assert.Equal(t, []string{first.ID}, ids(f.list(ctx, "ann")))
	assert.Empty(t, f.list(ctx, "bob"), "the refused session is not bob's")
	n, err := f.s.DeleteAllForUser(ctx, "bob")
	require.NoError(t, err)
	assert.Zero(t, n, "bob has no session to delete")
	assertSame(t, first, f.get(ctx, first.ID), "deleting bob's sessions leaves ann's")
}

func testGetMissing(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	f.create(ctx, f.sample("ann"))
	f.notFound(ctx, newID(), "unknown id")
	f.notFound(ctx, "", "empty id")
	f.notFound(ctx, "no such:id/with*odd{chars}", "odd id")
}

func testExpired(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	live := f.create(ctx, f.sample("ann"))
	short := f.sample("ann")
	// On the real clock the suite waits for the session to expire, so its
	// life is short; a fake clock jumps, so it lives long enough that no
	// machine is too slow to see it alive first.
	life := time.Minute
	if !f.clock.fake {
		life = 1500 * time.Millisecond
	}
	short.ExpiresAt = f.clock.Now().Add(life)
	f.create(ctx, short)
	assertSame(t, short, f.get(ctx, short.ID), "live until it expires")
	assert.Len(t, f.list(ctx, "ann"), 2)
	require.True(t, f.clock.Now().Before(short.ExpiresAt), "the session was checked alive before it expired")

	// Past its expiry by a margin for stores (Redis) whose own expiry counts
	// whole milliseconds on another clock.
	f.clock.Pass(short.ExpiresAt.Sub(f.clock.Now()) + 250*time.Millisecond)
	require.True(t, f.clock.Now().After(short.ExpiresAt))

	f.notFound(ctx, short.ID, "Get of an expired session")
	assert.Equal(t, []string{live.ID}, ids(f.list(ctx, "ann")), "ListForUser leaves out expired sessions")
	assert.ErrorIs(t, f.s.Delete(ctx, short.ID), core.ErrNotFound, "Delete of an expired session")
	n, err := f.s.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "DeleteAllForUser counts live sessions only")
	assert.Empty(t, f.list(ctx, "ann"))
}

func testDelete(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	s := f.create(ctx, f.sample("ann"))
	other := f.create(ctx, f.sample("ann"))

	require.NoError(t, f.s.Delete(ctx, s.ID))
	f.notFound(ctx, s.ID, "Get after Delete")
	assert.Equal(t, []string{other.ID}, ids(f.list(ctx, "ann")), "ListForUser after Delete")
	assert.ErrorIs(t, f.s.Delete(ctx, s.ID), core.ErrNotFound, "deleting twice")
	assertSame(t, other, f.get(ctx, other.ID), "the other session is untouched")
}

func testDeleteMissing(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	s := f.create(ctx, f.sample("ann"))
	assert.ErrorIs(t, f.s.Delete(ctx, newID()), core.ErrNotFound)
	assert.ErrorIs(t, f.s.Delete(ctx, ""), core.ErrNotFound)
	assertSame(t, s, f.get(ctx, s.ID), "nothing else deleted")
}

func testListForUser(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	var annIDs []string
	for range 3 {
		s := f.create(ctx, f.sample("ann"))
		annIDs = append([]string{s.ID}, annIDs...) // newest first
		f.waitPast(s.CreatedAt)                    // distinct creation times
	}
	bob := f.create(ctx, f.sample("bob"))

	assert.Equal(t, annIDs, ids(f.list(ctx, "ann")), "ann's sessions, newest first")
	assert.Equal(t, []string{bob.ID}, ids(f.list(ctx, "bob")))
	assert.Empty(t, f.list(ctx, "carol"), "a user without sessions")
	assert.Empty(t, f.list(ctx, "an"), "no prefix matching")

	listed := f.list(ctx, "bob")
	require.Len(t, listed, 1)
	assertSame(t, bob, listed[0], "listed sessions carry every field")
}

func testDeleteAllForUser(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	var ann []*ports.Session
	for range 3 {
		ann = append(ann, f.create(ctx, f.sample("ann")))
	}
	bob := f.create(ctx, f.sample("bob"))

	n, err := f.s.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 3, n, "DeleteAllForUser returns how many it deleted")
	assert.Empty(t, f.list(ctx, "ann"))
	for _, s := range ann {
		f.notFound(ctx, s.ID, "ann's session after DeleteAllForUser")
	}
	assertSame(t, bob, f.get(ctx, bob.ID), "bob's session is untouched")
	assert.Equal(t, []string{bob.ID}, ids(f.list(ctx, "bob")))

	n, err = f.s.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to delete")
	n, err = f.s.DeleteAllForUser(ctx, "carol")
	require.NoError(t, err)
	assert.Zero(t, n, "a user without sessions")

	again := f.create(ctx, f.sample("ann"))
	assert.Equal(t, []string{again.ID}, ids(f.list(ctx, "ann")), "a new session after logging out everywhere")
}

func testTenantIsolation(t *testing.T, f *fixture) {
	ctxA, ctxB := f.ctx("A"), f.ctx("B")
	s := f.create(ctxA, f.sample("ann"))

	f.notFound(ctxB, s.ID, "Get from another tenant")
	assert.Empty(t, f.list(ctxB, "ann"), "ListForUser in another tenant")
	assert.ErrorIs(t, f.s.Delete(ctxB, s.ID), core.ErrNotFound, "Delete from another tenant")
	n, err := f.s.DeleteAllForUser(ctxB, "ann")
	require.NoError(t, err)
	assert.Zero(t, n, "DeleteAllForUser in another tenant")

	assertSame(t, s, f.get(ctxA, s.ID), "tenant A's session survives everything tenant B did")
	assert.Equal(t, []string{s.ID}, ids(f.list(ctxA, "ann")))

	forged := f.sample("ann")
	forged.TenantID = "A"
	f.create(ctxB, forged)
	assert.Equal(t, "B", forged.TenantID, "the tenant comes from ctx, not from the session")
	f.notFound(ctxA, forged.ID, "a session created in B with TenantID A")
	assert.Equal(t, []string{s.ID}, ids(f.list(ctxA, "ann")))
	assert.Equal(t, []string{forged.ID}, ids(f.list(ctxB, "ann")))
}

func testSameIDInTwoTenants(t *testing.T, f *fixture) {
	ctxA, ctxB := f.ctx("A"), f.ctx("B")
	a := f.create(ctxA, f.sample("ann"))
	b := f.sample("bob")
	b.ID = a.ID
	f.create(ctxB, b)

	assertSame(t, a, f.get(ctxA, a.ID), "A's copy")
	assertSame(t, b, f.get(ctxB, b.ID), "B's copy")

	require.NoError(t, f.s.Delete(ctxB, b.ID))
	f.notFound(ctxB, b.ID, "B's copy after Delete in B")
	assertSame(t, a, f.get(ctxA, a.ID), "deleting B's copy leaves A's")
}

func testNoTenant(t *testing.T, f *fixture) {
	ctxA := f.ctx("A")
	existing := f.create(ctxA, f.sample("ann"))

	contexts := []struct {
		name string
		ctx  context.Context
	}{
		{"no tenant", t.Context()},
		{"empty tenant id", ports.WithTenantID(t.Context(), "")},
		{"nil tenant", ports.WithTenant(t.Context(), nil)},
		{"a user of tenant A but no tenant", ports.WithUser(t.Context(), &ports.UserContext{ID: "ann", TenantID: "A"})},
	}
	for _, c := range contexts {
		sneaky := f.sample("ann")
		sneaky.TenantID = "A"
		assert.ErrorIs(t, f.s.Create(c.ctx, sneaky), core.ErrNoTenant, "%s: Create", c.name)
		f.notFound(ctxA, sneaky.ID, c.name+": nothing created")

		_, err := f.s.Get(c.ctx, existing.ID)
		assert.ErrorIs(t, err, core.ErrNoTenant, "%s: Get", c.name)
		_, err = f.s.ListForUser(c.ctx, "ann")
		assert.ErrorIs(t, err, core.ErrNoTenant, "%s: ListForUser", c.name)
		assert.ErrorIs(t, f.s.Delete(c.ctx, existing.ID), core.ErrNoTenant, "%s: Delete", c.name)
		_, err = f.s.DeleteAllForUser(c.ctx, "ann")
		assert.ErrorIs(t, err, core.ErrNoTenant, "%s: DeleteAllForUser", c.name)
	}
	assertSame(t, existing, f.get(ctxA, existing.ID), "tenant A's session is untouched")
	assert.Equal(t, []string{existing.ID}, ids(f.list(ctxA, "ann")))
}

func testConcurrentCreates(t *testing.T, f *fixture) {
	ctx := f.ctx("A")
	const n = 20
	created := make([]*ports.Session, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			created[i] = f.sample("ann")
			errs[i] = f.s.Create(ctx, created[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "create %d", i)
	}

	listed := f.list(ctx, "ann")
	assert.ElementsMatch(t, ids(created), ids(listed), "every concurrently created session is listed")
	for i := 1; i < len(listed); i++ {
		assert.False(t, listed[i].CreatedAt.After(listed[i-1].CreatedAt), "newest first at %d", i)
	}
	got, err := f.s.DeleteAllForUser(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, n, got)
	assert.Empty(t, f.list(ctx, "ann"))
}
