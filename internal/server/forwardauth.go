package server

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/canonical"
)

// Forward-auth mode: {prefix}/auth answers nginx auth_request, Traefik
// ForwardAuth and Envoy ext_authz for a request the fronting proxy holds
// and will itself forward. The original request's method, URI, host and
// scheme come from headers the fronting proxy sets — X-Original-Method and
// X-Original-URI (nginx), or X-Forwarded-Method, X-Forwarded-Uri,
// X-Forwarded-Host and X-Forwarded-Proto (Traefik) — and are believed only
// when the connection's peer is in trusted_proxies. The original request
// is then canonicalized, identified (its session cookie, which the
// fronting proxy passes on) and decided exactly as a proxied request:
//
//   - allowed: 200, empty body, with the identity headers the upstream
//     would receive (identity_headers, encoded as the proxy encodes them);
//   - anonymous and refused: 401 with X-Auth-Login-URL naming the login
//     page with next set to the original URI; for a Traefik request
//     (X-Forwarded-Uri) from a browser (Accept: text/html), 302 there,
//     since Traefik hands a 3xx to the client;
//   - refused: 403; untrusted peer: 403; missing or malformed original
//     request: 400 (an ambiguous path too, as canonical.Path decides).

// forwardAuthMethods are the methods {prefix}/auth answers: the fronting
// proxy may use the original method for its sub-request.
var forwardAuthMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// Headers the fronting proxy describes the original request with. The
// X-Forwarded-* ones are removed by sanitize, so they are captured before.
const (
	hdrOriginalMethod  = "X-Original-Method"
	hdrOriginalURI     = "X-Original-Uri"
	hdrForwardedMethod = "X-Forwarded-Method"
	hdrForwardedURI    = "X-Forwarded-Uri"
	hdrForwardedHost   = "X-Forwarded-Host"
	hdrForwardedProto  = "X-Forwarded-Proto"
	hdrAuthLoginURL    = "X-Auth-Login-Url"
)

var forwardAuthHeaders = []string{
	hdrOriginalMethod, hdrOriginalURI, hdrForwardedMethod, hdrForwardedURI, hdrForwardedHost, hdrForwardedProto,
}

// forwardAuthOrig is what forwardAuthCapture saw of a request to
// {prefix}/auth before clientAddr rewrote its peer and sanitize removed
// the forwarding headers.
type forwardAuthOrig struct {
	trusted bool        // the connection's peer is a trusted proxy
	header  http.Header // the original-request headers, as received
}

type forwardAuthKey struct{}

// forwardAuthCapture records, for requests that may route to
// {prefix}/auth, whether the peer is a trusted proxy and the headers
// describing the original request. Other requests pass untouched. A path
// that canonicalizes to {prefix}/auth without ending in "/auth" here is
// not captured and gets 400.
func (s *Server) forwardAuthCapture(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, s.prefix+"/") || !strings.HasSuffix(r.URL.Path, "/auth") {
			next.ServeHTTP(w, r)
			return
		}
		o := &forwardAuthOrig{header: http.Header{}}
		if a, err := netip.ParseAddr(peerIP(r)); err == nil {
			o.trusted = s.proxies.trusts(a)
		}
		for _, k := range forwardAuthHeaders {
			if v := r.Header.Values(k); len(v) > 0 {
				o.header[k] = append([]string(nil), v...)
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardAuthKey{}, o)))
	})
}

// original is the request the fronting proxy asks about.
type original struct {
	method, path, query, host, scheme string
	traefik                           bool // described by X-Forwarded-Uri
}

// one returns the single value of header k, "" when absent; ok is false
// when it was sent more than once.
func one(h http.Header, k string) (string, bool) {
	v := h.Values(k)
	switch len(v) {
	case 0:
		return "", true
	case 1:
		return v[0], true
	}
	return "", false
}

// pick returns the value of the nginx header or else the Traefik one;
// both present and different is ambiguous.
func pick(h http.Header, nginx, traefik string) (string, bool) {
	a, ok1 := one(h, nginx)
	b, ok2 := one(h, traefik)
	if !ok1 || !ok2 || (a != "" && b != "" && a != b) {
		return "", false
	}
	if a != "" {
		return a, true
	}
	return b, true
}

// parseOriginal reads and checks the original request; any problem is
// errBadRequest (or canonical.ErrInvalid), answered 400.
func (s *Server) parseOriginal(r *http.Request, h http.Header) (*original, error) {
	method, ok := pick(h, hdrOriginalMethod, hdrForwardedMethod)
	if !ok || method == "" || len(method) > 32 || !isToken(method) {
		return nil, errBadRequest
	}
	uri, ok := pick(h, hdrOriginalURI, hdrForwardedURI)
	if !ok || uri == "" || uri[0] != '/' || len(uri) > 8<<10 {
		return nil, errBadRequest
	}
	p, err := canonical.Path(uri)
	if err != nil {
		return nil, err
	}
	var query string
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		query = uri[i+1:]
		for j := 0; j < len(query); j++ {
			if c := query[j]; c <= ' ' || c == 0x7f {
				return nil, errBadRequest
			}
		}
	}
	host, ok := one(h, hdrForwardedHost)
	if !ok || strings.ContainsAny(host, ", \t\r\n/\\@") {
		return nil, errBadRequest
	}
	if host == "" {
		host = r.Host
	}
	if !s.hosts.allows(host) {
		return nil, errHostNotAllowed
	}
	sch, ok := one(h, hdrForwardedProto)
	if !ok {
		return nil, errBadRequest
	}
	if sch != "http" && sch != "https" {
		sch = scheme(r)
	}
	return &original{
		method: method, path: p, query: query, host: host, scheme: sch,
		traefik: h.Get(hdrForwardedURI) != "",
	}, nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// forwardAuth answers {prefix}/auth (see the top of this file). identify
// has run on the request: the fronting proxy passes the client's cookies.
func (s *Server) forwardAuth(c *gin.Context) {
	r := c.Request
	st := state(r)
	o, _ := r.Context().Value(forwardAuthKey{}).(*forwardAuthOrig)
	if o == nil {
		s.fail(c, errBadRequest)
		return
	}
	if !o.trusted {
		s.log.Warn("forward-auth request from a peer not in trusted_proxies", "request_id", st.id, "peer", peerIP(r))
		s.fail(c, errForbidden)
		return
	}
	orig, err := s.parseOriginal(r, o.header)
	if err != nil {
		s.log.Info("rejected forward-auth request", "request_id", st.id, "reason", err.Error())
		s.fail(c, err)
		return
	}
	// From here the request is about the original one: errors, logs and
	// the decision log name its path.
	st.path = orig.path
	// The fronting proxy, not the gateway, forwards the original request,
	// so a method override cannot be removed from it: refuse it, or with
	// server.method_override authorize the overriding method of a POST.
	override := st.override
	if q, v, found := withoutParam(orig.query, "_method"); found {
		orig.query = q
		if override == "" {
			override = v
		}
	}
	if override != "" {
		m := strings.TrimSpace(override)
		if !s.cfg.Server.MethodOverride || orig.method != http.MethodPost || m == "" || len(m) > 32 || !isToken(m) {
			s.log.Info("refused a forward-auth request with a method override", "request_id", st.id)
			s.fail(c, errBadRequest)
			return
		}
		orig.method = m
	}
	if st.identErr != nil {
		s.log.Error("identification failed", "request_id", st.id, "error", st.identErr)
		s.fail(c, st.identErr)
		return
	}
	up, ok := s.proxy.Select(orig.host, orig.path)
	if !ok {
		s.fail(c, errNoUpstream)
		return
	}
	// The policy sees the client's headers as the proxy would forward
	// them: sanitized, without the fronting proxy's description headers.
	hdr := r.Header.Clone()
	hdr.Del(hdrOriginalMethod)
	hdr.Del(hdrOriginalURI)
	in := &authz.Input{Principal: st.principal, Request: authz.Request{
		Method: orig.method, Path: orig.path, Host: orig.host, Scheme: orig.scheme, Query: orig.query,
		Headers: hdr, ClientIP: clientIP(r), Upstream: up.Name(),
	}}
	d, err := s.decide(r.Context(), st, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !d.Allow {
		s.log.Info("denied", "request_id", st.id, "user", st.principal.Username(), "method", orig.method, "path", orig.path, "reason", d.Reason, "forward_auth", true)
		if st.principal.IsAuthenticated() {
			s.fail(c, errForbidden)
			return
		}
		next := orig.path
		if orig.query != "" {
			next += "?" + orig.query
		}
		login := s.prefix + "/login?next=" + url.QueryEscape(next)
		h := c.Writer.Header()
		h.Set(hdrAuthLoginURL, login)
		if orig.traefik && wantsHTML(r) {
			h.Set("Location", login)
			c.Status(http.StatusFound)
			c.Writer.WriteHeaderNow()
			c.Abort()
			return
		}
		writeJSON(c.Writer, http.StatusUnauthorized, map[string]any{
			"error": "not_authenticated", "message": "Authentication credentials were not provided.",
			"request_id": st.id, "login_url": login,
		})
		c.Abort()
		return
	}
	id, err := s.identity(st, up.Name())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.proxy.SetIdentity(c.Writer.Header(), id)
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
}
