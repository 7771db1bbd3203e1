package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/pii"
	"github.com/framework-m/framework-m/core/resource"
	"github.com/framework-m/framework-m/ports"
)

// Accounts implements the user's own account routes: preferences, data export
// (right of access and portability) and erasure (right to be forgotten).
type Accounts struct {
	Auth      *Service
	Resources *resource.Service
	Deletion  pii.DeletionMode
	// PreferencesDocType and SocialAccountDocType name the built-in DocTypes.
	PreferencesDocType   string
	SocialAccountDocType string
	// AccountDocTypes are exported whether or not the user may read them
	// through the resource API: they are the user's own account (their user
	// record, their social accounts). Every other DocType's documents are
	// exported only when the permission evaluator lets the user read them.
	AccountDocTypes []string
}

func (a *Accounts) repo() ports.Repository { return a.Resources.Repository() }

// Preferences returns u's preferences document, a new unsaved one with
// defaults when u has none yet.
func (a *Accounts) Preferences(ctx context.Context, u *ports.UserContext) (any, error) {
	dt, err := a.Resources.DocType(a.PreferencesDocType)
	if err != nil {
		return nil, err
	}
	doc, err := a.Resources.Get(ctx, dt.Name, u.ID)
	if errors.Is(err, core.ErrNotFound) {
		doc = dt.New()
		if err := dt.Set(doc, "user_id", u.ID); err != nil {
			return nil, err
		}
		b, _ := doctype.BaseOf(doc)
		b.Name, b.Owner = u.ID, u.ID
		return doc, nil
	}
	return doc, err
}

// UpdatePreferences applies patch to u's preferences, creating them first if needed.
func (a *Accounts) UpdatePreferences(ctx context.Context, u *ports.UserContext, patch []byte) (any, error) {
	dt, err := a.Resources.DocType(a.PreferencesDocType)
	if err != nil {
		return nil, err
	}
	if _, err := a.Resources.Get(ctx, dt.Name, u.ID); errors.Is(err, core.ErrNotFound) {
		doc := dt.New()
		if err := dt.Set(doc, "user_id", u.ID); err != nil {
			return nil, err
		}
		b, _ := doctype.BaseOf(doc)
		b.Owner = u.ID
		if err := a.Resources.Insert(ctx, dt.Name, doc); err != nil && !errors.Is(err, core.ErrConflict) {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return a.Resources.Update(ctx, dt.Name, u.ID, patch, nil)
}

// userDocs returns the names of dt's documents owned by id or naming id in a
// user_id field, visiting them page by page.
func (a *Accounts) userDocs(ctx context.Context, dt *doctype.DocType, id string, visit func(doc any) error) error {
	seen := map[string]bool{}
	fields := []string{doctype.FieldOwner}
	if f, ok := dt.Field("user_id"); ok && f.Stored && f.Filterable {
		fields = append(fields, "user_id")
	}
	for _, field := range fields {
		for offset := 0; ; offset += 500 {
			res, err := a.repo().List(ctx, dt.Name, ports.Query{
				Filters:   []ports.Filter{{Field: field, Op: ports.OpEq, Value: id}},
				Orders:    []ports.Order{{Field: doctype.FieldName}},
				Limit:     500,
				Offset:    offset,
				SkipCount: true,
			})
			if err != nil {
				return fmt.Errorf("list %s of user: %w", dt.Name, err)
			}
			for _, doc := range res.Items {
				b, _ := doctype.BaseOf(doc)
				if seen[b.Name] {
					continue
				}
				seen[b.Name] = true
				if err := visit(doc); err != nil {
					return err
				}
			}
			if len(res.Items) < 500 {
				break
			}
		}
	}
	return nil
}

// Export writes, as one JSON object, everything the tenant in ctx holds about
// u that u may see: the principal, sessions, API keys (never their secrets),
// their account records (AccountDocTypes), and every document of every other
// DocType that u owns or that names u in user_id and that u may read. Hidden
// fields (password hashes, key hashes) are never included. It streams.
func (a *Accounts) Export(ctx context.Context, u *ports.UserContext, w io.Writer) error {
	enc := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	write := func(s string) error { _, err := io.WriteString(w, s); return err }
	if err := write(`{"user":`); err != nil {
		return err
	}
	if err := enc(u); err != nil {
		return err
	}
	if a.Auth.Sessions != nil {
		sessions, err := a.Auth.Sessions.List(ctx, u.ID)
		if err != nil {
			return err
		}
		if err := write(`,"sessions":`); err != nil {
			return err
		}
		if err := enc(sessions); err != nil {
			return err
		}
	}
	if a.Auth.APIKeys != nil {
		keys, err := a.Auth.APIKeys.List(ctx, u.ID)
		if err != nil {
			return err
		}
		if err := write(`,"api_keys":`); err != nil {
			return err
		}
		if err := enc(keys); err != nil {
			return err
		}
	}
	if err := write(`,"documents":{`); err != nil {
		return err
	}
	first := true
	for _, dt := range a.Resources.Registry().All() {
		wrote := false
		own := slices.Contains(a.AccountDocTypes, dt.Name)
		err := a.userDocs(ctx, dt, u.ID, func(doc any) error {
			if !own {
				// Documents naming the user may still be none of theirs to
				// see (error logs with internal details, admin records).
				ok, err := a.Resources.Can(ctx, dt, ports.ActionRead, doc)
				if err != nil || !ok {
					return err
				}
			}
			if !wrote {
				sep := ","
				if first {
					sep = ""
				}
				name, _ := json.Marshal(dt.Name)
				if err := write(sep + string(name) + ":["); err != nil {
					return err
				}
				first, wrote = false, true
			} else if err := write(","); err != nil {
				return err
			}
			b, err := dt.MarshalDoc(doc, nil)
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			return err
		}
		if wrote {
			if err := write("]"); err != nil {
				return err
			}
		}
	}
	return write("}}")
}

// Delete erases u's account in the tenant of ctx: sessions, API keys, social
// accounts and preferences are deleted; a local user is deleted or anonymized
// as configured. Business documents u owns stay (their owner field then names
// a deleted or anonymized user).
func (a *Accounts) Delete(ctx context.Context, u *ports.UserContext) error {
	return a.repo().InTx(ctx, func(ctx context.Context) error {
		if a.Auth.Sessions != nil {
			if _, err := a.Auth.Sessions.RevokeAll(ctx, u.ID); err != nil {
				return err
			}
		}
		if a.Auth.APIKeys != nil {
			if _, err := a.Auth.APIKeys.Store().DeleteKeysForUser(ctx, u.ID); err != nil {
				return err
			}
		}
		for _, name := range []string{a.SocialAccountDocType, a.PreferencesDocType} {
			dt, ok := a.Resources.Registry().Get(name)
			if !ok {
				continue
			}
			var names []string
			if err := a.userDocs(ctx, dt, u.ID, func(doc any) error {
				b, _ := doctype.BaseOf(doc)
				names = append(names, b.Name)
				return nil
			}); err != nil {
				return err
			}
			for _, n := range names {
				if err := a.repo().Delete(ctx, dt.Name, n); err != nil && !errors.Is(err, core.ErrNotFound) {
					return err
				}
			}
		}
		if local, err := a.Auth.Users.Local(); err == nil {
			if err := local.DeleteUser(ctx, u.ID, a.Deletion == pii.Anonymize); err != nil && !errors.Is(err, core.ErrNotFound) {
				return err
			}
		}
		a.Auth.audit.event(ctx, ports.AuditAccountErase, u.ID, map[string]any{"mode": string(a.Deletion)})
		return nil
	})
}
