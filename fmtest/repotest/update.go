package repotest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

var updateCases = []testCase{
	{"BumpsVersionAndPersists", func(t *testing.T, f *fixture) {
		doc := sampleItem("original")
		f.create(f.as("A", "alice"), ItemDocType, doc)
		created := doc.Base
		waitPast(t, created.ModifiedAt) // so modified_at visibly moves

		ctx := f.as("A", "bob")
		doc.Title = "changed"
		doc.Qty = 7
		doc.Amount = dec("-0.75")
		doc.Tags = doctype.StringList{"blue"}
		require.NoError(t, f.r.Update(ctx, ItemDocType, doc))
		assert.EqualValues(t, 2, doc.Version)
		assert.Equal(t, "bob", doc.ModifiedBy)
		assert.Equal(t, "alice", doc.Owner)
		assert.Equal(t, "A", doc.TenantID)
		assert.True(t, doc.ModifiedAt.After(created.ModifiedAt), "modified_at moves forward: %s then %s", created.ModifiedAt, doc.ModifiedAt)
		assertSameTime(t, created.CreatedAt, doc.CreatedAt, "created_at")
		assertSameItem(t, doc, f.getItem(ctx, doc.Name))

		doc.Title = "again"
		require.NoError(t, f.r.Update(f.ctx("A"), ItemDocType, doc))
		assert.EqualValues(t, 3, doc.Version)
		assertSameItem(t, doc, f.getItem(ctx, doc.Name))
	}},
	{"WritesZeroValues", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		doc := sampleItem("full")
		f.create(ctx, ItemDocType, doc)
		doc.Title, doc.Qty, doc.Active = "", 0, false
		doc.Amount = doctype.Decimal{}
		doc.Due = time.Time{}
		doc.ClosedAt, doc.Note = nil, nil
		doc.Tags, doc.Extra = nil, nil
		require.NoError(t, f.r.Update(ctx, ItemDocType, doc))
		got := f.getItem(ctx, doc.Name)
		assertSameItem(t, doc, got)
		assert.Nil(t, got.ClosedAt, "setting a *time.Time to nil clears it")
		assert.Nil(t, got.Note, "setting a *string to nil clears it")
	}},
	{"StaleVersionConflicts", func(t *testing.T, f *fixture) {
		ctx := f.as("A", "alice")
		doc := sampleItem("v1")
		f.create(ctx, ItemDocType, doc)
		mine, theirs := f.getItem(ctx, doc.Name), f.getItem(ctx, doc.Name)

		theirs.Title = "theirs"
		require.NoError(t, f.r.Update(f.as("A", "bob"), ItemDocType, theirs))

		mine.Title = "mine"
		before := mine.Base
		err := f.r.Update(ctx, ItemDocType, mine)
		require.Error(t, err)
		assert.ErrorIs(t, err, core.ErrConflict)
		var conflict *core.ConflictError
		if assert.True(t, errors.As(err, &conflict), "a stale update is a *core.ConflictError, got %T: %v", err, err) {
			current, ok := conflict.Current.(*item)
			if assert.Truef(t, ok, "ConflictError.Current is %T, want *item", conflict.Current) {
				assertSameItem(t, theirs, current)
				assert.EqualValues(t, 2, current.Version)
			}
		}
		assert.Equal(t, before, mine.Base, "a failed Update leaves the document's Base as it was")
		assert.Equal(t, "mine", mine.Title)
		assertSameItem(t, theirs, f.getItem(ctx, doc.Name))

		mine.Version = 0
		assert.ErrorIs(t, f.r.Update(ctx, ItemDocType, mine), core.ErrConflict, "version 0 is stale too")
		mine.Version = 5
		assert.ErrorIs(t, f.r.Update(ctx, ItemDocType, mine), core.ErrConflict, "a version from the future is stale too")
		assertSameItem(t, theirs, f.getItem(ctx, doc.Name))
	}},
	{"MissingIsNotFound", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		doc := sampleItem("ghost")
		doc.Name, doc.Version = "ghost", 1
		before := doc.Base
		assert.ErrorIs(t, f.r.Update(ctx, ItemDocType, doc), core.ErrNotFound)
		assert.Equal(t, before, doc.Base, "a failed Update leaves the document's Base as it was")
		assert.EqualValues(t, 0, f.count(ctx, ItemDocType), "Update never inserts")
	}},
	{"UniqueSetConflicts", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		f.create(ctx, AccountDocType, &account{Email: "a@example.com", Region: "EU", Code: "C1"})
		other := &account{Email: "b@example.com", Region: "EU", Code: "C2"}
		f.create(ctx, AccountDocType, other)

		other.Email = "a@example.com"
		before := other.Base
		assert.ErrorIs(t, f.r.Update(ctx, AccountDocType, other), core.ErrConflict)
		assert.Equal(t, before, other.Base, "a failed Update leaves the document's Base as it was")
		got := f.get(ctx, AccountDocType, other.Name).(*account)
		assert.Equal(t, "b@example.com", got.Email)
		assert.EqualValues(t, 1, got.Version)

		other.Email, other.Code = "b@example.com", "C1"
		assert.ErrorIs(t, f.r.Update(ctx, AccountDocType, other), core.ErrConflict)
		assert.Equal(t, "C2", f.get(ctx, AccountDocType, other.Name).(*account).Code)
	}},
}

var deleteCases = []testCase{
	{"RemovesTheDocument", func(t *testing.T, f *fixture) {
		ctx := f.ctx("A")
		doc, keep := sampleItem("doomed"), sampleItem("kept")
		f.create(ctx, ItemDocType, doc)
		f.create(ctx, ItemDocType, keep)
		require.NoError(t, f.r.Delete(ctx, ItemDocType, doc.Name))
		_, err := f.r.Get(ctx, ItemDocType, doc.Name)
		assert.ErrorIs(t, err, core.ErrNotFound)
		got, total := f.list(ctx, ItemDocType, ports.Query{Limit: 100})
		assert.Equal(t, []string{keep.Name}, got)
		assert.EqualValues(t, 1, total)
		assert.ErrorIs(t, f.r.Delete(ctx, ItemDocType, doc.Name), core.ErrNotFound, "deleting twice")

		again := sampleItem("reborn")
		again.Name = doc.Name
		f.create(ctx, ItemDocType, again)
		assert.EqualValues(t, 1, f.getItem(ctx, doc.Name).Version, "a deleted name can be used again")
	}},
	{"MissingIsNotFound", func(t *testing.T, f *fixture) {
		assert.ErrorIs(t, f.r.Delete(f.ctx("A"), ItemDocType, "nobody"), core.ErrNotFound)
	}},
}
