package authz

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/profile"
)

// Request is what the policy learns about the HTTP request.
type Request struct {
	// Method is the HTTP method as received ("GET").
	Method string
	// Path is the gateway's canonical, percent-encoded path: exactly what
	// the upstream receives. The engine does not re-normalize it.
	Path string
	// Host is the request's host, optionally with a port ("Example.com:8443").
	Host string
	// Scheme is "http" or "https".
	Scheme string
	// Query is the raw query string, without "?".
	Query string
	// Headers are the request headers. Cookie, Authorization and
	// Proxy-Authorization never reach the policy.
	Headers http.Header
	// ClientIP is the client's address as the gateway determined it.
	ClientIP string
	// Upstream names the upstream the request is routed to.
	Upstream string
}

// Input is one authorization question: may this principal make this request?
type Input struct {
	// Principal is the identity attached to the request; nil means anonymous.
	Principal *authn.Principal
	Request   Request
}

// ErrInvalidInput reports an Input the engine refuses to evaluate (a nil
// Input, or a path that is not validly percent-encoded). The caller denies.
var ErrInvalidInput = errors.New("authz: invalid input")

// Header names that never reach the policy (nor decision logs).
var secretHeaders = map[string]bool{
	"cookie":              true,
	"authorization":       true,
	"proxy-authorization": true,
}

// Keys and constant strings of the input document, interned so that every
// request shares one term per key.
var inputKeys = []string{
	"user", "request",
	"is_authenticated", "is_anonymous", "username", "email", "first_name",
	"last_name", "is_active", "is_staff", "is_superuser", "groups",
	"permissions", "backend", "session", "profile",
	"method", "path", "parsed_path", "host", "port", "scheme", "query",
	"parsed_query", "query_malformed", "headers", "client_ip", "upstream",
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	"http", "https",
	"allow", "reason", // read from the decision
}

// Lower-case names of common request headers, so that the per-request
// header object doesn't allocate a fresh key for them. Filled once by
// internTerms, read-only afterwards.
var commonHeaders = map[string]*ast.Term{}

// internTerms interns the input's constant strings in OPA's term table
// and returns the shared anonymous user. It runs while the package is
// initialized (anonymousUser's initializer): OPA's InternStringTerm may
// only be called at initialization time, its table being unsafe for
// concurrent use, so calling it lazily on the first decision raced with
// policy loads elsewhere.
func internTerms() *ast.Term {
	ast.InternStringTerm(inputKeys...)
	for _, h := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Origin", "Referer",
		"User-Agent", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id", "X-Requested-With",
		"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Upgrade",
		"If-None-Match", "If-Modified-Since", "Forwarded",
	} {
		lower := strings.ToLower(h)
		ast.InternStringTerm(lower)
		commonHeaders[h] = ast.InternedTerm(lower)
	}
	return buildUser(newTerms(0), nil)
}

func key(s string) *ast.Term { return ast.InternedTerm(s) }

// terms hands out the terms of one input document from a few slabs instead
// of one allocation each (a user with 50 permissions needs ~80 terms).
// The terms live as long as the input document does.
type terms struct{ slab []ast.Term }

func newTerms(n int) *terms { return &terms{slab: make([]ast.Term, 0, n)} }

func (ts *terms) term(v ast.Value) *ast.Term {
	if len(ts.slab) == cap(ts.slab) {
		ts.slab = make([]ast.Term, 0, 32)
	}
	ts.slab = append(ts.slab, ast.Term{Value: v})
	return &ts.slab[len(ts.slab)-1]
}

func (ts *terms) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedTerm("")
	}
	return ts.term(ast.String(s))
}

// anonymousUser is the user object of every anonymous request. AST values
// are not modified by evaluation, so one instance is shared.
var anonymousUser = internTerms()

// buildInput turns in into the policy's input document, directly as an AST
// value (no JSON round trip).
func buildInput(in *Input) (ast.Value, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: nil input", ErrInvalidInput)
	}
	r := &in.Request
	n := 24 + strings.Count(r.Path, "/") + len(r.Headers) + strings.Count(r.Query, "&")
	if p := in.Principal; p.IsAuthenticated() {
		n += len(p.Groups) + len(p.Permissions)
	}
	ts := newTerms(n)
	req, err := buildRequest(ts, r)
	if err != nil {
		return nil, err
	}
	user := anonymousUser
	if in.Principal.IsAuthenticated() {
		user = buildUser(ts, in.Principal)
	}
	return ast.NewObject(
		[2]*ast.Term{key("user"), user},
		[2]*ast.Term{key("request"), req},
	), nil
}

// buildUser returns the input.user object; p == nil (or p.User == nil)
// gives the anonymous user.
func buildUser(ts *terms, p *authn.Principal) *ast.Term {
	if !p.IsAuthenticated() {
		return ast.ObjectTerm(
			[2]*ast.Term{key("is_authenticated"), ast.InternedTerm(false)},
			[2]*ast.Term{key("is_anonymous"), ast.InternedTerm(true)},
			[2]*ast.Term{key("username"), ts.str("")},
			[2]*ast.Term{key("email"), ts.str("")},
			[2]*ast.Term{key("first_name"), ts.str("")},
			[2]*ast.Term{key("last_name"), ts.str("")},
			[2]*ast.Term{key("is_active"), ast.InternedTerm(false)},
			[2]*ast.Term{key("is_staff"), ast.InternedTerm(false)},
			[2]*ast.Term{key("is_superuser"), ast.InternedTerm(false)},
			[2]*ast.Term{key("groups"), ast.ArrayTerm()},
			[2]*ast.Term{key("permissions"), ast.SetTerm()},
			[2]*ast.Term{key("backend"), ts.str("")},
			[2]*ast.Term{key("profile"), ast.ObjectTerm()},
		)
	}
	u := p.User

	groups := p.Groups
	if !slices.IsSorted(groups) {
		groups = slices.Sorted(slices.Values(groups))
	}
	groupTerms := make([]*ast.Term, len(groups))
	for i, g := range groups {
		groupTerms[i] = ts.str(g)
	}

	perms := ast.NewSetWithCapacity(len(p.Permissions))
	for _, perm := range p.Permissions {
		perms.Add(ts.str(perm))
	}

	return ts.term(ast.NewObject(
		[2]*ast.Term{key("is_authenticated"), ast.InternedTerm(true)},
		[2]*ast.Term{key("is_anonymous"), ast.InternedTerm(false)},
		[2]*ast.Term{key("username"), ts.str(u.Username)},
		[2]*ast.Term{key("email"), ts.str(u.Email)},
		[2]*ast.Term{key("first_name"), ts.str(u.FirstName)},
		[2]*ast.Term{key("last_name"), ts.str(u.LastName)},
		[2]*ast.Term{key("is_active"), ast.InternedTerm(u.IsActive)},
		[2]*ast.Term{key("is_staff"), ast.InternedTerm(u.IsStaff)},
		[2]*ast.Term{key("is_superuser"), ast.InternedTerm(u.IsSuperuser)},
		[2]*ast.Term{key("groups"), ts.term(ast.NewArray(groupTerms...))},
		[2]*ast.Term{key("permissions"), ts.term(perms)},
		[2]*ast.Term{key("backend"), ast.InternedTerm(p.Backend)},
		[2]*ast.Term{key("profile"), buildProfile(ts, p.Profile)},
	))
}

// buildProfile returns input.user.profile: the effective profile with
// typed values. Strings, integers (numbers), booleans and string lists
// (arrays) are themselves; timestamps are RFC 3339 strings in UTC, which
// time.parse_rfc3339_ns reads and which compare in time order when they
// have the same precision.
func buildProfile(ts *terms, values profile.Values) *ast.Term {
	obj := ast.NewObjectWithCapacity(len(values))
	for name, v := range values {
		var t *ast.Term
		switch v := v.(type) {
		case string:
			t = ts.str(v)
		case int64:
			t = ast.IntNumberTerm(int(v))
		case bool:
			t = ast.InternedTerm(v)
		case []string:
			items := make([]*ast.Term, len(v))
			for i, s := range v {
				items[i] = ts.str(s)
			}
			t = ts.term(ast.NewArray(items...))
		case time.Time:
			t = ts.str(v.UTC().Format(time.RFC3339Nano))
		default:
			continue // Schema.Effective gives only the types above
		}
		obj.Insert(ts.str(name), t)
	}
	return ts.term(obj)
}

func buildRequest(ts *terms, r *Request) (*ast.Term, error) {
	parsedPath, err := parsePath(ts, r.Path)
	if err != nil {
		return nil, err
	}
	host, port := splitHostPort(r.Host)

	parsedQuery, malformed := parseQuery(ts, r.Query)

	return ts.term(ast.NewObject(
		[2]*ast.Term{key("method"), ast.InternedTerm(r.Method)},
		[2]*ast.Term{key("path"), ts.str(r.Path)},
		[2]*ast.Term{key("parsed_path"), parsedPath},
		[2]*ast.Term{key("host"), ts.str(host)},
		[2]*ast.Term{key("port"), ts.str(port)},
		[2]*ast.Term{key("scheme"), ast.InternedTerm(strings.ToLower(r.Scheme))},
		[2]*ast.Term{key("query"), ts.str(r.Query)},
		[2]*ast.Term{key("parsed_query"), parsedQuery},
		[2]*ast.Term{key("query_malformed"), ast.InternedTerm(malformed)},
		[2]*ast.Term{key("headers"), buildHeaders(ts, r.Headers)},
		[2]*ast.Term{key("client_ip"), ts.str(r.ClientIP)},
		[2]*ast.Term{key("upstream"), ts.str(r.Upstream)},
	)), nil
}

// parsePath splits the canonical path on "/", drops the leading empty
// element and percent-decodes every segment: "/a/b%20c/" gives
// ["a", "b c", ""]. Decoding happens per segment, after splitting, so an
// encoded slash can't create a segment boundary.
func parsePath(ts *terms, p string) (*ast.Term, error) {
	if p == "" {
		return ast.ArrayTerm(), nil
	}
	rest := strings.TrimPrefix(p, "/")
	n := strings.Count(rest, "/") + 1
	segs := make([]*ast.Term, 0, n)
	for seg := range strings.SplitSeq(rest, "/") {
		if strings.IndexByte(seg, '%') >= 0 {
			dec, err := url.PathUnescape(seg)
			if err != nil {
				return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidInput, p, err)
			}
			seg = dec
		}
		segs = append(segs, ts.str(seg))
	}
	return ts.term(ast.NewArray(segs...)), nil
}

// parseQuery returns parsed_query and whether the query was malformed (then
// parsed_query is empty).
func parseQuery(ts *terms, raw string) (*ast.Term, bool) {
	if raw == "" {
		return ast.ObjectTerm(), false
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return ast.ObjectTerm(), true
	}
	obj := ast.NewObjectWithCapacity(len(values))
	for name, vs := range values {
		arr := make([]*ast.Term, len(vs))
		for i, v := range vs {
			arr[i] = ts.str(v)
		}
		obj.Insert(ts.str(name), ts.term(ast.NewArray(arr...)))
	}
	return ts.term(obj), false
}

// buildHeaders returns the headers object: lower-case names, repeated
// values joined with ", ", secrets left out.
func buildHeaders(ts *terms, h http.Header) *ast.Term {
	obj := ast.NewObjectWithCapacity(len(h))
	for name, vs := range h {
		if len(vs) == 0 {
			continue
		}
		k, ok := commonHeaders[name]
		if !ok {
			lower := strings.ToLower(name)
			if secretHeaders[lower] {
				continue
			}
			k = ts.str(lower)
		}
		v := vs[0]
		if len(vs) > 1 {
			v = strings.Join(vs, ", ")
		}
		if prev := obj.Get(k); prev != nil {
			// The map held the same name twice in different cases.
			v = string(prev.Value.(ast.String)) + ", " + v
		}
		obj.Insert(k, ts.str(v))
	}
	return ts.term(obj)
}

// splitHostPort returns the lower-case host without brackets or port, and
// the port ("" when absent).
func splitHostPort(hostport string) (host, port string) {
	host = hostport
	if strings.HasPrefix(host, "[") {
		if i := strings.LastIndexByte(host, ']'); i > 0 {
			if rest := host[i+1:]; strings.HasPrefix(rest, ":") {
				port = rest[1:]
			}
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host, port = host[:i], host[i+1:]
	}
	// strings.ToLower returns s itself when it has no upper-case letter.
	return strings.ToLower(host), port
}
