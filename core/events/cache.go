package events

import (
	"context"
	"sync"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// DefaultCacheSize is how many records a Cache holds when asked for none.
const DefaultCacheSize = 50_000

// UnsyncedMaxAge is the longest a cache kept by notices (a tenant's roles,
// its custom permissions, its settings) answers from memory while its feed
// is not Synced: another instance's change, whose notice may be lost, shows
// within it.
const UnsyncedMaxAge = time.Second

// MaxAge is how long a cache whose entries are kept by feed's notices may
// serve an entry before reading it again: ttl (≤ 0: until a notice names
// it) while feed is Synced, at most UnsyncedMaxAge while it is not.
func MaxAge(feed interface{ Synced() bool }, ttl time.Duration) time.Duration {
	if feed == nil || feed.Synced() {
		return ttl
	}
	if ttl <= 0 || ttl > UnsyncedMaxAge {
		return UnsyncedMaxAge
	}
	return ttl
}

// Cache holds records of one DocType (or another kind of record, announced
// with Changed), per tenant and name, in memory, and forgets each as soon as a
// change notice names it: one this instance's repository publishes after
// commit, one announced, or one of another instance through the hub. While the
// feed is not Synced (the hub's subscription is down or not yet up) it answers
// from the loader and keeps nothing, so it is never staler than the notices
// that reach it.
//
// A Cache is safe for concurrent use; a hit takes a read lock and allocates
// nothing. Values are shared between callers: store values nobody modifies,
// or copy them on the way out.
type Cache[V any] struct {
	feed    *Feed
	doctype string
	max     int

	mu   sync.RWMutex
	gen  uint64 // bumped by every notice: a load that raced one is not kept
	m    map[string]map[string]V
	size int
}

// NewCache returns a cache of doctype's records kept exact by feed's notices,
// holding at most max (DefaultCacheSize when max ≤ 0).
func NewCache[V any](feed *Feed, doctype string, max int) *Cache[V] {
	if max <= 0 {
		max = DefaultCacheSize
	}
	c := &Cache[V]{feed: feed, doctype: doctype, max: max, m: map[string]map[string]V{}}
	feed.Watch(doctype, c.forget)
	return c
}

// Get returns the record name of the tenant in ctx: from memory, or from load
// (whose answer is kept unless a notice came meanwhile). Errors are not kept.
func (c *Cache[V]) Get(ctx context.Context, name string, load func(ctx context.Context) (V, error)) (V, error) {
	tenant := ports.TenantIDFrom(ctx)
	synced := c.feed.Synced()
	c.mu.RLock()
	if synced {
		if v, ok := c.m[tenant][name]; ok {
			c.mu.RUnlock()
			return v, nil
		}
	}
	gen := c.gen
	c.mu.RUnlock()
	v, err := load(ctx)
	if err != nil || !synced {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen && c.feed.Synced() {
		c.store(tenant, name, v)
	}
	c.mu.Unlock()
	return v, nil
}

// store keeps v, making room first when full. Call with mu held.
func (c *Cache[V]) store(tenant, name string, v V) {
	t := c.m[tenant]
	if t == nil {
		t = map[string]V{}
		c.m[tenant] = t
	}
	if _, ok := t[name]; !ok {
		if c.size >= c.max {
			c.evict(c.max / 8)
		}
		c.size++
	}
	t[name] = v
}

// evict drops about n records, whichever the map yields first.
func (c *Cache[V]) evict(n int) {
	for tenant, t := range c.m {
		for name := range t {
			delete(t, name)
			c.size--
			n--
			if n <= 0 {
				return
			}
		}
		delete(c.m, tenant)
	}
}

// Changed forgets name of the tenant in ctx ("" for all its records) here and
// announces it to the other instances. Call it after changing records that
// the repository does not store (the repository announces its own).
func (c *Cache[V]) Changed(ctx context.Context, name string) {
	c.feed.Announce(ctx, ports.ChangeNotice{DocType: c.doctype, TenantID: ports.TenantIDFrom(ctx), Name: name})
}

// Len returns how many records the cache holds.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.size
}

// forget is the cache's notice handler.
func (c *Cache[V]) forget(n ports.ChangeNotice) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	switch {
	case n.TenantID == "" && n.Name == "":
		c.m, c.size = map[string]map[string]V{}, 0
	case n.Name == "":
		c.size -= len(c.m[n.TenantID])
		delete(c.m, n.TenantID)
	case n.TenantID == "":
		for _, t := range c.m {
			if _, ok := t[n.Name]; ok {
				delete(t, n.Name)
				c.size--
			}
		}
	default:
		if t := c.m[n.TenantID]; t != nil {
			if _, ok := t[n.Name]; ok {
				delete(t, n.Name)
				c.size--
			}
		}
	}
}
