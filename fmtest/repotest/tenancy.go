package repotest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

var noTenantCases = []testCase{
	{"EveryOperationFailsAndWritesNothing", func(t *testing.T, f *fixture) {
		ctxA := f.ctx("A")
		existing := sampleItem("existing")
		f.create(ctxA, ItemDocType, existing)

		contexts := []struct {
			name string
			ctx  context.Context
		}{
			{"no tenant", t.Context()},
			{"empty tenant id", ports.WithTenantID(t.Context(), "")},
			{"nil tenant", ports.WithTenant(t.Context(), nil)},
			{"a user of tenant A but no tenant", ports.WithUser(t.Context(), &ports.UserContext{ID: "u", TenantID: "A"})},
		}
		for _, c := range contexts {
			_, err := f.r.Get(c.ctx, ItemDocType, existing.Name)
			assert.ErrorIs(t, err, core.ErrNoTenant, "%s: Get", c.name)

			_, err = f.r.List(c.ctx, ItemDocType, ports.Query{})
			assert.ErrorIs(t, err, core.ErrNoTenant, "%s: List", c.name)

			doc := sampleItem("sneaky")
			doc.TenantID, doc.Name = "A", "sneaky"
			assert.ErrorIs(t, f.r.Create(c.ctx, ItemDocType, doc), core.ErrNoTenant, "%s: Create", c.name)

			inv := &invoice{Customer: "sneaky"}
			inv.TenantID = "A"
			assert.ErrorIs(t, f.r.Create(c.ctx, InvoiceDocType, inv), core.ErrNoTenant, "%s: Create series", c.name)

			s := &settings{Theme: "sneaky"}
			s.TenantID = "A"
			assert.ErrorIs(t, f.r.Create(c.ctx, SettingsDocType, s), core.ErrNoTenant, "%s: Create single", c.name)

			upd := f.getItem(ctxA, existing.Name)
			before := upd.Base
			upd.Title = "hijacked"
			assert.ErrorIs(t, f.r.Update(c.ctx, ItemDocType, upd), core.ErrNoTenant, "%s: Update", c.name)
			assert.Equal(t, before, upd.Base, "%s: a failed Update leaves the document's Base as it was", c.name)

			assert.ErrorIs(t, f.r.Delete(c.ctx, ItemDocType, existing.Name), core.ErrNoTenant, "%s: Delete", c.name)
		}

		assert.EqualValues(t, 1, f.count(ctxA, ItemDocType), "nothing was written to tenant A")
		assertSameItem(t, existing, f.getItem(ctxA, existing.Name))
		_, err := f.r.Get(ctxA, ItemDocType, "sneaky")
		assert.ErrorIs(t, err, core.ErrNotFound)
		_, err = f.r.Get(ctxA, SettingsDocType, SettingsDocType)
		assert.ErrorIs(t, err, core.ErrNotFound)
		inv := &invoice{Customer: "first"}
		f.create(ctxA, InvoiceDocType, inv)
		assert.Equal(t, "CINV-0001", inv.Name, "failed creates consumed no number of tenant A's series")
	}},
}

var tenancyCases = []testCase{
	{"GetFromAnotherTenantIsNotFound", func(t *testing.T, f *fixture) {
		doc := sampleItem("A's")
		f.create(f.ctx("A"), ItemDocType, doc)
		_, err := f.r.Get(f.ctx("B"), ItemDocType, doc.Name)
		assert.ErrorIs(t, err, core.ErrNotFound)
		s := &settings{Theme: "A"}
		f.create(f.ctx("A"), SettingsDocType, s)
		_, err = f.r.Get(f.ctx("B"), SettingsDocType, SettingsDocType)
		assert.ErrorIs(t, err, core.ErrNotFound)
	}},
	{"ListSeesOnlyItsTenant", func(t *testing.T, f *fixture) {
		for i := range 3 {
			f.create(f.ctx("A"), ItemDocType, sampleItem("A"+string(rune('0'+i))))
		}
		onB := sampleItem("B0")
		f.create(f.ctx("B"), ItemDocType, onB)

		got, total := f.list(f.ctx("B"), ItemDocType, ports.Query{Limit: 100})
		assert.Equal(t, []string{onB.Name}, got)
		assert.EqualValues(t, 1, total)
		got, total = f.list(f.ctx("A"), ItemDocType, ports.Query{Limit: 100})
		assert.Len(t, got, 3)
		assert.NotContains(t, got, onB.Name)
		assert.EqualValues(t, 3, total)
		got, total = f.list(f.ctx("C"), ItemDocType, ports.Query{
			Filters: []ports.Filter{{Field: "title", Op: ports.OpLike, Value: "%"}},
		})
		assert.Empty(t, got)
		assert.EqualValues(t, 0, total)
	}},
	{"UpdateFromAnotherTenantIsNotFound", func(t *testing.T, f *fixture) {
		ctxA := f.ctx("A")
		doc := sampleItem("A's")
		f.create(ctxA, ItemDocType, doc)

		for _, forgedTenant := range []string{"A", "B", ""} {
			upd := f.getItem(ctxA, doc.Name)
			upd.TenantID = forgedTenant
			upd.Title = "changed by B"
			before := upd.Base
			err := f.r.Update(f.ctx("B"), ItemDocType, upd)
			assert.ErrorIs(t, err, core.ErrNotFound, "doc.TenantID=%q", forgedTenant)
			assert.Equal(t, before, upd.Base, "a failed Update leaves the document's Base as it was")
		}
		assertSameItem(t, doc, f.getItem(ctxA, doc.Name))
		assert.EqualValues(t, 0, f.count(f.ctx("B"), ItemDocType))
	}},
	{"DeleteFromAnotherTenantIsNotFound", func(t *testing.T, f *fixture) {
		ctxA := f.ctx("A")
		doc := sampleItem("A's")
		f.create(ctxA, ItemDocType, doc)
		assert.ErrorIs(t, f.r.Delete(f.ctx("B"), ItemDocType, doc.Name), core.ErrNotFound)
		assertSameItem(t, doc, f.getItem(ctxA, doc.Name))
	}},
	{"SameNameInTwoTenants", func(t *testing.T, f *fixture) {
		a, b := sampleItem("on A"), sampleItem("on B")
		a.Name, b.Name = "shared", "shared"
		f.create(f.ctx("A"), ItemDocType, a)
		f.create(f.ctx("B"), ItemDocType, b)
		assert.Equal(t, "on A", f.getItem(f.ctx("A"), "shared").Title)
		assert.Equal(t, "on B", f.getItem(f.ctx("B"), "shared").Title)

		b.Title = "B changed"
		assert.NoError(t, f.r.Update(f.ctx("B"), ItemDocType, b))
		assert.Equal(t, "on A", f.getItem(f.ctx("A"), "shared").Title, "updating B's copy leaves A's alone")
		assert.EqualValues(t, 1, f.getItem(f.ctx("A"), "shared").Version)

		assert.NoError(t, f.r.Delete(f.ctx("B"), ItemDocType, "shared"))
		assert.Equal(t, "on A", f.getItem(f.ctx("A"), "shared").Title, "deleting B's copy leaves A's alone")
	}},
}
