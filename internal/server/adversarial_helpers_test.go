package server_test

// Helpers of the adversarial end-to-end suite (adversarial_e2e_test.go):
// a raw TCP client that writes exact bytes, an upstream that records
// everything it receives (method, target, headers, body), and one table
// runner that checks both the client's answer and what the upstream saw.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
)

// recReq is one request as the recording upstream received it.
type recReq struct {
	Method, RequestURI, Host string
	Header                   http.Header
	Body                     string
	BodyErr                  error
	ContentLength            int64
	TransferEncoding         []string
}

// recUpstream records every request. arrived counts requests as soon as
// their headers reach the handler (before the body is read), so a request
// whose body later fails still counts as forwarded.
type recUpstream struct {
	*httptest.Server
	arrived atomic.Int64
	mu      sync.Mutex
	reqs    []recReq
}

func newRecUpstream(t testing.TB) *recUpstream {
	u := &recUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.arrived.Add(1)
		b, err := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recReq{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(),
			Body: string(b), BodyErr: err, ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding})
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "1")
		io.WriteString(w, "upstream saw "+r.Method+" "+r.RequestURI)
	}))
	t.Cleanup(u.Close)
	return u
}

// since returns the requests recorded after the first `from` ones.
func (u *recUpstream) since(from int) []recReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	if from > len(u.reqs) {
		return nil
	}
	return slices.Clone(u.reqs[from:])
}

func (u *recUpstream) recorded() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// withRecUpstream points the gateway at rec.
func withRecUpstream(rec *recUpstream) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.Upstreams = []config.Upstream{{Name: "app", URL: rec.URL}}
	}
}

// rawResp is one response read from a raw connection. status is 0 when
// the connection ended without (another) response.
type rawResp struct {
	status int
	header http.Header
	body   string
	err    error
}

func (r rawResp) String() string {
	if r.status == 0 {
		return "connection closed without a response (" + errString(r.err) + ")"
	}
	return http.StatusText(r.status) + " body=" + truncate(r.body, 300)
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// rawExchange dials addr, writes raw byte for byte and reads up to n
// responses (pipelining) with a deadline. A write error is ignored (the
// server may answer and close before reading everything); reading stops
// at the first response it cannot read, reported as status 0. method is
// the method of the first request, so a HEAD answer is read without a
// body.
func rawExchange(t testing.TB, addr, raw string, n int) []rawResp {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(conn, raw) }() // large requests: read while writing
	method, _, _ := strings.Cut(raw, " ")
	br := bufio.NewReader(conn)
	var out []rawResp
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			out = append(out, rawResp{err: err})
			break
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, rawResp{status: resp.StatusCode, header: resp.Header, body: string(b), err: err})
		method = "GET" // pipelined follow-ups in this suite are GETs
		if resp.Close {
			if i+1 < n {
				out = append(out, rawResp{err: errors.New("server closed the connection")})
			}
			break
		}
	}
	return out
}

// advEnv is one gateway under attack.
type advEnv struct {
	g    *gw
	rec  *recUpstream
	addr string            // where requests are sent
	subs map[string]string // placeholder -> value ("{host}", "{session}", ...)
	own  []string          // headers the gateway itself sets, exempt from neverForwarded
}

// newAdvEnv starts a gateway with a recording upstream and sessions for
// alice ("{session}") and bob ("{bobsession}").
func newAdvEnv(t *testing.T, opts ...func(*config.Config, *fs.FS)) *advEnv {
	t.Helper()
	rec := newRecUpstream(t)
	g := newGateway(t, append([]func(*config.Config, *fs.FS){withRecUpstream(rec)}, opts...)...)
	e := &advEnv{g: g, rec: rec, addr: g.Listener.Addr().String()}
	e.subs = map[string]string{
		"{host}":       e.addr,
		"{session}":    g.cfg.Session.CookieName + "=" + g.login(t, "alice"),
		"{bobsession}": g.cfg.Session.CookieName + "=" + g.login(t, "bob"),
	}
	return e
}

func (e *advEnv) expand(raw string) string {
	for k, v := range e.subs {
		raw = strings.ReplaceAll(raw, k, v)
	}
	return raw
}

// who is the identity a raw request carries: "alice", "bob" or "" for
// anonymous.
func who(raw string) string {
	switch {
	case strings.Contains(raw, "{session}"):
		return "alice"
	case strings.Contains(raw, "{bobsession}"):
		return "bob"
	}
	return ""
}

// req builds a request: method, target, then "Host: {host}" and the
// given header lines, and an empty line.
func req(method, target string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: {host}\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func get(target string, headers ...string) string { return req("GET", target, headers...) }

// withBody is req with a body and a matching Content-Length.
func withBody(method, target, body string, headers ...string) string {
	return req(method, target, append(headers, "Content-Length: "+strconv.Itoa(len(body)))...) + body
}

func sp(s string) *string { return &s }

// advCase is one adversarial request.
type advCase struct {
	name string
	raw  string // exact bytes; placeholders expanded by advEnv.expand
	// status lists the acceptable statuses; empty means "any denial"
	// (>= 400).
	status []int
	// closeOK accepts a connection closed without a response as a
	// rejection.
	closeOK bool
	// fwd: the request must reach the upstream exactly once, as uri.
	fwd    bool
	uri    string
	method string            // upstream method; default the request's
	body   *string           // exact upstream body, when set
	hdr    map[string]string // upstream header -> exact value; "" = absent
	// pipelined: raw holds two requests; the first must be answered
	// 200 and forwarded as uri, the second rejected (status, or closed)
	// and never forwarded.
	pipelined bool
	check     func(t *testing.T, e *advEnv, r rawResp, got recReq)
}

// neverForwarded are normalised header names (lower case, every
// non-alphanumeric byte "-") that no client may get to the upstream.
var neverForwarded = []string{
	"forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-uri",
	"remote-user", "x-gateway-assertion",
	"x-http-method-override", "x-http-method", "x-method-override",
}

func normName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

var identities = map[string]map[string]string{
	"":      {},
	"alice": {"X-Remote-User": "alice", "X-Remote-Email": "alice@example.com", "X-Remote-Groups": "editors"},
	"bob":   {"X-Remote-User": "bob", "X-Remote-Email": "bob@example.com"},
}

// runAdv runs the cases in order (they share the gateway).
func runAdv(t *testing.T, e *advEnv, cases []advCase) {
	t.Helper()
	seenNames := map[string]bool{}
	for _, tc := range cases {
		if seenNames[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seenNames[tc.name] = true
		t.Run(tc.name, func(t *testing.T) { runAdvCase(t, e, tc) })
	}
}

func statusOK(tc advCase, r rawResp) bool {
	if r.status == 0 {
		return tc.closeOK
	}
	if len(tc.status) == 0 {
		return r.status >= 400
	}
	return slices.Contains(tc.status, r.status)
}

func runAdvCase(t *testing.T, e *advEnv, tc advCase) {
	beforeArrived := e.rec.arrived.Load()
	beforeRec := e.rec.recorded()
	n := 1
	if tc.pipelined {
		n = 2
	}
	resps := rawExchange(t, e.addr, e.expand(tc.raw), n)
	r := resps[0]
	if !tc.fwd || tc.pipelined {
		time.Sleep(30 * time.Millisecond) // let anything in flight land upstream
	}
	arrived := e.rec.arrived.Load() - beforeArrived

	if tc.pipelined {
		if r.status != 200 {
			t.Errorf("first pipelined request: %s, want 200", r)
		}
		second := rawResp{err: errors.New("not read")}
		if len(resps) > 1 {
			second = resps[1]
		}
		if !statusOK(tc, second) {
			t.Errorf("second pipelined request: %s, want one of %v (or closed: %v)", second, tc.status, tc.closeOK)
		}
		got := e.rec.since(beforeRec)
		if arrived != 1 || len(got) != 1 {
			uris := []string{}
			for _, g := range got {
				uris = append(uris, g.Method+" "+g.RequestURI)
			}
			t.Fatalf("upstream received %d requests %v, want only the first", arrived, uris)
		}
		if got[0].RequestURI != tc.uri {
			t.Errorf("upstream RequestURI = %q, want %q", got[0].RequestURI, tc.uri)
		}
		return
	}

	if !statusOK(tc, r) {
		want := "any status >= 400"
		if len(tc.status) > 0 {
			want = fmt.Sprintf("one of %v", tc.status)
		}
		t.Errorf("gateway answered %d %s; want %s", r.status, r, want)
	}
	if !tc.fwd {
		if arrived != 0 {
			got := e.rec.since(beforeRec)
			desc := []string{}
			for _, g := range got {
				desc = append(desc, g.Method+" "+g.RequestURI+" body="+truncate(g.Body, 80))
			}
			t.Fatalf("FORWARDED %d request(s) that must not reach the upstream: %v", arrived, desc)
		}
		if strings.Contains(r.body, "upstream saw") || r.header.Get("X-Upstream") != "" {
			t.Fatalf("the answer came from the upstream: %s", r)
		}
		if tc.check != nil {
			tc.check(t, e, r, recReq{})
		}
		return
	}
	got := e.rec.since(beforeRec)
	if arrived != 1 || len(got) != 1 {
		t.Fatalf("upstream received %d requests (%d recorded), want exactly 1; gateway answered %s", arrived, len(got), r)
	}
	u := got[0]
	if u.RequestURI != tc.uri {
		t.Errorf("upstream RequestURI = %q, want %q", u.RequestURI, tc.uri)
	}
	wantMethod := tc.method
	if wantMethod == "" {
		wantMethod, _, _ = strings.Cut(tc.raw, " ")
	}
	if u.Method != wantMethod {
		t.Errorf("upstream method = %q, want %q", u.Method, wantMethod)
	}
	if tc.body != nil {
		if u.Body != *tc.body || u.BodyErr != nil {
			t.Errorf("upstream body = %q (err %v), want %q", u.Body, u.BodyErr, *tc.body)
		}
		if u.ContentLength >= 0 && u.ContentLength != int64(len(u.Body)) {
			t.Errorf("upstream Content-Length %d does not match its body of %d bytes", u.ContentLength, len(u.Body))
		}
	}
	for name, want := range tc.hdr {
		if vs := u.Header.Values(name); want == "" && len(vs) > 0 {
			t.Errorf("upstream got %s: %q, want it absent", name, vs)
		} else if want != "" && (len(vs) != 1 || vs[0] != want) {
			t.Errorf("upstream %s = %q, want exactly %q", name, vs, want)
		}
	}
	checkForwardInvariants(t, e, tc, r, u)
	if tc.check != nil {
		tc.check(t, e, r, u)
	}
}

// checkForwardInvariants holds for every forwarded request: the identity
// headers are exactly the gateway's, forwarding headers are rebuilt, the
// gateway's cookies and forgeable headers are gone, and an anonymous
// request only reaches public paths.
func checkForwardInvariants(t *testing.T, e *advEnv, tc advCase, r rawResp, u recReq) {
	t.Helper()
	user := who(tc.raw)
	want := identities[user]
	for name, vs := range u.Header {
		n := normName(name)
		if strings.HasPrefix(n, "x-remote-") {
			if w, ok := want[name]; !ok || len(vs) != 1 || vs[0] != w {
				t.Errorf("upstream identity header %s = %q; the request is from %q", name, vs, user)
			}
		}
		if slices.Contains(neverForwarded, n) && !(slices.Contains(e.own, name) && user != "") {
			t.Errorf("client header %s: %q reached the upstream", name, vs)
		}
		if strings.HasPrefix(n, "x-forwarded-") && name != "X-Forwarded-For" && name != "X-Forwarded-Host" && name != "X-Forwarded-Proto" {
			t.Errorf("forwarding header %s: %q reached the upstream", name, vs)
		}
	}
	for name, w := range want {
		if got := u.Header.Values(name); len(got) != 1 || got[0] != w {
			t.Errorf("upstream %s = %q, want %q", name, got, w)
		}
	}
	for name, w := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": e.addr, "X-Forwarded-Proto": "http"} {
		if got := u.Header.Values(name); len(got) != 1 || got[0] != w {
			t.Errorf("upstream %s = %q, want %q", name, got, w)
		}
	}
	cookies := u.Header.Values("Cookie")
	if len(cookies) > 1 {
		t.Errorf("upstream got %d Cookie headers: %q", len(cookies), cookies)
	}
	for _, c := range cookies {
		if strings.Contains(c, e.g.cfg.Session.CookieName) || strings.Contains(c, "gateway_csrftoken") {
			t.Errorf("gateway cookie reached the upstream: %q", c)
		}
	}
	if ids := u.Header.Values("X-Request-Id"); len(ids) != 1 || ids[0] != r.header.Get("X-Request-Id") {
		t.Errorf("upstream X-Request-Id = %q, want the gateway's %q", ids, r.header.Get("X-Request-Id"))
	}
	if user == "" {
		p, _, _ := strings.Cut(u.RequestURI, "?")
		if p != "/" && !strings.HasPrefix(p, "/public/") && !strings.HasPrefix(p, "/static/") {
			t.Errorf("ANONYMOUS request reached the upstream at the protected path %q", p)
		}
	}
}
