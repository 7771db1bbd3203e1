package billing

import (
	"regexp"

	"github.com/framework-m/framework-m/core"
	"github.com/framework-m/framework-m/core/doctype"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

// Invoice is an app-defined DocType: a struct embedding doctype.Base.
type Invoice struct {
	doctype.Base
	Customer string `json:"customer" openapi:"required"`
	// CustomerEmail, when set, receives a receipt when the invoice is paid
	// (see ReceiptEmails).
	CustomerEmail string          `json:"customer_email" gorm:"size:254"`
	Amount        doctype.Decimal `json:"amount"`
	Currency      string          `json:"currency" gorm:"size:3"`
	Status        string          `json:"status" gorm:"size:16" openapi:"enum=Draft|Paid"`
}

// Invoice statuses.
const (
	StatusDraft = "Draft"
	StatusPaid  = "Paid"
)

// InvoiceMeta names invoices INV-2026-00001, INV-2026-00002 … per tenant and
// year; Accounts Users work on their own invoices, Accounts Managers on all.
var InvoiceMeta = doctype.Meta{
	Name:   "Invoice",
	Naming: "INV-.YYYY.-.#####",
	Permissions: []doctype.Rule{
		{Role: "Accounts User", Actions: doctype.Read | doctype.Create | doctype.Write, IfOwner: true},
		{Role: "Accounts Manager", Actions: doctype.All},
	},
	Indexes: [][]string{{"customer"}, {"status"}},
}

// Defaults makes new invoices drafts in USD.
func (inv *Invoice) Defaults() {
	inv.Status = StatusDraft
	inv.Currency = "USD"
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// Validate checks an invoice before it is stored.
func (inv *Invoice) Validate() error {
	v := &core.ValidationError{}
	if inv.Customer == "" {
		v.Add("customer", "is required")
	}
	if inv.CustomerEmail != "" {
		if err := email.ValidAddress(ports.EmailAddress{Address: inv.CustomerEmail}); err != nil {
			v.Add("customer_email", err.Error())
		}
	}
	if inv.Amount.Sign() < 0 {
		v.Add("amount", "must not be negative")
	}
	if !currencyCode.MatchString(inv.Currency) {
		v.Add("currency", "must be a three-letter ISO 4217 code such as EUR")
	}
	if inv.Status != StatusDraft && inv.Status != StatusPaid {
		v.Add("status", "must be Draft or Paid")
	}
	return v.Err()
}
