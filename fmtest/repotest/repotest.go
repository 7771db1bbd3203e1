// Package repotest is the contract suite of ports.Repository: the behaviour
// every repository adapter must show, written once and run against each of them.
//
//	func TestRepository(t *testing.T) {
//		repotest.Run(t, func(t *testing.T, reg *doctype.Registry) ports.Repository {
//			r := myadapter.New(reg) // a store of its own for this test
//			if err := r.Migrate(t.Context()); err != nil {
//				t.Fatal(err)
//			}
//			return r
//		})
//	}
//
// The suite registers its own DocTypes (see ItemDocType and its siblings) and
// checks naming, tenancy, ownership, timestamps, optimistic versioning, unique
// keys, every filter operator, ordering and paging, transactions and
// concurrent writers. A failing check names the behaviour, not the adapter's
// internals, so the same failure means the same thing for every adapter.
package repotest

import (
	"context"
	"testing"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// NewRepo returns a repository for the DocTypes in reg, on a store of its own
// (nothing shared with repositories returned earlier), with every table it
// needs already created. It is called once per behaviour the suite checks,
// possibly from parallel tests; release the store with t.Cleanup.
type NewRepo = func(t *testing.T, reg *doctype.Registry) ports.Repository

// Run checks that the repositories newRepo returns keep the ports.Repository
// contract. Each behaviour is a parallel subtest of its own, on a fresh
// repository; they share only reg, which is safe for concurrent use.
func Run(t *testing.T, newRepo NewRepo) {
	t.Helper()
	reg := doctype.NewRegistry()
	register(t, reg)
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Create", createCases},
		{"NoTenant", noTenantCases},
		{"Tenancy", tenancyCases},
		{"Update", updateCases},
		{"Delete", deleteCases},
		{"List", listCases},
		{"InTx", txCases},
		{"Concurrency", concurrencyCases},
		{"Ping", pingCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					r := newRepo(t, reg)
					if r == nil {
						t.Fatal("repotest: newRepo returned nil")
					}
					c.fn(t, &fixture{t: t, r: r})
				})
			}
		})
	}
}

// testCase is one behaviour of the contract.
type testCase struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// fixture is a fresh repository and the helpers the checks share.
type fixture struct {
	t *testing.T
	r ports.Repository
}

// ctx returns a context scoped to tenant.
func (f *fixture) ctx(tenant string) context.Context {
	return ports.WithTenantID(f.t.Context(), tenant)
}

// as returns a context scoped to tenant, acting as the user called id.
func (f *fixture) as(tenant, id string) context.Context {
	return ports.WithUser(f.ctx(tenant), &ports.UserContext{ID: id, TenantID: tenant})
}
