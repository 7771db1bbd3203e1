package citadel_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/framework-m/framework-m/adapters/permission/citadel"
	"github.com/framework-m/framework-m/fmtest/permtest"
	"github.com/framework-m/framework-m/ports"
)

// BenchmarkCitadelOPA measures a decision round trip against the real OPA of
// FM_TEST_OPA_URL running testdata/policy.rego: one document check (the
// conditional Sales Rep grant, so the policy compares attributes), the same
// from parallel goroutines, and a list request that returns filters.
func BenchmarkCitadelOPA(b *testing.B) {
	a := newAdapter(b, opaConfig(opaURL(b)))
	req := permtest.Case{Who: permtest.Sam, Action: ports.ActionRead, Doc: permtest.BobNorth}.Request()
	ctx := tenantCtx()
	b.Run("Evaluate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := a.Evaluate(ctx, req)
			if err != nil || !res.Authorized {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.Run("EvaluateParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				res, err := a.Evaluate(ctx, req)
				if err != nil || !res.Authorized {
					b.Errorf("%+v, %v", res, err)
					return
				}
			}
		})
	})
	u := permtest.AnnAndRep.UserContext()
	b.Run("PermittedFilters", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fs, err := a.PermittedFilters(ctx, u, "Invoice", ports.ActionRead)
			if err != nil || len(fs) != 1 {
				b.Fatalf("%+v, %v", fs, err)
			}
		}
	})
}

// BenchmarkCitadelLoopback is the adapter's own cost: a round trip to an
// in-process service that answers at once (no policy engine).
func BenchmarkCitadelLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"allowed": true, "reason": "ok", "policy_id": "p"}`)
	}))
	b.Cleanup(srv.Close)
	a := newAdapter(b, citadel.Config{Endpoint: srv.URL, Format: citadel.FormatCitadel})
	req := permtest.Case{Who: permtest.Sam, Action: ports.ActionRead, Doc: permtest.BobNorth}.Request()
	ctx := tenantCtx()
	b.ReportAllocs()
	for b.Loop() {
		if res, err := a.Evaluate(ctx, req); err != nil || !res.Authorized {
			b.Fatalf("%+v, %v", res, err)
		}
	}
}
