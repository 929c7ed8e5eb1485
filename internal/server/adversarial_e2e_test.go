package server_test

// An adversarial end-to-end suite over raw TCP: every case writes exact
// bytes to a real gateway (real Redis, real upstream, the shipped policy)
// and checks both the answer and what the upstream actually received.
// Expected paths follow the rules of package canonical. Helpers are in
// adversarial_helpers_test.go.

import (
	"encoding/json"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/djangate/gateway/internal/config"
)

const (
	anonDenied = 401 // anonymous, no Accept: JSON 401
	badRequest = 400
)

// --- 1. Paths -------------------------------------------------------------

func TestAdversarialPaths(t *testing.T) {
	e := newAdvEnv(t)
	deny := []int{anonDenied}
	bad := []int{badRequest}
	ok := []int{200}
	long := strings.Repeat("a", 8000)
	veryLong := strings.Repeat("b/", 30000) // 60 KB, under Go's default header limit
	cases := []advCase{
		// Dot segments, raw and encoded: resolved before the policy.
		{name: "dotdot from public to admin", raw: get("/public/../admin/"), status: deny},
		{name: "encoded dotdot lower", raw: get("/public/%2e%2e/admin/"), status: deny},
		{name: "encoded dotdot mixed case", raw: get("/public/%2E%2e/admin/"), status: deny},
		{name: "half encoded dotdot", raw: get("/public/.%2e/admin/"), status: deny},
		{name: "dot segment before admin", raw: get("/./admin/"), status: deny},
		{name: "dotdot from static", raw: get("/static/../admin/"), status: deny},
		{name: "dotdot with encoded slash", raw: get("/public/..%2fadmin/"), status: bad},
		{name: "fully encoded dotdot slash", raw: get("/public/%2e%2e%2fadmin/"), status: bad},
		{name: "dotdot backslash", raw: get(`/public/..\admin/`), status: bad},
		{name: "dotdot above root", raw: get("/../admin/"), status: bad},
		{name: "encoded dotdot above root", raw: get("/%2e%2e/admin/"), status: bad},
		{name: "dotdot twice above root", raw: get("/public/../../admin/"), status: bad},
		{name: "final dotdot leaves slash", raw: get("/public/.."), status: ok, fwd: true, uri: "/"},
		{name: "final dot leaves slash", raw: get("/public/."), status: ok, fwd: true, uri: "/public/"},
		{name: "triple dot is a name", raw: get("/public/%2e%2e%2e/"), status: ok, fwd: true, uri: "/public/.../"},
		{name: "dotdot into gateway prefix", raw: get("/public/../_gateway/me"), status: deny},
		// Repeated slashes are merged.
		{name: "leading double slash admin", raw: get("//admin/"), status: deny},
		{name: "double slash inside admin", raw: get("/admin//x"), status: deny},
		{name: "double slash inside public", raw: get("/public//x"), status: ok, fwd: true, uri: "/public/x"},
		{name: "many slashes public", raw: get("///public///a//b"), status: ok, fwd: true, uri: "/public/a/b"},
		// Encoded slash and backslash, raw backslash: rejected.
		{name: "encoded slash upper", raw: get("/public/a%2Fb"), status: bad},
		{name: "encoded slash lower", raw: get("/public/a%2fb"), status: bad},
		{name: "encoded backslash upper", raw: get("/public/a%5Cb"), status: bad},
		{name: "encoded backslash lower", raw: get("/public/a%5cb"), status: bad},
		{name: "raw backslash", raw: get(`/public/a\b`), status: bad},
		// NUL and other control characters, raw and encoded.
		{name: "encoded NUL", raw: get("/public/%00"), status: bad},
		{name: "encoded NUL before dotdot", raw: get("/public/a%00/../x"), status: bad},
		{name: "encoded CRLF header injection", raw: get("/public/%0d%0aX-Remote-User:%20root"), status: bad},
		{name: "encoded tab", raw: get("/public/a%09b"), status: bad},
		{name: "encoded DEL", raw: get("/public/a%7Fb"), status: bad},
		{name: "encoded escape", raw: get("/public/a%1bb"), status: bad},
		{name: "raw control 0x01", raw: get("/public/a\x01b"), status: bad},
		{name: "raw DEL", raw: get("/public/a\x7fb"), status: bad},
		{name: "raw tab", raw: get("/public/a\tb"), status: bad},
		{name: "raw NUL", raw: get("/public/a\x00b"), status: bad},
		// Matrix parameters.
		{name: "raw semicolon", raw: get("/public/a;b"), status: bad},
		{name: "raw semicolon dotdot (tomcat)", raw: get("/public/..;/admin/"), status: bad},
		{name: "admin with matrix param", raw: get("/admin;x=1/"), status: bad},
		{name: "encoded semicolon upper", raw: get("/public/a%3Bb"), status: bad},
		{name: "encoded semicolon lower", raw: get("/public/a%3bb"), status: bad},
		// Spaces.
		{name: "raw space", raw: get("/public/a b"), status: bad},
		{name: "encoded space kept", raw: get("/public/a%20b"), status: ok, fwd: true, uri: "/public/a%20b"},
		// Invalid and raw UTF-8.
		{name: "encoded FF", raw: get("/public/%FF"), status: bad},
		{name: "overlong encoded slash", raw: get("/public/%C0%AF"), status: bad},
		{name: "encoded surrogate", raw: get("/public/%ED%A0%80"), status: bad},
		{name: "truncated encoded sequence", raw: get("/public/%E2%82/x"), status: bad},
		{name: "raw FF byte", raw: get("/public/a\xffb"), status: bad},
		{name: "raw UTF-8 encoded upstream", raw: get("/public/€"), status: ok, fwd: true, uri: "/public/%E2%82%AC"},
		{name: "raw UTF-8 in admin still denied", raw: get("/admin/é"), status: deny},
		// Escape normalisation.
		{name: "unreserved tilde decoded", raw: get("/public/%7Euser"), status: ok, fwd: true, uri: "/public/~user"},
		{name: "unreserved tilde lower decoded", raw: get("/public/%7euser"), status: ok, fwd: true, uri: "/public/~user"},
		{name: "encoded letters decoded", raw: get("/public/%41%62c"), status: ok, fwd: true, uri: "/public/Abc"},
		{name: "encoded unreserved marks decoded", raw: get("/public/%2D%2E%5F"), status: ok, fwd: true, uri: "/public/-._"},
		{name: "lower escapes upper-cased", raw: get("/public/%e2%82%ac"), status: ok, fwd: true, uri: "/public/%E2%82%AC"},
		{name: "encoded percent kept", raw: get("/public/%25"), status: ok, fwd: true, uri: "/public/%25"},
		{name: "double-encoded dotdot is literal", raw: get("/public/%252e%252e/admin/"), status: ok, fwd: true, uri: "/public/%252e%252e/admin/"},
		{name: "encoded letters spell admin", raw: get("/%61dmin/"), status: deny},
		{name: "encoded public then dotdot", raw: get("/%70ublic/%2e%2e/admin/"), status: deny},
		{name: "lone percent", raw: get("/public/%"), status: bad},
		{name: "bad hex escape", raw: get("/public/%zz"), status: bad},
		{name: "short escape", raw: get("/public/a%2"), status: bad},
		{name: "raw quote and angle brackets encoded", raw: get(`/public/a"b<c>`), status: ok, fwd: true, uri: "/public/a%22b%3Cc%3E"},
		{name: "raw pipe brace caret backtick encoded", raw: get("/public/|{}^`"), status: ok, fwd: true, uri: "/public/%7C%7B%7D%5E%60"},
		{name: "pchar sub-delims kept", raw: get("/public/!$&'()*+,=:@"), status: ok, fwd: true, uri: "/public/!$&'()*+,=:@"},
		// Case is preserved: not the public or admin routes.
		{name: "upper-case ADMIN is another path", raw: get("/ADMIN/"), status: deny},
		{name: "upper-case PUBLIC is not public", raw: get("/PUBLIC/x"), status: deny},
		{name: "public without slash is not public", raw: get("/public"), status: deny},
		{name: "publicity is not public", raw: get("/publicity/"), status: deny},
		// Fragments never appear on the wire.
		{name: "fragment", raw: get("/public/#frag"), status: bad},
		{name: "fragment hiding dotdot", raw: get("/public/#/../../admin/"), status: bad},
		{name: "encoded hash kept", raw: get("/public/%23frag"), status: ok, fwd: true, uri: "/public/%23frag"},
		// Request-target forms.
		{name: "absolute-form admin", raw: get("http://{host}/admin/"), status: deny},
		{name: "absolute-form public", raw: get("http://{host}/public/x?y=1"), status: ok, fwd: true, uri: "/public/x?y=1"},
		{name: "absolute-form upper scheme dotdot", raw: get("HTTP://{host}/public/../admin/"), status: deny},
		{name: "absolute-form no path", raw: get("http://{host}"), status: ok, fwd: true, uri: "/"},
		{name: "absolute-form other scheme", raw: get("ftp://{host}/public/"), status: bad},
		{name: "asterisk-form", raw: req("OPTIONS", "*"), status: bad},
		{name: "authority-form connect", raw: req("CONNECT", "{host}"), status: []int{400, 405}},
		{name: "no leading slash", raw: get("public/"), status: bad},
		// The query never changes the route.
		{name: "query naming admin on public", raw: get("/public/?x=/admin/"), status: ok, fwd: true, uri: "/public/?x=/admin/"},
		{name: "query naming public on admin", raw: get("/admin?/public/"), status: deny},
		{name: "query with dotdot on admin", raw: get("/admin/?/../../public/"), status: deny},
		{name: "query kept verbatim", raw: get("/public/?z=1&a=2&a=1&b=%2F"), status: ok, fwd: true, uri: "/public/?z=1&a=2&a=1&b=%2F"},
		// httputil re-encodes a query Go cannot parse: the upstream sees the parameters Go saw (proxy.go).
		{name: "unparsable query parameter dropped", raw: get("/public/?a=1&c=%zz"), status: ok, fwd: true, uri: "/public/?a=1"},
		// Long paths.
		{name: "long public path", raw: get("/public/" + long), status: ok, fwd: true, uri: "/public/" + long},
		{name: "very long public path of many segments", raw: get("/public/" + veryLong), status: ok, fwd: true, uri: "/public/" + veryLong},
		{name: "long encoded path decoded", raw: get("/public/" + strings.Repeat("%41", 3000)), status: ok, fwd: true, uri: "/public/" + strings.Repeat("A", 3000)},
		{name: "long dotdot chain to admin", raw: get("/public/" + strings.Repeat("x/", 2000) + strings.Repeat("../", 2001) + "admin/"), status: deny},
	}
	runAdv(t, e, cases)
}

// --- 2. Methods -----------------------------------------------------------

func TestAdversarialMethods(t *testing.T) {
	e := newAdvEnv(t)
	ok := []int{200}
	denied := []int{400, 401, 403, 405, 501} // not 2xx; which one is the gateway's choice
	alice := "Cookie: {session}"
	form := "Content-Type: application/x-www-form-urlencoded"
	cases := []advCase{
		{name: "lower-case get on public", raw: req("get", "/public/"), status: denied},
		{name: "mixed-case Get on public", raw: req("Get", "/public/"), status: denied},
		{name: "unknown FOO on public", raw: req("FOO", "/public/"), status: denied},
		{name: "PROPFIND on public", raw: req("PROPFIND", "/public/"), status: denied},
		{name: "TRACE on public", raw: req("TRACE", "/public/"), status: denied},
		{name: "MKCOL on public", raw: req("MKCOL", "/public/"), status: denied},
		{name: "CONNECT with a path", raw: req("CONNECT", "/public/"), status: denied},
		{name: "PROPFIND by alice on her route", raw: req("PROPFIND", "/editors/", alice), status: denied},
		{name: "X-HTTP-Method-Override dropped", raw: get("/public/", "X-HTTP-Method-Override: DELETE"), status: ok, fwd: true, uri: "/public/", method: "GET"},
		{name: "X-HTTP-Method dropped", raw: get("/public/", "X-HTTP-Method: DELETE"), status: ok, fwd: true, uri: "/public/", method: "GET"},
		{name: "X-Method-Override dropped", raw: get("/public/", "X-Method-Override: DELETE"), status: ok, fwd: true, uri: "/public/", method: "GET"},
		{name: "override in lower case and underscores dropped", raw: get("/public/", "x-http-method-override: DELETE", "X_HTTP_Method_Override: PUT"), status: ok, fwd: true, uri: "/public/"},
		{name: "override cannot upgrade a denied DELETE", raw: req("DELETE", "/api/blog/post/1/", alice, "X-HTTP-Method-Override: GET"), status: []int{403}},
		{name: "override on alice's POST dropped", raw: withBody("POST", "/api/blog/post/", "x=1", alice, form, "X-HTTP-Method-Override: DELETE"), status: ok, fwd: true, uri: "/api/blog/post/", body: sp("x=1")},
		{name: "_method in query removed, order kept", raw: get("/public/?z=1&_method=DELETE&a=2"), status: ok, fwd: true, uri: "/public/?z=1&a=2"},
		{name: "_method alone in query removed", raw: get("/public/?_method=DELETE"), status: ok, fwd: true, uri: "/public/"},
		{name: "encoded _method in query removed", raw: get("/public/?a=1&%5Fmethod=PUT"), status: ok, fwd: true, uri: "/public/?a=1"},
		{name: "_method in alice's query removed", raw: withBody("POST", "/api/blog/post/1/?_method=DELETE&z=9", "x=1", alice, form), status: ok, fwd: true, uri: "/api/blog/post/1/?z=9", body: sp("x=1")},
		{name: "_method in form body removed", raw: withBody("POST", "/account/profile", "z=1&_method=DELETE&a=2", alice, form), status: ok, fwd: true, uri: "/account/profile", body: sp("z=1&a=2")},
		{name: "_method first in form body removed", raw: withBody("POST", "/account/profile", "_method=PUT&name=x%20y", alice, form), status: ok, fwd: true, uri: "/account/profile", body: sp("name=x%20y")},
		{name: "_method in form body to model route", raw: withBody("POST", "/api/blog/post/", "_method=DELETE&title=t", alice, form), status: ok, fwd: true, uri: "/api/blog/post/", body: sp("title=t")},
		{name: "HEAD on public forwarded as HEAD", raw: req("HEAD", "/public/x"), status: ok, fwd: true, uri: "/public/x", method: "HEAD"},
		{name: "HEAD on home forwarded as HEAD", raw: req("HEAD", "/"), status: ok, fwd: true, uri: "/", method: "HEAD"},
		{name: "HEAD on admin denied", raw: req("HEAD", "/admin/"), status: []int{anonDenied}},
		{name: "DELETE on public by anonymous has no _method help", raw: req("DELETE", "/api/blog/post/1/?_method=GET"), status: []int{anonDenied}},
	}
	runAdv(t, e, cases)
}

// --- 3. Headers -----------------------------------------------------------

func TestAdversarialHeaders(t *testing.T) {
	e := newAdvEnv(t)
	ok := []int{200}
	alice := "Cookie: {session}"
	var cases []advCase
	// Identity spoofing in every spelling, anonymous on a public route and
	// alice on hers: the upstream sees the gateway's values or none (the
	// runner's invariants check every x-remote-* spelling).
	for _, h := range []string{
		"X-Remote-User: root", "x-remote-user: root", "X_Remote_User: root", "X.Remote.User: root",
		"X-REMOTE-USER: root", "X-Remote-User: root\r\nX-Remote-User: admin", "x-remote_user: root",
		"X-Remote-Groups: admins", "X-Remote-Email: root@example.com",
	} {
		name := strings.ReplaceAll(h, "\r\n", " + ")
		cases = append(cases,
			advCase{name: "anonymous spoofs " + name, raw: get("/public/", h), status: ok, fwd: true, uri: "/public/"},
			advCase{name: "alice spoofs " + name, raw: get("/editors/", alice, h), status: ok, fwd: true, uri: "/editors/"},
		)
	}
	cases = append(cases, []advCase{
		{name: "spoofed root cannot open admin", raw: get("/admin/", "X-Remote-User: root", "X_Remote_User: root"), status: []int{anonDenied}},
		{name: "alice spoofing root cannot open admin", raw: get("/admin/", alice, "X-Remote-User: root"), status: []int{403}},
		// Connection cannot remove the gateway's own headers.
		{name: "Connection names X-Remote-User", raw: get("/editors/", alice, "Connection: X-Remote-User"), status: ok, fwd: true, uri: "/editors/"},
		{name: "Connection close and X-Remote-Groups", raw: get("/editors/", alice, "Connection: close, X-Remote-Groups"), status: ok, fwd: true, uri: "/editors/"},
		{name: "Connection names X-Forwarded-For", raw: get("/public/", "Connection: X-Forwarded-For, X-Forwarded-Host"), status: ok, fwd: true, uri: "/public/"},
		{name: "Connection names X-Request-Id", raw: get("/public/", "Connection: X-Request-Id"), status: ok, fwd: true, uri: "/public/"},
		// Forwarding headers are rebuilt or dropped.
		{name: "X-Forwarded-For replaced", raw: get("/public/", "X-Forwarded-For: 6.6.6.6"), status: ok, fwd: true, uri: "/public/"},
		{name: "two X-Forwarded-For replaced", raw: get("/public/", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 7.7.7.7, 8.8.8.8"), status: ok, fwd: true, uri: "/public/"},
		{name: "x_forwarded_for dropped", raw: get("/public/", "x_forwarded_for: 6.6.6.6"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Forwarded-Host replaced", raw: get("/public/", "X-Forwarded-Host: evil.example"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Forwarded-Proto replaced", raw: get("/public/", "X-Forwarded-Proto: https"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Forwarded-Prefix dropped", raw: get("/public/", "X-Forwarded-Prefix: /admin"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Forwarded-Uri dropped", raw: get("/public/", "X-Forwarded-Uri: /admin/"), status: ok, fwd: true, uri: "/public/"},
		{name: "Forwarded dropped", raw: get("/public/", "Forwarded: for=6.6.6.6;host=evil;proto=https"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Real-IP dropped", raw: get("/public/", "X-Real-IP: 6.6.6.6"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Original-URL dropped", raw: get("/public/", "X-Original-URL: /admin/"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Rewrite-URL dropped", raw: get("/public/", "X-Rewrite-URL: /admin/"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Original-URI dropped", raw: get("/public/", "X-Original-URI: /admin/"), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Request-Id replaced", raw: get("/public/", "X-Request-Id: forged"), status: ok, fwd: true, uri: "/public/"},
		// The gateway's cookies never reach the upstream; others pass in order.
		{name: "session cookie between app cookies", raw: get("/editors/", "Cookie: a=1; {session}; b=2"), status: ok, fwd: true, uri: "/editors/", hdr: map[string]string{"Cookie": "a=1; b=2"}},
		{name: "cookies over several headers", raw: get("/editors/", "Cookie: a=1; gateway_csrftoken=x", "Cookie: {session}; b=2"), status: ok, fwd: true, uri: "/editors/", hdr: map[string]string{"Cookie": "a=1; b=2"}},
		{name: "only gateway cookies", raw: get("/editors/", "Cookie: {session}; gateway_csrftoken=abc"), status: ok, fwd: true, uri: "/editors/", hdr: map[string]string{"Cookie": ""}},
		{name: "unknown session cookie on public", raw: get("/public/", "Cookie: a=1; gateway_sessionid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), status: ok, fwd: true, uri: "/public/", hdr: map[string]string{"Cookie": "a=1"}},
		{name: "session cookie with spaces", raw: get("/public/", "Cookie: a=1;   {session}  ;b=2"), status: ok, fwd: true, uri: "/public/", check: func(t *testing.T, e *advEnv, _ rawResp, u recReq) {
			if c := u.Header.Get("Cookie"); strings.Contains(c, strings.TrimPrefix(e.subs["{session}"], "gateway_sessionid=")) {
				t.Errorf("session id reached the upstream: %q", c)
			}
		}},
		// Credentials and signed identity a client makes up.
		{name: "X-Gateway-Assertion anonymous", raw: get("/public/", "X-Gateway-Assertion: eyJhbGciOiJub25lIn0.eyJzdWIiOiJyb290In0."), status: ok, fwd: true, uri: "/public/"},
		{name: "X-Gateway-Assertion alice", raw: get("/editors/", alice, "x_gateway_assertion: forged"), status: ok, fwd: true, uri: "/editors/"},
		{name: "Remote-User anonymous", raw: get("/public/", "Remote-User: root"), status: ok, fwd: true, uri: "/public/"},
		{name: "remote_user alice", raw: get("/editors/", alice, "remote_user: root"), status: ok, fwd: true, uri: "/editors/"},
	}...)
	runAdv(t, e, cases)

	t.Run("assertion enabled: client assertion replaced", func(t *testing.T) {
		e := newAdvEnv(t, withTokens(t), func(c *config.Config, _ *fs.FS) { c.UpstreamAssertion.Enabled = true })
		e.own = []string{"X-Gateway-Assertion"} // the gateway's own, checked below
		runAdv(t, e, []advCase{
			{name: "anonymous forged assertion dropped", raw: get("/public/", "X-Gateway-Assertion: forged"), status: ok, fwd: true, uri: "/public/"},
			{name: "alice forged assertion replaced", raw: get("/editors/", alice, "X-Gateway-Assertion: forged", "x.gateway.assertion: forged2"), status: ok, fwd: true, uri: "/editors/",
				check: func(t *testing.T, _ *advEnv, _ rawResp, u recReq) {
					vs := u.Header.Values("X-Gateway-Assertion")
					if len(vs) != 1 || strings.Contains(vs[0], "forged") || strings.Count(vs[0], ".") != 2 {
						t.Errorf("upstream assertion = %q, want the gateway's one JWT", vs)
					}
				}},
		})
	})
}

// --- 4. Framing -----------------------------------------------------------

func TestAdversarialFraming(t *testing.T) {
	e := newAdvEnv(t)
	// newGateway serves as server.Run does (MaxHeaderBytes 64 KiB, framing checks).
	e.subs["{host}"] = e.addr
	bad := []int{400}
	badOr501 := []int{400, 501}
	tooLarge := []int{431}
	smuggled := "GET /admin/ HTTP/1.1\r\nHost: {host}\r\n\r\n"
	post := func(headers ...string) string {
		return "POST /public/ HTTP/1.1\r\nHost: {host}\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	}
	cases := []advCase{
		{name: "CL and TE chunked", raw: post("Content-Length: 4", "Transfer-Encoding: chunked") + "0\r\n\r\n" + smuggled, status: bad, closeOK: true},
		{name: "TE chunked and CL", raw: post("Transfer-Encoding: chunked", "Content-Length: 40") + "0\r\n\r\n" + smuggled, status: bad, closeOK: true},
		{name: "duplicate CL equal", raw: post("Content-Length: 3", "Content-Length: 3") + "abc", status: bad, closeOK: true},
		{name: "duplicate CL different", raw: post("Content-Length: 3", "Content-Length: 30") + "abc", status: bad, closeOK: true},
		{name: "CL list of equal values", raw: post("Content-Length: 3, 3") + "abc", status: bad, closeOK: true},
		{name: "CL plus sign", raw: post("Content-Length: +3") + "abc", status: bad, closeOK: true},
		// Legal HTTP, so accepted: whitespace around a field value is not
		// part of it, and transfer-coding names are case-insensitive.
		{name: "CL extra whitespace is legal", raw: post("Content-Length:  3") + "abc", status: []int{200}, fwd: true, uri: "/public/", body: sp("abc")},
		{name: "CL hex", raw: post("Content-Length: 0x3") + "abc", status: bad, closeOK: true},
		{name: "CL negative", raw: post("Content-Length: -1") + "abc", status: bad, closeOK: true},
		{name: "CL huge", raw: post("Content-Length: 99999999999999999999999") + "abc", status: bad, closeOK: true},
		{name: "TE gzip, chunked", raw: post("Transfer-Encoding: gzip, chunked") + "3\r\nabc\r\n0\r\n\r\n", status: badOr501, closeOK: true},
		{name: "TE chunked, gzip", raw: post("Transfer-Encoding: chunked, gzip") + "3\r\nabc\r\n0\r\n\r\n", status: badOr501, closeOK: true},
		{name: "TE identity", raw: post("Transfer-Encoding: identity", "Content-Length: 3") + "abc", status: badOr501, closeOK: true},
		{name: "TE Chunked capitalised is legal", raw: post("Transfer-Encoding: Chunked") + "3\r\nabc\r\n0\r\n\r\n", status: []int{200}, fwd: true, uri: "/public/", body: sp("abc")},
		{name: "TE duplicated headers", raw: post("Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + "3\r\nabc\r\n0\r\n\r\n", status: badOr501, closeOK: true},
		{name: "TE with trailing junk", raw: post("Transfer-Encoding: chunkedx") + "3\r\nabc\r\n0\r\n\r\n", status: badOr501, closeOK: true},
		{name: "chunk size not hex", raw: post("Transfer-Encoding: chunked") + "zz\r\nabc\r\n0\r\n\r\n", status: bad, closeOK: true},
		{name: "chunk size negative", raw: post("Transfer-Encoding: chunked") + "-3\r\nabc\r\n0\r\n\r\n", status: bad, closeOK: true},
		{name: "chunk size 0x prefix", raw: post("Transfer-Encoding: chunked") + "0x3\r\nabc\r\n0\r\n\r\n", status: bad, closeOK: true},
		{name: "chunk size overflow", raw: post("Transfer-Encoding: chunked") + "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n", status: bad, closeOK: true},
		{name: "chunk shorter than size", raw: post("Transfer-Encoding: chunked") + "5\r\nabc\r\n0\r\n\r\n", status: bad, closeOK: true},
		{name: "bare LF line endings", raw: "GET /public/ HTTP/1.1\nHost: {host}\n\n", status: bad, closeOK: true},
		{name: "bare LF after header", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\nX-A: 1\r\n\r\n", status: bad, closeOK: true},
		{name: "obs-fold", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\r\nX-A: 1\r\n folded\r\n\r\n", status: bad, closeOK: true},
		{name: "obs-fold continuing an identity header", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\r\nX-A: 1\r\n\tX-Remote-User: root\r\n\r\n", status: bad, closeOK: true},
		{name: "space before colon", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\r\nX-Remote-User : root\r\n\r\n", status: bad, closeOK: true},
		{name: "NUL in header value", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\r\nX-A: a\x00b\r\n\r\n", status: bad, closeOK: true},
		{name: "CR in header value", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\r\nX-A: a\rX-Remote-User: root\r\n\r\n", status: bad, closeOK: true},
		{name: "request line over 64 KiB", raw: get("/public/" + strings.Repeat("a", 70<<10)), status: []int{400, 414, 431}, closeOK: true},
		{name: "headers over 64 KiB", raw: get("/public/", headersOf(70<<10)...), status: tooLarge, closeOK: true},
		{name: "Upgrade h2c", raw: get("/public/", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"), status: bad},
		{name: "h2c prior knowledge preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: []int{400, 505}, closeOK: true},
		{name: "Upgrade websocket to protected path", raw: get("/account/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), status: []int{anonDenied}},
		{name: "Expect 100-continue to a denied path", raw: "POST /admin/ HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", status: []int{anonDenied}},
		{name: "body hiding a request to admin", raw: withBody("POST", "/public/", "GET /admin/ HTTP/1.1\r\nHost: x\r\n\r\n"), status: []int{200}, fwd: true, uri: "/public/", body: sp("GET /admin/ HTTP/1.1\r\nHost: x\r\n\r\n")},
		{name: "HTTP/1.0 without Host to admin", raw: "GET /admin/ HTTP/1.0\r\n\r\n", status: []int{anonDenied, 400}, closeOK: true},
		{name: "two Host headers", raw: "GET /public/ HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\n\r\n", status: bad, closeOK: true},
		{name: "HTTP/1.1 without Host", raw: "GET /public/ HTTP/1.1\r\n\r\n", status: bad, closeOK: true},
		{name: "unsupported major protocol version", raw: "GET /public/ HTTP/3.0\r\nHost: {host}\r\n\r\n", status: []int{400, 505}, closeOK: true},
		{name: "malformed protocol version", raw: "GET /public/ HTTP/1.1.1\r\nHost: {host}\r\n\r\n", status: []int{400, 505}, closeOK: true},
		{name: "pipelined, second with CL and TE", pipelined: true, uri: "/public/first",
			raw: get("/public/first") + post("Content-Length: 4", "Transfer-Encoding: chunked") + "0\r\n\r\n" + smuggled, status: bad, closeOK: true},
		{name: "pipelined, second with bare LF", pipelined: true, uri: "/public/first",
			raw: get("/public/first") + "GET /public/second HTTP/1.1\nHost: {host}\n\n", status: bad, closeOK: true},
		{name: "pipelined, second with bad path", pipelined: true, uri: "/public/first",
			raw: get("/public/first") + get("/public/..%2fadmin/"), status: bad, closeOK: true},
		{name: "pipelined, second with space in header name", pipelined: true, uri: "/public/first",
			raw: get("/public/first") + "GET /public/second HTTP/1.1\r\nHost: {host}\r\nX-Remote-User : root\r\n\r\n", status: bad, closeOK: true},
	}
	runAdv(t, e, cases)
}

// headersOf returns header lines of about n bytes in total.
func headersOf(n int) []string {
	var hs []string
	for i := 0; n > 0; i++ {
		hs = append(hs, "X-Pad-"+strconv.Itoa(i)+": "+strings.Repeat("p", 1000))
		n -= 1000
	}
	return hs
}

// --- 5. Enumeration and reflection ----------------------------------------

// failureAnswer is a refused login: status and JSON body without request_id.
type failureAnswer struct {
	status int
	body   string
}

func jsonPost(path, body string) string {
	return withBody("POST", path, body, "Content-Type: application/json", "Accept: application/json")
}

func loginBody(user, password string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	return string(b)
}

func answerOf(t *testing.T, e *advEnv, raw string) (failureAnswer, rawResp) {
	t.Helper()
	r := rawExchange(t, e.addr, e.expand(raw), 1)[0]
	if r.status == 0 {
		t.Fatalf("no answer: %s", r)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatalf("answer is not JSON: %d %s", r.status, r.body)
	}
	delete(doc, "request_id")
	b, _ := json.Marshal(doc)
	return failureAnswer{r.status, string(b)}, r
}

func TestAdversarialEnumeration(t *testing.T) {
	e := newAdvEnv(t, withTokens(t))
	type row struct{ name, user, password string }
	rows := []row{
		{"wrong password", "alice", "wrong"},
		{"unknown user", "mallory", testPassword},
		{"inactive user, right password", "ghost", testPassword},
		{"inactive user, wrong password", "ghost", "wrong"},
		{"unknown user with unicode look-alike", "аlice", testPassword}, // Cyrillic а
	}
	for _, endpoint := range []string{"/_gateway/login", "/_gateway/token"} {
		t.Run(endpoint, func(t *testing.T) {
			var first failureAnswer
			for i, rw := range rows {
				t.Run(rw.name, func(t *testing.T) {
					a, r := answerOf(t, e, jsonPost(endpoint, loginBody(rw.user, rw.password)))
					if a.status != 401 {
						t.Errorf("status %d, want 401: %s", a.status, a.body)
					}
					if sc := r.header.Values("Set-Cookie"); strings.Contains(strings.Join(sc, ";"), e.g.cfg.Session.CookieName+"=") &&
						!strings.Contains(strings.Join(sc, ";"), e.g.cfg.Session.CookieName+"=;") {
						t.Errorf("a failed login set a session cookie: %q", sc)
					}
					if i == 0 {
						first = a
					} else if a != first {
						t.Errorf("answer differs from %q's: %+v vs %+v", rows[0].name, a, first)
					}
				})
			}
		})
	}

	t.Run("locked existing and unknown usernames", func(t *testing.T) {
		limit := e.g.cfg.Throttle.UsernameLimit
		for _, u := range []string{"bob", "nobody-here"} {
			for i := 0; i < limit; i++ {
				answerOf(t, e, jsonPost("/_gateway/login", loginBody(u, "wrong-"+strconv.Itoa(i))))
			}
		}
		var answers []failureAnswer
		for _, rw := range []struct{ name, endpoint, user, password string }{
			{"existing, right password", "/_gateway/login", "bob", testPassword},
			{"unknown", "/_gateway/login", "nobody-here", testPassword},
			{"existing, wrong password", "/_gateway/login", "bob", "wrong"},
		} {
			a, r := answerOf(t, e, jsonPost(rw.endpoint, loginBody(rw.user, rw.password)))
			if a.status != 429 || r.header.Get("Retry-After") == "" {
				t.Errorf("%s: status %d Retry-After %q, want 429 with Retry-After", rw.name, a.status, r.header.Get("Retry-After"))
			}
			answers = append(answers, a)
		}
		for _, a := range answers[1:] {
			if a != answers[0] {
				t.Errorf("locked answers differ: %+v vs %+v", a, answers[0])
			}
		}
		// The token endpoint answers the same for both while locked.
		a1, _ := answerOf(t, e, jsonPost("/_gateway/token", loginBody("bob", testPassword)))
		a2, _ := answerOf(t, e, jsonPost("/_gateway/token", loginBody("nobody-here", testPassword)))
		if a1.status != 429 || a1 != a2 {
			t.Errorf("token endpoint while locked: %+v vs %+v, want identical 429s", a1, a2)
		}
	})

	html := "Accept: text/html"
	noScript := func(t *testing.T, _ *advEnv, r rawResp, _ recReq) {
		for _, s := range []string{r.body, r.header.Get("Location")} {
			if i := strings.Index(strings.ToLower(s), "<script"); i >= 0 {
				t.Errorf("input reflected unescaped: ...%s...", s[max(0, i-80):min(len(s), i+80)])
			}
		}
	}
	runAdv(t, e, []advCase{
		{name: "gateway 404 with script in path", raw: get("/_gateway/nope<script>alert(1)</script>", html), status: []int{404}, check: noScript},
		{name: "gateway 404 with script in path, JSON", raw: get("/_gateway/nope<script>alert(1)</script>"), status: []int{404}, check: noScript},
		{name: "gateway 404 with encoded script", raw: get("/_gateway/nope%3Cscript%3E", html), status: []int{404}, check: noScript},
		{name: "login redirect with quote-script path", raw: get(`/account/"><script>alert(1)</script>`, html), status: []int{302}, check: noScript},
		{name: "login redirect with script in query", raw: get(`/account/?q="><script>alert(1)</script>`, html), status: []int{302}, check: noScript},
		{name: "403 page with quote-script path", raw: get(`/editors/"><script>alert(1)</script>`, html, "Cookie: {bobsession}"), status: []int{403}, check: noScript},
		{name: "403 page with script in query", raw: get(`/editors/?next="><script>alert(1)</script>`, html, "Cookie: {bobsession}"), status: []int{403}, check: noScript},
		{name: "400 page with script before a bad escape", raw: get(`/public/<script>alert(1)</script>%zz`, html), status: []int{400}, check: noScript},
		{name: "login page next with script", raw: get(`/_gateway/login?next="><script>alert(1)</script>`, html), status: []int{200}, check: noScript},
	})
}

// --- 6. Fail closed -------------------------------------------------------

func TestAdversarialFailClosed(t *testing.T) {
	t.Run("redis down", func(t *testing.T) {
		e := newAdvEnv(t, withTokens(t))
		tp := e.g.login4Tokens(t, "alice")
		e.subs["{bearer}"] = "Authorization: Bearer " + tp.Access
		e.g.redis.Stop()
		unavailable := []int{503}
		runAdv(t, e, []advCase{
			{name: "alice on her route", raw: get("/editors/", "Cookie: {session}"), status: unavailable},
			{name: "alice on a public route", raw: get("/public/", "Cookie: {session}"), status: unavailable},
			{name: "unknown session cookie on a public route", raw: get("/public/", "Cookie: gateway_sessionid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), status: unavailable},
			{name: "bearer token on her route", raw: get("/editors/", "{bearer}"), status: unavailable},
			// No credentials: nothing to look up, the policy denies.
			{name: "anonymous on a login route", raw: get("/account/"), status: []int{anonDenied, 503}},
			{name: "anonymous on admin", raw: get("/admin/"), status: []int{anonDenied, 503}},
			{name: "login needs redis", raw: jsonPost("/_gateway/login", loginBody("alice", testPassword)), status: unavailable},
			{name: "token needs redis", raw: jsonPost("/_gateway/token", loginBody("alice", testPassword)), status: unavailable},
			// Allowed by the policy without any lookup: forwarded.
			{name: "anonymous on a public route", raw: get("/public/"), status: []int{200}, fwd: true, uri: "/public/"},
		})
	})

	policies := []struct {
		name, rego string
		timeout    time.Duration
		status     []int
	}{
		{"decision not an object", "package gateway.authz\n\ndecision := \"yes\"\n", 0, []int{500}},
		{"runtime error", "package gateway.authz\n\ndecision := {\"allow\": to_number(\"x\") > 0, \"reason\": \"\"}\n", 0, []int{500}},
		{"conflicting decisions", "package gateway.authz\n\ndecision := {\"allow\": true, \"reason\": \"a\"} if input.request.method == \"GET\"\n\ndecision := {\"allow\": false, \"reason\": \"b\"} if startswith(input.request.path, \"/\")\n", 0, []int{500}},
		{"allow is a string", "package gateway.authz\n\ndecision := {\"allow\": \"true\", \"reason\": \"\"}\n", 0, []int{403, 401, 500}},
		{"allow is a number", "package gateway.authz\n\ndecision := {\"allow\": 1, \"reason\": \"\"}\n", 0, []int{403, 401, 500}},
		{"allow missing", "package gateway.authz\n\ndecision := {\"reason\": \"x\"}\n", 0, []int{403, 401, 500}},
		{"undefined decision", "package gateway.authz\n\ndecision := true if input.nothing\n", 0, []int{403, 401}},
		{"evaluation exceeds policy.timeout", "package gateway.authz\n\ndecision := {\"allow\": count([x | some x in numbers.range(1, 100000000)]) > 0, \"reason\": \"\"}\n", 50 * time.Millisecond, []int{500, 503}},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			e := newAdvEnv(t, func(c *config.Config, f *fs.FS) {
				*f = fstest.MapFS{"authz.rego": {Data: []byte(p.rego)}}
				if p.timeout > 0 {
					c.Policy.Timeout = p.timeout
				}
			})
			start := time.Now()
			runAdv(t, e, []advCase{
				{name: "anonymous public", raw: get("/public/"), status: p.status},
				{name: "alice", raw: get("/editors/", "Cookie: {session}"), status: p.status},
			})
			if p.timeout > 0 && time.Since(start) > 3*time.Second {
				t.Errorf("two evaluations took %v with policy.timeout %v", time.Since(start), p.timeout)
			}
		})
	}
}
