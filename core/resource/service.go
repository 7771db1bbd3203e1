// Package resource is the generic document service behind the resource API:
// every create, read, update, delete and list of every DocType passes through
// it, so permission checks, row-level security, validation and optimistic
// locking apply the same way whoever calls. Change events come from the
// repository the service writes through (see core/events), so they cover
// writes made around the service too.
package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// MaxLimit is the largest page a list may ask for.
const MaxLimit = 1000

// DefaultLimit is the page size of a list that asks for none.
const DefaultLimit = 20

// Service is the generic document service.
type Service struct {
	repo ports.Repository
	reg  *doctype.Registry
	perm ports.PermissionEvaluator
	log  *slog.Logger
	// adminRoles, when set, alone may write AdminOnly documents and AdminFields.
	adminRoles []string
	// guards check writes per DocType (see Guard).
	guards map[string][]WriteGuard
	// roleFilter drops roles that grant nothing (see FilterRoles); nil keeps all.
	roleFilter RoleFilter
	// audit records audited reads (see AuditReadsTo); nil records none.
	audit ports.AuditRecorder
}

// New returns a Service over repo that authorizes through perm. For its
// writes to publish change events, repo is an events.Repository.
func New(repo ports.Repository, reg *doctype.Registry, perm ports.PermissionEvaluator, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{repo: repo, reg: reg, perm: perm, log: log}
}

// Registry returns the DocType registry the service serves.
func (s *Service) Registry() *doctype.Registry { return s.reg }

// Repository returns the repository the service writes through.
func (s *Service) Repository() ports.Repository { return s.repo }

// DocType returns the registered DocType called name, or a not-found error.
func (s *Service) DocType(name string) (*doctype.DocType, error) {
	dt, ok := s.reg.Get(name)
	if !ok {
		return nil, core.Publicf(core.ErrNotFound, "unknown doctype %q", name)
	}
	return dt, nil
}

func principal(ctx context.Context) (*ports.UserContext, error) {
	u := ports.UserFrom(ctx)
	if u == nil {
		return nil, core.Public(core.ErrUnauthorized, "authentication required")
	}
	return u, nil
}

// Can reports whether the principal in ctx may perform action on doc (nil for a
// DocType-level check, as for create and list). A refusal is logged.
func (s *Service) Can(ctx context.Context, dt *doctype.DocType, action ports.Action, doc any) (bool, error) {
	return s.can(ctx, dt, action, doc, true)
}

// Readable reports, for each of dts, whether the principal in ctx may read
// it (the DocType-level check a list makes). Unlike Can it logs nothing:
// it answers "what may I see", which refuses nobody. Descriptions of the
// API use it to show each caller only their DocTypes.
func (s *Service) Readable(ctx context.Context, dts []*doctype.DocType) (map[string]bool, error) {
	out := make(map[string]bool, len(dts))
	for _, dt := range dts {
		ok, err := s.can(ctx, dt, ports.ActionRead, nil, false)
		if err != nil {
			return nil, err
		}
		out[dt.Name] = ok
	}
	return out, nil
}

func (s *Service) can(ctx context.Context, dt *doctype.DocType, action ports.Action, doc any, logRefusal bool) (bool, error) {
	u, err := principal(ctx)
	if err != nil {
		return false, err
	}
	if !u.ScopeAllows(dt.Name, action) {
		if logRefusal {
			s.log.InfoContext(ctx, "permission denied", "user", u.ID, "tenant", ports.TenantIDFrom(ctx),
				"doctype", dt.Name, "action", action, "reason", "credential scopes "+strings.Join(u.Scopes, ","))
		}
		return false, nil
	}
	eu := s.effective(ctx, u)
	req := ports.PolicyRequest{
		PrincipalID:         u.ID,
		PrincipalAttributes: eu.Attributes,
		Roles:               eu.AllRoles(),
		TenantID:            ports.TenantIDFrom(ctx),
		DocType:             dt.Name,
		Action:              action,
		Doc:                 doc,
	}
	if doc != nil {
		if b, err := doctype.BaseOf(doc); err == nil {
			req.DocName = b.Name
		}
	}
	res, err := s.perm.Evaluate(ctx, req)
	if err != nil {
		return false, fmt.Errorf("evaluate %s %s: %w", action, dt.Name, err)
	}
	if !res.Authorized && logRefusal {
		s.log.InfoContext(ctx, "permission denied", "user", u.ID, "tenant", req.TenantID,
			"doctype", dt.Name, "action", action, "document", req.DocName,
			"source", res.Source, "reason", res.Reason, "policy", res.PolicyID)
	}
	return res.Authorized, nil
}

func (s *Service) authorize(ctx context.Context, dt *doctype.DocType, action ports.Action, doc any) error {
	ok, err := s.Can(ctx, dt, action, doc)
	if err != nil {
		return err
	}
	if !ok {
		return core.Publicf(core.ErrForbidden, "not permitted to %s %s", action, dt.Name)
	}
	return nil
}

// readable loads doctype/name and checks the principal may read it; a document
// that does not exist and one the principal may not read look the same.
func (s *Service) readable(ctx context.Context, dt *doctype.DocType, name string) (any, error) {
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	if doctype.CheckName(name) != nil { // no such document can exist
		return nil, core.Publicf(core.ErrNotFound, "%s not found", dt.Name)
	}
	doc, err := s.repo.Get(ctx, dt.Name, name)
	if err != nil {
		return nil, err
	}
	ok, err := s.Can(ctx, dt, ports.ActionRead, doc)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, core.Publicf(core.ErrNotFound, "%s %q not found", dt.Name, name)
	}
	return doc, nil
}

// Get returns doctype/name if the principal may read it.
func (s *Service) Get(ctx context.Context, doctypeName, name string) (any, error) {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return nil, err
	}
	if dt.IsSingle {
		if name != dt.Name {
			return nil, core.Publicf(core.ErrNotFound, "%s %q not found", dt.Name, name)
		}
		return s.GetSingle(ctx, dt.Name)
	}
	doc, err := s.readable(ctx, dt, name)
	if err == nil && dt.AuditReads && s.audit != nil {
		s.audit.Record(ctx, ports.AuditEntry{Action: ports.AuditRead, DocType: dt.Name, DocumentID: name})
	}
	return doc, err
}

// AuditReadsTo records the reads of documents whose Meta asks for it
// (Meta.AuditReads) with rec. Call it before serving.
func (s *Service) AuditReadsTo(rec ports.AuditRecorder) { s.audit = rec }

// GetSingle returns a single DocType's document, creating it with its defaults
// on first use.
func (s *Service) GetSingle(ctx context.Context, doctypeName string) (any, error) {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return nil, err
	}
	if !dt.IsSingle {
		return nil, core.Publicf(core.ErrNotSupported, "%s is not a single DocType", dt.Name)
	}
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	if err := s.ensureSingle(ctx, dt); err != nil {
		return nil, err
	}
	return s.readable(ctx, dt, dt.Name)
}

// ensureSingle creates the single document of the current tenant if missing.
func (s *Service) ensureSingle(ctx context.Context, dt *doctype.DocType) error {
	_, err := s.repo.Get(ctx, dt.Name, dt.Name)
	if !errors.Is(err, core.ErrNotFound) {
		return err
	}
	sys := ports.WithUser(ctx, &ports.SystemUser)
	err = s.repo.Create(sys, dt.Name, dt.New())
	if errors.Is(err, core.ErrConflict) { // created concurrently
		return nil
	}
	return err
}

// ListParams selects a page of documents. Every list is bounded: see
// MaxFilters, MaxFilterDepth, MaxFilterValues, MaxFilterValueBytes,
// MaxOrderTerms, MaxFields and MaxLimit.
type ListParams struct {
	Filters []ports.Filter
	Orders  []ports.Order
	// Fields limits the fields each document carries (validated here, applied
	// when serializing); nil means all visible fields.
	Fields []string
	// Limit is the page size, 1…MaxLimit; 0 means DefaultLimit.
	Limit  int
	Offset int
	// SkipTotal leaves the total uncounted (-1): counting every match is the
	// costly part of a list over a large table.
	SkipTotal bool
}

// List returns the documents the principal may read that match p, and their total.
func (s *Service) List(ctx context.Context, doctypeName string, p ListParams) (ports.ListResult, error) {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return ports.ListResult{}, err
	}
	q, err := s.query(dt, p)
	if err != nil {
		return ports.ListResult{}, err
	}
	u, err := principal(ctx)
	if err != nil {
		return ports.ListResult{}, err
	}
	if err := s.authorize(ctx, dt, ports.ActionRead, nil); err != nil {
		return ports.ListResult{}, err
	}
	rls, err := s.perm.PermittedFilters(ctx, s.effective(ctx, u), dt.Name, ports.ActionRead)
	if errors.Is(err, core.ErrForbidden) {
		return ports.ListResult{Items: []any{}, Total: 0}, nil
	}
	if err != nil {
		return ports.ListResult{}, fmt.Errorf("permitted filters for %s: %w", dt.Name, err)
	}
	q.Filters = append(q.Filters, rls...)
	if dt.IsSingle {
		if err := s.ensureSingle(ctx, dt); err != nil {
			return ports.ListResult{}, err
		}
	}
	res, err := s.repo.List(ctx, dt.Name, q)
	if err != nil {
		return ports.ListResult{}, err
	}
	if rc, ok := s.perm.(ports.RowChecker); ok && rc.NeedsRowCheck(dt.Name) {
		kept := res.Items[:0]
		for _, doc := range res.Items {
			ok, err := s.Can(ctx, dt, ports.ActionRead, doc)
			if err != nil {
				return ports.ListResult{}, err
			}
			if ok {
				kept = append(kept, doc)
			}
		}
		res.Items = kept
	}
	if res.Items == nil {
		res.Items = []any{}
	}
	return res, nil
}

// query validates p against dt and turns it into a repository query.
func (s *Service) query(dt *doctype.DocType, p ListParams) (ports.Query, error) {
	verr := &core.ValidationError{}
	q := ports.Query{Limit: p.Limit, Offset: p.Offset, SkipCount: p.SkipTotal}
	switch {
	case p.Limit < 0:
		verr.Add("limit", "must not be negative")
	case p.Limit > MaxLimit:
		verr.Add("limit", fmt.Sprintf("must be at most %d", MaxLimit))
	case p.Limit == 0:
		q.Limit = DefaultLimit
	}
	if p.Offset < 0 {
		verr.Add("offset", "must not be negative")
	}
	if !checkBounds(p, verr) {
		return q, verr.Err() // nothing more is read from an oversized input
	}
	for _, f := range p.Filters {
		cf, err := dt.CoerceFilter(f)
		if err != nil {
			var ve *core.ValidationError
			if errors.As(err, &ve) {
				for _, fe := range ve.Fields {
					verr.Add("filters."+fe.Field, fe.Reason)
				}
				continue
			}
			return q, err
		}
		q.Filters = append(q.Filters, cf)
	}
	for _, o := range p.Orders {
		f, ok := dt.VisibleField(o.Field)
		switch {
		case !ok:
			verr.Add("order_by."+o.Field, "unknown field")
		case !f.Sortable:
			verr.Add("order_by."+o.Field, "cannot be sorted on")
		default:
			q.Orders = append(q.Orders, o)
		}
	}
	if err := s.CheckFields(dt, p.Fields); err != nil {
		var ve *core.ValidationError
		errors.As(err, &ve)
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
	return q, verr.Err()
}

// CheckFields validates a projection: at most MaxFields names, each a
// visible field.
func (s *Service) CheckFields(dt *doctype.DocType, fields []string) error {
	if len(fields) > MaxFields {
		return core.Invalidf("fields", "at most %d fields", MaxFields)
	}
	verr := &core.ValidationError{}
	for _, name := range fields {
		if _, ok := dt.VisibleField(name); !ok {
			verr.Add("fields."+name, "unknown field")
		}
	}
	return verr.Err()
}

// Create decodes body (a JSON object) into a new document and inserts it.
func (s *Service) Create(ctx context.Context, doctypeName string, body []byte) (any, error) {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return nil, err
	}
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	if err := s.creatable(dt); err != nil {
		return nil, err
	}
	doc, err := dt.DecodeNew(body)
	if err != nil {
		return nil, err
	}
	return doc, s.Insert(ctx, dt.Name, doc)
}

func (s *Service) creatable(dt *doctype.DocType) error {
	switch {
	case dt.IsSingle:
		return singleOnly(dt)
	case dt.AppendOnly:
		return appendOnly(dt)
	case dt.Immutable:
		return immutable(dt, "written by the framework only")
	}
	return nil
}

func appendOnly(dt *doctype.DocType) error {
	return &core.NotSupportedError{Message: dt.Name + " documents are written by the framework only and never changed nor deleted", Allow: []string{"GET"}}
}

func singleOnly(dt *doctype.DocType) error {
	return &core.NotSupportedError{Message: dt.Name + " is a single DocType: read it with GET and change it with PATCH", Allow: []string{"GET", "PATCH"}}
}

func immutable(dt *doctype.DocType, why string) error {
	return &core.NotSupportedError{Message: dt.Name + " documents are " + why, Allow: []string{"GET", "DELETE"}}
}

// Insert validates doc, checks the principal may create it and stores it.
// Use it from Go code to create documents with the same rules as the API.
func (s *Service) Insert(ctx context.Context, doctypeName string, doc any) error {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return err
	}
	u, err := principal(ctx)
	if err != nil {
		return err
	}
	if err := s.creatable(dt); err != nil {
		return err
	}
	b, err := doctype.BaseOf(doc)
	if err != nil {
		return err
	}
	if b.Owner == "" {
		b.Owner = u.ID
	}
	if od, ok := doc.(doctype.OwnerDefaulter); ok {
		od.OwnerDefaults(b.Owner)
	}
	if err := validate(doc); err != nil {
		return err
	}
	if err := s.authorize(ctx, dt, ports.ActionCreate, doc); err != nil {
		return err
	}
	if err := s.guardWrite(s.effective(ctx, u), dt, ports.ActionCreate, doc); err != nil {
		return err
	}
	if err := s.runGuards(ctx, dt, ports.ActionCreate, nil, doc); err != nil {
		return err
	}
	return s.repo.Create(ctx, dt.Name, doc)
}

func validate(doc any) error {
	if v, ok := doc.(doctype.Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Update applies patch (a JSON object) to doctype/name. The expected version
// comes from the patch's "version" or from ifMatch (nil when absent); when both
// are given they must agree. A stale version is a *core.ConflictError carrying
// the current document. Without any version the patch applies to whatever
// version is current: a concurrent change makes it re-read and re-apply.
//
// No transaction is held while the permission evaluator runs (it may be a
// remote policy service): the version check makes the write atomic.
func (s *Service) Update(ctx context.Context, doctypeName, name string, patch []byte, ifMatch *int64) (any, error) {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return nil, err
	}
	if dt.AppendOnly {
		return nil, appendOnly(dt)
	}
	if dt.Immutable {
		return nil, immutable(dt, "immutable")
	}
	if dt.IsSingle {
		if name != dt.Name {
			return nil, core.Publicf(core.ErrNotFound, "%s %q not found", dt.Name, name)
		}
		if _, err := principal(ctx); err != nil {
			return nil, err
		}
		if err := s.ensureSingle(ctx, dt); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		doc, pinned, err := s.updateOnce(ctx, dt, name, patch, ifMatch)
		var ce *core.ConflictError
		if errors.As(err, &ce) && !pinned && attempt < maxUpdateAttempts {
			// Changed meanwhile, and the client did not pin a version: back
			// off a little (random, growing) so contenders spread out, then
			// re-read and re-apply.
			select {
			case <-time.After(time.Duration(attempt) * time.Duration(1+rand.IntN(4)) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return doc, nil
	}
}

// maxUpdateAttempts bounds re-reads of a version-less patch under contention;
// past it the client gets the 409.
const maxUpdateAttempts = 12

// updateOnce reads, authorizes, patches and writes once. pinned reports
// whether the client named the version it expects.
func (s *Service) updateOnce(ctx context.Context, dt *doctype.DocType, name string, patch []byte, ifMatch *int64) (doc any, pinned bool, err error) {
	doc, err = s.readable(ctx, dt, name)
	if err != nil {
		return nil, ifMatch != nil, err
	}
	if err := s.authorize(ctx, dt, ports.ActionWrite, doc); err != nil {
		return nil, ifMatch != nil, err
	}
	b, _ := doctype.BaseOf(doc)
	current := b.Version
	u := s.effective(ctx, ports.UserFrom(ctx))
	guardedBefore := s.adminFieldValues(u, dt, doc)
	before := s.snapshot(dt, doc)
	version, hasVersion, err := dt.ApplyPatch(doc, patch)
	if err != nil {
		return nil, ifMatch != nil, err
	}
	pinned = hasVersion || ifMatch != nil
	expected := current
	switch {
	case hasVersion && ifMatch != nil && version != *ifMatch:
		return nil, pinned, core.Invalidf("version", "is %d but If-Match says %d", version, *ifMatch)
	case hasVersion:
		expected = version
	case ifMatch != nil:
		expected = *ifMatch
	}
	if expected != current {
		fresh, err := s.repo.Get(ctx, dt.Name, name)
		if err != nil {
			return nil, pinned, err
		}
		return nil, pinned, s.conflict(ctx, dt, name, &core.ConflictError{
			Message: fmt.Sprintf("%s %q was changed by someone else: version %d is stale, the current version is %d", dt.Name, name, expected, current),
			Current: fresh,
		})
	}
	if err := validate(doc); err != nil {
		return nil, pinned, err
	}
	if err := s.authorize(ctx, dt, ports.ActionWrite, doc); err != nil {
		return nil, pinned, err
	}
	if err := s.guardUpdate(u, dt, guardedBefore, doc); err != nil {
		return nil, pinned, err
	}
	if err := s.runGuards(ctx, dt, ports.ActionWrite, before, doc); err != nil {
		return nil, pinned, err
	}
	if err := s.repo.Update(ctx, dt.Name, doc); err != nil {
		var ce *core.ConflictError
		if errors.As(err, &ce) {
			return nil, pinned, s.conflict(ctx, dt, name, ce)
		}
		return nil, pinned, err
	}
	return doc, pinned, nil
}

// conflict returns ce only if its current document is still readable by the
// principal: a 409 must never hand over a document a read would refuse (it
// may have changed into one while the write was being authorized).
func (s *Service) conflict(ctx context.Context, dt *doctype.DocType, name string, ce *core.ConflictError) error {
	if ce.Current == nil {
		return ce
	}
	ok, err := s.Can(ctx, dt, ports.ActionRead, ce.Current)
	if err != nil {
		return err
	}
	if !ok {
		return core.Publicf(core.ErrNotFound, "%s %q not found", dt.Name, name)
	}
	return ce
}

// Delete removes doctype/name if the principal may delete it.
func (s *Service) Delete(ctx context.Context, doctypeName, name string) error {
	dt, err := s.DocType(doctypeName)
	if err != nil {
		return err
	}
	if dt.IsSingle {
		return singleOnly(dt)
	}
	if dt.AppendOnly {
		return appendOnly(dt)
	}
	doc, err := s.readable(ctx, dt, name)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, dt, ports.ActionDelete, doc); err != nil {
		return err
	}
	if err := s.guardWrite(s.effective(ctx, ports.UserFrom(ctx)), dt, ports.ActionDelete, doc); err != nil {
		return err
	}
	if err := s.runGuards(ctx, dt, ports.ActionDelete, doc, nil); err != nil {
		return err
	}
	return s.repo.Delete(ctx, dt.Name, name)
}
