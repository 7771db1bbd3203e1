// Package authtest is the contract suite of auth strategies (the
// ports.Authenticator port): what every strategy of the auth chain must do,
// built-in or a user's own.
//
//	func TestContract(t *testing.T) {
//		authtest.Run(t, func(t *testing.T) authtest.Fixture {
//			s := mystrategy.New(…) // over a store of its own holding user "ann"
//			return authtest.Fixture{Strategy: s, Valid: h, Invalid: bad, UserID: "ann", Ctx: ctx}
//		})
//	}
//
// The contract:
//   - Name is a non-empty configuration name, the same on every call.
//   - Supports is true for a request carrying the strategy's kind of
//     credential — valid or not — and false for a request carrying none, or
//     only other kinds (a bearer token, an API key, a session cookie, basic
//     credentials, gateway headers) unless they are its own kind.
//   - Authenticate of a valid credential returns the principal (ID = UserID).
//   - Authenticate of an invalid one returns nil and an error matching
//     core.ErrUnauthorized — never a principal, never another kind of error —
//     so the chain answers 401 and never falls through to a weaker strategy.
//   - Malformed or oversized input is refused the same way, without panicking.
//   - It is safe for concurrent use.
package authtest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

// Fixture is one strategy under test and the requests that exercise it.
type Fixture struct {
	// Strategy is the strategy under test.
	Strategy ports.Authenticator
	// Ctx is the request context the strategy runs in (tenant, client IP…).
	Ctx context.Context
	// Valid carries a valid credential of UserID.
	Valid http.Header
	// Invalid carry credentials of the strategy's kind that must be refused
	// (wrong secret, unknown id, expired …); at least one.
	Invalid []http.Header
	// UserID is the principal Valid authenticates.
	UserID string
}

// NewFixture returns a fixture of its own for one subtest.
type NewFixture = func(t *testing.T) Fixture

// otherKinds carries credentials of the built-in strategies' kinds.
var otherKinds = map[string]http.Header{
	"bearer":         {"Authorization": {"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}},
	"basic":          {"Authorization": {"Basic YW5uQGV4YW1wbGUuY29tOnB3"}},
	"api_key":        {"X-Api-Key": {"fmk_abcdefabcdefabcd_secret"}},
	"session_cookie": {"Cookie": {"session_id=abcdef"}},
	"header":         {"X-User-Id": {"ann"}},
}

// Run checks the strategies newFixture returns keep the contract.
func Run(t *testing.T, newFixture NewFixture) {
	t.Helper()
	t.Run("Name", func(t *testing.T) {
		t.Parallel()
		f := fixture(t, newFixture)
		name := f.Strategy.Name()
		if name == "" || strings.TrimSpace(name) != name {
			t.Fatalf("Name() = %q: want a configuration name", name)
		}
		if again := f.Strategy.Name(); again != name {
			t.Fatalf("Name() changed: %q then %q", name, again)
		}
	})
	t.Run("Supports", func(t *testing.T) {
		t.Parallel()
		f := fixture(t, newFixture)
		if !f.Strategy.Supports(f.Valid) {
			t.Error("Supports(valid credential) = false")
		}
		for i, h := range f.Invalid {
			if !f.Strategy.Supports(h) {
				t.Errorf("Supports(invalid credential %d) = false: a present but bad credential must be claimed, or the chain falls through", i)
			}
		}
		if f.Strategy.Supports(http.Header{}) {
			t.Error("Supports(no credential) = true")
		}
		for kind, h := range otherKinds {
			if kind != f.Strategy.Name() && f.Strategy.Supports(h) {
				t.Errorf("Supports(a %s credential) = true", kind)
			}
		}
	})
	t.Run("ValidCredential", func(t *testing.T) {
		t.Parallel()
		f := fixture(t, newFixture)
		u, err := f.Strategy.Authenticate(f.Ctx, f.Valid)
		if err != nil {
			t.Fatalf("Authenticate(valid) = %v", err)
		}
		if u == nil || u.ID != f.UserID {
			t.Fatalf("Authenticate(valid) = %+v, want user %q", u, f.UserID)
		}
	})
	t.Run("InvalidCredentials", func(t *testing.T) {
		t.Parallel()
		f := fixture(t, newFixture)
		for i, h := range f.Invalid {
			refused(t, f, h, "invalid credential %d", i)
		}
	})
	t.Run("MalformedInput", func(t *testing.T) {
		t.Parallel()
		f := fixture(t, newFixture)
		for name, mutate := range map[string]func(string) string{
			"oversized":     func(v string) string { return v + strings.Repeat("A", 64<<10) },
			"control bytes": func(v string) string { return v + "\x00\r\n" },
			"not UTF-8":     func(v string) string { return v + "\xff\xfe" },
		} {
			h := f.Valid.Clone()
			for k, vs := range h {
				for i := range vs {
					vs[i] = mutate(vs[i])
				}
				h[k] = vs
			}
			if !f.Strategy.Supports(h) {
				continue // not its credential any more: the chain moves on, fine
			}
			refused(t, f, h, "%s credential", name)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		f := fixture(t, newFixture)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				u, err := f.Strategy.Authenticate(f.Ctx, f.Valid.Clone())
				if err != nil || u == nil || u.ID != f.UserID {
					t.Errorf("concurrent Authenticate(valid) = %+v, %v", u, err)
				}
			})
		}
		wg.Wait()
	})
}

func fixture(t *testing.T, newFixture NewFixture) Fixture {
	t.Helper()
	f := newFixture(t)
	if f.Strategy == nil || f.Valid == nil || len(f.Invalid) == 0 || f.UserID == "" {
		t.Fatal("authtest: the fixture needs Strategy, Valid, Invalid and UserID")
	}
	if f.Ctx == nil {
		f.Ctx = context.Background()
	}
	return f
}

// refused checks h is refused with an unauthorized error and no principal.
func refused(t *testing.T, f Fixture, h http.Header, format string, args ...any) {
	t.Helper()
	u, err := f.Strategy.Authenticate(f.Ctx, h)
	if u != nil {
		t.Errorf(format+": Authenticate returned principal %q", append(args, u.ID)...)
	}
	if !errors.Is(err, core.ErrUnauthorized) {
		t.Errorf(format+": error = %v, want one matching core.ErrUnauthorized", append(args, err)...)
	}
}
