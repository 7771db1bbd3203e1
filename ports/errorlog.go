package ports

import (
	"context"
	"time"
)

// ErrorRecord describes one unexpected error met while serving a request.
type ErrorRecord struct {
	Title      string
	ErrorType  string
	Message    string
	Traceback  string
	RequestURL string
	UserID     string
	RequestID  string
	TraceID    string // the request's OpenTelemetry trace id (32 hex digits); "" when not traced
	TenantID   string
	Timestamp  time.Time
	Context    map[string]any
}

// ErrorRecorder keeps ErrorRecords where administrators can read them.
type ErrorRecorder interface {
	Record(ctx context.Context, rec ErrorRecord) error
}
