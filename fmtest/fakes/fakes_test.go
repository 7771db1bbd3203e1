package fakes_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/fmtest/fakes"
	"github.com/framework-m/framework-m/ports"
)

func tenantCtx(t *testing.T, id string) context.Context {
	return ports.WithTenantID(t.Context(), id)
}

func TestIdentity(t *testing.T) {
	tokens := fakes.NewTokens(time.Hour)
	ids := fakes.NewIdentity(tokens)
	ctx := tenantCtx(t, "acme")

	ann := ids.Add(ports.User{TenantID: "acme", Email: " Ann@Example.com ", Roles: []string{"Sales"}, Attributes: map[string]any{"dept": "eu"}, IsActive: true}, "s3cret")
	require.NotEmpty(t, ann.ID, "Add gives an id")
	assert.Equal(t, "ann@example.com", ann.Email, "emails are trimmed and lower-cased")

	t.Run("GetUser", func(t *testing.T) {
		got, err := ids.GetUser(ctx, ann.ID)
		require.NoError(t, err)
		assert.Equal(t, ann, got)
		got.Roles[0] = "Admin"
		again, _ := ids.GetUser(ctx, ann.ID)
		assert.Equal(t, []string{"Sales"}, again.Roles, "a returned user is a copy")

		_, err = ids.GetUser(ctx, "nobody")
		assert.ErrorIs(t, err, core.ErrNotFound)
		_, err = ids.GetUser(tenantCtx(t, "other"), ann.ID)
		assert.ErrorIs(t, err, core.ErrNotFound, "users belong to their tenant")
		_, err = ids.GetUser(t.Context(), ann.ID)
		assert.ErrorIs(t, err, core.ErrNoTenant)
	})
	t.Run("Passwords", func(t *testing.T) {
		u, err := ids.CheckPassword(ctx, "ANN@example.com", "s3cret")
		require.NoError(t, err)
		assert.Equal(t, ann.ID, u.ID)
		for _, c := range [][2]string{{"ann@example.com", "wrong"}, {"bob@example.com", "s3cret"}} {
			_, err := ids.CheckPassword(ctx, c[0], c[1])
			assert.ErrorIs(t, err, core.ErrUnauthorized, "%v", c)
		}
		off := ids.Add(ports.User{TenantID: "acme", Email: "off@example.com"}, "pw")
		_, err = ids.CheckPassword(ctx, "off@example.com", "pw")
		assert.ErrorIs(t, err, core.ErrUnauthorized, "an inactive user cannot log in")
		assert.NoError(t, ids.VerifyPassword(ctx, off.ID, "pw"), "VerifyPassword checks the password only")
		assert.ErrorIs(t, ids.VerifyPassword(ctx, off.ID, "nope"), core.ErrUnauthorized)
		assert.ErrorIs(t, ids.VerifyPassword(ctx, "nobody", "pw"), core.ErrNotFound)
	})
	t.Run("AuthenticateIssuesAToken", func(t *testing.T) {
		tok, err := ids.Authenticate(ctx, ports.PasswordCredentials{Email: "ann@example.com", Password: "s3cret"})
		require.NoError(t, err)
		claims, err := tokens.Verify(ctx, tok.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, ann.ID, claims.Subject)
		assert.Equal(t, "acme", claims.TenantID)

		_, err = ids.Authenticate(ctx, ports.PasswordCredentials{Email: "ann@example.com", Password: "bad"})
		assert.ErrorIs(t, err, core.ErrUnauthorized)
		_, err = fakes.NewIdentity(nil).Authenticate(ctx, ports.PasswordCredentials{})
		assert.ErrorIs(t, err, core.ErrNotSupported, "no token service")
	})
	t.Run("CreateUserAndChanges", func(t *testing.T) {
		bob, err := ids.CreateUser(ctx, ports.NewUser{Email: "Bob@example.com", Password: "pw1", Roles: []string{"Ops"}})
		require.NoError(t, err)
		assert.True(t, bob.IsActive)
		assert.Equal(t, "acme", bob.TenantID)
		_, err = ids.CreateUser(ctx, ports.NewUser{Email: "bob@EXAMPLE.com"})
		assert.ErrorIs(t, err, core.ErrConflict, "emails are unique per tenant")
		_, err = ids.CreateUser(tenantCtx(t, "other"), ports.NewUser{Email: "bob@example.com"})
		assert.NoError(t, err, "in another tenant the email is free")

		found, err := ids.FindByEmail(ctx, "BOB@example.com")
		require.NoError(t, err)
		assert.Equal(t, bob.ID, found.ID)

		require.NoError(t, ids.SetPassword(ctx, bob.ID, "pw2"))
		_, err = ids.CheckPassword(ctx, "bob@example.com", "pw1")
		assert.ErrorIs(t, err, core.ErrUnauthorized)
		u, err := ids.CheckPassword(ctx, "bob@example.com", "pw2")
		require.NoError(t, err)
		assert.EqualValues(t, 1, u.TokenVersion, "SetPassword bumps the token version")
		require.NoError(t, ids.BumpTokenVersion(ctx, bob.ID))
		u, _ = ids.GetUser(ctx, bob.ID)
		assert.EqualValues(t, 2, u.TokenVersion)

		require.NoError(t, ids.DeleteUser(ctx, bob.ID, true))
		u, _ = ids.GetUser(ctx, bob.ID)
		assert.False(t, u.IsActive)
		assert.Equal(t, "deleted-"+bob.ID+"@invalid", u.Email)
		_, err = ids.CheckPassword(ctx, u.Email, "pw2")
		assert.ErrorIs(t, err, core.ErrUnauthorized)

		n, err := ids.CountUsers(ctx)
		require.NoError(t, err)
		require.NoError(t, ids.DeleteUser(ctx, bob.ID, false))
		_, err = ids.GetUser(ctx, bob.ID)
		assert.ErrorIs(t, err, core.ErrNotFound)
		after, _ := ids.CountUsers(ctx)
		assert.Equal(t, n-1, after)
		assert.ErrorIs(t, ids.DeleteUser(ctx, bob.ID, false), core.ErrNotFound)
	})
	t.Run("Attributes", func(t *testing.T) {
		attrs := ids.Attributes(ctx, ann)
		assert.Equal(t, map[string]any{"dept": "eu", "roles": []string{"Sales"}}, attrs)
	})
	t.Run("AddPanicsOnADuplicateEmail", func(t *testing.T) {
		assert.Panics(t, func() { ids.Add(ports.User{TenantID: "acme", Email: "ann@example.com"}, "") })
		ids.Add(ports.User{ID: ann.ID, TenantID: "acme", Email: "ann@example.com", IsActive: true}, "new")
		_, err := ids.CheckPassword(ctx, "ann@example.com", "new")
		assert.NoError(t, err, "Add replaces the user with the same id")
	})
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tokens := fakes.NewTokens(time.Minute).WithClock(clock)
	ctx := t.Context()

	tok, err := tokens.Issue(ctx, &ports.User{ID: "ann", TenantID: "acme", TokenVersion: 3})
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.EqualValues(t, 60, tok.ExpiresIn)
	assert.Equal(t, now.Add(time.Minute), tok.ExpiresAt)
	c, err := tokens.Verify(ctx, tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, ports.Claims{Subject: "ann", TenantID: "acme", ID: tok.ID, TokenVersion: 3, IssuedAt: now, ExpiresAt: now.Add(time.Minute)}, *c)

	_, err = tokens.Verify(ctx, tok.AccessToken+"x")
	assert.ErrorIs(t, err, core.ErrUnauthorized, "an unknown token")
	_, err = fakes.NewTokens(0).Verify(ctx, tok.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "a token of another Tokens")

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	_, err = tokens.Verify(ctx, tok.AccessToken)
	assert.ErrorIs(t, err, core.ErrUnauthorized, "an expired token")

	_, err = tokens.Issue(ctx, &ports.User{})
	assert.ErrorIs(t, err, core.ErrValidation)
	_, ok := tokens.JWKS()
	assert.False(t, ok)
}

func TestPermissions(t *testing.T) {
	ctx := tenantCtx(t, "acme")
	req := func(action ports.Action, roles ...string) ports.PolicyRequest {
		return ports.PolicyRequest{PrincipalID: "u", Roles: roles, TenantID: "acme", DocType: "Invoice", Action: action}
	}
	decide := func(p *fakes.Permissions, r ports.PolicyRequest) bool {
		res, err := p.Evaluate(ctx, r)
		require.NoError(t, err)
		return res.Authorized
	}

	assert.True(t, decide(fakes.AllowAll(), req(ports.ActionDelete)))
	assert.False(t, decide(fakes.DenyAll(), req(ports.ActionRead, "Admin")))

	p := fakes.DenyAll().
		Grant("Sales", "Invoice", ports.ActionRead, ports.ActionCreate).
		Grant("Admin", fakes.Any, fakes.Any).
		Grant(fakes.Any, "Note", ports.ActionRead)
	assert.True(t, decide(p, req(ports.ActionRead, "Sales")))
	assert.False(t, decide(p, req(ports.ActionDelete, "Sales")), "an action not granted")
	assert.False(t, decide(p, req(ports.ActionRead, "Ops")), "a role not granted")
	assert.True(t, decide(p, req(ports.ActionDelete, "Admin")), "Any DocType, Any action")
	note := req(ports.ActionRead)
	note.DocType = "Note"
	assert.True(t, decide(p, note), "Any role")
	assert.Len(t, p.Requests(), 5, "Evaluate's requests are recorded")

	owner := fakes.PermissionFunc(func(r ports.PolicyRequest) bool {
		doc, ok := r.Doc.(map[string]string)
		return r.Action == ports.ActionRead && (!ok || doc["owner"] == r.PrincipalID)
	})
	mine, theirs := req(ports.ActionRead), req(ports.ActionRead)
	mine.Doc, theirs.Doc = map[string]string{"owner": "u"}, map[string]string{"owner": "v"}
	assert.True(t, decide(owner, mine))
	assert.False(t, decide(owner, theirs))

	rls := ports.Filter{Field: "owner", Op: ports.OpEq, Value: "u"}
	owner.RowFilters("Invoice", rls)
	user := &ports.UserContext{ID: "u"}
	filters, err := owner.PermittedFilters(ctx, user, "Invoice", ports.ActionRead)
	require.NoError(t, err)
	assert.Equal(t, []ports.Filter{rls}, filters)
	filters, err = owner.PermittedFilters(ctx, user, "Other", ports.ActionRead)
	require.NoError(t, err)
	assert.Nil(t, filters, "no filters set: no restriction")
	_, err = owner.PermittedFilters(ctx, user, "Invoice", ports.ActionDelete)
	assert.ErrorIs(t, err, core.ErrForbidden, "a refused list check permits no rows")
}

func TestTenants(t *testing.T) {
	r := fakes.NewTenants(ports.TenantContext{ID: "acme", Attributes: map[string]any{"plan": "pro"}})
	got, err := r.CurrentTenant(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "acme", got.ID)
	got.Attributes["plan"] = "free"
	attrs, err := r.TenantAttributes(t.Context(), "acme")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"plan": "pro"}, attrs, "CurrentTenant returns a copy")
	attrs, err = r.TenantAttributes(t.Context(), "other")
	require.NoError(t, err)
	assert.Empty(t, attrs)

	def, err := fakes.NewTenants(ports.TenantContext{IsDefault: true}).CurrentTenant(t.Context())
	require.NoError(t, err)
	assert.Equal(t, ports.DefaultTenantID, def.ID)
	assert.True(t, def.IsDefault)
}

func TestMailer(t *testing.T) {
	m := fakes.NewMailer()
	ctx := tenantCtx(t, "acme")
	require.NoError(t, m.Send(ctx, ports.EmailMessage{MessageID: "1@example.com", To: []ports.EmailAddress{{Address: "ann@example.com"}}, Subject: "Hello", Text: "Hi Ann"}))
	require.NoError(t, m.Send(ctx, ports.EmailMessage{To: []ports.EmailAddress{{Address: "bob@example.com"}}, Cc: []ports.EmailAddress{{Address: "ann@example.com"}}, Subject: "Re"}))

	sent := m.Sent()
	require.Len(t, sent, 2)
	assert.Equal(t, "Hello", sent[0].Subject)
	assert.Equal(t, "Hi Ann", sent[0].Body)
	assert.Equal(t, "<1@example.com>", sent[0].Headers["Message-ID"])
	assert.Equal(t, "acme", sent[0].TenantID, "messages carry the tenant of ctx")
	sent[0].To[0] = "mallory@example.com"
	assert.Equal(t, "ann@example.com", m.Sent()[0].To[0], "Sent returns copies")
	assert.Len(t, m.SentTo("ann@example.com"), 2)
	assert.Len(t, m.SentTo("bob@example.com"), 1)

	boom := errors.New("smtp down")
	m.FailWith(boom)
	assert.ErrorIs(t, m.Send(ctx, ports.EmailMessage{Subject: "lost"}), boom)
	m.FailWith(nil)
	assert.Len(t, m.Sent(), 2, "a failed send records nothing")
	m.Reset()
	assert.Empty(t, m.Sent())
}
