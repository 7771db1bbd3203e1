package auth

import (
	"context"

	"github.com/framework-m/framework-m/ports"
)

// security records the identity part's security events in the audit trail
// (Service.AuditTo); a nil *security records nothing.
type security struct {
	rec ports.AuditRecorder
}

// event records action by (or, for a failed login, about) userID.
func (s *security) event(ctx context.Context, action, userID string, md map[string]any) {
	if s == nil || s.rec == nil {
		return
	}
	s.rec.Record(ctx, ports.AuditEntry{Action: action, UserID: userID, Metadata: md})
}

// AuditTo records the security events of every part of s with rec: logins
// (and failed ones), logouts, password changes and resets, API keys created
// and revoked, sessions revoked, accounts erased. Call it before serving.
func (s *Service) AuditTo(rec ports.AuditRecorder) {
	sec := &security{rec: rec}
	s.audit = sec
	if s.Users != nil {
		s.Users.audit = sec
	}
	if s.Sessions != nil {
		s.Sessions.audit = sec
	}
	if s.APIKeys != nil {
		s.APIKeys.audit = sec
	}
}
