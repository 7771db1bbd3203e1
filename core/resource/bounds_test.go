package resource_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

func titleNot(n int) []ports.Filter {
	fs := make([]ports.Filter, n)
	for i := range fs {
		fs[i] = ports.Filter{Field: "title", Op: ports.OpNe, Value: fmt.Sprint("x", i)}
	}
	return fs
}

func titles(n int) []string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = fmt.Sprint("t", i)
	}
	return vs
}

// nested returns a filter of OR-groups nested depth deep around one condition.
func nested(depth int) ports.Filter {
	f := ports.Filter{Field: "title", Op: ports.OpNe, Value: "x"}
	for range depth {
		f = ports.Filter{Any: [][]ports.Filter{{f}}}
	}
	return f
}

// TestListBounds checks the bounds for Go callers, who pass typed values
// and OR-groups the HTTP API never produces.
func TestListBounds(t *testing.T) {
	e := newEnv(t, &policy{})
	e.seed(t, "t1", "n1", "ann", "first")
	long := strings.Repeat("x", resource.MaxFilterValueBytes)
	first := "first"
	accepted := []struct {
		name string
		p    resource.ListParams
	}{
		{"max filters", resource.ListParams{Filters: titleNot(resource.MaxFilters)}},
		{"max filters counting groups", resource.ListParams{Filters: append(titleNot(resource.MaxFilters-3),
			ports.Filter{Any: [][]ports.Filter{titleNot(1), titleNot(1)}})}},
		{"max group depth", resource.ListParams{Filters: []ports.Filter{nested(resource.MaxFilterDepth)}}},
		{"max values as a typed slice", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpNotIn, Value: titles(resource.MaxFilterValues)}}}},
		{"max values as a StringList", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpNotIn, Value: doctype.StringList(titles(resource.MaxFilterValues))}}}},
		{"max values as text", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpNotIn, Value: strings.Join(titles(resource.MaxFilterValues), ",")}}}},
		{"max values across filters", resource.ListParams{Filters: []ports.Filter{
			{Field: "title", Op: ports.OpNotIn, Value: titles(resource.MaxFilterValues - 2)},
			{Field: "title", Op: ports.OpNe, Value: "x"},
			{Field: "priority", Op: ports.OpGe, Value: 0},
			{Field: "title", Op: ports.OpIsNotNull, Value: []any{"ignored"}},
		}}},
		{"max-length like", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpLike, Value: "%" + long[2:] + "%"}}}},
		{"typed scalars", resource.ListParams{Filters: []ports.Filter{
			{Field: "title", Op: ports.OpEq, Value: &first},
			{Field: "priority", Op: ports.OpEq, Value: json.Number("1")},
			{Field: "priority", Op: ports.OpLt, Value: int64(2)},
			{Field: "priority", Op: ports.OpIn, Value: []int{1, 2}},
		}}},
		{"max order terms", resource.ListParams{Orders: func() []ports.Order {
			os := make([]ports.Order, resource.MaxOrderTerms)
			for i := range os {
				os[i] = ports.Order{Field: "title", Desc: i%2 == 0}
			}
			return os
		}()}},
		{"max fields", resource.ListParams{Fields: strings.Fields(strings.Repeat("title ", resource.MaxFields))}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.List(as("t1", "ann"), "Note", tc.p)
			assert.NoError(t, err)
		})
	}

	refused := []struct {
		name   string
		p      resource.ListParams
		field  string
		reason string
	}{
		{"too many filters", resource.ListParams{Filters: titleNot(resource.MaxFilters + 1)}, "filters", "at most 50 filters"},
		{"too many filters counting groups", resource.ListParams{Filters: append(titleNot(resource.MaxFilters-2),
			ports.Filter{Any: [][]ports.Filter{titleNot(1), titleNot(1)}})}, "filters", "at most 50 filters"},
		{"groups too deep", resource.ListParams{Filters: []ports.Filter{nested(resource.MaxFilterDepth + 1)}}, "filters", "nest at most 3 deep"},
		{"too many values", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpIn, Value: titles(resource.MaxFilterValues + 1)}}}, "filters", "at most 1000 values"},
		{"too many values as text", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpIn, Value: strings.Join(titles(resource.MaxFilterValues+1), ",")}}}, "filters", "at most 1000 values"},
		{"too many values across groups", resource.ListParams{Filters: []ports.Filter{{Any: [][]ports.Filter{
			{{Field: "title", Op: ports.OpIn, Value: titles(resource.MaxFilterValues)}},
			{{Field: "title", Op: ports.OpEq, Value: "x"}},
		}}}}, "filters", "at most 1000 values"},
		{"too long a value", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpEq, Value: long + "x"}}}, "filters.title", "at most 1024 bytes"},
		{"too long a number", resource.ListParams{Filters: []ports.Filter{{Field: "priority", Op: ports.OpEq, Value: json.Number(strings.Repeat("9", resource.MaxFilterValueBytes+1))}}}, "filters.priority", "at most 1024 bytes"},
		{"too long an element", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpIn, Value: []string{"a", long + "x"}}}}, "filters.title", "at most 1024 bytes"},
		{"too long a value in a group", resource.ListParams{Filters: []ports.Filter{{Any: [][]ports.Filter{{{Field: "title", Op: ports.OpLike, Value: long + "x"}}}}}}, "filters.title", "at most 1024 bytes"},
		{"a list for =", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpEq, Value: []any{"a"}}}}, "filters.title", "must be a single value"},
		{"an object for =", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpEq, Value: map[string]any{"a": "b"}}}}, "filters.title", "must be a single value"},
		{"a struct for =", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpEq, Value: struct{ A string }{"a"}}}}, "filters.title", "must be a single value"},
		{"a nested list for in", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpIn, Value: []any{"a", []any{"b"}}}}}, "filters.title", "flat list"},
		{"an object for in", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpIn, Value: map[string]any{"a": "b"}}}}, "filters.title", "flat list"},
		{"too many order terms", resource.ListParams{Orders: make([]ports.Order, resource.MaxOrderTerms+1)}, "order_by", "at most 10 sort terms"},
		{"too many fields", resource.ListParams{Fields: strings.Fields(strings.Repeat("title ", resource.MaxFields+1))}, "fields", "at most 200 fields"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.List(as("t1", "ann"), "Note", tc.p)
			require.ErrorIs(t, err, core.ErrValidation)
			got := fieldsOf(t, err)
			assert.Contains(t, got[tc.field], tc.reason, "%v", got)
		})
	}
}

// TestListBoundsComeFirst: an oversized list is refused before any filter is
// coerced, and with every other parameter's problem.
func TestListBoundsComeFirst(t *testing.T) {
	e := newEnv(t, &policy{})
	p := resource.ListParams{Limit: -1, Filters: append(titleNot(resource.MaxFilters), ports.Filter{Field: "nope", Op: ports.OpEq, Value: "x"})}
	_, err := e.svc.List(as("t1", "ann"), "Note", p)
	got := fieldsOf(t, err)
	assert.Equal(t, map[string]string{"limit": "must not be negative", "filters": "at most 50 filters"}, got)
}

func TestCheckFieldsBound(t *testing.T) {
	e := newEnv(t, &policy{})
	dt := e.mustDocType(t, "Note")
	assert.NoError(t, e.svc.CheckFields(dt, strings.Fields(strings.Repeat("title ", resource.MaxFields))))
	err := e.svc.CheckFields(dt, strings.Fields(strings.Repeat("nope ", resource.MaxFields+1)))
	assert.Equal(t, map[string]string{"fields": "at most 200 fields"}, fieldsOf(t, err))
}
