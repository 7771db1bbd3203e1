// Command invoice is the model of how apps extend Framework M: it registers
// its own Invoice DocType and serves it, with the built-in ones, through the
// resource API. It takes the same flags as examples/server.
//
//	go run ./examples/invoice
//	curl -H 'Authorization: …' localhost:8000/api/v1/resource/Invoice
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	frameworkm "github.com/framework-m/framework-m"
	"github.com/framework-m/framework-m/examples/invoice/billing"
)

// appOptions is everything this app adds to the framework.
func appOptions() []frameworkm.Option { return append(billing.Options(), billing.ReceiptEmails()) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := append(appOptions(), billing.PaidLog(slog.Default()))
	if err := frameworkm.Run(ctx, os.Args[1:], os.Stdout, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
