package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one invalid key.
type Problem struct {
	// Key is the dotted TOML key, such as "database.driver".
	Key string
	// Reason says what is wrong and what is expected.
	Reason string
}

func (p Problem) String() string { return p.Key + ": " + p.Reason }

// Error lists every problem found in a configuration.
type Error struct {
	// Source is the file the configuration came from, if any.
	Source   string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration")
	if e.Source != "" {
		b.WriteString(" in " + e.Source)
	}
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.String())
	}
	return b.String()
}

// Validate checks every key and returns an *Error listing all problems, or nil.
func (c *Config) Validate() error {
	e := &Error{}
	bad := func(key, format string, args ...any) {
		e.Problems = append(e.Problems, Problem{Key: key, Reason: fmt.Sprintf(format, args...)})
	}
	oneOf := func(key, val string, allowed ...string) {
		if !slices.Contains(allowed, val) {
			bad(key, "must be one of %s, not %q", strings.Join(allowed, ", "), val)
		}
	}

	if strings.TrimSpace(c.App.Name) == "" {
		bad("app.name", "must not be empty")
	}
	if host, port, err := net.SplitHostPort(c.App.Address); err != nil {
		bad("app.address", "must be host:port such as 127.0.0.1:8000, not %q", c.App.Address)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("app.address", "port %q must be a number from 0 to 65535", port)
	} else {
		_ = host
	}
	if strings.TrimSpace(c.App.DataDir) == "" {
		bad("app.data_dir", "must not be empty")
	}
	oneOf("app.log_level", c.App.LogLevel, "debug", "info", "warn", "error")
	oneOf("app.log_format", c.App.LogFormat, "text", "json")
	if c.App.MaxBodyBytes <= 0 {
		bad("app.max_body_bytes", "must be positive, not %d", c.App.MaxBodyBytes)
	}
	if c.App.ShutdownTimeoutSeconds < 0 {
		bad("app.shutdown_timeout_seconds", "must not be negative")
	}

	oneOf("database.driver", c.Database.Driver, "sqlite", "postgres")
	if c.Database.Driver == "postgres" && strings.TrimSpace(c.Database.DSN) == "" {
		bad("database.dsn", "is required with driver = \"postgres\" (e.g. postgres://user:pass@127.0.0.1:5432/app)")
	}
	if c.Database.MaxOpenConns < 0 {
		bad("database.max_open_conns", "must not be negative")
	}
	if c.Database.MaxIdleConns < 0 {
		bad("database.max_idle_conns", "must not be negative")
	}

	seen := map[string]bool{}
	for i, s := range c.Auth.Strategies {
		key := fmt.Sprintf("auth.strategies[%d]", i)
		switch {
		case strings.TrimSpace(s) == "":
			bad(key, "must not be empty")
		case seen[s]:
			bad(key, "%q is listed twice", s)
		}
		seen[s] = true
	}

	if !tenantIDPattern.MatchString(c.Tenancy.DefaultTenantID) {
		bad("tenancy.default_tenant_id", "must be 1-64 letters, digits, '-', '_' or '.', not %q", c.Tenancy.DefaultTenantID)
	}

	if strings.TrimSpace(c.Permissions.Backend) == "" {
		bad("permissions.backend", "must not be empty")
	}
	for i, r := range c.Permissions.AdminRoles {
		if strings.TrimSpace(r) == "" {
			bad(fmt.Sprintf("permissions.admin_roles[%d]", i), "must not be empty")
		}
	}

	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

var tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// TenantIDValid reports whether id is a well-formed tenant id.
func TenantIDValid(id string) bool { return tenantIDPattern.MatchString(id) }

var varPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Interpolate replaces ${VAR} and ${VAR:-default} in every string value (and
// string list item) with the environment variable VAR, or default when VAR is
// unset or empty. A ${VAR} without default whose variable is unset is a problem
// naming the key. lookup is os.LookupEnv when nil.
func (c *Config) Interpolate(lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	e := &Error{}
	walkStrings(reflect.ValueOf(c).Elem(), "", func(key string, s string) string {
		return varPattern.ReplaceAllStringFunc(s, func(m string) string {
			sub := varPattern.FindStringSubmatch(m)
			val, ok := lookup(sub[1])
			if ok && val != "" {
				return val
			}
			if sub[2] != "" {
				return sub[3]
			}
			if ok {
				return ""
			}
			e.Problems = append(e.Problems, Problem{Key: key, Reason: fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to give a default)", sub[1], sub[1])})
			return m
		})
	})
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// walkStrings calls fn on every string (and []string item) reachable from v,
// with its dotted TOML key, and stores what fn returns.
func walkStrings(v reflect.Value, prefix string, fn func(key, s string) string) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			walkStrings(v.Field(i), key, fn)
		}
	case reflect.String:
		v.SetString(fn(prefix, v.String()))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			for i := range v.Len() {
				v.Index(i).SetString(fn(fmt.Sprintf("%s[%d]", prefix, i), v.Index(i).String()))
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() == reflect.String {
			for _, k := range v.MapKeys() {
				elem := reflect.New(v.Type().Elem()).Elem()
				elem.Set(v.MapIndex(k))
				walkStrings(elem, prefix+"."+k.String(), fn)
				v.SetMapIndex(k, elem)
			}
		}
	}
}

// ErrNoFile reports that no configuration file exists at the given path.
var ErrNoFile = errors.New("no configuration file")

// EnvPath is the environment variable naming the configuration file.
const EnvPath = "FRAMEWORK_M_CONFIG"

// DefaultPath is the file read when neither a path nor FRAMEWORK_M_CONFIG is given.
const DefaultPath = "framework_config.toml"

// ResolvePath returns the configuration file to read: path when not empty,
// else $FRAMEWORK_M_CONFIG, else DefaultPath.
func ResolvePath(path string) string {
	if path != "" {
		return path
	}
	if p := os.Getenv(EnvPath); p != "" {
		return p
	}
	return DefaultPath
}
