package frameworkm

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/ports"
)

// Run is the command line of a Framework M server; the example servers' main
// is one call to it, and so can an app's be:
//
//	server [-config FILE] [-addr HOST:PORT]            serve until interrupted
//	server migrate [-config FILE]                      create or alter tables, then exit
//	server config check [-config FILE]                 validate the configuration, then exit
//	server user create -email E -password P [-roles Admin,…] [-name N] [-tenant T]
//	server user set-password -email E -password P [-tenant T]
//
// -password - reads the password from the first line of standard input.
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
	case "user":
		if len(args) == 0 || (args[0] != "create" && args[0] != "set-password") {
			return errors.New("usage: user create -email E -password P [-roles Admin,...] [-name N] [-tenant T] [-config FILE]\n       user set-password -email E -password P [-tenant T] [-config FILE]")
		}
		return runUser(ctx, args[0], args[1:], stdout, opts)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: config check [-config FILE]")
		}
		fs, cfgPath := commonFlags("config check")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg, err := LoadConfig(*cfgPath)
		if err != nil {
			return err
		}
		warnings, err := CheckConfig(cfg, append(opts, sourceOption(*cfgPath))...)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintln(stdout, "warning:", w)
		}
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, migrate, config check or user)", cmd)
}

// sourceOption names the configuration file that was read, if any, for
// messages such as the first-admin hint.
func sourceOption(path string) Option {
	p := config.ResolvePath(path)
	if _, err := os.Stat(p); err != nil {
		return func(*options) {}
	}
	return WithConfigSource(p)
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
	app, err := New(cfg, append(opts, sourceOption(*cfgPath))...)
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
	if err := app.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %d doctypes\n", len(app.Registry.All()))
	return nil
}

func runUser(ctx context.Context, sub string, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("user " + sub)
	email := fs.String("email", "", "the user's email address")
	password := fs.String("password", "", "the password (- reads it from standard input)")
	roles := fs.String("roles", "", "comma-separated roles, e.g. Admin")
	name := fs.String("name", "", "display name")
	tenant := fs.String("tenant", "", "tenant (default [tenancy] default_tenant_id)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *password == "-" {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password from standard input: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	app, err := New(cfg, append(opts, func(o *options) { o.quietBootstrap = true })...)
	if err != nil {
		return err
	}
	defer app.Shutdown(context.WithoutCancel(ctx))
	return app.RunUserCommand(ctx, sub, UserCommand{Email: *email, Password: *password, Roles: splitList(*roles), DisplayName: *name, Tenant: *tenant}, stdout)
}

// UserCommand is what `user create` and `user set-password` take.
type UserCommand struct {
	Email, Password, DisplayName, Tenant string
	Roles                                []string
}

// RunUserCommand creates a user ("create") or sets a password ("set-password")
// as the system, in uc.Tenant (default tenant when empty): the library function
// behind the CLI.
func (a *App) RunUserCommand(ctx context.Context, sub string, uc UserCommand, stdout io.Writer) error {
	sys := a.SystemContext(ctx, uc.Tenant)
	switch sub {
	case "create":
		u, err := a.Users.Create(sys, ports.NewUser{Email: uc.Email, Password: uc.Password, DisplayName: uc.DisplayName, Roles: uc.Roles})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (%s) in tenant %s with roles [%s]\n", u.ID, u.Email, ports.TenantIDFrom(sys), strings.Join(u.Roles, ", "))
		return nil
	case "set-password":
		local, err := a.Users.Local()
		if err != nil {
			return err
		}
		u, err := local.FindByEmail(sys, uc.Email)
		if err != nil {
			return fmt.Errorf("user %s: %w", uc.Email, err)
		}
		if err := a.Users.SetPassword(sys, u.ID, uc.Password); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; their sessions and tokens were ended (API keys keep working until revoked)\n", u.Email)
		return nil
	}
	return fmt.Errorf("unknown user command %q", sub)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
