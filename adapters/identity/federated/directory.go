package federated

import (
	"context"
	"errors"
	"slices"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Directory is a ports.SeenUserStore on the Federated User DocType: the users
// the gateway vouched for, as it last described them, and when. It is
// written by auth.SeenUsers in batches, never on a request's path.
type Directory struct{ repo ports.Repository }

// NewDirectory returns a directory stored through repo.
func NewDirectory(repo ports.Repository) *Directory { return &Directory{repo: repo} }

const seenDT = doctypes.FederatedUserDocType

// seenFields are the Federated User fields a ports.UserFilter reads (every
// seen user is enabled: the gateway decides who may come in).
var seenFields = auth.UserFields{Email: "email", DisplayName: "display_name", Roles: "roles"}

func toUser(d *doctypes.FederatedUser) *ports.User {
	at := d.LastSeenAt
	return &ports.User{
		ID: d.UserID, Email: d.Email, DisplayName: d.DisplayName, TenantID: d.TenantID,
		Roles: slices.Clone([]string(d.Roles)), IsActive: true, LastSeenAt: &at,
	}
}

// RecordSeen creates or updates each user with one write (retried when
// another instance wrote the same user meanwhile).
func (s *Directory) RecordSeen(ctx context.Context, users []ports.User) error {
	var errs []error
	for _, u := range users {
		if err := s.record(ctx, u); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Directory) record(ctx context.Context, u ports.User) error {
	if u.LastSeenAt == nil {
		return core.Invalid("last_seen_at", "is required")
	}
	seen := u.LastSeenAt.UTC()
	roles := doctype.StringList(slices.Clone(u.Roles))
	if roles == nil {
		roles = doctype.StringList{}
	}
	for attempt := 0; ; attempt++ {
		d, err := s.repo.Get(ctx, seenDT, u.ID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			err = s.repo.Create(ctx, seenDT, &doctypes.FederatedUser{
				Base:   doctype.Base{Name: u.ID, Owner: u.ID},
				UserID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Roles: roles, LastSeenAt: seen,
			})
		case err == nil:
			f := d.(*doctypes.FederatedUser)
			if f.LastSeenAt.After(seen) {
				return nil // a later sighting is stored already
			}
			f.Email, f.DisplayName, f.Roles, f.LastSeenAt = u.Email, u.DisplayName, roles, seen
			err = s.repo.Update(ctx, seenDT, f)
		}
		if !errors.Is(err, core.ErrConflict) || attempt == 2 {
			return err
		}
	}
}

// ListUsers returns the page of seen users f selects.
func (s *Directory) ListUsers(ctx context.Context, f ports.UserFilter) (*ports.UserPage, error) {
	return auth.ListUsers(ctx, s.repo, seenDT, seenFields, f, func(d any) *ports.User { return toUser(d.(*doctypes.FederatedUser)) })
}

// GetUser returns seen user id.
func (s *Directory) GetUser(ctx context.Context, id string) (*ports.User, error) {
	d, err := s.repo.Get(ctx, seenDT, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, core.Public(core.ErrNotFound, "user not found")
	}
	if err != nil {
		return nil, err
	}
	return toUser(d.(*doctypes.FederatedUser)), nil
}

var _ ports.SeenUserStore = (*Directory)(nil)
