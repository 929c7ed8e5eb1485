package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/canonical"
	"github.com/djangate/gateway/internal/config"
)

func TestForwardPathAndQuery(t *testing.T) {
	tests := []struct {
		name   string
		base   string // path appended to the upstream URL
		target string // request-target sent to the gateway
		want   string // RequestURI the upstream must receive
	}{
		{"plain", "", "/a/b", "/a/b"},
		{"root", "", "/", "/"},
		{"query preserved", "", "/a?x=1&y=%2F&z=a+b&e=&u=%C3%A9", "/a?x=1&y=%2F&z=a+b&e=&u=%C3%A9"},
		{"empty query kept", "", "/a?", "/a?"},
		{"dot segments resolved", "", "/x/../a/%2e/b", "/a/b"},
		{"encoded dotdot resolved", "", "/admin/%2e%2E/public", "/public"},
		{"double slashes merged", "", "//admin//x", "/admin/x"},
		{"trailing slash kept", "", "/a/", "/a/"},
		{"lower hex upcased", "", "/caf%c3%a9", "/caf%C3%A9"},
		{"raw utf8 encoded", "", "/café", "/caf%C3%A9"},
		{"unreserved decoded", "", "/%7Euser/%41%2d", "/~user/A-"},
		{"reserved escapes kept", "", "/a%3Ab%40c%20d%25e%3F", "/a%3Ab%40c%20d%25e%3F"},
		{"sub-delims kept raw", "", "/a!$&'()*+,=:@", "/a!$&'()*+,=:@"},
		{"quote encoded", "", `/a"b`, "/a%22b"},
		{"absolute form", "", "http://gateway.test/x/y?z=1", "/x/y?z=1"},
		{"base path", "/base", "/a%20b?q=1", "/base/a%20b?q=1"},
		{"base path trailing slash", "/base/", "/", "/base/"},
		{"base path escaped", "/b%C3%A9se", "/x/", "/b%C3%A9se/x/"},
		{"base path dotdot stays below base", "/base", "/a/../../b", ""}, // rejected by canonical (400)
		// httputil re-encodes a query Go cannot parse, so the upstream
		// sees the parameters Go saw (the ";" pair is dropped).
		{"unparsable query re-encoded", "", "/a?b=2&x=1;y=2", "/a?b=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, seen := recordingUpstream(t)
			g := newTestGateway(t, upstreamConfig("app", up.URL+tc.base))
			res, body := rawDo(t, g.addr(), "GET "+tc.target+" HTTP/1.1", "Host: gateway.test")
			if tc.want == "" {
				if res.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400", res.StatusCode)
				}
				return
			}
			if res.StatusCode != http.StatusOK || body != "ok" {
				t.Fatalf("status %d body %q", res.StatusCode, body)
			}
			r := receive(t, seen)
			if r.RequestURI != tc.want {
				t.Errorf("upstream RequestURI = %q, want %q", r.RequestURI, tc.want)
			}
			if r.Host != up.Listener.Addr().String() {
				t.Errorf("upstream Host = %q, want the upstream's host", r.Host)
			}
			if got := r.Header.Get("X-Forwarded-Host"); got != "gateway.test" {
				t.Errorf("X-Forwarded-Host = %q", got)
			}
		})
	}
}

func TestIdentityHeaders(t *testing.T) {
	tests := []struct {
		name   string
		cookie string
		want   map[string][]string // nil value: header must be absent
	}{
		{"anonymous", "", map[string][]string{
			"X-Remote-User": nil, "X-Remote-Email": nil, "X-Remote-Groups": nil,
		}},
		{"unknown session is anonymous", "sessionid=nobody", map[string][]string{
			"X-Remote-User": nil, "X-Remote-Email": nil, "X-Remote-Groups": nil,
		}},
		{"empty username is anonymous", "sessionid=nameless", map[string][]string{
			"X-Remote-User": nil, "X-Remote-Email": nil, "X-Remote-Groups": nil,
		}},
		{"user", "sessionid=alice", map[string][]string{
			"X-Remote-User":   {"alice"},
			"X-Remote-Email":  {"alice@example.com"},
			"X-Remote-Groups": {"staff,ops"},
		}},
		{"values encoded, CRLF never sent", "sessionid=weird", map[string][]string{
			"X-Remote-User":   {"evil%0D%0AX-Injected: 1"},
			"X-Remote-Email":  nil,
			"X-Remote-Groups": {"a%2Cb,Ops Team,%20pad%20,%C3%BCn%C3%AF,100%25,tab%09here"},
			"X-Injected":      nil,
		}},
	}
	up, seen := recordingUpstream(t)
	g := newTestGateway(t, upstreamConfig("app", up.URL))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{"GET /x HTTP/1.1", "Host: gateway.test"}
			if tc.cookie != "" {
				lines = append(lines, "Cookie: "+tc.cookie)
			}
			if res, _ := rawDo(t, g.addr(), lines...); res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			h := receive(t, seen).Header
			for name, want := range tc.want {
				if got := h[name]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// spoofable reports whether an upstream could read name as one of the
// headers the gateway controls.
func spoofable(name string) bool {
	n := normalize(name)
	switch n {
	case "x-remote-user", "x-remote-email", "x-remote-groups", "x-real-ip",
		"forwarded", "x-original-url", "x-rewrite-url":
		return true
	}
	return strings.HasPrefix(n, "x-forwarded-")
}

func TestSpoofedHeadersStripped(t *testing.T) {
	variants := []struct {
		name  string
		lines []string
	}{
		{"exact names", []string{
			"X-Remote-User: mallory", "X-Remote-Email: m@evil", "X-Remote-Groups: admin",
		}},
		{"lower case", []string{
			"x-remote-user: mallory", "x-remote-email: m@evil", "x-remote-groups: admin",
		}},
		{"upper case", []string{
			"X-REMOTE-USER: mallory", "X-REMOTE-EMAIL: m@evil", "X-REMOTE-GROUPS: admin",
		}},
		{"underscores", []string{
			"x_remote_user: mallory", "X_Remote_Email: m@evil", "X_REMOTE_GROUPS: admin",
		}},
		{"dots", []string{
			"X.Remote.User: mallory", "x.remote.email: m@evil", "X.REMOTE.GROUPS: admin",
		}},
		{"mixed separators", []string{
			"X-Remote_User: mallory", "x.remote-email: m@evil", "X_Remote.Groups: admin",
		}},
		{"duplicates", []string{
			"X-Remote-User: mallory", "X-Remote-User: alice", "x-remote-user: root",
			"x_remote_user: a", "x_remote_user: b", "X-Remote-Groups: admin", "X-Remote-Groups: staff",
		}},
		{"empty values", []string{"X-Remote-User:", "x_remote_user:"}},
		{"forwarding headers", []string{
			"X-Forwarded-For: 6.6.6.6", "x_forwarded_for: 6.6.6.6", "X.Forwarded.For: 6.6.6.6",
			"Forwarded: for=6.6.6.6;proto=https", "X-Real-Ip: 6.6.6.6", "X_Real_IP: 6.6.6.6",
			"X-Forwarded-Host: evil.test", "X-Forwarded-Proto: https", "X-Forwarded-Prefix: /admin",
			"X-Forwarded-Port: 443", "X-Original-URL: /admin", "X-Rewrite-URL: /admin",
		}},
	}
	users := []struct {
		name   string
		cookie string
		want   map[string][]string
	}{
		{"anonymous", "", map[string][]string{}},
		{"alice", "sessionid=alice", map[string][]string{
			"X-Remote-User":   {"alice"},
			"X-Remote-Email":  {"alice@example.com"},
			"X-Remote-Groups": {"staff,ops"},
		}},
	}
	up, seen := recordingUpstream(t)
	g := newTestGateway(t, upstreamConfig("app", up.URL))
	for _, v := range variants {
		for _, u := range users {
			t.Run(v.name+"/"+u.name, func(t *testing.T) {
				lines := append([]string{"GET /x HTTP/1.1", "Host: gateway.test"}, v.lines...)
				if u.cookie != "" {
					lines = append(lines, "Cookie: "+u.cookie)
				}
				if res, body := rawDo(t, g.addr(), lines...); res.StatusCode != http.StatusOK {
					t.Fatalf("status %d %s", res.StatusCode, body)
				}
				want := map[string][]string{
					"X-Forwarded-For":   {"127.0.0.1"},
					"X-Forwarded-Host":  {"gateway.test"},
					"X-Forwarded-Proto": {"http"},
				}
				for k, v := range u.want {
					want[k] = v
				}
				got := map[string][]string{}
				for k, v := range receive(t, seen).Header {
					if spoofable(k) {
						got[k] = v
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("upstream got\n %q\nwant\n %q", got, want)
				}
			})
		}
	}
}

func TestConnectionHeaderAttack(t *testing.T) {
	tests := []struct {
		name       string
		connection string
	}{
		{"identity and forwarding", "X-Remote-User, X-Forwarded-For"},
		{"all gateway headers", "keep-alive, X-Remote-User, X-Remote-Email, X-Remote-Groups, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto"},
		{"lower case", "x-remote-user,x-forwarded-for"},
	}
	up, seen := recordingUpstream(t)
	g := newTestGateway(t, upstreamConfig("app", up.URL))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := rawDo(t, g.addr(), "GET /x HTTP/1.1", "Host: gateway.test",
				"Cookie: sessionid=alice", "Connection: "+tc.connection)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			h := receive(t, seen).Header
			for name, want := range map[string]string{
				"X-Remote-User":     "alice",
				"X-Remote-Email":    "alice@example.com",
				"X-Remote-Groups":   "staff,ops",
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  "gateway.test",
				"X-Forwarded-Proto": "http",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestCookies(t *testing.T) {
	tests := []struct {
		name    string
		cookies []string // one Cookie header line each
		want    []string // forwarded Cookie header; nil = absent
	}{
		{"no cookie", nil, nil},
		{"only session", []string{"sessionid=alice"}, nil},
		{"session and csrf", []string{"sessionid=alice; csrftoken=abc"}, nil},
		{"others kept in order", []string{"a=1; sessionid=alice; b=2; csrftoken=x; c=3"}, []string{"a=1; b=2; c=3"}},
		{"untouched when nothing to strip", []string{"a=1;b=2;  c=3"}, []string{"a=1;b=2;  c=3"}},
		{"duplicates", []string{"sessionid=alice; a=1; sessionid=bob; a=2"}, []string{"a=1; a=2"}},
		{"spaces", []string{"  a=1 ;   sessionid = alice  ; b = 2 "}, []string{"a=1; b = 2"}},
		{"quoted values split like upstreams do", []string{`a="x; sessionid=y"; b="q"`}, []string{`a="x; b="q"`}},
		{"empty pairs", []string{";;a=1;;sessionid=x;; ;"}, []string{"a=1"}},
		{"name case", []string{"SessionID=x; CSRFTOKEN=y; a=1"}, []string{"a=1"}},
		{"pair without equals", []string{"sessionid; a"}, []string{"a"}},
		{"latin-1 space around name", []string{"\xa0sessionid\xa0=x; a=1"}, []string{"a=1"}},
		{"similar names kept", []string{"sessionid2=x; xsessionid=y; a=sessionid"}, []string{"sessionid2=x; xsessionid=y; a=sessionid"}},
		{"several headers joined", []string{"a=1", "sessionid=alice", "b=2; csrftoken=z"}, []string{"a=1; b=2"}},
		{"several headers all stripped", []string{"sessionid=alice", "csrftoken=z"}, nil},
	}
	up, seen := recordingUpstream(t)
	g := newTestGateway(t, upstreamConfig("app", up.URL))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{"GET /x HTTP/1.1", "Host: gateway.test"}
			for _, c := range tc.cookies {
				lines = append(lines, "Cookie: "+c)
			}
			if res, _ := rawDo(t, g.addr(), lines...); res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := receive(t, seen).Header["Cookie"]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Cookie = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestForwardingHeaders(t *testing.T) {
	up, seen := recordingUpstream(t)
	g := newTestGateway(t, upstreamConfig("app", up.URL))
	res, _ := rawDo(t, g.addr(), "GET /x HTTP/1.1", "Host: Gateway.Test:8080",
		"X-Forwarded-For: 6.6.6.6, 7.7.7.7", "Forwarded: for=6.6.6.6", "X-Real-Ip: 6.6.6.6")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	h := receive(t, seen).Header
	want := http.Header{
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Forwarded-Host":  {"Gateway.Test:8080"},
		"X-Forwarded-Proto": {"http"},
		"Forwarded":         nil,
		"X-Real-Ip":         nil,
	}
	for k, v := range want {
		if !reflect.DeepEqual(h[k], v) {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
}

func TestSelect(t *testing.T) {
	up := func(name, host, prefix string) config.Upstream {
		u := upstreamConfig(name, "http://127.0.0.1:1")
		u.Match = config.Match{Host: host, PathPrefix: prefix}
		return u
	}
	p, err := New([]config.Upstream{
		up("admin", "Admin.Example.com:8443", "/admin/"),
		up("app", "", "/app"),
		up("api", "api.example.com", ""),
		up("v6", "[::1]", "/v6"),
		up("default", "", ""),
	}, testHeaders, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, host, path, want string
	}{
		{"host and prefix", "admin.example.com", "/admin", "admin"},
		{"host case and port ignored", "ADMIN.example.com:443", "/admin/x", "admin"},
		{"prefix with trailing slash", "admin.example.com", "/admin/", "admin"},
		{"prefix is segment-bounded", "admin.example.com", "/administrator", "default"},
		{"other host falls through", "other.example.com", "/admin", "default"},
		{"prefix exact", "x", "/app", "app"},
		{"prefix subpath", "x", "/app/users/1", "app"},
		{"prefix not a segment", "x", "/application", "default"},
		{"prefix case-sensitive", "x", "/App", "default"},
		{"host only", "api.example.com", "/anything", "api"},
		{"host trailing dot", "api.example.com.", "/anything", "api"},
		{"ipv6 host", "[::1]:8080", "/v6/x", "v6"},
		{"empty host", "", "/", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := p.Select(tc.host, tc.path)
			if !ok || u.Name() != tc.want {
				t.Fatalf("Select(%q, %q) = %v, %v; want %q", tc.host, tc.path, u, ok, tc.want)
			}
		})
	}

	p2, err := New([]config.Upstream{up("app", "", "/app")}, testHeaders, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := p2.Select("x", "/other"); ok || u != nil {
		t.Errorf("Select without catch-all = %v, %v; want nil, false", u, ok)
	}
}

func TestNew(t *testing.T) {
	valid := upstreamConfig("", "http://app:8000/base/")
	with := func(f func(*config.Upstream)) []config.Upstream {
		u := valid
		f(&u)
		return []config.Upstream{u}
	}
	tests := []struct {
		name    string
		ups     []config.Upstream
		headers config.IdentityHeaders
		wantErr string
	}{
		{"valid", []config.Upstream{valid}, testHeaders, ""},
		{"no upstreams", nil, testHeaders, "no upstreams"},
		{"bad scheme", with(func(u *config.Upstream) { u.URL = "ftp://app" }), testHeaders, "scheme"},
		{"no host", with(func(u *config.Upstream) { u.URL = "http:///x" }), testHeaders, "no host"},
		{"query", with(func(u *config.Upstream) { u.URL = "http://app/?a=1" }), testHeaders, "query"},
		{"user info", with(func(u *config.Upstream) { u.URL = "http://u:p@app/" }), testHeaders, "user info"},
		{"non-canonical base", with(func(u *config.Upstream) { u.URL = "http://app/a/../b" }), testHeaders, "not canonical"},
		{"relative prefix", with(func(u *config.Upstream) { u.Match.PathPrefix = "app" }), testHeaders, "path_prefix"},
		{"non-canonical prefix", with(func(u *config.Upstream) { u.Match.PathPrefix = "/a%2fb" }), testHeaders, "path_prefix"},
		{"zero dial timeout", with(func(u *config.Upstream) { u.Timeouts.Dial = 0 }), testHeaders, "timeouts"},
		{"zero header timeout", with(func(u *config.Upstream) { u.Timeouts.ResponseHeader = 0 }), testHeaders, "timeouts"},
		{"empty header name", []config.Upstream{valid}, config.IdentityHeaders{User: "X-User", Groups: "X-Groups"}, "identity_headers.email"},
		{"invalid header name", []config.Upstream{valid}, config.IdentityHeaders{User: "X User", Email: "X-E", Groups: "X-G"}, "identity_headers.user"},
		{"reserved header name", []config.Upstream{valid}, config.IdentityHeaders{User: "Cookie", Email: "X-E", Groups: "X-G"}, "reserved"},
		{"clashing header names", []config.Upstream{valid}, config.IdentityHeaders{User: "X-User", Email: "x_user", Groups: "X-G"}, "clashes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.ups, tc.headers, gatewayCookies, Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				u := p.upstreams[0]
				if u.Name() != "upstream0" || u.basePath != "/base" {
					t.Errorf("name %q base %q", u.Name(), u.basePath)
				}
				tr := u.transport
				if tr.MaxIdleConnsPerHost != 256 || tr.ResponseHeaderTimeout != 2*time.Second ||
					tr.IdleConnTimeout != 30*time.Second || tr.TLSHandshakeTimeout != time.Second ||
					!tr.ForceAttemptHTTP2 || tr.Proxy != nil {
					t.Errorf("transport not configured: %+v", tr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestForwardRejectsNonCanonicalPath(t *testing.T) {
	up, _ := recordingUpstream(t)
	var gotErr error
	p, err := New([]config.Upstream{upstreamConfig("app", up.URL)}, testHeaders, gatewayCookies, Options{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			gotErr = err
			defaultErrorHandler(w, r, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := p.Select("", "/")
	for _, path := range []string{"/a/../b", "/a//b", "/a?x", "/caf%c3%a9", ""} {
		gotErr = nil
		rec := httptest.NewRecorder()
		p.Forward(rec, httptest.NewRequest("GET", "/x", nil), u, nil, path, "")
		if rec.Code != http.StatusBadRequest || !errors.Is(gotErr, canonical.ErrInvalid) {
			t.Errorf("Forward(%q): status %d err %v", path, rec.Code, gotErr)
		}
	}
	gotErr = nil
	rec := httptest.NewRecorder()
	p.Forward(rec, httptest.NewRequest("GET", "/x", nil), nil, nil, "/x", "")
	if rec.Code != http.StatusBadGateway || !errors.Is(gotErr, ErrUpstreamUnavailable) {
		t.Errorf("nil upstream: status %d err %v", rec.Code, gotErr)
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	g := newTestGateway(t, upstreamConfig("down", "http://"+addr))
	start := time.Now()
	res, _ := rawDo(t, g.addr(), "GET /x?secret=1 HTTP/1.1", "Host: gateway.test", "Cookie: sessionid=alice")
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", res.StatusCode)
	}
	err = receive(t, g.errs)
	if !errors.Is(err, ErrUpstreamUnavailable) || errors.Is(err, ErrUpstreamTimeout) {
		t.Fatalf("err = %v, want ErrUpstreamUnavailable", err)
	}
	if !strings.Contains(err.Error(), `"down"`) {
		t.Errorf("err %q does not name the upstream", err)
	}
	// The error handler gets the client's request, not the rewritten one.
	r := receive(t, g.errReq)
	if r.Host != "gateway.test" || r.URL.Path != "/x" || r.Header.Get("X-Remote-User") != "" {
		t.Errorf("error handler got the outgoing request: host %q path %q", r.Host, r.URL.Path)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestUpstreamResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })

	cfg := upstreamConfig("slow", up.URL)
	cfg.Timeouts.ResponseHeader = 300 * time.Millisecond
	g := newTestGateway(t, cfg)
	start := time.Now()
	res, _ := rawDo(t, g.addr(), "GET /x HTTP/1.1", "Host: gateway.test")
	elapsed := time.Since(start)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.StatusCode)
	}
	if err := receive(t, g.errs); !errors.Is(err, ErrUpstreamTimeout) {
		t.Fatalf("err = %v, want ErrUpstreamTimeout", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("answered after %v, want about 300ms", elapsed)
	}
}

func TestClientGoneIsNotAnError(t *testing.T) {
	entered := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done() // the gateway cancels when its client leaves
	}))
	t.Cleanup(up.Close)
	g := newTestGateway(t, upstreamConfig("app", up.URL))

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", g.srv.URL+"/x", nil)
	errc := make(chan error, 1)
	go func() {
		res, err := g.srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	receive(t, entered)
	cancel()
	if err := receive(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("client err = %v", err)
	}
	receive(t, g.served)
	select {
	case err := <-g.errs:
		t.Errorf("ErrorHandler called for a client that went away: %v", err)
	default:
	}
	if msgs := g.logs.atLeast(slog.LevelInfo); len(msgs) > 0 {
		t.Errorf("logged above debug: %q", msgs)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}, ErrUpstreamTimeout},
		{"context deadline", context.DeadlineExceeded, ErrUpstreamTimeout},
		{"i/o deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), ErrUpstreamTimeout},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, ErrUpstreamUnavailable},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, ErrUpstreamUnavailable},
		{"eof", io.EOF, ErrUpstreamUnavailable},
		{"dns", &net.DNSError{Err: "no such host", Name: "app", IsNotFound: true}, ErrUpstreamUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestEncodeValue(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		comma bool
		want  string
	}{
		{"plain", "alice", false, "alice"},
		{"email", "a.b+c@example.com", false, "a.b+c@example.com"},
		{"inner space kept", "Ops Team", true, "Ops Team"},
		{"edge spaces", " x ", false, "%20x%20"},
		{"crlf", "a\r\nb", false, "a%0D%0Ab"},
		{"nul and del", "a\x00\x7f", false, "a%00%7F"},
		{"percent", "100%", false, "100%25"},
		{"comma in user kept", "a,b", false, "a,b"},
		{"comma in group", "a,b", true, "a%2Cb"},
		{"utf8", "josé", false, "jos%C3%A9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := encodeValue(tc.in, tc.comma); got != tc.want {
				t.Errorf("encodeValue(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	type upgrade struct {
		uri  string
		user string
	}
	seen := make(chan upgrade, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
			!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		seen <- upgrade{r.RequestURI, r.Header.Get("X-Remote-User")}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 512)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			conn.Write(buf[:n])
		}
	}))
	t.Cleanup(up.Close)
	g := newTestGateway(t, upstreamConfig("app", up.URL))

	conn, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws/%2e/chat HTTP/1.1\r\nHost: gateway.test\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: sessionid=alice\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	if u := receive(t, seen); u.uri != "/ws/chat" || u.user != "alice" {
		t.Errorf("upstream saw %+v", u)
	}
	for _, msg := range []string{"hello", "second message", strings.Repeat("x", 300)} {
		io.WriteString(conn, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo %q, want %q", got, msg)
		}
	}
}

func TestStreamingFlushedImmediately(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
	}{
		{"server-sent events", "text/event-stream"},
		{"chunked without content-length", "application/x-ndjson"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				io.WriteString(w, "data: first\n\n")
				http.NewResponseController(w).Flush()
				select { // finish only after the client saw the first event
				case <-release:
				case <-time.After(10 * time.Second):
				}
				io.WriteString(w, "data: second\n\n")
			}))
			t.Cleanup(up.Close)
			g := newTestGateway(t, upstreamConfig("app", up.URL))

			res, err := g.srv.Client().Get(g.srv.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.ContentLength != -1 {
				t.Errorf("ContentLength = %d, want streamed", res.ContentLength)
			}
			first := make(chan string, 1)
			br := bufio.NewReader(res.Body)
			go func() {
				line, _ := br.ReadString('\n')
				first <- line
			}()
			select {
			case line := <-first:
				if line != "data: first\n" {
					t.Fatalf("first line %q", line)
				}
			case <-time.After(3 * time.Second):
				close(release)
				t.Fatal("first event not delivered before the upstream finished")
			}
			close(release)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: second\n\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

func TestUpstreamCannotSetGatewayCookies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range []string{
			"sessionid=planted; Path=/; HttpOnly",
			"SessionID=planted2; Path=/",
			" csrftoken =x; Path=/",
			"theme=dark; Path=/",
			"other=1",
		} {
			w.Header().Add("Set-Cookie", c)
		}
	}))
	defer up.Close()
	g := newTestGateway(t, upstreamConfig("app", up.URL))
	resp, err := http.Get("http://" + g.addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Values("Set-Cookie")
	want := []string{"theme=dark; Path=/", "other=1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Set-Cookie reaching the client = %q, want %q", got, want)
	}
}
