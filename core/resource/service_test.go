package resource_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/adapters/db"
	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// Test DocTypes.

// note is an ordinary DocType: named by the client, with a hidden field, a
// field that cannot be filtered or sorted on, and its own validation.
type note struct {
	doctype.Base
	Title    string `json:"title" gorm:"size:140"`
	Body     string `json:"body"`
	Priority int    `json:"priority"`
	Secret   string `json:"secret"`
}

func (n *note) Validate() error {
	if strings.TrimSpace(n.Title) == "" {
		return core.Invalid("title", "is required")
	}
	return nil
}

var noteMeta = doctype.Meta{
	Name:       "Note",
	Naming:     doctype.NamingPrompt,
	Hidden:     []string{"secret"},
	Filterable: []string{"title", "priority", "owner"},
	Sortable:   []string{"title", "priority"},
}

// settings is a single DocType with defaults.
type settings struct {
	doctype.Base
	Theme    string `json:"theme"`
	PageSize int    `json:"page_size"`
}

func (s *settings) Defaults() { s.Theme, s.PageSize = "light", 20 }

var settingsMeta = doctype.Meta{Name: "Settings", IsSingle: true}

// entry is an immutable DocType: only the framework writes it.
type entry struct {
	doctype.Base
	Text string `json:"text"`
}

var entryMeta = doctype.Meta{Name: "Entry", Immutable: true}

// policy is a PermissionEvaluator whose decisions the test controls; it
// records every request.
type policy struct {
	mu sync.Mutex
	// allow decides a request; nil allows everything.
	allow func(req ports.PolicyRequest) bool
	// err, when set, is Evaluate's error.
	err error
	// filters answers PermittedFilters; nil means no restriction.
	filters  func(u *ports.UserContext, doctype string, action ports.Action) ([]ports.Filter, error)
	reqs     []ports.PolicyRequest
	filtered []filterCall
}

type filterCall struct {
	user    *ports.UserContext
	doctype string
	action  ports.Action
}

func (p *policy) Evaluate(_ context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	rec := req
	if n, ok := req.Doc.(*note); ok { // the document as the evaluator saw it
		c := *n
		rec.Doc = &c
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, rec)
	allow, err := p.allow, p.err
	p.mu.Unlock()
	if err != nil {
		return ports.PolicyResult{}, err
	}
	return ports.PolicyResult{Authorized: allow == nil || allow(req), Source: ports.SourceRBAC, Reason: "test policy"}, nil
}

func (p *policy) PermittedFilters(_ context.Context, u *ports.UserContext, dt string, a ports.Action) ([]ports.Filter, error) {
	p.mu.Lock()
	p.filtered = append(p.filtered, filterCall{u, dt, a})
	fn := p.filters
	p.mu.Unlock()
	if fn == nil {
		return nil, nil
	}
	return fn(u, dt, a)
}

// requests returns the recorded requests of action (all when action is "").
func (p *policy) requests(action ports.Action) []ports.PolicyRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ports.PolicyRequest
	for _, r := range p.reqs {
		if action == "" || r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

func (p *policy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs, p.filtered = nil, nil
}

// rowPolicy is a policy that asks for per-document checks of lists.
type rowPolicy struct {
	*policy
	rowCheck map[string]bool
}

func (r rowPolicy) NeedsRowCheck(dt string) bool { return r.rowCheck[dt] }

var _ ports.RowChecker = rowPolicy{}

// denyIf returns an allow function refusing action on documents for which
// match is true (document-level requests only).
func denyIf(action ports.Action, match func(n *note) bool) func(ports.PolicyRequest) bool {
	return func(req ports.PolicyRequest) bool {
		n, ok := req.Doc.(*note)
		return !(req.Action == action && ok && match(n))
	}
}

// denyAction refuses every request of action.
func denyAction(action ports.Action) func(ports.PolicyRequest) bool {
	return func(req ports.PolicyRequest) bool { return req.Action != action }
}

// env is a service writing through the event-publishing decorator of a
// SQLite repository. repo is the undecorated repository: what tests write with
// it (seeds, concurrent changes) publishes nothing.
type env struct {
	repo *db.Repository
	feed *events.Feed
	svc  *resource.Service
}

func newEnv(t *testing.T, perm ports.PermissionEvaluator) *env {
	t.Helper()
	ctx := t.Context()
	reg := doctype.NewRegistry()
	_, err := doctype.Register[note](reg, noteMeta)
	require.NoError(t, err)
	_, err = doctype.Register[settings](reg, settingsMeta)
	require.NoError(t, err)
	_, err = doctype.Register[entry](reg, entryMeta)
	require.NoError(t, err)
	gdb, err := db.Open(ctx, config.Default().Database, t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close(gdb)) })
	repo := db.New(gdb, reg)
	require.NoError(t, repo.Migrate(ctx))
	feed := &events.Feed{}
	return &env{repo: repo, feed: feed, svc: resource.New(events.NewRepository(repo, feed, nil), reg, perm, slog.New(slog.DiscardHandler))}
}

// as returns a context of user id in tenant.
func as(tenant, id string, roles ...string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.UserContext{ID: id, TenantID: tenant, Roles: roles})
}

func asUser(tenant string, u *ports.UserContext) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), u)
}

func system(tenant string) context.Context {
	return ports.WithUser(ports.WithTenantID(context.Background(), tenant), &ports.SystemUser)
}

// seed stores a note directly (owned by owner), bypassing the service.
func (e *env) seed(t *testing.T, tenant, name, owner, title string) *note {
	t.Helper()
	n := &note{Base: doctype.Base{Name: name, Owner: owner}, Title: title, Body: "body of " + name, Priority: 1, Secret: "s3cret"}
	require.NoError(t, e.repo.Create(system(tenant), "Note", n))
	return n
}

// stored reads a note directly.
func (e *env) stored(t *testing.T, tenant, name string) *note {
	t.Helper()
	d, err := e.repo.Get(system(tenant), "Note", name)
	require.NoError(t, err)
	return d.(*note)
}

func (e *env) exists(t *testing.T, tenant, doctypeName, name string) bool {
	t.Helper()
	_, err := e.repo.Get(system(tenant), doctypeName, name)
	if errors.Is(err, core.ErrNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

func names(items []any) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		b, _ := doctype.BaseOf(it)
		out = append(out, b.Name)
	}
	return out
}

func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *core.ValidationError
	require.ErrorAs(t, err, &ve)
	return ve.FieldMap()
}

func ptr(v int64) *int64 { return &v }

func TestUnknownDocType(t *testing.T) {
	e := newEnv(t, &policy{})
	ctx := as("t1", "ann")
	for name, call := range map[string]func() error{
		"DocType":   func() error { _, err := e.svc.DocType("Nope"); return err },
		"Get":       func() error { _, err := e.svc.Get(ctx, "Nope", "x"); return err },
		"GetSingle": func() error { _, err := e.svc.GetSingle(ctx, "Nope"); return err },
		"List":      func() error { _, err := e.svc.List(ctx, "Nope", resource.ListParams{}); return err },
		"Create":    func() error { _, err := e.svc.Create(ctx, "Nope", []byte(`{}`)); return err },
		"Insert":    func() error { return e.svc.Insert(ctx, "Nope", &note{Title: "x"}) },
		"Update":    func() error { _, err := e.svc.Update(ctx, "Nope", "x", []byte(`{}`), nil); return err },
		"Delete":    func() error { return e.svc.Delete(ctx, "Nope", "x") },
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), core.ErrNotFound)
		})
	}
}

func TestAnonymousIsUnauthorized(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	e.seed(t, "t1", "n1", "ann", "first")
	ctx := ports.WithTenantID(context.Background(), "t1")
	for name, call := range map[string]func() error{
		"Get":       func() error { _, err := e.svc.Get(ctx, "Note", "n1"); return err },
		"GetSingle": func() error { _, err := e.svc.GetSingle(ctx, "Settings"); return err },
		"List":      func() error { _, err := e.svc.List(ctx, "Note", resource.ListParams{}); return err },
		"Create":    func() error { _, err := e.svc.Create(ctx, "Note", []byte(`{"name":"n2","title":"x"}`)); return err },
		"Insert":    func() error { return e.svc.Insert(ctx, "Note", &note{Base: doctype.Base{Name: "n3"}, Title: "x"}) },
		"Update": func() error {
			_, err := e.svc.Update(ctx, "Note", "n1", []byte(`{"title":"changed"}`), nil)
			return err
		},
		"Delete": func() error { return e.svc.Delete(ctx, "Note", "n1") },
		"Can":    func() error { _, err := e.svc.Can(ctx, e.mustDocType(t, "Note"), ports.ActionRead, nil); return err },
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), core.ErrUnauthorized)
		})
	}
	assert.Empty(t, perm.requests(""), "the evaluator is never asked about an anonymous request")
	assert.Equal(t, "first", e.stored(t, "t1", "n1").Title)
	assert.False(t, e.exists(t, "t1", "Note", "n2"))
	assert.False(t, e.exists(t, "t1", "Note", "n3"))
	assert.False(t, e.exists(t, "t1", "Settings", "Settings"), "an anonymous read creates no singleton")
}

func (e *env) mustDocType(t *testing.T, name string) *doctype.DocType {
	t.Helper()
	dt, err := e.svc.DocType(name)
	require.NoError(t, err)
	return dt
}

func TestGet(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	e.seed(t, "t1", "n1", "ann", "first")
	u := &ports.UserContext{ID: "ann", Roles: []string{"Sales"}, Attributes: map[string]any{"roles": []string{"Auditor"}, "dept": "ops"}}

	doc, err := e.svc.Get(asUser("t1", u), "Note", "n1")
	require.NoError(t, err)
	n := doc.(*note)
	assert.Equal(t, "n1", n.Name)
	assert.Equal(t, "first", n.Title)

	reqs := perm.requests(ports.ActionRead)
	require.Len(t, reqs, 1)
	req := reqs[0]
	assert.Equal(t, "ann", req.PrincipalID)
	assert.Equal(t, []string{"Sales", "Auditor"}, req.Roles, "roles from Roles and attributes")
	assert.Equal(t, "ops", req.PrincipalAttributes["dept"])
	assert.Equal(t, "t1", req.TenantID)
	assert.Equal(t, "Note", req.DocType)
	assert.Equal(t, "n1", req.DocName)
	require.IsType(t, &note{}, req.Doc)
	assert.Equal(t, "first", req.Doc.(*note).Title, "the evaluator sees the document")
}

// A document the principal may not read and one that does not exist look the
// same: both 404 with the same message.
func TestGetUnreadableIsNotFound(t *testing.T) {
	perm := &policy{allow: denyIf(ports.ActionRead, func(n *note) bool { return n.Owner != "ann" })}
	e := newEnv(t, perm)
	e.seed(t, "t1", "mine", "ann", "mine")
	e.seed(t, "t1", "theirs", "bob", "theirs")
	ctx := as("t1", "ann")

	_, err := e.svc.Get(ctx, "Note", "mine")
	require.NoError(t, err, "control: a readable document")

	_, errUnreadable := e.svc.Get(ctx, "Note", "theirs")
	require.ErrorIs(t, errUnreadable, core.ErrNotFound)
	assert.NotErrorIs(t, errUnreadable, core.ErrForbidden)

	require.NoError(t, e.repo.Delete(system("t1"), "Note", "theirs"))
	_, errMissing := e.svc.Get(ctx, "Note", "theirs")
	require.ErrorIs(t, errMissing, core.ErrNotFound)
	assert.Equal(t, errMissing.Error(), errUnreadable.Error(), "nothing tells an unreadable document from a missing one")
}

func TestGetOtherTenantIsNotFound(t *testing.T) {
	e := newEnv(t, &policy{})
	e.seed(t, "t1", "n1", "ann", "first")
	_, err := e.svc.Get(as("t2", "ann"), "Note", "n1")
	assert.ErrorIs(t, err, core.ErrNotFound)
}

func TestGetInvalidNameIsNotFound(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	for _, name := range []string{"", "  ", " n1", "a/b", "tab\there", strings.Repeat("x", doctype.MaxNameLength+1)} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			_, err := e.svc.Get(as("t1", "ann"), "Note", name)
			assert.ErrorIs(t, err, core.ErrNotFound)
		})
	}
	assert.Empty(t, perm.requests(""))
}

func TestGetEvaluatorErrorIsNotHidden(t *testing.T) {
	boom := errors.New("policy service down")
	e := newEnv(t, &policy{err: boom})
	e.seed(t, "t1", "n1", "ann", "first")
	_, err := e.svc.Get(as("t1", "ann"), "Note", "n1")
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, core.ErrNotFound, "a failing evaluator is an error, not a missing document")
}

func TestCan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scopes []string
		dt     string
		action ports.Action
		want   bool
		asked  bool // whether the evaluator is consulted
	}{
		{"no scopes", nil, "Note", ports.ActionDelete, true, true},
		{"wildcard", []string{"*"}, "Note", ports.ActionDelete, true, true},
		{"action scope", []string{"read"}, "Note", ports.ActionRead, true, true},
		{"action scope, other action", []string{"read"}, "Note", ports.ActionWrite, false, false},
		{"doctype scope", []string{"Note:read"}, "Note", ports.ActionRead, true, true},
		{"doctype scope, other action", []string{"Note:read"}, "Note", ports.ActionCreate, false, false},
		{"doctype scope, other doctype", []string{"Entry:read"}, "Note", ports.ActionRead, false, false},
		{"any doctype", []string{"*:create"}, "Note", ports.ActionCreate, true, true},
		{"any action of a doctype", []string{"Note:*"}, "Note", ports.ActionDelete, true, true},
		{"several scopes", []string{"Entry:*", "Note:write"}, "Note", ports.ActionWrite, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perm := &policy{}
			e := newEnv(t, perm)
			ctx := asUser("t1", &ports.UserContext{ID: "ann", Scopes: tc.scopes})
			ok, err := e.svc.Can(ctx, e.mustDocType(t, tc.dt), tc.action, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ok)
			assert.Equal(t, tc.asked, len(perm.requests("")) > 0)
		})
	}

	t.Run("the evaluator decides within the scopes", func(t *testing.T) {
		e := newEnv(t, &policy{allow: denyAction(ports.ActionRead)})
		ok, err := e.svc.Can(asUser("t1", &ports.UserContext{ID: "ann", Scopes: []string{"*"}}), e.mustDocType(t, "Note"), ports.ActionRead, nil)
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

// A scoped credential is limited by its scopes even where the evaluator
// allows everything.
func TestScopesLimitOperations(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	e.seed(t, "t1", "n1", "ann", "first")
	readOnly := asUser("t1", &ports.UserContext{ID: "ann", Scopes: []string{"Note:read"}})

	_, err := e.svc.Get(readOnly, "Note", "n1")
	require.NoError(t, err)
	res, err := e.svc.List(readOnly, "Note", resource.ListParams{})
	require.NoError(t, err)
	assert.Equal(t, []string{"n1"}, names(res.Items))

	_, err = e.svc.Create(readOnly, "Note", []byte(`{"name":"n2","title":"x"}`))
	assert.ErrorIs(t, err, core.ErrForbidden)
	_, err = e.svc.Update(readOnly, "Note", "n1", []byte(`{"title":"changed"}`), nil)
	assert.ErrorIs(t, err, core.ErrForbidden)
	err = e.svc.Delete(readOnly, "Note", "n1")
	assert.ErrorIs(t, err, core.ErrForbidden)

	assert.False(t, e.exists(t, "t1", "Note", "n2"))
	assert.Equal(t, "first", e.stored(t, "t1", "n1").Title)
	for _, a := range []ports.Action{ports.ActionCreate, ports.ActionWrite, ports.ActionDelete} {
		assert.Empty(t, perm.requests(a), "scopes refuse %s before the evaluator", a)
	}

	otherDocType := asUser("t1", &ports.UserContext{ID: "ann", Scopes: []string{"Entry:read"}})
	_, err = e.svc.Get(otherDocType, "Note", "n1")
	assert.ErrorIs(t, err, core.ErrNotFound, "a document outside the scopes is not readable")
	_, err = e.svc.List(otherDocType, "Note", resource.ListParams{})
	assert.ErrorIs(t, err, core.ErrForbidden)

	createOnly := asUser("t1", &ports.UserContext{ID: "ann", Scopes: []string{"*:create"}})
	_, err = e.svc.Create(createOnly, "Note", []byte(`{"name":"n3","title":"x"}`))
	require.NoError(t, err)
	assert.True(t, e.exists(t, "t1", "Note", "n3"))
}

func TestCreate(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	ctx := as("t1", "ann", "Sales")

	doc, err := e.svc.Create(ctx, "Note", []byte(`{"name":"n1","title":"hello","body":"text","priority":3}`))
	require.NoError(t, err)
	n := doc.(*note)
	assert.Equal(t, "n1", n.Name)
	assert.Equal(t, "t1", n.TenantID)
	assert.Equal(t, "ann", n.Owner, "the principal owns what it creates")
	assert.Equal(t, int64(1), n.Version)

	got := e.stored(t, "t1", "n1")
	assert.Equal(t, "hello", got.Title)
	assert.Equal(t, "text", got.Body)
	assert.Equal(t, 3, got.Priority)
	assert.Equal(t, "ann", got.Owner)

	reqs := perm.requests(ports.ActionCreate)
	require.Len(t, reqs, 1)
	assert.Equal(t, "Note", reqs[0].DocType)
	assert.Equal(t, "t1", reqs[0].TenantID)
	require.IsType(t, &note{}, reqs[0].Doc)
	assert.Equal(t, "ann", reqs[0].Doc.(*note).Owner, "the evaluator sees the owner it may test")
	assert.Equal(t, "hello", reqs[0].Doc.(*note).Title)
}

func TestCreateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		allow  func(ports.PolicyRequest) bool
		body   string
		is     error
		fields []string // fields a validation error names
	}{
		{"forbidden", denyAction(ports.ActionCreate), `{"name":"n1","title":"x"}`, core.ErrForbidden, nil},
		{"forbidden by document", denyIf(ports.ActionCreate, func(n *note) bool { return n.Priority > 5 }), `{"name":"n1","title":"x","priority":9}`, core.ErrForbidden, nil},
		{"DocType validation", nil, `{"name":"n1","title":"  "}`, core.ErrValidation, []string{"title"}},
		{"unknown field", nil, `{"name":"n1","title":"x","colour":"red"}`, core.ErrValidation, []string{"colour"}},
		{"hidden field", nil, `{"name":"n1","title":"x","secret":"s"}`, core.ErrValidation, []string{"secret"}},
		{"read-only field", nil, `{"name":"n1","title":"x","owner":"bob"}`, core.ErrValidation, []string{"owner"}},
		{"version", nil, `{"name":"n1","title":"x","version":7}`, core.ErrValidation, []string{"version"}},
		{"wrong type", nil, `{"name":"n1","title":"x","priority":"high"}`, core.ErrValidation, []string{"priority"}},
		{"several problems", nil, `{"name":"n1","title":"x","priority":"high","colour":"red"}`, core.ErrValidation, []string{"colour", "priority"}},
		{"not JSON", nil, `name=n1`, core.ErrValidation, nil},
		{"a JSON list", nil, `[{"name":"n1"}]`, core.ErrValidation, nil},
		{"empty body", nil, ``, core.ErrValidation, nil},
		{"bad name", nil, `{"name":"a/b","title":"x"}`, core.ErrValidation, []string{"name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &policy{allow: tc.allow})
			published := e.changes("Note")
			_, err := e.svc.Create(as("t1", "ann"), "Note", []byte(tc.body))
			require.ErrorIs(t, err, tc.is)
			if tc.fields != nil {
				got := fieldsOf(t, err)
				for _, f := range tc.fields {
					assert.Contains(t, got, f)
				}
			}
			res, err := e.repo.List(system("t1"), "Note", ports.Query{})
			require.NoError(t, err)
			assert.Empty(t, res.Items, "nothing is stored")
			assert.Zero(t, published.Load(), "no hook runs")
		})
	}
}

func TestCreateDuplicateName(t *testing.T) {
	e := newEnv(t, &policy{})
	e.seed(t, "t1", "n1", "bob", "bob's")
	_, err := e.svc.Create(as("t1", "ann"), "Note", []byte(`{"name":"n1","title":"mine"}`))
	require.ErrorIs(t, err, core.ErrConflict)
	got := e.stored(t, "t1", "n1")
	assert.Equal(t, "bob's", got.Title)
	assert.Equal(t, "bob", got.Owner)

	_, err = e.svc.Create(as("t2", "ann"), "Note", []byte(`{"name":"n1","title":"mine"}`))
	assert.NoError(t, err, "names are unique per tenant")
}

func TestInsert(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	ctx := as("t1", "ann")

	require.NoError(t, e.svc.Insert(ctx, "Note", &note{Base: doctype.Base{Name: "mine"}, Title: "x"}))
	assert.Equal(t, "ann", e.stored(t, "t1", "mine").Owner, "an empty owner becomes the principal")

	require.NoError(t, e.svc.Insert(ctx, "Note", &note{Base: doctype.Base{Name: "theirs", Owner: "bob"}, Title: "x", Secret: "kept"}))
	got := e.stored(t, "t1", "theirs")
	assert.Equal(t, "bob", got.Owner, "Go code may set the owner")
	assert.Equal(t, "kept", got.Secret, "Go code may set hidden fields")

	err := e.svc.Insert(ctx, "Note", &note{Base: doctype.Base{Name: "invalid"}})
	require.ErrorIs(t, err, core.ErrValidation)
	assert.Contains(t, fieldsOf(t, err), "title")
	assert.False(t, e.exists(t, "t1", "Note", "invalid"))

	perm.allow = denyAction(ports.ActionCreate)
	err = e.svc.Insert(ctx, "Note", &note{Base: doctype.Base{Name: "denied"}, Title: "x"})
	require.ErrorIs(t, err, core.ErrForbidden)
	assert.False(t, e.exists(t, "t1", "Note", "denied"))

	assert.Error(t, e.svc.Insert(ctx, "Note", struct{ Title string }{"not a document"}))
}

func TestUpdate(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	e.seed(t, "t1", "n1", "ann", "first")

	doc, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(`{"title":"second"}`), nil)
	require.NoError(t, err)
	n := doc.(*note)
	assert.Equal(t, "second", n.Title)
	assert.Equal(t, int64(2), n.Version)

	got := e.stored(t, "t1", "n1")
	assert.Equal(t, "second", got.Title)
	assert.Equal(t, "body of n1", got.Body, "fields absent from the patch keep their values")
	assert.Equal(t, "s3cret", got.Secret, "hidden fields keep their values")
	assert.Equal(t, int64(2), got.Version)
	assert.Equal(t, "ann", got.ModifiedBy)

	writes := perm.requests(ports.ActionWrite)
	require.Len(t, writes, 2, "write is checked on the document as read and as patched")
	assert.Equal(t, "first", writes[0].Doc.(*note).Title)
	assert.Equal(t, "second", writes[1].Doc.(*note).Title)
	assert.Equal(t, "n1", writes[1].DocName)

	// A fetched document sent back whole (read-only fields unchanged) is fine.
	whole := fmt.Sprintf(`{"name":"n1","owner":"ann","title":"third","version":%d}`, got.Version)
	_, err = e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(whole), nil)
	require.NoError(t, err)
	assert.Equal(t, "third", e.stored(t, "t1", "n1").Title)
}

func TestUpdateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow func(ports.PolicyRequest) bool
		patch string
		is    error
		not   error
		field string
	}{
		{"unreadable", denyAction(ports.ActionRead), `{"title":"x"}`, core.ErrNotFound, core.ErrForbidden, ""},
		{"write forbidden", denyAction(ports.ActionWrite), `{"title":"x"}`, core.ErrForbidden, nil, ""},
		// Allowed to write the document as it is, but not as it would become.
		{"patched document forbidden", denyIf(ports.ActionWrite, func(n *note) bool { return n.Title == "locked" }), `{"title":"locked"}`, core.ErrForbidden, nil, ""},
		{"DocType validation", nil, `{"title":""}`, core.ErrValidation, nil, "title"},
		{"unknown field", nil, `{"colour":"red"}`, core.ErrValidation, nil, "colour"},
		{"hidden field", nil, `{"secret":"new"}`, core.ErrValidation, nil, "secret"},
		{"changed read-only field", nil, `{"owner":"bob"}`, core.ErrValidation, nil, "owner"},
		{"null version", nil, `{"title":"x","version":null}`, core.ErrValidation, nil, "version"},
		{"wrong type", nil, `{"priority":"high"}`, core.ErrValidation, nil, "priority"},
		{"not JSON", nil, `title=x`, core.ErrValidation, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &policy{allow: tc.allow})
			e.seed(t, "t1", "n1", "ann", "first")
			published := e.changes("Note")
			doc, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(tc.patch), nil)
			assert.Nil(t, doc)
			require.ErrorIs(t, err, tc.is)
			if tc.not != nil {
				assert.NotErrorIs(t, err, tc.not)
			}
			if tc.field != "" {
				assert.Contains(t, fieldsOf(t, err), tc.field)
			}
			got := e.stored(t, "t1", "n1")
			assert.Equal(t, "first", got.Title, "nothing changed")
			assert.Equal(t, "s3cret", got.Secret)
			assert.Equal(t, "ann", got.Owner)
			assert.Equal(t, int64(1), got.Version)
			assert.Zero(t, published.Load(), "no hook runs")
		})
	}

	t.Run("missing", func(t *testing.T) {
		e := newEnv(t, &policy{})
		_, err := e.svc.Update(as("t1", "ann"), "Note", "nope", []byte(`{"title":"x"}`), nil)
		assert.ErrorIs(t, err, core.ErrNotFound)
	})
}

// Optimistic versions: the version a client expects comes from the body or
// If-Match; a stale one is a *core.ConflictError carrying the current document.
func TestUpdateVersions(t *testing.T) {
	const current = 2
	for _, tc := range []struct {
		name        string
		bodyVersion *int64
		ifMatch     *int64
		want        error // nil: applied
	}{
		{"no version", nil, nil, nil},
		{"current body version", ptr(current), nil, nil},
		{"stale body version", ptr(current - 1), nil, core.ErrConflict},
		{"future body version", ptr(current + 1), nil, core.ErrConflict},
		{"current If-Match", nil, ptr(current), nil},
		{"stale If-Match", nil, ptr(current - 1), core.ErrConflict},
		{"both current", ptr(current), ptr(current), nil},
		{"both stale", ptr(current - 1), ptr(current - 1), core.ErrConflict},
		{"body current, If-Match stale", ptr(current), ptr(current - 1), core.ErrValidation},
		{"body stale, If-Match current", ptr(current - 1), ptr(current), core.ErrValidation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perm := &policy{}
			e := newEnv(t, perm)
			e.seed(t, "t1", "n1", "ann", "first")
			_, err := e.svc.Update(as("t1", "bob"), "Note", "n1", []byte(`{"title":"bob's"}`), nil)
			require.NoError(t, err)
			require.Equal(t, int64(current), e.stored(t, "t1", "n1").Version)
			perm.reset()

			patch := `{"body":"ann's"}`
			if tc.bodyVersion != nil {
				patch = fmt.Sprintf(`{"body":"ann's","version":%d}`, *tc.bodyVersion)
			}
			doc, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(patch), tc.ifMatch)
			got := e.stored(t, "t1", "n1")

			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, int64(current+1), doc.(*note).Version)
				assert.Equal(t, int64(current+1), got.Version)
				assert.Equal(t, "ann's", got.Body)
				assert.Equal(t, "bob's", got.Title)
				return
			}
			assert.Nil(t, doc)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, int64(current), got.Version, "nothing written")
			assert.Equal(t, "body of n1", got.Body)
			if tc.want == core.ErrValidation {
				assert.Contains(t, fieldsOf(t, err), "version")
				return
			}
			var ce *core.ConflictError
			require.ErrorAs(t, err, &ce)
			require.IsType(t, &note{}, ce.Current, "the conflict carries the current document")
			cur := ce.Current.(*note)
			assert.Equal(t, int64(current), cur.Version)
			assert.Equal(t, "bob's", cur.Title)
			assert.Equal(t, "body of n1", cur.Body)
			// One read check of the document, one of the conflict's current
			// document before handing it over; a pinned version is not retried.
			assert.Len(t, perm.requests(ports.ActionRead), 2, "a pinned version is not retried")
		})
	}
}

// interferer is a policy that, while armed, changes the document behind the
// service's back at each write check, as a concurrent request would.
type interferer struct {
	*policy
	e       *env
	mu      sync.Mutex
	left    int // changes still to make; <0: forever
	made    int
	onWrite func()
	// change is the concurrent change (the k-th); default: set Priority.
	change func(n *note, k int)
}

func newInterferer(t *testing.T, times int) *interferer {
	in := &interferer{policy: &policy{}, left: times}
	in.e = newEnv(t, in)
	return in
}

func (in *interferer) Evaluate(ctx context.Context, req ports.PolicyRequest) (ports.PolicyResult, error) {
	if req.Action == ports.ActionWrite {
		in.mu.Lock()
		change := in.left != 0
		if change {
			in.left--
			in.made++
		}
		k := in.made
		in.mu.Unlock()
		if change {
			sys := system("t1")
			d, err := in.e.repo.Get(sys, "Note", req.DocName)
			if err != nil {
				return ports.PolicyResult{}, err
			}
			if in.change != nil {
				in.change(d.(*note), k)
			} else {
				d.(*note).Priority = 100 + k
			}
			if err := in.e.repo.Update(sys, "Note", d); err != nil {
				return ports.PolicyResult{}, err
			}
		}
		if in.onWrite != nil {
			in.onWrite()
		}
	}
	return in.policy.Evaluate(ctx, req)
}

func (in *interferer) changes() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.made
}

// A patch without a version applies to whatever version is current: a
// concurrent change makes the service re-read and re-apply it, keeping both.
func TestUpdateWithoutVersionRetries(t *testing.T) {
	in := newInterferer(t, 3)
	e := in.e
	e.seed(t, "t1", "n1", "ann", "first")
	published := e.changes("Note")

	doc, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(`{"title":"patched"}`), nil)
	require.NoError(t, err)
	require.Equal(t, 3, in.changes())

	got := e.stored(t, "t1", "n1")
	assert.Equal(t, "patched", got.Title, "the patch applied")
	assert.Equal(t, 103, got.Priority, "over every concurrent change")
	assert.Equal(t, int64(1+3+1), got.Version)
	assert.Equal(t, got.Version, doc.(*note).Version)
	assert.Greater(t, len(in.requests(ports.ActionRead)), 1, "the document was read again")
	assert.EqualValues(t, 1, published.Load(), "one hook run for the one change made")
}

func TestUpdatePinnedVersionIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		patch   string
		ifMatch *int64
	}{
		{"body version", `{"title":"patched","version":1}`, nil},
		{"If-Match", `{"title":"patched"}`, ptr(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInterferer(t, -1)
			e := in.e
			e.seed(t, "t1", "n1", "ann", "first")

			doc, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(tc.patch), tc.ifMatch)
			assert.Nil(t, doc)
			var ce *core.ConflictError
			require.ErrorAs(t, err, &ce)
			got := e.stored(t, "t1", "n1")
			assert.Equal(t, "first", got.Title, "the patch did not apply")
			require.IsType(t, &note{}, ce.Current)
			assert.Equal(t, got.Version, ce.Current.(*note).Version, "the conflict carries the current version")
			// The read check, then the conflict's current document's: no second attempt.
			assert.Len(t, in.requests(ports.ActionRead), 2, "no second attempt")
		})
	}
}

// A conflict carries the current document so the client can merge, but never
// one the principal may not read: when a concurrent change (here: the note
// becomes classified) makes the document unreadable between the service's
// read check and its write, the answer must not disclose it.
func TestConflictNeverCarriesAnUnreadableDocument(t *testing.T) {
	for _, tc := range []struct {
		name    string
		patch   string
		ifMatch *int64
		times   int
	}{
		// The client's version was current: the repository's write conflicts.
		{"current body version", `{"title":"patched","version":1}`, nil, 1},
		{"current If-Match", `{"title":"patched"}`, ptr(1), 1},
		// The client's version was wrong from the start: the service re-reads
		// the document to report it.
		{"wrong body version", `{"title":"patched","version":7}`, nil, 1},
		{"wrong If-Match", `{"title":"patched"}`, ptr(7), 1},
		// Control: without a version the service re-reads and re-checks.
		{"no version", `{"title":"patched"}`, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInterferer(t, tc.times)
			in.allow = denyIf(ports.ActionRead, func(n *note) bool { return n.Priority >= 100 })
			in.change = func(n *note, k int) {
				n.Priority = 100 + k // classified: ann may no longer read it
				n.Body = fmt.Sprintf("classified text %d", k)
			}
			e := in.e
			e.seed(t, "t1", "n1", "ann", "first")

			_, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(tc.patch), tc.ifMatch)
			require.Error(t, err)
			var ce *core.ConflictError
			if errors.As(err, &ce) {
				assert.Nil(t, ce.Current, "the 409 would disclose a document ann may not read: %+v", ce.Current)
			} else {
				assert.ErrorIs(t, err, core.ErrNotFound)
			}
			assert.Equal(t, "first", e.stored(t, "t1", "n1").Title, "the patch did not apply")
		})
	}
}

func TestUpdateWithoutVersionGivesUp(t *testing.T) {
	in := newInterferer(t, -1)
	e := in.e
	e.seed(t, "t1", "n1", "ann", "first")

	_, err := e.svc.Update(as("t1", "ann"), "Note", "n1", []byte(`{"title":"patched"}`), nil)
	var ce *core.ConflictError
	require.ErrorAs(t, err, &ce, "endless contention ends in a 409")
	// Each attempt checks the document and then the conflict's current one.
	attempts := len(in.requests(ports.ActionRead)) / 2
	assert.Greater(t, attempts, 1)
	assert.LessOrEqual(t, attempts, 12)
	assert.Equal(t, "first", e.stored(t, "t1", "n1").Title)
}

func TestUpdateRetryStopsWithTheRequest(t *testing.T) {
	in := newInterferer(t, -1)
	e := in.e
	e.seed(t, "t1", "n1", "ann", "first")
	ctx, cancel := context.WithCancel(as("t1", "ann"))
	defer cancel()
	var once sync.Once
	in.onWrite = func() { once.Do(cancel) }

	_, err := e.svc.Update(ctx, "Note", "n1", []byte(`{"title":"patched"}`), nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, in.requests(ports.ActionRead), 1, "no attempt after the request is gone")
	assert.Equal(t, "first", e.stored(t, "t1", "n1").Title)
}

func TestDelete(t *testing.T) {
	perm := &policy{}
	e := newEnv(t, perm)
	e.seed(t, "t1", "n1", "ann", "first")

	require.NoError(t, e.svc.Delete(as("t1", "ann"), "Note", "n1"))
	assert.False(t, e.exists(t, "t1", "Note", "n1"))
	dels := perm.requests(ports.ActionDelete)
	require.Len(t, dels, 1)
	assert.Equal(t, "n1", dels[0].DocName)
	assert.Equal(t, "first", dels[0].Doc.(*note).Title)

	assert.ErrorIs(t, e.svc.Delete(as("t1", "ann"), "Note", "n1"), core.ErrNotFound, "already gone")
}

func TestDeleteRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow func(ports.PolicyRequest) bool
		is    error
	}{
		{"unreadable", denyAction(ports.ActionRead), core.ErrNotFound},
		{"forbidden", denyAction(ports.ActionDelete), core.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &policy{allow: tc.allow})
			e.seed(t, "t1", "n1", "ann", "first")
			published := e.changes("Note")
			require.ErrorIs(t, e.svc.Delete(as("t1", "ann"), "Note", "n1"), tc.is)
			assert.True(t, e.exists(t, "t1", "Note", "n1"), "still there")
			assert.Zero(t, published.Load())
		})
	}

	t.Run("another tenant's document", func(t *testing.T) {
		e := newEnv(t, &policy{})
		e.seed(t, "t1", "n1", "ann", "first")
		require.ErrorIs(t, e.svc.Delete(as("t2", "ann"), "Note", "n1"), core.ErrNotFound)
		assert.True(t, e.exists(t, "t1", "Note", "n1"))
	})
}

// changes counts the change events of doctypeName that the service's writes publish.
func (e *env) changes(doctypeName string) *atomic.Int64 {
	n := &atomic.Int64{}
	e.feed.Subscribe(doctypeName, func(context.Context, ports.ChangeEvent) { n.Add(1) })
	return n
}

func TestListPermissions(t *testing.T) {
	seed := func(t *testing.T, e *env) {
		e.seed(t, "t1", "a1", "ann", "a1")
		e.seed(t, "t1", "b1", "bob", "b1")
		e.seed(t, "t1", "a2", "ann", "a2")
		e.seed(t, "t2", "x1", "ann", "other tenant")
	}
	byName := resource.ListParams{Orders: []ports.Order{{Field: "name"}}}

	t.Run("everything readable", func(t *testing.T) {
		e := newEnv(t, &policy{})
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.Equal(t, []string{"a1", "a2", "b1"}, names(res.Items), "only the tenant's documents")
		assert.Equal(t, int64(3), res.Total)
	})

	t.Run("list forbidden", func(t *testing.T) {
		perm := &policy{allow: denyAction(ports.ActionRead)}
		e := newEnv(t, perm)
		seed(t, e)
		_, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.ErrorIs(t, err, core.ErrForbidden)
		reqs := perm.requests(ports.ActionRead)
		require.Len(t, reqs, 1)
		assert.Nil(t, reqs[0].Doc, "a DocType-level check")
		assert.Empty(t, reqs[0].DocName)
	})

	t.Run("row-level filters", func(t *testing.T) {
		perm := &policy{filters: func(u *ports.UserContext, _ string, _ ports.Action) ([]ports.Filter, error) {
			return []ports.Filter{{Field: "owner", Op: ports.OpEq, Value: u.ID}}, nil
		}}
		e := newEnv(t, perm)
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.Equal(t, []string{"a1", "a2"}, names(res.Items))
		assert.Equal(t, int64(2), res.Total)

		require.Len(t, perm.filtered, 1)
		assert.Equal(t, "ann", perm.filtered[0].user.ID)
		assert.Equal(t, "Note", perm.filtered[0].doctype)
		assert.Equal(t, ports.ActionRead, perm.filtered[0].action)

		// The client's filters and the row-level ones both apply.
		p := byName
		p.Filters = []ports.Filter{{Field: "title", Op: ports.OpEq, Value: "b1"}}
		res, err = e.svc.List(as("t1", "ann"), "Note", p)
		require.NoError(t, err)
		assert.Empty(t, res.Items, "a client filter cannot widen row-level security")
	})

	t.Run("no rows permitted", func(t *testing.T) {
		perm := &policy{filters: func(*ports.UserContext, string, ports.Action) ([]ports.Filter, error) {
			return nil, core.Public(core.ErrForbidden, "no rows")
		}}
		e := newEnv(t, perm)
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.NotNil(t, res.Items)
		assert.Empty(t, res.Items)
		assert.Zero(t, res.Total)
	})

	t.Run("filter error", func(t *testing.T) {
		boom := errors.New("policy store down")
		e := newEnv(t, &policy{filters: func(*ports.UserContext, string, ports.Action) ([]ports.Filter, error) {
			return nil, boom
		}})
		seed(t, e)
		_, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.ErrorIs(t, err, boom)
	})
}

// An evaluator that is a RowChecker gets every listed document checked, and
// the refused ones are dropped.
func TestListRowChecker(t *testing.T) {
	hidden := denyIf(ports.ActionRead, func(n *note) bool { return strings.HasPrefix(n.Title, "hidden") })
	seed := func(t *testing.T, e *env) {
		e.seed(t, "t1", "n1", "ann", "public one")
		e.seed(t, "t1", "n2", "ann", "hidden two")
		e.seed(t, "t1", "n3", "ann", "public three")
		e.seed(t, "t1", "n4", "ann", "hidden four")
	}
	byName := resource.ListParams{Orders: []ports.Order{{Field: "name"}}}

	t.Run("row check needed", func(t *testing.T) {
		perm := &policy{allow: hidden}
		e := newEnv(t, rowPolicy{policy: perm, rowCheck: map[string]bool{"Note": true}})
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.Equal(t, []string{"n1", "n3"}, names(res.Items))
		assert.Equal(t, int64(4), res.Total, "the total counts what the filters matched")
		assert.Len(t, perm.requests(ports.ActionRead), 1+4, "one list check, one per document")
	})

	t.Run("row check not needed for this DocType", func(t *testing.T) {
		perm := &policy{allow: hidden}
		e := newEnv(t, rowPolicy{policy: perm, rowCheck: map[string]bool{"Entry": true}})
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.Equal(t, []string{"n1", "n2", "n3", "n4"}, names(res.Items))
		assert.Len(t, perm.requests(ports.ActionRead), 1, "only the list check")
	})

	t.Run("not a row checker", func(t *testing.T) {
		perm := &policy{allow: hidden}
		e := newEnv(t, perm)
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.Equal(t, []string{"n1", "n2", "n3", "n4"}, names(res.Items))
		assert.Len(t, perm.requests(ports.ActionRead), 1)
	})

	t.Run("every row refused", func(t *testing.T) {
		perm := &policy{allow: func(req ports.PolicyRequest) bool { return req.Doc == nil }}
		e := newEnv(t, rowPolicy{policy: perm, rowCheck: map[string]bool{"Note": true}})
		seed(t, e)
		res, err := e.svc.List(as("t1", "ann"), "Note", byName)
		require.NoError(t, err)
		assert.NotNil(t, res.Items)
		assert.Empty(t, res.Items)
	})

	// A scoped credential's list goes through the same checks, list and rows:
	// scopes that allow reading Notes keep every row the evaluator allows (and
	// no more); scopes that do not refuse the list before the evaluator sees
	// the list or any row.
	t.Run("scopes apply to every row", func(t *testing.T) {
		for _, tc := range []struct {
			scopes []string
			want   []string // nil: refused
		}{
			{[]string{"Note:read"}, []string{"n1", "n3"}},
			{[]string{"read"}, []string{"n1", "n3"}},
			{[]string{"Entry:*", "Note:read"}, []string{"n1", "n3"}},
			{[]string{"Entry:read"}, nil},
			{[]string{"Note:write"}, nil},
			{[]string{"*:create"}, nil},
		} {
			t.Run(strings.Join(tc.scopes, ","), func(t *testing.T) {
				perm := &policy{allow: hidden}
				e := newEnv(t, rowPolicy{policy: perm, rowCheck: map[string]bool{"Note": true}})
				seed(t, e)
				res, err := e.svc.List(asUser("t1", &ports.UserContext{ID: "ann", Scopes: tc.scopes}), "Note", byName)
				if tc.want == nil {
					require.ErrorIs(t, err, core.ErrForbidden)
					assert.Empty(t, perm.requests(""), "scopes refuse before the evaluator")
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tc.want, names(res.Items), "a scope narrows, never widens, the row checks")
				assert.Len(t, perm.requests(ports.ActionRead), 1+4, "one list check, one per document")
			})
		}
	})
}

func TestListParamsValidation(t *testing.T) {
	e := newEnv(t, &policy{})
	e.seed(t, "t1", "n1", "ann", "first")
	for _, tc := range []struct {
		name   string
		p      resource.ListParams
		fields []string
	}{
		{"negative limit", resource.ListParams{Limit: -1}, []string{"limit"}},
		{"limit over the maximum", resource.ListParams{Limit: resource.MaxLimit + 1}, []string{"limit"}},
		{"negative offset", resource.ListParams{Offset: -1}, []string{"offset"}},
		{"filter on an unknown field", resource.ListParams{Filters: []ports.Filter{{Field: "nope", Op: ports.OpEq, Value: "x"}}}, []string{"filters.nope"}},
		{"filter on a hidden field", resource.ListParams{Filters: []ports.Filter{{Field: "secret", Op: ports.OpEq, Value: "s3cret"}}}, []string{"filters.secret"}},
		{"filter on a non-filterable field", resource.ListParams{Filters: []ports.Filter{{Field: "body", Op: ports.OpEq, Value: "x"}}}, []string{"filters.body"}},
		{"unknown operator", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: "~", Value: "x"}}}, []string{"filters.title"}},
		{"filter value of the wrong type", resource.ListParams{Filters: []ports.Filter{{Field: "priority", Op: ports.OpEq, Value: "high"}}}, []string{"filters.priority"}},
		{"filter without a value", resource.ListParams{Filters: []ports.Filter{{Field: "title", Op: ports.OpEq}}}, []string{"filters.title"}},
		{"order by an unknown field", resource.ListParams{Orders: []ports.Order{{Field: "nope"}}}, []string{"order_by.nope"}},
		{"order by a hidden field", resource.ListParams{Orders: []ports.Order{{Field: "secret"}}}, []string{"order_by.secret"}},
		{"order by a non-sortable field", resource.ListParams{Orders: []ports.Order{{Field: "body"}}}, []string{"order_by.body"}},
		{"unknown projected field", resource.ListParams{Fields: []string{"title", "nope"}}, []string{"fields.nope"}},
		{"hidden projected field", resource.ListParams{Fields: []string{"secret"}}, []string{"fields.secret"}},
		{"every problem at once", resource.ListParams{
			Limit: -5, Offset: -1,
			Filters: []ports.Filter{{Field: "nope", Op: ports.OpEq, Value: "x"}},
			Orders:  []ports.Order{{Field: "body"}},
			Fields:  []string{"secret"},
		}, []string{"limit", "offset", "filters.nope", "order_by.body", "fields.secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.svc.List(as("t1", "ann"), "Note", tc.p)
			require.ErrorIs(t, err, core.ErrValidation)
			assert.Nil(t, res.Items)
			got := fieldsOf(t, err)
			assert.Len(t, got, len(tc.fields))
			for _, f := range tc.fields {
				assert.Contains(t, got, f)
			}
		})
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, &policy{})
	const n = resource.DefaultLimit + 5
	for i := range n {
		e.seed(t, "t1", fmt.Sprintf("n%02d", i), "ann", fmt.Sprintf("title %02d", i))
	}
	ctx := as("t1", "ann")
	byName := []ports.Order{{Field: "name"}}

	for _, tc := range []struct {
		name      string
		p         resource.ListParams
		wantLen   int
		wantFirst string
		wantTotal int64
	}{
		{"default limit", resource.ListParams{Orders: byName}, resource.DefaultLimit, "n00", n},
		{"maximum limit", resource.ListParams{Orders: byName, Limit: resource.MaxLimit}, n, "n00", n},
		{"a page", resource.ListParams{Orders: byName, Limit: 5, Offset: 20}, 5, "n20", n},
		{"past the end", resource.ListParams{Orders: byName, Limit: 5, Offset: n}, 0, "", n},
		{"descending", resource.ListParams{Orders: []ports.Order{{Field: "title", Desc: true}}, Limit: 1}, 1, fmt.Sprintf("n%02d", n-1), n},
		{"filtered", resource.ListParams{Orders: byName, Filters: []ports.Filter{{Field: "title", Op: ports.OpIn, Value: []string{"title 03", "title 07"}}}}, 2, "n03", 2},
		{"filter value as text", resource.ListParams{Orders: byName, Filters: []ports.Filter{{Field: "priority", Op: ports.OpEq, Value: "1"}}, Limit: 1}, 1, "n00", n},
		{"projection", resource.ListParams{Orders: byName, Fields: []string{"name", "title"}, Limit: 1}, 1, "n00", n},
		{"total skipped", resource.ListParams{Orders: byName, Limit: 3, SkipTotal: true}, 3, "n00", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.svc.List(ctx, "Note", tc.p)
			require.NoError(t, err)
			assert.NotNil(t, res.Items)
			require.Len(t, res.Items, tc.wantLen)
			if tc.wantLen > 0 {
				assert.Equal(t, tc.wantFirst, names(res.Items)[0])
			}
			assert.Equal(t, tc.wantTotal, res.Total)
		})
	}
}

func TestCheckFields(t *testing.T) {
	e := newEnv(t, &policy{})
	dt := e.mustDocType(t, "Note")
	for _, tc := range []struct {
		name   string
		fields []string
		bad    []string
	}{
		{"none", nil, nil},
		{"visible fields", []string{"name", "title", "body", "priority", "owner", "version", "modified_at"}, nil},
		{"unknown field", []string{"title", "nope"}, []string{"fields.nope"}},
		{"hidden field", []string{"secret"}, []string{"fields.secret"}},
		{"Go name instead of JSON name", []string{"Title"}, []string{"fields.Title"}},
		{"several", []string{"nope", "secret", "title"}, []string{"fields.nope", "fields.secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.CheckFields(dt, tc.fields)
			if tc.bad == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, core.ErrValidation)
			got := fieldsOf(t, err)
			assert.Len(t, got, len(tc.bad))
			for _, f := range tc.bad {
				assert.Equal(t, "unknown field", got[f], f)
			}
		})
	}
}

func TestSingle(t *testing.T) {
	e := newEnv(t, &policy{})
	ctx := as("t1", "ann")

	assert.False(t, e.exists(t, "t1", "Settings", "Settings"))
	doc, err := e.svc.GetSingle(ctx, "Settings")
	require.NoError(t, err)
	s := doc.(*settings)
	assert.Equal(t, "Settings", s.Name)
	assert.Equal(t, "light", s.Theme, "created with its defaults on first read")
	assert.Equal(t, 20, s.PageSize)
	assert.Equal(t, int64(1), s.Version)

	again, err := e.svc.Get(ctx, "Settings", "Settings")
	require.NoError(t, err)
	assert.Equal(t, int64(1), again.(*settings).Version, "read, not created again")

	_, err = e.svc.Get(ctx, "Settings", "Other")
	assert.ErrorIs(t, err, core.ErrNotFound)

	updated, err := e.svc.Update(ctx, "Settings", "Settings", []byte(`{"theme":"dark"}`), nil)
	require.NoError(t, err)
	assert.Equal(t, "dark", updated.(*settings).Theme)
	assert.Equal(t, 20, updated.(*settings).PageSize)

	_, err = e.svc.Update(ctx, "Settings", "Other", []byte(`{"theme":"dark"}`), nil)
	assert.ErrorIs(t, err, core.ErrNotFound)

	other, err := e.svc.GetSingle(as("t2", "ann"), "Settings")
	require.NoError(t, err)
	assert.Equal(t, "light", other.(*settings).Theme, "one singleton per tenant")

	res, err := e.svc.List(ctx, "Settings", resource.ListParams{})
	require.NoError(t, err)
	assert.Equal(t, []string{"Settings"}, names(res.Items))

	_, err = e.svc.GetSingle(ctx, "Note")
	assert.ErrorIs(t, err, core.ErrNotSupported)
}

func TestSingleFirstUseByUpdateOrList(t *testing.T) {
	t.Run("update", func(t *testing.T) {
		e := newEnv(t, &policy{})
		doc, err := e.svc.Update(as("t1", "ann"), "Settings", "Settings", []byte(`{"page_size":50}`), nil)
		require.NoError(t, err)
		s := doc.(*settings)
		assert.Equal(t, 50, s.PageSize)
		assert.Equal(t, "light", s.Theme, "defaults apply before the patch")
	})
	t.Run("list", func(t *testing.T) {
		e := newEnv(t, &policy{})
		res, err := e.svc.List(as("t1", "ann"), "Settings", resource.ListParams{})
		require.NoError(t, err)
		require.Len(t, res.Items, 1)
		assert.Equal(t, "light", res.Items[0].(*settings).Theme)
	})
	t.Run("unreadable", func(t *testing.T) {
		e := newEnv(t, &policy{allow: denyAction(ports.ActionRead)})
		_, err := e.svc.GetSingle(as("t1", "ann"), "Settings")
		assert.ErrorIs(t, err, core.ErrNotFound)
	})
}

func TestSingleRefusals(t *testing.T) {
	e := newEnv(t, &policy{})
	ctx := as("t1", "ann")
	_, err := e.svc.GetSingle(ctx, "Settings")
	require.NoError(t, err)

	for name, call := range map[string]func() error{
		"Create": func() error { _, err := e.svc.Create(ctx, "Settings", []byte(`{"theme":"dark"}`)); return err },
		"Insert": func() error { return e.svc.Insert(ctx, "Settings", &settings{Theme: "dark"}) },
		"Delete": func() error { return e.svc.Delete(ctx, "Settings", "Settings") },
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.ErrorIs(t, err, core.ErrNotSupported)
			var ns *core.NotSupportedError
			require.ErrorAs(t, err, &ns)
			assert.Equal(t, []string{"GET", "PATCH"}, ns.Allow)
		})
	}
	doc, err := e.svc.GetSingle(ctx, "Settings")
	require.NoError(t, err)
	assert.Equal(t, "light", doc.(*settings).Theme, "unchanged")
	assert.Equal(t, int64(1), doc.(*settings).Version)
}

func TestImmutable(t *testing.T) {
	e := newEnv(t, &policy{})
	ctx := as("t1", "ann")
	require.NoError(t, e.repo.Create(system("t1"), "Entry", &entry{Base: doctype.Base{Name: "e1"}, Text: "written by the framework"}))

	notSupported := func(t *testing.T, err error) {
		t.Helper()
		require.ErrorIs(t, err, core.ErrNotSupported)
		var ns *core.NotSupportedError
		require.ErrorAs(t, err, &ns)
		assert.Equal(t, []string{"GET", "DELETE"}, ns.Allow)
	}

	_, err := e.svc.Create(ctx, "Entry", []byte(`{"text":"x"}`))
	notSupported(t, err)
	notSupported(t, e.svc.Insert(ctx, "Entry", &entry{Base: doctype.Base{Name: "e2"}, Text: "x"}))
	assert.False(t, e.exists(t, "t1", "Entry", "e2"))

	_, err = e.svc.Update(ctx, "Entry", "e1", []byte(`{"text":"changed"}`), nil)
	notSupported(t, err)

	doc, err := e.svc.Get(ctx, "Entry", "e1")
	require.NoError(t, err)
	assert.Equal(t, "written by the framework", doc.(*entry).Text)
	assert.Equal(t, int64(1), doc.(*entry).Version)

	res, err := e.svc.List(ctx, "Entry", resource.ListParams{})
	require.NoError(t, err)
	assert.Equal(t, []string{"e1"}, names(res.Items))

	require.NoError(t, e.svc.Delete(ctx, "Entry", "e1"))
	assert.False(t, e.exists(t, "t1", "Entry", "e1"))
}
