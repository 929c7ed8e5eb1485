package server_test

// End-to-end tests of the gateway on a real Redis Cluster and a real
// Sentinel group (internal/testredis), with the Redis client built from
// the configuration exactly as `gateway serve` builds it
// (redisclient.New).

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/redisclient"
	"github.com/djangate/gateway/internal/testredis"
	"github.com/djangate/gateway/internal/throttle"
	"github.com/djangate/gateway/internal/tokens"
)

// newGatewayOnRedis is newGatewayWith on the Redis that redis describes
// (mode, addrs, master_name), the client built by redisclient.New from the
// validated configuration. The returned gw has no testredis.Server and no
// *redis.Client: use the returned UniversalClient.
func newGatewayOnRedis(t testing.TB, redisCfg func(*config.Redis), opts ...func(*config.Config, *fs.FS)) (*gw, redis.UniversalClient) {
	t.Helper()
	up := newUpstream(t)
	cfg, policyFS := testConfig(t, up, redisCfg, opts)
	rdb, err := redisclient.New(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return startGateway(t, cfg, policyFS, rdb, up, nil), rdb
}

func onCluster(c *testredis.Cluster) func(*config.Redis) {
	return func(r *config.Redis) { r.Mode, r.Addrs = config.RedisModeCluster, c.Addrs() }
}

func onSentinel(s *testredis.Sentinel) func(*config.Redis) {
	return func(r *config.Redis) {
		r.Mode, r.Addrs, r.MasterName = config.RedisModeSentinel, s.Addrs(), s.MasterName()
	}
}

// exercise runs, against g, every path of the gateway and of the stores
// that runs a Lua script or a multi-key command, and checks the outcomes
// are those of a standalone Redis (the same as in e2e_test.go and
// tokens_e2e_test.go).
func exercise(t *testing.T, g *gw, rdb redis.UniversalClient) {
	ctx := context.Background()
	// Anonymous.
	wantStatus(t, g.do(g.client(), "GET", "/public/x", nil, ""), 200)
	wantStatus(t, g.do(g.client(), "GET", "/account/", nil, "application/json"), 401)

	// Session logins, and the authorization outcomes of
	// TestAuthorizationOutcomes.
	clients := map[string]*http.Client{}
	for _, u := range []string{"alice", "bob", "root"} {
		clients[u] = g.client()
		wantStatus(t, g.loginJSON(clients[u], u, testPassword), 200)
	}
	for _, tc := range []struct {
		user, method, path string
		status             int
	}{
		{"bob", "GET", "/account/", 200},
		{"alice", "GET", "/editors/", 200},
		{"bob", "GET", "/editors/", 403},
		{"root", "GET", "/reports/", 200},
		{"alice", "GET", "/reports/", 403},
		{"alice", "GET", "/api/blog/post/1/", 200},
		{"alice", "PUT", "/api/blog/post/1/", 200},
		{"alice", "DELETE", "/api/blog/post/1/", 403},
		{"root", "GET", "/admin/", 200},
		{"alice", "GET", "/admin/", 403},
	} {
		before := g.up.count()
		wantStatus(t, g.do(clients[tc.user], tc.method, tc.path, nil, ""), tc.status)
		if (tc.status == 200) != (g.up.count()-before == 1) {
			t.Fatalf("%s %s %s: status %d but %d forwarded", tc.user, tc.method, tc.path, tc.status, g.up.count()-before)
		}
		if tc.status == 200 && g.up.last(t).Header.Get("X-Remote-User") != tc.user {
			t.Fatalf("%s %s: upstream identity %q", tc.method, tc.path, g.up.last(t).Header.Get("X-Remote-User"))
		}
	}
	// The HTML form login (CSRF) and last_login.
	form := g.client()
	wantStatus(t, g.loginForm(form, "alice", testPassword, "/editors/"), http.StatusFound)
	wantStatus(t, g.do(form, "GET", "/editors/", nil, ""), 200)
	if u, err := g.users.GetUserByUsername(ctx, "alice"); err != nil || u.LastLogin.IsZero() {
		t.Fatalf("last_login: %v %+v", err, u)
	}
	// A failed login (throttle begin/failed), then a good one (done), and
	// an unlock.
	wantStatus(t, g.loginJSON(g.client(), "bob", "wrong password"), 401)
	wantStatus(t, g.loginJSON(g.client(), "bob", testPassword), 200)
	lim := throttle.New(rdb, g.cfg.Redis.KeyPrefix, throttle.ConfigFrom(g.cfg.Throttle))
	if _, err := lim.UnlockUsername(ctx, "bob"); err != nil {
		t.Fatalf("UnlockUsername: %v", err)
	}
	if _, err := lim.UnlockIP(ctx, "127.0.0.1"); err != nil {
		t.Fatalf("UnlockIP: %v", err)
	}
	// Logout (CSRF form) ends the session.
	m := csrfRe.FindStringSubmatch(readBody(t, g.do(clients["root"], "GET", "/_gateway/logout", nil, "text/html")))
	if m == nil {
		t.Fatal("logout page has no CSRF token")
	}
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/logout", strings.NewReader(url.Values{"csrfmiddlewaretoken": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := clients["root"].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	wantStatus(t, g.do(clients["root"], "GET", "/reports/", nil, "application/json"), 401)

	// Session listing and revocation.
	bob, err := g.users.GetUserByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if l, err := g.sessions.List(ctx, bob.ID, time.Now()); err != nil || len(l) != 2 {
		t.Fatalf("sessions of bob: %v %v", l, err)
	}
	if n, err := g.sessions.RevokeAll(ctx, bob.ID); err != nil || n != 2 {
		t.Fatalf("RevokeAll(bob) = %d, %v", n, err)
	}
	wantStatus(t, g.do(clients["bob"], "GET", "/account/", nil, "application/json"), 401)

	// Management operations, each a script: the outcome shows in the
	// gateway's decisions at once (g.users settles: settle_test.go).
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	c := g.client()
	wantStatus(t, g.loginJSON(c, "bob", testPassword), 200)
	wantStatus(t, g.do(c, "GET", "/editors/", nil, ""), 403)
	must("AddUserToGroup", g.users.AddUserToGroup(ctx, "bob", "editors"))
	wantStatus(t, g.do(c, "GET", "/editors/", nil, ""), 200)
	must("RemoveUserFromGroup", g.users.RemoveUserFromGroup(ctx, "bob", "editors"))
	wantStatus(t, g.do(c, "GET", "/editors/", nil, ""), 403)
	groups, err := g.users.SetUserGroups(ctx, "bob", []string{"editors"})
	must("SetUserGroups", err)
	_ = groups
	wantStatus(t, g.do(c, "GET", "/editors/", nil, ""), 200)
	must("GrantUserPermission", g.users.GrantUserPermission(ctx, "bob", "blog.view_post"))
	perms, err := g.users.UserPermissions(ctx, "bob")
	must("UserPermissions", err)
	if !contains(perms, "blog.view_post") {
		t.Fatalf("UserPermissions(bob) = %v", perms)
	}
	must("RevokeUserPermission", g.users.RevokeUserPermission(ctx, "bob", "blog.view_post"))
	must("CreateGroup", g.users.CreateGroup(ctx, "auditors"))
	must("GrantGroupPermission", g.users.GrantGroupPermission(ctx, "auditors", "blog.view_post"))
	must("RevokeGroupPermission", g.users.RevokeGroupPermission(ctx, "auditors", "blog.view_post"))
	if _, err := g.users.GroupMembers(ctx, "editors"); err != nil {
		t.Fatalf("GroupMembers: %v", err)
	}
	must("DeleteGroup", g.users.DeleteGroup(ctx, "auditors"))
	yes := true
	must("SetFlags", g.users.SetFlags(ctx, "bob", &yes, nil))
	wantStatus(t, g.do(c, "GET", "/admin/", nil, ""), 200)
	must("SetActive", g.users.SetActive(ctx, "bob", false))
	wantStatus(t, g.do(c, "GET", "/account/", nil, "application/json"), 401)
	must("SetActive", g.users.SetActive(ctx, "bob", true))
	u, err := g.users.GetUserByUsername(ctx, "bob")
	must("GetUserByUsername", err)
	_, err = g.users.ChangePassword(ctx, u, "a new password 123")
	must("ChangePassword", err)
	wantStatus(t, g.loginJSON(g.client(), "bob", "a new password 123"), 200)
	if _, err := g.users.Authenticate(ctx, "bob", "a new password 123"); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := g.users.ListUsers(ctx); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	// A Django import (ReadImportState, the import script).
	model, err := authn.NewModel(authn.ModelSpec{Label: "shop.order", DefaultPermissions: []string{"view"}})
	must("NewModel", err)
	set := authn.ImportSet{
		Models: []authn.Model{model},
		Groups: []authn.ImportGroup{{Name: "shop", Permissions: []string{"shop.view_order"}}},
		Users: []authn.ImportUser{{User: authn.User{Username: "carol", Password: "!unusable", IsActive: true, DateJoined: time.Now().UTC().Truncate(time.Second)},
			Groups: []string{"shop"}}},
	}
	st, err := g.users.ReadImportState(ctx, set)
	must("ReadImportState", err)
	res, err := g.users.Import(ctx, set, st)
	must("Import", err)
	if res.Created["carol"] == 0 {
		t.Fatalf("Import: %+v", res)
	}
	must("DeleteUser", g.users.DeleteUser(ctx, "carol"))

	// The audit stream got the events.
	if n, err := rdb.XLen(ctx, g.cfg.Redis.KeyPrefix+g.cfg.Audit.Stream).Result(); err != nil || n == 0 {
		t.Fatalf("audit stream: %d entries, %v", n, err)
	}
	if !g.cfg.Tokens.Enabled {
		return
	}
	// Tokens: issue, use, refresh (rotate), reuse detection, revoke.
	tp := g.login4Tokens(t, "alice")
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp.Access), 200)
	wantStatus(t, g.withAuth(t, nil, "/reports/", "Bearer "+tp.Access), 403)
	st2, tp2, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": tp.Refresh})
	if st2 != 200 {
		t.Fatalf("refresh: %d %+v", st2, tp2)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp2.Access), 200)
	if st, _, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": tp.Refresh}); st != 401 {
		t.Fatalf("reused refresh token: %d, want 401", st)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp2.Access), 401) // family revoked
	tp3 := g.login4Tokens(t, "alice")
	if st, _, _ := g.postToken(t, "/token/revoke", map[string]string{"token": tp3.Access}); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp3.Access), 401)
	tp4 := g.login4Tokens(t, "alice")
	if st, _, _ := g.postToken(t, "/token/revoke", map[string]string{"token": tp4.Refresh}); st != 200 {
		t.Fatalf("revoke refresh: %d", st)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp4.Access), 401)
	tp5 := g.login4Tokens(t, "alice")
	alice, err := g.users.GetUserByUsername(ctx, "alice")
	must("GetUserByUsername", err)
	must("RevokeUser", tokens.NewStore(rdb, g.cfg.Redis.KeyPrefix).RevokeUser(ctx, alice.ID))
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp5.Access), 401)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestClusterEndToEnd runs the gateway, with sessions and tokens, on a
// real 3-master Redis Cluster: every script and command works (no
// CROSSSLOT, no "keys that do not belong to the node") and decisions are
// those of a standalone Redis. The identity keys are all on one master
// (the {auth} hash tag), and the keys are spread over the nodes only by
// tag.
func TestClusterEndToEnd(t *testing.T) {
	c := testredis.StartCluster(t)
	g, rdb := newGatewayOnRedis(t, onCluster(c), withTokens(t))
	exercise(t, g, rdb)

	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("redis.mode cluster built a %T, want *redis.ClusterClient", rdb)
	}
	var mu sync.Mutex
	where := map[string][]string{} // hash tag -> masters holding keys with it
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, "*").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			tag := "(none)"
			if i := strings.IndexByte(k, '{'); i >= 0 {
				if j := strings.IndexByte(k[i:], '}'); j > 0 {
					tag = k[i : i+j+1]
				}
			}
			if !contains(where[tag], m.Options().Addr) {
				where[tag] = append(where[tag], m.Options().Addr)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(where["{auth}"]); n != 1 {
		t.Fatalf("{auth} keys on %d masters (%v), want exactly 1", n, where)
	}
	t.Logf("keys by hash tag and master: %v", where)
}

// TestSentinelEndToEnd runs the same on a Sentinel group (master, replica,
// three sentinels), the client following the master through the
// sentinels.
func TestSentinelEndToEnd(t *testing.T) {
	s := testredis.StartSentinel(t)
	g, rdb := newGatewayOnRedis(t, onSentinel(s), withTokens(t))
	if _, ok := rdb.(*redis.Client); !ok {
		t.Fatalf("redis.mode sentinel built a %T, want the failover *redis.Client", rdb)
	}
	exercise(t, g, rdb)
}

// TestSentinelFailoverUnderLoad fails the master over twice, once as
// asked (SENTINEL FAILOVER) and once by killing it, while workers send
// requests with sessions made before: no request is ever wrongly allowed
// or wrongly denied, the only errors are 503s, the sessions survive, and
// requests succeed again within seconds of the promotion.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	s := testredis.StartSentinel(t)
	g, rdb := newGatewayOnRedis(t, onSentinel(s))
	cookies := map[string]*http.Client{}
	for _, u := range []string{"alice", "bob", "root"} {
		cookies[u] = g.client()
		wantStatus(t, g.loginJSON(cookies[u], u, testPassword), 200)
	}
	// The sessions are on the replica before the master goes (WAIT), as
	// they would be after any replication delay.
	if n, err := rdb.Do(context.Background(), "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 replica: %d, %v", n, err)
	}
	for _, phase := range []struct {
		name    string
		trigger func() string
	}{
		{"SENTINEL FAILOVER", s.Failover},
		{"master killed", s.KillMaster},
	} {
		t.Run(phase.name, func(t *testing.T) {
			window := underLoad(t, g, cookies, phase.trigger)
			t.Logf("%s: requests failed (503) for %s", phase.name, window)
		})
		if t.Failed() {
			return
		}
	}
}

// worker is one client that keeps sending one request and knows which
// answers are right: ok is the decision (200, 401 or 403) the request
// must get whenever Redis answers, and 503 is the only other answer
// allowed.
type worker struct {
	name, path string
	client     *http.Client
	cookie     string // a forged session cookie, when set
	ok         int
}

type result struct {
	at     time.Time
	status int
}

// underLoad runs the workers, calls trigger after a second of traffic,
// keeps going until five seconds after trigger returned, and checks the
// answers. It returns the time from the first to the last 503.
func underLoad(t *testing.T, g *gw, cookies map[string]*http.Client, trigger func() string) time.Duration {
	t.Helper()
	workers := []worker{
		{name: "alice on a group page", path: "/editors/", client: cookies["alice"], ok: 200},
		{name: "bob on a group page he is not in", path: "/editors/", client: cookies["bob"], ok: 403},
		{name: "root on a permission page", path: "/reports/", client: cookies["root"], ok: 200},
		{name: "bob on a login page", path: "/account/", client: cookies["bob"], ok: 200},
		{name: "anonymous on a login page", path: "/account/", client: g.client(), ok: 401},
		{name: "forged session on a login page", path: "/account/", client: g.client(), cookie: strings.Repeat("x", 32), ok: 401},
	}
	stop := make(chan struct{})
	results := make([][]result, len(workers))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", g.URL+w.path, nil)
				if w.cookie != "" {
					req.AddCookie(&http.Cookie{Name: g.cfg.Session.CookieName, Value: w.cookie})
				}
				at := time.Now()
				resp, err := w.client.Do(req)
				st := 0
				if err == nil {
					st = resp.StatusCode
					resp.Body.Close()
				}
				results[i] = append(results[i], result{at, st})
				if st != w.ok && st != http.StatusServiceUnavailable {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%s: %s at %s: status %d (err %v), want %d or 503", w.name, w.path, at.Format("15:04:05.000"), st, err, w.ok))
					mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	start := time.Now()
	newMaster := trigger()
	promoted := time.Now()
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("trigger at %s, sentinels agree on new master %s after %s", start.Format("15:04:05.000"), newMaster, promoted.Sub(start).Round(time.Millisecond))
	for _, p := range problems {
		t.Error(p)
	}
	var first, last time.Time
	total, failed := 0, 0
	for i, rs := range results {
		n503 := 0
		for _, r := range rs {
			total++
			if r.status != http.StatusServiceUnavailable {
				continue
			}
			n503++
			failed++
			if first.IsZero() || r.at.Before(first) {
				first = r.at
			}
			if r.at.After(last) {
				last = r.at
			}
		}
		// Each worker answered right at the end: Redis is back for all.
		if len(rs) == 0 || rs[len(rs)-1].status != workers[i].ok {
			t.Errorf("%s: no right answer at the end (%d requests)", workers[i].name, len(rs))
		}
		t.Logf("%s: %d requests, %d answered 503", workers[i].name, len(rs), n503)
	}
	window := time.Duration(0)
	if !first.IsZero() {
		window = last.Sub(first)
		t.Logf("503s from %s to %s (%s after the trigger, %s after the promotion)", first.Format("15:04:05.000"), last.Format("15:04:05.000"),
			last.Sub(start).Round(time.Millisecond), last.Sub(promoted).Round(time.Millisecond))
		if after := last.Sub(promoted); after > 5*time.Second {
			t.Errorf("requests still failed %s after the promotion, want under 5s", after)
		}
	}
	t.Logf("%d requests, %d answered 503", total, failed)
	// The sessions made before still work, with the same cookies.
	for _, w := range workers[:4] {
		wantStatus(t, g.do(w.client, "GET", w.path, nil, ""), w.ok)
	}
	return window
}
