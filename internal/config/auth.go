package config

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Authentication is the backend chain (Django's AUTHENTICATION_BACKENDS):
// which credentials identify a request, tried in order.
type Authentication struct {
	// Backends lists the enabled backends in the order they are tried:
	// any of session (the cookie), bearer (Authorization: Bearer JWT),
	// basic (HTTP Basic against the user store) and remote_user (a header
	// set by a trusted fronting SSO). The first that recognises
	// credentials in the request decides; bad credentials in a recognised
	// scheme are answered 401, never treated as anonymous. Default
	// [session].
	Backends []string `yaml:"backends"`
	// Basic configures the basic backend.
	Basic BasicAuth `yaml:"basic"`
	// RemoteUser configures the remote_user backend.
	RemoteUser RemoteUser `yaml:"remote_user"`
	// Bearer configures which bearer tokens the bearer backend accepts:
	// the gateway's own (tokens.enabled) and those of the issuers listed
	// here.
	Bearer Bearer `yaml:"bearer"`
}

// BasicAuth configures HTTP Basic authentication.
type BasicAuth struct {
	// Realm is sent in WWW-Authenticate. Default "gateway".
	Realm string `yaml:"realm"`
	// AllowInsecure accepts Basic credentials over plain HTTP. Off by
	// default: the password crosses the wire in clear text otherwise.
	// "Over TLS" means the connection to the gateway is TLS, or a
	// trusted proxy (trusted_proxies) said X-Forwarded-Proto: https.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// RemoteUser configures the remote_user backend, Django's
// RemoteUserBackend: a fronting SSO proxy authenticates the user and
// names them in a header.
type RemoteUser struct {
	// Header carries the username. Default Remote-User. The gateway
	// removes it from every request before the request goes upstream.
	Header string `yaml:"header"`
	// TrustedProxies lists the addresses (IPs or CIDR prefixes) the
	// header is accepted from; from any other peer it is ignored and
	// logged. Required when remote_user is a backend.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// CreateUnknownUsers creates a user (active, without a usable
	// password, no groups or permissions) the first time the header names
	// an unknown one, like Django's create_unknown_user. Off by default:
	// an unknown user is a 401.
	CreateUnknownUsers bool `yaml:"create_unknown_users"`
}

// Bearer configures third-party token issuers.
type Bearer struct {
	// Issuers are identity providers whose JWTs are accepted; a token is
	// routed to the entry whose issuer equals its "iss".
	Issuers []BearerIssuer `yaml:"issuers"`
}

// BearerIssuer is one third-party identity provider.
type BearerIssuer struct {
	// Issuer is the exact "iss" of its tokens.
	Issuer string `yaml:"issuer"`
	// JWKSURL (https) or JWKSFile holds its public keys; exactly one.
	JWKSURL  string `yaml:"jwks_url"`
	JWKSFile string `yaml:"jwks_file"`
	// Audience lists accepted "aud" values; a token must name one.
	Audience []string `yaml:"audience"`
	// Algorithms lists the accepted signature algorithms (RS256, RS384,
	// RS512, PS256, ES256, ES384, EdDSA). Default [RS256, ES256]; never
	// none or HS*.
	Algorithms []string `yaml:"algorithms"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s,
	// at most 5m.
	Leeway time.Duration `yaml:"leeway"`
	// Claims maps token claims to the user.
	Claims ClaimMapping `yaml:"claims"`
	// CreateUsers creates an unknown user just in time (active, without
	// a usable password). Off by default: the user must exist.
	CreateUsers bool `yaml:"create_users"`
	// SyncGroups makes the user's group memberships equal to the groups
	// claim (restricted to groups that exist in the gateway) whenever a
	// token says otherwise. Needs claims.groups.
	SyncGroups bool `yaml:"sync_groups"`
}

// ClaimMapping names the claims a third-party token carries the user in.
type ClaimMapping struct {
	// Username is the claim holding the username. Default sub.
	Username string `yaml:"username"`
	// Email is the claim holding the email; empty for none.
	Email string `yaml:"email"`
	// Groups is the claim holding a list of group names; empty for none.
	Groups string `yaml:"groups"`
}

// Tokens configures the tokens the gateway issues: access and refresh
// tokens at {prefix}/token for API clients, and the keys that also sign
// the upstream assertion.
type Tokens struct {
	// Enabled serves {prefix}/token, {prefix}/token/refresh and
	// {prefix}/token/revoke, and makes the bearer backend accept the
	// gateway's access tokens. Needs keys.
	Enabled bool `yaml:"enabled"`
	// Keys are the signing keys, PEM private key files (Ed25519 for
	// EdDSA, P-256 for ES256, RSA of 2048 bits or more for RS256). The
	// first signs; all verify. To rotate, list the new key first and keep
	// the old one until tokens it signed have expired.
	Keys []SigningKey `yaml:"keys"`
	// Issuer is the "iss" of the gateway's tokens. Default "djangate".
	Issuer string `yaml:"issuer"`
	// Audience is the "aud" of access tokens. Default "djangate".
	Audience string `yaml:"audience"`
	// AccessTTL is an access token's lifetime. Default 5m.
	AccessTTL time.Duration `yaml:"access_ttl"`
	// RefreshTTL is the absolute lifetime of a refresh token family (a
	// login): rotation does not extend it. Default 720h (30 days).
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s.
	Leeway time.Duration `yaml:"leeway"`
}

// SigningKey is one signing key file.
type SigningKey struct {
	// ID is the key's "kid".
	ID string `yaml:"id"`
	// File is the PEM private key.
	File string `yaml:"file"`
}

// UpstreamAssertion configures the signed identity sent to upstreams.
type UpstreamAssertion struct {
	// Enabled adds a short-lived JWT naming the user, signed with
	// tokens.keys (public keys at {prefix}/.well-known/jwks.json), to every
	// request forwarded for an authenticated user. Needs tokens.keys.
	Enabled bool `yaml:"enabled"`
	// Header carries it. Default X-Gateway-Assertion.
	Header string `yaml:"header"`
	// TTL is its lifetime. Default 60s.
	TTL time.Duration `yaml:"ttl"`
}

// Backend names.
const (
	BackendSession    = "session"
	BackendBearer     = "bearer"
	BackendBasic      = "basic"
	BackendRemoteUser = "remote_user"
)

// Backends are the backend names authentication.backends may list.
var Backends = []string{BackendSession, BackendBearer, BackendBasic, BackendRemoteUser}

// ExternalAlgorithms are the algorithms a third-party issuer may use.
var ExternalAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// Defaults of the authentication, tokens and assertion settings.
const (
	DefaultBasicRealm              = "gateway"
	DefaultRemoteUserHeader        = "Remote-User"
	DefaultBearerLeeway            = 30 * time.Second
	DefaultClaimUsername           = "sub"
	DefaultTokensIssuer            = "djangate"
	DefaultTokensAudience          = "djangate"
	DefaultTokensAccessTTL         = 5 * time.Minute
	DefaultTokensRefreshTTL        = 720 * time.Hour
	DefaultTokensLeeway            = 30 * time.Second
	DefaultUpstreamAssertionTTL    = 60 * time.Second
	DefaultUpstreamAssertionHeader = "X-Gateway-Assertion"
	// MaxLeeway bounds every leeway setting.
	MaxLeeway = 5 * time.Minute
)

// DefaultBearerAlgorithms is the default of authentication.bearer.issuers[i].algorithms.
var DefaultBearerAlgorithms = []string{"RS256", "ES256"}

func (c *Config) applyAuthDefaults() {
	if len(c.Authentication.Backends) == 0 {
		c.Authentication.Backends = []string{BackendSession}
	}
	setString(&c.Authentication.Basic.Realm, DefaultBasicRealm)
	setString(&c.Authentication.RemoteUser.Header, DefaultRemoteUserHeader)
	for i := range c.Authentication.Bearer.Issuers {
		is := &c.Authentication.Bearer.Issuers[i]
		if len(is.Algorithms) == 0 {
			is.Algorithms = append([]string(nil), DefaultBearerAlgorithms...)
		}
		setDuration(&is.Leeway, DefaultBearerLeeway)
		setString(&is.Claims.Username, DefaultClaimUsername)
	}
	setString(&c.Tokens.Issuer, DefaultTokensIssuer)
	setString(&c.Tokens.Audience, DefaultTokensAudience)
	setDuration(&c.Tokens.AccessTTL, DefaultTokensAccessTTL)
	setDuration(&c.Tokens.RefreshTTL, DefaultTokensRefreshTTL)
	setDuration(&c.Tokens.Leeway, DefaultTokensLeeway)
	setString(&c.UpstreamAssertion.Header, DefaultUpstreamAssertionHeader)
	setDuration(&c.UpstreamAssertion.TTL, DefaultUpstreamAssertionTTL)
}

// Uses reports whether backend is in authentication.backends.
func (a Authentication) Uses(backend string) bool {
	for _, b := range a.Backends {
		if b == backend {
			return true
		}
	}
	return false
}

func (v *validator) authentication(c *Config) {
	a := &c.Authentication
	seen := map[string]int{}
	for i, b := range a.Backends {
		p := indexPath("authentication.backends", i)
		if j, dup := seen[b]; dup {
			v.add(p, "duplicate backend %s (also authentication.backends[%d])", quoteValue(b), j)
			continue
		}
		seen[b] = i
		v.oneOf(p, b, Backends...)
	}
	if len(a.Backends) == 0 {
		v.add("authentication.backends", "must list at least one backend, e.g. [session]")
	}
	if a.Basic.Realm == "" || strings.ContainsAny(a.Basic.Realm, "\"\\\r\n") {
		v.add("authentication.basic.realm", "must be a non-empty name without quotes, backslashes or line breaks, got %s", quoteValue(a.Basic.Realm))
	}

	ru := &a.RemoteUser
	if a.Uses(BackendRemoteUser) {
		assertion := ""
		if c.UpstreamAssertion.Enabled {
			assertion = c.UpstreamAssertion.Header
		}
		v.headerName("authentication.remote_user.header", ru.Header, &c.IdentityHeaders, assertion)
	}
	for i, s := range ru.TrustedProxies {
		if msg := checkTrustedProxy(s); msg != "" {
			v.add(indexPath("authentication.remote_user.trusted_proxies", i), "%s", msg)
		}
	}
	if a.Uses(BackendRemoteUser) && len(ru.TrustedProxies) == 0 {
		v.add("authentication.remote_user.trusted_proxies", "required when remote_user is a backend: list the addresses of the proxy that sets %s, or anyone could name any user", ru.Header)
	}

	issuers := map[string]int{}
	for i := range a.Bearer.Issuers {
		v.bearerIssuer(indexPath("authentication.bearer.issuers", i), &a.Bearer.Issuers[i], c.Tokens.Issuer, c.Tokens.Enabled)
		if is := a.Bearer.Issuers[i].Issuer; is != "" {
			if j, dup := issuers[is]; dup {
				v.add(indexPath("authentication.bearer.issuers", i)+".issuer", "duplicate issuer %s (also authentication.bearer.issuers[%d])", quoteValue(is), j)
			}
			issuers[is] = i
		}
	}
	if a.Uses(BackendBearer) && !c.Tokens.Enabled && len(a.Bearer.Issuers) == 0 {
		v.add("authentication.backends", "bearer accepts no token: enable tokens (tokens.enabled) or list an issuer under authentication.bearer.issuers")
	}
}

func (v *validator) bearerIssuer(p string, is *BearerIssuer, ownIssuer string, ownEnabled bool) {
	switch {
	case is.Issuer == "":
		v.add(p+".issuer", "required: the exact \"iss\" of the provider's tokens")
	case ownEnabled && is.Issuer == ownIssuer:
		v.add(p+".issuer", "is the gateway's own issuer (tokens.issuer); give the provider's")
	}
	switch {
	case is.JWKSURL == "" && is.JWKSFile == "":
		v.add(p, "needs jwks_url or jwks_file")
	case is.JWKSURL != "" && is.JWKSFile != "":
		v.add(p, "has both jwks_url and jwks_file; keep one")
	case is.JWKSURL != "":
		if msg := checkJWKSURL(is.JWKSURL); msg != "" {
			v.add(p+".jwks_url", "%s", msg)
		}
	}
	if len(is.Audience) == 0 {
		v.add(p+".audience", "required: the \"aud\" values meant for this gateway")
	}
	for i, a := range is.Audience {
		if a == "" {
			v.add(indexPath(p+".audience", i), "must not be empty")
		}
	}
	for i, alg := range is.Algorithms {
		v.oneOf(indexPath(p+".algorithms", i), alg, ExternalAlgorithms...)
	}
	v.leeway(p+".leeway", is.Leeway)
	if is.Claims.Username == "" {
		v.add(p+".claims.username", "required, e.g. \"preferred_username\" or \"sub\"")
	}
	if is.SyncGroups && is.Claims.Groups == "" {
		v.add(p+".sync_groups", "needs claims.groups: the claim that lists the groups")
	}
}

// checkJWKSURL allows https, and http only to a loopback host.
func checkJWKSURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "must be an absolute https URL, got " + quoteValue(s)
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		h := u.Hostname()
		if h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" {
			return ""
		}
		return "must be https (keys fetched over plain HTTP could be replaced on the way), got " + quoteValue(s)
	}
	return "must be an https URL, got " + quoteValue(s)
}

func (v *validator) leeway(p string, d time.Duration) {
	if d < 0 || d > MaxLeeway {
		v.add(p, "must be from 0s to %s, got %s", MaxLeeway, d)
	}
}

func (v *validator) tokens(c *Config) {
	t := &c.Tokens
	needKeys := t.Enabled || c.UpstreamAssertion.Enabled
	if needKeys && len(t.Keys) == 0 {
		v.add("tokens.keys", "required when tokens.enabled or upstream_assertion.enabled: list at least one {id, file} PEM private key")
	}
	ids := map[string]int{}
	for i, k := range t.Keys {
		p := indexPath("tokens.keys", i)
		switch {
		case k.ID == "":
			v.add(p+".id", "required: the key's kid, e.g. \"2026-11\"")
		case len(k.ID) > 64 || strings.ContainsFunc(k.ID, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '"' || r == '\\' }):
			v.add(p+".id", "must be at most 64 printable ASCII characters without spaces or quotes, got %s", quoteValue(k.ID))
		default:
			if j, dup := ids[k.ID]; dup {
				v.add(p+".id", "duplicate key id %s (also tokens.keys[%d])", quoteValue(k.ID), j)
			}
			ids[k.ID] = i
		}
		if k.File == "" {
			v.add(p+".file", "required: a PEM private key file")
		}
	}
	if t.Issuer == "" {
		v.add("tokens.issuer", "required")
	}
	if t.Audience == "" {
		v.add("tokens.audience", "required")
	}
	v.positive("tokens.access_ttl", t.AccessTTL)
	v.positive("tokens.refresh_ttl", t.RefreshTTL)
	if t.AccessTTL > time.Hour {
		v.add("tokens.access_ttl", "must be at most 1h (access tokens are meant to be short-lived; clients refresh), got %s", t.AccessTTL)
	}
	if t.RefreshTTL > 0 && t.RefreshTTL < t.AccessTTL {
		v.add("tokens.refresh_ttl", "must be at least tokens.access_ttl (%s), got %s", t.AccessTTL, t.RefreshTTL)
	}
	v.leeway("tokens.leeway", t.Leeway)

	ua := &c.UpstreamAssertion
	if ua.Enabled {
		v.headerName("upstream_assertion.header", ua.Header, &c.IdentityHeaders, "")
	}
	v.positive("upstream_assertion.ttl", ua.TTL)
	if ua.TTL > time.Hour {
		v.add("upstream_assertion.ttl", "must be at most 1h, got %s", ua.TTL)
	}
}

// headerName checks a header the gateway reads or sets besides the
// identity headers: a valid name, not reserved, not an identity header,
// and not other (another setting's header).
func (v *validator) headerName(p, name string, ih *IdentityHeaders, other string) {
	if name == "" {
		v.add(p, "required")
		return
	}
	if !isToken(name) {
		v.add(p, "must be a header name of letters, digits and !#$%%&'*+-.^_`|~, got %s", quoteValue(name))
		return
	}
	canon := http.CanonicalHeaderKey(name)
	for _, r := range reservedHeaders {
		if canon == r {
			v.add(p, "must not be %s: that header belongs to HTTP or the gateway", r)
			return
		}
	}
	for _, h := range []string{ih.User, ih.Email, ih.Groups, other} {
		if h != "" && strings.EqualFold(h, name) {
			v.add(p, "must differ from %s, which the gateway sets for upstreams", h)
			return
		}
	}
}
