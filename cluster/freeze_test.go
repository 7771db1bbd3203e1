package cluster_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The instances' [database] lock_timeout_ms and
// idle_in_transaction_timeout_ms in the freeze tests.
const (
	lockTimeout = 500 * time.Millisecond
	idleTimeout = 2000 * time.Millisecond
	// answerBound is the longest a create may take on the other instance
	// while one is frozen holding the series lock: never a hang.
	answerBound = lockTimeout + 2*time.Second
)

// Statements to freeze after: the series counter's (in a gapless create,
// inside its transaction, holding the counter's row lock) and the insert
// of a Fast Ticket row (inside its create's transaction).
const (
	afterSeries           = "fm_series"
	afterFastTicketInsert = `INSERT INTO "fast_ticket"`
)

// ledger records the names of acknowledged (201) creates per resource path.
type ledger struct {
	mu    sync.Mutex
	names map[string][]string
}

func (l *ledger) add(t testing.TB, path string, r response) {
	t.Helper()
	if r.err != nil || r.status != http.StatusCreated {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = map[string][]string{}
	}
	l.names[path] = append(l.names[path], r.name(t))
}

func (l *ledger) of(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.names[path]...)
}

// freezing is a create sent to an instance that stops itself in the middle
// of it.
type freezing struct {
	done chan struct{}
	res  response
}

// freezeDuring arms n to stop itself right after its next statement whose
// SQL contains match, sends it a create of path, and returns once the
// process is stopped.
func (n *node) freezeDuring(t *testing.T, match, path string, h http.Header) *freezing {
	t.Helper()
	tmp := n.spec.FreezeFile + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(match), 0o600))
	require.NoError(t, os.Rename(tmp, n.spec.FreezeFile))
	f := &freezing{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.res = n.do(httpLong, "POST", path, map[string]any{"title": "on the frozen instance"}, h)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for n.state() != 'T' {
		select {
		case <-f.done:
			t.Fatalf("%s answered without stopping after %q: %s", n.name, match, f.res)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not stop itself after %q", n.name, match)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return f
}

// result waits for the frozen create's answer (after a thaw or a kill).
func (f *freezing) result(t *testing.T) response {
	t.Helper()
	select {
	case <-f.done:
		return f.res
	case <-time.After(30 * time.Second):
		t.Fatal("the frozen instance's create never answered")
		return response{}
	}
}

// assertBounded checks a create's answer while an instance is frozen: a 201,
// or a 503 with Retry-After (never a 500), within answerBound.
func assertBounded(t *testing.T, r response, what string) {
	t.Helper()
	assert.Less(t, r.took, answerBound, "%s: answers within lock timeout + 2s, never hangs", what)
	if r.status != http.StatusCreated {
		assertUnavailable(t, r, what)
	}
}

// frozenPair starts two instances with short lock and idle-in-transaction
// timeouts, each able to freeze itself (see nodeSpec.FreezeFile).
func frozenPair(t *testing.T) (a, b *node, dsn string) {
	t.Helper()
	pg := postgresCluster(t)
	dsn = pg.newDatabase(t)
	dir := t.TempDir()
	nodes := startNodes(t, newSpecs(t, 2, dsn, func(s *nodeSpec) {
		s.LockTimeoutMS = int(lockTimeout / time.Millisecond)
		s.IdleInTxMS = int(idleTimeout / time.Millisecond)
		s.FreezeFile = filepath.Join(dir, "freeze-"+s.Name)
	})...)
	return nodes[0], nodes[1], dsn
}

// TestFrozenInstanceMidCreate proves issue 11's fourth acceptance item on
// two real instances sharing PostgreSQL: while instance a is stopped
// (SIGSTOP) in the middle of a create of a gapless-series DocType, holding
// the series counter's row lock, creates of that DocType on instance b
// answer 503 with Retry-After or 201 within lock_timeout + 2 s, never hang
// or fail with 500; they succeed again when a is thawed, when the server's
// idle_in_transaction timeout ends a's frozen session (a still stopped), and
// when a is killed. With gaps allowed (Fast Ticket), b's creates never wait
// on the frozen instance. At the end no acknowledged create is lost, nothing
// unacknowledged was stored, no name repeats, and the gapless series is
// TK-00001..TK-N without a gap.
func TestFrozenInstanceMidCreate(t *testing.T) {
	a, b, dsn := frozenPair(t)
	h := bearer(a.login(t))
	acked := &ledger{}
	first := a.post(ticketPath, map[string]any{"title": "first"}, h)
	require.Equal(t, http.StatusCreated, first.status, "%s", first)
	require.Equal(t, "TK-00001", first.name(t))
	acked.add(t, ticketPath, first)

	t.Run("thawed before the idle timeout", func(t *testing.T) {
		f := a.freezeDuring(t, afterSeries, ticketPath, h)
		frozenAt := time.Now()
		r := b.post(ticketPath, map[string]any{"title": "while a is frozen"}, h)
		acked.add(t, ticketPath, r)
		assertBounded(t, r, "b's create while a holds the series lock")
		if time.Since(frozenAt) < idleTimeout-lockTimeout {
			assertUnavailable(t, r, "b's create while a holds the series lock (long before the idle timeout)")
		}
		t.Logf("b's create while a was frozen: %d in %v", r.status, r.took)

		a.signal(t, syscall.SIGCONT)
		ar := f.result(t)
		acked.add(t, ticketPath, ar)
		assert.Contains(t, []int{http.StatusCreated, http.StatusServiceUnavailable}, ar.status, "a's own create completes or answers 503: %s", ar)
		t.Logf("a's own create after the thaw: %s", ar)
		r = b.post(ticketPath, map[string]any{"title": "after the thaw"}, h)
		acked.add(t, ticketPath, r)
		assert.Equal(t, http.StatusCreated, r.status, "b creates again once a is thawed: %s", r)
	})

	t.Run("the idle timeout releases a frozen instance's lock", func(t *testing.T) {
		f := a.freezeDuring(t, afterSeries, ticketPath, h)
		frozenAt := time.Now()
		var statuses []int
		for {
			began := time.Now()
			r := b.post(ticketPath, map[string]any{"title": "while a is frozen"}, h)
			acked.add(t, ticketPath, r)
			assertBounded(t, r, "b's create while a is frozen")
			if began.Sub(frozenAt) < idleTimeout-lockTimeout && r.status != http.StatusServiceUnavailable {
				t.Errorf("b's create began %v after a froze, before the idle timeout could end a's session, yet answered %s", began.Sub(frozenAt), r)
			}
			statuses = append(statuses, r.status)
			if r.status == http.StatusCreated || r.err != nil {
				break
			}
			require.Less(t, time.Since(frozenAt), 15*time.Second, "b never creates while a stays frozen: %v", statuses)
		}
		released := time.Since(frozenAt)
		require.Equal(t, byte('T'), a.state(), "a is still stopped")
		t.Logf("b created %v after a froze (idle timeout %v), answers: %v", released, idleTimeout, statuses)
		assert.Greater(t, released, idleTimeout-lockTimeout, "the lock was held until the idle timeout")

		a.signal(t, syscall.SIGCONT)
		ar := f.result(t)
		acked.add(t, ticketPath, ar)
		assert.Contains(t, []int{http.StatusCreated, http.StatusServiceUnavailable}, ar.status,
			"a's own create, whose session the server ended, completes or answers 503: %s", ar)
		t.Logf("a's own create after the thaw: %s", ar)
		var last response
		ok := eventually(10*time.Second, 50*time.Millisecond, func() bool {
			last = a.post(ticketPath, map[string]any{"title": "a again"}, h)
			acked.add(t, ticketPath, last)
			return last.status == http.StatusCreated
		})
		require.True(t, ok, "a creates again by itself: %s", last)
	})

	t.Run("gaps allowed: no wait on a frozen instance", func(t *testing.T) {
		for _, match := range []string{afterSeries, afterFastTicketInsert} {
			f := a.freezeDuring(t, match, fastTicketPath, h)
			var slowest time.Duration
			for i := range 3 {
				r := b.post(fastTicketPath, map[string]any{"title": fmt.Sprintf("b %d", i)}, h)
				acked.add(t, fastTicketPath, r)
				assert.Equal(t, http.StatusCreated, r.status, "a frozen after %q: b's Fast Ticket %d: %s", match, i, r)
				assert.Less(t, r.took, lockTimeout, "a frozen after %q: b's Fast Ticket %d waits on no lock", match, i)
				slowest = max(slowest, r.took)
			}
			t.Logf("a frozen after %q: b's slowest Fast Ticket create took %v", match, slowest)
			r := b.post(ticketPath, map[string]any{"title": "gapless, beside"}, h)
			acked.add(t, ticketPath, r)
			assert.Equal(t, http.StatusCreated, r.status, "a frozen in a Fast Ticket create holds no Ticket lock: %s", r)
			a.signal(t, syscall.SIGCONT)
			ar := f.result(t)
			acked.add(t, fastTicketPath, ar)
			assert.Contains(t, []int{http.StatusCreated, http.StatusServiceUnavailable}, ar.status, "a's own Fast Ticket after the thaw: %s", ar)
		}
	})

	t.Run("killed while frozen", func(t *testing.T) {
		f := a.freezeDuring(t, afterSeries, ticketPath, h)
		r := b.post(ticketPath, map[string]any{"title": "while a is frozen"}, h)
		acked.add(t, ticketPath, r)
		assertBounded(t, r, "b's create while a holds the series lock")
		a.kill(t)
		killed := time.Now()
		ar := f.result(t)
		assert.Error(t, ar.err, "a killed: its create gets no answer")
		var last response
		ok := eventually(10*time.Second, 20*time.Millisecond, func() bool {
			last = b.post(ticketPath, map[string]any{"title": "after the kill"}, h)
			acked.add(t, ticketPath, last)
			assertBounded(t, last, "b's create after a was killed")
			return last.status == http.StatusCreated
		})
		require.True(t, ok, "b creates once a is killed: %s", last)
		t.Logf("b created %v after a was killed", time.Since(killed))
	})

	check := openDB(t, dsn)
	defer closeDB(check)
	var errorLogs int64
	require.NoError(t, check.Table("error_log").Count(&errorLogs).Error)
	assert.Zero(t, errorLogs, "no unexpected error (Error Log row) on either instance")
	for _, path := range []string{ticketPath, fastTicketPath} {
		table := map[string]string{ticketPath: "ticket", fastTicketPath: "fast_ticket"}[path]
		var stored []string
		require.NoError(t, check.Table(table).Order("name").Pluck("name", &stored).Error)
		ack := acked.of(path)
		assertUnique(t, ack, table+": acknowledged names")
		assertUnique(t, stored, table+": stored names")
		assert.ElementsMatch(t, ack, stored, "%s: every acknowledged create stored, nothing else", table)
		t.Logf("%s: %d stored", table, len(stored))
		if path == ticketPath {
			want := make([]string, len(stored))
			for i := range want {
				want[i] = fmt.Sprintf("TK-%05d", i+1)
			}
			assert.Equal(t, want, stored, "the gapless series has no gap")
		}
	}
}

// eventually polls cond on the test's goroutine (it may fail the test)
// until it holds or timeout passes, and reports whether it held.
func eventually(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

func assertUnique(t *testing.T, names []string, what string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range names {
		assert.False(t, seen[n], "%s: %s repeats", what, n)
		seen[n] = true
	}
}
