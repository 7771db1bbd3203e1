package local

import (
	"context"
	"errors"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// SocialAccounts is an auth.SocialAccounts on the Social Account DocType:
// the database's unique (tenant, provider, provider_user_id) key keeps one
// link per provider account across every instance.
type SocialAccounts struct {
	repo ports.Repository
}

// NewSocialAccounts returns social accounts stored through repo.
func NewSocialAccounts(repo ports.Repository) *SocialAccounts { return &SocialAccounts{repo: repo} }

func toAccount(d *doctypes.SocialAccount) ports.SocialAccount {
	return ports.SocialAccount{Provider: d.Provider, Subject: d.ProviderUserID, UserID: d.UserID, Email: d.Email, DisplayName: d.DisplayName}
}

func (s *SocialAccounts) list(ctx context.Context, filters ...ports.Filter) ([]ports.SocialAccount, error) {
	res, err := s.repo.List(ctx, doctypes.SocialAccountDocType, ports.Query{Filters: filters, Limit: 100, SkipCount: true,
		Orders: []ports.Order{{Field: "provider"}}})
	if err != nil {
		return nil, err
	}
	out := make([]ports.SocialAccount, 0, len(res.Items))
	for _, it := range res.Items {
		if d, ok := it.(*doctypes.SocialAccount); ok {
			out = append(out, toAccount(d))
		}
	}
	return out, nil
}

// Find returns the account subject at provider, or core.ErrNotFound.
func (s *SocialAccounts) Find(ctx context.Context, provider, subject string) (*ports.SocialAccount, error) {
	got, err := s.list(ctx, ports.Filter{Field: "provider", Op: ports.OpEq, Value: provider},
		ports.Filter{Field: "provider_user_id", Op: ports.OpEq, Value: subject})
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, core.ErrNotFound
	}
	return &got[0], nil
}

// ListByUser returns the accounts linked to userID.
func (s *SocialAccounts) ListByUser(ctx context.Context, userID string) ([]ports.SocialAccount, error) {
	return s.list(ctx, ports.Filter{Field: "user_id", Op: ports.OpEq, Value: userID})
}

// Link stores a; a taken provider account is core.ErrConflict.
func (s *SocialAccounts) Link(ctx context.Context, a ports.SocialAccount) error {
	d := &doctypes.SocialAccount{Base: doctype.Base{Owner: a.UserID}, Provider: a.Provider, ProviderUserID: a.Subject,
		UserID: a.UserID, Email: a.Email, DisplayName: a.DisplayName}
	return s.repo.Create(ctx, doctypes.SocialAccountDocType, d)
}

// Unlink removes userID's accounts at provider.
func (s *SocialAccounts) Unlink(ctx context.Context, userID, provider string) (int, error) {
	res, err := s.repo.List(ctx, doctypes.SocialAccountDocType, ports.Query{SkipCount: true, Limit: 100, Filters: []ports.Filter{
		{Field: "user_id", Op: ports.OpEq, Value: userID}, {Field: "provider", Op: ports.OpEq, Value: provider}}})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range res.Items {
		d, ok := it.(*doctypes.SocialAccount)
		if !ok {
			continue
		}
		if err := s.repo.Delete(ctx, doctypes.SocialAccountDocType, d.Name); err != nil && !errors.Is(err, core.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// HasPassword reports whether userID has a password hash.
func (s *SocialAccounts) HasPassword(ctx context.Context, userID string) (bool, error) {
	doc, err := s.repo.Get(ctx, doctypes.LocalUserDocType, userID)
	if err != nil {
		return false, err
	}
	u, ok := doc.(*doctypes.LocalUser)
	return ok && u.PasswordHash != "", nil
}

var _ auth.SocialAccounts = (*SocialAccounts)(nil)
