package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/proxy"
	"github.com/djangate/gateway/internal/tokens"
)

// Tokens the gateway issues to API clients, OAuth 2.0 style without the
// ceremony:
//
//	POST {prefix}/token          {username, password}  → access + refresh token
//	POST {prefix}/token/refresh  {refresh_token}       → new access + rotated refresh token
//	POST {prefix}/token/revoke   {token}               → 200 (RFC 7009: also for unknown tokens)
//	GET  {prefix}/.well-known/jwks.json                → the public keys
//
// Bodies are JSON or a urlencoded form. No CSRF token is asked: these
// endpoints neither read nor set cookies, and a cross-site page cannot
// read their answers. /token is throttled exactly like the login form.

// TokenStore keeps refresh-token families and revocations (tokens.Store).
type TokenStore interface {
	IssueRefresh(ctx context.Context, userID int64, authBind string, ttl time.Duration) (token, family string, err error)
	Rotate(ctx context.Context, token string, ttl time.Duration) (tokens.Rotation, error)
	RevokeRefresh(ctx context.Context, token string) error
	RevokeFamily(ctx context.Context, family string) error
	RevokeAccess(ctx context.Context, jti string, exp time.Time) error
	LoadAccess(ctx context.Context, userID int64, jti, family, backend string) (*authn.Principal, error)
}

// tokenStore is the part of TokenStore the bearer backend needs.
type tokenStore interface {
	LoadAccess(ctx context.Context, userID int64, jti, family, backend string) (*authn.Principal, error)
	RevokeFamily(ctx context.Context, family string) error
}

// Audit events of the token endpoints.
const (
	auditTokenIssued  = "token_issued"
	auditTokenReused  = "refresh_token_reused"
	auditTokenRevoked = "token_revoked"
)

// setupBackends builds the backend chain in configured order and checks
// that what each needs was given.
func (s *Server) setupBackends(o Options) error {
	cfg := o.Config
	s.keys, s.issuer, s.tokens = o.Keys, o.Issuer, o.TokenStore
	s.tokenKey = tokenBindingKey(cfg.SecretKey)
	if (cfg.Tokens.Enabled || cfg.UpstreamAssertion.Enabled) && (o.Issuer == nil || o.Keys == nil) {
		return errors.New("server: tokens.enabled and upstream_assertion.enabled need Options.Issuer and Options.Keys")
	}
	if cfg.Tokens.Enabled && o.TokenStore == nil {
		return errors.New("server: tokens.enabled needs Options.TokenStore")
	}
	p, err := parseTrustedProxies(cfg.Authentication.RemoteUser.TrustedProxies)
	if err != nil {
		return fmt.Errorf("server: authentication.remote_user.trusted_proxies: %w", err)
	}
	s.remoteUserProxies = p
	for _, name := range cfg.Authentication.Backends {
		switch name {
		case config.BackendSession:
			s.backends = append(s.backends, sessionBackend{s})
		case config.BackendBasic:
			s.backends = append(s.backends, basicBackend{s})
			s.basicCache = newBasicCache(basicCacheTTL, basicCacheMax)
			s.challenges = append(s.challenges, basicBackend{s}.challenge())
			s.consumedSchemes = append(s.consumedSchemes, "Basic")
		case config.BackendRemoteUser:
			s.backends = append(s.backends, remoteUserBackend{s})
		case config.BackendBearer:
			b := &bearerBackend{s: s, external: map[string]*externalIssuer{}}
			if cfg.Tokens.Enabled {
				b.own, b.ownIssuer, b.store = o.Issuer, cfg.Tokens.Issuer, o.TokenStore
			}
			for i, ic := range cfg.Authentication.Bearer.Issuers {
				var v *tokens.External
				for _, e := range o.Externals {
					if e != nil && e.Issuer() == ic.Issuer {
						v = e
					}
				}
				if v == nil {
					return fmt.Errorf("server: authentication.bearer.issuers[%d]: no verifier for issuer %q in Options.Externals", i, ic.Issuer)
				}
				b.external[ic.Issuer] = &externalIssuer{verify: v, cfg: ic}
			}
			s.backends = append(s.backends, b)
			s.challenges = append(s.challenges, `Bearer realm="`+cfg.Authentication.Basic.Realm+`"`)
			s.consumedSchemes = append(s.consumedSchemes, "Bearer")
		default:
			return fmt.Errorf("server: authentication.backends: unknown backend %q", name)
		}
	}
	return nil
}

// tokenBindingKey derives the key of the token binding from secret_key,
// apart from every other use of the secret.
func tokenBindingKey(secretKey string) []byte {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("gateway token binding key v1"))
	return m.Sum(nil)
}

// tokenBinding binds a token to u's current credentials: a password
// change (new auth secret) invalidates every token issued before.
func (s *Server) tokenBinding(u *authn.User) string {
	return tokens.AuthBinding(s.tokenKey, u.ID, u.AuthSecret)
}

// identity is what the upstream (or, in forward-auth mode, the fronting
// proxy) receives about the request's user, with the signed assertion
// when upstream_assertion is on. nil for anonymous requests.
func (s *Server) identity(st *reqState, upstream string) (*proxy.Identity, error) {
	p := st.principal
	if !p.IsAuthenticated() {
		return nil, nil
	}
	id := &proxy.Identity{Username: p.User.Username, Email: p.User.Email, Groups: p.Groups, Profile: p.Profile}
	if s.cfg.UpstreamAssertion.Enabled {
		a := tokens.Assertion{
			UserID: p.User.ID, Username: p.User.Username, Email: p.User.Email, Groups: p.Groups,
			IsStaff: p.User.IsStaff, IsSuperuser: p.User.IsSuperuser, Backend: p.Backend, Audience: upstream,
			Profile: p.Profile,
		}
		if st.session != nil && st.sessionID != "" {
			sum := sha256.Sum256([]byte(st.sessionID))
			a.SessionHash = hex.EncodeToString(sum[:])
		}
		tok, err := s.issuer.Assert(a, s.cfg.UpstreamAssertion.TTL)
		if err != nil {
			return nil, fmt.Errorf("%w: sign the upstream assertion: %w", errInternal, err)
		}
		id.Assertion = tok
	}
	return id, nil
}

// jwks serves the public signing keys, for upstreams verifying the
// assertion and clients verifying access tokens.
func (s *Server) jwks(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(s.keys.JWKS())
}

// maxTokenBody bounds a token endpoint's request body.
const maxTokenBody = 16 << 10

// readTokenRequest decodes a JSON object or a urlencoded form of string
// fields into a map.
func readTokenRequest(c *gin.Context) (map[string]string, error) {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxTokenBody)
	out := map[string]string{}
	if isJSON(r) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil && !errors.Is(err, io.EOF) {
			return nil, errors.Join(errBadRequest, err)
		}
		for k, v := range m {
			if str, ok := v.(string); ok {
				out[k] = str
			}
		}
		return out, nil
	}
	mt := r.Header.Get("Content-Type")
	if !hasMediaType(mt, "application/x-www-form-urlencoded") {
		return nil, errUnsupportedMedia
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errors.Join(errBadRequest, err)
	}
	f, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errors.Join(errBadRequest, err)
	}
	for k := range f {
		out[k] = f.Get(k)
	}
	return out, nil
}

// readGrant reads a token request whose grant_type, when given, must be
// grant; ok is false when the request has been answered.
func (s *Server) readGrant(c *gin.Context, grant, hint string) (map[string]string, bool) {
	f, err := readTokenRequest(c)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	if gt := f["grant_type"]; gt != "" && gt != grant {
		tokenError(c, http.StatusBadRequest, "unsupported_grant_type", hint)
		return nil, false
	}
	return f, true
}

// tokenResponse is the answer of /token and /token/refresh (RFC 6749 5.1).
func (s *Server) tokenResponse(c *gin.Context, access, refresh string) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	writeJSON(c.Writer, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer",
		"expires_in":         int64(s.cfg.Tokens.AccessTTL / time.Second),
		"refresh_token":      refresh,
		"refresh_expires_in": int64(s.cfg.Tokens.RefreshTTL / time.Second),
	})
}

// tokenError answers a refused token request with an RFC 6749 5.2 error.
func tokenError(c *gin.Context, status int, code, message string) {
	c.Header("Cache-Control", "no-store")
	writeJSON(c.Writer, status, map[string]any{"error": code, "error_description": message, "request_id": state(c.Request).id})
	c.Abort()
}

// token exchanges a username and password for tokens, throttled like a
// login.
func (s *Server) token(c *gin.Context) {
	r := c.Request
	f, ok := s.readGrant(c, "password", "Use grant_type=password here and /token/refresh to refresh.")
	if !ok {
		return
	}
	req := loginRequest{Username: f["username"], Password: f["password"]}
	att, ok := s.beginLogin(c, req.Username)
	if !ok {
		return
	}
	user, err := s.authenticate(c, req)
	if errors.Is(err, authn.ErrInvalidCredentials) {
		if s.loginFailed(c, att, req.Username) {
			return
		}
		defer s.recordLoginFailed(c, req.Username, "invalid_credentials")
		tokenError(c, http.StatusUnauthorized, "invalid_grant", invalidLogin)
		return
	}
	if err != nil {
		s.abandonLogin(c, att)
		s.fail(c, err)
		return
	}
	s.loginSucceeded(c, att)
	bind := s.tokenBinding(user)
	refresh, fam, err := s.tokens.IssueRefresh(r.Context(), user.ID, bind, s.cfg.Tokens.RefreshTTL)
	if err != nil {
		s.fail(c, err)
		return
	}
	access, _, err := s.issuer.Access(user.ID, user.Username, fam, bind)
	if err != nil {
		s.fail(c, fmt.Errorf("%w: sign an access token: %w", errInternal, err))
		return
	}
	if err := s.users.UpdateLastLogin(r.Context(), user.ID, time.Now().UTC()); err != nil {
		s.log.Warn("could not record last_login", "request_id", state(r).id, "username", user.Username, "error", err)
	}
	s.record(r, auditTokenIssued, user.Username, user.ID, nil)
	s.tokenResponse(c, access, refresh)
}

// tokenRefresh rotates a refresh token. Presenting one already used
// revokes its whole family (someone else has a copy); a user deactivated
// or whose password changed since gets nothing, and the family is revoked.
func (s *Server) tokenRefresh(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	f, ok := s.readGrant(c, "refresh_token", "Use grant_type=refresh_token here.")
	if !ok {
		return
	}
	rt := f["refresh_token"]
	rot, err := s.tokens.Rotate(ctx, rt, s.cfg.Tokens.RefreshTTL)
	switch {
	case errors.Is(err, tokens.ErrReused):
		s.log.Warn("refresh token reused: its family is revoked", "request_id", state(r).id)
		s.record(r, auditTokenReused, "", rot.UserID, map[string]string{"family": rot.Family})
		tokenError(c, http.StatusUnauthorized, "invalid_grant", "The refresh token is invalid.")
		return
	case errors.Is(err, tokens.ErrInvalidToken):
		tokenError(c, http.StatusUnauthorized, "invalid_grant", "The refresh token is invalid.")
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	p, err := s.users.LoadPrincipal(ctx, rot.UserID, config.BackendBearer)
	if err != nil && !errors.Is(err, authn.ErrUserNotFound) {
		s.fail(c, err)
		return
	}
	if err != nil || !p.User.IsActive || !hmac.Equal([]byte(rot.AuthBind), []byte(s.tokenBinding(p.User))) {
		if err := s.tokens.RevokeFamily(ctx, rot.Family); err != nil {
			s.log.Warn("could not revoke a token family", "request_id", state(r).id, "error", err)
		}
		tokenError(c, http.StatusUnauthorized, "invalid_grant", "The refresh token is invalid.")
		return
	}
	access, _, err := s.issuer.Access(p.User.ID, p.User.Username, rot.Family, rot.AuthBind)
	if err != nil {
		s.fail(c, fmt.Errorf("%w: sign an access token: %w", errInternal, err))
		return
	}
	s.tokenResponse(c, access, rot.Token)
}

// tokenRevoke revokes a refresh token (its family: every token of that
// /token login) or an access token (by jti, until it expires). Unknown and
// invalid tokens are answered 200 too (RFC 7009 2.2).
func (s *Server) tokenRevoke(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	f, err := readTokenRequest(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	tok := f["token"]
	if tok == "" {
		tokenError(c, http.StatusBadRequest, "invalid_request", "Send the token to revoke in \"token\".")
		return
	}
	kind := ""
	if strings.HasPrefix(tok, "rt1.") {
		if err := s.tokens.RevokeRefresh(ctx, tok); err != nil && !errors.Is(err, tokens.ErrInvalidToken) {
			s.fail(c, err)
			return
		}
		kind = "refresh"
	} else if cl, err := s.issuer.VerifyAccess(tok); err == nil {
		if err := s.tokens.RevokeAccess(ctx, cl.ID, cl.ExpiresAt.Time); err != nil {
			s.fail(c, err)
			return
		}
		s.principals.Invalidate("j " + cl.ID) // here at once; elsewhere on the announcement
		kind = "access"
		s.record(r, auditTokenRevoked, cl.Username, cl.UserID(), map[string]string{"kind": kind})
	}
	if kind == "refresh" {
		s.record(r, auditTokenRevoked, "", 0, map[string]string{"kind": kind})
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c.Writer, http.StatusOK, map[string]any{"revoked": kind != ""})
}
