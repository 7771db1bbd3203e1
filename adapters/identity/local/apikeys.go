package local

import (
	"context"
	"errors"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// APIKeyStore is a ports.APIKeyStore on the API Key DocType.
type APIKeyStore struct{ repo ports.Repository }

// NewAPIKeyStore returns an API key store through repo.
func NewAPIKeyStore(repo ports.Repository) *APIKeyStore { return &APIKeyStore{repo: repo} }

const keyDT = doctypes.APIKeyDocType

func toKey(d *doctypes.APIKey) *ports.APIKey {
	scopes := []string(d.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	return &ports.APIKey{
		ID: d.Name, UserID: d.UserID, TenantID: d.TenantID, Name: d.Label, Scopes: scopes,
		ExpiresAt: d.ExpiresAt, LastUsedAt: d.LastUsedAt, CreatedAt: d.CreatedAt, Hash: d.KeyHash,
	}
}

// CreateKey stores k.
func (s *APIKeyStore) CreateKey(ctx context.Context, k *ports.APIKey) error {
	d := &doctypes.APIKey{
		Base:   doctype.Base{Name: k.ID, Owner: k.UserID},
		UserID: k.UserID, Label: k.Name, Scopes: doctype.StringList(k.Scopes), ExpiresAt: k.ExpiresAt, KeyHash: k.Hash,
	}
	if err := s.repo.Create(ctx, keyDT, d); err != nil {
		return err
	}
	k.CreatedAt, k.TenantID = d.CreatedAt, d.TenantID
	return nil
}

// GetKey returns key id.
func (s *APIKeyStore) GetKey(ctx context.Context, id string) (*ports.APIKey, error) {
	d, err := s.repo.Get(ctx, keyDT, id)
	if err != nil {
		return nil, err
	}
	return toKey(d.(*doctypes.APIKey)), nil
}

// ListKeys returns userID's keys, newest first.
func (s *APIKeyStore) ListKeys(ctx context.Context, userID string) ([]*ports.APIKey, error) {
	res, err := s.repo.List(ctx, keyDT, ports.Query{
		Filters:   []ports.Filter{{Field: "user_id", Op: ports.OpEq, Value: userID}},
		Orders:    []ports.Order{{Field: doctype.FieldCreatedAt, Desc: true}},
		Limit:     1000,
		SkipCount: true,
	})
	if err != nil {
		return nil, err
	}
	out := make([]*ports.APIKey, len(res.Items))
	for i, it := range res.Items {
		out[i] = toKey(it.(*doctypes.APIKey))
	}
	return out, nil
}

// DeleteKey removes key id.
func (s *APIKeyStore) DeleteKey(ctx context.Context, id string) error {
	return s.repo.Delete(ctx, keyDT, id)
}

// DeleteKeysForUser removes all of userID's keys.
func (s *APIKeyStore) DeleteKeysForUser(ctx context.Context, userID string) (int, error) {
	keys, err := s.ListKeys(ctx, userID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if err := s.repo.Delete(ctx, keyDT, k.ID); err != nil && !errors.Is(err, core.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// TouchKeys records last use times.
func (s *APIKeyStore) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	var errs []error
	for id, at := range used {
		d, err := s.repo.Get(ctx, keyDT, id)
		if errors.Is(err, core.ErrNotFound) {
			continue // revoked meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k := d.(*doctypes.APIKey)
		if k.LastUsedAt != nil && !at.After(*k.LastUsedAt) {
			continue
		}
		at := at.UTC()
		k.LastUsedAt = &at
		if err := s.repo.Update(ctx, keyDT, k); err != nil && !errors.Is(err, core.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ ports.APIKeyStore = (*APIKeyStore)(nil)
