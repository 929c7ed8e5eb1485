package config

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Validation limits.
const (
	// MinSecretKeyLength is the shortest secret_key accepted.
	MinSecretKeyLength = 32
	// MinSessionMaxAge is the shortest session lifetime accepted, and
	// MinSessionIdleTimeout the shortest idle timeout (besides 0, off).
	MinSessionMaxAge      = time.Second
	MinSessionIdleTimeout = time.Second
)

// reservedHeaders are headers the gateway or HTTP itself owns; an identity
// header may not be one of them. Canonical form.
var reservedHeaders = []string{
	"Host", "Cookie", "Set-Cookie", "Authorization", "Proxy-Authorization",
	"Connection", "Proxy-Connection", "Content-Length", "Transfer-Encoding",
	"Upgrade", "Te", "Trailer", "Keep-Alive", "Forwarded",
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip",
}

const secretKeyHint = `set GATEWAY_SECRET_KEY to a random value, e.g. the output of "openssl rand -base64 48"`

// Validate checks c and returns a *ValidationError listing every problem,
// or nil. It is pure: it reads no files, resolves no names and dials
// nothing, so it can run anywhere; whether policy.dir or the TLS files
// exist is checked when they are opened. Validate expects defaults to have
// been applied; on a config without them it reports the empty settings.
func (c *Config) Validate() error {
	v := &validator{}
	v.validate(c)
	if len(v.problems) > 0 {
		return &ValidationError{Problems: v.problems}
	}
	return nil
}

type validator struct {
	problems []Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) validate(c *Config) {
	if msg := checkHostPort(c.Listen, false, `":8080" or "127.0.0.1:8080"`); msg != "" {
		v.add("listen", "%s", msg)
	}
	v.secretKey(c.SecretKey)
	v.prefix(c.Prefix)
	v.loginRedirectURL(c.LoginRedirectURL)
	for i, h := range c.AllowedHosts {
		if msg := checkAllowedHost(h); msg != "" {
			v.add(indexPath("allowed_hosts", i), "%s", msg)
		}
	}
	v.upstreams(c.Upstreams)
	v.redis(&c.Redis)
	v.session(&c.Session)
	v.identityHeaders(&c.IdentityHeaders)
	v.policy(&c.Policy)
	v.passwordHashers(c.PasswordHashers)
	v.passwordValidators(c.PasswordValidators)
	if c.PasswordHashConcurrency < 0 {
		v.add("password_hash_concurrency", "must be 0 (half the CPUs) or more, got %d", c.PasswordHashConcurrency)
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "text")
	v.decisionLog(&c.DecisionLog)
	v.trustedProxies(c.TrustedProxies)
	v.throttle(&c.Throttle)
	v.audit(&c.Audit)
	v.authentication(c)
	v.tokens(c)
	v.server(&c.Server)
	v.ops(c)
	v.cache(&c.Cache)
	v.profileFields(c)
}

func (v *validator) decisionLog(d *DecisionLog) {
	if d.SampleRate == nil {
		v.add("decision_log.sample_rate", "required, a number from 0 to 1")
	} else if r := *d.SampleRate; r < 0 || r > 1 {
		v.add("decision_log.sample_rate", "must be a number from 0 to 1, got %s", strconv.FormatFloat(r, 'g', -1, 64))
	}
	seen := map[string]int{}
	for i, m := range d.Mask {
		p := indexPath("decision_log.mask", i)
		if j, dup := seen[m]; dup {
			v.add(p, "duplicate field %s (also decision_log.mask[%d])", quoteValue(m), j)
			continue
		}
		seen[m] = i
		v.oneOf(p, m, DecisionLogMaskable...)
	}
	v.oneOf("decision_log.output", d.Output, "stderr", "stdout")
}

func (v *validator) secretKey(key string) {
	// Never echo the key itself.
	n := utf8.RuneCountInString(key)
	switch {
	case key == "":
		v.add("secret_key", "required; %s", secretKeyHint)
	case n < MinSecretKeyLength:
		v.add("secret_key", "must be at least %d characters, got %d; %s", MinSecretKeyLength, n, secretKeyHint)
	case strings.HasPrefix(key, "django-insecure-"):
		v.add("secret_key", "is a development key (it starts with \"django-insecure-\"); %s", secretKeyHint)
	}
}

func (v *validator) prefix(p string) {
	const path = "prefix"
	switch {
	case p == "":
		v.add(path, "required, e.g. %q", DefaultPrefix)
	case p == "/":
		v.add(path, "must not be \"/\": the gateway's endpoints need their own path, e.g. %q", DefaultPrefix)
	case !strings.HasPrefix(p, "/"):
		v.add(path, "must start with \"/\", got %s", quoteValue(p))
	case strings.HasSuffix(p, "/"):
		v.add(path, "must not end with \"/\", got %s", quoteValue(p))
	case strings.IndexFunc(p, func(r rune) bool { return !isPrefixChar(r) }) >= 0:
		v.add(path, "may contain only letters, digits and . _ ~ / -, got %s", quoteValue(p))
	default:
		for seg := range strings.SplitSeq(p[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				v.add(path, "must not contain empty, \".\" or \"..\" segments, got %s", quoteValue(p))
				break
			}
		}
	}
}

func isPrefixChar(r rune) bool {
	return r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~/-", r))
}

func (v *validator) loginRedirectURL(u string) {
	const path = "login_redirect_url"
	const want = "must be a path starting with \"/\" or an absolute http or https URL"
	switch {
	case u == "":
		v.add(path, "required; %s", want)
		return
	case strings.IndexFunc(u, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.add(path, "must not contain spaces or control characters")
		return
	case strings.Contains(u, `\`):
		v.add(path, "must not contain backslashes, got %s", quoteValue(u))
		return
	case strings.HasPrefix(u, "//"):
		v.add(path, "must not start with \"//\" (browsers read it as a URL on another host), got %s", quoteValue(u))
		return
	}
	parsed, err := url.Parse(u)
	if err != nil {
		v.add(path, "%s: %s", want, urlErr(err))
		return
	}
	if strings.HasPrefix(u, "/") {
		return
	}
	switch {
	case parsed.Scheme == "":
		v.add(path, "%s, got %s", want, quoteValue(u))
	case parsed.Scheme != "http" && parsed.Scheme != "https":
		v.add(path, "scheme must be http or https, got %s", quoteValue(parsed.Scheme))
	case parsed.Host == "":
		v.add(path, "must have a host, got %s", quoteValue(u))
	case parsed.User != nil:
		v.add(path, "must not contain user info (user:password@)")
	}
}

func (v *validator) upstreams(ups []Upstream) {
	if len(ups) == 0 {
		v.add("upstreams", "at least one upstream is required")
		return
	}
	names := map[string]int{}
	for i, u := range ups {
		p := indexPath("upstreams", i)
		switch {
		case u.Name == "":
			v.add(p+".name", "required")
		default:
			if j, dup := names[u.Name]; dup {
				v.add(p+".name", "duplicate name %s (also upstreams[%d].name)", quoteValue(u.Name), j)
			} else {
				names[u.Name] = i
			}
		}
		v.upstreamURL(p+".url", u.URL)
		if u.Match.Host != "" {
			if msg := checkMatchHost(u.Match.Host); msg != "" {
				v.add(p+".match.host", "%s", msg)
			}
		}
		if pp := u.Match.PathPrefix; pp != "" && !strings.HasPrefix(pp, "/") {
			v.add(p+".match.path_prefix", "must start with \"/\", got %s", quoteValue(pp))
		}
		v.positive(p+".timeouts.dial", u.Timeouts.Dial)
		v.positive(p+".timeouts.response_header", u.Timeouts.ResponseHeader)
		v.positive(p+".timeouts.idle", u.Timeouts.Idle)
		// The first matching upstream wins, so an upstream whose every
		// request an earlier one already matches never receives any.
		for j := range i {
			if shadows(ups[j].Match, u.Match) {
				v.add(p+".match", "never receives a request: upstreams[%d] (%s) comes first and matches everything this one matches; put the more specific upstream first",
					j, quoteValue(ups[j].Name))
				break
			}
		}
	}
}

// shadows reports whether every request matching b certainly matches a.
// Path prefixes are treated as whole segments where it matters, so "/api"
// is taken to shadow "/api/v2" but not "/apiary".
func shadows(a, b Match) bool {
	if a.Host != "" && !strings.EqualFold(a.Host, b.Host) {
		return false
	}
	if a.PathPrefix == "" || a.PathPrefix == b.PathPrefix {
		return true
	}
	return strings.HasPrefix(b.PathPrefix, strings.TrimSuffix(a.PathPrefix, "/")+"/")
}

func (v *validator) upstreamURL(path, raw string) {
	if raw == "" {
		v.add(path, "required, e.g. \"http://127.0.0.1:8000\"")
		return
	}
	if !strings.Contains(raw, "://") {
		if strings.Contains(raw, "@") {
			v.add(path, "must be an absolute URL like \"http://127.0.0.1:8000\"")
		} else {
			v.add(path, "must be an absolute URL like \"http://127.0.0.1:8000\", got %s", quoteValue(raw))
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.add(path, "invalid URL: %s", urlErr(err))
		return
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		v.add(path, "scheme must be http or https, got %s", quoteValue(u.Scheme))
	}
	if u.User != nil {
		// Do not echo the URL: it holds a password.
		v.add(path, "must not contain user info (user:password@); the gateway does not send credentials upstream")
	}
	if u.Hostname() == "" {
		v.add(path, "must have a host, got %s", quoteValue(u.Redacted()))
	} else if p := u.Port(); p != "" && !validPort(p) {
		v.add(path, "port must be a number from 1 to 65535, got %s", quoteValue(p))
	}
	if u.RawQuery != "" || u.ForceQuery {
		v.add(path, "must not have a query (\"?...\")")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		v.add(path, "must not have a fragment (\"#...\")")
	}
}

// urlErr is the cause of a url.Parse error, without the URL (which may
// hold a password).
func urlErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func (v *validator) redis(r *Redis) {
	if msg := checkHostPort(r.Addr, true, `"127.0.0.1:6379"`); msg != "" {
		v.add("redis.addr", "%s", msg)
	}
	if r.DB < 0 {
		v.add("redis.db", "must be 0 or more, got %d", r.DB)
	}
	v.redisHA(r)
	if r.KeyPrefix == "" {
		v.add("redis.key_prefix", "required, e.g. %q", DefaultRedisKeyPrefix)
	}
	v.positive("redis.dial_timeout", r.DialTimeout)
	v.positive("redis.read_timeout", r.ReadTimeout)
	v.positive("redis.write_timeout", r.WriteTimeout)
	if r.PoolSize < 0 {
		v.add("redis.pool_size", "must be 0 (go-redis's default) or more, got %d", r.PoolSize)
	}
	t := r.TLS
	if !t.Enabled {
		// Settings that only mean something with TLS suggest TLS was
		// intended; refuse rather than talk to Redis in plaintext.
		for _, s := range []struct{ key, val string }{
			{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName},
		} {
			if s.val != "" {
				v.add("redis.tls."+s.key, "is set but redis.tls.enabled is false; enable TLS or remove it")
			}
		}
		if t.InsecureSkipVerify {
			v.add("redis.tls.insecure_skip_verify", "is only allowed when redis.tls.enabled is true")
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add("redis.tls.key_file", "required when redis.tls.cert_file is set")
	case t.CertFile == "" && t.KeyFile != "":
		v.add("redis.tls.cert_file", "required when redis.tls.key_file is set")
	}
	if t.ServerName != "" {
		if msg := checkMatchHost(t.ServerName); msg != "" {
			v.add("redis.tls.server_name", "%s", msg)
		}
	}
}

func (v *validator) session(s *Session) {
	switch {
	case s.CookieName == "":
		v.add("session.cookie_name", "required, e.g. %q", DefaultSessionCookieName)
	case !isToken(s.CookieName):
		v.add("session.cookie_name", "must be a cookie name of letters, digits and !#$%%&'*+-.^_`|~, got %s", quoteValue(s.CookieName))
	}
	// Cookie name prefixes (RFC 6265bis): browsers drop such cookies
	// unless their conditions hold.
	lower := strings.ToLower(s.CookieName)
	for _, prefix := range []string{"__Secure-", "__Host-"} {
		if !strings.HasPrefix(lower, strings.ToLower(prefix)) {
			continue
		}
		if !s.SessionSecure() {
			v.add("session.cookie_name", "a name starting with %q requires session.secure to be true", prefix)
		}
		if prefix == "__Host-" && s.Domain != "" {
			v.add("session.domain", "must be empty when session.cookie_name starts with \"__Host-\"")
		}
	}
	if s.MaxAge < MinSessionMaxAge {
		v.add("session.max_age", "must be at least %s, got %s", MinSessionMaxAge, s.MaxAge)
	}
	if s.IdleTimeout != 0 && s.IdleTimeout < MinSessionIdleTimeout {
		v.add("session.idle_timeout", "must be 0 (no idle timeout) or at least %s, got %s", MinSessionIdleTimeout, s.IdleTimeout)
	}
	switch {
	case s.RefreshInterval < 0:
		v.add("session.refresh_interval", "must be positive, got %s", s.RefreshInterval)
	case s.IdleTimeout >= MinSessionIdleTimeout && s.RefreshInterval > s.IdleTimeout/2:
		// Activity is written back at most every refresh_interval, so a
		// session in use can look idle for up to that long.
		v.add("session.refresh_interval", "must be at most half of session.idle_timeout (%s), so that a session in use is never ended as idle; got %s", s.IdleTimeout/2, s.RefreshInterval)
	}
	v.oneOf("session.same_site", s.SameSite, "lax", "strict", "none")
	if s.SameSite == "none" && !s.SessionSecure() {
		v.add("session.same_site", "\"none\" requires session.secure to be true (browsers reject SameSite=None cookies that are not Secure)")
	}
	if s.Domain != "" {
		d := strings.TrimPrefix(s.Domain, ".")
		if !isHostname(d) || net.ParseIP(d) != nil {
			v.add("session.domain", "must be a domain name like \"example.com\" (no port, no scheme), got %s", quoteValue(s.Domain))
		}
	}
}

func (v *validator) identityHeaders(h *IdentityHeaders) {
	seen := map[string]string{} // canonical name -> key path
	for _, e := range []struct{ key, name string }{
		{"user", h.User}, {"email", h.Email}, {"groups", h.Groups},
	} {
		p := "identity_headers." + e.key
		if e.name == "" {
			v.add(p, "required")
			continue
		}
		if !isToken(e.name) {
			v.add(p, "must be a header name of letters, digits and !#$%%&'*+-.^_`|~, got %s", quoteValue(e.name))
			continue
		}
		canon := http.CanonicalHeaderKey(e.name)
		reserved := false
		for _, r := range reservedHeaders {
			if strings.EqualFold(canon, r) {
				v.add(p, "must not be %s: that header belongs to HTTP or the gateway", r)
				reserved = true
				break
			}
		}
		if reserved {
			continue
		}
		if other, dup := seen[canon]; dup {
			v.add(p, "same header as %s (header names are case-insensitive)", other)
			continue
		}
		seen[canon] = p
	}
}

func (v *validator) policy(p *Policy) {
	if p.Dir != "" && p.Bundle != "" {
		v.add("policy.bundle", "cannot be set together with policy.dir (%s); set only one of policy.dir and policy.bundle",
			quoteValue(p.Dir))
	}
	switch {
	case p.Query == "":
		v.add("policy.query", "required, e.g. %q", DefaultPolicyQuery)
	case !strings.HasPrefix(p.Query, "data.") || len(p.Query) == len("data."):
		v.add("policy.query", "must be a reference into data, starting with \"data.\", got %s", quoteValue(p.Query))
	case strings.IndexFunc(p.Query, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.add("policy.query", "must not contain spaces or control characters, got %s", quoteValue(p.Query))
	}
	v.positive("policy.timeout", p.Timeout)
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, "must be greater than 0, got %s", d)
	}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	v.add(path, "must be one of %s, got %s", strings.Join(q, ", "), quoteValue(got))
}

// checkHostPort checks "host:port" with a numeric port from 1 to 65535 and
// a host that is a name, an IP address, or (when !needHost) empty.
// example is shown in the message.
func checkHostPort(s string, needHost bool, example string) string {
	host, port, err := net.SplitHostPort(s)
	switch {
	case strings.Contains(s, "://"):
		return fmt.Sprintf("must be host:port, not a URL, e.g. %s; got %s", example, quoteValue(s))
	case err != nil:
		return fmt.Sprintf("must be host:port, e.g. %s; got %s", example, quoteValue(s))
	case !validPort(port):
		return fmt.Sprintf("port must be a number from 1 to 65535, got %s", quoteValue(s))
	case host == "" && needHost:
		return fmt.Sprintf("must be host:port with a host, e.g. %s; got %s", example, quoteValue(s))
	case host == "", net.ParseIP(host) != nil, isHostname(host):
		return ""
	}
	return fmt.Sprintf("host must be a host name or IP address, got %s", quoteValue(s))
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 || strings.TrimLeft(p, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// isHostname reports whether s is a DNS name: dot-separated labels of 1 to
// 63 letters, digits, hyphens and underscores (found in container service
// names), not starting or ending with a hyphen, 253 characters at most.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkMatchHost checks a host compared with the request's host: a name
// or an IP address, without port, scheme or wildcards.
func checkMatchHost(h string) string {
	if isHostname(h) || net.ParseIP(h) != nil {
		return ""
	}
	return fmt.Sprintf("must be a host name or IP address without port or scheme, e.g. \"app.example.com\", got %s", quoteValue(h))
}

// checkAllowedHost checks an allowed_hosts entry: a host name or IP
// address, optionally with a port; a leading "." allows the domain and
// its subdomains, as in Django's ALLOWED_HOSTS.
func checkAllowedHost(s string) string {
	const want = "must be a host like \"example.com\", \".example.com\" (with subdomains) or \"example.com:8443\""
	switch {
	case s == "":
		return "must not be empty"
	case s == "*" || strings.Contains(s, "*"):
		return fmt.Sprintf("wildcards are not allowed: they would let login redirects go anywhere; list the hosts, or use \".example.com\" for a domain and its subdomains; got %s", quoteValue(s))
	case strings.Contains(s, "://"):
		return fmt.Sprintf("%s, not a URL; got %s", want, quoteValue(s))
	}
	host, sub := strings.CutPrefix(s, ".")
	if h, port, err := net.SplitHostPort(host); err == nil {
		if !validPort(port) {
			return fmt.Sprintf("port must be a number from 1 to 65535, got %s", quoteValue(s))
		}
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return fmt.Sprintf("%s, got %s", want, quoteValue(s))
		}
	}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && sub:
		return fmt.Sprintf("a leading \".\" (subdomains) needs a domain name, not an IP address; got %s", quoteValue(s))
	case ip != nil && ip.To4() == nil && !strings.HasPrefix(s, "["):
		return fmt.Sprintf("IPv6 addresses must be in brackets, e.g. \"[::1]\"; got %s", quoteValue(s))
	case ip != nil || isHostname(host):
		return ""
	}
	return fmt.Sprintf("%s, got %s", want, quoteValue(s))
}

// isToken reports whether s is an RFC 9110 token, the syntax of header
// and cookie names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
