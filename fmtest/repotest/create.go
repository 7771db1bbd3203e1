package repotest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

var createCases = []testCase{
	{"TenantComesFromContext", func(t *testing.T, f *fixture) {
		doc := sampleItem("tenant")
		doc.TenantID = "B" // a preset tenant must be ignored
		f.create(f.ctx("A"), ItemDocType, doc)
		assert.Equal(t, "A", doc.TenantID, "Create sets the document's tenant from the context")
		got := f.getItem(f.ctx("A"), doc.Name)
		assert.Equal(t, "A", got.TenantID)
		_, err := f.r.Get(f.ctx("B"), ItemDocType, doc.Name)
		assert.ErrorIs(t, err, core.ErrNotFound, "the preset tenant B must not receive the document")
		assert.EqualValues(t, 0, f.count(f.ctx("B"), ItemDocType))
	}},
	{"DefaultNameIsUUIDv7", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		first, second := sampleItem("one"), sampleItem("two")
		f.create(ctx, ItemDocType, first)
		f.create(ctx, ItemDocType, second)
		assert.Regexp(t, uuidV7, first.Name)
		assert.Regexp(t, uuidV7, second.Name)
		assert.Less(t, first.Name, second.Name, "UUIDv7 names are time-ordered")
		f.getItem(ctx, first.Name)
		f.getItem(ctx, second.Name)
	}},
	{"GivenNameIsKept", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		doc := sampleItem("named")
		doc.Name = "my-item Nº1"
		f.create(ctx, ItemDocType, doc)
		assert.Equal(t, "my-item Nº1", doc.Name)
		assert.Equal(t, "named", f.getItem(ctx, "my-item Nº1").Title)
		inv := &invoice{Customer: "ACME"}
		inv.Name = "CUSTOM-7"
		f.create(ctx, InvoiceDocType, inv)
		assert.Equal(t, "CUSTOM-7", inv.Name, "a series DocType keeps a given name")
	}},
	{"SeriesCountsPerTenant", func(t *testing.T, f *fixture) {
		createInvoice := func(tenant string) string {
			inv := &invoice{Customer: "ACME"}
			f.create(f.ctx(tenant), InvoiceDocType, inv)
			return inv.Name
		}
		assert.Equal(t, "CINV-0001", createInvoice("A"))
		assert.Equal(t, "CINV-0002", createInvoice("A"))
		assert.Equal(t, "CINV-0001", createInvoice("B"), "each tenant has its own counter")
		assert.Equal(t, "CINV-0003", createInvoice("A"))
		assert.Equal(t, "CINV-0002", createInvoice("B"))
		got := f.get(f.ctx("A"), InvoiceDocType, "CINV-0003").(*invoice)
		assert.Equal(t, "ACME", got.Customer)
	}},
	{"PromptNeedsAName", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		err := f.r.Create(ctx, PromptedDocType, &prompted{Title: "nameless"})
		assert.ErrorIs(t, err, core.ErrValidation, "prompt naming without a name")
		assert.EqualValues(t, 0, f.count(ctx, PromptedDocType), "a failed create writes nothing")
		doc := &prompted{Title: "named"}
		doc.Name = "P-1"
		f.create(ctx, PromptedDocType, doc)
		assert.Equal(t, "P-1", doc.Name)
		assert.Equal(t, "named", f.get(ctx, PromptedDocType, "P-1").(*prompted).Title)
	}},
	{"InvalidNameIsRejected", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		for _, name := range []string{"a/b", " padded", "tab\there", strings.Repeat("x", 141)} {
			doc := &prompted{Title: "bad"}
			doc.Name = name
			err := f.r.Create(ctx, PromptedDocType, doc)
			assert.ErrorIs(t, err, core.ErrValidation, "name %q", name)
		}
		assert.EqualValues(t, 0, f.count(ctx, PromptedDocType))
	}},
	{"SingleIsNamedAfterItsDocType", func(t *testing.T, f *fixture) {
		s := &settings{Theme: "dark"}
		f.create(f.ctx("A"), SettingsDocType, s)
		assert.Equal(t, SettingsDocType, s.Name)
		assert.Equal(t, "dark", f.get(f.ctx("A"), SettingsDocType, SettingsDocType).(*settings).Theme)
		err := f.r.Create(f.ctx("A"), SettingsDocType, &settings{Theme: "light"})
		assert.ErrorIs(t, err, core.ErrConflict, "a single DocType has one document per tenant")
		assert.Equal(t, "dark", f.get(f.ctx("A"), SettingsDocType, SettingsDocType).(*settings).Theme)
		f.create(f.ctx("B"), SettingsDocType, &settings{Theme: "light"})
		assert.Equal(t, "light", f.get(f.ctx("B"), SettingsDocType, SettingsDocType).(*settings).Theme)
	}},
	{"OwnerIsThePrincipal", func(t *testing.T, f *fixture) {
		anon := sampleItem("anonymous")
		f.create(f.ctx("A"), ItemDocType, anon)
		assert.Equal(t, ports.SystemUser.ID, anon.Owner, "no principal: the system user owns it")
		assert.Equal(t, ports.SystemUser.ID, anon.ModifiedBy)

		mine := sampleItem("alice's")
		f.create(f.as("A", "alice"), ItemDocType, mine)
		assert.Equal(t, "alice", mine.Owner)
		assert.Equal(t, "alice", mine.ModifiedBy)

		onBehalf := sampleItem("carol's")
		onBehalf.Owner = "carol"
		f.create(f.as("A", "alice"), ItemDocType, onBehalf)
		assert.Equal(t, "carol", onBehalf.Owner, "a preset owner is kept")
		assert.Equal(t, "alice", onBehalf.ModifiedBy)

		for _, doc := range []*item{anon, mine, onBehalf} {
			got := f.getItem(f.ctx("A"), doc.Name)
			assert.Equal(t, doc.Owner, got.Owner)
			assert.Equal(t, doc.ModifiedBy, got.ModifiedBy)
		}
	}},
	{"TimestampsAndVersion", func(t *testing.T, f *fixture) {
		before := time.Now().Add(-time.Minute)
		doc := sampleItem("stamped")
		doc.Version = 99                                            // ignored
		doc.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // ignored
		f.create(f.ctx("A"), ItemDocType, doc)
		assert.EqualValues(t, 1, doc.Version)
		assert.True(t, doc.CreatedAt.After(before) && doc.CreatedAt.Before(time.Now().Add(time.Minute)),
			"created_at %s is now", doc.CreatedAt)
		assertSameTime(t, doc.CreatedAt, doc.ModifiedAt, "modified_at equals created_at on create")
		got := f.getItem(f.ctx("A"), doc.Name)
		assert.EqualValues(t, 1, got.Version)
		assertSameTime(t, doc.CreatedAt, got.CreatedAt, "created_at")
		assertSameTime(t, got.CreatedAt, got.ModifiedAt, "stored modified_at equals created_at")
	}},
	{"EveryFieldTypeRoundTrips", func(t *testing.T, f *fixture) {
		ctx := f.as("A", "alice")
		full := sampleItem("full")
		f.create(ctx, ItemDocType, full)
		assertSameItem(t, full, f.getItem(ctx, full.Name))

		zero := &item{}
		f.create(ctx, ItemDocType, zero)
		got := f.getItem(ctx, zero.Name)
		assertSameItem(t, zero, got)
		assert.Nil(t, got.ClosedAt, "a nil *time.Time stays nil")
		assert.Nil(t, got.Note, "a nil *string stays nil")
		assert.True(t, got.Amount.IsZero())

		res, err := f.r.List(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{{Field: "name", Op: ports.OpEq, Value: full.Name}}})
		require.NoError(t, err)
		require.Len(t, res.Items, 1)
		listed, ok := res.Items[0].(*item)
		require.Truef(t, ok, "List items are %T, want *item", res.Items[0])
		assertSameItem(t, full, listed)
	}},
	{"DecimalsKeepTheirExactValue", func(t *testing.T, f *fixture) {
		// doctype.Decimal is an exact number (money): no rounding through floats.
		ctx := f.ctx("A")
		for _, s := range []string{
			"12345678901234567.89",
			"-98765432109876543210.0001",
			"0.000000000000000001",
			"100000000000000000000000001",
		} {
			doc := &item{Title: s, Amount: dec(s)}
			f.create(ctx, ItemDocType, doc)
			got := f.getItem(ctx, doc.Name)
			assert.Zerof(t, got.Amount.Cmp(dec(s)), "stored %s, read back %s", s, got.Amount)
			names, _ := f.list(ctx, ItemDocType, ports.Query{Filters: []ports.Filter{{Field: "amount", Op: ports.OpEq, Value: dec(s)}}})
			assert.Equal(t, []string{doc.Name}, names, "amount = %s", s)
		}
	}},
	{"DuplicateNameConflicts", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		first := sampleItem("first")
		first.Name = "dup"
		f.create(ctx, ItemDocType, first)
		second := sampleItem("second")
		second.Name = "dup"
		err := f.r.Create(ctx, ItemDocType, second)
		assert.ErrorIs(t, err, core.ErrConflict)
		assert.EqualValues(t, 1, f.count(ctx, ItemDocType), "nothing written")
		assert.Equal(t, "first", f.getItem(ctx, "dup").Title, "the stored document is unchanged")

		p := &prompted{Title: "one"}
		p.Name = "P"
		f.create(ctx, PromptedDocType, p)
		p2 := &prompted{Title: "two"}
		p2.Name = "P"
		assert.ErrorIs(t, f.r.Create(ctx, PromptedDocType, p2), core.ErrConflict)
	}},
	{"UniqueSetConflicts", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		f.create(ctx, AccountDocType, &account{Email: "a@example.com", Region: "EU", Code: "C1"})

		err := f.r.Create(ctx, AccountDocType, &account{Email: "a@example.com", Region: "US", Code: "C2"})
		assert.ErrorIs(t, err, core.ErrConflict, "same email")
		err = f.r.Create(ctx, AccountDocType, &account{Email: "b@example.com", Region: "EU", Code: "C1"})
		assert.ErrorIs(t, err, core.ErrConflict, "same region+code")
		assert.EqualValues(t, 1, f.count(ctx, AccountDocType), "nothing written")

		f.create(ctx, AccountDocType, &account{Email: "c@example.com", Region: "US", Code: "C1"})
		f.create(ctx, AccountDocType, &account{Email: "d@example.com", Region: "EU", Code: "C2"})
		f.create(f.ctx("B"), AccountDocType, &account{Email: "a@example.com", Region: "EU", Code: "C1"})
		assert.EqualValues(t, 3, f.count(ctx, AccountDocType))
		assert.EqualValues(t, 1, f.count(f.ctx("B"), AccountDocType), "unique sets are per tenant")
	}},
}
