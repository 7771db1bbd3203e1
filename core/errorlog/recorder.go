// Package errorlog records unexpected errors as documents administrators can
// read (the Error Log DocType), so a user quoting a request id can be helped.
package errorlog

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/framework-m/framework-m/ports"
)

// Builder turns a record into a new document of the error-log DocType.
type Builder func(rec ports.ErrorRecord) any

// Recorder writes ErrorRecords through the repository.
type Recorder struct {
	repo          ports.Repository
	doctype       string
	build         Builder
	defaultTenant string
}

// New returns a Recorder that stores records as documents of doctypeName made
// by build, in the operator's tenant defaultTenant.
func New(repo ports.Repository, doctypeName string, build Builder, defaultTenant string) *Recorder {
	return &Recorder{repo: repo, doctype: doctypeName, build: build, defaultTenant: defaultTenant}
}

// Record stores rec as the system user, even if the request's context was
// cancelled. Every record goes to the operator's tenant (the default tenant),
// whatever tenant the request ran in: internal errors and stack traces are for
// whoever runs the app, never for the admins of a customer tenant. The
// request's tenant is kept in the record's context as "tenant_id".
func (r *Recorder) Record(ctx context.Context, rec ports.ErrorRecord) error {
	if rec.TenantID != "" {
		ctxMap := make(map[string]any, len(rec.Context)+1) // never the caller's map
		maps.Copy(ctxMap, rec.Context)
		ctxMap["tenant_id"] = rec.TenantID
		rec.Context = ctxMap
	}
	tenant := r.defaultTenant
	rec.TenantID = tenant
	if rec.Timestamp.IsZero() {
		rec.Timestamp = time.Now().UTC()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ctx = ports.WithUser(ports.WithTenantID(ctx, tenant), &ports.SystemUser)
	if err := r.repo.Create(ctx, r.doctype, r.build(rec)); err != nil {
		return fmt.Errorf("record error log: %w", err)
	}
	return nil
}

var _ ports.ErrorRecorder = (*Recorder)(nil)
