// Package local is the identity of indie mode: users in the Local User DocType
// with argon2id password hashes, tokens from a ports.TokenService, revoked
// tokens and API key records in their own DocTypes.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Provider is a ports.LocalIdentity over the repository.
type Provider struct {
	repo   ports.Repository
	tokens ports.TokenService
	hasher *Hasher
	log    *slog.Logger
}

// New returns a Provider. tokens issues tokens at login (nil: Authenticate fails).
func New(repo ports.Repository, tokens ports.TokenService, hasher *Hasher, log *slog.Logger) *Provider {
	if log == nil {
		log = slog.Default()
	}
	return &Provider{repo: repo, tokens: tokens, hasher: hasher, log: log}
}

// Hasher returns the password hasher.
func (p *Provider) Hasher() *Hasher { return p.hasher }

const userDT = doctypes.LocalUserDocType

func toUser(d *doctypes.LocalUser) *ports.User {
	return &ports.User{
		ID: d.Name, Email: d.Email, DisplayName: d.DisplayName, TenantID: d.TenantID,
		Roles: slices.Clone([]string(d.Roles)), Attributes: maps.Clone(map[string]any(d.Attributes)),
		IsActive: d.IsActive, TokenVersion: d.TokenVersion,
		PasswordChangeRequired: d.PasswordChangeRequired, LastLoginAt: d.LastLoginAt,
	}
}

func (p *Provider) doc(ctx context.Context, id string) (*doctypes.LocalUser, error) {
	d, err := p.repo.Get(ctx, userDT, id)
	if err != nil {
		return nil, err
	}
	return d.(*doctypes.LocalUser), nil
}

// GetUser returns user id.
func (p *Provider) GetUser(ctx context.Context, id string) (*ports.User, error) {
	d, err := p.doc(ctx, id)
	if err != nil {
		return nil, err
	}
	return toUser(d), nil
}

func (p *Provider) docByEmail(ctx context.Context, email string) (*doctypes.LocalUser, error) {
	res, err := p.repo.List(ctx, userDT, ports.Query{
		Filters:   []ports.Filter{{Field: "email", Op: ports.OpEq, Value: auth.FoldEmail(email)}},
		Limit:     1,
		SkipCount: true,
	})
	if err != nil {
		return nil, err
	}
	if len(res.Items) == 0 {
		return nil, core.Public(core.ErrNotFound, "user not found")
	}
	return res.Items[0].(*doctypes.LocalUser), nil
}

// FindByEmail returns the user with email.
func (p *Provider) FindByEmail(ctx context.Context, email string) (*ports.User, error) {
	d, err := p.docByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	return toUser(d), nil
}

// Attributes returns the user's attributes with "roles" set to their roles.
func (p *Provider) Attributes(_ context.Context, u *ports.User) map[string]any {
	out := maps.Clone(u.Attributes)
	if out == nil {
		out = map[string]any{}
	}
	out["roles"] = slices.Clone(u.Roles)
	return out
}

var errBadCredentials = core.Public(core.ErrUnauthorized, "invalid email or password")

// CheckPassword returns the active user with email if password is theirs; every
// failure costs one hash verification, so timing tells nothing.
func (p *Provider) CheckPassword(ctx context.Context, email, password string) (*ports.User, error) {
	d, err := p.docByEmail(ctx, email)
	if errors.Is(err, core.ErrNotFound) {
		if err := p.hasher.VerifyDummy(ctx, password); err != nil {
			return nil, err
		}
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, weak, err := p.hasher.Verify(ctx, password, d.PasswordHash)
	if errors.Is(err, ErrHashBounds) {
		p.log.WarnContext(ctx, "stored password hash out of bounds; refusing it", "user", d.Name)
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !ok || !d.IsActive {
		return nil, errBadCredentials
	}
	if weak {
		p.rehash(ctx, d, password)
	}
	return toUser(d), nil
}

// rehash upgrades d's hash to the configured parameters (best effort).
func (p *Provider) rehash(ctx context.Context, d *doctypes.LocalUser, password string) {
	hash, err := p.hasher.Hash(ctx, password)
	if err == nil {
		d.PasswordHash = hash
		err = p.repo.Update(ctx, userDT, d)
	}
	if err != nil {
		p.log.WarnContext(ctx, "could not upgrade password hash", "user", d.Name, "err", err)
		return
	}
	p.log.InfoContext(ctx, "upgraded password hash to the configured argon2id parameters", "user", d.Name)
}

// Authenticate checks password credentials and issues a token.
func (p *Provider) Authenticate(ctx context.Context, creds ports.Credentials) (*ports.Token, error) {
	pc, ok := creds.(ports.PasswordCredentials)
	if !ok {
		return nil, core.Publicf(core.ErrNotSupported, "%s credentials are not supported", creds.CredentialKind())
	}
	if p.tokens == nil {
		return nil, core.Public(core.ErrNotSupported, "token issuing is not configured")
	}
	u, err := p.CheckPassword(ctx, pc.Email, pc.Password)
	if err != nil {
		return nil, err
	}
	tok, err := p.tokens.Issue(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("issue token: %w", err)
	}
	p.touchLogin(ctx, u.ID)
	return tok, nil
}

func (p *Provider) touchLogin(ctx context.Context, id string) {
	d, err := p.doc(ctx, id)
	if err == nil {
		now := doctype.Now()
		d.LastLoginAt = &now
		err = p.repo.Update(ctx, userDT, d)
	}
	if err != nil && !errors.Is(err, core.ErrConflict) {
		p.log.WarnContext(ctx, "could not record login time", "user", id, "err", err)
	}
}

// CreateUser stores a new user with a hashed password.
func (p *Provider) CreateUser(ctx context.Context, nu ports.NewUser) (*ports.User, error) {
	id := doctype.NewUUIDv7()
	d := &doctypes.LocalUser{
		Base:  doctype.Base{Name: id, Owner: id}, // users own their own record
		Email: auth.FoldEmail(nu.Email), DisplayName: nu.DisplayName, IsActive: true,
		Roles: doctype.StringList(slices.Clone(nu.Roles)), Attributes: doctype.JSONMap(maps.Clone(nu.Attributes)),
	}
	if d.Roles == nil {
		d.Roles = doctype.StringList{}
	}
	if nu.Password != "" {
		hash, err := p.hasher.Hash(ctx, nu.Password)
		if err != nil {
			return nil, err
		}
		d.PasswordHash = hash
	}
	if err := p.repo.Create(ctx, userDT, d); err != nil {
		if errors.Is(err, core.ErrConflict) {
			return nil, core.Public(core.ErrConflict, "a user with this email already exists")
		}
		return nil, err
	}
	return toUser(d), nil
}

// VerifyPassword checks id's password.
func (p *Provider) VerifyPassword(ctx context.Context, id, password string) error {
	d, err := p.doc(ctx, id)
	if err != nil {
		return err
	}
	ok, _, err := p.hasher.Verify(ctx, password, d.PasswordHash)
	if err != nil && !errors.Is(err, ErrHashBounds) {
		return err
	}
	if !ok {
		return errBadCredentials
	}
	return nil
}

// SetPassword replaces id's password, clears PasswordChangeRequired and
// invalidates every older token.
func (p *Provider) SetPassword(ctx context.Context, id, password string) error {
	return p.setPassword(ctx, id, password, false)
}

// SetTemporaryPassword replaces id's password with one the user must change
// at next login, and invalidates every older token.
func (p *Provider) SetTemporaryPassword(ctx context.Context, id, password string) error {
	return p.setPassword(ctx, id, password, true)
}

func (p *Provider) setPassword(ctx context.Context, id, password string, temporary bool) error {
	hash, err := p.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return p.update(ctx, id, func(d *doctypes.LocalUser) {
		d.PasswordHash = hash
		d.PasswordChangeRequired = temporary
		d.TokenVersion++
	})
}

// userFields are the Local User fields a ports.UserFilter reads.
var userFields = auth.UserFields{Email: "email", DisplayName: "display_name", Roles: "roles", Active: "is_active"}

// ListUsers returns the page of the tenant's users f selects.
func (p *Provider) ListUsers(ctx context.Context, f ports.UserFilter) (*ports.UserPage, error) {
	return auth.ListUsers(ctx, p.repo, userDT, userFields, f, func(d any) *ports.User { return toUser(d.(*doctypes.LocalUser)) })
}

// UpdateUser applies ch to user id.
func (p *Provider) UpdateUser(ctx context.Context, id string, ch ports.UserChanges) (*ports.User, error) {
	var out *doctypes.LocalUser
	err := p.update(ctx, id, func(d *doctypes.LocalUser) {
		if ch.DisplayName != nil {
			d.DisplayName = *ch.DisplayName
		}
		if ch.IsActive != nil {
			d.IsActive = *ch.IsActive
		}
		if ch.Roles != nil {
			d.Roles = doctype.StringList(slices.Clone(ch.Roles))
		}
		out = d
	})
	if err != nil {
		return nil, err
	}
	return toUser(out), nil
}

// BumpTokenVersion invalidates every token issued to id so far.
func (p *Provider) BumpTokenVersion(ctx context.Context, id string) error {
	return p.update(ctx, id, func(d *doctypes.LocalUser) { d.TokenVersion++ })
}

// update applies fn to user id, retrying on concurrent changes.
func (p *Provider) update(ctx context.Context, id string, fn func(*doctypes.LocalUser)) error {
	for attempt := 0; ; attempt++ {
		d, err := p.doc(ctx, id)
		if err != nil {
			return err
		}
		fn(d)
		err = p.repo.Update(ctx, userDT, d)
		if !errors.Is(err, core.ErrConflict) || attempt == 4 {
			return err
		}
	}
}

// DeleteUser removes id, or anonymizes it.
func (p *Provider) DeleteUser(ctx context.Context, id string, anonymize bool) error {
	if !anonymize {
		return p.repo.Delete(ctx, userDT, id)
	}
	return p.update(ctx, id, func(d *doctypes.LocalUser) {
		d.Email = "deleted-" + d.Name + "@invalid"
		d.DisplayName = "Deleted user"
		d.PasswordHash = ""
		d.IsActive = false
		d.Roles = doctype.StringList{}
		d.Attributes = doctype.JSONMap{}
		d.LastLoginAt = nil
		d.PasswordChangeRequired = false
		d.TokenVersion++
	})
}

// CountUsers returns the number of users in the tenant of ctx.
func (p *Provider) CountUsers(ctx context.Context) (int64, error) {
	res, err := p.repo.List(ctx, userDT, ports.Query{Limit: 1})
	if err != nil {
		return 0, err
	}
	return res.Total, nil
}

var (
	_ ports.LocalIdentity = (*Provider)(nil)
	_ ports.UserDirectory = (*Provider)(nil)
)

// Revocations is a ports.TokenRevocations on the Revoked Token DocType.
type Revocations struct{ expiringIDs }

// NewRevocations returns revocations stored through repo.
func NewRevocations(repo ports.Repository) *Revocations {
	return &Revocations{expiringIDs{repo: repo, doctype: doctypes.RevokedTokenDocType}}
}

// WithPurge makes Run delete the records of expired tokens (revoked or not,
// they no longer verify) in every tenant through purger, every interval.
func (r *Revocations) WithPurge(purger ports.Purger, interval time.Duration, log *slog.Logger) *Revocations {
	r.withPurge(purger, interval, log)
	return r
}

// Revoke records token id as revoked until exp.
func (r *Revocations) Revoke(ctx context.Context, id, userID string, exp time.Time) error {
	err := r.record(ctx, &doctypes.RevokedToken{Base: doctype.Base{Name: id, Owner: userID}, UserID: userID, ExpiresAt: exp.UTC()})
	if errors.Is(err, core.ErrConflict) {
		return nil // already revoked
	}
	return err
}

// IsRevoked reports whether token id was revoked.
func (r *Revocations) IsRevoked(ctx context.Context, id string) (bool, error) {
	_, err := r.repo.Get(ctx, doctypes.RevokedTokenDocType, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, core.ErrNotFound):
		return false, nil
	}
	return false, err
}

var _ ports.TokenRevocations = (*Revocations)(nil)
