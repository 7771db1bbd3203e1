package doctype_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
)

// Address is a nested (non-scalar) field type.
type Address struct {
	City string `json:"city"`
	Zip  string `json:"zip"`
}

// Invoice has a field of every kind the codec and registry care about.
type Invoice struct {
	doctype.Base
	Customer     string             `json:"customer"`
	Status       string             `json:"status"`
	Qty          int                `json:"qty"`
	Count        uint               `json:"count"`
	Ratio        float64            `json:"ratio"`
	Paid         bool               `json:"paid"`
	Total        doctype.Decimal    `json:"total"`
	Due          time.Time          `json:"due"`
	PaidAt       *time.Time         `json:"paid_at"`
	Tags         doctype.StringList `json:"tags"`
	Extra        doctype.JSONMap    `json:"extra"`
	Addr         Address            `json:"address"`
	ApprovedBy   string             `json:"approved_by"`
	Secret       string             `json:"secret"`
	PasswordHash string             `json:"-"`
	Computed     string             `json:"computed" gorm:"-"`
}

// Defaults makes Invoice a doctype.Defaulter.
func (i *Invoice) Defaults() {
	i.Status = "Draft"
	i.Qty = 1
}

// invoiceMeta hides "secret" and makes "approved_by" and "paid_at" read-only.
func invoiceMeta() doctype.Meta {
	return doctype.Meta{
		Name:     "Sales Invoice",
		Hidden:   []string{"secret"},
		ReadOnly: []string{"approved_by", "paid_at"},
	}
}

// Note is a plain DocType: no hidden fields, no defaults.
type Note struct {
	doctype.Base
	Title string `json:"title"`
	Body  string `json:"body"`
	Stars int    `json:"stars"`
}

type Customer struct {
	doctype.Base
	CustomerName string `json:"customer_name"`
	Code         int    `json:"code"`
}

type Item struct {
	doctype.Base
	Label string `json:"label"`
}

type NoBase struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

func register[T any](t *testing.T, meta doctype.Meta) *doctype.DocType {
	t.Helper()
	dt, err := doctype.Register[T](doctype.NewRegistry(), meta)
	require.NoError(t, err)
	return dt
}

func invoiceType(t *testing.T) *doctype.DocType {
	t.Helper()
	return register[Invoice](t, invoiceMeta())
}

// fieldErrors asserts err is a *core.ValidationError and returns its field map.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, core.ErrValidation)
	var ve *core.ValidationError
	require.True(t, errors.As(err, &ve), "want *core.ValidationError, got %T", err)
	return ve.FieldMap()
}

// validationMessage asserts err is a *core.ValidationError and returns its Message.
func validationMessage(t *testing.T, err error) string {
	t.Helper()
	require.Error(t, err)
	var ve *core.ValidationError
	require.True(t, errors.As(err, &ve), "want *core.ValidationError, got %T", err)
	return ve.Message
}

func fieldKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
