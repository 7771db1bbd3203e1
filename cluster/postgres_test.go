package cluster_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outageSeconds is how long PostgreSQL stays stopped.
const outageSeconds = 5

// Bounds of what one instance may log about a PostgreSQL outage of
// outageSeconds, while it refuses some 90 requests: a few lines, not one per
// request. Observed: no ERROR line, and two WARN lines (the hub's
// subscription interrupted; the first 503 of "the database"). The hub logs
// an ERROR each time it fails to subscribe again (every 5 s at most), and
// each 503 cause is logged at most once per ten seconds.
const (
	maxErrorLines   = 3
	maxProblemLines = 6 // WARN and ERROR lines, the access log's aside
)

// TestPostgresStopped proves issue 11's third acceptance item on two real
// instances: with the shared PostgreSQL really stopped (pg_ctl stop -m
// fast) for five seconds, every bearer GET of a document and every create
// answers 503 with Retry-After, never 500; each instance logs at most a few
// ERROR lines about it; once PostgreSQL is started again on the same port,
// both instances serve again by themselves; no Error Log row was written,
// nothing of the refused creates was stored, and the gapless series goes on
// without a gap.
func TestPostgresStopped(t *testing.T) {
	pg := postgresCluster(t)
	dsn := pg.newDatabase(t)
	nodes := startNodes(t, newSpecs(t, 2, dsn, nil)...)
	a := nodes[0]
	token := a.login(t)
	h := bearer(token)
	first := a.post(ticketPath, map[string]any{"title": "before the outage"}, h)
	require.Equal(t, http.StatusCreated, first.status, "%s", first)
	require.Equal(t, "TK-00001", first.name(t))
	doc := ticketPath + "/TK-00001"
	marks := map[*node]int{}
	for _, n := range nodes {
		require.Equal(t, http.StatusOK, n.get(doc, h).status, "%s: warm", n.name)
		marks[n] = n.logs.Len()
	}

	pg.stop(t)
	stopped := time.Now()
	statuses := map[int]int{}
	var slowest time.Duration
	for i := 0; time.Since(stopped) < outageSeconds*time.Second; i++ {
		for _, n := range nodes {
			for what, r := range map[string]response{
				"GET":    n.get(doc, h),
				"create": n.post(ticketPath, map[string]any{"title": "during the outage"}, h),
			} {
				statuses[r.status]++
				slowest = max(slowest, r.took)
				assertUnavailable(t, r, n.name+": "+what+" during the outage")
				assert.Contains(t, string(r.body), "the database is unavailable", "%s: %s names the database", n.name, what)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("answers while PostgreSQL was down (status: count): %v; slowest %v", statuses, slowest)

	pg.start(t)
	restarted := time.Now()
	var mu sync.Mutex
	recovered := map[string]time.Duration{}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for time.Since(restarted) < 15*time.Second {
				if n.get(doc, h).status == http.StatusOK {
					mu.Lock()
					recovered[n.name] = time.Since(restarted)
					mu.Unlock()
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	t.Logf("serving documents again after PostgreSQL started: %v", recovered)
	for _, n := range nodes {
		_, ok := recovered[n.name]
		require.True(t, ok, "%s recovers by itself within 15s", n.name)
	}
	second := nodes[1].post(ticketPath, map[string]any{"title": "after the outage"}, h)
	require.Equal(t, http.StatusCreated, second.status, "%s", second)
	assert.Equal(t, "TK-00002", second.name(t), "the refused creates took no number")
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			st, checks := n.readiness()
			return st == http.StatusOK && checks["hub"] == "ok"
		}, 15*time.Second, 50*time.Millisecond, "%s: ready, the hub subscribed again", n.name)
	}

	for _, n := range nodes {
		lines := n.logs.errorLines(marks[n])
		t.Logf("%s: %d ERROR lines about the outage:\n%s", n.name, len(lines), tail(strings.Join(lines, "\n"), 20))
		assert.LessOrEqual(t, len(lines), maxErrorLines, "%s: a few ERROR lines, not one per request", n.name)
		problems := n.logs.problemLines(marks[n])
		assert.LessOrEqual(t, len(problems), maxProblemLines, "%s: a few WARN and ERROR lines, not one per request:\n%s", n.name, strings.Join(problems, "\n"))
	}
	check := openDB(t, dsn)
	defer closeDB(check)
	var errorLogs int64
	require.NoError(t, check.Table("error_log").Count(&errorLogs).Error)
	assert.Zero(t, errorLogs, "an outage is not stored as Error Log")
	var names []string
	require.NoError(t, check.Table("ticket").Order("name").Pluck("name", &names).Error)
	assert.Equal(t, []string{"TK-00001", "TK-00002"}, names, "nothing stored by the refused creates")
}
