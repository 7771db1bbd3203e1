package doctype_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// uuidMillis returns the Unix milliseconds in a UUIDv7's first 48 bits.
func uuidMillis(t *testing.T, id string) int64 {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", "")[:12])
	require.NoError(t, err)
	var ms int64
	for _, c := range b {
		ms = ms<<8 | int64(c)
	}
	return ms
}

func TestNewUUIDv7Format(t *testing.T) {
	before := time.Now().UnixMilli()
	id := doctype.NewUUIDv7()
	after := time.Now().UnixMilli()

	assert.Len(t, id, 36)
	assert.Regexp(t, uuidV7, id, "version nibble 7, variant 10xx, lowercase hex")
	ms := uuidMillis(t, id)
	assert.GreaterOrEqual(t, ms, before)
	assert.LessOrEqual(t, ms, after)
}

func TestNewUUIDv7StrictlyIncreasing(t *testing.T) {
	prev := doctype.NewUUIDv7()
	for i := range 20000 {
		id := doctype.NewUUIDv7()
		require.Regexp(t, uuidV7, id)
		require.Greater(t, id, prev, "id %d", i)
		prev = id
	}
}

func TestNewUUIDv7ConcurrentCallsAreUniqueAndOrdered(t *testing.T) {
	const workers, each = 8, 2000
	results := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = doctype.NewUUIDv7()
			}
			results[w] = ids
		})
	}
	wg.Wait()

	seen := make(map[string]bool, workers*each)
	for w, ids := range results {
		for i, id := range ids {
			require.Regexp(t, uuidV7, id)
			require.False(t, seen[id], "duplicate id %s", id)
			seen[id] = true
			if i > 0 {
				require.Greater(t, id, ids[i-1], "worker %d id %d", w, i)
			}
		}
	}
	assert.Len(t, seen, workers*each)
}

// counter is a fake series counter: one sequence per key, recording the keys asked for.
type counter struct {
	mu   sync.Mutex
	next map[string]int64
	keys []string
}

func newCounter() *counter { return &counter{next: map[string]int64{}} }

func (c *counter) Next(key string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, key)
	c.next[key]++
	return c.next[key], nil
}

func fixed(n int64) doctype.Counter {
	return func(string) (int64, error) { return n, nil }
}

func TestNewNameDefaultsToUUIDv7(t *testing.T) {
	for _, naming := range []string{"", "uuid"} {
		t.Run(naming, func(t *testing.T) {
			dt := register[Note](t, doctype.Meta{Name: "Note", Naming: naming})
			assert.False(t, dt.IsSeries())
			doc := &Note{}
			doc.Name = "ignored"
			a, err := dt.NewName(doc, time.Now(), nil)
			require.NoError(t, err)
			b, err := dt.NewName(&Note{}, time.Now(), nil)
			require.NoError(t, err)
			assert.Regexp(t, uuidV7, a)
			assert.Regexp(t, uuidV7, b)
			assert.Greater(t, b, a)
		})
	}
}

func TestNewNameSeries(t *testing.T) {
	now := time.Date(2026, time.March, 7, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		pattern string
		n       int64
		want    string
		key     string
	}{
		{"INV-.YYYY.-.#####", 1, "INV-2026-00001", "INV-2026-"},
		{"INV-.YYYY.-.#####", 42, "INV-2026-00042", "INV-2026-"},
		{"INV-.YYYY.-.#####", 99999, "INV-2026-99999", "INV-2026-"},
		{"INV-.YYYY.-.#####", 123456, "INV-2026-123456", "INV-2026-"},
		{"INV-.###", 1234567, "INV-1234567", "INV-"},
		{"SO-.YY.MM.DD.-.###", 7, "SO-260307-007", "SO-260307-"},
		{"PO.MM.#", 3, "PO033", "PO03"},
		{"#####", 12, "00012", ""},
		{"INV-.#####.-.YYYY", 5, "INV-00005-2026", "INV-"},
		{"..INV-..####..", 5, "INV-0005", "INV-"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.want, func(t *testing.T) {
			dt := register[Note](t, doctype.Meta{Name: "Note", Naming: tt.pattern})
			assert.True(t, dt.IsSeries())
			var keys []string
			next := func(key string) (int64, error) {
				keys = append(keys, key)
				return tt.n, nil
			}
			got, err := dt.NewName(&Note{}, now, next)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, []string{tt.key}, keys, "the counter key is the rendered prefix")
		})
	}
}

func TestNewNameSeriesUsesTheGivenTime(t *testing.T) {
	dt := register[Note](t, doctype.Meta{Name: "Note", Naming: "INV-.YYYY.-.#####"})
	c := newCounter()
	names := []string{}
	for _, at := range []time.Time{
		time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 31, 13, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		name, err := dt.NewName(&Note{}, at, c.Next)
		require.NoError(t, err)
		names = append(names, name)
	}
	assert.Equal(t, []string{"INV-2025-00001", "INV-2025-00002", "INV-2026-00001", "INV-2026-00002", "INV-2025-00003"}, names)
	assert.Equal(t, []string{"INV-2025-", "INV-2025-", "INV-2026-", "INV-2026-", "INV-2025-"}, c.keys)
}

func TestNewNameSeriesCounterErrors(t *testing.T) {
	dt := register[Note](t, doctype.Meta{Name: "Note", Naming: "INV-.#####"})
	boom := errors.New("boom")
	_, err := dt.NewName(&Note{}, time.Now(), func(string) (int64, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)

	_, err = dt.NewName(&Note{}, time.Now(), nil)
	assert.ErrorContains(t, err, "counter")
}

func TestNewNamePrompt(t *testing.T) {
	dt := register[Note](t, doctype.Meta{Name: "Note", Naming: "prompt"})
	assert.False(t, dt.IsSeries())

	doc := &Note{}
	doc.Name = "Meeting notes 2026-03-07"
	got, err := dt.NewName(doc, time.Now(), fixed(1))
	require.NoError(t, err)
	assert.Equal(t, "Meeting notes 2026-03-07", got)

	tests := []struct {
		name   string
		reason string
	}{
		{"", "is required"},
		{"   ", "is required"},
		{strings.Repeat("x", doctype.MaxNameLength+1), "at most 140"},
		{" padded", "spaces"},
		{"padded ", "spaces"},
		{"a/b", "'/'"},
		{"tab\there", "control"},
		{"nul\x00", "control"},
		{"line\nbreak", "control"},
	}
	for _, tt := range tests {
		t.Run(short(tt.name), func(t *testing.T) {
			doc := &Note{}
			doc.Name = tt.name
			_, err := dt.NewName(doc, time.Now(), nil)
			fe := fieldErrors(t, err)
			assert.Equal(t, []string{"name"}, fieldKeys(fe))
			assert.Contains(t, fe["name"], tt.reason)
		})
	}
}

func TestNewNameFromField(t *testing.T) {
	dt := register[Customer](t, doctype.Meta{Name: "Customer", Naming: "field:customer_name"})

	doc := &Customer{CustomerName: "ACME Corp."}
	doc.Name = "ignored"
	got, err := dt.NewName(doc, time.Now(), nil)
	require.NoError(t, err)
	assert.Equal(t, "ACME Corp.", got)

	for value, reason := range map[string]string{"": "is required", "A/B": "'/'", " ACME": "spaces"} {
		_, err := dt.NewName(&Customer{CustomerName: value}, time.Now(), nil)
		fe := fieldErrors(t, err)
		assert.Equal(t, []string{"customer_name"}, fieldKeys(fe), "%q", value)
		assert.Contains(t, fe["customer_name"], reason, "%q", value)
	}
}

func TestNewNameSingle(t *testing.T) {
	for _, naming := range []string{"", "prompt", "INV-.####"} {
		dt := register[Note](t, doctype.Meta{Name: "System Settings", IsSingle: true, Naming: naming})
		got, err := dt.NewName(&Note{}, time.Now(), nil)
		require.NoError(t, err, naming)
		assert.Equal(t, "System Settings", got, naming)
	}
}

func TestNewNameRejectsNonDocuments(t *testing.T) {
	dt := register[Note](t, doctype.Meta{Name: "Note"})
	_, err := dt.NewName(&NoBase{}, time.Now(), nil)
	assert.Error(t, err)
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name   string
		reason string // "" = valid
	}{
		{"INV-2026-00001", ""},
		{"ACME Corp.", ""},
		{"a", ""},
		{"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", ""},
		{"Ünïcödé naïve café", ""},
		{"with inner  spaces", ""},
		{strings.Repeat("x", 140), ""},
		{"", "is required"},
		{" ", "is required"},
		{"\t\n", "is required"},
		{strings.Repeat("x", 141), "must be at most 140 characters"},
		{" lead", "must not start or end with spaces"},
		{"trail ", "must not start or end with spaces"},
		{"trail\n", "must not start or end with spaces"},
		{"a/b", "must not contain '/'"},
		{"/", "must not contain '/'"},
		{"a\tb", "must not contain control characters"},
		{"a\x00b", "must not contain control characters"},
		{"a\x7fb", "must not contain control characters"},
		{"a\u0085b", "must not contain control characters"},
	}
	for _, tt := range tests {
		t.Run(short(tt.name), func(t *testing.T) {
			err := doctype.CheckName(tt.name)
			if tt.reason == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.reason, err.Error())
		})
	}
}

// CheckName documents its limit in characters, not bytes: a name of 140
// non-ASCII characters is valid, 141 is not.
func TestCheckNameCountsCharactersNotBytes(t *testing.T) {
	assert.NoError(t, doctype.CheckName(strings.Repeat("é", doctype.MaxNameLength)), "140 characters (280 bytes)")
	assert.NoError(t, doctype.CheckName(strings.Repeat("名", 100)), "100 characters (300 bytes)")
	assert.Error(t, doctype.CheckName(strings.Repeat("é", doctype.MaxNameLength+1)))
}

// short keeps subtest names readable.
func short(s string) string {
	if len(s) > 24 {
		return fmt.Sprintf("%.12s…(%d bytes)", s, len(s))
	}
	return s
}
