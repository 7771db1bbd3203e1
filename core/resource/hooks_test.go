package resource_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// guardCall is one call of a write guard, with the titles it saw.
type guardCall struct {
	action        ports.Action
	before, after string
}

func title(doc any) string {
	if doc == nil {
		return "<nil>"
	}
	return doc.(*note).Title
}

func TestGuardSeesEveryWriteBeforeItIsStored(t *testing.T) {
	p := &policy{}
	e := newEnv(t, p)
	var calls []guardCall
	e.svc.Guard("Note", func(ctx context.Context, action ports.Action, before, after any) error {
		require.NotNil(t, ports.UserFrom(ctx), "guards run as the caller")
		calls = append(calls, guardCall{action, title(before), title(after)})
		return nil
	})
	e.svc.Guard("Settings", func(context.Context, ports.Action, any, any) error {
		t.Error("a guard of another DocType ran")
		return nil
	})
	ctx := as("t1", "ann")
	_, err := e.svc.Create(ctx, "Note", []byte(`{"name": "n1", "title": "one"}`))
	require.NoError(t, err)
	_, err = e.svc.Update(ctx, "Note", "n1", []byte(`{"title": "two"}`), nil)
	require.NoError(t, err)
	require.NoError(t, e.svc.Delete(ctx, "Note", "n1"))
	assert.Equal(t, []guardCall{
		{ports.ActionCreate, "<nil>", "one"},
		{ports.ActionWrite, "one", "two"},
		{ports.ActionDelete, "two", "<nil>"},
	}, calls)

	// Authorization comes first: a refused write never reaches the guard.
	calls = nil
	p.allow = denyAction(ports.ActionCreate)
	_, err = e.svc.Create(ctx, "Note", []byte(`{"name": "n2", "title": "x"}`))
	require.Error(t, err)
	assert.Empty(t, calls)
}

func TestGuardErrorRefusesTheWriteAsIs(t *testing.T) {
	e := newEnv(t, &policy{})
	refusal := errors.New("not today")
	e.svc.Guard("Note", func(_ context.Context, action ports.Action, _, after any) error {
		if action == ports.ActionDelete || (after != nil && title(after) == "bad") {
			return refusal
		}
		return nil
	})
	ctx := as("t1", "ann")
	_, err := e.svc.Create(ctx, "Note", []byte(`{"name": "n1", "title": "bad"}`))
	assert.Same(t, refusal, err)
	assert.False(t, e.exists(t, "t1", "Note", "n1"))
	e.seed(t, "t1", "n2", "ann", "good")
	_, err = e.svc.Update(ctx, "Note", "n2", []byte(`{"title": "bad"}`), nil)
	assert.Same(t, refusal, err)
	assert.Equal(t, "good", e.stored(t, "t1", "n2").Title)
	assert.Same(t, refusal, e.svc.Delete(ctx, "Note", "n2"))
	assert.True(t, e.exists(t, "t1", "Note", "n2"))
}

func TestFilterRolesAppliesToEveryDecision(t *testing.T) {
	p := &policy{}
	e := newEnv(t, p)
	e.svc.FilterRoles(func(_ context.Context, roles []string) []string {
		return slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == "Old" })
	})
	u := &ports.UserContext{ID: "ann", Roles: []string{"Editor", "Old"}, Attributes: map[string]any{"roles": []any{"Old", "Viewer"}, "dept": "north"}}
	ctx := asUser("t1", u)
	dt := e.mustDocType(t, "Note")
	_, err := e.svc.Can(ctx, dt, ports.ActionRead, nil)
	require.NoError(t, err)
	_, err = e.svc.List(ctx, "Note", resource.ListParams{})
	require.NoError(t, err)
	for _, req := range p.requests("") {
		assert.Equal(t, []string{"Editor", "Viewer"}, req.Roles)
		assert.Equal(t, "ann", req.PrincipalID)
		assert.Equal(t, "north", req.PrincipalAttributes["dept"])
	}
	require.Len(t, p.filtered, 1)
	assert.Equal(t, []string{"Editor", "Viewer"}, p.filtered[0].user.AllRoles())
	assert.Equal(t, "north", p.filtered[0].user.Attributes["dept"])
	assert.Equal(t, []string{"Editor", "Old"}, u.Roles, "the principal itself is unchanged")
	assert.Contains(t, u.Attributes, "roles")

	// A principal whose roles all count is passed as is.
	p.reset()
	plain := &ports.UserContext{ID: "bob", Roles: []string{"Editor"}}
	_, err = e.svc.List(asUser("t1", plain), "Note", resource.ListParams{})
	require.NoError(t, err)
	require.Len(t, p.filtered, 1)
	assert.Same(t, plain, p.filtered[0].user)
}
