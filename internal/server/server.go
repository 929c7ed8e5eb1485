// Package server composes the gateway: its own endpoints (login, logout,
// me) served by gin, and for every other request the chain
// canonicalize → identify → authorize → forward.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/http2"
	"golang.org/x/net/netutil"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/canonical"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/framing"
	"github.com/djangate/gateway/internal/principalcache"
	"github.com/djangate/gateway/internal/profile"
	"github.com/djangate/gateway/internal/proxy"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/tokens"
)

// Users is what the server needs from the identity store.
type Users interface {
	Authenticate(ctx context.Context, username, password string) (*authn.User, error)
	LoadPrincipal(ctx context.Context, userID int64, backend string) (*authn.Principal, error)
	UpdateLastLogin(ctx context.Context, userID int64, t time.Time) error
	// ChangePassword sets a new password for u if its stored hash still
	// is u.Password, replaces its auth secret and ends all its sessions.
	ChangePassword(ctx context.Context, u *authn.User, newPassword string) (*authn.User, error)
}

// Sessions is what the server needs from the session store.
type Sessions interface {
	Create(ctx context.Context, s *sessionstore.Session, lt sessionstore.Lifetime) (string, error)
	// Load reads the session and its user's principal in one round trip,
	// writing back the last activity when lt.Refresh has passed.
	Load(ctx context.Context, id string, now time.Time, lt sessionstore.Lifetime) (*sessionstore.Session, *authn.Principal, error)
	Delete(ctx context.Context, id string) error
}

// Decider evaluates the authorization policy.
type Decider interface {
	Decide(ctx context.Context, in *authz.Input) (authz.Decision, error)
}

// Options wires a Server.
type Options struct {
	Config   *config.Config
	Users    Users
	Sessions Sessions
	Policy   Decider
	Logger   *slog.Logger
	// SiteName is shown on the gateway's pages.
	SiteName string
	// DecisionLog receives the decision log (one JSON line per policy
	// decision) when Config.DecisionLog.Enabled; required then.
	DecisionLog io.Writer
	// PolicyStatus gives {prefix}/healthz the policy revision and the
	// outcome of the last reload (the authz.Engine); nil leaves the
	// "policy" part out.
	PolicyStatus PolicyStatus
	// Redis is pinged by {prefix}/healthz, which answers 503 when it does
	// not answer; nil leaves the "redis" part out (and the check).
	Redis RedisPinger
	// Throttle limits login attempts (throttle.Limiter); required when
	// Config.Throttle is on.
	Throttle Throttle
	// Audit records the audit events (audit.Auditor); nil records none.
	Audit audit.Recorder
	// Keys are the signing keys (tokens.keys), served at
	// {prefix}/.well-known/jwks.json; required with Issuer.
	Keys *tokens.KeySet
	// Issuer signs the gateway's access tokens and upstream assertions;
	// required when tokens.enabled or upstream_assertion.enabled.
	Issuer *tokens.Issuer
	// TokenStore keeps refresh tokens and revocations (tokens.Store);
	// required when tokens.enabled.
	TokenStore TokenStore
	// Externals verify the tokens of authentication.bearer.issuers, one
	// per entry, matched by issuer.
	Externals []*tokens.External
	// Metrics records requests, decisions and logins (metrics.Metrics)
	// and serves /metrics on the operations listener; nil records none.
	Metrics Metrics
	// Principals caches what session cookies and access tokens resolve
	// to (principalcache.Cache, kept in step by its Listen); nil caches
	// nothing.
	Principals *principalcache.Cache
}

// Server is the gateway's HTTP handler.
type Server struct {
	cfg      *config.Config
	users    Users
	sessions Sessions
	policy   Decider
	dlog     *decisionLog // nil when disabled
	revision revisioner   // nil when the Decider cannot name its revision
	proxy    *proxy.Proxy
	log      *slog.Logger
	csrf     *csrf
	pages    map[string]*template.Template
	siteName string
	prefix   string

	// authKey keys the session auth hashes (authn.SessionAuthKey), and
	// validators check new passwords (password_validators).
	authKey    []byte
	validators *authn.Validators

	// policyStatus and redisPing feed /healthz; nil when not given.
	policyStatus PolicyStatus
	redisPing    RedisPinger

	// throttle is nil when login throttling is off; audit is never nil;
	// proxies decide the client's address (clientip.go).
	throttle Throttle
	audit    audit.Recorder
	proxies  trustedProxies

	// backends is the authentication chain in configured order;
	// remoteUserProxies may set the remote_user header.
	backends          []backend
	remoteUserProxies trustedProxies
	// keys, issuer and tokens are nil unless configured; tokenKey keys
	// the token binding (tokens.AuthBinding).
	keys     *tokens.KeySet
	issuer   *tokens.Issuer
	tokens   TokenStore
	tokenKey []byte
	// challenges are the WWW-Authenticate values of a 401 to a request
	// that brought no credentials: one per backend a client can answer.
	challenges []string
	// consumedSchemes are the Authorization schemes the enabled backends
	// read ("Bearer", "Basic"): such headers are never forwarded.
	consumedSchemes []string
	// basicCache spares Basic clients a password hash per request.
	basicCache *basicCache
	// hosts is server.hosts (empty: any host).
	hosts hostAllowlist
	// metrics records requests, decisions, logins...; nil records none.
	metrics Metrics
	// principals caches sessions' and access tokens' principals; nil
	// caches nothing (principals.go).
	principals *principalcache.Cache
	// profile is the declared profile fields (profile_fields).
	profile *profile.Schema
}

// CSRFCookieName is the cookie holding the CSRF token. Like the session
// cookie it is never forwarded upstream.
const CSRFCookieName = "gateway_csrftoken"

// New builds a Server and its proxy from the configuration.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Users == nil || o.Sessions == nil || o.Policy == nil {
		return nil, errors.New("server: Config, Users, Sessions and Policy are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: o.Config, users: o.Users, sessions: o.Sessions, policy: o.Policy, log: log,
		siteName: o.SiteName, prefix: o.Config.Prefix,
		policyStatus: o.PolicyStatus, redisPing: o.Redis,
		csrf:    newCSRF(o.Config.SecretKey, CSRFCookieName, o.Config.Session.SessionSecure(), o.Config.Session.Domain),
		authKey: authn.SessionAuthKey(o.Config.SecretKey),
		hosts:   hostAllowlist(o.Config.Server.Hosts),
		metrics: o.Metrics,

		principals: o.Principals,
	}
	if o.Principals != nil {
		s.sessions = cachedSessions{Sessions: o.Sessions, cache: o.Principals}
	}
	if s.siteName == "" {
		s.siteName = "Gateway"
	}
	profiles, err := o.Config.ProfileSchema()
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.profile = profiles
	if err := s.loginGuards(o); err != nil {
		return nil, err
	}
	if err := s.setupBackends(o); err != nil {
		return nil, err
	}
	dlog, err := newDecisionLog(o.Config.DecisionLog, o.DecisionLog)
	if err != nil {
		return nil, err
	}
	s.dlog = dlog
	s.revision, _ = o.Policy.(revisioner)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	if pages["password_change"], err = parsePasswordChangePage(); err != nil {
		return nil, err
	}
	if pages["signup"], err = parseSignupPage(); err != nil {
		return nil, err
	}
	if s.validators, err = authn.NewValidators(o.Config.PasswordValidators); err != nil {
		return nil, fmt.Errorf("server: password_validators: %w", err)
	}
	popts := proxy.Options{Logger: log, ErrorHandler: s.proxyError}
	if s.metrics != nil {
		popts.Observe = s.metrics.Upstream
	}
	// The remote_user header is never forwarded, whether or not that
	// backend is on: only the gateway names users to apps.
	// Nor is a client's assertion header, whether or not the gateway signs
	// one: an app verifying it must only ever see the gateway's.
	popts.StripHeaders = []string{o.Config.Authentication.RemoteUser.Header, o.Config.UpstreamAssertion.Header}
	if o.Config.UpstreamAssertion.Enabled {
		popts.AssertionHeader = o.Config.UpstreamAssertion.Header
	}
	for _, f := range profiles.Fields() {
		if f.Header != "" {
			popts.ProfileHeaders = append(popts.ProfileHeaders, proxy.ProfileHeader{Field: f.Name, Header: f.Header})
		}
	}
	s.proxy, err = proxy.New(o.Config.Upstreams, o.Config.IdentityHeaders,
		[]string{o.Config.Session.CookieName, CSRFCookieName}, popts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return s, nil
}

// Handler returns the gateway, its middleware listed in request order.
func (s *Server) Handler() http.Handler {
	return chain(s.routes(),
		s.requestID,          // every response and upstream request carries X-Request-Id (a trusted proxy's, or new)
		s.accessLog,          // one line per request once answered; request metrics
		s.recoverPanics,      // a panic anywhere becomes a logged 500, never a forwarded request
		s.checkHost,          // a Host not in server.hosts is refused before anything reads it
		s.forwardAuthCapture, // {prefix}/auth: the peer and original-request headers, before clientAddr and sanitize
		s.captureRemoteUser,  // the remote_user header, kept only from its trusted proxies (the real peer, before clientAddr) and never forwarded
		s.clientAddr,         // the client's address and scheme, decided once (before sanitize drops X-Forwarded-*)
		s.canonicalize,       // one canonical path for routing, policy and upstream, or 400
		s.sanitize,           // forged identity and forwarding headers removed before anyone reads them
		s.edgeRules,          // body size limit, only WebSocket upgrades, method overrides removed (or honoured)
	)
}

// routes serves the gateway's own endpoints under the prefix; every other
// request is identified, authorized and forwarded.
func (s *Server) routes() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	g := gin.New()
	g.RedirectTrailingSlash = false
	g.RedirectFixedPath = false
	g.HandleMethodNotAllowed = true
	g.ContextWithFallback = true

	// Health needs no identity and never asks the policy.
	g.Match([]string{http.MethodGet, http.MethodHead}, s.prefix+"/healthz", s.securityHeaders, s.healthz)
	own := g.Group(s.prefix, s.securityHeaders, s.identify)
	own.GET("/login", s.loginPage)
	own.POST("/login", s.login)
	own.GET("/logout", s.logoutPage)
	own.POST("/logout", s.logout)
	own.GET("/me", s.me)
	own.Match(forwardAuthMethods, "/auth", s.forwardAuth) // forward-auth mode (forwardauth.go)
	own.GET("/password_change", s.passwordChangePage)
	own.POST("/password_change", s.passwordChange)
	if s.cfg.Signup.Enabled {
		own.GET("/signup", s.signupPage)
		own.POST("/signup", s.signup)
	}
	own.GET("/static/gateway.css", s.stylesheet)
	if s.keys != nil {
		own.GET("/.well-known/jwks.json", s.jwks)
	}
	if s.cfg.Tokens.Enabled {
		own.POST("/token", s.token)
		own.POST("/token/refresh", s.tokenRefresh)
		own.POST("/token/revoke", s.tokenRevoke)
	}

	g.NoMethod(s.securityHeaders, func(c *gin.Context) { s.fail(c, errMethodNotAllowed) })
	g.NoRoute(s.ownPathNotFound, s.identify, s.authorize, s.forward)
	return g
}

// chain applies middleware so that the first listed runs first.
func chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// reqState is the request-scoped state the chain builds up.
type reqState struct {
	id        string
	path      string                // canonical, percent-encoded
	sessionID string                // the client's session cookie, when well-formed
	clientIP  string                // the client's address (clientAddr)
	session   *sessionstore.Session // the live session behind principal, if any
	principal *authn.Principal
	identErr  error // bad credentials (credentialsError) or the store is down
	upstream  *proxy.Upstream

	secure        bool          // TLS to the gateway, or X-Forwarded-Proto: https from a trusted proxy
	remoteUser    string        // the remote_user header from a trusted proxy
	remoteUserBad bool          // that header was sent twice or empty
	tokenFamily   string        // the refresh-token family of a gateway access token
	retryAfter    time.Duration // a throttled Basic login: when to retry
	override      string        // a method override the client sent (removed unless server.method_override)
	bodyErr       error         // reading the client's body failed (not EOF)
}

type stateKey struct{}

func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{principal: authn.Anonymous}
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value
				panic(v)
			}
			s.log.Error("panic serving request", "request_id", state(r).id, "panic", fmt.Sprint(v))
			s.writeError(w, r, errInternal)
		}()
		next.ServeHTTP(w, r)
	})
}

func anonymous() *authn.Principal { return authn.Anonymous }

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func (s *Server) canonicalize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := canonical.Path(r.RequestURI)
		if err != nil {
			s.log.Info("rejected request path", "request_id", state(r).id, "reason", err.Error())
			s.writeError(w, r, err)
			return
		}
		decoded, err := url.PathUnescape(p)
		if err != nil { // canonical.Path guarantees valid escapes
			s.writeError(w, r, errInternal)
			return
		}
		state(r).path = p
		r.URL.Path, r.URL.RawPath = decoded, p
		next.ServeHTTP(w, r)
	})
}

func (s *Server) sanitize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.proxy.SanitizeRequest(r.Header)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ownPath(p string) bool {
	return p == s.prefix || strings.HasPrefix(p, s.prefix+"/")
}

// ownPathNotFound answers 404 for unknown paths under the prefix: they
// belong to the gateway and are never forwarded.
func (s *Server) ownPathNotFound(c *gin.Context) {
	if s.ownPath(state(c.Request).path) {
		s.setSecurityHeaders(c.Writer.Header())
		s.fail(c, errNotFound)
	}
}

// lifetime is the configured session lifetime.
func (s *Server) lifetime() sessionstore.Lifetime {
	return sessionstore.Lifetime{MaxAge: s.cfg.Session.MaxAge, Idle: s.cfg.Session.IdleTimeout, Refresh: s.cfg.Session.RefreshInterval}
}

// authHash is the session auth hash for u's current credentials.
func (s *Server) authHash(u *authn.User) string {
	return authn.SessionAuthHash(s.authKey, u.ID, u.AuthSecret)
}

// identify attaches the principal the backend chain finds (backends.go).
// It never rejects: missing credentials are anonymous, and bad
// credentials or a store failure are recorded for whoever decides to
// answer (authorize, forward-auth, /me), failing closed. With a session
// in steady state it costs one Redis round trip (sessionstore.Store.Load):
// the session, its user, groups and permissions, and at most every
// session.refresh_interval the write-back of its last activity.
func (s *Server) identify(c *gin.Context) {
	s.identifyRequest(c.Request, state(c.Request))
}

// authorize selects the upstream and asks the policy; it forwards nothing
// unless the policy allows.
func (s *Server) authorize(c *gin.Context) {
	r := c.Request
	st := state(r)
	if st.identErr != nil {
		s.log.Error("identification failed", "request_id", st.id, "error", st.identErr)
		s.fail(c, st.identErr)
		return
	}
	up, ok := s.proxy.Select(r.Host, st.path)
	if !ok {
		s.fail(c, errNoUpstream)
		return
	}
	in := &authz.Input{Principal: st.principal, Request: authz.Request{
		Method: r.Method, Path: st.path, Host: r.Host, Scheme: scheme(r), Query: r.URL.RawQuery,
		Headers: r.Header, ClientIP: clientIP(r), Upstream: up.Name(),
	}}
	d, err := s.decide(r.Context(), st, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !d.Allow {
		s.log.Info("denied", "request_id", st.id, "user", st.principal.Username(), "method", r.Method, "path", st.path, "reason", d.Reason)
		if !st.principal.IsAuthenticated() {
			s.fail(c, errLoginRequired)
		} else {
			s.fail(c, errForbidden)
		}
		return
	}
	st.upstream = up
}

// logDecision writes one decision log line. Only the fields of
// decisionEntry are taken from in: never its headers or query.
// decide asks the policy about in, writes the decision log line when
// sampled, and logs a failed evaluation; the caller denies on error. The
// reverse proxy and forward-auth mode decide through it alike.
func (s *Server) decide(ctx context.Context, st *reqState, in *authz.Input) (authz.Decision, error) {
	var start time.Time
	if s.dlog != nil || s.metrics != nil {
		start = time.Now()
	}
	d, err := s.policy.Decide(ctx, in)
	if s.metrics != nil {
		s.metrics.Decision(decisionResult(d, err), reasonClass(d, err), time.Since(start))
	}
	if s.dlog.sampled(err == nil && d.Allow) {
		s.logDecision(st, in, d, err, time.Since(start))
	}
	if err != nil {
		s.log.Error("policy evaluation failed; denying", "request_id", st.id, "error", err)
	}
	return d, err
}

func (s *Server) logDecision(st *reqState, in *authz.Input, d authz.Decision, err error, took time.Duration) {
	e := decisionEntry{
		requestID: st.id, user: st.principal.Username(), method: in.Request.Method, path: st.path,
		clientIP: in.Request.ClientIP, upstream: in.Request.Upstream, decision: d, err: err, eval: took,
	}
	if s.revision != nil {
		e.revision = s.revision.Revision()
	}
	s.dlog.write(&e)
}

func (s *Server) forward(c *gin.Context) {
	st := state(c.Request)
	id, err := s.identity(st, st.upstream.Name())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.proxy.Forward(c.Writer, c.Request, st.upstream, id, st.path, scheme(c.Request))
}

func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	if st := state(r); st.bodyErr != nil {
		// The client's body failed, not the upstream: too long, or its
		// framing broke mid-stream. The upstream request was aborted.
		s.log.Info("request body failed while forwarding", "request_id", st.id, "error", st.bodyErr)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(st.bodyErr, &mbe):
			s.writeError(w, r, errTooLarge)
		case errors.Is(st.bodyErr, errMultipartOverride):
			s.writeError(w, r, errMultipartOverride)
		default:
			s.writeError(w, r, errBadRequest)
		}
		return
	}
	s.log.Warn("upstream error", "request_id", state(r).id, "error", err)
	if st := state(r); s.metrics != nil && st.upstream != nil {
		kind := "other"
		switch {
		case errors.Is(err, proxy.ErrUpstreamTimeout):
			kind = "timeout"
		case errors.Is(err, proxy.ErrUpstreamUnavailable):
			kind = "unavailable"
		}
		s.metrics.UpstreamError(st.upstream.Name(), kind)
	}
	s.writeError(w, r, err)
}

func scheme(r *http.Request) string {
	if state(r).secure || r.TLS != nil {
		return "https"
	}
	return "http"
}

// HTTPServer returns the http.Server the gateway serves with: its
// handler, the timeouts and head limit of the server section, and with
// server.tls HTTP/2. Serve it on Listener(ln, hs).
func (s *Server) HTTPServer() *http.Server {
	sc := s.cfg.Server
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: sc.ReadHeaderTimeout,
		ReadTimeout:       sc.ReadTimeout,
		WriteTimeout:      sc.WriteTimeout,
		IdleTimeout:       sc.IdleTimeout,
		MaxHeaderBytes:    sc.MaxHeaderBytes,
		// "OPTIONS *" would be answered by net/http itself, before the
		// gateway sees it; let the canonical path check refuse it.
		DisableGeneralOptionsHandler: true,
		ConnContext:                  connContext,
		ErrorLog:                     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return hs
}

// Listener wraps ln with the gateway's connection handling: TLS when
// server.tls is set (HTTP/2 connections are served by hs's HTTP/2 server
// directly), the raw framing checks of every HTTP/1.1 request (package
// framing), and server.max_connections.
func (s *Server) Listener(ln net.Listener, hs *http.Server) (net.Listener, error) {
	if n := s.cfg.Server.MaxConnections; n > 0 {
		ln = netutil.LimitListener(ln, n)
	}
	// Go's server reads up to MaxHeaderBytes plus 4096 bytes of slack.
	maxHead := s.cfg.Server.MaxHeaderBytes + 4096
	if !s.cfg.Server.TLS.On() {
		return framing.Listener(ln, maxHead), nil
	}
	certs, err := newCertReloader(s.cfg.Server.TLS.CertFile, s.cfg.Server.TLS.KeyFile, s.log)
	if err != nil {
		return nil, err
	}
	h2s := &http2.Server{IdleTimeout: s.cfg.Server.IdleTimeout, MaxReadFrameSize: 1 << 20}
	if err := http2.ConfigureServer(hs, h2s); err != nil {
		return nil, fmt.Errorf("server: HTTP/2: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{http2.NextProtoTLS, "http/1.1"},
		GetCertificate: certs.getCertificate,
	}
	serveH2 := func(tc *tls.Conn) {
		h2s.ServeConn(tc, &http2.ServeConnOpts{Context: context.Background(), BaseConfig: hs, Handler: hs.Handler})
	}
	return newTLSListener(ln, cfg, maxHead, serveH2), nil
}

// Run serves on ln until ctx ends, then shuts down gracefully within grace.
func (s *Server) Run(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := s.HTTPServer()
	ln, err := s.Listener(ln, srv)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// decisionResult and reasonClass label a decision for metrics: a small,
// closed set of values (never the reason text, which names routes).
func decisionResult(d authz.Decision, err error) string {
	switch {
	case err != nil:
		return "error"
	case d.Allow:
		return "allow"
	}
	return "deny"
}

func reasonClass(d authz.Decision, err error) string {
	switch {
	case err != nil:
		return "error"
	case d.Reason == "no route matches":
		return "no_route"
	case strings.Contains(d.Reason, "object"):
		return "object"
	case strings.HasPrefix(d.Reason, "route "):
		return "route"
	}
	return "other"
}
