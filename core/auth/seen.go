package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// MaxPendingSeen caps how many users SeenUsers holds between flushes; users
// first seen beyond it wait for a later request after the flush.
const MaxPendingSeen = 100_000

// SeenUsers remembers the users gateway headers authenticate (federated
// identity) and writes them to a ports.SeenUserStore in batches, as APIKeys
// does with last-use times: a request costs a map write in memory, never a
// database write, and a flush writes each user seen since the last one once,
// as last described, with the time last seen.
type SeenUsers struct {
	store ports.SeenUserStore
	now   func() time.Time
	log   *slog.Logger
	// FlushInterval is how often Run writes what was seen (default 30s).
	FlushInterval time.Duration

	mu      sync.Mutex
	pending map[string]map[string]ports.User // tenant → user id → last seen as
	count   int
	full    bool
}

// NewSeenUsers returns a recorder writing to store.
func NewSeenUsers(store ports.SeenUserStore, log *slog.Logger) *SeenUsers {
	if log == nil {
		log = slog.Default()
	}
	return &SeenUsers{store: store, now: time.Now, log: log, FlushInterval: 30 * time.Second, pending: map[string]map[string]ports.User{}}
}

// Store returns the store seen users are written to.
func (s *SeenUsers) Store() ports.SeenUserStore {
	if s == nil {
		return nil
	}
	return s.store
}

// Note records that u was authenticated now in the tenant of ctx. A nil
// SeenUsers records nothing.
func (s *SeenUsers) Note(ctx context.Context, u *ports.UserContext) {
	if s == nil || u == nil {
		return
	}
	at := s.now().UTC()
	seen := ports.User{
		ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Roles: u.AllRoles(),
		IsActive: true, LastSeenAt: &at,
	}
	tenant := ports.TenantIDFrom(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.pending[tenant]
	if _, ok := m[u.ID]; !ok {
		if s.count >= MaxPendingSeen {
			if !s.full {
				s.full = true
				s.log.Warn("too many users seen between two flushes; later ones wait for the next", "max", MaxPendingSeen)
			}
			return
		}
		s.count++
	}
	if m == nil {
		m = map[string]ports.User{}
		s.pending[tenant] = m
	}
	m[u.ID] = seen
}

// Flush writes the users seen since the last flush (one batch per tenant).
func (s *SeenUsers) Flush(ctx context.Context) error {
	s.mu.Lock()
	pending := s.pending
	s.pending, s.count, s.full = map[string]map[string]ports.User{}, 0, false
	s.mu.Unlock()
	var errs []error
	for tenant, m := range pending {
		users := make([]ports.User, 0, len(m))
		for _, u := range m {
			users = append(users, u)
		}
		tctx := ports.WithUser(ports.WithTenantID(ctx, tenant), &ports.SystemUser)
		if err := s.store.RecordSeen(tctx, users); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		}
	}
	return errors.Join(errs...)
}

// Run flushes every FlushInterval until ctx is done, then once more.
func (s *SeenUsers) Run(ctx context.Context) {
	flushEvery(ctx, s.FlushInterval, s.Flush, s.log, "seen users")
}

// flushEvery calls flush every interval until ctx is done, then once more
// (with a context that is not cancelled), logging failures as "flush what".
func flushEvery(ctx context.Context, interval time.Duration, flush func(context.Context) error, log *slog.Logger, what string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := flush(context.WithoutCancel(ctx)); err != nil {
				log.Error("flush "+what, "err", err)
			}
			return
		case <-t.C:
			if err := flush(ctx); err != nil {
				log.Error("flush "+what, "err", err)
			}
		}
	}
}
