package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/principalcache"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/testredis"
	"github.com/djangate/gateway/internal/throttle"
	"github.com/djangate/gateway/policies"
)

// seen is one request as the upstream received it.
type seen struct {
	RequestURI string
	Header     http.Header
}

// upstream is a real HTTP app that records what reaches it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		if len(u.reqs) < 1000 { // bounded: benchmarks send millions
			u.reqs = append(u.reqs, seen{r.RequestURI, r.Header.Clone()})
		} else {
			u.reqs[len(u.reqs)-1] = seen{r.RequestURI, r.Header.Clone()}
		}
		u.mu.Unlock()
		fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.RequestURI)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// gw is a gateway wired to a real redis-server, the default policy and a
// real upstream.
type gw struct {
	*httptest.Server
	srv      *server.Server
	t        testing.TB
	redis    *testredis.Server
	rdb      *redis.Client
	users    *settlingUsers // the stores, settling after each change (settle_test.go)
	sessions *settlingSessions
	up       *upstream
	cfg      *config.Config
	logs     *syncBuffer // everything the gateway logged
	dlog     *syncBuffer // the decision log (written when cfg.DecisionLog.Enabled)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testPassword = "correct horse battery staple"

func newGateway(t *testing.T, opts ...func(*config.Config, *fs.FS)) *gw {
	t.Helper()
	return newGatewayTB(t, opts...)
}

// newGatewayB is newGateway for benchmarks.
func newGatewayB(b *testing.B, opts ...func(*config.Config, *fs.FS)) *gw {
	b.Helper()
	return newGatewayTB(b, opts...)
}

func newGatewayTB(t testing.TB, opts ...func(*config.Config, *fs.FS)) *gw {
	t.Helper()
	return newGatewayWith(t, nil, opts...)
}

// newGatewayWith is newGateway with a last change to the server's
// options (e.g. a Decider that fails in a way no policy can).
func newGatewayWith(t testing.TB, change func(*server.Options), opts ...func(*config.Config, *fs.FS)) *gw {
	t.Helper()
	rs := testredis.Start(t)
	up := newUpstream(t)
	cfg, policyFS := testConfig(t, up, func(r *config.Redis) { r.Addr = rs.Addr() }, opts)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1, DialerRetries: 1, // as redisclient.New
		DialTimeout: cfg.Redis.DialTimeout, ReadTimeout: cfg.Redis.ReadTimeout, WriteTimeout: cfg.Redis.WriteTimeout})
	t.Cleanup(func() { rdb.Close() })
	g := startGateway(t, cfg, policyFS, rdb, up, change)
	g.redis, g.rdb = rs, rdb
	return g
}

// testConfig is the tests' configuration: the upstream up, Redis as
// redisCfg sets it, fast hashing and timeouts, then opts.
func testConfig(t testing.TB, up *upstream, redisCfg func(*config.Redis), opts []func(*config.Config, *fs.FS)) (*config.Config, fs.FS) {
	t.Helper()
	cfg := config.Default()
	cfg.SecretKey = strings.Repeat("s", 40)
	redisCfg(&cfg.Redis)
	cfg.Redis.DialTimeout, cfg.Redis.ReadTimeout, cfg.Redis.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	cfg.Upstreams = []config.Upstream{{Name: "app", URL: up.URL}}
	cfg.PasswordHashers = []config.PasswordHasher{{Algorithm: "pbkdf2_sha256", Iterations: 1000}}
	insecure := false
	cfg.Session.Secure = &insecure
	var policyFS fs.FS = policies.FS
	for _, o := range opts {
		o(cfg, &policyFS)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg, policyFS
}

// startGateway wires the stores, the policy and the server on rdb and
// serves them exactly as `gateway serve` does (the same http.Server
// settings and listener checks: framing, connection limit), then seeds
// the users.
func startGateway(t testing.TB, cfg *config.Config, policyFS fs.FS, rdb redis.UniversalClient, up *upstream, change func(*server.Options)) *gw {
	t.Helper()
	hs, err := authn.NewHashers(cfg.PasswordHashers, cfg.PasswordHashConcurrency)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	users := authn.NewStore(rdb, cfg.Redis.KeyPrefix, hs)
	users.SetLogger(log)
	sessions := sessionstore.New(rdb, cfg.Redis.KeyPrefix)
	popts := authz.Options{FS: policyFS, Source: "test", Query: cfg.Policy.Query, Timeout: cfg.Policy.Timeout, Logger: log}
	if cfg.Cache.On() { // as `gateway serve` does
		popts.MemoSize = cfg.Cache.Decisions
	}
	engine, err := authz.New(context.Background(), popts)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	// As `gateway serve` does on every policy load.
	if err := users.DeclareModels(context.Background(), append(authn.BuiltinModels(), engine.Models()...)...); err != nil {
		t.Fatal(err)
	}
	dlog := &syncBuffer{}
	so := server.Options{Config: cfg, Users: users, Sessions: sessions, Policy: engine, Logger: log, DecisionLog: dlog,
		Throttle: throttle.New(rdb, cfg.Redis.KeyPrefix, throttle.ConfigFrom(cfg.Throttle)), Audit: audit.New(rdb, audit.OptionsFrom(cfg, log))}
	so.Redis = server.PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	so.PolicyStatus = engine
	var cache *principalcache.Cache
	if cfg.Cache.On() { // as `gateway serve` does
		pc := principalcache.New(principalcache.Options{MaxEntries: cfg.Cache.Principals, TTL: cfg.Cache.TTL, MaxStaleness: cfg.Cache.MaxStaleness})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			pc.Listen(ctx, rdb, authn.ChangesChannel(authn.KeyBase(cfg.Redis.KeyPrefix)), log)
			close(done)
		}()
		t.Cleanup(func() { cancel(); <-done })
		so.Principals = pc
		cache = pc
		// Start in steady state: subscribed to the changes channel.
		for deadline := time.Now().Add(5 * time.Second); !pc.Live() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	addTokenParts(t, cfg, rdb, &so) // tokens.keys, tokens.enabled, authentication.bearer.issuers (tokens_e2e_test.go)
	if change != nil {
		change(&so)
	}
	srv, err := server.New(so)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = srv.HTTPServer()
	ln, err := srv.Listener(ts.Listener, ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener = ln
	ts.Start()
	st := settler{t: t, rdb: rdb, channel: authn.ChangesChannel(authn.KeyBase(cfg.Redis.KeyPrefix)), cache: cache}
	g := &gw{Server: ts, srv: srv, t: t, users: &settlingUsers{users, st}, sessions: &settlingSessions{sessions, st},
		up: up, cfg: cfg, logs: logs, dlog: dlog}
	t.Cleanup(g.Close)
	g.seed()
	return g
}

// seed creates: alice (group editors: blog.view/add/change_post), bob (no
// permissions), root (superuser), ghost (inactive).
func (g *gw) seed() {
	ctx := context.Background()
	must := func(err error) {
		g.t.Helper()
		if err != nil {
			g.t.Fatal(err)
		}
	}
	if _, err := g.users.GetUserByUsername(ctx, "alice"); err == nil {
		return // a second gateway on the same Redis (a fleet)
	}
	must(g.users.CreateGroup(ctx, "editors"))
	// Declared by the shipped policy's models.yaml; tests with a policy of
	// their own declare them here.
	must(g.users.RegisterPermissions(ctx, "blog.view_post", "blog.add_post", "blog.change_post"))
	for _, p := range []string{"blog.view_post", "blog.add_post", "blog.change_post"} {
		must(g.users.GrantGroupPermission(ctx, "editors", p))
	}
	for _, u := range []authn.User{
		{Username: "alice", Email: "alice@example.com", IsActive: true},
		{Username: "bob", Email: "bob@example.com", IsActive: true},
		{Username: "root", Email: "root@example.com", IsActive: true, IsStaff: true, IsSuperuser: true},
		{Username: "ghost", IsActive: false},
	} {
		u := u
		_, err := g.users.CreateUser(ctx, &u, testPassword)
		must(err)
	}
	must(g.users.AddUserToGroup(ctx, "alice", "editors"))
}

// client is a browser-like client with a cookie jar that does not follow
// redirects, so tests see every 302.
func (g *gw) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

var csrfRe = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// loginForm logs in through the HTML form, as a person would.
func (g *gw) loginForm(c *http.Client, username, password, next string) *http.Response {
	g.t.Helper()
	page := g.do(c, "GET", "/_gateway/login?next="+url.QueryEscape(next), nil, "text/html")
	m := csrfRe.FindStringSubmatch(readBody(g.t, page))
	if m == nil {
		g.t.Fatal("login page has no CSRF token")
	}
	form := url.Values{"username": {username}, "password": {password}, "next": {next}, "csrfmiddlewaretoken": {m[1]}}
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func (g *gw) loginJSON(c *http.Client, username, password string) *http.Response {
	g.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func (g *gw) do(c *http.Client, method, path string, header http.Header, accept string) *http.Response {
	g.t.Helper()
	req, err := http.NewRequest(method, g.URL+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp
}

func (g *gw) sessionCookie(c *http.Client) string {
	u, _ := url.Parse(g.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == g.cfg.Session.CookieName {
			return ck.Value
		}
	}
	return ""
}

func readBody(t testing.TB, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t *testing.T, r *http.Response, want int) string {
	t.Helper()
	body := readBody(t, r)
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.300s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, body)
	}
	return body
}

func TestAnonymous(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	cases := []struct {
		name, path, accept string
		status             int
		location           string
		forwarded          bool
	}{
		{name: "public page allowed", path: "/public/x", status: 200, forwarded: true},
		{name: "home allowed", path: "/", accept: "text/html", status: 200, forwarded: true},
		{name: "browser sent to login with next", path: "/account/?tab=1&x=%2F", accept: "text/html,application/xhtml+xml", status: 302,
			location: "/_gateway/login?next=" + url.QueryEscape("/account/?tab=1&x=%2F")},
		{name: "API client gets 401", path: "/account/", accept: "application/json", status: 401},
		{name: "no Accept gets 401", path: "/reports/", status: 401},
		{name: "dot segments resolved before matching", path: "/public/../account/", status: 401},
		{name: "gateway prefix never forwarded", path: "/_gateway/nope", status: 404},
		{name: "ambiguous path rejected", path: "/public/a%2Fb", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.up.count()
			resp := g.do(c, "GET", tc.path, nil, tc.accept)
			body := wantStatus(t, resp, tc.status)
			if loc := resp.Header.Get("Location"); loc != tc.location {
				t.Fatalf("Location = %q, want %q", loc, tc.location)
			}
			if got := g.up.count() - before; (got == 1) != tc.forwarded {
				t.Fatalf("forwarded %d requests, want forwarded=%v", got, tc.forwarded)
			}
			if tc.forwarded {
				if h := g.up.last(t).Header; h.Get("X-Remote-User") != "" || h.Get("X-Remote-Groups") != "" {
					t.Fatalf("anonymous request carried identity headers: %v", h)
				}
			}
			if tc.status == 401 {
				var doc map[string]any
				if err := json.Unmarshal([]byte(body), &doc); err != nil || doc["error"] != "not_authenticated" {
					t.Fatalf("401 body = %s, want JSON error not_authenticated", body)
				}
			}
		})
	}
}

func TestLoginFormForwardsIdentity(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	resp := g.loginForm(c, "alice", testPassword, "/editors/?page=2")
	wantStatus(t, resp, http.StatusFound)
	if loc := resp.Header.Get("Location"); loc != "/editors/?page=2" {
		t.Fatalf("after login Location = %q, want the next URL", loc)
	}
	sc := g.sessionCookie(c)
	if sc == "" {
		t.Fatal("no session cookie after login")
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == g.cfg.Session.CookieName && (!ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge <= 0) {
			t.Fatalf("session cookie attributes: %+v", ck)
		}
	}
	u, _ := url.Parse(g.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "theme", Value: "dark"}})
	wantStatus(t, g.do(c, "GET", "/editors/?page=2", nil, "text/html"), 200)
	got := g.up.last(t)
	if got.RequestURI != "/editors/?page=2" {
		t.Fatalf("upstream RequestURI = %q", got.RequestURI)
	}
	for h, want := range map[string]string{"X-Remote-User": "alice", "X-Remote-Email": "alice@example.com", "X-Remote-Groups": "editors", "X-Forwarded-Proto": "http"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("upstream %s = %q, want %q", h, v, want)
		}
	}
	cookie := got.Header.Get("Cookie")
	if strings.Contains(cookie, g.cfg.Session.CookieName) || strings.Contains(cookie, server.CSRFCookieName) || strings.Contains(cookie, sc) {
		t.Fatalf("gateway cookies forwarded upstream: %q", cookie)
	}
	if cookie != "theme=dark" {
		t.Fatalf("upstream Cookie = %q, want the app's own cookie kept", cookie)
	}
	// last_login is recorded.
	usr, err := g.users.GetUserByUsername(context.Background(), "alice")
	if err != nil || usr.LastLogin.IsZero() {
		t.Fatalf("last_login not updated: %v %+v", err, usr)
	}
}

func TestAuthorizationOutcomes(t *testing.T) {
	g := newGateway(t)
	clients := map[string]*http.Client{}
	for _, u := range []string{"alice", "bob", "root"} {
		clients[u] = g.client()
		wantStatus(t, g.loginJSON(clients[u], u, testPassword), 200)
	}
	cases := []struct {
		name, user, method, path, accept string
		status                           int
	}{
		{"login route, any user", "bob", "GET", "/account/", "", 200},
		{"group route, member", "alice", "GET", "/editors/", "", 200},
		{"group route, non-member gets 403 JSON", "bob", "GET", "/editors/", "application/json", 403},
		{"group route, non-member browser gets 403 page", "bob", "GET", "/editors/", "text/html", 403},
		{"permission route, superuser", "root", "GET", "/reports/", "", 200},
		{"permission route, without it", "alice", "GET", "/reports/", "", 403},
		{"model view via group", "alice", "GET", "/api/blog/post/1/", "", 200},
		{"model change via group", "alice", "PUT", "/api/blog/post/1/", "", 200},
		{"model delete not granted", "alice", "DELETE", "/api/blog/post/1/", "", 403},
		{"staff route, superuser is staff", "root", "GET", "/admin/", "", 200},
		{"staff route, non-staff", "alice", "GET", "/admin/", "", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.up.count()
			body := wantStatus(t, g.do(clients[tc.user], tc.method, tc.path, nil, tc.accept), tc.status)
			forwarded := g.up.count() - before
			if (tc.status == 200) != (forwarded == 1) {
				t.Fatalf("status %d but %d requests forwarded", tc.status, forwarded)
			}
			if tc.status == 200 && g.up.last(t).Header.Get("X-Remote-User") != tc.user {
				t.Fatalf("upstream identity = %q, want %q", g.up.last(t).Header.Get("X-Remote-User"), tc.user)
			}
			if tc.status == 403 && tc.accept == "text/html" && !strings.Contains(body, "<html") {
				t.Fatalf("browser 403 is not an HTML page: %.200s", body)
			}
		})
	}
}

func TestLoginFailuresAreGeneric(t *testing.T) {
	g := newGateway(t)
	const msg = "Please enter a correct username and password"
	cases := []struct{ name, user, password string }{
		{"wrong password", "alice", "nope"},
		{"unknown user", "mallory", testPassword},
		{"inactive user", "ghost", testPassword},
		{"empty password", "alice", ""},
	}
	var jsonBodies []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := g.client()
			body := wantStatus(t, g.loginForm(c, tc.user, tc.password, "/account/"), 200)
			if !strings.Contains(body, msg) {
				t.Fatalf("form re-shown without the generic message: %.300s", body)
			}
			if g.sessionCookie(c) != "" {
				t.Fatal("failed login set a session cookie")
			}
			jb := wantStatus(t, g.loginJSON(g.client(), tc.user, tc.password), 401)
			var doc map[string]any
			_ = json.Unmarshal([]byte(jb), &doc)
			delete(doc, "request_id")
			norm, _ := json.Marshal(doc)
			jsonBodies = append(jsonBodies, string(norm))
		})
	}
	for i := 1; i < len(jsonBodies); i++ {
		if jsonBodies[i] != jsonBodies[0] {
			t.Fatalf("JSON failure bodies differ:\n%s\n%s", jsonBodies[0], jsonBodies[i])
		}
	}
}

func TestLoginCSRF(t *testing.T) {
	g := newGateway(t)
	post := func(c *http.Client, form url.Values, origin string) *http.Response {
		req, _ := http.NewRequest("POST", g.URL+"/_gateway/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	creds := url.Values{"username": {"alice"}, "password": {testPassword}}
	t.Run("no token", func(t *testing.T) {
		wantStatus(t, post(g.client(), creds, ""), 403)
	})
	t.Run("token without cookie", func(t *testing.T) {
		c := g.client()
		m := csrfRe.FindStringSubmatch(readBody(t, g.do(c, "GET", "/_gateway/login", nil, "")))
		f := url.Values{"username": {"alice"}, "password": {testPassword}, "csrfmiddlewaretoken": {m[1]}}
		wantStatus(t, post(g.client(), f, ""), 403) // a fresh client: no cookie
	})
	t.Run("cross-origin with valid token", func(t *testing.T) {
		c := g.client()
		m := csrfRe.FindStringSubmatch(readBody(t, g.do(c, "GET", "/_gateway/login", nil, "")))
		f := url.Values{"username": {"alice"}, "password": {testPassword}, "csrfmiddlewaretoken": {m[1]}}
		wantStatus(t, post(c, f, "https://evil.example"), 403)
		if g.sessionCookie(c) != "" {
			t.Fatal("cross-origin login created a session")
		}
	})
	t.Run("JSON login needs application/json", func(t *testing.T) {
		req, _ := http.NewRequest("POST", g.URL+"/_gateway/login", strings.NewReader(`{"username":"alice","password":"`+testPassword+`"}`))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := g.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, resp, 415)
	})
}

func TestLoginRedirectSafety(t *testing.T) {
	g := newGateway(t)
	cases := []struct{ name, next, want string }{
		{"relative path", "/account/?a=1", "/account/?a=1"},
		{"other host", "https://evil.example/", "/"},
		{"scheme-relative", "//evil.example/", "/"},
		{"backslash trick", `/\evil.example`, "/"},
		{"javascript", "javascript:alert(1)", "/"},
		{"empty", "", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.loginForm(g.client(), "alice", testPassword, tc.next)
			wantStatus(t, resp, 302)
			if loc := resp.Header.Get("Location"); loc != tc.want {
				t.Fatalf("Location = %q, want %q", loc, tc.want)
			}
		})
	}
	t.Run("same host absolute URL allowed", func(t *testing.T) {
		host := strings.TrimPrefix(g.URL, "http://")
		next := "http://" + host + "/account/"
		resp := g.loginForm(g.client(), "alice", testPassword, next)
		wantStatus(t, resp, 302)
		if loc := resp.Header.Get("Location"); loc != next {
			t.Fatalf("Location = %q, want %q", loc, next)
		}
	})
}

func TestLoginNeverReusesClientSessionID(t *testing.T) {
	g := newGateway(t)
	// The attacker logs in and plants their own valid session id in the
	// victim's browser; the victim then logs in.
	attacker := g.client()
	wantStatus(t, g.loginJSON(attacker, "bob", testPassword), 200)
	planted := g.sessionCookie(attacker)

	victim := g.client()
	u, _ := url.Parse(g.URL)
	victim.Jar.SetCookies(u, []*http.Cookie{{Name: g.cfg.Session.CookieName, Value: planted, Path: "/"}})
	wantStatus(t, g.loginJSON(victim, "alice", testPassword), 200)
	got := g.sessionCookie(victim)
	if got == "" || got == planted {
		t.Fatalf("login kept the client-supplied session id")
	}
	if _, err := g.sessions.Get(context.Background(), planted); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("the brought session still exists: %v", err)
	}
	// A made-up id of the right shape is never promoted either.
	made := strings.Repeat("Z", 43)
	v2 := g.client()
	v2.Jar.SetCookies(u, []*http.Cookie{{Name: g.cfg.Session.CookieName, Value: made, Path: "/"}})
	wantStatus(t, g.loginJSON(v2, "alice", testPassword), 200)
	if g.sessionCookie(v2) == made {
		t.Fatal("login promoted a client-chosen session id")
	}
}

func TestMe(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	wantStatus(t, g.do(c, "GET", "/_gateway/me", nil, ""), 401)
	wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
	var me struct {
		Username    string   `json:"username"`
		Email       string   `json:"email"`
		IsActive    bool     `json:"is_active"`
		Groups      []string `json:"groups"`
		Permissions []string `json:"permissions"`
	}
	if err := json.Unmarshal([]byte(wantStatus(t, g.do(c, "GET", "/_gateway/me", nil, ""), 200)), &me); err != nil {
		t.Fatal(err)
	}
	if me.Username != "alice" || !me.IsActive || strings.Join(me.Groups, ",") != "editors" ||
		strings.Join(me.Permissions, ",") != "blog.add_post,blog.change_post,blog.view_post" {
		t.Fatalf("/me = %+v", me)
	}
	// A superuser has every known permission.
	r := g.client()
	wantStatus(t, g.loginJSON(r, "root", testPassword), 200)
	body := wantStatus(t, g.do(r, "GET", "/_gateway/me", nil, ""), 200)
	if !strings.Contains(body, `"blog.view_post"`) {
		t.Fatalf("superuser /me lacks known permissions: %s", body)
	}
}

func TestLogoutKillsSession(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	wantStatus(t, g.loginForm(c, "alice", testPassword, "/"), 302)
	sid := g.sessionCookie(c)
	if _, err := g.sessions.Get(context.Background(), sid); err != nil {
		t.Fatalf("session not in Redis after login: %v", err)
	}
	// Logout without a CSRF token is refused and changes nothing.
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/logout", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := c.Do(req)
	wantStatus(t, resp, 403)
	if _, err := g.sessions.Get(context.Background(), sid); err != nil {
		t.Fatalf("CSRF-less logout killed the session: %v", err)
	}
	// The logout page carries the token; posting it logs out.
	m := csrfRe.FindStringSubmatch(readBody(t, g.do(c, "GET", "/_gateway/logout", nil, "text/html")))
	req, _ = http.NewRequest("POST", g.URL+"/_gateway/logout", strings.NewReader(url.Values{"csrfmiddlewaretoken": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp, 200)
	if _, err := g.sessions.Get(context.Background(), sid); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("session still in Redis after logout: %v", err)
	}
	if g.sessionCookie(c) != "" {
		t.Fatal("logout did not clear the cookie")
	}
	// Replaying the old cookie is anonymous.
	replay := g.client()
	u, _ := url.Parse(g.URL)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: g.cfg.Session.CookieName, Value: sid, Path: "/"}})
	wantStatus(t, g.do(replay, "GET", "/account/", nil, ""), 401)
}

func TestDeactivatedOrDeletedUserIsAnonymous(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		user   string
		change func() error
	}{
		{"deactivated", "alice", func() error { return g.users.SetActive(ctx, "alice", false) }},
		{"deleted", "bob", func() error { return g.users.DeleteUser(ctx, "bob") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := g.client()
			wantStatus(t, g.loginJSON(c, tc.user, testPassword), 200)
			wantStatus(t, g.do(c, "GET", "/account/", nil, ""), 200)
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			wantStatus(t, g.do(c, "GET", "/account/", nil, ""), 401)
		})
	}
}

// rawRequest sends bytes over TCP so header spellings reach the gateway
// exactly as written (net/http's client would canonicalize them).
func rawRequest(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func TestSpoofedIdentityHeadersStripped(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
	sid := g.sessionCookie(c)
	addr := strings.TrimPrefix(g.URL, "http://")
	spoof := []string{
		"X-Remote-User: root", "x-remote-user: root", "X-REMOTE-USER: root", "X_Remote_User: root",
		"x_remote_user: root", "X.Remote.User: root", "X-Remote_User: root",
		"X-Remote-Email: root@example.com", "X_REMOTE_EMAIL: root@example.com",
		"X-Remote-Groups: admins", "x.remote.groups: admins", "X-Remote-Groups: admins2",
		"Connection: X-Remote-User, X-Remote-Groups, X-Forwarded-For",
		"X-Forwarded-For: 6.6.6.6", "Forwarded: for=6.6.6.6", "X-Real-IP: 6.6.6.6",
	}
	for _, who := range []struct{ name, path, cookie, wantUser string }{
		{"anonymous on a public route", "/public/", "", ""},
		{"alice on her route", "/editors/", "Cookie: " + g.cfg.Session.CookieName + "=" + sid + "\r\n", "alice"},
	} {
		t.Run(who.name, func(t *testing.T) {
			raw := "GET " + who.path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + who.cookie + strings.Join(spoof, "\r\n") + "\r\n\r\n"
			status, body := rawRequest(t, addr, raw)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			h := g.up.last(t).Header
			for name, vs := range h {
				n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
				if strings.HasPrefix(n, "x-remote-") {
					if who.wantUser == "" {
						t.Errorf("anonymous request reached upstream with %s: %v", name, vs)
					} else if len(vs) != 1 {
						t.Errorf("%s has %d values upstream: %v", name, len(vs), vs)
					}
				}
			}
			if who.wantUser != "" {
				if h.Get("X-Remote-User") != "alice" || h.Get("X-Remote-Groups") != "editors" || h.Get("X-Remote-Email") != "alice@example.com" {
					t.Fatalf("upstream identity headers = %v", h)
				}
			}
			if xff := h.Get("X-Forwarded-For"); xff != "127.0.0.1" {
				t.Fatalf("X-Forwarded-For = %q, want the client's address only", xff)
			}
			for _, n := range []string{"Forwarded", "X-Real-Ip"} {
				if v := h.Get(n); v != "" {
					t.Fatalf("client-sent %s reached upstream: %q", n, v)
				}
			}
		})
	}
}

// TestRedisDownFailsClosed: once Redis is gone every request that needs
// it is a 503 and nothing is forwarded. Without the principal cache that
// holds from the first request; with it (the default), a session the
// gateway holds in memory is served only until the changes channel is
// known to be lost: at once when the connection closes (this test, in
// practice within milliseconds), within cache.max_staleness when it goes
// silent.
func TestRedisDownFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []func(*config.Config, *fs.FS)
		grace bool
	}{
		{"cache off", []func(*config.Config, *fs.FS){withoutCache}, false},
		{"cache on", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.opts...)
			c := g.client()
			wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
			wantStatus(t, g.do(c, "GET", "/editors/", nil, ""), 200)
			wantStatus(t, g.do(c, "GET", "/editors/", nil, ""), 200)
			g.redis.Stop()
			if tc.grace {
				start := time.Now()
				for {
					r := g.do(c, "GET", "/editors/", nil, "")
					readBody(t, r)
					if r.StatusCode == 503 {
						break
					}
					if time.Since(start) > g.cfg.Cache.MaxStaleness+200*time.Millisecond {
						t.Fatalf("still %d %s after Redis stopped (cache.max_staleness %s)", r.StatusCode, time.Since(start), g.cfg.Cache.MaxStaleness)
					}
					time.Sleep(time.Millisecond)
				}
				t.Logf("503 from %s after Redis stopped", time.Since(start).Round(time.Microsecond))
			}
			before := g.up.count()
			for _, path := range []string{"/editors/", "/account/", "/public/", "/_gateway/me"} {
				resp := g.do(c, "GET", path, nil, "")
				wantStatus(t, resp, 503)
				if resp.Header.Get("Retry-After") == "" {
					t.Fatalf("%s: 503 without Retry-After", path)
				}
			}
			if got := g.up.count() - before; got != 0 {
				t.Fatalf("%d requests forwarded while Redis was down", got)
			}
			// Logging in needs Redis too.
			wantStatus(t, g.loginJSON(g.client(), "alice", testPassword), 503)
			// A request without a session needs no Redis: public pages still work.
			wantStatus(t, g.do(g.client(), "GET", "/public/", nil, ""), 200)
		})
	}
}

func TestUpstreamDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Upstreams = []config.Upstream{{Name: "dead", URL: dead}}
	})
	c := g.client()
	wantStatus(t, g.do(c, "GET", "/public/", nil, ""), 502)
	body := wantStatus(t, g.do(c, "GET", "/public/", nil, "text/html"), 502)
	if !strings.Contains(body, "Bad gateway") {
		t.Fatalf("502 page: %.200s", body)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Upstreams = []config.Upstream{{Name: "slow", URL: slow.URL, Timeouts: config.UpstreamTimeouts{ResponseHeader: 200 * time.Millisecond}}}
	})
	start := time.Now()
	wantStatus(t, g.do(g.client(), "GET", "/public/", nil, ""), 504)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("504 took %v", d)
	}
}

func TestPolicyFailuresDeny(t *testing.T) {
	cases := []struct {
		name   string
		policy string
		status int
	}{
		{"decision not an object", "package gateway.authz\n\ndecision := \"yes\"\n", 500},
		{"undefined decision", "package gateway.authz\n\ndecision := true if input.nothing\n", 403},
		{"runtime error", "package gateway.authz\n\ndecision := {\"allow\": to_number(\"x\") > 0, \"reason\": \"\"}\n", 500},
		{"eval timeout", "package gateway.authz\n\ndecision := {\"allow\": count([x | some x in numbers.range(1, 100000000)]) > 0, \"reason\": \"\"}\n", 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, func(_ *config.Config, f *fs.FS) {
				*f = fstest.MapFS{"authz.rego": {Data: []byte(tc.policy)}}
			})
			wantStatus(t, g.do(g.client(), "GET", "/public/", nil, ""), tc.status)
			if n := g.up.count(); n != 0 {
				t.Fatalf("%d requests forwarded despite a policy failure", n)
			}
		})
	}
}

func TestSecurityHeadersOnGatewayPages(t *testing.T) {
	g := newGateway(t)
	resp := g.do(g.client(), "GET", "/_gateway/login", nil, "text/html")
	body := wantStatus(t, resp, 200)
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", resp.Header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(body, `name="next"`) || !strings.Contains(body, `type="password"`) {
		t.Fatal("login page lacks its form fields")
	}
	// A reflected next is escaped.
	body = wantStatus(t, g.do(g.client(), "GET", "/_gateway/login?next="+url.QueryEscape(`/"><script>x</script>`), nil, "text/html"), 200)
	if strings.Contains(body, "<script>x") {
		t.Fatal("next reflected unescaped")
	}
}

// login creates a session for username directly through the JSON login
// and returns the session id.
func (g *gw) login(t testing.TB, username string) string {
	t.Helper()
	c := g.client()
	resp := g.loginJSON(c, username, testPassword)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: status %d", username, resp.StatusCode)
	}
	return g.sessionCookie(c)
}

func TestPolicyNeverSeesForgedIdentityHeaders(t *testing.T) {
	// A policy that (wrongly) trusts a header: it must never see a forged one.
	policy := `package gateway.authz

decision := {"allow": true, "reason": "trusting header"} if {
	input.request.headers["x-remote-user"] == "root"
} else := {"allow": false, "reason": "no header"}
`
	g := newGateway(t, func(_ *config.Config, f *fs.FS) {
		*f = fstest.MapFS{"authz.rego": {Data: []byte(policy)}}
	})
	addr := strings.TrimPrefix(g.URL, "http://")
	for _, h := range []string{"X-Remote-User: root", "x_remote_user: root", "X.Remote.User: root"} {
		status, _ := rawRequest(t, addr, "GET /public/ HTTP/1.1\r\nHost: "+addr+"\r\n"+h+"\r\n\r\n")
		if status != 401 {
			t.Fatalf("%q: status %d; the policy saw the forged header", h, status)
		}
	}
	if g.up.count() != 0 {
		t.Fatal("a request was forwarded")
	}
}
