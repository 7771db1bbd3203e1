package files

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// sweepBatch is how many expired upload rows one round of the sweep reads.
const sweepBatch = 200

// Run sweeps until ctx ends: at once, then every SweepEvery. The App runs it.
func (s *Service) Run(ctx context.Context) {
	if s.opts.Purger == nil {
		return
	}
	every := s.opts.SweepEvery
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "file sweep failed; it runs again later", "removed", n, "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "file sweep removed abandoned uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep removes every upload row past its expiry, in every tenant, with the
// bytes it announced (unless a File records them) and the storage's
// unfinished upload: abandoned sessions, presigned uploads never confirmed,
// and files whose upload stopped between storing and recording. It returns
// how many rows it removed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	if s.opts.Purger == nil {
		return 0, nil
	}
	removed := 0
	var failed []string // rows that could not be removed: skipped this round
	for {
		limit := sweepBatch + len(failed)
		rows, err := s.opts.Purger.ListBefore(ctx, doctypes.FileUploadDocType, "expires_at", s.now(), limit)
		if err != nil {
			return removed, fmt.Errorf("list expired uploads: %w", err)
		}
		progress := false
		for _, row := range rows {
			u := row.(*doctypes.FileUpload)
			if slices.Contains(failed, u.Name) {
				continue
			}
			if err := s.sweepOne(ctx, u); err != nil {
				if ctx.Err() != nil {
					return removed, ctx.Err()
				}
				s.log.WarnContext(ctx, "could not remove an abandoned upload", "upload", u.Name, "err", err)
				failed = append(failed, u.Name)
				continue
			}
			removed++
			progress = true
		}
		if len(rows) < limit || !progress {
			if len(failed) > 0 {
				return removed, fmt.Errorf("%d abandoned uploads could not be removed", len(failed))
			}
			return removed, nil
		}
	}
}

// sweepOne removes the expired row u and what it announced.
func (s *Service) sweepOne(ctx context.Context, u *doctypes.FileUpload) error {
	sys := ports.WithUser(ports.WithTenantID(ctx, u.TenantID), &ports.SystemUser)
	if !InTenant(u.StorageKey, u.TenantID) {
		// Never touch bytes outside the row's tenant; drop the row.
		s.log.ErrorContext(ctx, "an upload row names bytes outside its tenant", "upload", u.Name)
	} else {
		recorded, err := s.repo.List(sys, doctypes.FileDocType, ports.Query{
			Filters: []ports.Filter{{Field: "storage_key", Op: ports.OpEq, Value: u.StorageKey}}, Limit: 1, SkipCount: true,
		})
		if err != nil {
			return err
		}
		if len(recorded.Items) == 0 {
			if err := s.removeBytes(sys, u); err != nil {
				return err
			}
		}
	}
	if err := s.repo.Delete(sys, doctypes.FileUploadDocType, u.Name); err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	return nil
}
