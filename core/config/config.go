// Package config is Framework M's configuration: one Config struct that mirrors
// framework_config.toml, its documented defaults, ${VAR} interpolation and
// validation that reports every problem at once.
//
// Reading the TOML file is the composition root's job (frameworkm.LoadConfig),
// because this package, like all of core, uses only the standard library.
package config

// Config mirrors framework_config.toml. Every key has a documented default
// (see Default and the sample framework_config.toml at the module root).
type Config struct {
	App         App         `toml:"app"`
	Database    Database    `toml:"database"`
	Auth        Auth        `toml:"auth"`
	Tenancy     Tenancy     `toml:"tenancy"`
	Permissions Permissions `toml:"permissions"`
}

// App holds process-wide settings.
type App struct {
	// Name is the application's name, shown in logs and defaults.
	Name string `toml:"name"`
	// Address is the host:port the server listens on.
	Address string `toml:"address"`
	// DataDir holds the SQLite database and local files unless configured otherwise.
	DataDir string `toml:"data_dir"`
	// Debug prints stack traces of unexpected errors to the console.
	Debug bool `toml:"debug"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `toml:"log_format"`
	// MaxBodyBytes caps JSON request bodies.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// ShutdownTimeoutSeconds bounds how long shutdown waits for requests to drain.
	ShutdownTimeoutSeconds int `toml:"shutdown_timeout_seconds"`
}

// Database selects and tunes the document store.
type Database struct {
	// Driver is sqlite or postgres.
	Driver string `toml:"driver"`
	// DSN is the data source name. Empty with sqlite means DATA_DIR/framework_m.db.
	DSN string `toml:"dsn"`
	// MaxOpenConns caps open connections (0 = the driver's default).
	MaxOpenConns int `toml:"max_open_conns"`
	// MaxIdleConns caps idle connections kept in the pool.
	MaxIdleConns int `toml:"max_idle_conns"`
	// AutoMigrate creates and alters tables of registered DocTypes at start.
	AutoMigrate bool `toml:"auto_migrate"`
}

// Auth configures authentication.
type Auth struct {
	// Strategies lists the auth chain's strategies in the order they are tried.
	// With none, every protected route answers 401.
	Strategies []string `toml:"strategies"`
}

// Tenancy configures tenants.
type Tenancy struct {
	// DefaultTenantID is the tenant of requests whose principal names none.
	DefaultTenantID string `toml:"default_tenant_id"`
}

// Permissions selects the permission evaluator.
type Permissions struct {
	// Backend names the evaluator: rbac (DocType rules) by default.
	Backend string `toml:"backend"`
	// AdminRoles bypass DocType rules (every action on every DocType).
	AdminRoles []string `toml:"admin_roles"`
}

// Default returns the documented defaults: one machine, nothing to install.
func Default() Config {
	return Config{
		App: App{
			Name:                   "Framework M",
			Address:                "127.0.0.1:8000",
			DataDir:                "./data",
			LogLevel:               "info",
			LogFormat:              "text",
			MaxBodyBytes:           1 << 20,
			ShutdownTimeoutSeconds: 10,
		},
		Database: Database{
			Driver:       "sqlite",
			MaxOpenConns: 10,
			MaxIdleConns: 5,
			AutoMigrate:  true,
		},
		Auth:        Auth{Strategies: []string{}},
		Tenancy:     Tenancy{DefaultTenantID: "default"},
		Permissions: Permissions{Backend: "rbac", AdminRoles: []string{"Admin"}},
	}
}
