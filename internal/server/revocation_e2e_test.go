package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/principalcache"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/policies"
)

// fleet is two gateways on one Redis and one upstream, as replicas behind
// a load balancer: what one (or the CLI) changes, the other must honour.
func fleet(t *testing.T) (a, b *gw, cache *principalcache.Cache) {
	t.Helper()
	a = newGateway(t, withTokens(t))
	b = startGateway(t, a.cfg, policies.FS, a.rdb, a.up, func(o *server.Options) { cache = o.Principals })
	if cache == nil {
		t.Fatal("the principal cache is on by default")
	}
	return a, b, cache
}

// status sends GET path to g.
func status(t *testing.T, g *gw, path string, auth func(*http.Request)) int {
	t.Helper()
	req, _ := http.NewRequest("GET", g.URL+path, nil)
	req.Header.Set("Accept", "application/json")
	auth(req)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRevocationReachesTheFleet: with the principal cache and decision
// memo on (the defaults), a session or token used on gateway B is
// answered from B's memory; a revocation made through gateway A or
// directly in the store (as the CLI does) takes effect on B within one
// second — in practice within milliseconds.
func TestRevocationReachesTheFleet(t *testing.T) {
	a, b, cache := fleet(t)
	ctx := context.Background()
	// The raw stores, not the tests' settling wrappers: the change is
	// timed from the moment it is written, as the CLI writes it.
	users, sessions := a.users.Store, a.sessions.Store
	cookie := func(id string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: a.cfg.Session.CookieName, Value: id}) }
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	restore := func() {
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(a.users.SetActive(ctx, "alice", true)) // settles: B starts clean
		_ = a.users.AddUserToGroup(ctx, "alice", "editors")
		must(a.users.GrantGroupPermission(ctx, "editors", "blog.view_post"))
	}
	// Every case but one asks for /editors/ (group editors); the
	// permission case for a blog post (blog.view_post, through editors).
	cases := []struct {
		name   string
		token  bool
		revoke func(t *testing.T, credential string)
		path   string
	}{
		{"logout on the other gateway", false, func(t *testing.T, id string) {
			if err := sessions.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"sessions revoke (CLI)", false, func(t *testing.T, id string) {
			if _, err := sessions.RevokeAll(ctx, mustUserID(t, a, "alice")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"user deactivated", false, func(t *testing.T, _ string) {
			if err := users.SetActive(ctx, "alice", false); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"removed from the group", false, func(t *testing.T, _ string) {
			if err := users.RemoveUserFromGroup(ctx, "alice", "editors"); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"group loses the permission", false, func(t *testing.T, _ string) {
			if err := users.RevokeGroupPermission(ctx, "editors", "blog.view_post"); err != nil {
				t.Fatal(err)
			}
		}, "/api/blog/post/7/"},
		{"password changed", false, func(t *testing.T, _ string) {
			for _, pw := range []string{"a brand new passphrase", testPassword} { // and back, for the next cases
				u, err := users.GetUserByUsername(ctx, "alice")
				if err == nil {
					_, err = users.ChangePassword(ctx, u, pw)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}, ""},
		{"access token revoked", true, func(t *testing.T, tok string) {
			if st, _, _ := a.postToken(t, "/token/revoke", map[string]string{"token": tok}); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
		}, ""},
		{"token holder deactivated", true, func(t *testing.T, _ string) {
			if err := users.SetActive(ctx, "alice", false); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			restore()
			path := tc.path
			if path == "" {
				path = "/editors/"
			}
			var cred string
			var auth func(*http.Request)
			if tc.token {
				cred = a.login4Tokens(t, "alice").Access
				auth = bearer(cred)
			} else {
				cred = a.login(t, "alice")
				auth = cookie(cred)
			}
			// Warm: after the first request B answers from memory.
			if st := status(t, b, path, auth); st != 200 {
				t.Fatalf("before the change: %d", st)
			}
			hits := cache.Stats().Hits
			for range 3 {
				if st := status(t, b, path, auth); st != 200 {
					t.Fatalf("before the change: %d", st)
				}
			}
			if cache.Stats().Hits < hits+3 {
				t.Fatalf("B did not answer from its cache (hits %d -> %d)", hits, cache.Stats().Hits)
			}

			tc.revoke(t, cred)
			start := time.Now()
			for status(t, b, path, auth) == 200 {
				if time.Since(start) > time.Second {
					t.Fatal("still allowed on the other gateway 1s after the change")
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("refused on the other gateway %s after the change", time.Since(start).Round(time.Microsecond))
		})
	}
}

func mustUserID(t *testing.T, g *gw, username string) int64 {
	t.Helper()
	u, err := g.users.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
