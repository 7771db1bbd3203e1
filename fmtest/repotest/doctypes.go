package repotest

import (
	"testing"
	"time"

	"github.com/framework-m/framework-m/core/doctype"
)

// The DocTypes the suite registers. Their tables are the snake_case of the
// names (contract_item, contract_account, …).
const (
	// ItemDocType has a field of every storable kind; it is named by UUIDv7.
	ItemDocType = "Contract Item"
	// AccountDocType has two Unique sets: {email} and {region, code}.
	AccountDocType = "Contract Account"
	// InvoiceDocType is named by the series InvoiceSeries.
	InvoiceDocType = "Contract Invoice"
	// PromptedDocType is named by the client ("prompt").
	PromptedDocType = "Contract Prompted"
	// SettingsDocType is a single DocType: one document per tenant.
	SettingsDocType = "Contract Settings"

	// InvoiceSeries is InvoiceDocType's naming rule.
	InvoiceSeries = "CINV-.####"
)

// item holds a field of every kind the repository must store and query.
type item struct {
	doctype.Base
	Title    string             `json:"title"`
	Qty      int                `json:"qty"`
	Active   bool               `json:"active"`
	Amount   doctype.Decimal    `json:"amount"`
	Due      time.Time          `json:"due"`
	ClosedAt *time.Time         `json:"closed_at"`
	Note     *string            `json:"note"`
	Tags     doctype.StringList `json:"tags"`
	Extra    doctype.JSONMap    `json:"extra"`
}

type account struct {
	doctype.Base
	Email  string `json:"email"`
	Region string `json:"region"`
	Code   string `json:"code"`
}

type invoice struct {
	doctype.Base
	Customer string `json:"customer"`
}

type prompted struct {
	doctype.Base
	Title string `json:"title"`
}

type settings struct {
	doctype.Base
	Theme string `json:"theme"`
}

// register adds the suite's DocTypes to reg.
func register(t *testing.T, reg *doctype.Registry) {
	t.Helper()
	must := func(_ *doctype.DocType, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("repotest: register DocTypes: %v", err)
		}
	}
	must(doctype.Register[item](reg, doctype.Meta{Name: ItemDocType}))
	must(doctype.Register[account](reg, doctype.Meta{
		Name:   AccountDocType,
		Unique: [][]string{{"email"}, {"region", "code"}},
	}))
	must(doctype.Register[invoice](reg, doctype.Meta{Name: InvoiceDocType, Naming: InvoiceSeries}))
	must(doctype.Register[prompted](reg, doctype.Meta{Name: PromptedDocType, Naming: doctype.NamingPrompt}))
	must(doctype.Register[settings](reg, doctype.Meta{Name: SettingsDocType, IsSingle: true}))
}
