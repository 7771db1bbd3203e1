package billing

import (
	"context"
	"log/slog"

	"github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/ports"
)

// PaidLog logs every invoice that becomes Paid, with who marked it and from
// which request: a subscriber to the committed changes of the Invoice
// DocType (it runs after the commit, never for a rolled-back write).
func PaidLog(log *slog.Logger) frameworkm.Option {
	return frameworkm.WithChangeHandler(InvoiceMeta.Name, func(ctx context.Context, ev ports.ChangeEvent) {
		after, ok := ev.After.(*Invoice)
		if !ok || after.Status != StatusPaid {
			return
		}
		if before, ok := ev.Before.(*Invoice); ok && before.Status == StatusPaid {
			return // paid already
		}
		by := ""
		if ev.Principal != nil {
			by = ev.Principal.ID
		}
		log.InfoContext(ctx, "invoice paid", "invoice", ev.Name, "amount", after.Amount.String(), "currency", after.Currency,
			"tenant", ev.TenantID, "by", by, "request_id", ev.Request.ID)
	})
}
