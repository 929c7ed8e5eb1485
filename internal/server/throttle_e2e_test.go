package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
)

// throttled sets the throttle limits (window and cool-off one minute).
func throttled(userLimit, ipLimit int, more ...func(*config.Config)) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.Throttle = config.Throttle{Window: time.Minute, UsernameLimit: userLimit, IPLimit: ipLimit, Cooloff: time.Minute}
		for _, m := range more {
			m(c)
		}
	}
}

// attempt is one JSON login with extra request headers.
func (g *gw) attempt(t *testing.T, c *http.Client, username, password string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c == nil {
		c = g.client()
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// wantAttempt makes a login attempt and checks its status; it returns the
// body without its request_id, for comparing answers.
func (g *gw) wantAttempt(t *testing.T, username, password string, hdr http.Header, status int) string {
	t.Helper()
	resp, body := g.attempt(t, nil, username, password, hdr)
	if resp.StatusCode != status {
		t.Fatalf("login %q: status %d, want %d; body %s", username, resp.StatusCode, status, body)
	}
	if status == http.StatusTooManyRequests {
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > int(g.cfg.Throttle.Cooloff/time.Second) {
			t.Fatalf("429 with Retry-After %q, want 1 to %d seconds", resp.Header.Get("Retry-After"), int(g.cfg.Throttle.Cooloff/time.Second))
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == g.cfg.Session.CookieName && ck.Value != "" {
				t.Fatal("a refused login set a session cookie")
			}
		}
	}
	return withoutRequestID(t, body)
}

func withoutRequestID(t *testing.T, body string) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("body is not JSON: %s", body)
	}
	delete(doc, "request_id")
	b, _ := json.Marshal(doc)
	return string(b)
}

const lockedJSON = `{"error":"too_many_attempts","message":"Too many failed sign-in attempts. Try again later."}`

func TestLoginLockoutByUsername(t *testing.T) {
	g := newGateway(t, throttled(3, 100))
	g.wantAttempt(t, "alice", "wrong-1", nil, 401)
	g.wantAttempt(t, "alice", "wrong-2", nil, 401)
	// The third failure reaches the limit: answered as locked.
	if got := g.wantAttempt(t, "alice", "wrong-3", nil, 429); got != lockedJSON {
		t.Fatalf("429 body %s, want %s", got, lockedJSON)
	}
	// Now even the right password gets the same answer, and no session.
	before, err := g.users.GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := g.wantAttempt(t, "alice", testPassword, nil, 429); got != lockedJSON {
		t.Fatalf("right password while locked: %s", got)
	}
	// A Unicode variant of the name is the same username.
	if got := g.wantAttempt(t, "ａｌｉｃｅ", testPassword, nil, 429); got != lockedJSON {
		t.Fatalf("fullwidth alice while locked: %s", got)
	}
	after, _ := g.users.GetUserByUsername(context.Background(), "alice")
	if !after.LastLogin.Equal(before.LastLogin) {
		t.Fatal("a locked login updated last_login")
	}
	// An unknown username locks the same way and gets the same answer.
	g.wantAttempt(t, "mallory", "x", nil, 401)
	g.wantAttempt(t, "mallory", "y", nil, 401)
	if got := g.wantAttempt(t, "mallory", "z", nil, 429); got != lockedJSON {
		t.Fatalf("unknown user reaching the limit: %s", got)
	}
	if got := g.wantAttempt(t, "mallory", testPassword, nil, 429); got != lockedJSON {
		t.Fatalf("unknown user while locked: %s", got)
	}
	// Other users log in.
	g.wantAttempt(t, "bob", testPassword, nil, 200)

	// A browser gets a page saying so, with the same status.
	page := g.do(g.client(), "GET", "/_gateway/login", nil, "text/html")
	m := csrfRe.FindStringSubmatch(readBody(t, page))
	if m == nil {
		t.Fatal("no CSRF token")
	}
	c := g.client()
	u, _ := url.Parse(g.URL)
	c.Jar.SetCookies(u, page.Cookies())
	form := url.Values{"username": {"alice"}, "password": {testPassword}, "csrfmiddlewaretoken": {m[1]}}
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := wantStatus(t, resp, 429)
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed sign-in attempts. Try again later.") ||
		!strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("browser 429: Retry-After %q, page %.300s", resp.Header.Get("Retry-After"), body)
	}
	if g.sessionCookie(c) != "" {
		t.Fatal("locked form login set a session cookie")
	}
}

func TestLoginLockoutByIP(t *testing.T) {
	g := newGateway(t, throttled(100, 3))
	g.wantAttempt(t, "alice", "wrong", nil, 401)
	g.wantAttempt(t, "nobody", "wrong", nil, 401)
	if got := g.wantAttempt(t, "bob", "wrong", nil, 429); got != lockedJSON {
		t.Fatalf("third failure from the IP: %s", got)
	}
	// Any user, any password, from this IP.
	if got := g.wantAttempt(t, "root", testPassword, nil, 429); got != lockedJSON {
		t.Fatalf("right password from a locked IP: %s", got)
	}
}

// Without trusted proxies, X-Forwarded-For (and its cousins) cannot give a
// client a fresh address.
func TestSpoofedForwardedForDoesNotResetIPCount(t *testing.T) {
	g := newGateway(t, throttled(100, 3))
	spoof := func(ip string) http.Header {
		return http.Header{"X-Forwarded-For": {ip}, "X-Real-Ip": {ip}, "Forwarded": {"for=" + ip}}
	}
	g.wantAttempt(t, "u1", "wrong", spoof("198.51.100.1"), 401)
	g.wantAttempt(t, "u2", "wrong", spoof("198.51.100.2"), 401)
	g.wantAttempt(t, "u3", "wrong", spoof("198.51.100.3"), 429)
	g.wantAttempt(t, "alice", testPassword, spoof("198.51.100.4"), 429)
}

// Behind a trusted proxy the client is the right-most untrusted
// X-Forwarded-For address, and that is what is counted, recorded and told
// to the app.
func TestTrustedProxyForwardedFor(t *testing.T) {
	g := newGateway(t, throttled(100, 2, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1", "10.0.0.0/8"}
		c.DecisionLog.Enabled = true
	}))
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }
	g.wantAttempt(t, "u1", "wrong", xff("198.51.100.1"), 401)
	// Through a second trusted hop, the same client.
	g.wantAttempt(t, "u2", "wrong", xff("198.51.100.1, 10.1.2.3"), 429)
	// What the client writes on the left does not move it.
	g.wantAttempt(t, "alice", testPassword, xff("203.0.113.9, 198.51.100.1"), 429)
	g.wantAttempt(t, "alice", testPassword, xff("198.51.100.1:4711"), 429)
	// Another client behind the same proxy is not locked.
	c := g.client()
	resp, body := g.attempt(t, c, "alice", testPassword, xff("198.51.100.2"))
	if resp.StatusCode != 200 {
		t.Fatalf("other client: status %d %s", resp.StatusCode, body)
	}
	// The app and the decision log see the same client.
	wantStatus(t, g.do(c, "GET", "/editors/", xff("198.51.100.2"), ""), 200)
	if got := g.up.last(t).Header.Get("X-Forwarded-For"); got != "198.51.100.2" {
		t.Fatalf("upstream X-Forwarded-For = %q, want the client", got)
	}
	if !strings.Contains(g.dlog.String(), `"client_ip":"198.51.100.2"`) {
		t.Fatalf("decision log does not name the client:\n%s", g.dlog)
	}
	// The audit events name it too.
	var found bool
	for _, e := range g.auditEntries(t) {
		if e["event"] == "user_logged_in" && e["client_ip"] == "198.51.100.2" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no user_logged_in from 198.51.100.2 in %v", g.auditEntries(t))
	}
}

// A client that is not a trusted proxy cannot choose its address even
// when some proxies are trusted.
func TestUntrustedPeerForwardedForIgnored(t *testing.T) {
	g := newGateway(t, throttled(100, 2, func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.0/8"} }))
	g.wantAttempt(t, "u1", "wrong", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, 401)
	g.wantAttempt(t, "u2", "wrong", http.Header{"X-Forwarded-For": {"198.51.100.2"}}, 429)
}

func TestLoginSuccessResetsUsernameCount(t *testing.T) {
	g := newGateway(t, throttled(3, 6))
	for round := range 2 {
		g.wantAttempt(t, "alice", "wrong", nil, 401)
		g.wantAttempt(t, "alice", "wrong", nil, 401)
		if got := g.wantAttempt(t, "alice", testPassword, nil, 200); got == "" {
			t.Fatalf("round %d: no body", round)
		}
	}
	// The IP's failures were not reset: 4 so far, the sixth locks it.
	g.wantAttempt(t, "bob", "wrong", nil, 401)
	g.wantAttempt(t, "bob", "wrong", nil, 429)
}

func TestLockoutCooloffEnds(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Throttle = config.Throttle{Window: 2 * time.Second, UsernameLimit: 2, IPLimit: 100, Cooloff: time.Second}
	})
	g.wantAttempt(t, "alice", "wrong", nil, 401)
	g.wantAttempt(t, "alice", "wrong", nil, 429)
	g.wantAttempt(t, "alice", testPassword, nil, 429)
	time.Sleep(1100 * time.Millisecond)
	g.wantAttempt(t, "alice", testPassword, nil, 200)
}

func TestThrottleDisabled(t *testing.T) {
	off := false
	g := newGateway(t, throttled(1, 1, func(c *config.Config) { c.Throttle.Enabled = &off }))
	for range 5 {
		g.wantAttempt(t, "alice", "wrong", nil, 401)
	}
	g.wantAttempt(t, "alice", testPassword, nil, 200)
}

// Redis down: the lock state is unknown, so logins are refused with the
// store-unavailable answer — never let through, never "wrong password".
func TestThrottleRedisDownFailsClosed(t *testing.T) {
	g := newGateway(t, throttled(3, 3))
	g.redis.Stop()
	resp, body := g.attempt(t, nil, "alice", testPassword, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `"error":"unavailable"`) {
		t.Fatalf("login with Redis down: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(g.logs.String(), "the login throttle cannot reach Redis") {
		t.Fatalf("not logged:\n%s", g.logs)
	}
}

// A burst of concurrent guesses gets no more password checks than the
// limit allows: attempts beyond it are refused while the first are still
// being checked, and then the failures lock the username.
func TestConcurrentGuessesAreBounded(t *testing.T) {
	g := newGateway(t, throttled(3, 100, func(c *config.Config) {
		c.PasswordHashers[0].Iterations = 100000 // slow enough that the burst overlaps
		c.PasswordHashConcurrency = 1
	}))
	const n = 12
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := g.attempt(t, nil, "alice", fmt.Sprint("guess-", i), nil)
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	checked := 0
	for st := range statuses {
		switch st {
		case 401:
			checked++
		case 429:
		default:
			t.Errorf("status %d", st)
		}
	}
	// At most three passwords were checked; the third failure answers 429.
	if checked > 2 {
		t.Fatalf("%d guesses answered 401, want at most 2 of a limit of 3", checked)
	}
	g.wantAttempt(t, "alice", testPassword, nil, 429)
}
