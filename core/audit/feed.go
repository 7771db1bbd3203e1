package audit

import (
	"context"
	"errors"
	"slices"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// FeedScanLimit is how many of the newest matching entries a feed page for
// a user who is not an admin looks through for entries they may see: its
// total counts the visible ones among them.
const FeedScanLimit = 10_000

// MaxFeedLimit caps a feed page.
const MaxFeedLimit = 100

// Feed answers the activity feed: the entries of the caller's tenant that
// they may see now. Admins see every entry of their tenant; others see the
// entries of documents they may read now, and their own security events.
type Feed struct {
	audit      *Service
	res        *resource.Service
	adminRoles []string
}

// NewFeed returns the feed of audit's entries; res decides what a user may
// read; adminRoles see everything of their tenant.
func NewFeed(audit *Service, res *resource.Service, adminRoles []string) *Feed {
	return &Feed{audit: audit, res: res, adminRoles: slices.Clone(adminRoles)}
}

// Page is one page of the feed and the number of entries the caller may see
// (see FeedScanLimit).
type Page struct {
	Entries []ports.AuditEntry `json:"data"`
	Total   int64              `json:"total"`
}

func (f *Feed) admin(u *ports.UserContext) bool {
	if u.IsSystemUser() {
		return true
	}
	return slices.ContainsFunc(f.adminRoles, u.HasRole)
}

// List returns the page of entries filter selects that the principal may
// see, newest first. filter.TenantID is the caller's tenant, whatever it
// held.
func (f *Feed) List(ctx context.Context, filter ports.AuditFilter, limit, offset int) (*Page, error) {
	u := ports.UserFrom(ctx)
	if u == nil {
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	}
	filter.TenantID = ports.TenantIDFrom(ctx)
	limit = min(max(limit, 1), MaxFeedLimit)
	offset = max(offset, 0)
	if f.admin(u) {
		res, err := f.audit.Query(ctx, filter, ports.AuditPage{Limit: limit, Offset: offset})
		if err != nil {
			return nil, err
		}
		return &Page{Entries: nonNil(res.Entries), Total: res.Total}, nil
	}
	return f.scan(ctx, u, filter, limit, offset)
}

// Document returns the timeline of doctype/name: the caller must be able to
// read the document now (admins: also once it is deleted), else 404.
func (f *Feed) Document(ctx context.Context, doctypeName, name string, limit, offset int) (*Page, error) {
	u := ports.UserFrom(ctx)
	if u == nil {
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	}
	dt, err := f.res.DocType(doctypeName)
	if err != nil {
		return nil, err
	}
	if !f.admin(u) {
		ok, err := f.readable(ctx, dt.Name, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, core.Publicf(core.ErrNotFound, "%s %q not found", dt.Name, name)
		}
	}
	filter := ports.AuditFilter{TenantID: ports.TenantIDFrom(ctx), DocType: dt.Name, DocumentID: name}
	res, err := f.audit.Query(ctx, filter, ports.AuditPage{Limit: min(max(limit, 1), MaxFeedLimit), Offset: max(offset, 0)})
	if err != nil {
		return nil, err
	}
	if !f.admin(u) {
		for i, e := range res.Entries {
			res.Entries[i] = private(u, e)
		}
	}
	return &Page{Entries: nonNil(res.Entries), Total: res.Total}, nil
}

// personal are the metadata of an entry that only its user and admins see:
// where another user made a change from is theirs, not their coworkers'.
var personal = []string{"ip", "user_agent"}

// private returns e as u may see it: without another user's address and
// user agent.
func private(u *ports.UserContext, e ports.AuditEntry) ports.AuditEntry {
	if e.UserID == u.ID || len(e.Metadata) == 0 {
		return e
	}
	md := make(map[string]any, len(e.Metadata))
	for k, v := range e.Metadata {
		if !slices.Contains(personal, k) {
			md[k] = v
		}
	}
	e.Metadata = md
	return e
}

// scan pages through the newest FeedScanLimit matching entries and keeps
// those u may see. Whether u may read the documents of a page is asked in
// one list per DocType (name in …, with u's permissions and row-level
// security), not one read per document.
func (f *Feed) scan(ctx context.Context, u *ports.UserContext, filter ports.AuditFilter, limit, offset int) (*Page, error) {
	const batch = 500
	readable := map[[2]string]bool{} // doctype, name → readable now
	page := &Page{Entries: []ports.AuditEntry{}}
	for scanned := 0; scanned < FeedScanLimit; scanned += batch {
		res, err := f.audit.Query(ctx, filter, ports.AuditPage{Limit: batch, Offset: scanned, SkipTotal: true})
		if err != nil {
			return nil, err
		}
		if err := f.learn(ctx, res.Entries, readable); err != nil {
			return nil, err
		}
		for _, e := range res.Entries {
			if e.DocType == "" && e.UserID != u.ID || e.DocType != "" && !readable[[2]string{e.DocType, e.DocumentID}] {
				continue
			}
			if page.Total >= int64(offset) && len(page.Entries) < limit {
				page.Entries = append(page.Entries, private(u, e))
			}
			page.Total++
		}
		if len(res.Entries) < batch {
			break
		}
	}
	return page, nil
}

// learn finds out which documents of entries the principal may read now
// that readable does not know yet: one list per DocType.
func (f *Feed) learn(ctx context.Context, entries []ports.AuditEntry, readable map[[2]string]bool) error {
	names := map[string][]any{}
	for _, e := range entries {
		key := [2]string{e.DocType, e.DocumentID}
		if _, known := readable[key]; known || e.DocType == "" {
			continue
		}
		readable[key] = false // until the list says otherwise
		names[e.DocType] = append(names[e.DocType], e.DocumentID)
	}
	for doctypeName, ns := range names {
		if _, err := f.res.DocType(doctypeName); err != nil {
			continue // a DocType the app no longer has
		}
		res, err := f.res.List(ctx, doctypeName, resource.ListParams{
			Filters:   []ports.Filter{{Field: doctype.FieldName, Op: ports.OpIn, Value: ns}},
			Fields:    []string{doctype.FieldName},
			Limit:     resource.MaxLimit,
			SkipTotal: true,
		})
		switch {
		case errors.Is(err, core.ErrForbidden), errors.Is(err, core.ErrValidation):
			continue // may read none of them (or may not filter on name)
		case err != nil:
			return err
		}
		for _, doc := range res.Items {
			if b, err := doctype.BaseOf(doc); err == nil {
				readable[[2]string{doctypeName, b.Name}] = true
			}
		}
	}
	return nil
}

// readable reports whether the principal may read doctype/name now (false
// when it no longer exists, or its DocType is gone).
func (f *Feed) readable(ctx context.Context, doctypeName, name string) (bool, error) {
	dt, err := f.res.DocType(doctypeName)
	if err != nil {
		return false, nil
	}
	doc, err := f.res.Repository().Get(ctx, dt.Name, name)
	switch {
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrValidation):
		return false, nil
	case err != nil:
		return false, err
	}
	return f.res.Can(ctx, dt, ports.ActionRead, doc)
}

func nonNil(e []ports.AuditEntry) []ports.AuditEntry {
	if e == nil {
		return []ports.AuditEntry{}
	}
	return e
}
