package frameworkm

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
)

// Run is the command line of a Framework M server; the example servers' main
// is one call to it, and so can an app's be:
//
//	server [-config FILE] [-addr HOST:PORT]            serve until interrupted
//	server migrate [-config FILE]                      create or alter tables, then exit
//	server config check [-config FILE]                 validate the configuration, then exit
//
// -config defaults to $FRAMEWORK_M_CONFIG, then ./framework_config.toml; when
// no file exists the documented defaults apply. Run serves until ctx is done.
func Run(ctx context.Context, args []string, stdout io.Writer, opts ...Option) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, opts)
	case "migrate":
		return runMigrate(ctx, args, stdout, opts)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: config check [-config FILE]")
		}
		fs, cfgPath := commonFlags("config check")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if _, err := LoadConfig(*cfgPath); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, migrate or config check)", cmd)
}

func commonFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (default $FRAMEWORK_M_CONFIG, then ./framework_config.toml)")
	return fs, path
}

func runServe(ctx context.Context, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("serve")
	addr := fs.String("addr", "", "listen address host:port (overrides [app] address)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.App.Address = *addr
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	app, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	return app.Serve(ctx, func(a net.Addr) {
		fmt.Fprintf(stdout, "%s listening on http://%s\n", cfg.App.Name, a)
	})
}

func runMigrate(ctx context.Context, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("migrate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Database.AutoMigrate = false
	app, err := New(cfg, opts...)
	if err != nil {
		return err
	}
	defer app.Shutdown(context.WithoutCancel(ctx))
	if err := app.Repository.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %d doctypes\n", len(app.Registry.All()))
	return nil
}
