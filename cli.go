package frameworkm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/framework-m/framework-m/core/config"
	"github.com/framework-m/framework-m/doctypes"
	"github.com/framework-m/framework-m/ports"
)

// Run is the command line of a Framework M server; the example servers' main
// is one call to it, and so can an app's be:
//
//	server [-config FILE] [-addr HOST:PORT]            serve until interrupted
//	server migrate [-config FILE]                      create or alter tables, then exit
//	server config check [-config FILE]                 validate the configuration, then exit
//	server user create -email E [-password P] [-roles Admin,…] [-name N] [-tenant T]
//	server user set-password -email E -password P [-tenant T]
//	server user list [-role R] [-search S] [-tenant T]
//	server user roles -email E [-add R,…] [-remove R,…] [-tenant T]
//	server role create -name R [-description D] [-desk-access] [-tenant T]
//	server role list [-tenant T]
//
// -password - reads the password from the first line of standard input.
// A password is required in auth mode "local"; in modes without passwords
// ("passwordless", "social_only") users are created without one, and
// -password is refused: no password hash is ever stored there.
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
	case "openapi":
		return runOpenAPI(ctx, args, stdout, opts)
	case "user":
		if len(args) == 0 || !slices.Contains([]string{"create", "set-password", "list", "roles"}, args[0]) {
			return errors.New("usage: user create -email E [-password P] [-roles Admin,...] [-name N] [-tenant T] [-config FILE]\n" +
				"       user set-password -email E -password P [-tenant T] [-config FILE]\n" +
				"       user list [-role R] [-search S] [-tenant T] [-config FILE]\n" +
				"       user roles -email E [-add R,...] [-remove R,...] [-tenant T] [-config FILE]")
		}
		return runUser(ctx, args[0], args[1:], stdout, opts)
	case "role":
		if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
			return errors.New("usage: role create -name R [-description D] [-desk-access] [-tenant T] [-config FILE]\n       role list [-tenant T] [-config FILE]")
		}
		return runRole(ctx, args[0], args[1:], stdout, opts)
	case "config":
		if len(args) == 0 || args[0] != "check" {
			return errors.New("usage: config check [-config FILE]")
		}
		fs, cfgPath := commonFlags("config check")
		if err := parseFlags(fs, args[1:]); err != nil {
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
	return fmt.Errorf("unknown command %q (want serve, migrate, config check, user or role)", cmd)
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

// parseFlags parses args and refuses what is left after the flags: "server
// -config f.toml user create …" would otherwise start the server and
// ignore "user create".
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (the command comes first: server user create -config FILE …)", fs.Name(), fs.Arg(0))
	}
	return nil
}

func commonFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (default $FRAMEWORK_M_CONFIG, then ./framework_config.toml)")
	return fs, path
}

func runServe(ctx context.Context, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("serve")
	addr := fs.String("addr", "", "listen address host:port (overrides [app] address)")
	if err := parseFlags(fs, args); err != nil {
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
	if err := parseFlags(fs, args); err != nil {
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

// runOpenAPI prints the app's OpenAPI document (every route and every
// DocType, whatever [openapi] expose says). The app is built on a
// throwaway SQLite database, so an app's build can run it with no server
// around: the document depends on the code and the configuration, not on
// the data.
func runOpenAPI(ctx context.Context, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("openapi")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "frameworkm-openapi-")
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg.App.DataDir, cfg.Database.Driver, cfg.Database.DSN, cfg.Database.AutoMigrate = dir, "sqlite", "", false
	cfg.Email.Queue.Workers = 0
	app, err := New(cfg, append(slices.Clone(opts), func(o *options) { o.quietBootstrap = true })...)
	if err != nil {
		return err
	}
	defer app.Shutdown(context.WithoutCancel(ctx))
	doc, err := app.OpenAPI()
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(doc, '\n'))
	return err
}

func runUser(ctx context.Context, sub string, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("user " + sub)
	email := fs.String("email", "", "the user's email address")
	password := fs.String("password", "", "the password (- reads it from standard input)")
	roles := fs.String("roles", "", "comma-separated roles, e.g. Admin")
	name := fs.String("name", "", "display name")
	tenant := fs.String("tenant", "", "tenant (default [tenancy] default_tenant_id)")
	add := fs.String("add", "", "roles to add (user roles), comma-separated")
	remove := fs.String("remove", "", "roles to remove (user roles), comma-separated")
	role := fs.String("role", "", "only users holding this role (user list)")
	search := fs.String("search", "", "only users whose email or name contains this (user list)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *password == "-" {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password from standard input: %w", err)
		}
		*password = strings.TrimRight(line, "\r\n")
	}
	return withApp(ctx, *cfgPath, opts, func(app *App) error {
		return app.RunUserCommand(ctx, sub, UserCommand{Email: *email, Password: *password, Roles: splitList(*roles), DisplayName: *name, Tenant: *tenant,
			Add: splitList(*add), Remove: splitList(*remove), Role: *role, Search: *search}, stdout)
	})
}

// withApp runs fn on an app built from the configuration at cfgPath, quietly
// (no first-admin hint), and shuts it down after.
func withApp(ctx context.Context, cfgPath string, opts []Option, fn func(app *App) error) error {
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	app, err := New(cfg, append(opts, func(o *options) { o.quietBootstrap = true })...)
	if err != nil {
		return err
	}
	defer app.Shutdown(context.WithoutCancel(ctx))
	return fn(app)
}

func runRole(ctx context.Context, sub string, args []string, stdout io.Writer, opts []Option) error {
	fs, cfgPath := commonFlags("role " + sub)
	name := fs.String("name", "", "the role's name")
	desc := fs.String("description", "", "what the role is for")
	desk := fs.Bool("desk-access", false, "holders may use the desk (the admin user interface)")
	tenant := fs.String("tenant", "", "tenant (default [tenancy] default_tenant_id)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return withApp(ctx, *cfgPath, opts, func(app *App) error { return app.runRole(ctx, sub, *tenant, *name, *desc, *desk, stdout) })
}

// runRole creates a custom role or lists the tenant's roles.
func (app *App) runRole(ctx context.Context, sub, tenant, name, desc string, desk bool, stdout io.Writer) error {
	sys := app.SystemContext(ctx, tenant)
	switch sub {
	case "create":
		body, err := json.Marshal(map[string]any{"name": name, "description": desc, "desk_access": desk})
		if err != nil {
			return err
		}
		if _, err := app.Resources.Create(sys, doctypes.RoleDocType, body); err != nil {
			return fmt.Errorf("role %q: %w", name, err)
		}
		fmt.Fprintf(stdout, "created role %s in tenant %s\n", name, ports.TenantIDFrom(sys))
		return nil
	default:
		list, err := app.Roles.List(sys)
		if err != nil {
			return err
		}
		for _, r := range list {
			state := ""
			if r.Disabled {
				state = " (disabled)"
			}
			fmt.Fprintf(stdout, "%s\t%s%s\n", r.Name, r.Source, state)
		}
		return nil
	}
}

// UserCommand is what the `user` commands take.
type UserCommand struct {
	Email, Password, DisplayName, Tenant string
	Roles                                []string
	// Add and Remove are the roles `user roles` changes.
	Add, Remove []string
	// Role and Search narrow `user list`.
	Role, Search string
}

// RunUserCommand creates a user ("create") or sets a password ("set-password")
// as the system, in uc.Tenant (default tenant when empty): the library function
// behind the CLI.
func (a *App) RunUserCommand(ctx context.Context, sub string, uc UserCommand, stdout io.Writer) error {
	sys := a.SystemContext(ctx, uc.Tenant)
	if mode := a.Users.Mode(); !mode.HasPasswords() && (sub == "set-password" || uc.Password != "") {
		return fmt.Errorf("auth mode %q stores no passwords: create users without -password (they sign in without one)", mode)
	}
	switch sub {
	case "create":
		u, err := a.Users.Create(sys, ports.NewUser{Email: uc.Email, Password: uc.Password, DisplayName: uc.DisplayName, Roles: uc.Roles})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (%s) in tenant %s with roles [%s]\n", u.ID, u.Email, ports.TenantIDFrom(sys), strings.Join(u.Roles, ", "))
		return nil
	case "list":
		page, err := a.UserAdmin.List(sys, ports.UserFilter{Role: uc.Role, Search: uc.Search, Limit: ports.MaxUserPage})
		if err != nil {
			return err
		}
		for _, u := range page.Users {
			state := "enabled"
			if !u.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t[%s]\n", u.ID, u.Email, state, strings.Join(u.Roles, ", "))
		}
		fmt.Fprintf(stdout, "%d user(s) in tenant %s\n", page.Total, ports.TenantIDFrom(sys))
		return nil
	case "roles":
		local, err := a.Users.Local()
		if err != nil {
			return err
		}
		u, err := local.FindByEmail(sys, uc.Email)
		if err != nil {
			return fmt.Errorf("user %s: %w", uc.Email, err)
		}
		mu, err := a.UserAdmin.EditRoles(sys, u.ID, uc.Add, uc.Remove)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "roles of %s: [%s]\n", mu.Email, strings.Join(mu.Roles, ", "))
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
