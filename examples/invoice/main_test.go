package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/examples/invoice/billing"
	"github.com/framework-m/framework-m/fmtest"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

// forEachDriver runs fn against the invoice app on SQLite and on PostgreSQL,
// each a subtest; the PostgreSQL one skips, saying so, when
// FM_TEST_POSTGRES_DSN is unset.
func forEachDriver(t *testing.T, fn func(t *testing.T, app *fmtest.App)) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			fn(t, fmtest.New(t, d, appOptions()...))
		})
	}
}

var (
	manager = fmtest.User("mia", "Accounts Manager")
	ann     = fmtest.User("ann", "Accounts User")
	bob     = fmtest.User("bob", "Accounts User")
	nobody  = fmtest.User("nora")
)

const invoices = "/api/v1/resource/Invoice"

// assertSeriesName checks that name is the n-th invoice of its year's series,
// the year being the current one at some instant between from and to (the
// span of the requests that made it), so a test run across New Year's Eve
// passes with either year.
func assertSeriesName(t *testing.T, name string, n int, from, to time.Time) {
	t.Helper()
	want := []string{fmt.Sprintf("INV-%d-%05d", from.UTC().Year(), n)}
	if y := to.UTC().Year(); y != from.UTC().Year() {
		want = append(want, fmt.Sprintf("INV-%d-%05d", y, n))
	}
	assert.Contains(t, want, name, "invoice %d of the year's series", n)
}

func TestInvoiceLifecycle(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		c := app.As(manager)

		// create
		from := time.Now()
		res := c.Post(invoices, map[string]any{"customer": "ACME", "amount": "120.50", "currency": "EUR"}).RequireStatus(t, http.StatusCreated)
		inv := res.Data(t)
		name := inv["name"].(string)
		assertSeriesName(t, name, 1, from, time.Now())
		assert.Equal(t, "Draft", inv["status"], "default applied")
		assert.EqualValues(t, 1, inv["version"])
		assert.Equal(t, "mia", inv["owner"])
		assert.Equal(t, invoices+"/"+name, res.Header.Get("Location"))
		assert.Equal(t, `"1"`, res.Header.Get("ETag"))

		// get
		got := c.Get(invoices+"/"+name).RequireStatus(t, http.StatusOK).Data(t)
		assert.Equal(t, "ACME", got["customer"])
		assert.Equal(t, "EUR", got["currency"])

		// more documents for list, filters and paging
		for i := 2; i <= 12; i++ {
			status := "Draft"
			if i%3 == 0 {
				status = "Paid"
			}
			c.Post(invoices, map[string]any{"customer": fmt.Sprintf("Customer %02d", i), "amount": fmt.Sprintf("%d.25", i*10), "status": status}).RequireStatus(t, http.StatusCreated)
		}
		list, total := c.Get(invoices+"?"+url.Values{
			"filters":  {`[["status","=","Paid"]]`},
			"order_by": {"amount desc"},
		}.Encode()).RequireStatus(t, http.StatusOK).List(t)
		require.Equal(t, 4, total)
		require.Len(t, list, 4)
		assert.Equal(t, "120.25", list[0]["amount"], "amount desc sorts by value")
		assert.Equal(t, "30.25", list[3]["amount"])

		list, total = c.Get(invoices+"?"+url.Values{
			"filters": {`{"amount": [">=", 100], "customer": ["like", "customer%"]}`},
			"fields":  {`["name","amount"]`},
		}.Encode()).RequireStatus(t, http.StatusOK).List(t)
		assert.Equal(t, 3, total, "100.25, 110.25, 120.25 (ACME's 120.50 does not match the like)")
		for _, row := range list {
			assert.Len(t, row, 2, "fields projection")
		}

		seen := map[string]bool{}
		for offset := 0; offset < 12; offset += 5 {
			page, total := c.Get(fmt.Sprintf("%s?limit=5&offset=%d&order_by=name", invoices, offset)).RequireStatus(t, http.StatusOK).List(t)
			assert.Equal(t, 12, total)
			for _, row := range page {
				n := row["name"].(string)
				assert.False(t, seen[n], "page overlap on %s", n)
				seen[n] = true
			}
		}
		assert.Len(t, seen, 12, "paging visits every invoice once")
		page, total := c.Get(invoices+"?limit=3&skip_total=true").RequireStatus(t, http.StatusOK).List(t)
		assert.Len(t, page, 3)
		assert.Equal(t, -1, total, "skip_total leaves the total uncounted")

		// patch with version in body, then with If-Match
		up := c.Patch(invoices+"/"+name, map[string]any{"status": "Paid", "version": 1}).RequireStatus(t, http.StatusOK).Data(t)
		assert.Equal(t, "Paid", up["status"])
		assert.EqualValues(t, 2, up["version"])
		c.Header.Set("If-Match", `"2"`)
		c.Patch(invoices+"/"+name, map[string]any{"amount": "99.99"}).RequireStatus(t, http.StatusOK)
		c.Header.Del("If-Match")

		// stale patch → 409 with the current document, nothing changed
		stale := c.Patch(invoices+"/"+name, map[string]any{"customer": "Stale Co", "version": 2}).RequireStatus(t, http.StatusConflict).Err(t)
		assert.Equal(t, "conflict", stale.Error.Code)
		assert.EqualValues(t, 3, stale.Error.Current["version"])
		assert.Equal(t, "ACME", stale.Error.Current["customer"])
		assert.Equal(t, "ACME", c.Get(invoices + "/" + name).Data(t)["customer"])

		// delete → 404
		c.Delete(invoices+"/"+name).RequireStatus(t, http.StatusOK)
		e := c.Get(invoices+"/"+name).RequireStatus(t, http.StatusNotFound).Err(t)
		assert.Equal(t, "not_found", e.Error.Code)
		assert.NotEmpty(t, e.RequestID)
		c.Delete(invoices+"/"+name).RequireStatus(t, http.StatusNotFound)
	})
}

// forEachDriverMultiTenant is forEachDriver for the multi-tenant variant of
// the app: the gateway names each request's tenant.
func forEachDriverMultiTenant(t *testing.T, fn func(t *testing.T, app *fmtest.App)) {
	for _, d := range fmtest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			cfg := fmtest.Config(t, d)
			fmtest.MultiTenant(&cfg)
			fn(t, fmtest.NewWithConfig(t, cfg, appOptions()...))
		})
	}
}

func TestTenantIsolation(t *testing.T) {
	forEachDriverMultiTenant(t, func(t *testing.T, app *fmtest.App) {
		a := app.As(fmtest.TenantUser("tenant-a", "mia", "Accounts Manager"))
		b := app.As(fmtest.TenantUser("tenant-b", "mia", "Accounts Manager"))
		from := time.Now()
		name := a.Post(invoices, map[string]any{"customer": "A only", "amount": "1"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		bName := b.Post(invoices, map[string]any{"customer": "B only", "amount": "2"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		to := time.Now()
		// Each tenant has its own series: both are the first of their year
		// (the same name, unless the year turned between the two requests).
		assertSeriesName(t, name, 1, from, to)
		assertSeriesName(t, bName, 1, from, to)

		// B sees its own document under its name, never A's.
		assert.Equal(t, "B only", b.Get(invoices+"/"+bName).RequireStatus(t, http.StatusOK).Data(t)["customer"])
		if name != bName {
			b.Get(invoices+"/"+name).RequireStatus(t, http.StatusNotFound)
		}
		list, total := b.Get(invoices).RequireStatus(t, http.StatusOK).List(t)
		require.Equal(t, 1, total)
		assert.Equal(t, "B only", list[0]["customer"])

		// A document only A has is a 404 to B for every operation.
		other := a.Post(invoices, map[string]any{"customer": "A second", "amount": "3"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		b.Get(invoices+"/"+other).RequireStatus(t, http.StatusNotFound)
		b.Patch(invoices+"/"+other, map[string]any{"customer": "hijack"}).RequireStatus(t, http.StatusNotFound)
		b.Delete(invoices+"/"+other).RequireStatus(t, http.StatusNotFound)
		assert.Equal(t, "A second", a.Get(invoices+"/"+other).RequireStatus(t, http.StatusOK).Data(t)["customer"])
		_, total = a.Get(invoices).List(t)
		assert.Equal(t, 2, total)
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		c := app.As(manager)
		name := c.Post(invoices, map[string]any{"customer": "ACME", "amount": "10"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		before := c.Get(invoices + "/" + name).Body

		cases := []struct {
			desc   string
			method string
			path   string
			body   string
			status int
			field  string
		}{
			{"malformed JSON", "POST", invoices, `{"customer": "x",`, 400, ""},
			{"not an object", "POST", invoices, `[1,2]`, 400, ""},
			{"unknown field", "POST", invoices, `{"customer":"x","amount":"1","colour":"red"}`, 400, "colour"},
			{"wrong type", "POST", invoices, `{"customer":"x","amount":true}`, 400, "amount"},
			{"wrong type string", "POST", invoices, `{"customer":42,"amount":"1"}`, 400, "customer"},
			{"invalid value", "POST", invoices, `{"customer":"x","amount":"1","status":"Void"}`, 400, "status"},
			{"missing required", "POST", invoices, `{"amount":"1"}`, 400, "customer"},
			{"read-only owner", "POST", invoices, `{"customer":"x","amount":"1","owner":"eve"}`, 400, "owner"},
			{"name on a series", "POST", invoices, `{"name":"MINE","customer":"x","amount":"1"}`, 400, "name"},
			{"tenant spoof", "POST", invoices, `{"customer":"x","amount":"1","tenant_id":"other"}`, 400, "tenant_id"},
			{"patch unknown field", "PATCH", invoices + "/" + name, `{"colour":"red"}`, 400, "colour"},
			{"patch wrong type", "PATCH", invoices + "/" + name, `{"amount":"12,5"}`, 400, "amount"},
			{"patch read-only", "PATCH", invoices + "/" + name, `{"owner":"eve"}`, 400, "owner"},
			{"patch bad version", "PATCH", invoices + "/" + name, `{"version":"one"}`, 400, "version"},
			{"patch mixed good and bad", "PATCH", invoices + "/" + name, `{"customer":"Changed","amount":"x"}`, 400, "amount"},
			{"bad filter field", "GET", invoices + "?filters=" + url.QueryEscape(`[["colour","=","red"]]`), "", 400, "filters.colour"},
			{"filter injection", "GET", invoices + "?filters=" + url.QueryEscape(`[["amount; DROP TABLE invoice","=",1]]`), "", 400, "filters.amount; DROP TABLE invoice"},
			{"bad operator", "GET", invoices + "?filters=" + url.QueryEscape(`[["amount","~",1]]`), "", 400, "filters"},
			{"bad filter value", "GET", invoices + "?filters=" + url.QueryEscape(`[["amount",">","lots"]]`), "", 400, "filters.amount"},
			{"bad order", "GET", invoices + "?order_by=colour", "", 400, "order_by.colour"},
			{"limit too big", "GET", invoices + "?limit=1001", "", 400, "limit"},
			{"limit not a number", "GET", invoices + "?limit=ten", "", 400, "limit"},
			{"negative offset", "GET", invoices + "?offset=-1", "", 400, "offset"},
			{"unknown projection", "GET", invoices + "?fields=colour", "", 400, "fields.colour"},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				res := c.Do(tc.method, tc.path, body)
				require.Equal(t, tc.status, res.Status, "%s", res.Body)
				e := res.Err(t)
				assert.Equal(t, "validation_error", e.Error.Code)
				assert.NotEmpty(t, e.Error.Message)
				assert.NotEmpty(t, e.RequestID)
				if tc.field != "" {
					assert.Contains(t, e.Error.Fields, tc.field, "error names the field: %s", res.Body)
				}
			})
		}

		// Form posts and oversized bodies are refused before decoding.
		req, _ := http.NewRequest("POST", app.URL+invoices, strings.NewReader("customer=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(fmtest.HeaderUser, `{"id":"mia","roles":["Accounts Manager"]}`)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusUnsupportedMediaType, res.StatusCode)
		huge := `{"customer":"` + strings.Repeat("x", 2<<20) + `","amount":"1"}`
		assert.Equal(t, http.StatusRequestEntityTooLarge, c.Post(invoices, huge).Status)

		// Nothing was written or changed.
		_, total := c.Get(invoices).List(t)
		assert.Equal(t, 1, total)
		assert.JSONEq(t, string(before), string(c.Get(invoices+"/"+name).Body))
	})
}

func TestInvoicePermissions(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		annC, bobC, mgr := app.As(ann), app.As(bob), app.As(manager)
		annInv := annC.Post(invoices, map[string]any{"customer": "Ann's", "amount": "5"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		bobInv := bobC.Post(invoices, map[string]any{"customer": "Bob's", "amount": "6"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)

		// if_owner: each Accounts User sees and changes only their own.
		list, total := annC.Get(invoices).RequireStatus(t, http.StatusOK).List(t)
		require.Equal(t, 1, total, "total counts only permitted rows")
		assert.Equal(t, annInv, list[0]["name"])
		annC.Get(invoices+"/"+bobInv).RequireStatus(t, http.StatusNotFound)
		annC.Patch(invoices+"/"+bobInv, map[string]any{"customer": "x"}).RequireStatus(t, http.StatusNotFound)
		annC.Patch(invoices+"/"+annInv, map[string]any{"customer": "Ann's v2"}).RequireStatus(t, http.StatusOK)
		// Accounts Users may not delete, even their own.
		annC.Delete(invoices+"/"+annInv).RequireStatus(t, http.StatusForbidden)

		// The manager sees and deletes everything.
		_, total = mgr.Get(invoices).List(t)
		assert.Equal(t, 2, total)
		mgr.Delete(invoices+"/"+bobInv).RequireStatus(t, http.StatusOK)

		// No role: no list, no create, and documents look absent.
		app.As(nobody).Get(invoices).RequireStatus(t, http.StatusForbidden)
		app.As(nobody).Post(invoices, map[string]any{"customer": "x", "amount": "1"}).RequireStatus(t, http.StatusForbidden)
		app.As(nobody).Get(invoices+"/"+annInv).RequireStatus(t, http.StatusNotFound)

		// Anonymous: 401 everywhere on the resource API.
		e := app.Anonymous().Get(invoices).RequireStatus(t, http.StatusUnauthorized).Err(t)
		assert.Equal(t, "unauthorized", e.Error.Code)
	})
}

// TestConcurrentCreatesKeepTheSeriesGapless: 32 clients creating at once
// (the load benchmark's concurrency) all succeed, and the invoices are
// numbered 1…n without a gap or a repeat.
func TestConcurrentCreatesKeepTheSeriesGapless(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		c := app.As(manager)
		const clients, each = 32, 10
		var wg sync.WaitGroup
		// The goroutines only send; the test's goroutine checks (t.Fatal and
		// require stop only the goroutine that runs the test).
		responses := make(chan *fmtest.Response, clients*each)
		for i := range clients {
			wg.Go(func() {
				for j := range each {
					responses <- c.Post(invoices, map[string]any{"customer": fmt.Sprint("C", i, "-", j), "amount": "1"})
				}
			})
		}
		wg.Wait()
		close(responses)
		numbers := map[int]bool{}
		for res := range responses {
			if !assert.Equal(t, http.StatusCreated, res.Status, "%s", res.Body) {
				continue
			}
			name := res.Data(t)["name"].(string)
			var year, n int
			_, err := fmt.Sscanf(name, "INV-%d-%d", &year, &n)
			require.NoError(t, err, name)
			assert.False(t, numbers[n], "duplicate name %s", name)
			numbers[n] = true
		}
		for n := 1; n <= clients*each; n++ {
			assert.True(t, numbers[n], "invoice number %d is missing", n)
		}
	})
}

// TestExampleServerServes runs the example's real command line on a free port,
// drives it over HTTP and stops it with its context.
func TestExampleServerServes(t *testing.T) {
	dir := t.TempDir()
	cfgPath := dir + "/framework_config.toml"
	require.NoError(t, writeFile(cfgPath, fmt.Sprintf("[app]\naddress = \"127.0.0.1:0\"\ndata_dir = %q\nlog_level = \"warn\"\n", dir)))

	ctx, cancel := context.WithCancel(context.Background())
	out := &fmtest.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- frameworkm.Run(ctx, []string{"-config", cfgPath}, out, appOptions()...) }()

	var base string
	require.Eventually(t, func() bool {
		s := out.String()
		if i := strings.Index(s, "http://"); i >= 0 {
			base = strings.TrimSpace(s[i:])
			return true
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "server never printed its address")

	res, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.JSONEq(t, `{"status":"ok"}`, string(body))

	res, err = http.Get(base + invoices)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "no strategies configured: the resource API answers 401")

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}

// Marking an invoice Paid logs it once, after the commit, with who and which
// request; other changes and a second save log nothing.
func TestPaidInvoicesAreLogged(t *testing.T) {
	var buf fmtest.LogBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	app := fmtest.New(t, fmtest.SQLite, append(appOptions(), billing.PaidLog(log))...)
	c := app.As(manager)
	c.Header.Set("X-Request-ID", "pay-1")
	name := c.Post(invoices, map[string]any{"customer": "ACME", "amount": "99.90", "currency": "EUR"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
	assert.NotContains(t, buf.String(), "invoice paid")

	c.Patch(invoices+"/"+name, map[string]any{"status": "Paid"}).RequireStatus(t, http.StatusOK)
	c.Patch(invoices+"/"+name, map[string]any{"customer": "ACME Corp"}).RequireStatus(t, http.StatusOK)
	out := buf.String()
	assert.Equal(t, 1, strings.Count(out, "invoice paid"), out)
	for _, want := range []string{"invoice=" + name, "amount=99.90", "currency=EUR", "by=mia", "request_id=pay-1"} {
		assert.Contains(t, out, want)
	}
}

// TestInvoiceAttachments: a scanned invoice attached to an Invoice is read
// by those who read the invoice (its owner and the manager, not another
// Accounts User), listed with it, and deleted with it.
func TestInvoiceAttachments(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		annC, bobC, mgr := app.As(ann), app.As(bob), app.As(manager)
		inv := annC.Post(invoices, map[string]any{"customer": "Ann's", "amount": "5"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		scan := "%PDF-1.7\n% the signed invoice\n"
		f := annC.Upload("/api/v1/file/upload", "signed.pdf", strings.NewReader(scan),
			map[string]string{"attached_to_doctype": "Invoice", "attached_to_name": inv}).RequireStatus(t, http.StatusCreated).Data(t)
		file := "/api/v1/file/" + f["id"].(string)
		assert.Equal(t, scan, string(mgr.Get(file).RequireStatus(t, http.StatusOK).Body), "the manager reads the invoice, so its files")
		bobC.Get(file).RequireStatus(t, http.StatusNotFound)
		bobC.Upload("/api/v1/file/upload", "x.pdf", strings.NewReader(scan),
			map[string]string{"attached_to_doctype": "Invoice", "attached_to_name": inv}).RequireStatus(t, http.StatusNotFound)
		res := mgr.Get(invoices+"/"+inv+"/files").RequireStatus(t, http.StatusOK)
		assert.Contains(t, string(res.Body), f["id"].(string))
		mgr.Delete(invoices+"/"+inv).RequireStatus(t, http.StatusOK)
		annC.Get(file).RequireStatus(t, http.StatusNotFound)
	})
}

// TestInvoicePrint: the app's own print format prints an invoice its reader
// may see — the amount formatted by the invoice's currency, the customer
// escaped — and nobody else's.
func TestInvoicePrint(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		annC, bobC, admin := app.As(ann), app.As(bob), app.As(fmtest.Admin())
		admin.Post("/api/v1/resource/Print%20Format", map[string]any{
			"name": "Standard Invoice", "doctype": "Invoice", "is_default": true,
			"template": billing.InvoiceTemplate, "css": billing.InvoiceCSS,
		}).RequireStatus(t, http.StatusCreated)
		inv := annC.Post(invoices, map[string]any{"customer": "Ann <& Sons>", "amount": "1234.5", "currency": "JPY"}).
			RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)

		res := annC.Get("/api/v1/print/Invoice/"+inv+"?format=html").RequireStatus(t, http.StatusOK)
		body := string(res.Body)
		assert.Contains(t, body, "Invoice "+inv)
		assert.Contains(t, body, "Ann &lt;&amp; Sons&gt;")
		assert.Contains(t, body, "¥1,235", "yen have no decimals")
		assert.Contains(t, body, "Please pay within 30 days.")
		assert.Contains(t, res.Header.Get("Content-Disposition"), "Invoice-"+inv+".html")
		bobC.Get("/api/v1/print/Invoice/"+inv+"?format=html").RequireStatus(t, http.StatusNotFound)
	})
}

// TestReceiptEmails: an invoice that becomes Paid queues one receipt to its
// customer's address, about the invoice; one without an address, none.
func TestReceiptEmails(t *testing.T) {
	forEachDriver(t, func(t *testing.T, app *fmtest.App) {
		c := app.As(manager)
		name := c.Post(invoices, map[string]any{"customer": "ACME <b>", "customer_email": "billing@acme.example", "amount": "99.90", "currency": "EUR"}).
			RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		other := c.Post(invoices, map[string]any{"customer": "Globex", "amount": "5.00"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
		assert.Equal(t, http.StatusBadRequest, c.Post(invoices, map[string]any{"customer": "X", "customer_email": "not an address"}).Status)
		c.Patch(invoices+"/"+name, map[string]any{"status": "Paid"}).RequireStatus(t, http.StatusOK)
		c.Patch(invoices+"/"+name, map[string]any{"customer": "ACME Corp"}).RequireStatus(t, http.StatusOK) // paid already
		c.Patch(invoices+"/"+other, map[string]any{"status": "Paid"}).RequireStatus(t, http.StatusOK)
		ctx := app.SystemContext(context.Background(), "")
		list, total, err := app.Email.Queue().List(ctx, ports.EmailQueueFilter{ReferenceDocType: "Invoice", ReferenceID: name})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		e := list[0]
		assert.Equal(t, "billing@acme.example", e.To[0].Address)
		assert.Equal(t, "Receipt for invoice "+name, e.Subject)
		assert.Contains(t, e.HTML, "ACME &lt;b&gt;", "the customer's name is escaped in the HTML body")
		_, total, err = app.Email.Queue().List(ctx, ports.EmailQueueFilter{ReferenceDocType: "Invoice", ReferenceID: other})
		require.NoError(t, err)
		assert.Zero(t, total)
	})
}

// TestAccountantSignsInWithMagicLink: the app turns on sign-in links in its
// configuration; an accountant asks for one, gets it by email, and the
// token it gives works on the invoice API — once.
func TestAccountantSignsInWithMagicLink(t *testing.T) {
	outbox := fakes.NewMailer()
	cfg := fmtest.Config(t, fmtest.SQLite)
	cfg.Auth.MagicLink.Enabled = true
	cfg.Auth.MagicLink.BaseURL = "https://billing.example.com"
	cfg.Email.Sender = "outbox"
	cfg.Email.Queue.PollIntervalMS = 20
	app := fmtest.NewWithConfig(t, cfg, append(appOptions(),
		frameworkm.WithEmailSender("outbox", frameworkm.Factory(func(frameworkm.Deps) (ports.EmailSender, error) { return outbox, nil })))...)
	app.CreateUser(t, "ann@acme.example", "correct horse battery staple", "Accounts User")
	app.As(manager).Post(invoices, map[string]any{"customer": "ACME", "amount": "10.00"}).RequireStatus(t, http.StatusCreated)

	anon := app.Anonymous()
	anon.Post("/api/v1/auth/magic-link", map[string]any{"email": "ann@acme.example"}).RequireStatus(t, http.StatusAccepted)
	anon.Post("/api/v1/auth/magic-link", map[string]any{"email": "nobody@acme.example"}).RequireStatus(t, http.StatusAccepted)
	var mails []fakes.Mail
	require.Eventually(t, func() bool { mails = outbox.SentTo("ann@acme.example"); return len(mails) > 0 }, 10*time.Second, 20*time.Millisecond)
	link := regexp.MustCompile(`https://billing\.example\.com(/api/v1/auth/magic-link/[A-Za-z0-9_.-]+)`).FindStringSubmatch(mails[0].Body)
	require.NotNil(t, link, "the email carries the link: %s", mails[0].Body)

	api := app.Anonymous()
	api.Header.Set("Accept", "application/json")
	var out struct {
		AccessToken string `json:"access_token"`
	}
	api.Get(link[1]).RequireStatus(t, http.StatusOK).JSON(t, &out)
	require.NotEmpty(t, out.AccessToken)
	ann := app.Bearer(out.AccessToken)
	ann.Post(invoices, map[string]any{"customer": "Globex", "amount": "5.00"}).RequireStatus(t, http.StatusCreated)
	items, _ := ann.Get(invoices).RequireStatus(t, http.StatusOK).List(t)
	require.Len(t, items, 1, "the accountant works on her invoices (row-level security hides the manager's)")
	assert.Equal(t, "Globex", items[0]["customer"])
	assert.Equal(t, http.StatusUnauthorized, api.Get(link[1]).Status, "a link works once")
	assert.Empty(t, outbox.SentTo("nobody@acme.example"), "an unknown email gets nothing")
}
