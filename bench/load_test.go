package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/examples/invoice/billing"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/ports"
)

// Clients is the number of concurrent HTTP clients of the load benchmark.
const Clients = 32

// LoadInvoices is the number of invoices seeded before the load benchmark.
const LoadInvoices = 10_000

const (
	loadUsers = 2 * Clients
	loadPass  = "a long passphrase for the load test"
)

func loadEmailOf(i int) string { return fmt.Sprintf("manager%d@example.com", i%loadUsers) }

// loadApp is the example invoice app served over loopback HTTP.
type loadApp struct {
	app    *frameworkm.App
	url    string
	client *http.Client
	token  string
	names  []string
	logs   *logWatch
}

// logWatch passes the app's log through to stderr and remembers whether any
// line said the database was locked.
type logWatch struct{ locked atomic.Int64 }

func (w *logWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("database is locked")) || bytes.Contains(p, []byte("SQLITE_BUSY")) {
		w.locked.Add(1)
	}
	return os.Stderr.Write(p)
}

// newLoadApp starts the example app on driver with LoadInvoices invoices and
// a manager who may read and write all of them.
func newLoadApp(b *testing.B, driver fmtest.Driver) *loadApp {
	b.Helper()
	cfg := config.Default()
	cfg.App.DataDir = b.TempDir()
	cfg.App.LogLevel = "warn"
	cfg.Auth.JWT.Secret = "benchmark-secret-benchmark-secret-0123456789"
	cfg.RateLimit.Enabled = false
	cfg.Auth.Throttle.AttemptsPerIP = 1 << 30
	if driver == fmtest.Postgres {
		cfg.Database.Driver = "postgres"
		cfg.Database.DSN = fmtest.PostgresSchema(b)
	}
	la := &loadApp{logs: &logWatch{}}
	opts := append(billing.Options(), frameworkm.WithLogger(frameworkm.NewLogger(cfg.App, la.logs)))
	app, err := frameworkm.New(cfg, opts...)
	if err != nil {
		b.Fatal(err)
	}
	la.app = app
	if err := app.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	b.Cleanup(func() {
		srv.Close()
		app.Shutdown(context.Background())
	})
	la.url = srv.URL
	for deadline := time.Now().Add(10 * time.Second); !app.Changes.Synced(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the hub did not subscribe")
		}
	}
	la.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * Clients, MaxIdleConnsPerHost: 2 * Clients}}
	b.Cleanup(la.client.CloseIdleConnections)

	ctx := ports.WithClientIP(app.SystemContext(context.Background(), ""), "127.0.0.1")
	// One manager per two clients: a login throttles concurrent checks of one
	// account, as it should, so the login benchmark spreads over accounts.
	for i := range loadUsers {
		if _, err := app.Users.Create(ctx, ports.NewUser{Email: loadEmailOf(i), Password: loadPass, Roles: []string{"Accounts Manager"}}); err != nil {
			b.Fatal(err)
		}
	}
	// In batches: PostgreSQL keeps every version of the series row a
	// transaction updates, so one transaction of 10,000 would be quadratic.
	for start := 0; start < LoadInvoices; start += 250 {
		err = app.Repository.InTx(ctx, func(ctx context.Context) error {
			for i := start; i < min(start+250, LoadInvoices); i++ {
				inv := &billing.Invoice{Customer: fmt.Sprintf("C-%d", i%500), Amount: doctype.MustDecimal(fmt.Sprintf("%d.50", i%1000))}
				inv.Defaults()
				if err := app.Repository.Create(ctx, billing.InvoiceMeta.Name, inv); err != nil {
					return err
				}
				la.names = append(la.names, inv.Name)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if st := la.do(http.MethodPost, "/api/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, loadEmailOf(0), loadPass), "", &tok); st != http.StatusOK {
		b.Fatalf("login: %d", st)
	}
	la.token = tok.AccessToken
	return la
}

// do sends one request and returns its status, decoding a 2xx body into out
// when out is not nil.
func (la *loadApp) do(method, path, body, token string, out any) int {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, la.url+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := la.client.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return 0
		}
	} else {
		_, _ = io.Copy(io.Discard, res.Body)
	}
	return res.StatusCode
}

// loadOp is one kind of request of the load benchmark; i numbers the request.
type loadOp struct {
	name string
	want int
	do   func(la *loadApp, i int) int
}

// loadOps are the benchmarked requests, creates last: every read runs against
// the same LoadInvoices rows, whatever the create throughput.
var loadOps = []loadOp{
	{"get", http.StatusOK, func(la *loadApp, i int) int {
		return la.do(http.MethodGet, "/api/v1/resource/Invoice/"+la.names[rand.IntN(len(la.names))], "", la.token, nil)
	}},
	{"list50", http.StatusOK, func(la *loadApp, i int) int {
		return la.do(http.MethodGet, "/api/v1/resource/Invoice?limit=50&skip_total=true", "", la.token, nil)
	}},
	{"list50_total", http.StatusOK, func(la *loadApp, i int) int {
		return la.do(http.MethodGet, "/api/v1/resource/Invoice?limit=50", "", la.token, nil)
	}},
	{"filter", http.StatusOK, func(la *loadApp, i int) int {
		f := url.QueryEscape(fmt.Sprintf(`[["customer","=","C-%d"]]`, rand.IntN(500)))
		return la.do(http.MethodGet, "/api/v1/resource/Invoice?limit=50&filters="+f, "", la.token, nil)
	}},
	{"login", http.StatusOK, func(la *loadApp, i int) int {
		return la.do(http.MethodPost, "/api/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, loadEmailOf(i), loadPass), "", nil)
	}},
	{"create", http.StatusCreated, func(la *loadApp, i int) int {
		return la.do(http.MethodPost, "/api/v1/resource/Invoice", fmt.Sprintf(`{"customer":"L-%d","amount":"%d.25"}`, i%500, i%1000), la.token, nil)
	}},
}

// BenchmarkLoad drives the example invoice app over loopback HTTP with
// Clients concurrent clients, each request authenticated by a bearer token
// (login by password, with the production argon2id parameters), against
// LoadInvoices seeded invoices. It reports requests per second and the p50
// and p99 latency; any 5xx, failed request or "database is locked" line in
// the app's log fails it.
func BenchmarkLoad(b *testing.B) {
	for _, drv := range drivers() {
		b.Run(string(drv), func(b *testing.B) {
			la := newLoadApp(b, drv)
			for _, op := range loadOps {
				b.Run(op.name, func(b *testing.B) { runLoad(b, la, op) })
			}
		})
	}
}

func runLoad(b *testing.B, la *loadApp, op loadOp) {
	var (
		next  atomic.Int64
		bad   atomic.Int64
		badSt atomic.Int64
		lat   = make([][]time.Duration, Clients)
		wg    sync.WaitGroup
	)
	n := int64(b.N)
	b.ResetTimer()
	start := time.Now()
	for c := range Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, b.N/Clients+1)
			for {
				i := next.Add(1)
				if i > n {
					break
				}
				t0 := time.Now()
				st := op.do(la, int(i))
				mine = append(mine, time.Since(t0))
				if st != op.want {
					bad.Add(1)
					badSt.Store(int64(st))
				}
			}
			lat[c] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if k := bad.Load(); k > 0 {
		b.Fatalf("%s: %d of %d requests failed (last status %d)", op.name, k, b.N, badSt.Load())
	}
	if k := la.logs.locked.Load(); k > 0 {
		b.Fatalf("%s: %d log lines say the database was locked", op.name, k)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(float64(len(all))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
