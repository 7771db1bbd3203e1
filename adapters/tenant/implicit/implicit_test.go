package implicit_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/tenant/implicit"
	"github.com/framework-m/framework-m/ports"
)

func TestCurrentTenant(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"bare context", context.Background()},
		// The implicit resolver ignores whatever a client sends.
		{"request naming another tenant", ports.WithRequestHeader(context.Background(), map[string][]string{
			"X-Tenant-Id": {"acme"}, "X-Tenant-Attributes": {`{"plan":"free","features":[]}`},
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := implicit.New("main")
			tc1, err := r.CurrentTenant(tc.ctx)
			require.NoError(t, err)
			assert.Equal(t, "main", tc1.ID)
			assert.True(t, tc1.IsDefault)
			assert.Equal(t, map[string]any{"plan": "unlimited", "features": "*"}, tc1.Attributes)
			assert.True(t, tc1.HasFeature("beta"), "the implicit tenant has every feature")
			assert.True(t, tc1.HasFeature("anything"))
		})
	}
}

func TestTenantAttributes(t *testing.T) {
	r := implicit.New("main")
	for _, id := range []string{"main", "other", ""} {
		attrs, err := r.TenantAttributes(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, implicit.DefaultAttributes, attrs, "id %q", id)
	}
}

// Callers get copies: changing one answer changes neither the next answer nor
// the package defaults.
func TestAnswersAreCopies(t *testing.T) {
	r := implicit.New("main")
	ctx := context.Background()

	first, err := r.CurrentTenant(ctx)
	require.NoError(t, err)
	first.Attributes["plan"] = "free"
	first.Attributes["extra"] = true

	attrs, err := r.TenantAttributes(ctx, "main")
	require.NoError(t, err)
	attrs["features"] = "none"

	second, err := r.CurrentTenant(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"plan": "unlimited", "features": "*"}, second.Attributes)
	assert.Equal(t, map[string]any{"plan": "unlimited", "features": "*"}, implicit.DefaultAttributes)
	assert.NotSame(t, first, second)
}

var _ ports.TenantResolver = (*implicit.Resolver)(nil)
