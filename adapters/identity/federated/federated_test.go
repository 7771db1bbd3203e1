package federated_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/identity/federated"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

func defaultHeaders() config.Headers { return config.Default().Auth.Headers }

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestHydrateFromHeaders(t *testing.T) {
	p := federated.New(defaultHeaders())
	tests := []struct {
		name    string
		h       http.Header
		wantErr bool
		check   func(t *testing.T, u *ports.UserContext)
	}{
		{
			name: "all headers",
			h: hdr("X-User-ID", " u-42 ", "X-Email", "ann@example.com", "X-User-Name", "Ann Lee",
				"X-User-Roles", "Sales, Manager", "X-User-Attributes", `{"department":"sales","level":3}`),
			check: func(t *testing.T, u *ports.UserContext) {
				assert.Equal(t, "u-42", u.ID, "trimmed")
				assert.Equal(t, "ann@example.com", u.Email)
				assert.Equal(t, "Ann Lee", u.DisplayName)
				assert.Equal(t, []string{"Sales", "Manager"}, u.Roles)
				assert.Equal(t, "sales", u.Attributes["department"])
				assert.Equal(t, float64(3), u.Attributes["level"])
				assert.Equal(t, "header", u.Method)
			},
		},
		{
			name: "id only",
			h:    hdr("X-User-ID", "u-1"),
			check: func(t *testing.T, u *ports.UserContext) {
				assert.Equal(t, "u-1", u.ID)
				assert.Empty(t, u.Email)
				assert.Empty(t, u.Roles)
				assert.Nil(t, u.Attributes)
			},
		},
		{name: "missing id", h: hdr("X-Email", "ann@example.com"), wantErr: true},
		{name: "blank id", h: hdr("X-User-ID", "   "), wantErr: true},
		{name: "control character in id", h: hdr("X-User-ID", "ann\x01bob"), wantErr: true},
		{name: "NUL in id", h: hdr("X-User-ID", "ann\x00"), wantErr: true},
		{name: "slash in id", h: hdr("X-User-ID", "../admin"), wantErr: true},
		{name: "id too long", h: hdr("X-User-ID", strings.Repeat("a", 141)), wantErr: true},
		{
			name:  "id of the maximum length",
			h:     hdr("X-User-ID", strings.Repeat("a", 140)),
			check: func(t *testing.T, u *ports.UserContext) { assert.Len(t, u.ID, 140) },
		},
		{name: "control character in email", h: hdr("X-User-ID", "u", "X-Email", "a\x7f@example.com"), wantErr: true},
		{name: "email too long", h: hdr("X-User-ID", "u", "X-Email", strings.Repeat("a", 250)+"@x.io"), wantErr: true},
		{name: "control character in display name", h: hdr("X-User-ID", "u", "X-User-Name", "Ann\x1b[31m"), wantErr: true},
		{name: "control character in a role", h: hdr("X-User-ID", "u", "X-User-Roles", "Sales,Ad\x02min"), wantErr: true},
		{name: "role too long", h: hdr("X-User-ID", "u", "X-User-Roles", strings.Repeat("r", 65)), wantErr: true},
		{
			name: "System role dropped, blanks skipped",
			h:    hdr("X-User-ID", "u", "X-User-Roles", "Admin, System ,,Sales,"),
			check: func(t *testing.T, u *ports.UserContext) {
				assert.Equal(t, []string{"Admin", "Sales"}, u.Roles)
				assert.False(t, u.IsSystemUser(), "a gateway header never makes a System principal")
			},
		},
		{
			name: "System role in the attributes' roles is not honoured either",
			h:    hdr("X-User-ID", "u", "X-User-Attributes", `{"roles":["System","Sales"]}`),
			check: func(t *testing.T, u *ports.UserContext) {
				assert.False(t, u.IsSystemUser(), "a gateway header never makes a System principal")
				assert.False(t, u.HasRole(ports.RoleSystem))
				assert.NotContains(t, u.AllRoles(), ports.RoleSystem)
				assert.True(t, u.HasRole("Sales"), "other roles from the attributes count")
			},
		},
		{
			name: "attribute roles join the roles header's",
			h:    hdr("X-User-ID", "u", "X-User-Roles", "Sales,Ops", "X-User-Attributes", `{"roles":["Ops","Auditor",""]}`),
			check: func(t *testing.T, u *ports.UserContext) {
				assert.Equal(t, []string{"Sales", "Ops", "Auditor"}, u.Roles, "merged without duplicates or blanks")
				assert.ElementsMatch(t, []string{"Sales", "Ops", "Auditor"}, u.AllRoles())
			},
		},
		{name: "attribute roles not a list", h: hdr("X-User-ID", "u", "X-User-Attributes", `{"roles":"System"}`), wantErr: true},
		{name: "attribute roles not strings", h: hdr("X-User-ID", "u", "X-User-Attributes", `{"roles":["Sales",1]}`), wantErr: true},
		{name: "malformed attributes", h: hdr("X-User-ID", "u", "X-User-Attributes", `{"department":`), wantErr: true},
		{name: "attributes array", h: hdr("X-User-ID", "u", "X-User-Attributes", `["a","b"]`), wantErr: true},
		{name: "attributes string", h: hdr("X-User-ID", "u", "X-User-Attributes", `"x"`), wantErr: true},
		{name: "attributes null", h: hdr("X-User-ID", "u", "X-User-Attributes", `null`), wantErr: true},
		{
			name:    "attributes too large",
			h:       hdr("X-User-ID", "u", "X-User-Attributes", `{"x":"`+strings.Repeat("a", 8200)+`"}`),
			wantErr: true,
		},
		{
			name: "attribute roles honoured by HasRole",
			h:    hdr("X-User-ID", "u", "X-User-Attributes", `{"roles":["Auditor"]}`),
			check: func(t *testing.T, u *ports.UserContext) {
				assert.True(t, u.HasRole("Auditor"))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := p.HydrateFromHeaders(tc.h)
			if tc.wantErr {
				assert.ErrorIs(t, err, core.ErrUnauthorized)
				assert.Nil(t, u)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, u)
			tc.check(t, u)
		})
	}
}

func TestCustomHeaderNames(t *testing.T) {
	p := federated.New(config.Headers{
		UserID: "X-Remote-User", Email: "X-Remote-Email", DisplayName: "X-Remote-Name",
		Roles: "X-Remote-Groups", Attributes: "X-Remote-Attrs",
	})
	assert.ElementsMatch(t,
		[]string{"X-Remote-User", "X-Remote-Email", "X-Remote-Name", "X-Remote-Groups", "X-Remote-Attrs"},
		p.IdentityHeaders())

	u, err := p.HydrateFromHeaders(hdr(
		"X-Remote-User", "bob", "X-Remote-Email", "bob@example.com", "X-Remote-Name", "Bob",
		"X-Remote-Groups", "Ops", "X-Remote-Attrs", `{"site":"lyon"}`,
		// The default names are not read.
		"X-User-ID", "mallory", "X-User-Roles", "Admin",
	))
	require.NoError(t, err)
	assert.Equal(t, "bob", u.ID)
	assert.Equal(t, "bob@example.com", u.Email)
	assert.Equal(t, "Bob", u.DisplayName)
	assert.Equal(t, []string{"Ops"}, u.Roles)
	assert.Equal(t, "lyon", u.Attributes["site"])

	_, err = p.HydrateFromHeaders(hdr("X-User-ID", "mallory"))
	assert.ErrorIs(t, err, core.ErrUnauthorized, "the default id header means nothing with custom names")

	_, err = p.HydrateFromHeaders(hdr("X-Remote-User", "bob", "X-Remote-Attrs", "[1]"))
	assert.ErrorIs(t, err, core.ErrUnauthorized, "the custom attributes header is validated")
}

func TestProviderHasNoPasswordsOrUserTable(t *testing.T) {
	p := federated.New(defaultHeaders())
	ctx := ports.WithTenantID(context.Background(), "acme")

	_, err := p.Authenticate(ctx, ports.PasswordCredentials{Email: "a@b.c", Password: "whatever-long"})
	assert.ErrorIs(t, err, core.ErrNotSupported, "the gateway authenticates")

	u, err := p.GetUser(ctx, "u-9")
	require.NoError(t, err)
	assert.Equal(t, "u-9", u.ID)
	assert.Equal(t, "acme", u.TenantID)
	assert.True(t, u.IsActive)

	attrs := p.Attributes(ctx, &ports.User{ID: "u", Roles: []string{"Sales"}, Attributes: map[string]any{"site": "lyon"}})
	assert.Equal(t, "lyon", attrs["site"])
	assert.Equal(t, []string{"Sales"}, attrs["roles"])
}
