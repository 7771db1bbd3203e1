package authtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/auth"
	"github.com/framework-m/framework-m/ports"
)

// SocialFixture is one store of social accounts under test.
type SocialFixture struct {
	// Accounts is the store under test.
	Accounts auth.SocialAccounts
	// Ctx returns a context in tenant (the suite uses two tenants, "t1" and
	// "t2"), acting as the system.
	Ctx func(tenant string) context.Context
	// WithPassword and WithoutPassword are users of tenant "t1": one who can
	// log in with a password and one who cannot.
	WithPassword, WithoutPassword string
}

// RunSocialAccounts runs the contract of auth.SocialAccounts, the store of
// links between users and provider accounts:
//   - Find of an account never linked is core.ErrNotFound.
//   - Link stores every field; Find and ListByUser return them.
//   - A provider account (provider, subject) is linked at most once per
//     tenant: a second Link, to the same user or another, is core.ErrConflict,
//     also when racing; the same subject at another provider, or in another
//     tenant, is another account.
//   - Tenants are isolated: nothing linked in one is found in another.
//   - ListByUser returns the user's accounts in provider order; Unlink removes
//     the user's accounts at one provider and says how many.
//   - HasPassword tells users with a password from those without.
func RunSocialAccounts(t *testing.T, newFixture func(t *testing.T) SocialFixture) {
	t.Run("FindUnknown", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.Accounts.Find(f.Ctx("t1"), "google", "nobody")
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Find of an unknown account: %v, want core.ErrNotFound", err)
		}
	})

	t.Run("LinkFindList", func(t *testing.T) {
		f := newFixture(t)
		ctx := f.Ctx("t1")
		u := f.WithoutPassword
		want := ports.SocialAccount{Provider: "google", Subject: "g-1", UserID: u, Email: "ann@example.com", DisplayName: "Ann Ö"}
		must(t, f.Accounts.Link(ctx, want))
		must(t, f.Accounts.Link(ctx, ports.SocialAccount{Provider: "github", Subject: "77", UserID: u}))
		got, err := f.Accounts.Find(ctx, "google", "g-1")
		must(t, err)
		if *got != want {
			t.Fatalf("Find = %+v, want %+v", *got, want)
		}
		list, err := f.Accounts.ListByUser(ctx, u)
		must(t, err)
		if len(list) != 2 || list[0].Provider != "github" || list[1].Provider != "google" {
			t.Fatalf("ListByUser = %+v, want github then google", list)
		}
		if other, err := f.Accounts.ListByUser(ctx, f.WithPassword); err != nil || len(other) != 0 {
			t.Fatalf("ListByUser of another user = %+v, %v; want none", other, err)
		}
	})

	t.Run("OneLinkPerAccount", func(t *testing.T) {
		f := newFixture(t)
		ctx := f.Ctx("t1")
		a := ports.SocialAccount{Provider: "google", Subject: "g-1", UserID: f.WithoutPassword}
		must(t, f.Accounts.Link(ctx, a))
		for _, again := range []ports.SocialAccount{a, {Provider: "google", Subject: "g-1", UserID: f.WithPassword}} {
			if err := f.Accounts.Link(ctx, again); !errors.Is(err, core.ErrConflict) {
				t.Fatalf("a second Link of google/g-1 (user %s): %v, want core.ErrConflict", again.UserID, err)
			}
		}
		got, err := f.Accounts.Find(ctx, "google", "g-1")
		must(t, err)
		if got.UserID != f.WithoutPassword {
			t.Fatalf("the refused link changed the owner to %q", got.UserID)
		}
		// The same subject at another provider is another account.
		must(t, f.Accounts.Link(ctx, ports.SocialAccount{Provider: "github", Subject: "g-1", UserID: f.WithPassword}))
	})

	t.Run("RacingLinks", func(t *testing.T) {
		f := newFixture(t)
		ctx := f.Ctx("t1")
		var won, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := f.WithoutPassword
				if i%2 == 1 {
					u = f.WithPassword
				}
				switch err := f.Accounts.Link(ctx, ports.SocialAccount{Provider: "google", Subject: "race", UserID: u}); {
				case err == nil:
					won.Add(1)
				case errors.Is(err, core.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("racing Link: %v", err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("8 racing links of one account: %d stored, %d conflicts; want 1 and 7", won.Load(), conflicts.Load())
		}
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		f := newFixture(t)
		must(t, f.Accounts.Link(f.Ctx("t1"), ports.SocialAccount{Provider: "google", Subject: "g-1", UserID: f.WithoutPassword}))
		if _, err := f.Accounts.Find(f.Ctx("t2"), "google", "g-1"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("another tenant found the account: %v", err)
		}
		if list, err := f.Accounts.ListByUser(f.Ctx("t2"), f.WithoutPassword); err != nil || len(list) != 0 {
			t.Fatalf("another tenant listed %+v, %v", list, err)
		}
		if n, err := f.Accounts.Unlink(f.Ctx("t2"), f.WithoutPassword, "google"); err != nil || n != 0 {
			t.Fatalf("another tenant unlinked %d, %v", n, err)
		}
		// The same provider account in another tenant is its own link.
		must(t, f.Accounts.Link(f.Ctx("t2"), ports.SocialAccount{Provider: "google", Subject: "g-1", UserID: "someone-in-t2"}))
		got, err := f.Accounts.Find(f.Ctx("t1"), "google", "g-1")
		must(t, err)
		if got.UserID != f.WithoutPassword {
			t.Fatalf("t2's link changed t1's: %+v", got)
		}
	})

	t.Run("Unlink", func(t *testing.T) {
		f := newFixture(t)
		ctx := f.Ctx("t1")
		u := f.WithoutPassword
		must(t, f.Accounts.Link(ctx, ports.SocialAccount{Provider: "google", Subject: "g-1", UserID: u}))
		must(t, f.Accounts.Link(ctx, ports.SocialAccount{Provider: "github", Subject: "77", UserID: u}))
		must(t, f.Accounts.Link(ctx, ports.SocialAccount{Provider: "google", Subject: "g-2", UserID: f.WithPassword}))
		n, err := f.Accounts.Unlink(ctx, u, "google")
		must(t, err)
		if n != 1 {
			t.Fatalf("Unlink removed %d accounts, want 1", n)
		}
		if _, err := f.Accounts.Find(ctx, "google", "g-1"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("the unlinked account is still found: %v", err)
		}
		if _, err := f.Accounts.Find(ctx, "google", "g-2"); err != nil {
			t.Fatalf("another user's google account went too: %v", err)
		}
		if n, err := f.Accounts.Unlink(ctx, u, "google"); err != nil || n != 0 {
			t.Fatalf("a second Unlink: %d, %v; want 0, nil", n, err)
		}
		// An unlinked account can be linked again.
		must(t, f.Accounts.Link(ctx, ports.SocialAccount{Provider: "google", Subject: "g-1", UserID: f.WithPassword}))
	})

	t.Run("HasPassword", func(t *testing.T) {
		f := newFixture(t)
		ctx := f.Ctx("t1")
		has, err := f.Accounts.HasPassword(ctx, f.WithPassword)
		must(t, err)
		if !has {
			t.Fatal("HasPassword of a user with a password is false")
		}
		has, err = f.Accounts.HasPassword(ctx, f.WithoutPassword)
		must(t, err)
		if has {
			t.Fatal("HasPassword of a passwordless user is true")
		}
	})
}

// RunMagicLinkUses runs the contract of auth.MagicLinkUses, the record of
// used sign-in links and states: Use succeeds once per id and tenant, and
// every later Use of it is core.ErrConflict, also when racing (one wins);
// tenants are isolated. newUses returns the store and a context in tenant.
func RunMagicLinkUses(t *testing.T, newUses func(t *testing.T) (auth.MagicLinkUses, func(tenant string) context.Context)) {
	exp := time.Now().Add(time.Hour)
	t.Run("Once", func(t *testing.T) {
		uses, ctx := newUses(t)
		must(t, uses.Use(ctx("t1"), "link-1", "u1", exp))
		if err := uses.Use(ctx("t1"), "link-1", "u1", exp); !errors.Is(err, core.ErrConflict) {
			t.Fatalf("a second Use: %v, want core.ErrConflict", err)
		}
		must(t, uses.Use(ctx("t1"), "link-2", "u1", exp))
		must(t, uses.Use(ctx("t2"), "link-1", "u1", exp)) // another tenant's own id
	})
	t.Run("Racing", func(t *testing.T) {
		uses, ctx := newUses(t)
		var won, conflicts atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch err := uses.Use(ctx("t1"), "race", "u1", exp); {
				case err == nil:
					won.Add(1)
				case errors.Is(err, core.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("racing Use: %v", err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("8 racing uses: %d won, %d conflicts; want 1 and 7", won.Load(), conflicts.Load())
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
