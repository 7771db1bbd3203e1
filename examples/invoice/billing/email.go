package billing

import (
	"context"
	"fmt"
	"html"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/core/email"
	"github.com/framework-m/framework-m/ports"
)

// ReceiptEmails queues a receipt to the customer's email address when an
// invoice becomes Paid: a change handler (after the commit) that hands the
// email to the app's queue, whose workers send it in the background.
func ReceiptEmails() frameworkm.Option {
	return frameworkm.WithSetup(func(app *frameworkm.App) error {
		app.Changes.Subscribe(InvoiceMeta.Name, func(ctx context.Context, ev ports.ChangeEvent) {
			after, ok := ev.After.(*Invoice)
			if !ok || after.Status != StatusPaid || after.CustomerEmail == "" {
				return
			}
			if before, ok := ev.Before.(*Invoice); ok && before.Status == StatusPaid {
				return // paid already
			}
			amount := after.Amount.String() + " " + after.Currency
			_, err := app.QueueEmail(ports.WithTenantID(ctx, ev.TenantID), email.Request{
				To:      []ports.EmailAddress{{Address: after.CustomerEmail, Name: after.Customer}},
				Subject: fmt.Sprintf("Receipt for invoice %s", ev.Name),
				Text:    fmt.Sprintf("Dear %s,\n\nwe received %s for invoice %s. Thank you.", after.Customer, amount, ev.Name),
				HTML: fmt.Sprintf("<p>Dear %s,</p><p>we received <b>%s</b> for invoice %s. Thank you.</p>",
					html.EscapeString(after.Customer), html.EscapeString(amount), html.EscapeString(ev.Name)),
				ReferenceDocType: InvoiceMeta.Name, ReferenceID: ev.Name,
			})
			if err != nil {
				app.Logger.ErrorContext(ctx, "queue the receipt email", "invoice", ev.Name, "err", err)
			}
		})
		return nil
	})
}
