package header_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/tenant/header"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

var tenancy = config.Tenancy{
	Mode:             "multi",
	DefaultTenantID:  "operator",
	TenantHeader:     "X-Tenant-ID",
	AttributesHeader: "X-Tenant-Attributes",
}

// reqCtx returns a context carrying request headers built from name/value pairs.
func reqCtx(kv ...string) context.Context {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return ports.WithRequestHeader(context.Background(), h)
}

func TestHeaders(t *testing.T) {
	assert.Equal(t, []string{"X-Tenant-ID", "X-Tenant-Attributes"}, header.New(tenancy).Headers())
	renamed := header.New(config.Tenancy{TenantHeader: "X-Org", AttributesHeader: "X-Org-Plan"})
	assert.Equal(t, []string{"X-Org", "X-Org-Plan"}, renamed.Headers())
}

func TestCurrentTenant(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		wantID    string
		wantAttrs map[string]any
		isDefault bool
	}{
		{"tenant only", reqCtx("X-Tenant-ID", "acme"), "acme", map[string]any{}, false},
		{"header sent in another case", reqCtx("x-tenant-id", "acme"), "acme", map[string]any{}, false},
		{"every allowed character", reqCtx("X-Tenant-ID", "Acme_2.eu-west"), "Acme_2.eu-west", map[string]any{}, false},
		{"64 characters", reqCtx("X-Tenant-ID", strings.Repeat("a", 64)), strings.Repeat("a", 64), map[string]any{}, false},
		{"the operator's tenant", reqCtx("X-Tenant-ID", "operator"), "operator", map[string]any{}, true},
		{"with attributes", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `{"plan":"pro","features":["beta","sso"]}`),
			"acme", map[string]any{"plan": "pro", "features": []any{"beta", "sso"}}, false},
		{"empty attribute object", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `{}`), "acme", map[string]any{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := header.New(tenancy).CurrentTenant(tc.ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.wantID, got.ID)
			assert.Equal(t, tc.isDefault, got.IsDefault)
			require.NotNil(t, got.Attributes, "attributes are never nil")
			assert.Equal(t, tc.wantAttrs, got.Attributes)
		})
	}
}

func TestCurrentTenantFeatures(t *testing.T) {
	got, err := header.New(tenancy).CurrentTenant(reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `{"features":["beta"]}`))
	require.NoError(t, err)
	assert.True(t, got.HasFeature("beta"))
	assert.False(t, got.HasFeature("sso"))
}

func TestCurrentTenantRenamedHeaders(t *testing.T) {
	r := header.New(config.Tenancy{DefaultTenantID: "default", TenantHeader: "X-Org", AttributesHeader: "X-Org-Plan"})

	got, err := r.CurrentTenant(reqCtx("X-Org", "acme", "X-Org-Plan", `{"plan":"pro"}`))
	require.NoError(t, err)
	assert.Equal(t, "acme", got.ID)
	assert.Equal(t, map[string]any{"plan": "pro"}, got.Attributes)

	_, err = r.CurrentTenant(reqCtx("X-Tenant-ID", "acme"))
	requireInvalid(t, err, "X-Org")
}

func TestCurrentTenantRefusals(t *testing.T) {
	tooLong := `{"plan":"` + strings.Repeat("p", 8192) + `"}`
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		field string
	}{
		{"no request headers", context.Background(), "X-Tenant-ID"},
		{"no tenant header", reqCtx("X-Tenant-Attributes", `{"plan":"pro"}`), "X-Tenant-ID"},
		{"empty tenant", reqCtx("X-Tenant-ID", ""), "X-Tenant-ID"},
		{"65 characters", reqCtx("X-Tenant-ID", strings.Repeat("a", 65)), "X-Tenant-ID"},
		{"slash", reqCtx("X-Tenant-ID", "acme/other"), "X-Tenant-ID"},
		{"space", reqCtx("X-Tenant-ID", "acme corp"), "X-Tenant-ID"},
		{"non-ASCII", reqCtx("X-Tenant-ID", "acmé"), "X-Tenant-ID"},
		{"SQL wildcard", reqCtx("X-Tenant-ID", "acme%"), "X-Tenant-ID"},
		{"attributes not JSON", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", "plan=pro"), "X-Tenant-Attributes"},
		{"attributes a list", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `["beta"]`), "X-Tenant-Attributes"},
		{"attributes a string", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `"pro"`), "X-Tenant-Attributes"},
		{"attributes null", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `null`), "X-Tenant-Attributes"},
		{"attributes truncated", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `{"plan":`), "X-Tenant-Attributes"},
		{"attributes over 8 KiB", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", tooLong), "X-Tenant-Attributes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := header.New(tenancy).CurrentTenant(tc.ctx)
			assert.Nil(t, got)
			requireInvalid(t, err, tc.field)
		})
	}
}

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, core.ErrValidation)
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Fields, 1)
	assert.Equal(t, field, ve.Fields[0].Field)
}

func TestTenantAttributes(t *testing.T) {
	r := header.New(tenancy)
	ctx := reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", `{"plan":"pro"}`)

	attrs, err := r.TenantAttributes(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"plan": "pro"}, attrs)

	attrs["plan"] = "free"
	again, err := r.TenantAttributes(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"plan": "pro"}, again, "callers get a copy")

	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   string
	}{
		{"another tenant", ctx, "globex"},
		{"no request headers", context.Background(), "acme"},
		{"malformed request", reqCtx("X-Tenant-ID", "acme", "X-Tenant-Attributes", "nope"), "acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attrs, err := r.TenantAttributes(tc.ctx, tc.id)
			require.NoError(t, err)
			assert.NotNil(t, attrs)
			assert.Empty(t, attrs, "a resolver without a tenant store knows no other tenant")
		})
	}
}

var _ ports.TenantResolver = (*header.Resolver)(nil)
