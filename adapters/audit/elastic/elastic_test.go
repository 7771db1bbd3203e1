package elastic_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/audit/elastic"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// request is what the fake cluster received.
type request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// fake is an httptest cluster answering every request with answer.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	answer   func(r request) (int, string)
}

func newFake(t *testing.T, answer func(r request) (int, string)) *fake {
	t.Helper()
	f := &fake{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		status, out := f.answer(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// created answers a bulk request with every item created.
func created(r request) (int, string) {
	var items []string
	for _, a := range actions(r.Body) {
		items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"_version":1,"result":"created","status":201}}`, a.Create.Index, a.Create.ID))
	}
	return 200, `{"took":3,"errors":false,"items":[` + strings.Join(items, ",") + `]}`
}

type action struct {
	Create struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	} `json:"create"`
}

// actions returns the action lines of a bulk body (every other line).
func actions(body []byte) []action {
	var out []action
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	for i := 0; i < len(lines); i += 2 {
		var a action
		_ = json.Unmarshal([]byte(lines[i]), &a)
		out = append(out, a)
	}
	return out
}

func newLog(t *testing.T, url string, edit func(c *elastic.Config)) *elastic.Log {
	t.Helper()
	cfg := elastic.DefaultConfig()
	cfg.URL = url
	if edit != nil {
		edit(&cfg)
	}
	l, err := elastic.New(cfg, nil)
	require.NoError(t, err)
	return l
}

func entries(n int) []ports.AuditEntry {
	at := time.Date(2025, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	out := make([]ports.AuditEntry, n)
	for i := range out {
		out[i] = ports.AuditEntry{
			ID:         fmt.Sprintf("0196a1b2-c3d4-7e5f-8a9b-%012d", i),
			Timestamp:  at.Add(time.Duration(i) * time.Second),
			TenantID:   "acme",
			UserID:     "u-1",
			Action:     ports.AuditUpdate,
			DocType:    "Invoice",
			DocumentID: fmt.Sprintf("INV-%d", i),
			Changes:    map[string][2]any{"total": {100, 125.5}, "note": {nil, "line one\nline two"}, "secret": {ports.AuditMasked, ports.AuditMasked}},
			Metadata:   map[string]any{"request_id": fmt.Sprintf("req-%d", i), "ip": "203.0.113.9"},
		}
	}
	return out
}

// sameEntry checks got is want after a trip through JSON.
func sameEntry(t *testing.T, want, got ports.AuditEntry) {
	t.Helper()
	assert.True(t, want.Timestamp.Equal(got.Timestamp), "timestamp %s, want %s", got.Timestamp, want.Timestamp)
	assert.Equal(t, time.UTC, got.Timestamp.Location(), "timestamps are sent in UTC")
	want.Timestamp, got.Timestamp = time.Time{}, time.Time{}
	wj, err := json.Marshal(want)
	require.NoError(t, err)
	gj, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(wj), string(gj))
}

func TestBulkRequestFormat(t *testing.T) {
	for _, c := range []struct {
		name     string
		prefix   string
		edit     func(c *elastic.Config)
		wantAuth func(t *testing.T, h http.Header)
	}{
		{"BasicAuth", "", func(c *elastic.Config) { c.Username, c.Password = "writer", "s3cret:pw" }, func(t *testing.T, h http.Header) {
			r := &http.Request{Header: h}
			user, pass, ok := r.BasicAuth()
			assert.True(t, ok, "basic auth")
			assert.Equal(t, "writer", user)
			assert.Equal(t, "s3cret:pw", pass)
		}},
		{"APIKey", "/es/", func(c *elastic.Config) { c.APIKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==" }, func(t *testing.T, h http.Header) {
			assert.Equal(t, "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==", h.Get("Authorization"))
		}},
		{"NoAuth", "", func(c *elastic.Config) { c.Index = "audit-2025" }, func(t *testing.T, h http.Header) {
			assert.Empty(t, h.Get("Authorization"))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, created)
			l := newLog(t, f.URL+c.prefix, c.edit)
			cfg := elastic.DefaultConfig()
			c.edit(&cfg)
			sent := entries(3)
			require.NoError(t, l.Log(context.Background(), sent...))
			require.NoError(t, l.Log(context.Background(), sent[:1]...))

			reqs := f.received()
			require.Len(t, reqs, 2, "one request per Log call")
			for n, r := range reqs {
				batch := sent
				if n == 1 {
					batch = sent[:1]
				}
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, strings.TrimSuffix(c.prefix, "/")+"/_bulk", r.Path)
				assert.Equal(t, "application/x-ndjson", r.Header.Get("Content-Type"))
				c.wantAuth(t, r.Header)

				require.True(t, bytes.HasSuffix(r.Body, []byte("\n")), "the body ends with a newline")
				lines := strings.Split(strings.TrimSuffix(string(r.Body), "\n"), "\n")
				require.Len(t, lines, 2*len(batch), "an action line and a source line per entry")
				for i, e := range batch {
					var act map[string]map[string]any
					dec := json.NewDecoder(strings.NewReader(lines[2*i]))
					require.NoError(t, dec.Decode(&act), "action line %q", lines[2*i])
					assert.Equal(t, map[string]map[string]any{"create": {"_index": cfg.Index, "_id": e.ID}}, act, "action line")

					var src map[string]any
					require.NoError(t, json.Unmarshal([]byte(lines[2*i+1]), &src), "source line %q", lines[2*i+1])
					assert.NotContains(t, src, "create")
					var got ports.AuditEntry
					require.NoError(t, json.Unmarshal([]byte(lines[2*i+1]), &got))
					sameEntry(t, e, got)
					assert.True(t, strings.HasSuffix(src["timestamp"].(string), "Z"), "the timestamp is UTC: %s", src["timestamp"])
				}
			}
		})
	}
}

func TestLogSendsNothingForNothing(t *testing.T) {
	f := newFake(t, created)
	l := newLog(t, f.URL, nil)
	require.NoError(t, l.Log(context.Background()))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.Log(canceled, entries(2)...), context.Canceled)
	noID := entries(2)
	noID[1].ID = ""
	require.ErrorIs(t, l.Log(context.Background(), noID...), core.ErrValidation)
	noTenant := entries(2)
	noTenant[0].TenantID = ""
	require.ErrorIs(t, l.Log(context.Background(), noTenant...), core.ErrValidation)
	longID := entries(1)
	longID[0].ID = strings.Repeat("x", 513)
	require.ErrorIs(t, l.Log(context.Background(), longID...), core.ErrValidation)
	assert.Empty(t, f.received())
}

func TestBulkAnswers(t *testing.T) {
	item := func(id string, status int, errJSON string) string {
		if errJSON == "" {
			return fmt.Sprintf(`{"create":{"_index":"framework-m-audit","_id":%q,"status":%d}}`, id, status)
		}
		return fmt.Sprintf(`{"create":{"_index":"framework-m-audit","_id":%q,"status":%d,"error":%s}}`, id, status, errJSON)
	}
	conflict := `{"type":"version_conflict_engine_exception","reason":"[x]: version conflict, document already exists (current version [1])"}`
	mapping := `{"type":"mapper_parsing_exception","reason":"failed to parse field [metadata.ip] of type [long]"}`
	rejected := `{"type":"es_rejected_execution_exception","reason":"rejected execution"}`
	ids := func() []string {
		var out []string
		for _, e := range entries(3) {
			out = append(out, e.ID)
		}
		return out
	}()
	cases := []struct {
		name    string
		status  int
		body    string
		wantErr []string // substrings; nil means success
		unavail bool
	}{
		{"AllCreated", 200, `{"took":1,"errors":false,"items":[` + item(ids[0], 201, "") + `,` + item(ids[1], 201, "") + `,` + item(ids[2], 201, "") + `]}`, nil, false},
		{"ErrorsFalseFirst", 200, `{"errors":false,"took":1,"items":[` + strings.Repeat(" ", 2<<20) + `]}`, nil, false},
		{"ConflictsOnly", 200, `{"took":1,"errors":true,"items":[` + item(ids[0], 409, conflict) + `,` + item(ids[1], 409, conflict) + `,` + item(ids[2], 409, conflict) + `]}`, nil, false},
		{"ConflictsAndCreated", 200, `{"took":1,"errors":true,"items":[` + item(ids[0], 201, "") + `,` + item(ids[1], 409, conflict) + `,` + item(ids[2], 201, "") + `]}`, nil, false},
		{"ItemsBeforeErrors", 200, `{"items":[` + item(ids[0], 201, "") + `,` + item(ids[1], 409, conflict) + `,` + item(ids[2], 201, "") + `],"errors":true}`, nil, false},
		{"A400Item", 200, `{"took":1,"errors":true,"items":[` + item(ids[0], 201, "") + `,` + item(ids[1], 400, mapping) + `,` + item(ids[2], 409, conflict) + `]}`,
			[]string{"1 of 3", ids[1], "400", "mapper_parsing_exception"}, false},
		{"A429Item", 200, `{"took":1,"errors":true,"items":[` + item(ids[0], 429, rejected) + `,` + item(ids[1], 201, "") + `,` + item(ids[2], 201, "") + `]}`,
			[]string{"1 of 3", "429", "es_rejected_execution_exception"}, false},
		{"TooFewItems", 200, `{"took":1,"errors":true,"items":[` + item(ids[0], 409, conflict) + `]}`, []string{"1 items answered for 3"}, false},
		{"Truncated", 200, `{"took":1,"errors":true,"items":[` + item(ids[0], 409, conflict), []string{"unreadable"}, false},
		{"NotJSON", 200, `<html>proxy</html>`, []string{"unreadable"}, false},
		{"EmptyObject", 200, `{}`, []string{"unreadable"}, false},
		{"ServerError", 503, `{"error":{"type":"cluster_block_exception"},"status":503}`, []string{"status 503", "cluster_block_exception"}, true},
		{"TooManyRequests", 429, `{"error":"too many"}`, []string{"status 429"}, true},
		{"BadRequest", 400, `{"error":{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"},"status":400}`, []string{"status 400", "illegal_argument_exception"}, false},
		{"Unauthorized", 401, ``, []string{"status 401", "(no body)"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, func(request) (int, string) { return c.status, c.body })
			err := newLog(t, f.URL, nil).Log(context.Background(), entries(3)...)
			if c.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range c.wantErr {
				assert.Contains(t, err.Error(), s)
			}
			assert.Equal(t, c.unavail, errors.Is(err, core.ErrUnavailable))
		})
	}
}

func TestErrorExcerptIsBounded(t *testing.T) {
	f := newFake(t, func(request) (int, string) { return 500, strings.Repeat("é boom ", 100_000) })
	err := newLog(t, f.URL, nil).Log(context.Background(), entries(1)...)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1024, "the excerpt of the answer is bounded")
	assert.Contains(t, err.Error(), "status 500")
	assert.True(t, strings.HasSuffix(err.Error(), "…: "+core.ErrUnavailable.Error()), err.Error())
}

func TestCredentialsNeverInErrors(t *testing.T) {
	const password, apiKey = `Pa55"word<xyz`, "QUJDREVGOmdoaWprbG1ub3A="
	basic := base64.StdEncoding.EncodeToString([]byte("writer:" + password))
	// A misbehaving proxy echoes the request's headers and the credential
	// in its answers.
	quote := func(s string) string { // as Elasticsearch quotes it: no HTML escapes
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(s))
		return strings.TrimSpace(b.String())
	}
	echo := func(status int, secret string) func(r request) (int, string) {
		return func(r request) (int, string) {
			auth := r.Header.Get("Authorization")
			if status == 200 {
				reason := quote("header was " + auth + "; secret " + secret)
				return 200, fmt.Sprintf(`{"errors":true,"items":[{"create":{"_id":"x","status":400,"error":{"type":"bad","reason":%s}}}]}`, reason)
			}
			return status, fmt.Sprintf(`{"error":"denied","authorization":%s,"secret":%s,"raw":"%s"}`, quote(auth), quote(secret), secret)
		}
	}
	for _, c := range []struct {
		name    string
		auth    func(c *elastic.Config)
		secrets []string
	}{
		{"Basic", func(c *elastic.Config) { c.Username, c.Password = "writer", password }, []string{password, basic}},
		{"APIKey", func(c *elastic.Config) { c.APIKey = apiKey }, []string{apiKey}},
	} {
		for _, status := range []int{200, 400, 401, 403, 500} {
			f := newFake(t, echo(status, c.secrets[0]))
			l := newLog(t, f.URL, c.auth)
			errs := []error{l.Log(context.Background(), entries(1)...)}
			if status != 200 {
				_, err := l.Query(context.Background(), ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 10})
				errs = append(errs, err)
			}
			if status == 401 || status == 500 {
				errs = append(errs, l.Ready(context.Background()))
			}
			for _, err := range errs {
				require.Error(t, err)
				for _, secret := range c.secrets {
					quoted, _ := json.Marshal(secret)
					assert.NotContains(t, err.Error(), secret, "%s, status %d", c.name, status)
					assert.NotContains(t, err.Error(), string(quoted[1:len(quoted)-1]), "%s, status %d", c.name, status)
					assert.NotContains(t, err.Error(), strings.Trim(quote(secret), `"`), "%s, status %d", c.name, status)
				}
				assert.Contains(t, err.Error(), "***", "the echoed secret is blanked out")
			}
		}
	}

	// Nor a configuration error.
	cfg := elastic.DefaultConfig()
	cfg.URL = "https://writer:" + password + "@es.example.com:9200"
	_, err := elastic.New(cfg, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), password)
	cfg.URL = "ftp://writer:" + password + "@es.example.com"
	_, err = elastic.New(cfg, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), password)
}

func TestSearchRequestAndResult(t *testing.T) {
	stored := entries(3)
	var hits []string
	for i := len(stored) - 1; i >= 0; i-- {
		e := stored[i]
		e.Timestamp = e.Timestamp.UTC()
		src, err := json.Marshal(e)
		require.NoError(t, err)
		hits = append(hits, fmt.Sprintf(`{"_index":"framework-m-audit","_id":%q,"_score":null,"_source":%s,"sort":[1,%q]}`, e.ID, src, e.ID))
	}
	answer := `{"took":2,"timed_out":false,"hits":{"total":{"value":42,"relation":"eq"},"max_score":null,"hits":[` + strings.Join(hits, ",") + `]}}`
	f := newFake(t, func(request) (int, string) { return 200, answer })
	l := newLog(t, f.URL+"/", func(c *elastic.Config) { c.APIKey = "k3y" })

	from := time.Date(2025, 5, 1, 0, 0, 0, 1500, time.FixedZone("X", 3600))
	to := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	res, err := l.Query(context.Background(), ports.AuditFilter{
		TenantID: "acme", UserID: "u-1", Action: ports.AuditUpdate, DocType: "Invoice", DocumentID: "INV-1", From: from, To: to,
	}, ports.AuditPage{Limit: 20, Offset: 40})
	require.NoError(t, err)
	assert.Equal(t, int64(42), res.Total)
	require.Len(t, res.Entries, 3)
	for i, e := range res.Entries {
		sameEntry(t, stored[len(stored)-1-i], e)
	}

	reqs := f.received()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/framework-m-audit/_search", r.Path)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "ApiKey k3y", r.Header.Get("Authorization"))
	assert.JSONEq(t, `{
		"query": {"bool": {"filter": [
			{"term": {"tenant_id": "acme"}},
			{"term": {"user_id": "u-1"}},
			{"term": {"action": "update"}},
			{"term": {"doctype": "Invoice"}},
			{"term": {"document_id": "INV-1"}},
			{"range": {"timestamp": {"gte": "2025-04-30T23:00:00.0000015Z", "lt": "2025-06-01T00:00:00Z"}}}
		]}},
		"sort": [{"timestamp": {"order": "desc"}}, {"id": {"order": "desc"}}],
		"from": 40, "size": 20,
		"track_total_hits": true
	}`, string(r.Body))
}

func TestSearchRequestVariants(t *testing.T) {
	var answer string
	f := newFake(t, func(request) (int, string) { return 200, answer })
	l := newLog(t, f.URL, nil)
	ctx := context.Background()

	answer = `{"hits":{"hits":[]}}`
	res, err := l.Query(ctx, ports.AuditFilter{TenantID: "acme", From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, ports.AuditPage{SkipTotal: true})
	require.NoError(t, err)
	assert.Equal(t, int64(-1), res.Total)
	assert.Empty(t, res.Entries)
	assert.NotNil(t, res.Entries)
	assert.JSONEq(t, `{
		"query": {"bool": {"filter": [
			{"term": {"tenant_id": "acme"}},
			{"range": {"timestamp": {"gte": "2025-01-01T00:00:00Z"}}}
		]}},
		"sort": [{"timestamp": {"order": "desc"}}, {"id": {"order": "desc"}}],
		"from": 0, "size": 100,
		"track_total_hits": false
	}`, string(f.received()[0].Body), "defaults: limit 100, offset 0")

	answer = `{"hits":{"total":7,"hits":[]}}` // before Elasticsearch 7
	res, err = l.Query(ctx, ports.AuditFilter{To: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}, ports.AuditPage{Limit: 5000, Offset: -2})
	require.NoError(t, err)
	assert.Equal(t, int64(7), res.Total)
	assert.JSONEq(t, `{
		"query": {"bool": {"filter": [{"range": {"timestamp": {"lt": "2025-01-01T00:00:00Z"}}}]}},
		"sort": [{"timestamp": {"order": "desc"}}, {"id": {"order": "desc"}}],
		"from": 0, "size": 1000,
		"track_total_hits": true
	}`, string(f.received()[1].Body), "limit capped at 1000, a negative offset is 0")

	for _, bad := range []string{`{"took":1}`, `{"hits":{"hits":[]}}`, `not json`, `{"hits":{"total":{"value":1},"hits":[{"_source":"text"}]}}`} {
		answer = bad
		_, err = l.Query(ctx, ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 5})
		assert.Error(t, err, "answer %s", bad)
	}

	n := len(f.received())
	_, err = l.Query(ctx, ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 100, Offset: 9901})
	require.ErrorIs(t, err, core.ErrValidation, "past the result window")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.Query(canceled, ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 5})
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, f.received(), n, "no request for refused queries")
}

func TestSearchMissingIndexIsEmpty(t *testing.T) {
	f := newFake(t, func(request) (int, string) {
		return 404, `{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [framework-m-audit]"}],"type":"index_not_found_exception"},"status":404}`
	})
	l := newLog(t, f.URL, nil)
	res, err := l.Query(context.Background(), ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 5})
	require.NoError(t, err)
	assert.Equal(t, int64(0), res.Total)
	assert.Empty(t, res.Entries)

	f.answer = func(request) (int, string) { return 404, `{"error":"no handler"}` }
	_, err = l.Query(context.Background(), ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 5})
	require.Error(t, err, "another 404 is an error")
	assert.Contains(t, err.Error(), "status 404")

	f.answer = func(request) (int, string) { return 502, `bad gateway` }
	_, err = l.Query(context.Background(), ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 5})
	require.ErrorIs(t, err, core.ErrUnavailable)
}

func TestSearchAnswerIsBounded(t *testing.T) {
	big := `{"hits":{"total":{"value":1},"hits":[{"_source":{"id":"x","tenant_id":"acme","metadata":{"pad":"` + strings.Repeat("y", 33<<20) + `"}}}]}}`
	f := newFake(t, func(request) (int, string) { return 200, big })
	_, err := newLog(t, f.URL, nil).Query(context.Background(), ports.AuditFilter{TenantID: "acme"}, ports.AuditPage{Limit: 5})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "smaller page")
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cfg := elastic.DefaultConfig()
	cfg.URL, cfg.TimeoutMS = srv.URL, 50
	for _, client := range []*http.Client{nil, {}} { // its own client, or one without a timeout
		l, err := elastic.New(cfg, client)
		require.NoError(t, err)
		start := time.Now()
		err = l.Log(context.Background(), entries(1)...)
		require.Error(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
	}
}

func TestReady(t *testing.T) {
	status := 200
	f := newFake(t, func(r request) (int, string) { return status, `{"cluster_name":"x"}` })
	l := newLog(t, f.URL, func(c *elastic.Config) { c.Username, c.Password = "u", "p" })
	dep := l.Readiness()
	assert.Equal(t, "audit", dep.Name)
	assert.False(t, dep.Required)
	for _, c := range []struct {
		status int
		ok     bool
	}{{200, true}, {403, true}, {401, false}, {503, false}} {
		status = c.status
		err := dep.Check(context.Background())
		assert.Equal(t, c.ok, err == nil, "status %d: %v", c.status, err)
	}
	r := f.received()[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/", r.Path)
	assert.NotEmpty(t, r.Header.Get("Authorization"))
}

func TestConfig(t *testing.T) {
	def := elastic.DefaultConfig()
	assert.Equal(t, elastic.Config{Index: "framework-m-audit", TimeoutMS: 10000}, def)
	require.NoError(t, def.Validate(), "the defaults are valid")
	var verr *core.ValidationError
	require.ErrorAs(t, def.Required(), &verr, "a URL is required once selected")
	assert.Contains(t, verr.FieldMap(), "url")

	good := def
	good.URL = "https://es.example.com:9200/prefix"
	require.NoError(t, good.Validate())
	require.NoError(t, good.Required())

	cases := []struct {
		name string
		edit func(c *elastic.Config)
		key  string
	}{
		{"RelativeURL", func(c *elastic.Config) { c.URL = "es.example.com:9200" }, "url"},
		{"NoHost", func(c *elastic.Config) { c.URL = "http:///x" }, "url"},
		{"OtherScheme", func(c *elastic.Config) { c.URL = "ftp://es.example.com" }, "url"},
		{"CredentialsInURL", func(c *elastic.Config) { c.URL = "https://u:p@es.example.com" }, "url"},
		{"QueryInURL", func(c *elastic.Config) { c.URL = "https://es.example.com/?pretty" }, "url"},
		{"NoIndex", func(c *elastic.Config) { c.Index = "" }, "index"},
		{"UppercaseIndex", func(c *elastic.Config) { c.Index = "Audit" }, "index"},
		{"IndexWithStar", func(c *elastic.Config) { c.Index = "audit-*" }, "index"},
		{"IndexWithSlash", func(c *elastic.Config) { c.Index = "a/b" }, "index"},
		{"IndexStartingWithUnderscore", func(c *elastic.Config) { c.Index = "_audit" }, "index"},
		{"BothAuths", func(c *elastic.Config) { c.Username, c.Password, c.APIKey = "u", "p", "k" }, "api_key"},
		{"UsernameWithoutPassword", func(c *elastic.Config) { c.Username = "u" }, "password"},
		{"PasswordWithoutUsername", func(c *elastic.Config) { c.Password = "p" }, "username"},
		{"ZeroTimeout", func(c *elastic.Config) { c.TimeoutMS = 0 }, "timeout_ms"},
		{"HugeTimeout", func(c *elastic.Config) { c.TimeoutMS = 300001 }, "timeout_ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			err := cfg.Validate()
			require.ErrorIs(t, err, core.ErrValidation)
			var verr *core.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Contains(t, verr.FieldMap(), c.key)
			_, err = elastic.New(cfg, nil)
			require.ErrorIs(t, err, core.ErrValidation, "New validates")
		})
	}
	_, err := elastic.New(def, nil)
	require.ErrorIs(t, err, core.ErrValidation, "New needs a URL")
}
