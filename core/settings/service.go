// Package settings serves the System Settings singleton from an in-process
// cache, one entry per tenant, invalidated when settings change on this instance
// and refreshed after a TTL so changes made on other instances show up too.
package settings

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// Maintainer is implemented by a settings document that can switch the app
// into maintenance mode.
type Maintainer interface {
	InMaintenance() bool
}

// Snapshot is the settings of one tenant as served.
type Snapshot struct {
	// Doc is the settings document (a pointer to the settings DocType struct).
	Doc any
	// JSON is the document's API form.
	JSON []byte
	// ETag is the document's version, quoted.
	ETag string
	// Maintenance is true when the app is in maintenance mode.
	Maintenance bool
	loaded      time.Time
}

// Service reads and updates settings.
type Service struct {
	res     *resource.Service
	changes ports.ChangeFeed
	doctype string
	ttl     time.Duration
	now     func() time.Time

	mu    sync.RWMutex
	cache map[string]*Snapshot
	// gen counts invalidations per tenant: a load that started before an
	// invalidation must not store its (stale) result after it.
	gen map[string]uint64
}

// DefaultTTL bounds how stale another instance's change can look.
const DefaultTTL = 30 * time.Second

// New returns a Service for the single DocType doctypeName, read and written
// through res. It drops a tenant's cached settings when changes tells of a
// committed change to them; changes must be fed by the repository res writes
// through.
func New(res *resource.Service, changes ports.ChangeFeed, doctypeName string, ttl time.Duration) *Service {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	s := &Service{res: res, changes: changes, doctype: doctypeName, ttl: ttl, now: time.Now, cache: map[string]*Snapshot{}, gen: map[string]uint64{}}
	// Every instance's changes, through the hub when there are several. A
	// create cannot outdate a snapshot: one is only cached for a stored
	// document, and its removal invalidated it. Creates happen on a tenant's
	// first read, whose result is worth keeping.
	changes.Watch(doctypeName, func(n ports.ChangeNotice) {
		if n.Action != ports.ActionCreate {
			s.Invalidate(n.TenantID)
		}
	})
	return s
}

// Get returns the settings of the tenant in ctx, from the cache when fresh.
// It reads as the system, so anonymous requests can be served.
func (s *Service) Get(ctx context.Context) (*Snapshot, error) {
	tenant := ports.TenantIDFrom(ctx)
	s.mu.RLock()
	snap, ok := s.cache[tenant]
	gen := s.gen[tenant] + s.gen[""] // "" counts invalidations of every tenant
	s.mu.RUnlock()
	if ok && s.now().Sub(snap.loaded) < events.MaxAge(s.changes, s.ttl) {
		return snap, nil
	}
	sys := ports.WithUser(ctx, &ports.SystemUser)
	doc, err := s.res.GetSingle(sys, s.doctype)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", s.doctype, err)
	}
	snap, err = s.snapshot(doc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.gen[tenant]+s.gen[""] == gen {
		s.cache[tenant] = snap
	}
	s.mu.Unlock()
	return snap, nil
}

// hiddenFromPublic are left out of GET /api/v1/settings: who changed the
// settings, and the tenant.
var hiddenFromPublic = map[string]bool{"owner": true, "modified_by": true, "tenant_id": true, "created_at": true}

func (s *Service) snapshot(doc any) (*Snapshot, error) {
	dt, err := s.res.DocType(s.doctype)
	if err != nil {
		return nil, err
	}
	var fields []string
	for _, f := range dt.Fields() {
		if !f.Hidden && !hiddenFromPublic[f.Name] {
			fields = append(fields, f.Name)
		}
	}
	body, err := dt.MarshalDoc(doc, fields)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", s.doctype, err)
	}
	b, err := doctype.BaseOf(doc)
	if err != nil {
		return nil, err
	}
	// The version is the ETag: it changes with every update, and PATCH takes it
	// back in If-Match like any document's.
	snap := &Snapshot{Doc: doc, JSON: body, ETag: `"` + strconv.FormatInt(b.Version, 10) + `"`, loaded: s.now()}
	if m, ok := doc.(Maintainer); ok {
		snap.Maintenance = m.InMaintenance()
	}
	return snap, nil
}

// Maintenance reports whether the tenant in ctx is in maintenance mode. If the
// settings cannot be read it reports false: an unreadable settings row must not
// lock everybody out.
func (s *Service) Maintenance(ctx context.Context) bool {
	snap, err := s.Get(ctx)
	return err == nil && snap.Maintenance
}

// Update applies patch (a JSON object) as the principal in ctx, whose
// permission rules decide (by default only admins may). It returns the new settings.
func (s *Service) Update(ctx context.Context, patch []byte, ifMatch *int64) (*Snapshot, error) {
	doc, err := s.res.Update(ctx, s.doctype, s.doctype, patch, ifMatch)
	if err != nil {
		return nil, err
	}
	// Not cached here: ctx may carry a transaction that can still roll back.
	// The change event invalidates the cache once it commits.
	return s.snapshot(doc)
}

// Invalidate drops the cached settings of tenant ("" for every tenant).
func (s *Service) Invalidate(tenant string) {
	s.mu.Lock()
	if tenant == "" {
		clear(s.cache)
	} else {
		delete(s.cache, tenant)
	}
	s.gen[tenant]++
	s.mu.Unlock()
}
