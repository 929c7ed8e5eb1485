package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/sessionstore"
)

// Session lifecycle over real HTTP and a real Redis: fixation, lifetimes,
// the refresh interval, the session auth hash, and the cost of an
// authenticated request in Redis round trips.

// withSession changes the session settings of a test gateway.
func withSession(mutate func(*config.Session)) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) { mutate(&c.Session) }
}

// sessionKey spells out the documented layout: P{auth}:s:<key id>, the
// key id being the base64url SHA-256 of the session id.
func (g *gw) sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return g.cfg.Redis.KeyPrefix + "{auth}:s:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// withCookie is a fresh client that carries the session cookie id.
func (g *gw) withCookie(id string) *http.Client {
	c := g.client()
	u, _ := url.Parse(g.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: g.cfg.Session.CookieName, Value: id, Path: "/"}})
	return c
}

// alive reports whether a request with the session cookie id is
// authenticated (an allowed page for alice answers 200, anonymous 401).
func (g *gw) alive(t *testing.T, id string) bool {
	t.Helper()
	resp := g.do(g.withCookie(id), "GET", "/_gateway/me", nil, "")
	readBody(t, resp)
	switch resp.StatusCode {
	case 200:
		return true
	case 401:
		return false
	}
	t.Fatalf("/me answered %d", resp.StatusCode)
	return false
}

func (g *gw) stored(id string) bool {
	_, err := g.sessions.Get(context.Background(), id)
	if err != nil && !errors.Is(err, sessionstore.ErrNotFound) {
		g.t.Fatal(err)
	}
	return err == nil
}

// setCookie is the session cookie a response sets.
func setCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	t.Fatalf("response sets no %s cookie", name)
	return nil
}

func TestLoginNeverPromotesABroughtSession(t *testing.T) {
	g := newGateway(t)
	// The user's own earlier, valid session: a new login still gets a new
	// id (Django's cycle_key), and the old one is ended.
	c := g.client()
	wantStatus(t, g.loginForm(c, "alice", testPassword, "/"), 302)
	first := g.sessionCookie(c)
	wantStatus(t, g.loginForm(c, "alice", testPassword, "/"), 302)
	second := g.sessionCookie(c)
	if second == "" || second == first {
		t.Fatal("a second login kept the session id")
	}
	if g.stored(first) || g.alive(t, first) {
		t.Fatal("the session the client brought to the login lives on")
	}
	if !g.alive(t, second) {
		t.Fatal("the new session does not work")
	}
	// An attacker-chosen id, well-formed, planted in the victim's browser
	// before the victim logs in through the form: never promoted, never
	// stored.
	planted := strings.Repeat("Q", 43)
	victim := g.withCookie(planted)
	wantStatus(t, g.loginForm(victim, "alice", testPassword, "/"), 302)
	if got := g.sessionCookie(victim); got == planted || got == "" {
		t.Fatalf("login answered with session %q", got)
	}
	if g.stored(planted) || g.alive(t, planted) {
		t.Fatal("the planted id became a session")
	}
	if n := g.rdb.Exists(context.Background(), g.sessionKey(planted)).Val(); n != 0 {
		t.Fatal("the planted id has a key in Redis")
	}
	// Switching users in one browser: a new id as well.
	wantStatus(t, g.loginJSON(victim, "bob", testPassword), 200)
	if got := g.sessionCookie(victim); got == planted {
		t.Fatal("login as another user kept the id")
	}
}

// Changing the password the way `gateway changepassword` does (the
// store's SetPassword) ends every session of the user at once; other
// users keep theirs.
func TestPasswordChangeByCLIEndsSessions(t *testing.T) {
	g := newGateway(t)
	a1, a2, b := g.login(t, "alice"), g.login(t, "alice"), g.login(t, "bob")
	enc := "pbkdf2_sha256$1000$newsalt$" + strings.Repeat("A", 43) + "="
	if err := g.users.SetPassword(context.Background(), "alice", enc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a1, a2} {
		if g.stored(id) || g.alive(t, id) {
			t.Fatal("alice's session survived her password change")
		}
	}
	if !g.alive(t, b) {
		t.Fatal("bob's session ended with alice's password change")
	}
}

// The session auth hash on its own: a session whose user's auth secret
// changed, by any writer and even if the session escaped the index, is
// dead at its next request and deleted. (A writer that bypasses the
// stores announces nothing: with the principal cache on, the gateway
// sees such a change at the entry's next reload, within cache.ttl.)
func TestSessionAuthHashChecked(t *testing.T) {
	g := newGateway(t, withoutCache)
	ctx := context.Background()
	id := g.login(t, "alice")
	if !g.alive(t, id) {
		t.Fatal("fresh session does not work")
	}
	u, err := g.users.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Reach into the layout: a new auth secret without ending sessions.
	g.rdb.HSet(ctx, g.cfg.Redis.KeyPrefix+"{auth}:user:"+itoa(u.ID), "auth_secret", "rotated")
	if g.alive(t, id) {
		t.Fatal("a session with a stale auth hash is still authenticated")
	}
	if g.stored(id) {
		t.Fatal("a session with a stale auth hash was not deleted")
	}
	if strings.Contains(g.logs.String(), id) {
		t.Fatal("the session id was logged")
	}
	if !strings.Contains(g.logs.String(), "the password changed since it began") {
		t.Fatal("the ended session was not logged")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The automatic re-hash at login (an outdated hash upgraded) is the same
// password: it must not end anyone's sessions.
func TestHashUpgradeKeepsOtherSessions(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.PasswordHashers = []config.PasswordHasher{
			{Algorithm: config.AlgorithmPBKDF2SHA256, Iterations: 1000},
			{Algorithm: config.AlgorithmPBKDF2SHA1, Iterations: 1000},
		}
	})
	ctx := context.Background()
	before := g.login(t, "alice")
	u, _ := g.users.GetUserByUsername(ctx, "alice")
	// The stored hash is an outdated one of the same password, e.g. as
	// import-django brought it before alice first logged in here.
	legacy := djangoPBKDF2SHA1(testPassword, "seasalt0123456789abcd", 1000)
	// The hash is split after its 64th byte (password, password2).
	g.rdb.HSet(ctx, g.cfg.Redis.KeyPrefix+"{auth}:user:"+itoa(u.ID), "password", legacy[:64], "password2", legacy[64:])

	after := g.login(t, "alice") // verifies the legacy hash and upgrades it
	upgraded, _ := g.users.GetUserByUsername(ctx, "alice")
	if !strings.HasPrefix(upgraded.Password, "pbkdf2_sha256$") {
		t.Fatal("the login did not upgrade the hash")
	}
	if upgraded.AuthSecret != u.AuthSecret {
		t.Fatal("the upgrade replaced the auth secret")
	}
	if !g.alive(t, before) || !g.alive(t, after) {
		t.Fatal("the hash upgrade ended a session")
	}
}

func TestIdleTimeout(t *testing.T) {
	g := newGateway(t, withSession(func(s *config.Session) {
		s.IdleTimeout, s.RefreshInterval = 2*time.Second, time.Second
	}))
	id := g.login(t, "alice")
	// Used every ~1.1 s, the session outlives its 2 s idle timeout: each
	// use after the refresh interval writes back the activity.
	for i := 0; i < 3; i++ {
		time.Sleep(1100 * time.Millisecond)
		if !g.alive(t, id) {
			t.Fatalf("session ended while in use (after %d uses)", i)
		}
	}
	time.Sleep(2200 * time.Millisecond)
	if g.alive(t, id) {
		t.Fatal("session idle for longer than idle_timeout still works")
	}
	if g.stored(id) {
		t.Fatal("idle session still stored")
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	g := newGateway(t, withSession(func(s *config.Session) {
		s.MaxAge, s.RefreshInterval = 2*time.Second, 100*time.Millisecond
	}))
	c := g.client()
	resp := g.loginJSON(c, "alice", testPassword)
	wantStatus(t, resp, 200)
	if ck := setCookie(t, resp, g.cfg.Session.CookieName); ck.MaxAge < 1 || ck.MaxAge > 2 {
		t.Fatalf("cookie Max-Age = %d, want the 2 s lifetime", ck.MaxAge)
	}
	id := g.sessionCookie(c)
	start := time.Now()
	// However active, the session ends max_age after login.
	for time.Since(start) < 1500*time.Millisecond {
		if !g.alive(t, id) {
			t.Fatalf("session ended after %s of its 2s", time.Since(start))
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(time.Until(start.Add(2100 * time.Millisecond)))
	if g.alive(t, id) {
		t.Fatal("session outlived max_age")
	}
}

func TestExpireAtBrowserCloseCookie(t *testing.T) {
	for _, browserClose := range []bool{false, true} {
		g := newGateway(t, withSession(func(s *config.Session) { s.ExpireAtBrowserClose = browserClose }))
		resp := g.loginJSON(g.client(), "alice", testPassword)
		wantStatus(t, resp, 200)
		var raw string
		for _, v := range resp.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, g.cfg.Session.CookieName+"=") {
				raw = v
			}
		}
		lower := strings.ToLower(raw)
		hasAge := strings.Contains(lower, "max-age=") || strings.Contains(lower, "expires=")
		if hasAge == browserClose || !strings.Contains(lower, "httponly") || !strings.Contains(lower, "samesite=lax") {
			t.Fatalf("expire_at_browser_close=%v: Set-Cookie %q", browserClose, raw)
		}
		if !browserClose && !strings.Contains(raw, "Max-Age=1209600") {
			t.Fatalf("Set-Cookie %q, want Max-Age=1209600", raw)
		}
		// The server-side lifetime applies either way.
		id := setCookie(t, resp, g.cfg.Session.CookieName).Value
		if ttl, err := g.sessions.TTL(context.Background(), id); err != nil || ttl <= 336*time.Hour-time.Minute || ttl > 336*time.Hour {
			t.Fatalf("expire_at_browser_close=%v: Redis TTL %s, %v; want max_age", browserClose, ttl, err)
		}
	}
}

// Requests within session.refresh_interval write nothing to Redis: the
// session's last activity and expiry stay as they were. The first request
// after it writes them back once.
func TestRefreshIntervalHonoured(t *testing.T) {
	g := newGateway(t, withSession(func(s *config.Session) {
		s.IdleTimeout, s.RefreshInterval = time.Hour, 1500*time.Millisecond
	}))
	ctx := context.Background()
	id := g.login(t, "alice")
	key := g.sessionKey(id)
	last0 := g.rdb.HGet(ctx, key, "l").Val()
	exp0 := g.rdb.PExpireTime(ctx, key).Val()
	if last0 == "" || exp0 <= 0 {
		t.Fatalf("last %q, expire time %v", last0, exp0)
	}
	for i := 0; i < 20; i++ {
		if !g.alive(t, id) {
			t.Fatal("session does not work")
		}
	}
	if g.rdb.HGet(ctx, key, "l").Val() != last0 || g.rdb.PExpireTime(ctx, key).Val() != exp0 {
		t.Fatal("requests within the refresh interval wrote to the session")
	}
	time.Sleep(1600 * time.Millisecond)
	if !g.alive(t, id) {
		t.Fatal("session does not work after the interval")
	}
	last1 := g.rdb.HGet(ctx, key, "l").Val()
	exp1 := g.rdb.PExpireTime(ctx, key).Val()
	if last1 <= last0 || exp1 <= exp0 {
		t.Fatalf("after the interval: last %s -> %s, expire time %v -> %v; want both moved", last0, last1, exp0, exp1)
	}
	for i := 0; i < 5; i++ {
		g.alive(t, id)
	}
	if g.rdb.HGet(ctx, key, "l").Val() != last1 {
		t.Fatal("requests right after a write-back wrote again")
	}
}

// Deactivating or deleting a user ends their sessions at once: the
// session keys are gone before any request, and reactivation does not
// revive them.
func TestDeactivateAndDeleteEndSessions(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	a, b := g.login(t, "alice"), g.login(t, "bob")
	if err := g.users.SetActive(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if g.stored(a) {
		t.Fatal("deactivation left the session in Redis")
	}
	if err := g.users.SetActive(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if g.alive(t, a) {
		t.Fatal("reactivation revived a session")
	}
	if err := g.users.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if g.stored(b) || g.alive(t, b) {
		t.Fatal("deleting the user left the session")
	}
}

// roundTrips counts what a go-redis client sends: each command is one
// round trip, and so is each pipeline.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// withoutCache turns the principal cache and decision memo off.
func withoutCache(c *config.Config, _ *fs.FS) {
	off := false
	c.Cache.Enabled = &off
}

// Without the principal cache an authenticated request costs one Redis
// round trip: session, user, groups and permissions in one script, and
// the write-back of activity inside it when due.
// roundTripsOf returns a function that GETs a path with alice's session
// on g, requires 200, and returns the Redis round trips it made.
func roundTripsOf(t *testing.T, g *gw) func(path string) int64 {
	t.Helper()
	cookie := &http.Cookie{Name: g.cfg.Session.CookieName, Value: g.login(t, "alice")}
	hook := &roundTrips{}
	g.rdb.AddHook(hook)
	return func(path string) int64 {
		t.Helper()
		hook.n.Store(0)
		req, _ := http.NewRequest("GET", g.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return hook.n.Load()
	}
}

func TestAuthenticatedRequestOneRoundTrip(t *testing.T) {
	g := newGateway(t, withoutCache, withSession(func(s *config.Session) { s.RefreshInterval = 50 * time.Millisecond }))
	get := roundTripsOf(t, g)
	get("/editors/") // warm up: the script's first EVALSHA may load it
	for _, path := range []string{"/editors/", "/api/blog/post/7/", "/_gateway/me"} {
		for i := 0; i < 10; i++ {
			if i == 5 {
				time.Sleep(60 * time.Millisecond) // a write-back is due
			}
			if n := get(path); n != 1 {
				t.Fatalf("GET %s (request %d) made %d Redis round trips, want 1", path, i, n)
			}
		}
	}
}

// With the principal cache (the default) a session in steady state costs
// no Redis round trip at all; the one script runs again only when the
// write-back of activity is due (session.refresh_interval, which bounds
// how long an entry is kept) or after a change was announced.
func TestCachedRequestNoRoundTrip(t *testing.T) {
	g := newGateway(t, withSession(func(s *config.Session) { s.RefreshInterval = 300 * time.Millisecond }))
	get := roundTripsOf(t, g)
	get("/editors/") // the first request loads the session (and may load the script)
	for _, path := range []string{"/editors/", "/api/blog/post/7/", "/_gateway/me", "/editors/"} {
		if n := get(path); n != 0 {
			t.Fatalf("GET %s made %d Redis round trips, want 0 (answered from the cache)", path, n)
		}
	}
	time.Sleep(350 * time.Millisecond) // the write-back is due
	if n := get("/editors/"); n != 1 {
		t.Fatalf("GET /editors/ with the write-back due made %d round trips, want 1", n)
	}
	if n := get("/editors/"); n != 0 {
		t.Fatalf("after the write-back: %d round trips, want 0", n)
	}
	// An announced change drops the entry well before its write-back is
	// due: the next request reads Redis. (g.users returns once the
	// gateway's cache has received the announcement.)
	if err := g.users.GrantUserPermission(context.Background(), "alice", "blog.view_post"); err != nil {
		t.Fatal(err)
	}
	if n := get("/editors/"); n != 1 {
		t.Fatalf("after an announced change: %d round trips, want 1 (the entry dropped)", n)
	}
}

// A stored session that cannot be decoded is anonymous, and logged
// without its id.
func TestCorruptSessionIsAnonymous(t *testing.T) {
	g := newGateway(t)
	ctx := context.Background()
	id := g.login(t, "alice")
	g.rdb.HSet(ctx, g.sessionKey(id), "c", "yesterday")
	if g.alive(t, id) {
		t.Fatal("a corrupt session authenticated")
	}
	other := strings.Repeat("W", 43)
	g.rdb.Set(ctx, g.sessionKey(other), "not a hash", time.Minute)
	if g.alive(t, other) {
		t.Fatal("a corrupt session authenticated")
	}
	logs := g.logs.String()
	if strings.Count(logs, "ignoring corrupt session") != 2 || strings.Contains(logs, id) || strings.Contains(logs, other) {
		t.Fatalf("corrupt sessions not logged, or logged with their id:\n%s", logs)
	}
}

// With the principal cache, last activity is still written back on time:
// a session used every 150 ms with a 1 s idle timeout (write-back every
// 500 ms, the most the configuration allows) never idles out, and one
// left alone for longer than the idle timeout ends.
func TestCachedSessionIdleTimeout(t *testing.T) {
	g := newGateway(t, withSession(func(s *config.Session) {
		s.IdleTimeout = time.Second
		s.RefreshInterval = 500 * time.Millisecond
	}))
	id := g.login(t, "alice")
	// The first request comes just before the first write-back is due:
	// caching it for a whole refresh interval from now would skip that
	// write-back, and the session would idle out while in use.
	time.Sleep(480 * time.Millisecond)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if !g.alive(t, id) {
			t.Fatal("an active session idled out")
		}
		time.Sleep(150 * time.Millisecond)
	}
	time.Sleep(1200 * time.Millisecond)
	if g.alive(t, id) {
		t.Fatal("a session idle for longer than idle_timeout is still alive")
	}
}
