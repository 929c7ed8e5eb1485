// Package config owns the gateway's configuration: one typed struct, strict
// YAML decoding (unknown keys rejected), defaults in one place, environment
// overrides named after key paths, and a pure validation step that reports
// every problem at once with its key path.
package config

import "time"

// Config is the whole gateway configuration as read from config.yaml.
type Config struct {
	// Listen is the address the gateway serves on, e.g. ":8080".
	Listen string `yaml:"listen"`
	// SecretKey signs CSRF tokens and other gateway-issued values. Required;
	// at least 32 characters. Keep it out of the file: GATEWAY_SECRET_KEY.
	SecretKey string `yaml:"secret_key"`
	// Prefix is the path prefix of the gateway's own endpoints (login,
	// logout, me). Requests under it are never forwarded upstream.
	Prefix string `yaml:"prefix"`
	// LoginRedirectURL is where a successful login goes when `next` is
	// missing or unsafe (Django's LOGIN_REDIRECT_URL).
	LoginRedirectURL string `yaml:"login_redirect_url"`
	// AllowedHosts lists extra hosts (besides the request's own Host) that
	// `next` redirects may point to, as in Django's ALLOWED_HOSTS.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Upstreams are the apps behind the gateway; the first whose match
	// applies to a request receives it.
	Upstreams []Upstream `yaml:"upstreams"`
	// Redis is where users, groups, permissions and sessions live.
	Redis Redis `yaml:"redis"`
	// Session configures the session cookie and lifetime.
	Session Session `yaml:"session"`
	// IdentityHeaders names the headers that carry the user to upstreams.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers"`
	// Policy configures the Rego policy engine.
	Policy Policy `yaml:"policy"`
	// PasswordHashers is Django's PASSWORD_HASHERS: the first entry hashes
	// new passwords, the others are accepted when verifying.
	PasswordHashers []PasswordHasher `yaml:"password_hashers"`
	// PasswordValidators is Django's AUTH_PASSWORD_VALIDATORS: every rule
	// a new password must pass, wherever a password is set.
	PasswordValidators []PasswordValidator `yaml:"password_validators"`
	// PasswordHashConcurrency bounds how many password hashes are computed
	// at once (logins, password changes), so a burst of logins cannot
	// starve proxied traffic of CPU. 0 means half the CPUs (at least 1).
	PasswordHashConcurrency int `yaml:"password_hash_concurrency"`
	// Log configures structured logging.
	Log Log `yaml:"log"`
	// DecisionLog configures the decision log: one JSON line per policy
	// decision, written apart from the process log.
	DecisionLog DecisionLog `yaml:"decision_log"`
	// TrustedProxies lists the proxies (IP addresses or CIDR prefixes)
	// whose X-Forwarded-For the gateway believes. Empty: the client is
	// always the connection's peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Throttle limits failed logins per username and per client IP.
	Throttle Throttle `yaml:"throttle"`
	// Audit configures the audit events (logins, logouts, lockouts,
	// changes to users, groups and permissions).
	Audit Audit `yaml:"audit"`
	// Signup configures self-registration ({prefix}/signup).
	Signup Signup `yaml:"signup"`
	// Authentication is the backend chain: which credentials identify a
	// request (session cookie, bearer token, Basic, remote user).
	Authentication Authentication `yaml:"authentication"`
	// Tokens configures the access and refresh tokens the gateway issues
	// and the keys that sign them.
	Tokens Tokens `yaml:"tokens"`
	// UpstreamAssertion configures the signed identity (a JWT) sent to
	// upstreams.
	UpstreamAssertion UpstreamAssertion `yaml:"upstream_assertion"`
	// Server configures the HTTP server's limits and timeouts.
	Server Server `yaml:"server"`
	// Ops configures the operations listener: metrics, health,
	// readiness and profiles, apart from the traffic.
	Ops Ops `yaml:"ops"`
	// Cache configures the decision memo and the principal cache.
	Cache Cache `yaml:"cache"`
	// ProfileFields declares the custom user fields (Django's custom user
	// model or UserProfile): stored with each user, read by policies as
	// input.user.profile.<name>, optionally forwarded upstream.
	ProfileFields []ProfileField `yaml:"profile_fields"`
}

// Signup configures self-registration.
type Signup struct {
	// Enabled serves {prefix}/signup: anyone may create an active user
	// with no groups and no permissions, and is signed in. Off by default.
	Enabled bool `yaml:"enabled"`
}

// Upstream is one app behind the gateway.
type Upstream struct {
	// Name identifies the upstream in logs; defaults to "upstreamN".
	Name string `yaml:"name"`
	// URL is the upstream base URL (http or https); a path in it is
	// prepended to the forwarded path.
	URL string `yaml:"url"`
	// Match restricts which requests go to this upstream. Empty matches all.
	Match Match `yaml:"match"`
	// Timeouts bounds the connection to the upstream.
	Timeouts UpstreamTimeouts `yaml:"timeouts"`
}

// Match selects requests by host and/or path prefix. Both must hold when
// both are set.
type Match struct {
	// Host is compared case-insensitively with the request host (port
	// ignored). Empty matches any host.
	Host string `yaml:"host"`
	// PathPrefix is compared with the canonical request path. Empty
	// matches any path.
	PathPrefix string `yaml:"path_prefix"`
}

// UpstreamTimeouts bounds the upstream connection.
type UpstreamTimeouts struct {
	// Dial bounds establishing a TCP (and TLS) connection.
	Dial time.Duration `yaml:"dial"`
	// ResponseHeader bounds the wait for the upstream's response headers;
	// exceeding it gives 504.
	ResponseHeader time.Duration `yaml:"response_header"`
	// Idle is how long an idle keep-alive connection is kept.
	Idle time.Duration `yaml:"idle"`
}

// Redis is the connection to the Redis server.
type Redis struct {
	// Mode is how the gateway finds Redis: "standalone" (one server at
	// Addr), "sentinel" (the master named MasterName, found through the
	// sentinels at Addrs) or "cluster" (a Redis Cluster, seed nodes at
	// Addrs). Reads and writes always go to masters: the gateway needs
	// read-your-writes.
	Mode string `yaml:"mode"`
	// Addr is host:port of the Redis server (standalone mode).
	Addr string `yaml:"addr"`
	// Addrs are host:port of the sentinels (sentinel mode) or of cluster
	// seed nodes (cluster mode); unused in standalone mode.
	Addrs []string `yaml:"addrs"`
	// MasterName is the name the sentinels monitor the master under
	// (sentinel mode only).
	MasterName string `yaml:"master_name"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// themselves (sentinel mode only); Username and Password are for the
	// Redis servers.
	SentinelUsername string `yaml:"sentinel_username"`
	SentinelPassword string `yaml:"sentinel_password"`
	// Username for Redis ACL auth (Redis 6+); empty for none.
	Username string `yaml:"username"`
	// Password for Redis auth; prefer GATEWAY_REDIS_PASSWORD.
	Password string `yaml:"password"`
	// DB is the logical database number.
	DB int `yaml:"db"`
	// KeyPrefix is prepended to every key the gateway writes.
	KeyPrefix string `yaml:"key_prefix"`
	// TLS configures TLS to Redis.
	TLS RedisTLS `yaml:"tls"`
	// DialTimeout, ReadTimeout and WriteTimeout bound Redis operations; a
	// timeout fails closed (503).
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PoolSize is the connection pool size; 0 means go-redis's default.
	PoolSize int `yaml:"pool_size"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// Enabled turns TLS on. While it is false the other TLS settings must
	// be unset (Validate refuses them rather than talk plaintext).
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to verify the server with; empty uses the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate verification. Never in
	// production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Session configures the session cookie.
type Session struct {
	// CookieName is the session cookie's name.
	CookieName string `yaml:"cookie_name"`
	// MaxAge is the absolute session lifetime, counted from login: the
	// cookie's Max-Age (unless ExpireAtBrowserClose) and the longest a
	// session lives in Redis.
	MaxAge time.Duration `yaml:"max_age"`
	// IdleTimeout ends a session unused for this long (measured from the
	// last activity written back, see RefreshInterval); 0 turns it off.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RefreshInterval is how often at most a session's last activity (and
	// with IdleTimeout its expiry) is written back to Redis, so keeping a
	// session alive does not cost a write per request.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// ExpireAtBrowserClose sends the session cookie without Max-Age, so
	// the browser drops it when it closes (Django's
	// SESSION_EXPIRE_AT_BROWSER_CLOSE). The server-side lifetimes apply
	// all the same.
	ExpireAtBrowserClose bool `yaml:"expire_at_browser_close"`
	// Secure marks the cookie Secure (HTTPS only). Default true.
	Secure *bool `yaml:"secure"`
	// SameSite is "lax", "strict" or "none" ("none" requires secure).
	SameSite string `yaml:"same_site"`
	// Domain is the cookie Domain attribute; empty for host-only.
	Domain string `yaml:"domain"`
}

// IdentityHeaders names the headers the gateway sets for upstreams.
type IdentityHeaders struct {
	// User carries the username; default X-Remote-User.
	User string `yaml:"user"`
	// Email carries the user's email; default X-Remote-Email.
	Email string `yaml:"email"`
	// Groups carries the user's groups; default X-Remote-Groups.
	Groups string `yaml:"groups"`
}

// Policy configures the Rego engine.
type Policy struct {
	// Dir is the directory of .rego and data files; empty uses the
	// policies embedded in the binary (or Bundle).
	Dir string `yaml:"dir"`
	// Bundle is an OPA bundle to load instead: a bundle directory or a
	// .tar.gz (opa build, gateway policy build). Not together with Dir.
	Bundle string `yaml:"bundle"`
	// Query is the decision the gateway evaluates.
	Query string `yaml:"query"`
	// Timeout bounds one policy evaluation; exceeding it denies.
	Timeout time.Duration `yaml:"timeout"`
}

// PasswordHasher is one entry of the PASSWORD_HASHERS list. Only the
// parameters of its algorithm may be set; they apply to new hashes, and a
// stored hash with other parameters is re-hashed at the next login.
type PasswordHasher struct {
	// Algorithm is Django's algorithm name: pbkdf2_sha256, pbkdf2_sha1,
	// argon2, bcrypt_sha256, bcrypt, scrypt, or (verify only) sha1, md5,
	// unsalted_sha1, unsalted_md5.
	Algorithm string `yaml:"algorithm"`
	// Iterations is the PBKDF2 iteration count (pbkdf2_sha256, pbkdf2_sha1).
	Iterations int `yaml:"iterations"`
	// TimeCost is argon2's number of passes.
	TimeCost int `yaml:"time_cost"`
	// MemoryCost is argon2's memory in KiB.
	MemoryCost int `yaml:"memory_cost"`
	// Parallelism is argon2's lanes or scrypt's p.
	Parallelism int `yaml:"parallelism"`
	// Rounds is bcrypt's log2 cost (bcrypt, bcrypt_sha256).
	Rounds int `yaml:"rounds"`
	// WorkFactor is scrypt's N (a power of two).
	WorkFactor int `yaml:"work_factor"`
	// BlockSize is scrypt's r.
	BlockSize int `yaml:"block_size"`
}

// PasswordValidator is one entry of AUTH_PASSWORD_VALIDATORS, named as in
// Django. Only the options of its validator may be set.
type PasswordValidator struct {
	// Name is UserAttributeSimilarityValidator, MinimumLengthValidator,
	// CommonPasswordValidator or NumericPasswordValidator.
	Name string `yaml:"name"`
	// MinLength is MinimumLengthValidator's min_length.
	MinLength int `yaml:"min_length"`
	// MaxSimilarity is UserAttributeSimilarityValidator's max_similarity.
	MaxSimilarity float64 `yaml:"max_similarity"`
	// UserAttributes is UserAttributeSimilarityValidator's user_attributes:
	// any of username, first_name, last_name, email.
	UserAttributes []string `yaml:"user_attributes"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text.
	Format string `yaml:"format"`
	// Access writes one line per request (method, canonical path,
	// status, bytes, duration, request id, user, backend, client address,
	// upstream) at info level. Default true.
	Access *bool `yaml:"access"`
}

// AccessOn reports whether the access log is on.
func (l Log) AccessOn() bool { return l.Access == nil || *l.Access }

// DecisionLog configures the decision log. A line never holds headers,
// cookies, the query string or passwords.
type DecisionLog struct {
	// Enabled turns the decision log on.
	Enabled bool `yaml:"enabled"`
	// SampleRate is the fraction (0 to 1) of allowed decisions logged;
	// denials and failed decisions are always logged. Default 1.
	SampleRate *float64 `yaml:"sample_rate"`
	// Mask lists fields written as "***": any of user, path, client_ip,
	// reason.
	Mask []string `yaml:"mask"`
	// Output is stderr or stdout.
	Output string `yaml:"output"`
}

// Throttle configures login throttling (what django-axes does for
// Django): failed logins are counted per username and per client IP over
// a sliding window; at the limit, logins are refused for the cool-off.
type Throttle struct {
	// Enabled turns throttling on. Default true (nil means true after
	// ApplyDefaults sets it).
	Enabled *bool `yaml:"enabled"`
	// Window is how long a failed login counts.
	Window time.Duration `yaml:"window"`
	// UsernameLimit is how many failures of one username within Window
	// lock that username.
	UsernameLimit int `yaml:"username_limit"`
	// IPLimit is how many failures from one client IP (an IPv6 client's
	// /64) within Window lock that IP.
	IPLimit int `yaml:"ip_limit"`
	// Cooloff is how long a lock lasts.
	Cooloff time.Duration `yaml:"cooloff"`
}

// On reports whether login throttling is enabled.
func (t Throttle) On() bool { return t.Enabled == nil || *t.Enabled }

// Audit configures the audit events. Each event is a line in the process
// log and, when Enabled, an entry of a capped Redis stream.
type Audit struct {
	// Enabled appends events to the Redis stream. Default true.
	Enabled *bool `yaml:"enabled"`
	// Stream is the stream's name; its Redis key is redis.key_prefix +
	// Stream.
	Stream string `yaml:"stream"`
	// MaxLen caps the stream (XADD MAXLEN ~): older entries are trimmed.
	MaxLen int `yaml:"max_len"`
}

// On reports whether audit events are appended to the stream.
func (a Audit) On() bool { return a.Enabled == nil || *a.Enabled }

// DecisionLogMaskable are the decision log fields decision_log.mask may name.
var DecisionLogMaskable = []string{"user", "path", "client_ip", "reason"}

// SessionSecure reports whether the session cookie is marked Secure.
func (s Session) SessionSecure() bool { return s.Secure == nil || *s.Secure }
