package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// Note is the DocType the audit benchmarks write.
type Note struct {
	doctype.Base
	Title    string `json:"title"`
	Category string `json:"category"`
	Qty      int    `json:"qty"`
}

var noteMeta = doctype.Meta{Name: "Bench Note", Permissions: []doctype.Rule{{Role: "Writer", Actions: doctype.All}}}

// auditApp starts an app on driver whose audit trail goes to backend.
func auditApp(b *testing.B, driver fmtest.Driver, backend string, tweak func(*config.Config)) *fmtest.App {
	b.Helper()
	cfg := fmtest.Config(b, driver)
	cfg.App.LogLevel = "error"
	cfg.RateLimit.Enabled = false
	cfg.Audit.Backend = backend
	if tweak != nil {
		tweak(&cfg)
	}
	return fmtest.NewWithConfig(b, cfg, frameworkm.WithDocType[Note](noteMeta),
		frameworkm.WithAuditBackend("discard", frameworkm.Factory(func(frameworkm.Deps) (ports.AuditLog, error) { return discard{}, nil })))
}

// discard is an audit log that keeps nothing: what auditing costs the
// request path alone.
type discard struct{}

func (discard) Log(context.Context, ...ports.AuditEntry) error { return nil }
func (discard) Query(context.Context, ports.AuditFilter, ports.AuditPage) (ports.AuditResult, error) {
	return ports.AuditResult{}, ports.ErrAuditNotQueryable
}

// BenchmarkAuditedWrite is an in-process POST (create) or PATCH (update)
// of a document through the whole middleware chain, with the audit trail
// off and on (the database backend: the entries' rows are written by the
// trail's writer beside the requests). The goal: an audited write at most
// 5 % slower than an unaudited one.
func BenchmarkAuditedWrite(b *testing.B) {
	for _, drv := range drivers() {
		for _, op := range []string{"create", "update"} {
			for _, backend := range []string{"off", "discard", "file", "database"} {
				b.Run(fmt.Sprintf("%s/%s/audit=%s", drv, op, backend), func(b *testing.B) {
					if drv == fmtest.Postgres {
						fmtest.SkipUnlessServer(b, fmtest.EnvPostgresDSN, "PostgreSQL")
					}
					app := auditApp(b, drv, backend, nil)
					h := app.Handler()
					do := func(method, path, body string) string { return benchWrite(b, h, method, path, body) }
					name := ""
					if op == "update" {
						body := do(http.MethodPost, "/api/v1/resource/Bench%20Note", `{"title":"t","category":"c","qty":1}`)
						name = body[strings.Index(body, `"name":"`)+8:]
						name = name[:strings.IndexByte(name, '"')]
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						i++
						if op == "create" {
							do(http.MethodPost, "/api/v1/resource/Bench%20Note", `{"title":"a title","category":"c","qty":3}`)
						} else {
							do(http.MethodPatch, "/api/v1/resource/Bench%20Note/"+name, fmt.Sprintf(`{"qty":%d}`, i))
						}
					}
					b.StopTimer()
					checkTrail(b, app)
				})
			}
		}
	}
}

// benchWrite sends one in-process JSON request as a Writer and returns the
// answer's body; a status of 300 or more fails b.
func benchWrite(b *testing.B, h http.Handler, method, path, body string) string {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(fmtest.HeaderUser, `{"id":"bench","roles":["Writer"]}`)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		b.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// checkTrail flushes app's audit trail (when on) and fails b if entries
// were lost or dropped. The timer is stopped.
func checkTrail(b *testing.B, app *fmtest.App) {
	if app.Audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Audit.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if st := app.Audit.Stats(); st.Lost+st.Dropped > 0 {
		b.Fatalf("entries lost or dropped: %+v", st)
	}
}

// BenchmarkAuditedWriteLatency measures what the goal names, the
// latency an audit trail adds to a write, below saturation. Two apps run in
// one process, one with the trail off and one with the database backend,
// and take turns in blocks of one second of paced creates (one every 500 µs
// on SQLite, every 1.5 ms on PostgreSQL: about a third of what the loop of
// BenchmarkAuditedWrite sustains), each create timed; b.N creates go to
// each app. Taking turns every second makes the shared machine's drift hit
// both alike: runs in separate processes, or one after the other in one,
// differed by ±25 % among themselves, more than the effect measured. The
// trail's writer works beside the "on" app's requests as it would in a
// server (a batch every [audit] flush interval, 200 ms); what it holds when
// the block ends is written before the next block starts, untimed, so
// none of its work falls into an "off" block. Reported: the median and
// 90th percentile of each app (p50-off-µs, p50-on-µs, p90-…) and what the
// trail adds to each (p50-added-%, p90-added-%). trail=off is the
// control: the second app has the trail off too, so what it reports as
// added is the benchmark's own noise. BenchmarkAuditedWrite, back to back,
// charges the trail writer's CPU to the requests instead: on two cores that
// is its throughput cost.
func BenchmarkAuditedWriteLatency(b *testing.B) {
	pace := map[fmtest.Driver]time.Duration{fmtest.SQLite: 500 * time.Microsecond, fmtest.Postgres: 1500 * time.Microsecond}
	for _, drv := range drivers() {
		for _, trail := range []string{"database", "off"} {
			latencyRun(b, drv, trail, pace[drv])
		}
	}
}

// latencyRun is one run of BenchmarkAuditedWriteLatency: the trail off
// against the trail's backend trail, on drv, one create every pace.
func latencyRun(b *testing.B, drv fmtest.Driver, trail string, pace time.Duration) {
	b.Run(fmt.Sprintf("%s/trail=%s", drv, trail), func(b *testing.B) {
		if drv == fmtest.Postgres {
			fmtest.SkipUnlessServer(b, fmtest.EnvPostgresDSN, "PostgreSQL")
		}
		apps := [2]*fmtest.App{auditApp(b, drv, "off", nil), auditApp(b, drv, trail, nil)}
		create := func(app int) time.Duration {
			t0 := time.Now()
			benchWrite(b, apps[app].Handler(), http.MethodPost, "/api/v1/resource/Bench%20Note", `{"title":"a title","category":"c","qty":3}`)
			return time.Since(t0)
		}
		flush := func() {
			if apps[1].Audit == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := apps[1].Audit.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		for range 100 { // warm both up: connections, caches, the first batch
			create(0)
			create(1)
		}
		flush()
		block := int(time.Second / pace)
		var lat [2][]time.Duration
		b.ResetTimer()
		for k := 0; len(lat[0]) < b.N || len(lat[1]) < b.N; k++ {
			app := k % 2
			next := time.Now()
			for range min(block, b.N-len(lat[app])) {
				time.Sleep(time.Until(next)) // sleeping, not spinning: the trail's writer has the other core
				next = next.Add(pace)
				lat[app] = append(lat[app], create(app))
			}
			if app == 1 {
				b.StopTimer()
				flush()
				b.StartTimer()
			}
		}
		b.StopTimer()
		checkTrail(b, apps[1])
		var p [2][2]float64 // [app][p50, p90] in µs
		for app := range lat {
			slices.Sort(lat[app])
			n := len(lat[app])
			p[app] = [2]float64{float64(lat[app][n/2].Nanoseconds()) / 1e3, float64(lat[app][n*9/10].Nanoseconds()) / 1e3}
		}
		b.ReportMetric(p[0][0], "p50-off-µs")
		b.ReportMetric(p[1][0], "p50-on-µs")
		b.ReportMetric(p[0][1], "p90-off-µs")
		b.ReportMetric(p[1][1], "p90-on-µs")
		b.ReportMetric(100*(p[1][0]/p[0][0]-1), "p50-added-%")
		b.ReportMetric(100*(p[1][1]/p[0][1]-1), "p90-added-%")
	})
}

// BenchmarkAuditEntries records entries through the audit trail of each
// backend (batches of [audit] batch_size) and waits until they are
// written: entries/s per backend. Elasticsearch is a test server that
// accepts every bulk request (the client side only: no Elasticsearch runs
// here).
func BenchmarkAuditEntries(b *testing.B) {
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"took":1,"errors":false,"items":[]}`)
	}))
	b.Cleanup(es.Close)
	for _, tc := range []struct {
		name    string
		driver  fmtest.Driver
		backend string
		tweak   func(*config.Config)
	}{
		{"memory", fmtest.SQLite, "memory", nil},
		{"file", fmtest.SQLite, "file", nil},
		{"database/sqlite", fmtest.SQLite, "database", nil},
		{"database/postgres", fmtest.Postgres, "database", nil},
		{"elastic", fmtest.SQLite, "elastic", func(c *config.Config) {
			c.SetSection("audit.elastic", map[string]any{"url": es.URL})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.driver == fmtest.Postgres {
				fmtest.SkipUnlessServer(b, fmtest.EnvPostgresDSN, "PostgreSQL")
			}
			app := auditApp(b, tc.driver, tc.backend, tc.tweak)
			ctx := app.SystemContext(context.Background(), "")
			entry := ports.AuditEntry{Action: ports.AuditUpdate, DocType: "Bench Note", DocumentID: "n-1",
				Changes: map[string][2]any{"qty": {1, 2}, "title": {"a", "b"}}, Metadata: map[string]any{"request_id": "r"}}
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			// Flush every half queue: the writer's pace, not the queue's
			// size, sets the rate (Record drops what does not fit).
			t0, i := time.Now(), 0
			for b.Loop() {
				app.Audit.Record(ctx, entry)
				if i++; i%5000 == 0 {
					if err := app.Audit.Flush(fctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := app.Audit.Flush(fctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(t0)
			st := app.Audit.Stats()
			if st.Lost > 0 {
				b.Fatalf("entries lost: %+v", st)
			}
			b.ReportMetric(float64(st.Written)/elapsed.Seconds(), "entries/s")
			if st.Dropped > 0 {
				b.Fatalf("entries dropped: %+v", st)
			}
		})
	}
}
