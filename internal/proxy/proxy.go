// Package proxy forwards authorised requests to the upstream apps.
//
// It is built on [httputil.ReverseProxy] with a Rewrite function. The
// server decides whether a request may pass (policy on the canonical path
// from package canonical); this package makes sure the upstream sees
// exactly what the policy saw and nothing the client forged:
//
//   - Path: the upstream receives the canonical path byte for byte,
//     after the base path of the upstream URL ("http://app:8000/base" and
//     "/a%20b" give "/base/a%20b"). The query is forwarded as received,
//     except that httputil re-encodes a query Go cannot parse (one with
//     ";" or a malformed escape) so the upstream sees the parameters Go
//     saw; the gateway never drops or adds parameters otherwise.
//   - Host: the outgoing Host header is the upstream's host (SetURL's
//     behaviour); the client's Host travels in X-Forwarded-Host.
//   - Forwarding headers: X-Forwarded-For (client IP only, never the
//     client's own list), X-Forwarded-Host and X-Forwarded-Proto are set
//     by the gateway. The gateway is the trust boundary, so client-sent
//     Forwarded, X-Real-Ip, X-Original-Url, X-Rewrite-Url and every
//     X-Forwarded-* header are removed.
//   - Identity: every client header whose name could be mistaken for an
//     identity or forwarding header is removed before the gateway sets its
//     own. Names are compared after lower-casing and mapping every byte
//     other than a letter or digit to "-", so "x_remote_user",
//     "X.Remote.User" and "X-REMOTE-USER" all match "X-Remote-User"
//     (WSGI/CGI servers and some frameworks fold "_" and "-" together).
//     The whole header map is scanned because Go canonicalises only names
//     made of valid token bytes and keeps "_" variants as distinct keys.
//   - Identity values: for an authenticated [Identity] the configured user,
//     email and groups headers are set; for anonymous requests they are
//     absent. Values are percent-encoded (upper-case hex of the UTF-8
//     bytes) where needed to be unambiguous and injection-proof: "%",
//     control bytes (so never CR or LF), bytes >= 0x80, leading/trailing
//     spaces, and, in group names, ",". Groups are joined with "," (no
//     space). A value with none of these bytes is sent verbatim, so
//     upstreams should percent-decode each value (Python:
//     urllib.parse.unquote). An empty email or group list leaves that
//     header absent.
//   - Profile headers: each profile field given a header
//     (Options.ProfileHeaders) is sent like the identity headers: strings
//     percent-encoded as above, string lists joined with "," like groups,
//     integers in decimal, booleans "true"/"false", timestamps in RFC 3339
//     UTC. A field without a value, an empty string or an empty list
//     leaves its header absent. The names are stripped from client
//     requests in every spelling, like the identity headers.
//   - Cookies: the gateway's own cookies (session, CSRF) are removed from
//     every Cookie header; other cookies are kept verbatim and in order,
//     joined into one Cookie header, which is dropped when empty.
//
// Hop-by-hop headers listed in a client's Connection header are removed by
// httputil before Rewrite runs, so "Connection: X-Remote-User" cannot
// remove the headers the gateway sets.
//
// Each upstream has its own [http.Transport] whose dial, TLS handshake
// and response-header waits are bounded by the configured timeouts;
// failures reach Options.ErrorHandler wrapped as [ErrUpstreamTimeout] or
// [ErrUpstreamUnavailable]. Streaming responses (Server-Sent Events,
// bodies without Content-Length) are flushed as they arrive and WebSocket
// upgrades pass through (both handled by httputil).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/djangate/gateway/internal/canonical"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/profile"
)

// ErrUpstreamUnavailable is wrapped by errors for upstreams that could not
// be reached or failed before sending response headers (answer 502).
var ErrUpstreamUnavailable = errors.New("upstream unavailable")

// ErrUpstreamTimeout is wrapped by errors for upstreams that did not
// connect or send response headers within the configured timeouts
// (answer 504).
var ErrUpstreamTimeout = errors.New("upstream timeout")

// Options configures a Proxy.
type Options struct {
	// Logger receives upstream failures; nil means slog.Default().
	Logger *slog.Logger
	// ErrorHandler renders the response when an upstream fails. err wraps
	// ErrUpstreamTimeout or ErrUpstreamUnavailable (or canonical.ErrInvalid
	// when Forward is misused). r is the request as received from the
	// client, not the rewritten one. It is not called when the client has
	// gone away. Nil means a plain-text 502/504.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// StripHeaders are further headers removed from every request like
	// the identity headers: ones the gateway reads as credentials (the
	// remote_user header) or sets itself (AssertionHeader).
	StripHeaders []string
	// AssertionHeader carries Identity.Assertion upstream; empty for none.
	AssertionHeader string
	// ProfileHeaders forward profile fields (Identity.Profile) upstream,
	// each in its own header. Like the identity headers they are removed
	// from client requests in every spelling.
	ProfileHeaders []ProfileHeader
	// Observe, when set, is called with each upstream's name and the time
	// from forwarding a request to receiving its response headers.
	Observe func(upstream string, d time.Duration)
}

// ProfileHeader names the header that carries one profile field.
type ProfileHeader struct {
	Field  string // the profile field's name
	Header string // the header's name
}

// Identity is the authenticated user forwarded to upstreams. A nil
// *Identity (or an empty Username) means anonymous.
type Identity struct {
	Username string
	Email    string
	Groups   []string
	// Profile is the user's effective profile; the fields with a
	// ProfileHeader are forwarded.
	Profile profile.Values
	// Assertion is a signed JWT naming the user (upstream_assertion), sent
	// in Options.AssertionHeader; empty for none.
	Assertion string
}

// Upstream is one configured app behind the gateway.
type Upstream struct {
	name      string
	target    *url.URL
	basePath  string // escaped base path of target, without trailing "/"
	baseDec   string // decoded basePath
	host      string // Match.Host without port, lower-case; "" = any
	prefix    string // Match.PathPrefix without trailing "/"; "" = any
	transport *http.Transport
	rp        *httputil.ReverseProxy
}

// Name returns the upstream's configured name, for logs.
func (u *Upstream) Name() string { return u.name }

// Proxy forwards requests to the configured upstreams. It is safe for
// concurrent use.
type Proxy struct {
	upstreams []*Upstream
	// Canonical identity header names ("" when not configured).
	userHeader, emailHeader, groupsHeader string
	assertionHeader                       string          // "" when upstream_assertion is off
	profileHeaders                        []ProfileHeader // canonical header names
	observe                               func(string, time.Duration)
	// Normalised names removed from every forwarded request.
	reserved    []string
	stripCookie []string
	log         *slog.Logger
	onError     func(http.ResponseWriter, *http.Request, error)
}

// maxIdlePerHost replaces Go's default of 2, which makes a busy proxy
// close and redial most upstream connections.
const maxIdlePerHost = 256

// alwaysStripped are normalised names of client headers that are never
// forwarded, besides the configured identity headers and X-Forwarded-*.
var alwaysStripped = []string{"forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-uri", "x-original-method"}

// forbiddenIdentity are headers an identity header must not be named as.
var forbiddenIdentity = []string{
	"host", "cookie", "connection", "upgrade", "content-length",
	"transfer-encoding", "te", "trailer", "keep-alive", "proxy-connection",
	"proxy-authorization", "proxy-authenticate", "authorization",
}

// New builds a Proxy for upstreams (matched in order). headers names the
// identity headers; stripCookies lists the gateway's own cookie names,
// which never reach upstreams.
func New(upstreams []config.Upstream, headers config.IdentityHeaders, stripCookies []string, opts Options) (*Proxy, error) {
	p := &Proxy{log: opts.Logger, onError: opts.ErrorHandler, observe: opts.Observe}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.onError == nil {
		p.onError = defaultErrorHandler
	}
	if len(upstreams) == 0 {
		return nil, errors.New("proxy: no upstreams")
	}
	seen := map[string]string{}
	for _, h := range []struct {
		key  string
		name string
		dst  *string
	}{
		{"user", headers.User, &p.userHeader},
		{"email", headers.Email, &p.emailHeader},
		{"groups", headers.Groups, &p.groupsHeader},
	} {
		if !validToken(h.name) {
			return nil, fmt.Errorf("proxy: identity_headers.%s: %q is not a valid header name", h.key, h.name)
		}
		n := normalize(h.name)
		for _, f := range forbiddenIdentity {
			if n == f {
				return nil, fmt.Errorf("proxy: identity_headers.%s: %q is reserved", h.key, h.name)
			}
		}
		if other, dup := seen[n]; dup {
			return nil, fmt.Errorf("proxy: identity_headers.%s: %q clashes with identity_headers.%s", h.key, h.name, other)
		}
		seen[n] = h.key
		*h.dst = http.CanonicalHeaderKey(h.name)
		p.reserved = append(p.reserved, n)
	}
	for _, ph := range opts.ProfileHeaders {
		key := "profile field " + strconv.Quote(ph.Field)
		if !validToken(ph.Header) {
			return nil, fmt.Errorf("proxy: %s: %q is not a valid header name", key, ph.Header)
		}
		n := normalize(ph.Header)
		if slices.Contains(forbiddenIdentity, n) || slices.Contains(alwaysStripped, n) || strings.HasPrefix(n, "x-forwarded-") {
			return nil, fmt.Errorf("proxy: %s: %q is reserved", key, ph.Header)
		}
		if other, dup := seen[n]; dup {
			return nil, fmt.Errorf("proxy: %s: %q clashes with %s", key, ph.Header, other)
		}
		seen[n] = key
		p.profileHeaders = append(p.profileHeaders, ProfileHeader{Field: ph.Field, Header: http.CanonicalHeaderKey(ph.Header)})
		p.reserved = append(p.reserved, n)
	}
	p.reserved = append(p.reserved, alwaysStripped...)
	for _, h := range append(opts.StripHeaders, opts.AssertionHeader) {
		if h == "" {
			continue
		}
		if !validToken(h) {
			return nil, fmt.Errorf("proxy: %q is not a valid header name", h)
		}
		p.reserved = append(p.reserved, normalize(h))
	}
	if opts.AssertionHeader != "" {
		p.assertionHeader = http.CanonicalHeaderKey(opts.AssertionHeader)
	}
	for _, c := range stripCookies {
		if c = trimCookieSpace(c); c != "" {
			p.stripCookie = append(p.stripCookie, c)
		}
	}

	for i, cu := range upstreams {
		u, err := p.newUpstream(i, cu)
		if err != nil {
			return nil, err
		}
		p.upstreams = append(p.upstreams, u)
	}
	return p, nil
}

func (p *Proxy) newUpstream(i int, cu config.Upstream) (*Upstream, error) {
	name := cu.Name
	if name == "" {
		name = fmt.Sprintf("upstream%d", i)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("proxy: upstream %q: "+format, append([]any{name}, args...)...)
	}
	target, err := url.Parse(cu.URL)
	if err != nil {
		return nil, fail("invalid url: %v", err)
	}
	if target.Scheme != "http" && target.Scheme != "https" {
		return nil, fail("url scheme must be http or https")
	}
	if target.Host == "" {
		return nil, fail("url has no host")
	}
	if target.User != nil || target.RawQuery != "" || target.ForceQuery || target.Fragment != "" || target.Opaque != "" {
		return nil, fail("url must not have user info, query or fragment")
	}
	base := strings.TrimRight(target.EscapedPath(), "/")
	if base != "" {
		if c, err := canonical.Path(base); err != nil || c != base {
			return nil, fail("url path %q is not canonical", target.EscapedPath())
		}
	}
	baseDec, _ := url.PathUnescape(base) // canonical, cannot fail

	prefix := cu.Match.PathPrefix
	if prefix != "" {
		if c, err := canonical.Path(prefix); err != nil || c != prefix {
			return nil, fail("match.path_prefix %q is not a canonical path", prefix)
		}
		prefix = strings.TrimRight(prefix, "/")
	}

	t := cu.Timeouts
	if t.Dial <= 0 || t.ResponseHeader <= 0 || t.Idle < 0 {
		// Unbounded waits would let a dead upstream hang requests.
		return nil, fail("timeouts.dial and timeouts.response_header must be positive")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Upstreams are reached directly; inheriting HTTP_PROXY from the
	// environment would silently route internal traffic elsewhere.
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = t.Dial // "dial" covers TCP and TLS
	tr.ResponseHeaderTimeout = t.ResponseHeader
	if t.Idle > 0 {
		tr.IdleConnTimeout = t.Idle
	}
	tr.MaxIdleConnsPerHost = maxIdlePerHost
	tr.MaxIdleConns = maxIdlePerHost // one host per transport
	tr.ForceAttemptHTTP2 = true

	u := &Upstream{
		name:      name,
		target:    target,
		basePath:  base,
		baseDec:   baseDec,
		host:      strings.ToLower(hostOnly(cu.Match.Host)),
		prefix:    prefix,
		transport: tr,
	}
	u.rp = &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { p.rewrite(u, pr) },
		Transport:    tr,
		BufferPool:   bufPool{},
		ErrorLog:     slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { p.handleError(u, w, r, err) },
		ModifyResponse: func(resp *http.Response) error {
			p.dropGatewaySetCookies(resp.Header)
			if p.observe != nil {
				if st, ok := resp.Request.Context().Value(ctxKey{}).(*forwardState); ok {
					p.observe(name, time.Since(st.start))
				}
			}
			return nil
		},
		// FlushInterval 0: httputil already flushes immediately for
		// text/event-stream and for bodies of unknown length.
	}
	return u, nil
}

// Select returns the first upstream whose match applies. host is the
// request's Host (port ignored, case-insensitive). A path prefix matches
// on a segment boundary: "/app" matches "/app", "/app/" and "/app/x", but
// not "/application".
func (p *Proxy) Select(host, canonicalPath string) (*Upstream, bool) {
	h := hostOnly(host)
	for _, u := range p.upstreams {
		if u.host != "" && !strings.EqualFold(u.host, h) {
			continue
		}
		if u.prefix != "" && !hasSegmentPrefix(canonicalPath, u.prefix) {
			continue
		}
		return u, true
	}
	return nil, false
}

func hasSegmentPrefix(path, prefix string) bool {
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// hostOnly strips a port and a trailing dot from a Host value.
func hostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// CloseIdleConnections closes idle upstream connections (on shutdown).
func (p *Proxy) CloseIdleConnections() {
	for _, u := range p.upstreams {
		u.transport.CloseIdleConnections()
	}
}

type ctxKey struct{}

// forwardState carries per-request data into Rewrite and ErrorHandler,
// which httputil calls without it.
type forwardState struct {
	in     *http.Request
	id     *Identity
	path   string
	scheme string
	start  time.Time
}

// Forward sends r to up with the canonical path the policy approved and
// the identity headers of id (nil for anonymous), and copies the response
// to w. canonicalPath must be canonical.Path's output for r; anything else
// is refused with an error wrapping canonical.ErrInvalid, since forwarding
// a path the policy did not see would defeat the check. scheme ("http",
// "https") is sent as X-Forwarded-Proto; "" leaves the connection's.
func (p *Proxy) Forward(w http.ResponseWriter, r *http.Request, up *Upstream, id *Identity, canonicalPath, scheme string) {
	if up == nil {
		p.onError(w, r, fmt.Errorf("%w: no upstream selected", ErrUpstreamUnavailable))
		return
	}
	if c, err := canonical.Path(canonicalPath); err != nil || c != canonicalPath {
		p.onError(w, r, fmt.Errorf("%w: proxy: Forward called with a non-canonical path", canonical.ErrInvalid))
		return
	}
	st := &forwardState{in: r, id: id, path: canonicalPath, scheme: scheme}
	if p.observe != nil {
		st.start = time.Now()
	}
	up.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, st)))
}

func (p *Proxy) rewrite(u *Upstream, pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(ctxKey{}).(*forwardState)
	out := pr.Out

	pr.SetURL(u.target) // scheme, host, Out.Host = upstream host
	// Replace SetURL's path join with the canonical path: RawPath carries
	// the exact escaping, Path its decoding, so Go sends RawPath as is.
	out.URL.Opaque = ""
	out.URL.User = nil
	out.URL.RawPath = u.basePath + st.path
	out.URL.Path = u.baseDec + unescapePath(st.path)

	p.sanitizeHeaders(out.Header)
	pr.SetXForwarded()
	// Set again: httputil removed it if the client's Connection header
	// named it, and the app's logs need the gateway's request id.
	if id := pr.In.Header.Get("X-Request-Id"); id != "" {
		out.Header.Set("X-Request-Id", id)
	}
	if st.scheme != "" {
		// The scheme the client used, as the gateway decided it (TLS is
		// often terminated by a trusted proxy in front).
		out.Header.Set("X-Forwarded-Proto", st.scheme)
	}
	p.setIdentity(out.Header, st.id)
	p.stripCookies(out.Header)
}

// SanitizeRequest removes from a client request every header that could
// be taken for one the gateway sets (identity, forwarding), in any
// spelling. The server calls it before the policy sees the headers, so a
// policy can never read a forged identity; Forward calls it again on the
// outgoing request.
func (p *Proxy) SanitizeRequest(h http.Header) { p.sanitizeHeaders(h) }

// sanitizeHeaders removes every header that could be taken for one the
// gateway sets. httputil already removed hop-by-hop headers and the exact
// Forwarded / X-Forwarded-{For,Host,Proto} names.
func (p *Proxy) sanitizeHeaders(h http.Header) {
	for k := range h {
		if p.isReserved(k) {
			delete(h, k)
		}
	}
}

func (p *Proxy) isReserved(name string) bool {
	const xf = "x-forwarded-"
	if len(name) >= len(xf) && normEqual(name[:len(xf)], xf) {
		return true
	}
	for _, r := range p.reserved {
		if normEqual(name, r) {
			return true
		}
	}
	return false
}

// normByte lower-cases letters and maps every non-alphanumeric byte to
// '-', the folding used to compare header names.
func normByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return c
	}
	return '-'
}

// normEqual reports whether name folds to norm (already normalised)
// without allocating.
func normEqual(name, norm string) bool {
	if len(name) != len(norm) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if normByte(name[i]) != norm[i] {
			return false
		}
	}
	return true
}

// HeaderNameIs reports whether name is a spelling of norm (lower case,
// "-"-separated) that some upstream stack would take for it: any case, "_"
// or "." for "-" ("X_HTTP.Method" is "x-http-method"). It does not allocate.
func HeaderNameIs(name, norm string) bool { return normEqual(name, norm) }

func normalize(name string) string {
	b := []byte(name)
	for i, c := range b {
		b[i] = normByte(c)
	}
	return string(b)
}

// SetIdentity sets on h the identity headers an upstream would receive
// for id (none for anonymous), encoded as Forward encodes them. The
// forward-auth endpoint answers with them for the fronting proxy to copy.
func (p *Proxy) SetIdentity(h http.Header, id *Identity) { p.setIdentity(h, id) }

func (p *Proxy) setIdentity(h http.Header, id *Identity) {
	if id == nil || id.Username == "" {
		return // anonymous: headers stay absent (removed by sanitize)
	}
	h.Set(p.userHeader, encodeValue(id.Username, false))
	if id.Assertion != "" && p.assertionHeader != "" {
		h.Set(p.assertionHeader, id.Assertion)
	}
	if id.Email != "" {
		h.Set(p.emailHeader, encodeValue(id.Email, false))
	}
	if len(id.Groups) > 0 {
		var b strings.Builder
		for _, g := range id.Groups {
			if g == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			appendEncoded(&b, g, true)
		}
		if b.Len() > 0 {
			h.Set(p.groupsHeader, b.String())
		}
	}
	for _, ph := range p.profileHeaders {
		if v, ok := profileHeaderValue(id.Profile[ph.Field]); ok {
			h.Set(ph.Header, v)
		}
	}
}

// profileHeaderValue is the header value of a profile value, encoded as
// the identity headers are: strings percent-encoded where needed; string
// lists joined with "," after percent-encoding "," in items (as groups);
// integers in decimal; booleans "true" or "false"; timestamps RFC 3339 in
// UTC. An absent value, an empty string and an empty list send no header.
func profileHeaderValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return encodeValue(v, false), v != ""
	case int64:
		return strconv.FormatInt(v, 10), true
	case bool:
		return strconv.FormatBool(v), true
	case []string:
		var b strings.Builder
		for i, s := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			appendEncoded(&b, s, true)
		}
		return b.String(), len(v) > 0
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), !v.IsZero()
	}
	return "", false
}

const upperHex = "0123456789ABCDEF"

func needsEncoding(s string, i int, comma bool) bool {
	c := s[i]
	return c < 0x20 || c >= 0x7f || c == '%' || (comma && c == ',') ||
		(c == ' ' && (i == 0 || i == len(s)-1))
}

// encodeValue percent-encodes the bytes of s that could break or blur a
// header value; see the package documentation.
func encodeValue(s string, comma bool) string {
	for i := 0; i < len(s); i++ {
		if needsEncoding(s, i, comma) {
			var b strings.Builder
			appendEncoded(&b, s, comma)
			return b.String()
		}
	}
	return s
}

func appendEncoded(b *strings.Builder, s string, comma bool) {
	for i := 0; i < len(s); i++ {
		if needsEncoding(s, i, comma) {
			c := s[i]
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		} else {
			b.WriteByte(s[i])
		}
	}
}

func unescapePath(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	d, err := url.PathUnescape(s)
	if err != nil {
		return s // unreachable: s is canonical
	}
	return d
}

// validToken reports whether s is an RFC 9110 token (a valid header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// handleError classifies transport failures. r is httputil's outgoing
// request; the client's original request is in its context.
func (p *Proxy) handleError(u *Upstream, w http.ResponseWriter, r *http.Request, err error) {
	in := r
	if st, ok := r.Context().Value(ctxKey{}).(*forwardState); ok {
		in = st.in
	}
	if errors.Is(in.Context().Err(), context.Canceled) {
		// The client went away: nobody to answer, nothing wrong upstream.
		p.log.Debug("client canceled upstream request", "upstream", u.name, "err", err)
		return
	}
	kind := classify(err)
	p.log.Warn("upstream request failed", "upstream", u.name, "kind", kind.Error(), "err", err)
	p.onError(w, in, fmt.Errorf("%w: upstream %q: %w", kind, u.name, err))
}

// classify maps a transport error to ErrUpstreamTimeout (dial or
// response-header timeout, or a deadline) or ErrUpstreamUnavailable.
func classify(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return ErrUpstreamTimeout
	}
	return ErrUpstreamUnavailable
}

func defaultErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, ErrUpstreamTimeout):
		code = http.StatusGatewayTimeout
	case errors.Is(err, canonical.ErrInvalid):
		code = http.StatusBadRequest
	}
	http.Error(w, http.StatusText(code), code)
}

// bufPool reuses httputil's 32 KiB copy buffers across requests.
type bufPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufPool) Put(b []byte) { buffers.Put(&b) }
