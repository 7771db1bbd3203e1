package doctypes

import (
	"time"

	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/ports"
)

// ErrorLog records one unexpected error (a 5xx or a panic) with the context
// needed to find its cause. Only admins can read it; nobody can change it.
type ErrorLog struct {
	doctype.Base
	Title        string          `json:"title"`
	ErrorType    string          `json:"error_type"`
	ErrorMessage string          `json:"error_message"`
	Traceback    string          `json:"traceback"`
	RequestURL   string          `json:"request_url"`
	UserID       string          `json:"user_id"`
	RequestID    string          `json:"request_id"`
	TraceID      string          `json:"trace_id"` // the request's trace id; "" when not traced
	Timestamp    time.Time       `json:"timestamp"`
	Context      doctype.JSONMap `json:"context"`
}

// ErrorLogDocType is the ErrorLog DocType's name.
const ErrorLogDocType = "Error Log"

// ErrorLogMeta describes ErrorLog: admin-only, immutable, found by request
// id or trace id.
var ErrorLogMeta = doctype.Meta{
	Name:         ErrorLogDocType,
	Description:  "Unexpected errors met while serving requests.",
	Immutable:    true,
	NotAudited:   true,
	Permissions:  []doctype.Rule{{Role: ports.RoleAdmin, Actions: doctype.Read | doctype.Delete}},
	Indexes:      [][]string{{"request_id"}, {"trace_id"}, {"timestamp"}},
	DefaultOrder: []ports.Order{{Field: "timestamp", Desc: true}},
}

// NewErrorLog builds an ErrorLog document from a record (an errorlog.Builder).
func NewErrorLog(rec ports.ErrorRecord) any {
	return &ErrorLog{
		Title:        truncate(rec.Title, 140),
		ErrorType:    truncate(rec.ErrorType, 255),
		ErrorMessage: truncate(rec.Message, 8<<10),
		Traceback:    truncate(rec.Traceback, 64<<10),
		RequestURL:   truncate(rec.RequestURL, 2048),
		UserID:       rec.UserID,
		RequestID:    rec.RequestID,
		TraceID:      rec.TraceID,
		Timestamp:    rec.Timestamp.UTC().Truncate(time.Microsecond),
		Context:      rec.Context,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
