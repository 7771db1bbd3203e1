// Package elastic writes the audit trail to Elasticsearch (or OpenSearch)
// through its bulk API, over plain net/http ([audit] backend = "elastic",
// settings in [audit.elastic]).
//
// Each Log call is one POST {url}/_bulk request (Content-Type
// application/x-ndjson) holding, for every entry, a "create" action whose
// _id is the entry's ID and the entry as JSON. The batch succeeds when every
// item was created or already existed (status 409: a batch sent again after
// its answer was lost), so retrying a batch never stores an entry twice. Any
// other refused item, or an answer other than 2xx, fails the call, and the
// framework sends the batch again.
//
// Query searches {url}/{index}/_search with a bool filter (a term query per
// set field, a range on timestamp), sorted by timestamp then id, both
// descending. Entries become searchable after the index refreshes (every
// second by default). An index that does not exist yet reads as empty.
//
// Create the index (or an index template) before the first entry, so the
// fields filtered and sorted on are keywords and the free-form ones do not
// grow the mapping; without it dynamic mapping makes the ids text, and
// Query's filters and sort fail or miss:
//
//	PUT framework-m-audit
//	{
//	  "mappings": {
//	    "properties": {
//	      "id":          {"type": "keyword"},
//	      "timestamp":   {"type": "date_nanos"},
//	      "tenant_id":   {"type": "keyword"},
//	      "user_id":     {"type": "keyword"},
//	      "action":      {"type": "keyword"},
//	      "doctype":     {"type": "keyword"},
//	      "document_id": {"type": "keyword"},
//	      "changes":     {"type": "object", "enabled": false},
//	      "metadata":    {"type": "flattened"}
//	    }
//	  }
//	}
//
// (changes holds [old, new] pairs of any types, so it is kept but not
// indexed; on OpenSearch use "flat_object" for metadata.)
//
// Credentials (Username and Password, or APIKey) are sent on every request
// and never appear in an error: excerpts of answers are bounded and have
// them blanked out. Answers are read up to a bounded size.
package elastic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// DefaultIndex is the index entries go to by default.
const DefaultIndex = "framework-m-audit"

// DefaultTimeoutMS bounds each request by default.
const DefaultTimeoutMS = 10000

// DefaultLimit is the page size of a Query whose AuditPage.Limit is 0 or
// less; MaxLimit is the largest page a Query returns; MaxResultWindow is how
// deep Offset+Limit may page (Elasticsearch's index.max_result_window).
const (
	DefaultLimit    = 100
	MaxLimit        = 1000
	MaxResultWindow = 10000
)

// Bounds of what is read and reported.
const (
	maxBulkResponse   = 1 << 20  // read of a bulk answer (it is decoded as it streams)
	maxSearchResponse = 32 << 20 // a page of up to MaxLimit entries
	maxErrorBody      = 64 << 10 // read of an answer that is an error
	maxExcerpt        = 512      // bytes of an answer quoted in an error
	maxID             = 512      // Elasticsearch's limit on _id
	maxTimeoutMS      = 300000
)

// Config is the [audit.elastic] section.
type Config struct {
	// URL is the cluster's base URL, such as https://es.example.com:9200
	// (a path prefix is kept; credentials go in the fields below, not here).
	URL string `toml:"url"`
	// Index receives the entries and is searched (an alias works too).
	Index string `toml:"index"`
	// Username and Password authenticate with HTTP basic auth.
	Username string `toml:"username"`
	Password string `toml:"password"`
	// APIKey authenticates with "Authorization: ApiKey <key>": the encoded
	// key Elasticsearch returns (base64 of id:api_key). Not with Username.
	APIKey string `toml:"api_key"`
	// TimeoutMS bounds each request.
	TimeoutMS int `toml:"timeout_ms"`
}

// DefaultConfig returns the documented defaults of [audit.elastic].
func DefaultConfig() Config { return Config{Index: DefaultIndex, TimeoutMS: DefaultTimeoutMS} }

// Validate checks the values of an [audit.elastic] table, selected or not;
// the fields of its *core.ValidationError are keys of the section. The URL
// is needed only once the backend is selected (Required).
func (c Config) Validate() error {
	verr := &core.ValidationError{}
	if c.URL != "" {
		if reason := checkURL(c.URL); reason != "" {
			verr.Add("url", reason)
		}
	}
	if reason := checkIndex(c.Index); reason != "" {
		verr.Add("index", reason)
	}
	switch {
	case c.APIKey != "" && (c.Username != "" || c.Password != ""):
		verr.Add("api_key", "set either api_key or username and password, not both")
	case c.Username != "" && c.Password == "":
		verr.Add("password", "is required with username")
	case c.Password != "" && c.Username == "":
		verr.Add("username", "is required with password")
	}
	if c.TimeoutMS < 1 || c.TimeoutMS > maxTimeoutMS {
		verr.Add("timeout_ms", fmt.Sprintf("must be between 1 and %d, not %d", maxTimeoutMS, c.TimeoutMS))
	}
	return verr.Err()
}

// Required checks what the backend needs once selected: the URL.
func (c Config) Required() error {
	if strings.TrimSpace(c.URL) == "" {
		return core.Invalid("url", "is required: the cluster's http(s) URL, such as https://127.0.0.1:9200")
	}
	return nil
}

// checkURL says what is wrong with a base URL ("" when nothing is). It
// never quotes the URL, which may hold a password.
func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an absolute http(s) URL such as https://127.0.0.1:9200"
	case u.User != nil:
		return "must not hold credentials: set username and password, or api_key"
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#"):
		return "must not have a query or fragment"
	}
	return ""
}

// checkIndex says what is wrong with an index name ("" when nothing is),
// after Elasticsearch's rules.
func checkIndex(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > 255:
		return "must be at most 255 bytes"
	case s == "." || s == "..":
		return fmt.Sprintf("must not be %q", s)
	case strings.ContainsAny(s[:1], "-_+"):
		return "must not start with -, _ or +"
	case strings.ToLower(s) != s:
		return "must be lowercase"
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`\/*?"<>|,#:`, r) }):
		return `must not contain whitespace or any of \ / * ? " < > | , # :`
	}
	return ""
}

// Log is the Elasticsearch implementation of ports.AuditLog. It is safe for
// concurrent use.
type Log struct {
	base    string // the URL without a trailing slash
	index   string
	client  *http.Client
	timeout time.Duration
	auth    string   // the Authorization header, "" for none
	secrets []string // what error messages must never show
}

// New returns a Log sending to the cluster cfg names through client (nil: a
// client of its own whose timeout is cfg.TimeoutMS). Every request is also
// bounded by cfg.TimeoutMS. cfg must be valid and have a URL.
func New(cfg Config, client *http.Client) (*Log, error) {
	if err := errors.Join(cfg.Validate(), cfg.Required()); err != nil {
		return nil, fmt.Errorf("elastic audit log: %w", err)
	}
	timeout := time.Duration(cfg.TimeoutMS) * time.Millisecond
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}
	l := &Log{
		base:    strings.TrimRight(cfg.URL, "/"),
		index:   cfg.Index,
		client:  client,
		timeout: timeout,
	}
	switch {
	case cfg.APIKey != "":
		l.auth = "ApiKey " + cfg.APIKey
		l.secrets = []string{cfg.APIKey}
	case cfg.Username != "":
		basic := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
		l.auth = "Basic " + basic
		l.secrets = []string{basic, cfg.Password}
	}
	for _, s := range l.secrets { // as an answer's JSON would quote it
		for _, html := range []bool{false, true} {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			if enc.Encode(s) == nil {
				if q := strings.TrimSuffix(b.String(), "\n"); len(q) >= 2 && q[1:len(q)-1] != s {
					l.secrets = append(l.secrets, q[1:len(q)-1])
				}
			}
		}
	}
	return l, nil
}

// bulkAction is the action line of one entry.
type bulkAction struct {
	Create bulkTarget `json:"create"`
}

type bulkTarget struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// Log sends entries in one bulk request, each created with its ID as _id.
// With ctx done, or an entry without ID or TenantID, with an ID longer than
// 512 bytes (core.ErrValidation) or one that does not encode, it sends
// nothing. Timestamps are sent in UTC.
func (l *Log) Log(ctx context.Context, entries ...ports.AuditEntry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("elastic audit log: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body) // Encode ends each value with '\n'
	for i := range entries {
		e := entries[i]
		switch {
		case e.ID == "":
			return fmt.Errorf("elastic audit log: %w", core.Invalidf("id", "audit entry %d of %d has no id", i+1, len(entries)))
		case len(e.ID) > maxID:
			return fmt.Errorf("elastic audit log: %w", core.Invalidf("id", "audit entry id of %d bytes is over %d", len(e.ID), maxID))
		case e.TenantID == "":
			return fmt.Errorf("elastic audit log: %w", core.Invalidf("tenant_id", "audit entry %s has no tenant", e.ID))
		}
		e.Timestamp = e.Timestamp.UTC()
		if err := enc.Encode(bulkAction{Create: bulkTarget{Index: l.index, ID: e.ID}}); err != nil {
			return fmt.Errorf("elastic audit log: encode entry %s: %w", e.ID, err)
		}
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("elastic audit log: encode entry %s: %w", e.ID, err)
		}
	}
	return l.call(ctx, "bulk", http.MethodPost, "/_bulk", "application/x-ndjson", body.Bytes(), func(status int, r io.Reader) error {
		if status < 200 || status > 299 {
			return l.statusError("bulk", status, r)
		}
		return l.bulkResult(r, len(entries))
	})
}

// bulkItem is the answer for one action.
type bulkItem struct {
	ID     string          `json:"_id"`
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

// bulkResult reads a 2xx bulk answer as it streams: it succeeds when
// "errors" is false, or when every item was created or existed already.
func (l *Log) bulkResult(r io.Reader, sent int) error {
	dec := json.NewDecoder(io.LimitReader(r, maxBulkResponse))
	unreadable := func(err error) error {
		return fmt.Errorf("elastic audit log: bulk: unreadable answer (its entries are sent again): %w", err)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return unreadable(err)
	}
	var (
		sawErrors, hasErrors, sawItems bool
		items, refused                 int
		first                          string
	)
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return unreadable(err)
		}
		switch key {
		case "errors":
			if err := dec.Decode(&hasErrors); err != nil {
				return unreadable(err)
			}
			sawErrors = true
			if !hasErrors && refused == 0 {
				return nil // every item was created
			}
		case "items":
			sawItems = true
			if err := expectDelim(dec, '['); err != nil {
				return unreadable(err)
			}
			for dec.More() {
				var item map[string]bulkItem
				if err := dec.Decode(&item); err != nil {
					return unreadable(err)
				}
				items++
				for _, it := range item { // one key: the action
					if ok := it.Status >= 200 && it.Status <= 299 || it.Status == http.StatusConflict; !ok {
						refused++
						if first == "" {
							first = fmt.Sprintf("entry %s: status %d: %s", it.ID, it.Status, l.excerpt(it.Error))
						}
					}
				}
			}
			if _, err := dec.Token(); err != nil { // ]
				return unreadable(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return unreadable(err)
			}
		}
	}
	switch {
	case refused > 0:
		return fmt.Errorf("elastic audit log: bulk: %d of %d entries refused, first %s", refused, sent, first)
	case !sawErrors && !sawItems:
		return unreadable(errors.New(`no "errors" nor "items"`))
	case sawItems && items != sent:
		return fmt.Errorf("elastic audit log: bulk: %d items answered for %d entries", items, sent)
	}
	return nil
}

// expectDelim reads the next token and requires it to be d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("want %v, got %v", d, tok)
	}
	return nil
}

// Query searches the index for the entries filter selects, newest first
// (timestamp, then id, descending), one page of them (Limit 0 or less means
// DefaultLimit, more than MaxLimit means MaxLimit; a negative Offset means
// 0; Offset+Limit past MaxResultWindow is core.ErrValidation), and how many
// match in all unless page.SkipTotal (then Total is -1).
func (l *Log) Query(ctx context.Context, filter ports.AuditFilter, page ports.AuditPage) (ports.AuditResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.AuditResult{}, fmt.Errorf("elastic audit log: %w", err)
	}
	limit, offset := page.Limit, max(page.Offset, 0)
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if offset+limit > MaxResultWindow {
		return ports.AuditResult{}, fmt.Errorf("elastic audit log: %w",
			core.Invalidf("offset", "offset + limit must be at most %d, not %d", MaxResultWindow, offset+limit))
	}
	body, err := json.Marshal(searchBody(filter, limit, offset, !page.SkipTotal))
	if err != nil {
		return ports.AuditResult{}, fmt.Errorf("elastic audit log: search: %w", err)
	}
	res := ports.AuditResult{Entries: []ports.AuditEntry{}}
	if page.SkipTotal {
		res.Total = -1
	}
	err = l.call(ctx, "search", http.MethodPost, "/"+url.PathEscape(l.index)+"/_search", "application/json", body, func(status int, r io.Reader) error {
		if status == http.StatusNotFound {
			b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
			if bytes.Contains(b, []byte("index_not_found_exception")) {
				return nil // nothing was written yet
			}
			return l.statusError("search", status, bytes.NewReader(b))
		}
		if status < 200 || status > 299 {
			return l.statusError("search", status, r)
		}
		return decodeHits(r, &res, page.SkipTotal)
	})
	if err != nil {
		return ports.AuditResult{}, err
	}
	return res, nil
}

// searchBody is the search request of a Query.
func searchBody(f ports.AuditFilter, limit, offset int, trackTotal bool) map[string]any {
	filters := []any{}
	for _, t := range []struct{ field, value string }{
		{"tenant_id", f.TenantID}, {"user_id", f.UserID}, {"action", f.Action},
		{"doctype", f.DocType}, {"document_id", f.DocumentID},
	} {
		if t.value != "" {
			filters = append(filters, map[string]any{"term": map[string]any{t.field: t.value}})
		}
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		bounds := map[string]any{}
		if !f.From.IsZero() {
			bounds["gte"] = f.From.UTC().Format(time.RFC3339Nano)
		}
		if !f.To.IsZero() {
			bounds["lt"] = f.To.UTC().Format(time.RFC3339Nano)
		}
		filters = append(filters, map[string]any{"range": map[string]any{"timestamp": bounds}})
	}
	return map[string]any{
		"query": map[string]any{"bool": map[string]any{"filter": filters}},
		"sort": []any{
			map[string]any{"timestamp": map[string]any{"order": "desc"}},
			map[string]any{"id": map[string]any{"order": "desc"}},
		},
		"from":             offset,
		"size":             limit,
		"track_total_hits": trackTotal,
	}
}

// searchResponse is what Query reads of a search answer.
type searchResponse struct {
	Hits *struct {
		// Total is {"value": n, "relation": "eq"} (a bare number before
		// Elasticsearch 7).
		Total json.RawMessage `json:"total"`
		Hits  []struct {
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// decodeHits reads a search answer into res.
func decodeHits(r io.Reader, res *ports.AuditResult, skipTotal bool) error {
	lr := &io.LimitedReader{R: r, N: maxSearchResponse + 1}
	var sr searchResponse
	if err := json.NewDecoder(lr).Decode(&sr); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("elastic audit log: search: the answer is over %d bytes; ask for a smaller page", maxSearchResponse)
		}
		return fmt.Errorf("elastic audit log: search: unreadable answer: %w", err)
	}
	if sr.Hits == nil {
		return errors.New(`elastic audit log: search: the answer has no "hits"`)
	}
	if !skipTotal {
		total, err := decodeTotal(sr.Hits.Total)
		if err != nil {
			return err
		}
		res.Total = total
	}
	for i, h := range sr.Hits.Hits {
		var e ports.AuditEntry
		if err := json.Unmarshal(h.Source, &e); err != nil {
			return fmt.Errorf("elastic audit log: search: hit %d: %w", i, err)
		}
		res.Entries = append(res.Entries, e)
	}
	return nil
}

// decodeTotal reads hits.total, either form.
func decodeTotal(raw json.RawMessage) (int64, error) {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var t struct {
		Value *int64 `json:"value"`
	}
	if err := json.Unmarshal(raw, &t); err != nil || t.Value == nil {
		return 0, errors.New(`elastic audit log: search: the answer has no "hits.total"`)
	}
	return *t.Value, nil
}

// Ready answers nil when the cluster answers GET {url}/ and accepts the
// credentials (a 403, for a key allowed only on the index, counts as an
// answer).
func (l *Log) Ready(ctx context.Context) error {
	return l.call(ctx, "ping", http.MethodGet, "/", "", nil, func(status int, r io.Reader) error {
		if status == http.StatusUnauthorized || status >= 500 {
			return l.statusError("ping", status, r)
		}
		return nil
	})
}

// Readiness reports the cluster in /readyz as "audit". It is not required:
// while it is down entries wait and are retried, and requests are served.
func (l *Log) Readiness() ports.Dependency {
	return ports.Dependency{Name: "audit", Check: l.Ready}
}

// call sends one request, bounded by the timeout, and hands the answer's
// status and body to handle.
func (l *Log) call(ctx context.Context, op, method, path, contentType string, body []byte, handle func(status int, body io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, rd)
	if err != nil {
		return fmt.Errorf("elastic audit log: %s: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if l.auth != "" {
		req.Header.Set("Authorization", l.auth)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("elastic audit log: %s: %w", op, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody)) // reuse the connection
		_ = resp.Body.Close()
	}()
	return handle(resp.StatusCode, resp.Body)
}

// statusError reports an answer other than 2xx, quoting its start. 5xx,
// 429 and 408 wrap core.ErrUnavailable.
func (l *Log) statusError(op string, status int, r io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	msg := fmt.Sprintf("elastic audit log: %s: status %d: %s", op, status, l.excerpt(b))
	if status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
		return fmt.Errorf("%s: %w", msg, core.ErrUnavailable)
	}
	return errors.New(msg)
}

// excerpt is the start of b on one line, without credentials.
func (l *Log) excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	for _, secret := range l.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return "(no body)"
	}
	return s
}

// utf8Start says whether b starts a UTF-8 sequence.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

var (
	_ ports.AuditLog  = (*Log)(nil)
	_ ports.Readiness = (*Log)(nil)
)
