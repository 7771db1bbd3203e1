// Package config is Framework M's configuration: one Config struct that mirrors
// framework_config.toml, its documented defaults, ${VAR} interpolation and
// validation that reports every problem at once.
//
// Reading the TOML file is the composition root's job (frameworkm.LoadConfig),
// because this package, like all of core, uses only the standard library.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config mirrors framework_config.toml. Every key has a documented default
// (see Default and the sample framework_config.toml at the module root).
type Config struct {
	App         App         `toml:"app"`
	Database    Database    `toml:"database"`
	Auth        Auth        `toml:"auth"`
	Tenancy     Tenancy     `toml:"tenancy"`
	Permissions Permissions `toml:"permissions"`
	CORS        CORS        `toml:"cors"`
	RateLimit   RateLimit   `toml:"rate_limit"`
	Redis       Redis       `toml:"redis"`
	Hub         Hub         `toml:"hub"`
	Files       Files       `toml:"files"`
	Audit       Audit       `toml:"audit"`
	// Notifications configures in-app notifications and their WebSocket stream.
	Notifications Notifications `toml:"notifications"`
	// Print configures printing: templates and the PDF service.
	Print Print `toml:"print"`
	// Email configures outgoing email: the sender, the queue and drafts.
	Email Email `toml:"email"`
	// OpenAPI configures the API's description and reference page.
	OpenAPI OpenAPI `toml:"openapi"`
	// Metrics configures the Prometheus metrics.
	Metrics Metrics `toml:"metrics"`
	// Tracing configures OpenTelemetry traces.
	Tracing Tracing `toml:"tracing"`

	// Sections holds the adapters' own settings by dotted TOML table
	// ("permissions.citadel", "rate_limit.redis", or a third party's
	// "rate_limit.memcached"): a map[string]any read from the file, or the
	// adapter's settings struct set in code. This package does not know them:
	// each adapter decodes and validates its own section (see the composition
	// root's backends).
	Sections map[string]any `toml:"-"`
}

// Section returns the settings of the TOML table key ("permissions.citadel"),
// or nil when the configuration has none.
func (c *Config) Section(key string) any { return c.Sections[key] }

// SetSection stores an adapter's settings (its settings struct, or a
// map[string]any as read from TOML) under the TOML table key.
func (c *Config) SetSection(key string, v any) {
	if c.Sections == nil {
		c.Sections = map[string]any{}
	}
	c.Sections[key] = v
}

// CORS lets pages on other origins call the API.
type CORS struct {
	// AllowedOrigins such as https://app.example.com; empty means same-origin
	// only (no CORS headers). "*" cannot be combined with AllowCredentials.
	AllowedOrigins   []string `toml:"allowed_origins"`
	AllowedMethods   []string `toml:"allowed_methods"`
	AllowedHeaders   []string `toml:"allowed_headers"`
	ExposeHeaders    []string `toml:"expose_headers"`
	AllowCredentials bool     `toml:"allow_credentials"`
	MaxAgeSeconds    int      `toml:"max_age_seconds"`
}

// RateLimit caps API requests per user (per client address when anonymous).
type RateLimit struct {
	Enabled bool `toml:"enabled"`
	// Backend names the limiter: memory (one instance) or redis (limits
	// shared by every instance), or a registered third-party one; its own
	// settings are in [rate_limit.<backend>].
	Backend       string `toml:"backend"`
	Requests      int    `toml:"requests"`
	WindowSeconds int    `toml:"window_seconds"`
	// RequestsPerIP caps every request of one client address (IPv6: /64)
	// before authentication, so bad credentials cannot make the server work
	// without limit.
	RequestsPerIP int `toml:"requests_per_ip"`
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
	// ReadTimeoutSeconds bounds how long a client may take to send a request
	// (headers and body), so slow senders cannot hold connections forever.
	ReadTimeoutSeconds int `toml:"read_timeout_seconds"`
}

// Database selects and tunes the document store.
type Database struct {
	// Driver is sqlite or postgres.
	Driver string `toml:"driver"`
	// DSN is the data source name. Empty with sqlite means DATA_DIR/framework_m.db.
	DSN string `toml:"dsn"`
	// MaxOpenConns caps the connections that serve reads outside
	// transactions (0 = no cap): PostgreSQL's read pool, SQLite's read-only
	// connections.
	MaxOpenConns int `toml:"max_open_conns"`
	// MaxWriteConns caps PostgreSQL's other pool, for writes and transactions
	// (0 = no cap), so that writes waiting on locks never hold up reads.
	// SQLite has one write connection.
	MaxWriteConns int `toml:"max_write_conns"`
	// MaxIdleConns caps idle connections kept in each pool.
	MaxIdleConns int `toml:"max_idle_conns"`
	// AutoMigrate creates and alters tables of registered DocTypes at start.
	AutoMigrate bool `toml:"auto_migrate"`
	// LockTimeoutMS bounds how long a PostgreSQL statement waits for a row
	// lock (a series counter another instance holds) before the request
	// answers 503; 0 waits for ever.
	LockTimeoutMS int `toml:"lock_timeout_ms"`
	// IdleInTransactionTimeoutMS ends a PostgreSQL session idle inside a
	// transaction that long (a frozen instance's), releasing its locks; 0 never.
	IdleInTransactionTimeoutMS int `toml:"idle_in_transaction_timeout_ms"`
	// StatementTimeoutMS bounds every PostgreSQL statement; 0 (the default)
	// leaves long reports alone.
	StatementTimeoutMS int `toml:"statement_timeout_ms"`
}

// Auth configures identity and authentication.
type Auth struct {
	// Mode is local (passwords), social_only, passwordless or federated
	// (a gateway authenticates; no local users). It decides which routes exist.
	Mode string `toml:"mode"`
	// Strategies lists the auth chain's strategies in the order they are tried:
	// session_cookie, bearer, api_key, header, basic. With none, every protected
	// route answers 401.
	Strategies []string `toml:"strategies"`
	// IdentityBackend names the identity provider: empty picks the mode's
	// own (federated in federated mode, else local); a registered third-party
	// provider is named here and configured in [auth.identity.<name>].
	IdentityBackend string `toml:"identity_backend"`
	// TokenBackend names the access-token service (jwt: configured in
	// [auth.jwt]); a registered third-party one is configured in
	// [auth.tokens.<name>].
	TokenBackend string `toml:"token_backend"`
	// TrustedProxies are the CIDRs of gateways whose identity and tenant headers
	// are believed. From any other peer those headers are dropped and logged.
	TrustedProxies []string `toml:"trusted_proxies"`
	JWT            JWT      `toml:"jwt"`
	Session        Session  `toml:"session"`
	Password       Password `toml:"password"`
	Throttle       Throttle `toml:"throttle"`
	Headers        Headers  `toml:"headers"`
	Deletion       Deletion `toml:"deletion"`
	// BootstrapAdmin creates a first admin at start when no user has its email.
	BootstrapAdmin BootstrapAdmin `toml:"bootstrap_admin"`
	// MagicLink configures sign-in links sent by email.
	MagicLink MagicLink `toml:"magic_link"`
	// OAuth configures sign-in with OAuth2/OIDC providers ([auth.oauth],
	// [auth.oauth.NAME]; see oauth.go).
	OAuth OAuth `toml:"oauth"`
}

// MagicLink configures sign-in links sent by email ([auth.magic_link]):
// POST /api/v1/auth/magic-link mails a link that signs its user in once.
type MagicLink struct {
	// Enabled turns magic links on beside passwords (mode "local");
	// mode "passwordless" turns them on by itself.
	Enabled bool `toml:"enabled"`
	// BaseURL is the public URL of the app the links point at, such as
	// https://app.example.com; empty derives http://[app] address (dev only).
	// Never taken from the request's Host header.
	BaseURL string `toml:"base_url"`
	// TTLSeconds is how long a link works.
	TTLSeconds int `toml:"ttl_seconds"`
	// Secret signs the links (HMAC-SHA256, at least 32 bytes); empty derives
	// a key of its own from the HS256 [auth.jwt] secret.
	Secret string `toml:"secret"`
	// EnableSignup makes a request for an unknown email create a
	// passwordless user (no roles) and mail it a link.
	EnableSignup bool `toml:"enable_signup"`
	// AllowedRedirects are absolute URLs a link may send the user to after
	// signing in, besides relative paths of this app: an entry matches its
	// origin and the paths under its path.
	AllowedRedirects []string `toml:"allowed_redirects"`
	// RequestsPerEmail and RequestsPerIP cap link requests per email address
	// and per client address (IPv6: /64) within WindowSeconds (then 429).
	RequestsPerEmail int `toml:"requests_per_email"`
	RequestsPerIP    int `toml:"requests_per_ip"`
	WindowSeconds    int `toml:"window_seconds"`
}

// On reports whether magic links are served: mode "passwordless", or
// enabled.
func (m MagicLink) On(mode string) bool { return m.Enabled || mode == "passwordless" }

// JWT configures access tokens.
type JWT struct {
	// Algorithm is HS256 (shared secret), RS256 or EdDSA (key files).
	Algorithm string `toml:"algorithm"`
	// Secret signs HS256 tokens; at least 32 bytes. Empty: see README (a
	// generated secret in data_dir with SQLite; refused with PostgreSQL unless debug).
	Secret string `toml:"secret"`
	// PrivateKeyFile (PEM) signs RS256/EdDSA tokens; PublicKeyFile verifies them.
	PrivateKeyFile string `toml:"private_key_file"`
	PublicKeyFile  string `toml:"public_key_file"`
	// PreviousPublicKeyFiles keep verifying tokens signed by retired keys until
	// they are removed from this list (key rotation).
	PreviousPublicKeyFiles []string `toml:"previous_public_key_files"`
	TTLSeconds             int      `toml:"ttl_seconds"`
	Issuer                 string   `toml:"issuer"`
	Audience               string   `toml:"audience"`
	// LeewaySeconds tolerates clock skew in exp, nbf and iat checks.
	LeewaySeconds int `toml:"leeway_seconds"`
}

// Session configures browser sessions.
type Session struct {
	// Backend names the session store: database or redis, or a registered
	// third-party one; its own settings are in [auth.session.<backend>].
	Backend        string `toml:"backend"`
	TTLSeconds     int    `toml:"ttl_seconds"`
	CookieName     string `toml:"cookie_name"`
	CookieSecure   bool   `toml:"cookie_secure"`
	CookieHTTPOnly bool   `toml:"cookie_httponly"`
	// CookieSameSite is lax, strict or none.
	CookieSameSite string `toml:"cookie_samesite"`
	// CleanupIntervalSeconds is how often expired database sessions are deleted.
	CleanupIntervalSeconds int `toml:"cleanup_interval_seconds"`
}

// Password configures password policy and hashing (argon2id).
type Password struct {
	MinLength int `toml:"min_length"`
	MaxLength int `toml:"max_length"`
	// Argon2MemoryKiB, Argon2Iterations and Argon2Parallelism are the argon2id
	// parameters of new hashes (OWASP: 19 MiB, 2 iterations, 1 lane).
	Argon2MemoryKiB   int `toml:"argon2_memory_kib"`
	Argon2Iterations  int `toml:"argon2_iterations"`
	Argon2Parallelism int `toml:"argon2_parallelism"`
	// MaxConcurrentHashes caps simultaneous hash computations (memory bound).
	MaxConcurrentHashes int `toml:"max_concurrent_hashes"`
}

// Throttle limits password guessing on login and basic auth.
type Throttle struct {
	// AttemptsPerIP caps password checks from one address per window.
	AttemptsPerIP int `toml:"attempts_per_ip"`
	// FailuresPerAccount caps consecutive failed logins of one account per window.
	FailuresPerAccount int `toml:"failures_per_account"`
	WindowSeconds      int `toml:"window_seconds"`
	// OnError is what a password check does when the limiter cannot answer
	// (its Redis is down): "closed" refuses it (503 with Retry-After),
	// "open" lets it through unthrottled.
	OnError string `toml:"on_error"`
}

// Headers names the gateway headers of federated identity.
type Headers struct {
	UserID      string `toml:"user_id"`
	Email       string `toml:"email"`
	DisplayName string `toml:"display_name"`
	// Roles is a comma-separated list.
	Roles string `toml:"roles"`
	// Attributes is a JSON object.
	Attributes string `toml:"attributes"`
}

// Deletion configures the right to erasure (DELETE /api/v1/auth/me).
type Deletion struct {
	// Mode is hard_delete or anonymize.
	Mode string `toml:"mode"`
}

// BootstrapAdmin is a first admin created at start (local mode).
type BootstrapAdmin struct {
	Email    string `toml:"email"`
	Password string `toml:"password"`
}

// Hub links the instances sharing one database, so that what each caches in
// memory (users, sessions, API keys, revoked tokens, permissions, settings)
// stays exact when another changes it.
type Hub struct {
	// Backend names the hub: "auto" (postgres when the database is
	// PostgreSQL, else local), "local" (one instance: no hub), "redis"
	// (pub/sub on [redis] url), "postgres" (LISTEN/NOTIFY on the database),
	// or a registered third-party one; its own settings are [hub.<backend>].
	Backend string `toml:"backend"`
}

// Audit configures the audit trail: every committed change, audited reads
// and security events, written in batches off the request path.
type Audit struct {
	// Backend names where entries go: "database" (Activity Log rows),
	// "file" (JSONL, [audit.file]), "elastic" (Elasticsearch bulk API,
	// [audit.elastic]), "memory" (tests), "off", or a registered one whose
	// settings are [audit.<backend>].
	Backend string `toml:"backend"`
	// QueueSize bounds the entries waiting to be written; past it new
	// entries are dropped and counted (never a blocked request).
	QueueSize int `toml:"queue_size"`
	// BatchSize is the most entries one write carries.
	BatchSize int `toml:"batch_size"`
	// FlushIntervalMS is the longest an entry waits for its batch to fill.
	FlushIntervalMS int `toml:"flush_interval_ms"`
	// MaxRetries is how often a failed batch is tried again (with backoff)
	// before its entries are counted as lost.
	MaxRetries int `toml:"max_retries"`
}

// Notifications configures in-app notifications and their WebSocket stream.
type Notifications struct {
	// Hub names the hub carrying notifications to the sockets of other
	// instances: "" (the one of [hub]; within this process when that is
	// local), "memory", "redis", "postgres", or a registered hub.
	Hub string `toml:"hub"`
	// MaxConnectionsPerUser bounds one user's open streams per instance.
	MaxConnectionsPerUser int `toml:"max_connections_per_user"`
	// PingIntervalSeconds is how often a stream is pinged; a client that
	// does not answer is dropped.
	PingIntervalSeconds int `toml:"ping_interval_seconds"`
	// SendBuffer is how many notifications may wait for a slow client
	// before it is dropped.
	SendBuffer int `toml:"send_buffer"`
	// RecheckSeconds is how often an open stream's credentials are checked
	// again (a revoked session, token or key closes it within this).
	RecheckSeconds int `toml:"recheck_seconds"`
}

// Print configures printing: the templates' limits and the service that
// turns HTML into PDF.
type Print struct {
	// Renderer names the template renderer: "html" (Go's html/template,
	// sandboxed) or a registered one whose settings are [print.<renderer>].
	Renderer string `toml:"renderer"`
	// PDFBackend names the PDF converter: "gotenberg" (the Gotenberg
	// service at GotenbergURL), "none" (PDF requests answer HTML with a
	// warning), or a registered one whose settings are [print.<backend>].
	PDFBackend string `toml:"pdf_backend"`
	// GotenbergURL is the Gotenberg service ("http://127.0.0.1:3000").
	GotenbergURL string `toml:"gotenberg_url"`
	// TimeoutMS bounds one conversion, retries included; past it a PDF
	// request answers HTML with a warning.
	TimeoutMS int `toml:"timeout_ms"`
	// Retries is how often a conversion the service refused as busy (503,
	// 429) or could not take is tried again within TimeoutMS.
	Retries int `toml:"retries"`
	// MaxConversions bounds the conversions one instance has in flight; a
	// PDF request that waits QueueWaitMS for a turn answers HTML.
	MaxConversions int `toml:"max_conversions"`
	QueueWaitMS    int `toml:"queue_wait_ms"`
	// DefaultPageSize is the page of formats that name none: A4, Letter,
	// Legal, A3 or A5.
	DefaultPageSize string `toml:"default_page_size"`
	// Margins of formats that name none: lengths with a unit (mm, cm, in,
	// pt, px).
	MarginTop    string `toml:"margin_top"`
	MarginBottom string `toml:"margin_bottom"`
	MarginLeft   string `toml:"margin_left"`
	MarginRight  string `toml:"margin_right"`
	// TemplateDir holds the templates formats name as "file:<path>" (""
	// refuses them); nothing outside it is ever read.
	TemplateDir string `toml:"template_dir"`
	// RenderTimeoutMS cuts off a template that runs longer.
	RenderTimeoutMS int `toml:"render_timeout_ms"`
	// MaxOutputSize cuts off a template that writes more ("8MB").
	MaxOutputSize string `toml:"max_output_size"`
}

// MaxOutputBytes is MaxOutputSize in bytes (valid configurations only).
func (p Print) MaxOutputBytes() int64 { n, _ := ParseSize(p.MaxOutputSize); return n }

// Email configures outgoing email. Emails are queued and sent by
// background workers, never in a request.
type Email struct {
	// Sender names the email sender: "log" (logs each email instead of
	// sending it: the default, so a fresh server needs no mail server),
	// "smtp" (settings in [email.smtp]) or a registered one whose settings
	// are [email.<sender>].
	Sender string `toml:"sender"`
	// From is the From of emails that name none ("Name <address>" or an
	// address); its domain ends each Message-ID.
	From string `toml:"from"`
	// Queue configures the queue and its workers.
	Queue EmailQueue `toml:"queue"`
	// Drafts configures the server-side email drafts.
	Drafts EmailDrafts `toml:"drafts"`
}

// EmailQueue configures the email queue and the workers that drain it.
type EmailQueue struct {
	// Backend names the queue: "database" (the Email Queue DocType; many
	// instances share it), "memory" (one process, for tests) or a
	// registered one whose settings are [email.queue.<backend>].
	Backend string `toml:"backend"`
	// Workers is how many emails one instance sends at once (0: this
	// instance sends none, others do).
	Workers int `toml:"workers"`
	// PollIntervalMS is how often idle workers look for due emails.
	PollIntervalMS int `toml:"poll_interval_ms"`
	// BatchSize is how many emails one claim takes.
	BatchSize int `toml:"batch_size"`
	// MaxRetries is how often a temporary failure is tried again unless
	// the email says otherwise (0–10).
	MaxRetries int `toml:"max_retries"`
	// LeaseSeconds is how long a worker holds the emails it claimed; the
	// emails of a worker that died are sent by another after it.
	LeaseSeconds int `toml:"lease_seconds"`
	// RetryBaseMS and RetryMaxMS bound the backoff between attempts: base
	// × 2^retries with jitter, at most max.
	RetryBaseMS int `toml:"retry_base_ms"`
	RetryMaxMS  int `toml:"retry_max_ms"`
}

// EmailDrafts configures server-side email drafts.
type EmailDrafts struct {
	// MaxDraftSize bounds one draft (subject, bodies, recipients, tags):
	// at least 1MB.
	MaxDraftSize string `toml:"max_draft_size"`
	// MaxRecoveryAge is how far back a draft's saves can be restored
	// ("720h"); older saves are pruned.
	MaxRecoveryAge string `toml:"max_recovery_age"`
	// MaxHistory is how many saves of one draft are kept.
	MaxHistory int `toml:"max_history"`
}

// MaxDraftBytes is MaxDraftSize in bytes (valid configurations only).
func (d EmailDrafts) MaxDraftBytes() int64 { n, _ := ParseSize(d.MaxDraftSize); return n }

// RecoveryAge is MaxRecoveryAge as a duration (valid configurations only).
func (d EmailDrafts) RecoveryAge() time.Duration {
	t, _ := time.ParseDuration(d.MaxRecoveryAge)
	return t
}

// Files configures stored files: where their bytes go and what is accepted.
// Sizes are strings such as "10MB" (B, KB, MB, GB; 1 KB = 1,024 bytes),
// durations strings such as "24h".
type Files struct {
	// StorageBackend names the storage: "local" (a directory), "s3" (an
	// S3-compatible server), "memory" (tests), or a registered one whose own
	// settings are [files.<backend>].
	StorageBackend string `toml:"storage_backend"`
	// StoragePath is the local storage's directory ("": DATA_DIR/files).
	StoragePath string `toml:"storage_path"`
	// S3 settings of the s3 storage.
	S3Bucket       string `toml:"s3_bucket"`
	S3Region       string `toml:"s3_region"`
	S3Endpoint     string `toml:"s3_endpoint"`
	S3AccessKey    string `toml:"s3_access_key"`
	S3SecretKey    string `toml:"s3_secret_key"`
	S3UsePathStyle bool   `toml:"s3_use_path_style"`
	// S3Prefix starts every object's name, so that several apps (or
	// environments) can share a bucket: "staging/" or empty.
	S3Prefix string `toml:"s3_prefix"`
	// S3PresignedDownloads sends downloads of public files to a presigned
	// URL of the S3 server instead of streaming them through the app.
	S3PresignedDownloads bool `toml:"s3_presigned_downloads"`
	// MaxUploadSize caps one file, uploaded at once or through a session.
	MaxUploadSize string `toml:"max_upload_size"`
	// AllowedExtensions lists the file extensions accepted (lower case,
	// without the dot); a file's content must agree with its extension.
	AllowedExtensions []string `toml:"allowed_extensions"`
	// PartSize is the size of the parts of an upload session (every part but
	// the last): below the request limits of the proxies in front.
	PartSize string `toml:"part_size"`
	// UploadSessionTTL is how long an upload session stays open; abandoned
	// ones are removed with their parts after it.
	UploadSessionTTL string `toml:"upload_session_ttl"`
	// PresignExpiry is how long a presigned upload or download URL works.
	PresignExpiry string `toml:"presign_expiry"`
}

// MaxUploadBytes is MaxUploadSize in bytes (valid configurations only).
func (f Files) MaxUploadBytes() int64 { n, _ := ParseSize(f.MaxUploadSize); return n }

// PartBytes is PartSize in bytes (valid configurations only).
func (f Files) PartBytes() int64 { n, _ := ParseSize(f.PartSize); return n }

// SessionTTL is UploadSessionTTL (valid configurations only).
func (f Files) SessionTTL() time.Duration { d, _ := time.ParseDuration(f.UploadSessionTTL); return d }

// PresignTTL is PresignExpiry (valid configurations only).
func (f Files) PresignTTL() time.Duration { d, _ := time.ParseDuration(f.PresignExpiry); return d }

// ParseSize reads a size such as "10MB", "512 KB", "1GB" or "300B" (1 KB =
// 1,024 bytes; a bare number is bytes).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as \"10MB\" (B, KB, MB or GB), not %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// Redis is the shared Redis server of the adapters that use one.
type Redis struct {
	// URL such as redis://:password@127.0.0.1:6379/0.
	URL string `toml:"url"`
	// TimeoutMS bounds every Redis call (connecting, reading, writing, and
	// waiting for a pooled connection). After a call fails for want of an
	// answer, calls fail at once for a second instead of each waiting.
	TimeoutMS int `toml:"timeout_ms"`
}

// Tenancy configures tenants.
type Tenancy struct {
	// Mode is single (every request runs in DefaultTenantID) or multi (the
	// gateway names the tenant of each request in TenantHeader).
	Mode string `toml:"mode"`
	// Resolver names the tenant resolver: empty picks the mode's own
	// (implicit for single, header for multi); a registered third-party
	// resolver (tenants from subdomains, a tenant table …) is named here and
	// configured in [tenancy.<resolver>].
	Resolver string `toml:"resolver"`
	// DefaultTenantID is the tenant of single mode, and the operator's tenant
	// (where Error Logs go) in both modes.
	DefaultTenantID string `toml:"default_tenant_id"`
	// TenantHeader carries the tenant id in multi mode (from trusted proxies only).
	TenantHeader string `toml:"tenant_header"`
	// AttributesHeader carries the tenant's attributes as JSON (plan, features).
	AttributesHeader string `toml:"attributes_header"`
}

// IsMultiTenant reports whether requests name their tenant.
func (t Tenancy) IsMultiTenant() bool { return t.Mode == "multi" }

// DefaultTenant returns the default (single-mode, operator) tenant id.
func (t Tenancy) DefaultTenant() string { return t.DefaultTenantID }

// Permissions selects the permission evaluator.
type Permissions struct {
	// Backend names the evaluator: rbac (DocType rules) by default, citadel,
	// cedar, or a registered third-party one; its own settings are in
	// [permissions.<backend>].
	Backend string `toml:"backend"`
	// AdminRoles bypass DocType rules (every action on every DocType) when
	// AdminBypass is on.
	AdminRoles  []string `toml:"admin_roles"`
	AdminBypass bool     `toml:"admin_bypass"`
	// RestrictPermissionChanges lets only AdminRoles write Custom
	// Permission rows and users' roles and attributes, whatever DocType
	// rules grant (otherwise a role allowed to write them could make itself
	// admin).
	RestrictPermissionChanges bool `toml:"restrict_permission_changes"`
	// CustomCacheSeconds is how long Custom Permission rows (0: not cached)
	// and Role rows (0: until a change) are cached per tenant. Changes on
	// any instance apply at once through the hub; while it is down rows are
	// kept a second at most.
	CustomCacheSeconds int `toml:"custom_cache_seconds"`
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
			ReadTimeoutSeconds:     60,
		},
		Database: Database{
			Driver:        "sqlite",
			MaxOpenConns:  10,
			MaxWriteConns: 10,
			MaxIdleConns:  5,
			AutoMigrate:   true,
			// A frozen instance holding a series counter stalls others'
			// creates of that DocType at most this long.
			LockTimeoutMS:              5000,
			IdleInTransactionTimeoutMS: 60000,
		},
		Auth: Auth{
			Mode:           "local",
			Strategies:     []string{"session_cookie", "bearer", "api_key", "basic"},
			TokenBackend:   "jwt",
			TrustedProxies: []string{},
			JWT: JWT{
				Algorithm:              "HS256",
				PreviousPublicKeyFiles: []string{},
				TTLSeconds:             3600,
				Issuer:                 "framework-m",
				Audience:               "framework-m",
				LeewaySeconds:          30,
			},
			Session: Session{
				Backend:                "database",
				TTLSeconds:             86400,
				CookieName:             "session_id",
				CookieSecure:           true,
				CookieHTTPOnly:         true,
				CookieSameSite:         "lax",
				CleanupIntervalSeconds: 3600,
			},
			Password: Password{
				MinLength:           10,
				MaxLength:           256,
				Argon2MemoryKiB:     19456,
				Argon2Iterations:    2,
				Argon2Parallelism:   1,
				MaxConcurrentHashes: 4,
			},
			Throttle: Throttle{AttemptsPerIP: 100, FailuresPerAccount: 5, WindowSeconds: 300, OnError: "closed"},
			Headers: Headers{
				UserID:      "X-User-ID",
				Email:       "X-Email",
				DisplayName: "X-User-Name",
				Roles:       "X-User-Roles",
				Attributes:  "X-User-Attributes",
			},
			Deletion: Deletion{Mode: "hard_delete"},
			MagicLink: MagicLink{
				TTLSeconds:       900,
				AllowedRedirects: []string{},
				RequestsPerEmail: 5,
				RequestsPerIP:    30,
				WindowSeconds:    900,
			},
			OAuth: OAuth{
				Providers:           []string{},
				AllowedRedirects:    []string{},
				AllowedPrivateHosts: []string{},
				StateTTLSeconds:     600,
				TimeoutMS:           10000,
				MaxResponseBytes:    1 << 20,
			},
		},
		Tenancy: Tenancy{Mode: "single", DefaultTenantID: "default", TenantHeader: "X-Tenant-ID", AttributesHeader: "X-Tenant-Attributes"},
		Permissions: Permissions{
			Backend:                   "rbac",
			AdminRoles:                []string{"Admin"},
			AdminBypass:               true,
			RestrictPermissionChanges: true,
			CustomCacheSeconds:        30,
		},
		CORS: CORS{
			AllowedOrigins: []string{},
			AllowedMethods: []string{"GET", "POST", "PATCH", "PUT", "DELETE"},
			AllowedHeaders: []string{"Authorization", "Content-Type", "X-API-Key", "X-CSRF-Token", "X-Request-ID", "X-Tenant-ID", "If-Match", "If-None-Match"},
			ExposeHeaders:  []string{"X-Request-ID", "ETag", "Location", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"},
			MaxAgeSeconds:  600,
		},
		RateLimit: RateLimit{Enabled: true, Backend: "memory", Requests: 50, WindowSeconds: 60, RequestsPerIP: 300},
		Redis:     Redis{URL: "redis://127.0.0.1:6379/0", TimeoutMS: 250},
		Hub:       Hub{Backend: "auto"},
		Files: Files{
			StorageBackend:    "local",
			S3Region:          "us-east-1",
			MaxUploadSize:     "10MB",
			AllowedExtensions: []string{"pdf", "doc", "docx", "xls", "xlsx", "png", "jpg", "jpeg", "gif", "txt", "csv"},
			PartSize:          "64MB",
			UploadSessionTTL:  "24h",
			PresignExpiry:     "15m",
		},
		Audit: Audit{
			Backend:         "database",
			QueueSize:       10000,
			BatchSize:       500,
			FlushIntervalMS: 200,
			MaxRetries:      5,
		},
		Notifications: Notifications{
			Hub:                   "",
			MaxConnectionsPerUser: 5,
			PingIntervalSeconds:   30,
			SendBuffer:            64,
			RecheckSeconds:        5,
		},
		OpenAPI: OpenAPI{Expose: "authenticated", Servers: []string{}},
		Metrics: Metrics{},
		Tracing: Tracing{Endpoint: "http://127.0.0.1:4318", SampleRatio: 1, Headers: map[string]string{}},
		Print: Print{
			Renderer:        "html",
			PDFBackend:      "none",
			GotenbergURL:    "http://127.0.0.1:3000",
			TimeoutMS:       30000,
			Retries:         2,
			MaxConversions:  8,
			QueueWaitMS:     5000,
			DefaultPageSize: "A4",
			MarginTop:       "15mm",
			MarginBottom:    "15mm",
			MarginLeft:      "12mm",
			MarginRight:     "12mm",
			RenderTimeoutMS: 2000,
			MaxOutputSize:   "8MB",
		},
		Email: Email{
			Sender: "log",
			From:   "Framework M <noreply@localhost>",
			Queue: EmailQueue{
				Backend:        "database",
				Workers:        4,
				PollIntervalMS: 1000,
				BatchSize:      20,
				MaxRetries:     3,
				LeaseSeconds:   300,
				RetryBaseMS:    30000,
				RetryMaxMS:     3600000,
			},
			Drafts: EmailDrafts{
				MaxDraftSize:   "10MB",
				MaxRecoveryAge: "720h",
				MaxHistory:     50,
			},
		},
		Sections: map[string]any{},
	}
}
