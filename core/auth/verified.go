package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// VerifiedCache remembers correct basic-auth credentials briefly. Entries are
// keyed by an HMAC under a random per-process key, so the map holds nothing
// an attacker could test passwords against offline.
type VerifiedCache struct {
	once    sync.Once
	secret  []byte
	mu      sync.Mutex
	entries map[string]verified
	ttl     time.Duration
	max     int
	now     func() time.Time
}

// NewVerifiedCache returns a cache keeping entries for ttl, at most max of them.
func NewVerifiedCache(ttl time.Duration, max int) *VerifiedCache {
	return &VerifiedCache{ttl: ttl, max: max}
}

type verified struct {
	userID  string
	version int64
	expires time.Time
}

func (c *VerifiedCache) init() {
	c.once.Do(func() {
		c.secret = make([]byte, 32)
		_, _ = rand.Read(c.secret)
		c.entries = map[string]verified{}
		if c.ttl == 0 {
			c.ttl = time.Minute
		}
		if c.max == 0 {
			c.max = 10_000
		}
		if c.now == nil {
			c.now = time.Now
		}
	})
}

func (c *VerifiedCache) key(tenant, email, password string) string {
	c.init()
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(tenant + "\x00" + FoldEmail(email) + "\x00" + password))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *VerifiedCache) get(key string) (string, int64, bool) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || c.now().After(e.expires) {
		return "", 0, false
	}
	return e.userID, e.version, true
}

func (c *VerifiedCache) put(key, userID string, version int64) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = verified{userID: userID, version: version, expires: now.Add(c.ttl)}
}

func (c *VerifiedCache) drop(key string) {
	c.init()
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}
