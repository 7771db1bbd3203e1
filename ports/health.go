package ports

import "context"

// Dependency is a server the app uses that can be down, as /readyz reports
// it.
type Dependency struct {
	// Name names it in /readyz ("database", "redis", "hub" …).
	Name string
	// Required: the app cannot serve without it, so /readyz answers 503 while
	// it is down. Others are reported, not failed on.
	Required bool
	// Check answers nil when the dependency answers; it must honour ctx.
	Check func(ctx context.Context) error
}

// Readiness is the optional interface of an adapter that depends on a server
// of its own: the App finds it on what a backend built and reports it in
// /readyz.
type Readiness interface {
	Readiness() Dependency
}
