package repotest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// seedOperators creates op-a … op-e in tenant A (and a decoy in tenant B) for
// the operator checks.
func seedOperators(f *fixture) {
	f.t.Helper()
	docs := []*item{
		{Title: "Alpha Widget", Qty: 1, Active: true, Amount: dec("9.5"), Due: at(0), Note: ptr("first")},
		{Title: "beta widget", Qty: 2, Active: false, Amount: dec("10"), Due: at(time.Hour), ClosedAt: ptr(at(30 * time.Minute))},
		{Title: "GAMMA gadget", Qty: 3, Active: true, Amount: dec("100.25"), Due: at(2 * time.Hour), Note: ptr("third")},
		{Title: "delta Gadget", Qty: 3, Active: false, Amount: dec("-3"), Due: at(3 * time.Hour), ClosedAt: ptr(at(90 * time.Minute))},
		{Title: "epsilon", Qty: 5, Active: true, Amount: dec("0.001"), Due: at(4 * time.Hour)},
	}
	for i, d := range docs {
		d.Name = fmt.Sprintf("op-%c", 'a'+i)
		f.create(f.ctx("A"), ItemDocType, d)
	}
	decoy := &item{Title: "Alpha Widget", Qty: 1, Active: true, Amount: dec("9.5"), Due: at(0)}
	decoy.Name = "op-z"
	f.create(f.ctx("B"), ItemDocType, decoy)
}

func flt(field string, op ports.Operator, v any) ports.Filter {
	return ports.Filter{Field: field, Op: op, Value: v}
}

func ops(letters string) []string {
	out := []string{}
	for _, c := range letters {
		out = append(out, fmt.Sprintf("op-%c", c))
	}
	return out
}

var listCases = []testCase{
	{"Operators", func(t *testing.T, f *fixture) {
		seedOperators(f)
		cases := []struct {
			filter ports.Filter
			want   string
		}{
			{flt("title", ports.OpEq, "beta widget"), "b"},
			{flt("title", ports.OpNe, "beta widget"), "acde"},
			{flt("name", ports.OpLt, "op-c"), "ab"},
			{flt("name", ports.OpLe, "op-c"), "abc"},
			{flt("name", ports.OpGt, "op-c"), "de"},
			{flt("name", ports.OpGe, "op-d"), "de"},
			{flt("qty", ports.OpEq, 3), "cd"},
			{flt("qty", ports.OpNe, 3), "abe"},
			{flt("qty", ports.OpLt, 3), "ab"},
			{flt("qty", ports.OpLe, 3), "abcd"},
			{flt("qty", ports.OpGt, 3), "e"},
			{flt("qty", ports.OpGe, 3), "cde"},
			{flt("active", ports.OpEq, true), "ace"},
			{flt("active", ports.OpEq, false), "bd"},
			{flt("active", ports.OpNe, true), "bd"},
			{flt("amount", ports.OpEq, dec("10.00")), "b"},
			{flt("amount", ports.OpNe, dec("10")), "acde"},
			{flt("amount", ports.OpLt, dec("9.5")), "de"},
			{flt("amount", ports.OpLe, dec("9.50")), "ade"},
			{flt("amount", ports.OpGt, dec("10")), "c"},
			{flt("amount", ports.OpGe, dec("10")), "bc"},
			{flt("amount", ports.OpLt, dec("0")), "d"},
			{flt("amount", ports.OpIn, []any{dec("10"), dec("-3")}), "bd"},
			{flt("amount", ports.OpNotIn, []any{dec("10"), dec("-3")}), "ace"},
			{flt("due", ports.OpEq, at(time.Hour)), "b"},
			{flt("due", ports.OpNe, at(time.Hour)), "acde"},
			{flt("due", ports.OpLt, at(2*time.Hour)), "ab"},
			{flt("due", ports.OpLe, at(2*time.Hour)), "abc"},
			{flt("due", ports.OpGt, at(2*time.Hour)), "de"},
			{flt("due", ports.OpGe, at(2*time.Hour)), "cde"},
			{flt("due", ports.OpIn, []any{at(0), at(4 * time.Hour)}), "ae"},
			{flt("due", ports.OpNotIn, []any{at(0), at(4 * time.Hour)}), "bcd"},
			{flt("closed_at", ports.OpIsNull, nil), "ace"},
			{flt("closed_at", ports.OpIsNotNull, nil), "bd"},
			{flt("closed_at", ports.OpGt, at(time.Hour)), "d"},
			{flt("note", ports.OpIsNull, nil), "bde"},
			{flt("note", ports.OpIsNotNull, nil), "ac"},
			{flt("note", ports.OpEq, "third"), "c"},
			{flt("name", ports.OpEq, "op-c"), "c"},
			{flt("name", ports.OpIn, []any{"op-a", "op-c", "op-x", "op-z"}), "ac"},
			{flt("name", ports.OpNotIn, []any{"op-a"}), "bcde"},
			{flt("title", ports.OpIn, []any{"Alpha Widget", "epsilon"}), "ae"},
			{flt("qty", ports.OpIn, []any{1, 5}), "ae"},
			{flt("qty", ports.OpNotIn, []any{1, 5}), "bcd"},
			{flt("active", ports.OpIn, []any{false}), "bd"},
			{flt("title", ports.OpIn, []any{}), ""},
			{flt("qty", ports.OpIn, []any{}), ""},
			{flt("title", ports.OpNotIn, []any{}), "abcde"},
			{flt("qty", ports.OpNotIn, []any{}), "abcde"},
			{flt("title", ports.OpLike, "%widget%"), "ab"},
			{flt("title", ports.OpLike, "%GADGET"), "cd"},
			{flt("title", ports.OpLike, "alpha widget"), "a"},
			{flt("title", ports.OpLike, "B_TA%"), "b"},
			{flt("title", ports.OpLike, "%a%"), "abcd"},
			{flt("name", ports.OpLike, "op-%"), "abcde"},
			{flt("title", ports.OpLike, "widget"), ""},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s %s %v", c.filter.Field, c.filter.Op, c.filter.Value), func(t *testing.T) {
				got, total := f.list(f.ctx("A"), ItemDocType, ports.Query{Filters: []ports.Filter{c.filter}, Limit: 100})
				assertSameNames(t, ops(c.want), got)
				assert.EqualValues(t, len(c.want), total, "total")
			})
		}
	}},
	{"FiltersAreANDed", func(t *testing.T, f *fixture) {
		seedOperators(f)
		got, total := f.list(f.ctx("A"), ItemDocType, ports.Query{Filters: []ports.Filter{
			flt("active", ports.OpEq, true),
			flt("qty", ports.OpGe, 3),
		}})
		assertSameNames(t, ops("ce"), got)
		assert.EqualValues(t, 2, total)
		got, total = f.list(f.ctx("A"), ItemDocType, ports.Query{Filters: []ports.Filter{
			flt("title", ports.OpLike, "%widget%"),
			flt("title", ports.OpNotIn, []any{}),
			flt("closed_at", ports.OpIsNull, nil),
		}})
		assertSameNames(t, ops("a"), got)
		assert.EqualValues(t, 1, total)
		got, total = f.list(f.ctx("A"), ItemDocType, ports.Query{Filters: []ports.Filter{
			flt("title", ports.OpLike, "%"),
			flt("name", ports.OpIn, []any{}),
		}})
		assert.Empty(t, got, "in [] matches nothing, whatever the other filters")
		assert.EqualValues(t, 0, total)
	}},
	{"InAcceptsAnySlice", func(t *testing.T, f *fixture) {
		seedOperators(f)
		cases := []struct {
			filter ports.Filter
			want   string
		}{
			{flt("name", ports.OpIn, []string{"op-a", "op-c"}), "ac"},
			{flt("name", ports.OpNotIn, []string{"op-a", "op-c"}), "bde"},
			{flt("qty", ports.OpIn, []int{1, 5}), "ae"},
			{flt("title", ports.OpIn, []string{}), ""},
		}
		for _, c := range cases {
			res, err := f.r.List(f.ctx("A"), ItemDocType, ports.Query{Filters: []ports.Filter{c.filter}})
			if assert.NoError(t, err, "%s %s %#v: the port says Value is a slice", c.filter.Field, c.filter.Op, c.filter.Value) {
				assertSameNames(t, ops(c.want), names(t, res.Items), "%s %s %#v", c.filter.Field, c.filter.Op, c.filter.Value)
			}
		}
	}},
	{"TimesCompareAsInstantsAcrossZones", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		plus2, minus5, plus9 := time.FixedZone("+02", 2*3600), time.FixedZone("-05", -5*3600), time.FixedZone("+09", 9*3600)
		ten := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		docs := map[string]time.Time{
			"tz-x": ten.In(plus2),                            // 10:00Z written as 12:00+02:00
			"tz-y": ten.Add(time.Hour).In(minus5),            // 11:00Z written as 06:00-05:00
			"tz-z": ten.Add(30 * time.Minute),                // 10:30Z
			"tz-w": ten.Add(-24 * time.Hour).Add(-time.Hour), // 09:00Z the day before, in UTC
		}
		for name, due := range docs {
			d := &item{Title: name, Due: due}
			d.Name = name
			f.create(ctx, ItemDocType, d)
		}
		got, _ := f.list(ctx, ItemDocType, ports.Query{Orders: []ports.Order{{Field: "due"}}})
		assert.Equal(t, []string{"tz-w", "tz-x", "tz-z", "tz-y"}, got, "order by due follows the instants")
		got, _ = f.list(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{flt("due", ports.OpLt, ten.Add(45*time.Minute))}})
		assertSameNames(t, []string{"tz-w", "tz-x", "tz-z"}, got, "due < 10:45Z")
		got, _ = f.list(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{flt("due", ports.OpGt, ten.Add(15*time.Minute).In(plus9))}})
		assertSameNames(t, []string{"tz-z", "tz-y"}, got, "due > 19:15+09:00 (10:15Z)")
		got, _ = f.list(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{flt("due", ports.OpEq, ten.Add(time.Hour))}})
		assertSameNames(t, []string{"tz-y"}, got, "due = 11:00Z")
		// A pointer value (how a nullable time filter arrives) compares as an instant too.
		half := ten.Add(30 * time.Minute).In(plus2)
		got, _ = f.list(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{flt("due", ports.OpGe, &half)}})
		assertSameNames(t, []string{"tz-z", "tz-y"}, got, "due >= *(12:30+02:00)")
	}},
	{"OrderByDecimalAndTime", func(t *testing.T, f *fixture) {
		seedOperators(f)
		order := func(field string, desc bool) []string {
			got, _ := f.list(f.ctx("A"), ItemDocType, ports.Query{Orders: []ports.Order{{Field: field, Desc: desc}}})
			return got
		}
		assert.Equal(t, ops("deabc"), order("amount", false), "amount asc sorts by value (-3, 0.001, 9.5, 10, 100.25)")
		assert.Equal(t, ops("cbaed"), order("amount", true), "amount desc")
		assert.Equal(t, ops("abcde"), order("due", false), "due asc")
		assert.Equal(t, ops("edcba"), order("due", true), "due desc")
		assert.Equal(t, ops("abcde"), order("name", false), "name asc")
		assert.Equal(t, ops("edcba"), order("name", true), "name desc")
		got := order("qty", true)
		assert.Equal(t, "op-e", got[0])
		assert.ElementsMatch(t, ops("cd"), got[1:3])
		assert.Equal(t, ops("ba"), got[3:])

		got, _ = f.list(f.ctx("A"), ItemDocType, ports.Query{Orders: []ports.Order{{Field: "active", Desc: true}, {Field: "amount"}}})
		assert.Equal(t, ops("eacdb"), got, "several orders apply in turn")
	}},
	{"DefaultOrderFollowsTheDocType", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		var docs []*item
		for _, title := range []string{"first", "second", "third"} {
			d := sampleItem(title)
			f.create(ctx, ItemDocType, d)
			docs = append(docs, d)
			waitPast(t, d.ModifiedAt) // the next one is modified later
		}
		require.NoError(t, f.r.Update(ctx, ItemDocType, docs[0]))
		got, _ := f.list(ctx, ItemDocType, ports.Query{})
		assert.Equal(t, []string{docs[0].Name, docs[2].Name, docs[1].Name}, got, "no order given: the DocType's default, modified_at desc")
	}},
	{"PagingCoversEveryDocumentOnce", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		const n = 25
		for _, i := range rand25() {
			d := &item{Title: fmt.Sprintf("doc %d", i), Qty: i % 4, Amount: dec(fmt.Sprint(i % 3))}
			d.Name = fmt.Sprintf("pg-%02d", i)
			f.create(ctx, ItemDocType, d)
		}
		for _, orders := range [][]ports.Order{
			{{Field: "qty"}},
			{{Field: "qty", Desc: true}},
			{{Field: "amount", Desc: true}, {Field: "qty"}},
			{{Field: "name", Desc: true}},
			{{Field: "active"}},
			nil,
		} {
			t.Run(fmt.Sprint(orders), func(t *testing.T) {
				all, total := f.list(ctx, ItemDocType, ports.Query{Orders: orders, Limit: 100})
				require.Len(t, all, n)
				assert.EqualValues(t, n, total)
				var paged []string
				for offset := 0; offset < n+7; offset += 7 {
					page, total := f.list(ctx, ItemDocType, ports.Query{Orders: orders, Limit: 7, Offset: offset})
					assert.EqualValues(t, n, total, "total at offset %d", offset)
					assert.LessOrEqual(t, len(page), 7)
					paged = append(paged, page...)
				}
				assert.Equal(t, all, paged, "the pages, in turn, are the full list: no document twice, none missing")
				again, _ := f.list(ctx, ItemDocType, ports.Query{Orders: orders, Limit: 100})
				assert.Equal(t, all, again, "the order is stable")
				if len(orders) == 1 && orders[0].Field == "qty" {
					assertTiesByName(t, f, all, orders[0].Desc)
				}
			})
		}
	}},
	{"TotalCountsEveryMatch", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		for i := range 12 {
			d := &item{Title: "t", Qty: i % 2}
			d.Name = fmt.Sprintf("tc-%02d", i)
			f.create(ctx, ItemDocType, d)
		}
		q := ports.Query{Filters: []ports.Filter{flt("qty", ports.OpEq, 1)}, Orders: []ports.Order{{Field: "name"}}, Limit: 2}
		got, total := f.list(ctx, ItemDocType, q)
		assert.Equal(t, []string{"tc-01", "tc-03"}, got)
		assert.EqualValues(t, 6, total, "Total ignores Limit")

		q.Offset = 4
		got, total = f.list(ctx, ItemDocType, q)
		assert.Equal(t, []string{"tc-09", "tc-11"}, got)
		assert.EqualValues(t, 6, total, "Total ignores Offset")

		q.Offset = 100
		got, total = f.list(ctx, ItemDocType, q)
		assert.Empty(t, got, "an offset past the end is an empty page")
		assert.EqualValues(t, 6, total)

		q.Offset, q.SkipCount = 0, true
		got, total = f.list(ctx, ItemDocType, q)
		assert.Equal(t, []string{"tc-01", "tc-03"}, got)
		assert.EqualValues(t, -1, total, "SkipCount leaves Total at -1")

		got, total = f.list(ctx, ItemDocType, ports.Query{})
		assert.EqualValues(t, 12, total)
		assert.NotEmpty(t, got, "Limit 0 is the repository default, not zero documents")
		assert.LessOrEqual(t, len(got), 12)
	}},
	{"UnknownFieldsAreRejected", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		f.create(ctx, ItemDocType, sampleItem("survivor"))
		bad := []string{
			"amount; DROP TABLE contract_item",
			`title" = '' OR 1=1 --`,
			"title desc",
			"nope",
			"",
			"Title",
		}
		for _, field := range bad {
			_, err := f.r.List(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{flt(field, ports.OpEq, "x")}})
			assert.ErrorIs(t, err, core.ErrValidation, "filter on %q", field)
			_, err = f.r.List(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{flt(field, ports.OpIsNull, nil)}})
			assert.ErrorIs(t, err, core.ErrValidation, "filter %q is null", field)
			_, err = f.r.List(ctx, ItemDocType, ports.Query{Orders: []ports.Order{{Field: field}}})
			assert.ErrorIs(t, err, core.ErrValidation, "order by %q", field)
		}
		got, total := f.list(ctx, ItemDocType, ports.Query{})
		assert.Len(t, got, 1, "the table is intact")
		assert.EqualValues(t, 1, total)
	}},
	{"BadOperatorsAndValuesAreRejected", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		f.create(ctx, ItemDocType, sampleItem("survivor"))
		for _, filter := range []ports.Filter{
			flt("title", "~", "x"),
			flt("title", "", "x"),
			flt("title", "LIKE'", "x"),
			flt("title", ports.OpIn, "not a list"),
			flt("qty", ports.OpNotIn, 3),
		} {
			_, err := f.r.List(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{filter}})
			assert.ErrorIs(t, err, core.ErrValidation, "%+v", filter)
		}
		assert.EqualValues(t, 1, f.count(ctx, ItemDocType))
	}},
}

// assertTiesByName checks documents with equal qty are ordered by name, in
// one direction, so that paging over ties is deterministic.
func assertTiesByName(t *testing.T, f *fixture, names []string, desc bool) {
	t.Helper()
	qty := map[string]int{}
	for _, n := range names {
		qty[n] = f.getItem(f.ctx("A"), n).Qty
	}
	dir := 0
	for i := 1; i < len(names); i++ {
		a, b := names[i-1], names[i]
		if desc {
			assert.GreaterOrEqual(t, qty[a], qty[b], "qty desc")
		} else {
			assert.LessOrEqual(t, qty[a], qty[b], "qty asc")
		}
		if qty[a] != qty[b] {
			continue
		}
		d := 1
		if a > b {
			d = -1
		}
		if dir == 0 {
			dir = d
		}
		assert.Equal(t, dir, d, "ties are ordered by name, always in the same direction: %s then %s", a, b)
	}
}

// rand25 is 0…24 in a fixed scrambled order, so insertion order differs from
// name order.
func rand25() []int {
	out := make([]int, 25)
	for i := range out {
		out[i] = (i * 7) % 25
	}
	slices.Reverse(out)
	return out
}
