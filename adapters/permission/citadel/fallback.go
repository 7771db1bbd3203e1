package citadel

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/ports"
)

func (a *Adapter) fallbackEvaluate(ctx context.Context, req ports.PolicyRequest, f *failure) (ports.PolicyResult, error) {
	a.warn(ctx, f)
	switch {
	case a.useFallback:
		res, err := a.fallback.Evaluate(ctx, req)
		if err != nil {
			return res, fmt.Errorf("citadel: %s; fallback rbac: %w", f.reason, err)
		}
		res.Reason = f.reason + "; fallback rbac: " + res.Reason
		return res, nil
	case a.fallbackOnError:
		return ports.PolicyResult{Authorized: true, Source: ports.SourceCustom, Reason: f.reason + "; fallback allows (fallback_on_error)"}, nil
	}
	return ports.PolicyResult{Source: ports.SourceCustom, Reason: f.reason + "; fallback denies"}, nil
}

func (a *Adapter) fallbackFilters(ctx context.Context, u *ports.UserContext, doctype string, action ports.Action, f *failure) ([]ports.Filter, error) {
	a.warn(ctx, f)
	switch {
	case a.useFallback:
		fs, err := a.fallback.PermittedFilters(ctx, u, doctype, action)
		if err != nil {
			return nil, fmt.Errorf("citadel: %s; fallback rbac: %w", f.reason, err)
		}
		return fs, nil
	case a.fallbackOnError:
		return nil, nil
	}
	return nil, fmt.Errorf("citadel: %s %s list: %s; fallback denies: %w", doctype, action, f.reason, core.ErrForbidden)
}

// warn logs f, at most once per LogInterval per kind of failure.
func (a *Adapter) warn(ctx context.Context, f *failure) {
	a.failing.Store(true)
	suppressed, ok := a.warnings.Allow(f.kind, time.Now())
	if !ok {
		return
	}
	fallback := "deny"
	switch {
	case a.useFallback:
		fallback = FallbackRBAC
	case a.fallbackOnError:
		fallback = "allow"
	}
	a.log.LogAttrs(ctx, slog.LevelWarn, "citadel: policy service failed, fallback decides",
		slog.String("endpoint", a.logEndpoint),
		slog.String("failure", f.kind),
		slog.String("error", f.err.Error()),
		slog.String("fallback", fallback),
		slog.Int("suppressed", suppressed),
	)
}

var _ ports.PermissionEvaluator = (*Adapter)(nil)

// Invalidate passes a Custom Permission change on to the RBAC fallback's cache.
func (a *Adapter) Invalidate(tenant string) {
	if inv, ok := a.fallback.(interface{ Invalidate(string) }); ok {
		inv.Invalidate(tenant)
	}
}
