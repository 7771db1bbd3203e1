package db

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/framework-m/framework-m/core"
)

// errBadValue is what a client learns when the database refuses a value the
// framework's own checks let through: nothing about the database itself.
var errBadValue = &core.ValidationError{Message: "a value does not fit the database (too long, out of range or malformed)"}

// translate turns database errors caused by client input into a validation
// error, so they answer 400 rather than 500, and a database that cannot be
// reached into a *core.UnavailableError (503 with Retry-After). Other errors
// pass unchanged.
func translate(err error) error {
	if err == nil || errors.Is(err, core.ErrUnavailable) {
		return err
	}
	if unreachable(err) {
		return core.Unavailable("the database", err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 22: data exceptions (value too long, numeric out of range,
		// invalid text representation, NUL in text …); 54000: too many parameters.
		if strings.HasPrefix(pe.Code, "22") || pe.Code == "54000" {
			return errBadValue
		}
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		if se.Code == sqlite3.ErrTooBig || se.Code == sqlite3.ErrRange || se.Code == sqlite3.ErrMismatch ||
			strings.Contains(se.Error(), "too many SQL variables") {
			return errBadValue
		}
	}
	if strings.Contains(err.Error(), "extended protocol limited to 65535 parameters") {
		return errBadValue
	}
	return err
}

// connectionEnded reports whether err says the server ended the connection
// a statement ran on (restarted, terminated the backend, reset it): the next
// connection of the pool may well work.
func connectionEnded(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// admin shutdown, crash shutdown, idle-in-transaction timeout
		return pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "25P03"
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "conn closed")
}

// unreachable reports whether err says the database could not be reached or
// went away (rather than refusing a statement).
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-03: shut down, crashed, starting
		// up; 53300: too many connections.
		// 55P03: lock_timeout (a row lock held elsewhere); 57014:
		// statement_timeout; 25P03: the session sat idle in its transaction
		// past idle_in_transaction_session_timeout (a paused instance) and
		// the server ended it.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300" ||
			pe.Code == "55P03" || pe.Code == "57014" || pe.Code == "25P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var se sqlite3.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &se):
		// Another process holds SQLite's write lock past the busy timeout.
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return pgconn.Timeout(err)
}
