package frameworkm

import (
	"fmt"
	"path/filepath"
	"time"

	auditdb "github.com/framework-m/framework-m/adapters/audit/database"
	"github.com/framework-m/framework-m/adapters/audit/elastic"
	auditfile "github.com/framework-m/framework-m/adapters/audit/file"
	auditmemory "github.com/framework-m/framework-m/adapters/audit/memory"
	"github.com/framework-m/framework-m/core/audit"
	"github.com/framework-m/framework-m/ports"
)

// builtinAudits are the audit logs [audit] backend may name; "off" builds
// none.
var builtinAudits = map[string]Backend[ports.AuditLog]{
	"database": Factory(func(d Deps) (ports.AuditLog, error) { return auditdb.New(d.Store), nil }),
	"file": NewBackend(auditfile.DefaultConfig(), func(d Deps, c auditfile.Config) (ports.AuditLog, error) {
		if c.Path == "" {
			c.Path = filepath.Join(d.Config.App.DataDir, "audit", "audit.jsonl")
		}
		return auditfile.New(c)
	}),
	"elastic": NewBackend(elastic.DefaultConfig(), func(_ Deps, c elastic.Config) (ports.AuditLog, error) {
		return elastic.New(c, nil)
	}),
	"memory": Factory(func(Deps) (ports.AuditLog, error) { return auditmemory.New(), nil }),
	"off":    Factory(func(Deps) (ports.AuditLog, error) { return nil, nil }),
}

// activityFeed is the feed of the audit trail (nil when it is off).
func (a *App) activityFeed() *audit.Feed {
	if a.Audit == nil {
		return nil
	}
	return audit.NewFeed(a.Audit, a.Resources, a.Config.Permissions.AdminRoles)
}

// WithAuditBackend adds an audit log under name, to be chosen with [audit]
// backend and configured in [audit.<name>].
func WithAuditBackend(name string, b Backend[ports.AuditLog]) Option {
	return func(o *options) { o.audits.register(name, b) }
}

// buildAudit builds [audit] backend and the audit trail writing to it: it
// hears every committed change, audited reads and the security events, and
// its writer runs with the app (Shutdown writes what is left).
func (a *App) buildAudit(o *options, d Deps) error {
	c := a.Config.Audit
	sink, err := o.audits.build(d, "audit.backend", c.Backend)
	if err != nil {
		return err
	}
	if sink == nil {
		if c.Backend != "off" {
			return fmt.Errorf("audit.backend = %q built no audit log", c.Backend)
		}
		return nil
	}
	a.adopt(sink) // closed after the trail's writer has written everything
	a.Audit = audit.New(sink, a.Registry, audit.Options{
		QueueSize:     c.QueueSize,
		BatchSize:     c.BatchSize,
		FlushInterval: time.Duration(c.FlushIntervalMS) * time.Millisecond,
		MaxRetries:    c.MaxRetries,
		Logger:        a.Logger,
		AfterCommit:   a.Repository.AfterCommit,
		Meter:         a.Meter,
	})
	a.Audit.Subscribe(a.Changes)
	a.Resources.AuditReadsTo(a.Audit)
	if a.AuthService != nil {
		a.AuthService.AuditTo(a.Audit)
	}
	a.adopt(a.Audit)
	return nil
}
