package web_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/fmtest"
)

// listQuery builds a list URL of dt from parameters (JSON-encoded unless strings).
func listQuery(t *testing.T, dt string, params map[string]any) string {
	t.Helper()
	q := url.Values{}
	for k, v := range params {
		s, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			require.NoError(t, err)
			s = string(b)
		}
		q.Set(k, s)
	}
	return "/api/v1/resource/" + url.PathEscape(dt) + "?" + q.Encode()
}

// cycle returns n names taken in turn from names.
func cycle(names []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = names[i%len(names)]
	}
	return out
}

// orderBy returns an order_by of n terms over fields, alternating directions.
func orderBy(fields []string, n int) string {
	terms := cycle(fields, n)
	for i := range terms {
		if i%2 == 1 {
			terms[i] += " desc"
		}
	}
	return strings.Join(terms, ", ")
}

// notEqual returns n filters name != "x<i>" (each matches every document).
func notEqual(n int) [][]any {
	fs := make([][]any, n)
	for i := range fs {
		fs[i] = []any{"name", "!=", "x" + strconv.Itoa(i)}
	}
	return fs
}

func values(n int) []any {
	vs := make([]any, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("v%04d", i)
	}
	return vs
}

// likeOf returns a LIKE pattern of exactly n bytes.
func likeOf(n int) string { return "%" + strings.Repeat("a", n-2) + "%" }

// TestListBoundsEveryDocType sends, for every registered DocType on every
// database, the largest accepted value of each bounded list parameter (2xx)
// and one past each bound (400 naming the parameter and its limit). No
// request may fail on the server: none may leave an Error Log.
func TestListBoundsEveryDocType(t *testing.T) {
	for _, driver := range fmtest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			t.Parallel()
			app := fmtest.New(t, driver, frameworkm.WithDocType[Note](noteMeta))
			c := app.As(fmtest.Admin())
			note := c.Post("/api/v1/resource/Note", map[string]any{"title": "hello"}).RequireStatus(t, http.StatusCreated).Data(t)["name"].(string)
			dts := app.Registry.All()
			require.Greater(t, len(dts), 5, "framework DocTypes are registered")
			for _, dt := range dts {
				t.Run(dt.Name, func(t *testing.T) { checkListBounds(t, c, dt, note) })
			}
			errs, total := c.Get(listQuery(t, "Error Log", map[string]any{"limit": "1"})).RequireStatus(t, http.StatusOK).List(t)
			assert.Zero(t, total, "no request may fail on the server: %v", errs)
		})
	}
}

// checkListBounds checks the bounds on dt; note is the name of the one Note.
func checkListBounds(t *testing.T, c *fmtest.Client, dt *doctype.DocType, note string) {
	var visible, sortable []string
	for _, f := range dt.Fields() {
		if f.Hidden {
			continue
		}
		visible = append(visible, f.Name)
		if f.Sortable {
			sortable = append(sortable, f.Name)
		}
	}
	require.NotEmpty(t, sortable)

	// One "in" list with every value but those of the other filters, which
	// each carry a LIKE pattern of the largest size.
	likes := resource.MaxFilters - 1
	everything := [][]any{{"name", "not in", values(resource.MaxFilterValues - likes)}}
	for range likes {
		everything = append(everything, []any{"name", "like", likeOf(resource.MaxFilterValueBytes)})
	}
	for _, tc := range []struct {
		name   string
		params map[string]any
		notes  int // how many of the one Note match
	}{
		{"max filters", map[string]any{"filters": notEqual(resource.MaxFilters)}, 1},
		{"max order terms", map[string]any{"order_by": orderBy(sortable, resource.MaxOrderTerms)}, 1},
		{"max fields", map[string]any{"fields": cycle(visible, resource.MaxFields)}, 1},
		{"max fields comma-separated", map[string]any{"fields": strings.Join(cycle(visible, resource.MaxFields), ",")}, 1},
		{"max values in an in list", map[string]any{"filters": [][]any{{"name", "in", append(values(resource.MaxFilterValues-1), note)}}}, 1},
		{"max values in a not in list", map[string]any{"filters": [][]any{{"name", "not in", values(resource.MaxFilterValues)}}}, 1},
		{"max-length like", map[string]any{"filters": [][]any{{"name", "like", likeOf(resource.MaxFilterValueBytes)}}}, 0},
		{"max offset", map[string]any{"offset": strconv.FormatInt(math.MaxInt64, 10)}, 0},
		{"every bound at once", map[string]any{
			"filters":  everything,
			"order_by": orderBy(sortable, resource.MaxOrderTerms),
			"fields":   cycle(visible, resource.MaxFields),
			"limit":    strconv.Itoa(resource.MaxLimit),
		}, 0},
	} {
		res := c.Get(listQuery(t, dt.Name, tc.params))
		if !assert.Equal(t, http.StatusOK, res.Status, "%s: %.300s", tc.name, res.Body) {
			continue
		}
		items, _ := res.List(t)
		if dt.Name == "Note" {
			assert.Len(t, items, tc.notes, "%s: the filters apply", tc.name)
		}
	}

	for _, tc := range []struct {
		name   string
		params map[string]any
		field  string // the error names it
		limit  int    // and says this limit
	}{
		{"too many filters", map[string]any{"filters": notEqual(resource.MaxFilters + 1)}, "filters", resource.MaxFilters},
		{"too many order terms", map[string]any{"order_by": orderBy(sortable, resource.MaxOrderTerms+1)}, "order_by", resource.MaxOrderTerms},
		{"too many fields", map[string]any{"fields": cycle(visible, resource.MaxFields+1)}, "fields", resource.MaxFields},
		{"too many values in an in list", map[string]any{"filters": [][]any{{"name", "in", values(resource.MaxFilterValues + 1)}}}, "filters", resource.MaxFilterValues},
		{"too many values in all", map[string]any{"filters": [][]any{
			{"name", "in", values(resource.MaxFilterValues / 2)},
			{"name", "not in", values(resource.MaxFilterValues / 2)},
			{"name", "!=", "x"},
		}}, "filters", resource.MaxFilterValues},
		{"too long a like", map[string]any{"filters": [][]any{{"name", "like", likeOf(resource.MaxFilterValueBytes + 1)}}}, "filters.name", resource.MaxFilterValueBytes},
		{"too long a value", map[string]any{"filters": map[string]any{"name": strings.Repeat("x", resource.MaxFilterValueBytes+1)}}, "filters.name", resource.MaxFilterValueBytes},
		{"too long an in element", map[string]any{"filters": [][]any{{"name", "in", []any{"a", strings.Repeat("x", resource.MaxFilterValueBytes+1)}}}}, "filters.name", resource.MaxFilterValueBytes},
		{"raw filters too long", map[string]any{"filters": `[["name","like","` + strings.Repeat("x", 64<<10) + `"]]`}, "filters", 64 << 10},
		{"raw fields too long", map[string]any{"fields": strings.Repeat("name,", 4<<10)}, "fields", 16 << 10},
		{"raw order_by too long", map[string]any{"order_by": strings.Repeat("name,", 1<<10)}, "order_by", 4 << 10},
	} {
		res := c.Get(listQuery(t, dt.Name, tc.params))
		if !assert.Equal(t, http.StatusBadRequest, res.Status, "%s: %.300s", tc.name, res.Body) {
			continue
		}
		e := res.Err(t)
		assert.Equal(t, "validation_error", e.Error.Code, tc.name)
		assert.Contains(t, e.Error.Fields[tc.field], strconv.Itoa(tc.limit), "%s: %v", tc.name, e.Error.Fields)
	}

	for _, tc := range []struct {
		name    string
		filters any
	}{
		{"a list where a value belongs", [][]any{{"name", "=", []any{"a"}}}},
		{"an object where a value belongs", map[string]any{"name": map[string]any{"a": 1}}},
		{"a list in an in list", [][]any{{"name", "in", []any{[]any{"a"}}}}},
		{"an object in a not in list", [][]any{{"name", "not in", []any{"a", map[string]any{"b": "c"}}}}},
		{"a list where a like pattern belongs", [][]any{{"name", "like", []any{"%a%"}}}},
	} {
		res := c.Get(listQuery(t, dt.Name, map[string]any{"filters": tc.filters}))
		if assert.Equal(t, http.StatusBadRequest, res.Status, "%s: %.300s", tc.name, res.Body) {
			assert.Contains(t, res.Err(t).Error.Fields, "filters.name", tc.name)
		}
	}
}

// TestGetFieldsBound bounds the projection of a single document too.
func TestGetFieldsBound(t *testing.T) {
	app := newApp(t)
	c := app.As(fmtest.Admin())
	path := "/api/v1/resource/System%20Settings/System%20Settings?fields="
	c.Get(path+strings.Join(cycle([]string{"name", "version"}, resource.MaxFields), ",")).RequireStatus(t, http.StatusOK)
	res := c.Get(path+strings.Join(cycle([]string{"name", "version"}, resource.MaxFields+1), ",")).RequireStatus(t, http.StatusBadRequest)
	assert.Contains(t, res.Err(t).Error.Fields["fields"], strconv.Itoa(resource.MaxFields))
	res = c.Get(path+strings.Repeat("name,", 4<<10)).RequireStatus(t, http.StatusBadRequest)
	assert.Contains(t, res.Err(t).Error.Fields["fields"], strconv.Itoa(16<<10))
}
