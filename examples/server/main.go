// Command server is Framework M's example server: the built-in DocTypes on the
// embedded defaults (SQLite under ./data, nothing to install).
//
//	go run ./examples/server                      # serve on 127.0.0.1:8000
//	go run ./examples/server -addr 127.0.0.1:9000
//	go run ./examples/server -config my.toml
//	go run ./examples/server migrate
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/framework-m/framework-m"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := frameworkm.Run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
