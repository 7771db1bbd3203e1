// Package core holds the error values every core service and adapter speaks.
//
// Services return these sentinels wrapped with %w; the web adapter maps them to
// HTTP status codes and one JSON error shape (see adapters/web).
package core

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Sentinel errors. Test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrForbidden     = errors.New("forbidden")
	ErrConflict      = errors.New("conflict")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrValidation    = errors.New("validation failed")
	ErrUnavailable   = errors.New("service unavailable")
	ErrTooMany       = errors.New("too many requests")
	ErrNotSupported  = errors.New("not supported")
	ErrNoTenant      = errors.New("no tenant in context")
	ErrPayloadTooBig = errors.New("payload too large")
	// ErrUnsupportedType refuses content of a type not accepted (415).
	ErrUnsupportedType = errors.New("unsupported media type")
)

// FieldError names one invalid field and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every invalid field of an input. It matches ErrValidation.
type ValidationError struct {
	// Message summarises the problem when it is not about one field.
	Message string
	Fields  []FieldError
}

// Invalid returns a ValidationError for one field.
func Invalid(field, reason string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Reason: reason}}}
}

// Invalidf returns a ValidationError for one field with a formatted reason.
func Invalidf(field, format string, args ...any) *ValidationError {
	return Invalid(field, fmt.Sprintf(format, args...))
}

// Add records one more invalid field.
func (e *ValidationError) Add(field, reason string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Reason: reason})
}

// Err returns e when it records any problem, else nil.
func (e *ValidationError) Err() error {
	if e == nil || (len(e.Fields) == 0 && e.Message == "") {
		return nil
	}
	return e
}

// FieldMap returns the problems as field → reason (the JSON error shape).
func (e *ValidationError) FieldMap() map[string]string {
	m := make(map[string]string, len(e.Fields))
	for _, f := range e.Fields {
		if prev, ok := m[f.Field]; ok {
			m[f.Field] = prev + "; " + f.Reason
			continue
		}
		m[f.Field] = f.Reason
	}
	return m
}

// Error lists the message and every field problem.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields)+1)
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	fs := append([]FieldError(nil), e.Fields...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Field < fs[j].Field })
	for _, f := range fs {
		parts = append(parts, f.Field+": "+f.Reason)
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrValidation) true.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// ConflictError reports a stale write and carries the current document so the
// client can merge and retry. It matches ErrConflict.
type ConflictError struct {
	Message string
	Current any
}

// Error returns the conflict's message.
func (e *ConflictError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// PublicError is an error whose message is safe to show to clients as is.
// Wrap a sentinel with Public to give it a client-facing message.
type PublicError struct {
	Msg string
	Err error
}

// Public returns an error matching sentinel whose client-facing message is msg.
func Public(sentinel error, msg string) error { return &PublicError{Msg: msg, Err: sentinel} }

// Publicf is Public with a formatted message.
func Publicf(sentinel error, format string, args ...any) error {
	return &PublicError{Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// Error returns the client-facing message.
func (e *PublicError) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *PublicError) Unwrap() error { return e.Err }

// RateLimitError reports a refused request and when to retry. It matches ErrTooMany.
type RateLimitError struct {
	Message    string
	RetryAfter time.Duration
}

// Error returns the refusal's message.
func (e *RateLimitError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrTooMany) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrTooMany }

// UnavailableError is a dependency a request needs that did not answer (a
// session store, the login throttle's limiter, the database): the client
// should retry after RetryAfter. It matches ErrUnavailable and wraps Err,
// which only logs see.
type UnavailableError struct {
	// What names the dependency for the client ("the session store").
	What       string
	RetryAfter time.Duration
	Err        error
}

// Unavailable returns an UnavailableError for what, caused by err, with a
// RetryAfter of a few seconds.
func Unavailable(what string, err error) *UnavailableError {
	return &UnavailableError{What: what, RetryAfter: 5 * time.Second, Err: err}
}

// Error says what is unavailable and why.
func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return e.What + " is unavailable"
	}
	return e.What + " is unavailable: " + e.Err.Error()
}

// Unwrap makes errors.Is(err, ErrUnavailable) true, and reaches the cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Public is the client's message.
func (e *UnavailableError) Public() string { return e.What + " is unavailable; try again shortly" }

// NotSupportedError refuses an operation a resource does not offer, saying
// which ones it does (the HTTP Allow header). It matches ErrNotSupported.
type NotSupportedError struct {
	Message string
	// Allow lists the HTTP methods the resource supports.
	Allow []string
}

// Error returns the refusal's message.
func (e *NotSupportedError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

// ReportedError is an answer for the client (its cause's status and
// message) that operators must see as well: the web adapter also stores it
// in the Error Log. A saved print format that fails when used is one.
type ReportedError struct{ Err error }

// Report marks err for the Error Log while keeping its answer.
func Report(err error) error { return &ReportedError{Err: err} }

// Error is the cause's message.
func (e *ReportedError) Error() string { return e.Err.Error() }

// Unwrap reaches the cause.
func (e *ReportedError) Unwrap() error { return e.Err }
