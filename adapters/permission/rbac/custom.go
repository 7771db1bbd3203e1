package rbac

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/events"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Custom loads Custom Permission rows per tenant and caches them. Invalidate
// drops a tenant's rows: the app calls it on every change notice of the
// DocType, this instance's and (through the hub) others'. Rows are kept at
// most the TTL, and at most events.UnsyncedMaxAge while the feed given to
// Follow is not Synced.
type Custom struct {
	repo ports.Repository
	reg  *doctype.Registry
	feed interface{ Synced() bool } // nil: none
	ttl  time.Duration
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*customEntry
	gen   map[string]uint64
}

type customEntry struct {
	at    time.Time
	rules map[string][]doctype.Rule
}

// NewCustom returns a rule source over repo; rows are cached for ttl.
func NewCustom(repo ports.Repository, reg *doctype.Registry, ttl time.Duration, log *slog.Logger) *Custom {
	if log == nil {
		log = slog.Default()
	}
	return &Custom{repo: repo, reg: reg, ttl: ttl, log: log, now: time.Now, cache: map[string]*customEntry{}, gen: map[string]uint64{}}
}

// Follow makes the cache answer from memory at most a moment while feed is
// not Synced (notices of other instances' changes may be lost meanwhile).
// Call it before use.
func (c *Custom) Follow(feed interface{ Synced() bool }) { c.feed = feed }

// Rules returns tenant's enabled custom rules for doctypeName.
func (c *Custom) Rules(ctx context.Context, tenant, doctypeName string) ([]doctype.Rule, error) {
	c.mu.Lock()
	e, ok := c.cache[tenant]
	gen := c.gen[tenant] + c.gen[""] // "" counts invalidations of every tenant
	c.mu.Unlock()
	if ok && c.ttl > 0 && c.now().Sub(e.at) < events.MaxAge(c.feed, c.ttl) {
		return e.rules[doctypeName], nil
	}
	e, err := c.load(ctx, tenant)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen[tenant]+c.gen[""] == gen {
		c.cache[tenant] = e
	}
	c.mu.Unlock()
	return e.rules[doctypeName], nil
}

func (c *Custom) load(ctx context.Context, tenant string) (*customEntry, error) {
	sys := ports.WithUser(ports.WithTenantID(context.WithoutCancel(ctx), tenant), &ports.SystemUser)
	e := &customEntry{at: c.now(), rules: map[string][]doctype.Rule{}}
	for offset := 0; ; offset += 500 {
		res, err := c.repo.List(sys, doctypes.CustomPermissionDocType, ports.Query{
			Filters:   []ports.Filter{{Field: "enabled", Op: ports.OpEq, Value: true}},
			Orders:    []ports.Order{{Field: doctype.FieldName}},
			Limit:     500,
			Offset:    offset,
			SkipCount: true,
		})
		if err != nil {
			return nil, err
		}
		for _, it := range res.Items {
			p := it.(*doctypes.CustomPermission)
			dt, ok := c.reg.Get(p.DocumentType)
			if !ok {
				c.log.Warn("custom permission for an unknown doctype skipped", "tenant", tenant, "rule", p.Name, "doctype", p.DocumentType)
				continue
			}
			r := p.Rule()
			if err := dt.CheckRule(r); err != nil {
				c.log.Warn("invalid custom permission skipped", "tenant", tenant, "rule", p.Name, "err", err)
				continue
			}
			e.rules[dt.Name] = append(e.rules[dt.Name], r)
		}
		if len(res.Items) < 500 {
			return e, nil
		}
	}
}

// Invalidate drops tenant's cached rules ("" for every tenant's).
func (c *Custom) Invalidate(tenant string) {
	c.mu.Lock()
	if tenant == "" {
		clear(c.cache)
	} else {
		delete(c.cache, tenant)
	}
	c.gen[tenant]++
	c.mu.Unlock()
}

// Invalidate drops cached custom rules of tenant (after a Custom Permission changes).
func (a *Adapter) Invalidate(tenant string) {
	if inv, ok := a.opts.Source.(interface{ Invalidate(string) }); ok {
		inv.Invalidate(tenant)
	}
}

var _ RuleSource = (*Custom)(nil)
