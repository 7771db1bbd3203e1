package core_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
)

func TestValidationErrorMatchesErrValidation(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"Invalid", core.Invalid("title", "is required")},
		{"Invalidf", core.Invalidf("qty", "must be at most %d", 10)},
		{"message only", &core.ValidationError{Message: "request body must be a JSON object"}},
		{"wrapped", fmt.Errorf("create invoice: %w", core.Invalid("title", "is required"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, tt.err, core.ErrValidation)
			assert.NotErrorIs(t, tt.err, core.ErrConflict)
			assert.NotErrorIs(t, tt.err, core.ErrNotFound)
			var ve *core.ValidationError
			assert.ErrorAs(t, tt.err, &ve)
		})
	}
}

func TestInvalidRecordsOneField(t *testing.T) {
	e := core.Invalid("title", "is required")
	assert.Equal(t, []core.FieldError{{Field: "title", Reason: "is required"}}, e.Fields)
	assert.Empty(t, e.Message)

	e = core.Invalidf("qty", "must be at most %d, not %q", 10, "11")
	assert.Equal(t, []core.FieldError{{Field: "qty", Reason: `must be at most 10, not "11"`}}, e.Fields)
}

func TestValidationErrorFieldMap(t *testing.T) {
	tests := []struct {
		name   string
		fields []core.FieldError
		want   map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{
			"distinct fields",
			[]core.FieldError{{"a", "is required"}, {"b", "must be a string"}},
			map[string]string{"a": "is required", "b": "must be a string"},
		},
		{
			"duplicate fields are merged in order",
			[]core.FieldError{{"a", "is required"}, {"b", "x"}, {"a", "must be short"}, {"a", "third"}},
			map[string]string{"a": "is required; must be short; third", "b": "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &core.ValidationError{}
			for _, f := range tt.fields {
				e.Add(f.Field, f.Reason)
			}
			assert.Equal(t, tt.fields, e.Fields)
			assert.Equal(t, tt.want, e.FieldMap())
		})
	}
}

func TestValidationErrorErr(t *testing.T) {
	var nilErr *core.ValidationError
	assert.NoError(t, nilErr.Err(), "nil receiver")
	assert.Nil(t, nilErr.Err(), "nil receiver must give an untyped nil error")

	empty := &core.ValidationError{}
	assert.Nil(t, empty.Err(), "no problems recorded")

	withField := &core.ValidationError{}
	withField.Add("a", "bad")
	require.Error(t, withField.Err())
	assert.Same(t, withField, withField.Err())

	withMessage := &core.ValidationError{Message: "malformed JSON"}
	require.Error(t, withMessage.Err())
	assert.ErrorIs(t, withMessage.Err(), core.ErrValidation)
}

func TestValidationErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *core.ValidationError
		want string
	}{
		{"one field", core.Invalid("title", "is required"), "title: is required"},
		{"message only", &core.ValidationError{Message: "bad body"}, "bad body"},
		{
			"message first, fields sorted",
			&core.ValidationError{Message: "bad body", Fields: []core.FieldError{{"zeta", "z"}, {"alpha", "a"}}},
			"bad body; alpha: a; zeta: z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
	// Error does not reorder the recorded fields.
	e := &core.ValidationError{Fields: []core.FieldError{{"b", "1"}, {"a", "2"}}}
	_ = e.Error()
	assert.Equal(t, "b", e.Fields[0].Field)
}

func TestConflictError(t *testing.T) {
	current := map[string]any{"name": "INV-1", "version": 3}
	var err error = &core.ConflictError{Message: "document was modified", Current: current}
	assert.ErrorIs(t, err, core.ErrConflict)
	assert.ErrorIs(t, fmt.Errorf("update: %w", err), core.ErrConflict)
	assert.NotErrorIs(t, err, core.ErrValidation)
	assert.Equal(t, "document was modified", err.Error())

	var ce *core.ConflictError
	require.ErrorAs(t, fmt.Errorf("update: %w", err), &ce)
	assert.Equal(t, current, ce.Current)
}

func TestPublicError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		sentinel error
		msg      string
	}{
		{"Public", core.Public(core.ErrNotFound, "no such invoice"), core.ErrNotFound, "no such invoice"},
		{"Publicf", core.Publicf(core.ErrForbidden, "role %s may not %s", "Guest", "delete"), core.ErrForbidden, "role Guest may not delete"},
		{"Public of a wrapped sentinel", core.Public(fmt.Errorf("x: %w", core.ErrTooMany), "slow down"), core.ErrTooMany, "slow down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.msg, tt.err.Error(), "the message is kept as is")
			assert.ErrorIs(t, tt.err, tt.sentinel)
			assert.ErrorIs(t, fmt.Errorf("outer: %w", tt.err), tt.sentinel)
			assert.NotErrorIs(t, tt.err, core.ErrValidation)

			var pe *core.PublicError
			require.ErrorAs(t, fmt.Errorf("outer: %w", tt.err), &pe)
			assert.Equal(t, tt.msg, pe.Msg)
		})
	}
	assert.Same(t, core.ErrNotFound, errors.Unwrap(core.Public(core.ErrNotFound, "x")))
}

func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{
		core.ErrNotFound, core.ErrForbidden, core.ErrConflict, core.ErrUnauthorized,
		core.ErrValidation, core.ErrUnavailable, core.ErrTooMany, core.ErrNotSupported,
		core.ErrNoTenant, core.ErrPayloadTooBig,
	}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}
