// Package fakes holds small in-memory stand-ins for Framework M's ports, for
// tests of apps and of the framework itself: an identity provider, a token
// service, a permission evaluator, a tenant resolver and a capturing mailer.
// Each keeps the documented contract of its port where a test can observe it
// (typed core errors, tenant scoping, copies rather than shared pointers) and
// is safe for concurrent use.
//
//	tokens := fakes.NewTokens(time.Hour)
//	ids := fakes.NewIdentity(tokens)
//	ann := ids.Add(ports.User{Email: "ann@example.com", Roles: []string{"Sales"}, IsActive: true}, "pw")
//	perms := fakes.DenyAll().Grant("Sales", "Invoice", ports.ActionRead)
//
// Other in-memory implementations live with the adapters or beside this
// package and are as good for tests:
//
//   - adapters/ratelimit/memory: a ports.RateLimiter;
//   - fmtest/memrepo: a ports.Repository (documents, transactions, AfterCommit).
package fakes
