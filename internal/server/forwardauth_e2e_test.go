package server_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
)

// trustLoopback makes the test client (on loopback) a trusted proxy, as
// the fronting nginx or Traefik is in forward-auth mode.
func trustLoopback(cfg *config.Config, _ *fs.FS) {
	cfg.TrustedProxies = []string{"127.0.0.1", "::1"}
}

// authCheck sends a forward-auth request describing an original request
// with the headers h, carrying session (may be "").
func (g *gw) authCheck(t *testing.T, session string, h map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", g.URL+"/_gateway/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if session != "" {
		req.AddCookie(&http.Cookie{Name: g.cfg.Session.CookieName, Value: session})
	}
	resp, err := g.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func nginxStyle(method, uri string) map[string]string {
	return map[string]string{"X-Original-Method": method, "X-Original-URI": uri}
}

func traefikStyle(method, uri string) map[string]string {
	return map[string]string{"X-Forwarded-Method": method, "X-Forwarded-Uri": uri,
		"X-Forwarded-Host": "app.example.com", "X-Forwarded-Proto": "https"}
}

func TestForwardAuthDecisions(t *testing.T) {
	g := newGateway(t, trustLoopback)
	alice, bob := g.login(t, "alice"), g.login(t, "bob")
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name, session string
		h             map[string]string
		status        int
		user, loc     string
	}{
		{"nginx: member allowed with identity", alice, nginxStyle("GET", "/editors/?page=2"), 200, "alice", ""},
		{"traefik: member allowed with identity", alice, traefikStyle("GET", "/editors/"), 200, "alice", ""},
		{"public page, anonymous, no identity", "", nginxStyle("GET", "/public/x"), 200, "", ""},
		{"anonymous on a login route", "", nginxStyle("GET", "/account/?tab=1"), 401, "", ""},
		{"anonymous browser via nginx still 401", "", with(nginxStyle("GET", "/account/"), "Accept", "text/html"), 401, "", ""},
		{"anonymous browser via traefik redirected", "", with(traefikStyle("GET", "/account/?tab=1"), "Accept", "text/html"), 302, "",
			"/_gateway/login?next=" + url.QueryEscape("/account/?tab=1")},
		{"anonymous API via traefik 401", "", traefikStyle("GET", "/account/"), 401, "", ""},
		{"denied: non-member", bob, nginxStyle("GET", "/editors/"), 403, "", ""},
		{"denied: method matters", alice, nginxStyle("DELETE", "/api/blog/post/1/"), 403, "", ""},
		{"allowed: method matters", alice, nginxStyle("PUT", "/api/blog/post/1/"), 200, "alice", ""},
		{"dot segments resolved before deciding", "", nginxStyle("GET", "/public/../account/"), 401, "", ""},
		{"missing original URI", alice, map[string]string{"X-Original-Method": "GET"}, 400, "", ""},
		{"missing original method", alice, map[string]string{"X-Original-URI": "/editors/"}, 400, "", ""},
		{"no headers at all", alice, map[string]string{}, 400, "", ""},
		{"encoded slash is ambiguous", alice, nginxStyle("GET", "/editors%2F"), 400, "", ""},
		{"encoded slash deeper", alice, nginxStyle("GET", "/public/a%2Fb"), 400, "", ""},
		{"not origin-form", alice, nginxStyle("GET", "editors/"), 400, "", ""},
		{"nginx and traefik headers disagree", alice, with(nginxStyle("GET", "/editors/"), "X-Forwarded-Uri", "/public/"), 400, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.up.count()
			resp := g.authCheck(t, tc.session, tc.h)
			body := wantStatus(t, resp, tc.status)
			if g.up.count() != before {
				t.Fatal("forward-auth request reached the upstream")
			}
			if got := resp.Header.Get("X-Remote-User"); got != tc.user {
				t.Fatalf("X-Remote-User = %q, want %q", got, tc.user)
			}
			if tc.status == 200 {
				if body != "" {
					t.Fatalf("200 body = %q, want empty", body)
				}
				if tc.user == "alice" && (resp.Header.Get("X-Remote-Email") != "alice@example.com" || resp.Header.Get("X-Remote-Groups") != "editors") {
					t.Fatalf("identity headers: %v", resp.Header)
				}
			}
			if loc := resp.Header.Get("Location"); loc != tc.loc {
				t.Fatalf("Location = %q, want %q", loc, tc.loc)
			}
			if tc.status == 401 || tc.status == 302 {
				if l := resp.Header.Get("X-Auth-Login-Url"); !strings.HasPrefix(l, "/_gateway/login?next=") {
					t.Fatalf("X-Auth-Login-URL = %q", l)
				}
			}
		})
	}
}

func TestForwardAuthUntrustedPeer(t *testing.T) {
	g := newGateway(t) // no trusted_proxies
	alice := g.login(t, "alice")
	for _, h := range []map[string]string{nginxStyle("GET", "/editors/"), traefikStyle("GET", "/public/x"), {}} {
		resp := g.authCheck(t, alice, h)
		wantStatus(t, resp, http.StatusForbidden)
		if resp.Header.Get("X-Remote-User") != "" {
			t.Fatalf("untrusted peer got identity headers: %v", resp.Header)
		}
	}
}

func TestForwardAuthPeerNotInTrustedProxies(t *testing.T) {
	// Another proxy is trusted; the test client (loopback) is not, and
	// naming a trusted address in X-Forwarded-For does not make it one.
	g := newGateway(t, func(cfg *config.Config, _ *fs.FS) { cfg.TrustedProxies = []string{"10.0.0.0/8"} })
	alice := g.login(t, "alice")
	h := nginxStyle("GET", "/editors/")
	h["X-Forwarded-For"] = "10.0.0.1"
	wantStatus(t, g.authCheck(t, alice, h), http.StatusForbidden)
}

func TestForwardAuthDoesNotEchoSpoofedIdentity(t *testing.T) {
	g := newGateway(t, trustLoopback)
	bob := g.login(t, "bob")
	spoof := func(h map[string]string) map[string]string {
		h["X-Remote-User"] = "root"
		h["X-Remote-Groups"] = "editors"
		h["X-Remote-Email"] = "root@example.com"
		return h
	}
	// Anonymous on a public page: allowed, and no identity at all.
	resp := g.authCheck(t, "", spoof(nginxStyle("GET", "/public/x")))
	wantStatus(t, resp, 200)
	for _, k := range []string{"X-Remote-User", "X-Remote-Groups", "X-Remote-Email"} {
		if v := resp.Header.Get(k); v != "" {
			t.Fatalf("%s echoed: %q", k, v)
		}
	}
	// bob claiming editors is still refused, and answered as bob.
	wantStatus(t, g.authCheck(t, bob, spoof(nginxStyle("GET", "/editors/"))), 403)
	resp = g.authCheck(t, bob, spoof(nginxStyle("GET", "/account/")))
	wantStatus(t, resp, 200)
	if resp.Header.Get("X-Remote-User") != "bob" || resp.Header.Get("X-Remote-Groups") != "" || resp.Header.Get("X-Remote-Email") != "bob@example.com" {
		t.Fatalf("identity headers: %v", resp.Header)
	}
}

func TestForwardAuthDecisionLogged(t *testing.T) {
	g := newGateway(t, trustLoopback, func(cfg *config.Config, _ *fs.FS) { cfg.DecisionLog.Enabled = true })
	wantStatus(t, g.authCheck(t, "", nginxStyle("GET", "/account/")), 401)
	if l := g.dlog.String(); !strings.Contains(l, `"/account/"`) {
		t.Fatalf("decision log lacks the original path: %s", l)
	}
}
