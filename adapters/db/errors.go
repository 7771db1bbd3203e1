package db

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/framework-m/framework-m/core"
)

// errBadValue is what a client learns when the database refuses a value the
// framework's own checks let through: nothing about the database itself.
var errBadValue = &core.ValidationError{Message: "a value does not fit the database (too long, out of range or malformed)"}

// translate turns database errors caused by client input into a validation
// error, so they answer 400 rather than 500. Other errors pass unchanged.
func translate(err error) error {
	if err == nil {
		return nil
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
