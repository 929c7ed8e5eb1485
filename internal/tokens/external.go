package tokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Third-party (identity provider) JWT verification.
//
// An External verifies tokens minted by one external issuer (Keycloak,
// Auth0, Entra ID, Dex, ...) against that issuer's published JWKS and maps
// the claims onto an Identity. It never issues anything.

const (
	extMaxTokenLen     = 8 << 10 // tokens longer than this are rejected unparsed
	extMaxLeeway       = 5 * time.Minute
	extDefaultRefresh  = time.Minute
	extDefaultMaxAge   = time.Hour
	extDefaultTimeout  = 5 * time.Second
	extFetchTimeout    = 10 * time.Second // cap on one JWKS fetch even with a caller client without timeout
	extMaxNameLen      = 150              // Django's username and group name max_length
	extMaxEmailLen     = 254              // Django's EmailField max_length
	extDefaultUsername = "sub"
)

// ExternalOptions configures one third-party issuer.
type ExternalOptions struct {
	Issuer        string        // required; the token's "iss" must equal it exactly
	JWKSFile      string        // exactly one of JWKSFile / JWKSURL
	JWKSURL       string        // https (http only allowed for loopback hosts, for tests)
	Audience      []string      // required, non-empty: the token's "aud" must contain one of them
	Algorithms    []string      // allowed algs, subset of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA; required
	Leeway        time.Duration // clock skew for exp/nbf/iat; at most 5m
	UsernameClaim string        // claim holding the username (default "sub")
	EmailClaim    string        // optional, e.g. "email"
	GroupsClaim   string        // optional, e.g. "groups": array of strings (a single string is one group)
	HTTPClient    *http.Client  // for JWKSURL; nil = a client with a 5s timeout
	MinRefresh    time.Duration // min interval between JWKS fetches (default 1m)
	MaxAge        time.Duration // JWKS cache lifetime (default 1h); stale keys are used up to 2×MaxAge while refetching fails
	Now           func() time.Time
}

// Identity is what a verified token says about its user.
type Identity struct {
	Issuer, Subject, Username, Email string
	Groups                           []string // nil when GroupsClaim is unset
	// ExpiresAt is the token's exp (Verify requires one).
	ExpiresAt time.Time
}

// External verifies JWTs from one third-party issuer. It is safe for
// concurrent use.
type External struct {
	issuer      string
	jwksURL     string // "" when the keys come from a file
	userClaim   string
	emailClaim  string
	groupsClaim string
	client      *http.Client
	minRefresh  time.Duration
	maxAge      time.Duration
	now         func() time.Time
	parser      *jwt.Parser

	keys atomic.Pointer[extKeyState]

	// fetchSem (capacity 1) makes JWKS fetches single-flight; whoever holds
	// it owns lastAttempt and lastErr.
	fetchSem    chan struct{}
	lastAttempt time.Time
	lastErr     error
}

// extKeyState is an immutable snapshot of the issuer's keys.
type extKeyState struct {
	set     *jwksSet
	fetched time.Time
}

// NewExternal validates o and loads the issuer's keys. A JWKS file must load
// now. For a JWKS URL a first fetch is attempted, but its failure is not
// fatal: Verify fetches again later (rate-limited by MinRefresh) and fails
// with ErrUnavailable until keys are available.
func NewExternal(ctx context.Context, o ExternalOptions) (*External, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("tokens: external issuer %q: "+format, append([]any{o.Issuer}, args...)...)
	}
	if o.Issuer == "" {
		return nil, errors.New("tokens: external issuer: Issuer is required")
	}
	switch {
	case o.JWKSFile == "" && o.JWKSURL == "":
		return nil, bad("one of JWKSFile or JWKSURL is required")
	case o.JWKSFile != "" && o.JWKSURL != "":
		return nil, bad("JWKSFile and JWKSURL are mutually exclusive")
	}
	if o.JWKSURL != "" {
		if err := extCheckURL(o.JWKSURL); err != nil {
			return nil, bad("JWKSURL: %v", err)
		}
	}
	if len(o.Audience) == 0 {
		return nil, bad("Audience is required")
	}
	for i, a := range o.Audience {
		if a == "" {
			return nil, bad("Audience[%d] is empty", i)
		}
	}
	if len(o.Algorithms) == 0 {
		return nil, bad("Algorithms is required")
	}
	for _, a := range o.Algorithms {
		if _, ok := jwksSigAlgs[a]; !ok {
			return nil, bad("Algorithms: %q is not allowed (allowed: RS256 RS384 RS512 PS256 ES256 ES384 EdDSA)", a)
		}
	}
	if o.Leeway < 0 || o.Leeway > extMaxLeeway {
		return nil, bad("Leeway %v must be between 0 and %v", o.Leeway, extMaxLeeway)
	}
	if o.UsernameClaim == "" {
		o.UsernameClaim = extDefaultUsername
	}
	if o.MinRefresh < 0 {
		return nil, bad("MinRefresh must not be negative")
	} else if o.MinRefresh == 0 {
		o.MinRefresh = extDefaultRefresh
	}
	if o.MaxAge < 0 {
		return nil, bad("MaxAge must not be negative")
	} else if o.MaxAge == 0 {
		o.MaxAge = extDefaultMaxAge
	}
	if o.MaxAge < o.MinRefresh {
		return nil, bad("MaxAge %v is shorter than MinRefresh %v", o.MaxAge, o.MinRefresh)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Timeout: extDefaultTimeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				return extCheckURL(req.URL.String())
			},
		}
	}

	e := &External{
		issuer:      o.Issuer,
		jwksURL:     o.JWKSURL,
		userClaim:   o.UsernameClaim,
		emailClaim:  o.EmailClaim,
		groupsClaim: o.GroupsClaim,
		client:      o.HTTPClient,
		minRefresh:  o.MinRefresh,
		maxAge:      o.MaxAge,
		now:         o.Now,
		fetchSem:    make(chan struct{}, 1),
		parser: jwt.NewParser(
			jwt.WithValidMethods(slices.Clone(o.Algorithms)),
			jwt.WithIssuer(o.Issuer),
			jwt.WithAudience(slices.Clone(o.Audience)...),
			jwt.WithLeeway(o.Leeway),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(o.Now),
			jwt.WithStrictDecoding(),
		),
	}

	if o.JWKSFile != "" {
		set, err := extLoadFile(o.JWKSFile)
		if err != nil {
			return nil, bad("JWKSFile: %v", err)
		}
		e.keys.Store(&extKeyState{set: set, fetched: e.now()})
		return e, nil
	}
	// First fetch: a failure is remembered (and rate-limited) but not fatal.
	e.fetchSem <- struct{}{}
	e.fetchLocked(ctx, false)
	<-e.fetchSem
	return e, nil
}

// Issuer returns the issuer this verifier accepts.
func (e *External) Issuer() string { return e.issuer }

// Verify checks token's signature against the issuer's keys and its claims
// against the options, and returns the identity it asserts. Every failure
// wraps ErrInvalidToken, except missing keys (JWKS not fetchable), which
// wrap ErrUnavailable. Errors never contain the token.
func (e *External) Verify(ctx context.Context, token string) (*Identity, error) {
	if len(token) > extMaxTokenLen {
		return nil, extInvalid("token is longer than %d bytes", extMaxTokenLen)
	}
	if token == "" {
		return nil, extInvalid("empty token")
	}
	var kfErr error // the precise reason the key lookup failed
	claims := jwt.MapClaims{}
	// The keys are looked up (and fetched if need be) only once the token
	// is well-formed and its alg allowed, so garbage never causes a fetch.
	_, err := e.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		st, err := e.currentKeys(ctx)
		if err != nil {
			kfErr = err
			return nil, err
		}
		k, err := e.keyFor(ctx, st, t)
		if err != nil {
			kfErr = err
			return nil, err
		}
		return k.pub, nil
	})
	if kfErr != nil {
		return nil, kfErr
	}
	if err != nil {
		return nil, extJWTError(err)
	}
	return e.identity(claims)
}

// keyFor selects the key for a parsed-but-unverified token. The header alg
// is already known to be in Algorithms (the parser checks it first).
func (e *External) keyFor(ctx context.Context, st *extKeyState, t *jwt.Token) (*jwksKey, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: we understand no extensions, so must reject.
		return nil, extInvalid(`header "crit" is not supported`)
	}
	alg := t.Method.Alg()
	var kid string
	rawKid, hasKid := t.Header["kid"]
	if hasKid {
		s, ok := rawKid.(string)
		if !ok {
			return nil, extInvalid(`header "kid" is not a string`)
		}
		kid = s
	}

	k, reason := st.set.extFind(kid, hasKid)
	if k == nil && hasKid && e.jwksURL != "" {
		// Possibly a key rotation at the IdP: refetch (rate-limited,
		// single-flight, waiting for an in-progress fetch) and retry.
		if fresh, _ := e.refresh(ctx, true); fresh != nil && fresh != st {
			k, reason = fresh.set.extFind(kid, hasKid)
		}
	}
	if k == nil {
		return nil, extInvalid("%s", reason)
	}
	if !jwksAlgFits(alg, k) {
		if k.alg != "" && jwksSigAlgs[alg].kty == k.kty {
			return nil, extInvalid("alg %s does not match the key's alg %s (kid %q)", alg, k.alg, k.kid)
		}
		return nil, extInvalid("alg %s cannot be verified with a kty %s%s key (kid %q)", alg, k.kty, jwksCrvSuffix(k.crv), k.kid)
	}
	return k, nil
}

// extFind returns the key a token's kid designates, or a reason.
func (s *jwksSet) extFind(kid string, hasKid bool) (*jwksKey, string) {
	if !hasKid {
		if len(s.keys) == 1 {
			return s.keys[0], ""
		}
		return nil, fmt.Sprintf(`header "kid" is required: the issuer publishes %d keys`, len(s.keys))
	}
	if k := s.byKid[kid]; k != nil {
		return k, ""
	}
	return nil, fmt.Sprintf("unknown kid %q", extClip(kid))
}

// currentKeys returns keys that may be used now, fetching them if they
// are missing or older than MaxAge.
func (e *External) currentKeys(ctx context.Context) (*extKeyState, error) {
	st := e.keys.Load()
	if e.jwksURL == "" {
		return st, nil // file keys never expire
	}
	now := e.now()
	if st != nil && now.Sub(st.fetched) < e.maxAge {
		return st, nil
	}
	// Missing or stale. With stale-but-usable keys, do not queue behind a
	// fetch another request is already doing.
	usable := st != nil && now.Sub(st.fetched) < 2*e.maxAge
	fresh, err := e.refresh(ctx, !usable)
	if fresh != nil && now.Sub(fresh.fetched) < 2*e.maxAge {
		return fresh, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: jwks for issuer %q is not available", ErrUnavailable, e.issuer)
	}
	return nil, err
}

// refresh refetches the JWKS unless a fetch was attempted less than
// MinRefresh ago, and returns the key state after that (possibly nil) and
// the error of the last attempt. With wait false it returns the current
// state at once if another fetch is in progress.
func (e *External) refresh(ctx context.Context, wait bool) (*extKeyState, error) {
	select {
	case e.fetchSem <- struct{}{}:
	default:
		if !wait {
			return e.keys.Load(), nil
		}
		select {
		case e.fetchSem <- struct{}{}:
		case <-ctx.Done():
			return e.keys.Load(), fmt.Errorf("%w: waiting for jwks fetch: %v", ErrUnavailable, ctx.Err())
		}
	}
	defer func() { <-e.fetchSem }()
	if !e.lastAttempt.IsZero() && e.now().Sub(e.lastAttempt) < e.minRefresh {
		return e.keys.Load(), e.lastErr
	}
	e.fetchLocked(ctx, true)
	return e.keys.Load(), e.lastErr
}

// fetchLocked fetches and installs the JWKS. The caller holds fetchSem.
// With detach, the fetch ignores ctx's cancellation: it serves every
// request waiting for it, so one caller giving up must not abort it.
func (e *External) fetchLocked(ctx context.Context, detach bool) {
	e.lastAttempt = e.now()
	if detach {
		ctx = context.WithoutCancel(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, extFetchTimeout)
	defer cancel()
	set, err := e.fetch(ctx)
	if err != nil {
		e.lastErr = err
		return
	}
	e.lastErr = nil
	e.keys.Store(&extKeyState{set: set, fetched: e.now()})
}

func (e *External) fetch(ctx context.Context) (*jwksSet, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: jwks fetch %s: %s", ErrUnavailable, e.jwksURL, fmt.Sprintf(format, args...))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.jwksURL, nil)
	if err != nil {
		return nil, fail("%v", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fail("%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fail("HTTP status %s", resp.Status)
	}
	data, err := jwksReadLimited(resp.Body)
	if err != nil {
		return nil, fail("%v", err)
	}
	set, err := jwksParse(data)
	if err != nil {
		return nil, fail("%v", err)
	}
	return set, nil
}

func extLoadFile(path string) (*jwksSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := jwksReadLimited(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	set, err := jwksParse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return set, nil
}

// extCheckURL accepts https URLs, and http URLs whose host is loopback.
func extCheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q must use https (plain http is only allowed for loopback hosts)", raw)
	default:
		return fmt.Errorf("%q must use https", raw)
	}
}

// identity checks the non-standard claims and builds the Identity. The
// registered claims (exp, nbf, iat, iss, aud) were validated by the parser,
// except that iat must be present.
func (e *External) identity(c jwt.MapClaims) (*Identity, error) {
	if _, ok := c["iat"]; !ok {
		return nil, extInvalid(`claim "iat" is required`)
	}
	sub, ok := c["sub"].(string)
	if !ok || sub == "" {
		return nil, extInvalid(`claim "sub" must be a non-empty string`)
	}
	id := &Identity{Issuer: e.issuer, Subject: sub}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}

	var err error
	if id.Username, err = extName(c, e.userClaim, "username"); err != nil {
		return nil, err
	}

	if e.emailClaim != "" {
		switch v := c[e.emailClaim].(type) {
		case nil: // absent or null
		case string:
			if utf8.RuneCountInString(v) > extMaxEmailLen || extHasControl(v) {
				return nil, extInvalid("email claim %q is longer than %d characters or contains control characters", e.emailClaim, extMaxEmailLen)
			}
			id.Email = v
		default:
			return nil, extInvalid("email claim %q must be a string", e.emailClaim)
		}
	}

	if e.groupsClaim != "" {
		id.Groups = []string{}
		switch v := c[e.groupsClaim].(type) {
		case nil: // absent or null: no groups
		case string:
			if err := extCheckGroup(e.groupsClaim, -1, v); err != nil {
				return nil, err
			}
			id.Groups = append(id.Groups, v)
		case []any:
			id.Groups = make([]string, 0, len(v))
			for i, g := range v {
				s, ok := g.(string)
				if !ok {
					return nil, extInvalid("groups claim %q[%d] must be a string", e.groupsClaim, i)
				}
				if err := extCheckGroup(e.groupsClaim, i, s); err != nil {
					return nil, err
				}
				id.Groups = append(id.Groups, s)
			}
		default:
			return nil, extInvalid("groups claim %q must be an array of strings", e.groupsClaim)
		}
	}
	return id, nil
}

func extName(c jwt.MapClaims, claim, what string) (string, error) {
	v, present := c[claim]
	if !present {
		return "", extInvalid("%s claim %q is missing", what, claim)
	}
	s, ok := v.(string)
	if !ok {
		return "", extInvalid("%s claim %q must be a string", what, claim)
	}
	if s == "" {
		return "", extInvalid("%s claim %q is empty", what, claim)
	}
	if utf8.RuneCountInString(s) > extMaxNameLen {
		return "", extInvalid("%s claim %q is longer than %d characters", what, claim, extMaxNameLen)
	}
	if extHasControl(s) {
		return "", extInvalid("%s claim %q contains control characters", what, claim)
	}
	return s, nil
}

func extCheckGroup(claim string, i int, s string) error {
	where := fmt.Sprintf("groups claim %q", claim)
	if i >= 0 {
		where = fmt.Sprintf("groups claim %q[%d]", claim, i)
	}
	switch {
	case s == "":
		return extInvalid("%s is empty", where)
	case utf8.RuneCountInString(s) > extMaxNameLen:
		return extInvalid("%s is longer than %d characters", where, extMaxNameLen)
	case extHasControl(s):
		return extInvalid("%s contains control characters", where)
	}
	return nil
}

func extHasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func extInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// extClip shortens attacker-controlled header values quoted in errors.
func extClip(s string) string {
	if len(s) <= 64 {
		return s
	}
	for i := 64; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return "..."
}

// extJWTError turns a golang-jwt error into an ErrInvalidToken with a fixed
// reason. Only fixed strings are used, never the library's message, so the
// token cannot leak into logs through a decoding error.
func extJWTError(err error) error {
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method") {
		// The parser's WithValidMethods check: the header alg is not allowed.
		return extInvalid("alg is not one of the allowed Algorithms")
	}
	var reasons []string
	for _, c := range []struct {
		target error
		reason string
	}{
		{jwt.ErrTokenMalformed, "malformed token"},
		{jwt.ErrTokenSignatureInvalid, "signature is invalid"},
		{jwt.ErrTokenUnverifiable, "token is unverifiable (unknown alg)"},
		{jwt.ErrTokenRequiredClaimMissing, "a required claim (exp, iss or aud) is missing"},
		{jwt.ErrTokenExpired, "token is expired"},
		{jwt.ErrTokenNotValidYet, "token is not valid yet (nbf)"},
		{jwt.ErrTokenUsedBeforeIssued, "token is issued in the future (iat)"},
		{jwt.ErrTokenInvalidIssuer, "issuer does not match"},
		{jwt.ErrTokenInvalidAudience, "audience is not allowed"},
		{jwt.ErrInvalidType, "a registered claim has the wrong type"},
	} {
		if errors.Is(err, c.target) {
			reasons = append(reasons, c.reason)
		}
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "token rejected")
	}
	return extInvalid("%s", strings.Join(reasons, "; "))
}

// TokenIssuer returns the unverified "iss" of a JWT, for routing a bearer
// token to the right verifier. It verifies nothing; callers must call
// Verify. It returns "" for anything that is not a JWT with a string iss.
func TokenIssuer(token string) string {
	if len(token) > extMaxTokenLen {
		return ""
	}
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") {
		return ""
	}
	data, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	// A map keeps the member name case-sensitive, as in Verify.
	var c map[string]json.RawMessage
	if json.Unmarshal(data, &c) != nil || c["iss"] == nil {
		return ""
	}
	var iss string
	if json.Unmarshal(c["iss"], &iss) != nil {
		return ""
	}
	return iss
}
