// Package database is the database adapter of the SessionStore port: sessions
// are documents of the Session DocType (doctypes.Session), kept through the
// Repository port and so scoped to the tenant in ctx like every document. A
// cleanup job (Store.Run) deletes expired rows across all tenants.
//
// Sessions made on one app instance are valid on every instance sharing the
// database. The Redis adapter (adapters/session/redis) offers the same
// behaviour without database writes at each login.
package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/cleanup"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// DefaultCleanupInterval is how often Run deletes expired sessions when given
// no positive interval.
const DefaultCleanupInterval = cleanup.DefaultInterval

// pageSize is how many sessions one repository List call reads.
const pageSize = 500

// Store is the database implementation of ports.SessionStore.
type Store struct {
	repo     ports.Repository
	purger   ports.Purger
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger Run reports cleanup failures to (default slog.Default()).
func WithLogger(log *slog.Logger) Option {
	return func(s *Store) {
		if log != nil {
			s.log = log
		}
	}
}

// WithCleanupInterval sets how often Run deletes expired sessions (default
// DefaultCleanupInterval).
func WithCleanupInterval(d time.Duration) Option {
	return func(s *Store) { s.interval = d }
}

// WithClock sets the clock the Store reads the time from (default time.Now):
// which sessions are expired, for reads and for Cleanup. Created times come
// from the repository. Tests use it to check expiry without waiting.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns a Store keeping sessions through repo, which must know the
// Session DocType (doctypes.Register) with its table migrated. purger (the
// store behind repo, when it can) runs the cross-tenant Cleanup; nil turns
// Cleanup off.
func New(repo ports.Repository, purger ports.Purger, opts ...Option) *Store {
	s := &Store{repo: repo, purger: purger, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Create stores s in the tenant of ctx. It sets s.TenantID and s.CreatedAt;
// the session's owner is its user. An ID already used in the tenant is
// core.ErrConflict.
func (st *Store) Create(ctx context.Context, s *ports.Session) error {
	tid, err := core.RequireTenant(ctx)
	if err != nil {
		return err
	}
	if err := auth.CheckNewSession(s, st.now()); err != nil {
		return err
	}
	doc := &doctypes.Session{
		Base:      doctype.Base{Name: s.ID, Owner: s.UserID},
		UserID:    s.UserID,
		ExpiresAt: s.ExpiresAt,
		IPAddress: s.IPAddress,
		UserAgent: s.UserAgent,
		CSRFHash:  s.CSRFHash,
		TokenVer:  s.TokenVersion,
	}
	if err := st.repo.Create(ctx, doctypes.SessionDocType, doc); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return core.Public(core.ErrConflict, "session already exists")
		}
		return fmt.Errorf("create session: %w", err)
	}
	s.TenantID = tid
	s.CreatedAt = doc.CreatedAt
	s.ExpiresAt = doc.ExpiresAt
	return nil
}

// Get returns the live session id of the tenant in ctx; a missing or expired
// session is core.ErrNotFound.
func (st *Store) Get(ctx context.Context, id string) (*ports.Session, error) {
	doc, err := st.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !doc.ExpiresAt.After(st.now()) {
		return nil, auth.SessionNotFound(id)
	}
	return toPort(doc), nil
}

// get reads session id, expired or not.
func (st *Store) get(ctx context.Context, id string) (*doctypes.Session, error) {
	if _, err := core.RequireTenant(ctx); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, auth.SessionNotFound(id)
	}
	doc, err := st.repo.Get(ctx, doctypes.SessionDocType, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, auth.SessionNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	sess, ok := doc.(*doctypes.Session)
	if !ok {
		return nil, fmt.Errorf("get session: repository returned %T, want *doctypes.Session", doc)
	}
	return sess, nil
}

// Delete removes session id of the tenant in ctx. A missing or expired
// session is core.ErrNotFound (an expired row is deleted all the same).
func (st *Store) Delete(ctx context.Context, id string) error {
	doc, err := st.get(ctx, id)
	if err != nil {
		return err
	}
	live := doc.ExpiresAt.After(st.now())
	err = st.repo.Delete(ctx, doctypes.SessionDocType, id)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return auth.SessionNotFound(id)
	case err != nil:
		return fmt.Errorf("delete session: %w", err)
	case !live:
		return auth.SessionNotFound(id)
	}
	return nil
}

// DeleteAllForUser removes every session of userID in the tenant of ctx, in
// one transaction, and returns how many live sessions it ended (expired rows
// of the user are deleted too, but not counted).
func (st *Store) DeleteAllForUser(ctx context.Context, userID string) (int, error) {
	if _, err := core.RequireTenant(ctx); err != nil {
		return 0, err
	}
	count := 0
	err := st.repo.InTx(ctx, func(ctx context.Context) error {
		count = 0
		now := st.now()
		for {
			// Deleted rows leave the result, so the first page is always the next one.
			page, err := st.page(ctx, userID, nil, 0)
			if err != nil {
				return err
			}
			deleted := 0
			for _, doc := range page {
				err := st.repo.Delete(ctx, doctypes.SessionDocType, doc.Name)
				switch {
				case errors.Is(err, core.ErrNotFound): // deleted meanwhile
					continue
				case err != nil:
					return fmt.Errorf("delete session: %w", err)
				}
				deleted++
				if doc.ExpiresAt.After(now) {
					count++
				}
			}
			if len(page) < pageSize {
				return nil
			}
			if deleted == 0 {
				return errors.New("no progress: listed sessions could not be deleted")
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return count, nil
}

// ListForUser returns userID's live sessions in the tenant of ctx, newest first.
func (st *Store) ListForUser(ctx context.Context, userID string) ([]*ports.Session, error) {
	if _, err := core.RequireTenant(ctx); err != nil {
		return nil, err
	}
	live := []ports.Filter{{Field: "expires_at", Op: ports.OpGt, Value: st.now().UTC()}}
	out := []*ports.Session{}
	for offset := 0; ; offset += pageSize {
		page, err := st.page(ctx, userID, live, offset)
		if err != nil {
			return nil, fmt.Errorf("list sessions of user %q: %w", userID, err)
		}
		for _, doc := range page {
			out = append(out, toPort(doc))
		}
		if len(page) < pageSize {
			return out, nil
		}
	}
}

// page lists one page of userID's sessions, newest first, with extra filters.
func (st *Store) page(ctx context.Context, userID string, extra []ports.Filter, offset int) ([]*doctypes.Session, error) {
	res, err := st.repo.List(ctx, doctypes.SessionDocType, ports.Query{
		Filters:   append([]ports.Filter{{Field: "user_id", Op: ports.OpEq, Value: userID}}, extra...),
		Orders:    []ports.Order{{Field: doctype.FieldCreatedAt, Desc: true}, {Field: doctype.FieldName, Desc: true}},
		Limit:     pageSize,
		Offset:    offset,
		SkipCount: true,
	})
	if err != nil {
		return nil, err
	}
	out := make([]*doctypes.Session, 0, len(res.Items))
	for _, it := range res.Items {
		doc, ok := it.(*doctypes.Session)
		if !ok {
			return nil, fmt.Errorf("repository returned %T, want *doctypes.Session", it)
		}
		out = append(out, doc)
	}
	return out, nil
}

// Cleanup deletes every expired session of every tenant and returns how many.
//
// It is a system maintenance job, not a request: it deliberately bypasses the
// tenant-scoped repository through the store's ports.Purger (one DELETE …
// WHERE expires_at < now). Run calls it periodically.
func (st *Store) Cleanup(ctx context.Context) (int64, error) {
	n, err := st.job().Once(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// Run calls Cleanup at once and then every cleanup interval until ctx is
// done. Failures are logged, and the next round tries again.
func (st *Store) Run(ctx context.Context) { st.job().Run(ctx) }

func (st *Store) job() cleanup.Job {
	return cleanup.Job{Purger: st.purger, DocType: doctypes.SessionDocType, Field: "expires_at", Interval: st.interval, Log: st.log, Now: st.now}
}

func toPort(doc *doctypes.Session) *ports.Session {
	return &ports.Session{
		ID:           doc.Name,
		UserID:       doc.UserID,
		TenantID:     doc.TenantID,
		CreatedAt:    doc.CreatedAt,
		ExpiresAt:    doc.ExpiresAt,
		IPAddress:    doc.IPAddress,
		UserAgent:    doc.UserAgent,
		CSRFHash:     doc.CSRFHash,
		TokenVersion: doc.TokenVer,
	}
}

var _ ports.SessionStore = (*Store)(nil)
