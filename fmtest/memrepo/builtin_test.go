package memrepo_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/fmtest/memrepo"
	"github.com/framework-m/framework-m/ports"
)

// TestBuiltInDocTypes stores and reads back a document of every built-in
// DocType, so that memrepo copes with every field the framework uses.
func TestBuiltInDocTypes(t *testing.T) {
	reg := doctype.NewRegistry()
	require.NoError(t, doctypes.Register(reg))
	r := memrepo.New(reg)
	ctx := ports.WithTenantID(t.Context(), "A")
	for _, dt := range reg.All() {
		doc := dt.New()
		b, _ := doctype.BaseOf(doc)
		if b.Name == "" && !dt.IsSingle {
			b.Name = "doc-1"
		}
		if !assert.NoError(t, r.Create(ctx, dt.Name, doc), dt.Name) {
			continue
		}
		got, err := r.Get(ctx, dt.Name, b.Name)
		if assert.NoError(t, err, dt.Name) {
			assert.IsType(t, doc, got, dt.Name)
		}
		_, err = r.List(ctx, dt.Name, ports.Query{})
		assert.NoError(t, err, dt.Name)
	}
}
