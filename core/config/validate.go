package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is one invalid key.
type Problem struct {
	// Key is the dotted TOML key, such as "database.driver".
	Key string
	// Reason says what is wrong and what is expected.
	Reason string
}

// String is "key: reason".
func (p Problem) String() string { return p.Key + ": " + p.Reason }

// Error lists every problem found in a configuration.
type Error struct {
	// Source is the file the configuration came from, if any.
	Source   string
	Problems []Problem
}

// Error lists every problem, one per line.
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
	if c.App.ShutdownTimeoutSeconds < 1 || c.App.ShutdownTimeoutSeconds > 3600 {
		bad("app.shutdown_timeout_seconds", "must be between 1 and 3600, not %d", c.App.ShutdownTimeoutSeconds)
	}
	if c.App.ReadTimeoutSeconds < 1 || c.App.ReadTimeoutSeconds > 86400 {
		bad("app.read_timeout_seconds", "must be between 1 and 86400, not %d", c.App.ReadTimeoutSeconds)
	}

	oneOf("database.driver", c.Database.Driver, "sqlite", "postgres")
	if c.Database.Driver == "postgres" && strings.TrimSpace(c.Database.DSN) == "" {
		bad("database.dsn", "is required with driver = \"postgres\" (e.g. postgres://user:pass@127.0.0.1:5432/app)")
	}
	if c.Database.MaxOpenConns < 0 {
		bad("database.max_open_conns", "must not be negative")
	}
	if c.Database.MaxWriteConns < 0 {
		bad("database.max_write_conns", "must not be negative")
	}
	if c.Database.MaxIdleConns < 0 {
		bad("database.max_idle_conns", "must not be negative")
	}
	for key, v := range map[string]int{"lock_timeout_ms": c.Database.LockTimeoutMS, "idle_in_transaction_timeout_ms": c.Database.IdleInTransactionTimeoutMS, "statement_timeout_ms": c.Database.StatementTimeoutMS} {
		if v < 0 {
			bad("database."+key, "must not be negative (0 is no limit)")
		}
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

	c.validateAuth(bad, oneOf)

	for i, o := range c.CORS.AllowedOrigins {
		key := fmt.Sprintf("cors.allowed_origins[%d]", i)
		if o == "*" {
			if c.CORS.AllowCredentials {
				bad(key, `"*" cannot be combined with allow_credentials: list the origins`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad(key, "must be an origin such as https://app.example.com, not %q", o)
		}
	}
	if c.CORS.MaxAgeSeconds < 0 || c.CORS.MaxAgeSeconds > 86400 {
		bad("cors.max_age_seconds", "must be between 0 and 86400")
	}
	if strings.TrimSpace(c.RateLimit.Backend) == "" {
		bad("rate_limit.backend", "must not be empty")
	}
	if c.Redis.TimeoutMS < 10 || c.Redis.TimeoutMS > 60_000 {
		bad("redis.timeout_ms", "must be between 10 and 60000, not %d", c.Redis.TimeoutMS)
	}
	if strings.TrimSpace(c.Hub.Backend) == "" {
		bad("hub.backend", "must not be empty")
	}
	validateFiles(c.Files, bad)
	validateAudit(c.Audit, bad)
	validateNotifications(c.Notifications, bad)
	validatePrint(c.Print, bad)
	validateEmail(c.Email, bad)
	c.validateObservability(bad, oneOf)
	if c.RateLimit.Requests < 1 {
		bad("rate_limit.requests", "must be at least 1, not %d", c.RateLimit.Requests)
	}
	if c.RateLimit.RequestsPerIP < 1 {
		bad("rate_limit.requests_per_ip", "must be at least 1, not %d", c.RateLimit.RequestsPerIP)
	}
	if c.RateLimit.WindowSeconds < 1 || c.RateLimit.WindowSeconds > 86400 {
		bad("rate_limit.window_seconds", "must be between 1 and 86400, not %d", c.RateLimit.WindowSeconds)
	}

	oneOf("tenancy.mode", c.Tenancy.Mode, "single", "multi")
	if c.Tenancy.Resolver != "" && strings.TrimSpace(c.Tenancy.Resolver) == "" {
		bad("tenancy.resolver", "must not be blank")
	}
	if !headerName.MatchString(c.Tenancy.TenantHeader) {
		bad("tenancy.tenant_header", "must be an HTTP header name, not %q", c.Tenancy.TenantHeader)
	}
	if !headerName.MatchString(c.Tenancy.AttributesHeader) {
		bad("tenancy.attributes_header", "must be an HTTP header name, not %q", c.Tenancy.AttributesHeader)
	}
	if c.Tenancy.Mode == "multi" && len(c.Auth.TrustedProxies) == 0 {
		bad("auth.trusted_proxies", "multi-tenant mode takes the tenant from the gateway's %s header: list the gateway's address here", c.Tenancy.TenantHeader)
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
	if c.Permissions.CustomCacheSeconds < 0 || c.Permissions.CustomCacheSeconds > 3600 {
		bad("permissions.custom_cache_seconds", "must be between 0 and 3600")
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

func (c *Config) validateAuth(bad func(key, format string, args ...any), oneOf func(key, val string, allowed ...string)) {
	a := &c.Auth
	oneOf("auth.mode", a.Mode, "local", "social_only", "passwordless", "federated")
	for i, p := range a.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			bad(fmt.Sprintf("auth.trusted_proxies[%d]", i), "must be an IP address or CIDR such as 10.0.0.0/8, not %q", p)
		}
	}
	if strings.TrimSpace(a.TokenBackend) == "" {
		bad("auth.token_backend", "must not be empty")
	}
	has := func(s string) bool { return slices.Contains(a.Strategies, s) }
	if a.Mode == "federated" && (has("basic") || has("session_cookie") || has("api_key") || has("bearer")) {
		bad("auth.strategies", "federated mode has no local users: use [\"header\"] (the gateway authenticates)")
	}
	if has("header") && len(a.TrustedProxies) == 0 {
		bad("auth.trusted_proxies", "the header strategy needs the gateway's address here; without it every gateway header is ignored")
	}

	j := &a.JWT
	oneOf("auth.jwt.algorithm", j.Algorithm, "HS256", "RS256", "EdDSA")
	switch j.Algorithm {
	case "HS256":
		if j.Secret != "" && len(j.Secret) < 32 {
			bad("auth.jwt.secret", "must be at least 32 bytes (e.g. openssl rand -base64 48), not %d", len(j.Secret))
		}
	case "RS256", "EdDSA":
		if j.PrivateKeyFile == "" && j.PublicKeyFile == "" {
			bad("auth.jwt.private_key_file", "is required with algorithm = %q (a PEM key file)", j.Algorithm)
		}
	}
	if j.TTLSeconds < 60 || j.TTLSeconds > 30*86400 {
		bad("auth.jwt.ttl_seconds", "must be between 60 and 2592000, not %d", j.TTLSeconds)
	}
	if strings.TrimSpace(j.Issuer) == "" {
		bad("auth.jwt.issuer", "must not be empty")
	}
	if strings.TrimSpace(j.Audience) == "" {
		bad("auth.jwt.audience", "must not be empty")
	}
	if j.LeewaySeconds < 0 || j.LeewaySeconds > 300 {
		bad("auth.jwt.leeway_seconds", "must be between 0 and 300")
	}

	se := &a.Session
	if strings.TrimSpace(se.Backend) == "" {
		bad("auth.session.backend", "must not be empty")
	}
	if se.TTLSeconds < 60 {
		bad("auth.session.ttl_seconds", "must be at least 60, not %d", se.TTLSeconds)
	}
	if !cookieName.MatchString(se.CookieName) {
		bad("auth.session.cookie_name", "must be a cookie name (letters, digits, - and _), not %q", se.CookieName)
	}
	oneOf("auth.session.cookie_samesite", se.CookieSameSite, "lax", "strict", "none")
	if se.CookieSameSite == "none" && !se.CookieSecure {
		bad("auth.session.cookie_samesite", `"none" needs cookie_secure = true (browsers refuse it otherwise)`)
	}
	if se.CleanupIntervalSeconds < 1 {
		bad("auth.session.cleanup_interval_seconds", "must be positive")
	}

	pw := &a.Password
	if pw.MinLength < 8 {
		bad("auth.password.min_length", "must be at least 8, not %d", pw.MinLength)
	}
	if pw.MaxLength < pw.MinLength || pw.MaxLength > 4096 {
		bad("auth.password.max_length", "must be between min_length and 4096, not %d", pw.MaxLength)
	}
	if pw.Argon2MemoryKiB < 1024 || pw.Argon2MemoryKiB > 4*1024*1024 {
		bad("auth.password.argon2_memory_kib", "must be between 1024 and 4194304, not %d", pw.Argon2MemoryKiB)
	}
	if pw.Argon2Iterations < 1 || pw.Argon2Iterations > 100 {
		bad("auth.password.argon2_iterations", "must be between 1 and 100, not %d", pw.Argon2Iterations)
	}
	if pw.Argon2Parallelism < 1 || pw.Argon2Parallelism > 64 {
		bad("auth.password.argon2_parallelism", "must be between 1 and 64, not %d", pw.Argon2Parallelism)
	}
	if pw.MaxConcurrentHashes < 1 {
		bad("auth.password.max_concurrent_hashes", "must be at least 1")
	}

	th := &a.Throttle
	if th.AttemptsPerIP < 1 {
		bad("auth.throttle.attempts_per_ip", "must be at least 1")
	}
	if th.FailuresPerAccount < 1 {
		bad("auth.throttle.failures_per_account", "must be at least 1")
	}
	if th.WindowSeconds < 1 {
		bad("auth.throttle.window_seconds", "must be at least 1")
	}
	if th.OnError != "open" && th.OnError != "closed" {
		bad("auth.throttle.on_error", "must be open or closed, not %q", th.OnError)
	}

	for key, v := range map[string]string{"user_id": a.Headers.UserID, "email": a.Headers.Email, "display_name": a.Headers.DisplayName, "roles": a.Headers.Roles, "attributes": a.Headers.Attributes} {
		if !headerName.MatchString(v) {
			bad("auth.headers."+key, "must be an HTTP header name, not %q", v)
		}
	}
	oneOf("auth.deletion.mode", a.Deletion.Mode, "hard_delete", "anonymize")
	if (a.BootstrapAdmin.Email == "") != (a.BootstrapAdmin.Password == "") {
		bad("auth.bootstrap_admin", "set both email and password, or neither")
	}
	c.validateMagicLink(bad)
	c.validateOAuth(bad)
}

// validateMagicLink checks [auth.magic_link].
func (c *Config) validateMagicLink(bad func(key, format string, args ...any)) {
	m := c.Auth.MagicLink
	if m.TTLSeconds < 60 || m.TTLSeconds > 86400 {
		bad("auth.magic_link.ttl_seconds", "must be between 60 and 86400, not %d", m.TTLSeconds)
	}
	if m.BaseURL != "" {
		if u, err := url.Parse(m.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			bad("auth.magic_link.base_url", "must be the app's public http(s) URL such as https://app.example.com, not %q", m.BaseURL)
		}
	}
	if m.Secret != "" && len(m.Secret) < 32 {
		bad("auth.magic_link.secret", "must be at least 32 bytes (e.g. openssl rand -base64 48), not %d", len(m.Secret))
	}
	for i, r := range m.AllowedRedirects {
		if u, err := url.Parse(r); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			bad(fmt.Sprintf("auth.magic_link.allowed_redirects[%d]", i), "must be an absolute http(s) URL such as https://app.example.com/welcome, not %q", r)
		}
	}
	if m.RequestsPerEmail < 1 {
		bad("auth.magic_link.requests_per_email", "must be at least 1")
	}
	if m.RequestsPerIP < 1 {
		bad("auth.magic_link.requests_per_ip", "must be at least 1")
	}
	if m.WindowSeconds < 1 {
		bad("auth.magic_link.window_seconds", "must be at least 1")
	}
	if !m.On(c.Auth.Mode) {
		return
	}
	if c.Auth.Mode == "federated" {
		bad("auth.magic_link.enabled", "magic links sign in local users: federated mode has none")
	}
	if m.EnableSignup && c.Auth.Mode == "local" {
		bad("auth.magic_link.enable_signup", `needs auth mode "passwordless" (users of mode "local" need a password)`)
	}
	if m.Secret == "" && c.Auth.JWT.Algorithm != "HS256" {
		bad("auth.magic_link.secret", "is required when [auth.jwt] algorithm is %q (no shared secret to derive a key from)", c.Auth.JWT.Algorithm)
	}
}

// CheckRedisURL reports what is wrong with [redis] url, for the adapters
// that use the server (nil when it is well-formed).
func CheckRedisURL(r string) *Problem {
	u, err := url.Parse(r)
	if err != nil || !(((u.Scheme == "redis" || u.Scheme == "rediss") && u.Host != "") || (u.Scheme == "unix" && u.Path != "")) {
		return &Problem{Key: "redis.url", Reason: fmt.Sprintf("must be redis://[user:password@]host:port[/db] (or rediss://, unix:///path.sock), not %q", redacted(r))}
	}
	return nil
}

// redacted hides the password of a URL for messages.
func redacted(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// ParseProxy parses a trusted proxy: a CIDR, or one address.
func ParseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var (
	cookieName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	headerName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

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
	interpolate := func(key string, s string) string {
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
	}
	walkStrings(reflect.ValueOf(c).Elem(), "", interpolate)
	for _, key := range slices.Sorted(maps.Keys(c.Sections)) {
		// A copy: a section set in code may share its slices and pointers
		// with the caller, who must not see them rewritten.
		v := deepCopy(reflect.ValueOf(c.Sections[key]))
		var out any
		if v.IsValid() {
			out = v.Interface()
		}
		walkStrings(reflect.ValueOf(&out).Elem(), key, interpolate)
		c.Sections[key] = out
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// deepCopy copies v with its pointers, slices, maps and interfaces, so the
// copy can be changed without touching v.
func deepCopy(v reflect.Value) reflect.Value {
	if !v.IsValid() {
		return v
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(deepCopy(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			c.SetMapIndex(k, deepCopy(v.MapIndex(k)))
		}
		return c
	}
	return v
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
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Pointer {
			walkStrings(v.Elem(), prefix, fn)
			return
		}
		inner := reflect.New(v.Elem().Type()).Elem()
		inner.Set(v.Elem())
		walkStrings(inner, prefix, fn)
		v.Set(inner)
	case reflect.Slice:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", prefix, i), fn)
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

// validateFiles checks [files].
func validateFiles(f Files, bad func(key, format string, args ...any)) {
	if strings.TrimSpace(f.StorageBackend) == "" {
		bad("files.storage_backend", "must not be empty")
	}
	sizes := map[string]int64{}
	for _, kv := range [][2]string{{"max_upload_size", f.MaxUploadSize}, {"part_size", f.PartSize}} {
		key, v := kv[0], kv[1]
		n, err := ParseSize(v)
		switch {
		case err != nil:
			bad("files."+key, "%v", err)
		case n < 1:
			bad("files."+key, "must be positive")
		}
		sizes[key] = n
	}
	if n := sizes["part_size"]; n > 0 && (n < 5<<20 || n > 5<<30) {
		bad("files.part_size", "must be between 5MB and 5GB (S3's limits), not %s", f.PartSize)
	}
	for _, kv := range [][2]string{{"upload_session_ttl", f.UploadSessionTTL}, {"presign_expiry", f.PresignExpiry}} {
		key, v := kv[0], kv[1]
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad("files."+key, "want a duration such as \"24h\" or \"15m\", not %q", v)
		case d < time.Minute || d > 7*24*time.Hour:
			bad("files."+key, "must be between 1m and 168h, not %s", v)
		}
	}
	if len(f.AllowedExtensions) == 0 {
		bad("files.allowed_extensions", "must not be empty")
	}
	for i, e := range f.AllowedExtensions {
		if e == "" || strings.ToLower(e) != e || strings.ContainsAny(e, "./\\ ") {
			bad(fmt.Sprintf("files.allowed_extensions[%d]", i), "%q: want a lower-case extension without the dot, such as \"pdf\"", e)
		}
	}
}

// validateAudit checks [audit].
func validateAudit(a Audit, bad func(key, format string, args ...any)) {
	if strings.TrimSpace(a.Backend) == "" {
		bad("audit.backend", "must not be empty (\"off\" turns the audit trail off)")
	}
	checkRanges(bad, []intRange{
		{"audit.queue_size", a.QueueSize, 1, 1_000_000},
		{"audit.batch_size", a.BatchSize, 1, 10_000},
		{"audit.flush_interval_ms", a.FlushIntervalMS, 1, 60_000},
		{"audit.max_retries", a.MaxRetries, 0, 100},
	})
}

// validateNotifications checks [notifications].
func validateNotifications(n Notifications, bad func(key, format string, args ...any)) {
	checkRanges(bad, []intRange{
		{"notifications.max_connections_per_user", n.MaxConnectionsPerUser, 1, 1000},
		{"notifications.ping_interval_seconds", n.PingIntervalSeconds, 1, 3600},
		{"notifications.send_buffer", n.SendBuffer, 1, 10_000},
		{"notifications.recheck_seconds", n.RecheckSeconds, 1, 3600},
	})
}

// intRange is an integer key and the values it may take.
type intRange struct {
	key       string
	v, lo, hi int
}

// checkRanges reports each value outside its range.
func checkRanges(bad func(key, format string, args ...any), rs []intRange) {
	for _, r := range rs {
		if r.v < r.lo || r.v > r.hi {
			bad(r.key, "must be between %d and %d, not %d", r.lo, r.hi, r.v)
		}
	}
}

// printLength is a margin of [print]: a number and a unit.
var printLength = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,3})?(mm|cm|in|pt|px)$`)

// validatePrint checks [print].
func validatePrint(p Print, bad func(key, format string, args ...any)) {
	if strings.TrimSpace(p.Renderer) == "" {
		bad("print.renderer", "must not be empty")
	}
	if strings.TrimSpace(p.PDFBackend) == "" {
		bad("print.pdf_backend", "must not be empty (\"none\" answers HTML)")
	}
	if p.TimeoutMS < 100 || p.TimeoutMS > 600_000 {
		bad("print.timeout_ms", "must be between 100 and 600000, not %d", p.TimeoutMS)
	}
	if p.Retries < 0 || p.Retries > 10 {
		bad("print.retries", "must be between 0 and 10, not %d", p.Retries)
	}
	if p.MaxConversions < 1 || p.MaxConversions > 1000 {
		bad("print.max_conversions", "must be between 1 and 1000, not %d", p.MaxConversions)
	}
	if p.QueueWaitMS < 0 || p.QueueWaitMS > 600_000 {
		bad("print.queue_wait_ms", "must be between 0 and 600000, not %d", p.QueueWaitMS)
	}
	switch p.DefaultPageSize {
	case "A4", "Letter", "Legal", "A3", "A5":
	default:
		bad("print.default_page_size", "must be A4, Letter, Legal, A3 or A5, not %q", p.DefaultPageSize)
	}
	for key, v := range map[string]string{"margin_top": p.MarginTop, "margin_bottom": p.MarginBottom, "margin_left": p.MarginLeft, "margin_right": p.MarginRight} {
		if v != "" && !printLength.MatchString(v) {
			bad("print."+key, "want a length with a unit (mm, cm, in, pt or px) such as \"15mm\", not %q", v)
		}
	}
	if p.RenderTimeoutMS < 10 || p.RenderTimeoutMS > 60_000 {
		bad("print.render_timeout_ms", "must be between 10 and 60000, not %d", p.RenderTimeoutMS)
	}
	if n, err := ParseSize(p.MaxOutputSize); err != nil {
		bad("print.max_output_size", "%v", err)
	} else if n < 1<<10 || n > 1<<30 {
		bad("print.max_output_size", "must be between 1KB and 1GB, not %s", p.MaxOutputSize)
	}
}

// validateEmail checks [email], [email.queue] and [email.drafts].
func validateEmail(m Email, bad func(key, format string, args ...any)) {
	if strings.TrimSpace(m.Sender) == "" {
		bad("email.sender", "must not be empty (\"log\" logs instead of sending)")
	}
	if a, err := mail.ParseAddress(m.From); err != nil || !strings.Contains(a.Address, "@") {
		bad("email.from", "must be an address such as \"Acme <noreply@acme.example>\", not %q", m.From)
	}
	q := m.Queue
	if strings.TrimSpace(q.Backend) == "" {
		bad("email.queue.backend", "must not be empty (\"database\" is the default)")
	}
	ranges := []struct {
		key       string
		v, lo, hi int
	}{
		{"email.queue.workers", q.Workers, 0, 256},
		{"email.queue.poll_interval_ms", q.PollIntervalMS, 10, 600000},
		{"email.queue.batch_size", q.BatchSize, 1, 1000},
		{"email.queue.max_retries", q.MaxRetries, 0, 10},
		{"email.queue.lease_seconds", q.LeaseSeconds, 5, 86400},
		{"email.queue.retry_base_ms", q.RetryBaseMS, 1, 86400000},
		{"email.queue.retry_max_ms", q.RetryMaxMS, 1, 7 * 86400000},
		{"email.drafts.max_history", m.Drafts.MaxHistory, 1, 1000},
	}
	for _, r := range ranges {
		if r.v < r.lo || r.v > r.hi {
			bad(r.key, "must be between %d and %d, not %d", r.lo, r.hi, r.v)
		}
	}
	if q.RetryMaxMS < q.RetryBaseMS {
		bad("email.queue.retry_max_ms", "must be at least retry_base_ms (%d), not %d", q.RetryBaseMS, q.RetryMaxMS)
	}
	if n, err := ParseSize(m.Drafts.MaxDraftSize); err != nil || n < 1<<20 || n > 1<<30 {
		bad("email.drafts.max_draft_size", "must be a size from 1MB to 1GB such as \"10MB\", not %q", m.Drafts.MaxDraftSize)
	}
	if d, err := time.ParseDuration(m.Drafts.MaxRecoveryAge); err != nil || d <= 0 {
		bad("email.drafts.max_recovery_age", "must be a positive duration such as \"720h\", not %q", m.Drafts.MaxRecoveryAge)
	}
}
