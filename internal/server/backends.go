package server

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/throttle"
	"github.com/djangate/gateway/internal/tokens"
)

// The backend chain (authentication.backends), Django's
// AUTHENTICATION_BACKENDS at the edge. identify asks each backend in
// order; the first that recognises credentials in the request decides:
//
//   - session: a session cookie naming a live session. A stale or
//     unknown cookie is not a credential (the browser just kept it), so
//     the next backend is asked.
//   - bearer: "Authorization: Bearer". A token that does not verify is a
//     401 with WWW-Authenticate: Bearer error="invalid_token".
//   - basic: "Authorization: Basic", checked against the user store like
//     a login (throttled). Wrong credentials, or Basic over plain HTTP
//     while authentication.basic.allow_insecure is off, are a 401 with
//     WWW-Authenticate: Basic.
//   - remote_user: the configured header from a peer in
//     authentication.remote_user.trusted_proxies. An unknown or inactive
//     user is a 401 (unless create_unknown_users).
//
// Identification never rejects by itself: a failure is recorded in the
// request state (identErr) and whoever decides (authorize, forward-auth,
// /me) answers it, so the 401 and 503 come from one place (errors.go).

// backend identifies a request from one kind of credentials. identify
// returns (nil, nil) when the request has none of its kind, a principal
// when they are good, an error wrapping errBadCredentials (401) when they
// are not, or another error (store unavailable: 503).
type backend interface {
	identify(r *http.Request, st *reqState) (*authn.Principal, error)
}

// errBadCredentials is the sentinel of credentialsError.
var errBadCredentials = errors.New("invalid credentials")

// credentialsError is credentials of a recognised scheme that do not
// identify an active user. challenge is the WWW-Authenticate value;
// reason is logged, never shown.
type credentialsError struct {
	challenge string
	reason    string
}

func (e *credentialsError) Error() string { return "invalid credentials: " + e.reason }
func (e *credentialsError) Unwrap() error { return errBadCredentials }

// identify runs the backend chain and attaches what it finds.
func (s *Server) identifyRequest(r *http.Request, st *reqState) {
	if s.metrics != nil {
		start := time.Now()
		defer func() {
			backend, outcome := "none", "anonymous"
			var ce *credentialsError
			switch {
			case errors.As(st.identErr, &ce):
				outcome = "invalid"
			case st.identErr != nil:
				outcome = "error"
			case st.principal.IsAuthenticated():
				backend, outcome = st.principal.Backend, "authenticated"
			}
			s.metrics.Authn(backend, outcome, time.Since(start))
		}()
	}
	st.principal = authn.Anonymous
	if len(s.consumedSchemes) > 0 && len(r.Header.Values("Authorization")) > 1 {
		// Which one would the app believe? Neither is taken.
		st.identErr = &credentialsError{reason: "more than one Authorization header"}
		r.Header.Del("Authorization")
		return
	}
	for _, b := range s.backends {
		p, err := b.identify(r, st)
		if err != nil {
			st.identErr = err
			var ce *credentialsError
			if errors.As(err, &ce) {
				s.log.Info("authentication failed", "request_id", st.id, "reason", ce.reason)
			}
			break
		}
		if p != nil {
			st.principal = p
			break
		}
	}
	// Credentials meant for the gateway never reach the app, whichever
	// backend decided: a Bearer or Basic header is dropped when its
	// backend is enabled (other schemes pass).
	for _, scheme := range s.consumedSchemes {
		if _, ok := authScheme(r, scheme); ok {
			r.Header.Del("Authorization")
		}
	}
}

// Users the bearer and remote_user backends provision: found by name,
// created just in time, groups synchronised from a token.
type provisioner interface {
	GetUserByUsername(ctx context.Context, username string) (*authn.User, error)
	CreateUser(ctx context.Context, u *authn.User, password string) (*authn.User, error)
	SetUserGroups(ctx context.Context, username string, groups []string) ([]string, error)
}

// sessionBackend identifies by the session cookie.
type sessionBackend struct{ s *Server }

func (b sessionBackend) identify(r *http.Request, st *reqState) (*authn.Principal, error) {
	s := b.s
	ck, err := r.Cookie(s.cfg.Session.CookieName)
	if err != nil || !sessionstore.ValidID(ck.Value) {
		return nil, nil
	}
	st.sessionID = ck.Value
	now, lt := time.Now(), s.lifetime()
	key, member := "", ""
	if s.principals != nil {
		member = sessionstore.Member(ck.Value)
		key = sessionKey(member)
		if cs, ok := s.cachedSession(key, now, lt); ok {
			st.session = cs.sess
			return cs.p, nil
		}
	}
	seq := s.principals.Begin()
	sess, p, err := s.sessions.Load(r.Context(), ck.Value, now, lt)
	switch {
	case errors.Is(err, sessionstore.ErrNotFound):
		return nil, nil
	case errors.Is(err, sessionstore.ErrCorrupt):
		// Never log the session id: it is a credential.
		s.log.Warn("ignoring corrupt session", "request_id", st.id)
		return nil, nil
	case err != nil:
		return nil, err
	}
	if !hmac.Equal([]byte(sess.AuthHash), []byte(s.authHash(p.User))) {
		// The user's password changed since this session began (Django's
		// session auth hash check): the session is dead.
		s.log.Info("session ended: the password changed since it began", "request_id", st.id, "username", p.User.Username)
		if err := s.sessions.Delete(r.Context(), ck.Value); err != nil {
			s.log.Warn("could not delete a session whose password changed", "request_id", st.id, "error", err)
		}
		return nil, nil
	}
	if !p.User.IsActive {
		// Django's ModelBackend.get_user: an inactive user's session is anonymous.
		return nil, nil
	}
	s.ready(p)
	st.session = sess
	if s.principals != nil {
		s.cacheSession(key, member, seq, sess, p, now, lt)
	}
	return p, nil
}

// authScheme splits an Authorization header into its scheme (compared
// case-insensitively, RFC 9110 11.1) and credentials.
func authScheme(r *http.Request, scheme string) (string, bool) {
	v := r.Header.Values("Authorization")
	if len(v) != 1 {
		return "", false
	}
	h := v[0]
	if strings.EqualFold(h, scheme) {
		return "", true // the scheme without credentials (trailing space trimmed on the way)
	}
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimLeft(h[len(scheme)+1:], " "), true
}

// bearerBackend identifies by a JWT in Authorization: Bearer: the
// gateway's own access tokens (tokens.enabled) or a third-party issuer's.
type bearerBackend struct {
	s         *Server
	own       *tokens.Issuer // nil when tokens are off
	ownIssuer string
	store     tokenStore
	external  map[string]*externalIssuer // by iss
}

// externalIssuer is a configured third-party issuer.
type externalIssuer struct {
	verify interface {
		Verify(ctx context.Context, token string) (*tokens.Identity, error)
	}
	cfg config.BearerIssuer
}

const bearerChallenge = `Bearer error="invalid_token"`

func badToken(reason string) error {
	return &credentialsError{challenge: bearerChallenge, reason: "bearer: " + reason}
}

func (b *bearerBackend) identify(r *http.Request, st *reqState) (*authn.Principal, error) {
	tok, ok := authScheme(r, "Bearer")
	if !ok {
		return nil, nil
	}
	// The token is the gateway's business: the app never sees it.
	r.Header.Del("Authorization")
	if tok == "" {
		return nil, badToken("empty token")
	}
	iss := tokens.TokenIssuer(tok)
	if b.own != nil && iss == b.ownIssuer {
		return b.identifyOwn(r, st, tok)
	}
	ext := b.external[iss]
	if ext == nil {
		return nil, badToken("unknown issuer")
	}
	return b.identifyExternal(r, ext, tok)
}

func (b *bearerBackend) identifyOwn(r *http.Request, st *reqState, tok string) (*authn.Principal, error) {
	now, key := time.Now(), ""
	if b.s.principals != nil {
		key = tokenKey(tok)
		if ct, ok := b.s.cachedBearer(key, now); ok {
			st.tokenFamily = ct.family
			return ct.p, nil
		}
	}
	seq := b.s.principals.Begin()
	c, err := b.own.VerifyAccess(tok)
	if err != nil {
		return nil, badToken(err.Error())
	}
	uid := c.UserID()
	if uid <= 0 {
		return nil, badToken("bad subject")
	}
	p, err := b.store.LoadAccess(r.Context(), uid, c.ID, c.Family, config.BackendBearer)
	switch {
	case errors.Is(err, tokens.ErrInvalidToken), errors.Is(err, authn.ErrUserNotFound):
		return nil, badToken(err.Error())
	case err != nil:
		return nil, err
	}
	if !p.User.IsActive || !hmac.Equal([]byte(c.AuthBind), []byte(b.s.tokenBinding(p.User))) {
		// Deactivated, or the password changed since the token was issued:
		// the whole family (refresh token included) is dead for good.
		if err := b.store.RevokeFamily(r.Context(), c.Family); err != nil {
			b.s.log.Warn("could not revoke a token family", "request_id", st.id, "error", err)
		}
		return nil, badToken("user inactive or credentials changed")
	}
	st.tokenFamily = c.Family
	b.s.ready(p)
	if c.ExpiresAt != nil {
		b.s.cacheBearer(key, seq, &cachedToken{p: p, exp: c.ExpiresAt.Time, family: c.Family}, now, "f "+c.Family, "j "+c.ID)
	}
	return p, nil
}

func (b *bearerBackend) identifyExternal(r *http.Request, ext *externalIssuer, tok string) (*authn.Principal, error) {
	ctx := r.Context()
	now, key := time.Now(), ""
	if b.s.principals != nil {
		// The IdP's token is what it is until it expires: verified,
		// its user provisioned and its groups synchronised once.
		key = tokenKey(tok)
		if ct, ok := b.s.cachedBearer(key, now); ok {
			return ct.p, nil
		}
	}
	seq := b.s.principals.Begin()
	id, err := ext.verify.Verify(ctx, tok)
	switch {
	case errors.Is(err, tokens.ErrUnavailable):
		return nil, err
	case err != nil:
		return nil, badToken(err.Error())
	}
	var groups []string
	if ext.cfg.SyncGroups {
		groups = id.Groups
		if groups == nil {
			groups = []string{}
		}
	}
	p, err := b.s.provisionedPrincipal(ctx, id.Username, id.Email, ext.cfg.CreateUsers, groups, config.BackendBearer, bearerChallenge)
	if err == nil && b.s.principals != nil {
		b.s.cacheBearer(key, seq, &cachedToken{p: p, exp: id.ExpiresAt}, now)
	}
	return p, err
}

// provisionedPrincipal loads the principal of a user named by a trusted
// party (an identity provider's token, a fronting SSO), creating the user
// first when create is set, and making its memberships equal groups when
// groups is non-nil. An unknown (with !create) or inactive user is a 401.
func (s *Server) provisionedPrincipal(ctx context.Context, username, email string, create bool, groups []string, backend, challenge string) (*authn.Principal, error) {
	bad := func(reason string) error {
		return &credentialsError{challenge: challenge, reason: backend + ": " + reason}
	}
	pv, ok := s.users.(provisioner)
	if !ok {
		return nil, errors.New("server: the user store cannot look users up by name")
	}
	username = authn.NormalizeUsername(username)
	u, err := pv.GetUserByUsername(ctx, username)
	switch {
	case errors.Is(err, authn.ErrUserNotFound) && create:
		u, err = pv.CreateUser(ctx, &authn.User{Username: username, Email: email, IsActive: true, Password: authn.UnusablePassword()}, "")
		if errors.Is(err, authn.ErrUserExists) { // created meanwhile by another request
			u, err = pv.GetUserByUsername(ctx, username)
		}
		if err == nil {
			s.log.Info("created a user named by "+backend, "username", username)
			s.audit.Record(ctx, audit.Event{
				Name: audit.UserCreated, Username: u.Username, UserID: u.ID,
				Source: audit.SourceServer, Fields: map[string]string{"backend": backend},
			})
		}
	case errors.Is(err, authn.ErrUserNotFound):
		return nil, bad("unknown user")
	}
	if errors.Is(err, authn.ErrInvalidUsername) {
		return nil, bad("invalid username")
	}
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, bad("inactive user")
	}
	if groups != nil {
		if _, err := pv.SetUserGroups(ctx, u.Username, groups); err != nil {
			return nil, err
		}
	}
	p, err := s.users.LoadPrincipal(ctx, u.ID, backend)
	return s.ready(p), err
}

// basicBackend identifies by HTTP Basic credentials.
type basicBackend struct{ s *Server }

func (b basicBackend) challenge() string {
	return `Basic realm="` + b.s.cfg.Authentication.Basic.Realm + `", charset="UTF-8"`
}

func (b basicBackend) identify(r *http.Request, st *reqState) (*authn.Principal, error) {
	s := b.s
	cred, ok := authScheme(r, "Basic")
	if !ok {
		return nil, nil
	}
	r.Header.Del("Authorization")
	bad := func(reason string) error {
		return &credentialsError{challenge: b.challenge(), reason: "basic: " + reason}
	}
	if !st.secure && !s.cfg.Authentication.Basic.AllowInsecure {
		return nil, bad("Basic over plain HTTP is refused (authentication.basic.allow_insecure is off)")
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return nil, bad("malformed credentials")
	}
	username, password, ok := strings.Cut(string(raw), ":")
	if !ok || username == "" || password == "" || len(username) > 150 {
		return nil, bad("malformed credentials")
	}
	now := time.Now()
	if uid, hash, ok := s.basicCache.get(username, password, now); ok {
		p, err := s.users.LoadPrincipal(r.Context(), uid, config.BackendBasic)
		switch {
		case err == nil && p.User.IsActive && sameHash(p.User.Password, hash):
			return s.ready(p), nil
		case err == nil, errors.Is(err, authn.ErrUserNotFound):
			// The password changed (or was re-hashed), the user was
			// deactivated or deleted: check the credentials from scratch.
			s.basicCache.forget(username, password)
		default:
			return nil, err
		}
	}
	u, err := s.checkPassword(r, st, username, password, b.challenge())
	if err != nil {
		return nil, err
	}
	p, err := s.users.LoadPrincipal(r.Context(), u.ID, config.BackendBasic)
	if err != nil {
		return nil, err
	}
	s.basicCache.put(username, password, p.User.ID, p.User.Password, now)
	return s.ready(p), nil
}

// remoteUserBackend identifies by the header a trusted fronting SSO sets
// (captured by captureRemoteUser before sanitize removes it).
type remoteUserBackend struct{ s *Server }

func (b remoteUserBackend) identify(r *http.Request, st *reqState) (*authn.Principal, error) {
	if st.remoteUserBad {
		return nil, &credentialsError{reason: "remote_user: the header must be sent once and not be empty"}
	}
	if st.remoteUser == "" {
		return nil, nil
	}
	ru := b.s.cfg.Authentication.RemoteUser
	// No challenge a client could answer: the SSO in front owns the login.
	return b.s.provisionedPrincipal(r.Context(), st.remoteUser, "", ru.CreateUnknownUsers, nil, config.BackendRemoteUser, "")
}

// captureRemoteUser takes the remote_user header off every request
// (before sanitize, so no app ever receives it) and keeps its value when
// the connection's peer is a proxy trusted to set it.
func (s *Server) captureRemoteUser(next http.Handler) http.Handler {
	if !s.cfg.Authentication.Uses(config.BackendRemoteUser) {
		return next
	}
	name := s.cfg.Authentication.RemoteUser.Header
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Values(name)
		if len(v) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		r.Header.Del(name)
		st := state(r)
		a, err := netip.ParseAddr(peerIP(r))
		switch {
		case err != nil || !s.remoteUserProxies.trusts(a):
			s.log.Warn("ignoring the remote_user header from a peer not in authentication.remote_user.trusted_proxies", "request_id", st.id, "peer", peerIP(r))
		case len(v) != 1 || strings.TrimSpace(v[0]) == "":
			st.remoteUserBad = true
		default:
			st.remoteUser = strings.TrimSpace(v[0])
		}
		next.ServeHTTP(w, r)
	})
}

// checkPassword checks a username and password presented with a request
// (Basic), throttled exactly like a login: a locked username or address
// is refused before the hasher runs (429, st.retryAfter set), a wrong
// password counts as a failed login and is a 401 with challenge.
func (s *Server) checkPassword(r *http.Request, st *reqState, username, password, challenge string) (*authn.User, error) {
	ctx := r.Context()
	var att *throttle.Attempt
	if s.throttle != nil {
		a, d, err := s.throttle.Begin(ctx, username, clientIP(r))
		if errors.Is(err, throttle.ErrLocked) {
			st.retryAfter = d.RetryAfter
			s.record(r, audit.LoginFailed, username, 0, map[string]string{"reason": "locked_out", "backend": config.BackendBasic})
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		att = a
	}
	u, err := s.users.Authenticate(ctx, username, password)
	if errors.Is(err, authn.ErrInvalidCredentials) {
		if d, ferr := att.Failed(ctx); ferr == nil && d.Locked {
			st.retryAfter = d.RetryAfter
		}
		s.record(r, audit.LoginFailed, username, 0, map[string]string{"reason": "invalid_credentials", "backend": config.BackendBasic})
		return nil, &credentialsError{challenge: challenge, reason: "basic: wrong username or password"}
	}
	if err != nil {
		_ = att.Abandon(ctx)
		return nil, err
	}
	if err := att.Succeeded(ctx); err != nil {
		s.log.Warn("login throttle: could not reset the failure count", "request_id", st.id, "error", err)
	}
	return u, nil
}
