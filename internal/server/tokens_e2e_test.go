package server_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/djangate/gateway/internal/config"
)

// tokenPair is the answer of /token and /token/refresh.
type tokenPair struct {
	Access      string `json:"access_token"`
	Type        string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Refresh     string `json:"refresh_token"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// postToken posts a JSON body to a token endpoint.
func (g *gw) postToken(t testing.TB, path string, body map[string]string) (int, tokenPair, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", g.URL+"/_gateway"+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tp tokenPair
	raw := readBody(t, resp)
	if err := json.Unmarshal([]byte(raw), &tp); err != nil {
		t.Fatalf("%s: %d %q: %v", path, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, tp, resp.Header
}

func (g *gw) login4Tokens(t testing.TB, username string) tokenPair {
	t.Helper()
	st, tp, _ := g.postToken(t, "/token", map[string]string{"username": username, "password": testPassword})
	if st != 200 {
		t.Fatalf("/token for %s: %d %+v", username, st, tp)
	}
	return tp
}

// withAuth sends a request with an Authorization header.
func (g *gw) withAuth(t *testing.T, c *http.Client, path, authorization string) *http.Response {
	t.Helper()
	h := http.Header{}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	if c == nil {
		c = g.client()
	}
	return g.do(c, "GET", path, h, "")
}

func meBackend(t *testing.T, body string) (string, string) {
	t.Helper()
	var m struct{ Username, Backend string }
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("me: %v: %s", err, body)
	}
	return m.Username, m.Backend
}

func TestTokenLifecycle(t *testing.T) {
	g := newGateway(t, withTokens(t))
	tp := g.login4Tokens(t, "alice")
	if tp.Type != "Bearer" || tp.ExpiresIn != 300 || !strings.HasPrefix(tp.Refresh, "rt1.") || strings.Count(tp.Access, ".") != 2 {
		t.Fatalf("token answer %+v", tp)
	}
	// The access token identifies alice, through the "bearer" backend.
	body := wantStatus(t, g.withAuth(t, nil, "/_gateway/me", "Bearer "+tp.Access), 200)
	if u, b := meBackend(t, body); u != "alice" || b != "bearer" {
		t.Fatalf("me = %s via %s", u, b)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp.Access), 200)
	seen := g.up.last(t)
	if seen.Header.Get("X-Remote-User") != "alice" || seen.Header.Get("Authorization") != "" {
		t.Fatalf("upstream saw user %q, authorization %q", seen.Header.Get("X-Remote-User"), seen.Header.Get("Authorization"))
	}
	// Scheme names are case-insensitive.
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "bearer "+tp.Access), 200)
	wantStatus(t, g.withAuth(t, nil, "/admin/", "Bearer "+tp.Access), 403)

	// Refresh rotates: a new pair, both working.
	st, tp2, hdr := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": tp.Refresh})
	if st != 200 || tp2.Refresh == tp.Refresh || tp2.Access == "" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %+v", st, tp2)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+tp2.Access), 200)
	st, tp3, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": tp2.Refresh})
	if st != 200 {
		t.Fatalf("second refresh: %d %+v", st, tp3)
	}

	// Reusing an exchanged refresh token revokes the family: the newest
	// refresh token and every access token of the login stop working.
	st, bad, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": tp.Refresh})
	if st != 401 || bad.Error != "invalid_grant" {
		t.Fatalf("reuse: %d %+v", st, bad)
	}
	if st, _, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": tp3.Refresh}); st != 401 {
		t.Fatalf("newest refresh token after reuse: %d, want 401", st)
	}
	for i, a := range []string{tp.Access, tp2.Access, tp3.Access} {
		resp := g.withAuth(t, nil, "/editors/x", "Bearer "+a)
		wantStatus(t, resp, 401)
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("access token %d: WWW-Authenticate %q", i, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if !strings.Contains(g.logs.String(), "refresh token reused") {
		t.Error("reuse not logged")
	}
	// Neither token appears in the logs.
	for _, secret := range []string{tp.Access, tp.Refresh, tp2.Refresh, testPassword} {
		if strings.Contains(g.logs.String(), secret) {
			t.Fatal("a token or password was logged")
		}
	}
	// Another login is unaffected.
	other := g.login4Tokens(t, "alice")
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+other.Access), 200)
}

func TestTokenEndpointRequests(t *testing.T) {
	g := newGateway(t, withTokens(t))
	// A urlencoded form works too (OAuth 2.0 style).
	form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {testPassword}}
	resp, err := http.PostForm(g.URL+"/_gateway/token", form)
	if err != nil {
		t.Fatal(err)
	}
	if body := wantStatus(t, resp, 200); !strings.Contains(body, "access_token") {
		t.Fatalf("form: %s", body)
	}
	tests := []struct {
		name   string
		path   string
		body   map[string]string
		status int
		code   string
	}{
		{"wrong password", "/token", map[string]string{"username": "bob", "password": "nope"}, 401, "invalid_grant"},
		{"unknown user", "/token", map[string]string{"username": "nobody", "password": "x"}, 401, "invalid_grant"},
		{"inactive user", "/token", map[string]string{"username": "ghost", "password": testPassword}, 401, "invalid_grant"},
		{"other grant", "/token", map[string]string{"grant_type": "client_credentials"}, 400, "unsupported_grant_type"},
		{"refresh: garbage", "/token/refresh", map[string]string{"refresh_token": "rt1.garbage"}, 401, "invalid_grant"},
		{"refresh: missing", "/token/refresh", map[string]string{}, 401, "invalid_grant"},
		{"revoke: missing token", "/token/revoke", map[string]string{}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, tp, _ := g.postToken(t, tc.path, tc.body)
			if st != tc.status || tp.Error != tc.code {
				t.Fatalf("%d %+v, want %d %s", st, tp, tc.status, tc.code)
			}
		})
	}
	// Not served when tokens are off.
	plain := newGateway(t)
	if st, _, _ := plain.postToken(t, "/token", map[string]string{"username": "bob", "password": testPassword}); st != 404 {
		t.Fatalf("/token with tokens off: %d, want 404", st)
	}
}

func TestTokenRevoke(t *testing.T) {
	g := newGateway(t, withTokens(t))
	a, b := g.login4Tokens(t, "alice"), g.login4Tokens(t, "alice")
	// Revoking an access token (by jti) ends it, not its siblings.
	st, _, _ := g.postToken(t, "/token/revoke", map[string]string{"token": a.Access})
	if st != 200 {
		t.Fatalf("revoke access: %d", st)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+a.Access), 401)
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+b.Access), 200)
	// Revoking a refresh token ends its login: refresh and access tokens.
	if st, _, _ := g.postToken(t, "/token/revoke", map[string]string{"token": b.Refresh}); st != 200 {
		t.Fatalf("revoke refresh: %d", st)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+b.Access), 401)
	if st, _, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": b.Refresh}); st != 401 {
		t.Fatalf("refresh after revoke: %d", st)
	}
	// Unknown tokens are answered 200 (RFC 7009).
	if st, _, _ := g.postToken(t, "/token/revoke", map[string]string{"token": "whatever"}); st != 200 {
		t.Fatalf("revoke unknown: %d", st)
	}
}

func TestTokensEndWithPasswordChangeAndDeactivation(t *testing.T) {
	g := newGateway(t, withTokens(t))
	ctx := context.Background()

	a := g.login4Tokens(t, "alice")
	u, err := g.users.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.users.ChangePassword(ctx, u, "a new password 123"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+a.Access), 401)
	if st, _, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": a.Refresh}); st != 401 {
		t.Fatalf("refresh after password change: %d", st)
	}

	b := g.login4Tokens(t, "bob")
	if err := g.users.SetActive(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/account/", "Bearer "+b.Access), 401)
	// Seen inactive once, the login is revoked for good: reactivating
	// bob does not bring these tokens back.
	if err := g.users.SetActive(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/account/", "Bearer "+b.Access), 401)
	if st, _, _ := g.postToken(t, "/token/refresh", map[string]string{"refresh_token": b.Refresh}); st != 401 {
		t.Fatalf("refresh after deactivation: %d", st)
	}
	// A deleted user's tokens die with it.
	r := g.login4Tokens(t, "root")
	if err := g.users.DeleteUser(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/account/", "Bearer "+r.Access), 401)
}

func TestTokenEndpointThrottled(t *testing.T) {
	g := newGateway(t, withTokens(t))
	for range g.cfg.Throttle.UsernameLimit {
		g.postToken(t, "/token", map[string]string{"username": "alice", "password": "wrong"})
	}
	st, tp, hdr := g.postToken(t, "/token", map[string]string{"username": "alice", "password": testPassword})
	if st != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d %+v", g.cfg.Throttle.UsernameLimit, st, tp)
	}
}

// signingKey reads the private key the gateway signs with.
func signingKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestBearerRejectsForgedTokens: every kind of bad token is a 401 with
// a Bearer challenge, never anonymous, and nothing is forwarded.
func TestBearerRejectsForgedTokens(t *testing.T) {
	g := newGateway(t, withTokens(t))
	real := g.login4Tokens(t, "alice")
	priv := signingKey(t, g.cfg.Tokens.Keys[0].File)
	pub := priv.Public().(ed25519.PublicKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	_, otherPriv, _ := ed25519.GenerateKey(nil)

	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		// Claims as the gateway makes them for alice (user id 1), taken
		// from a real token so only the tested field differs.
		var c jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(real.Access, &c); err != nil {
			t.Fatal(err)
		}
		c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(time.Minute).Unix()
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["typ"] = "at+jwt"
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The control: a token built this way with the right key works.
	good := sign(jwt.SigningMethodEdDSA, priv, "k1", claims(nil))
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+good), 200)

	tests := []struct{ name, token string }{
		{"alg none", b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": "k1"}) + "." + b64(claims(nil)) + "."},
		{"HS256 keyed with the public key bytes", sign(jwt.SigningMethodHS256, []byte(pub), "k1", claims(nil))},
		{"HS256 keyed with the public key PEM", sign(jwt.SigningMethodHS256, pubPEM, "k1", claims(nil))},
		{"wrong audience", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) { c["aud"] = "another-app" }))},
		{"wrong issuer", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) { c["iss"] = "evil" }))},
		{"expired", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}))},
		{"not yet valid", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))},
		{"no exp", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"unknown kid", sign(jwt.SigningMethodEdDSA, priv, "k2", claims(nil))},
		{"no kid", sign(jwt.SigningMethodEdDSA, priv, "", claims(nil))},
		{"another key under our kid", sign(jwt.SigningMethodEdDSA, otherPriv, "k1", claims(nil))},
		{"another user's id", sign(jwt.SigningMethodEdDSA, otherPriv, "k1", claims(func(c jwt.MapClaims) { c["sub"] = "3" }))},
		{"tampered payload", strings.Split(real.Access, ".")[0] + "." + b64(claims(func(c jwt.MapClaims) { c["sub"] = "3" })) + "." + strings.Split(real.Access, ".")[2]},
		{"unknown family", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) { c["fam"] = "AAAAAAAAAAAAAAAAAAAAAA" }))},
		{"wrong binding", sign(jwt.SigningMethodEdDSA, priv, "k1", claims(func(c jwt.MapClaims) { c["abd"] = "AAAAAAAAAAAAAAAAAAAAAA" }))},
		{"garbage", "not.a.token"},
		{"empty", ""},
	}
	before := g.up.count()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/editors/x", "/public/"} { // even where anonymous users may go
				resp := g.withAuth(t, nil, path, "Bearer "+tc.token)
				wantStatus(t, resp, 401)
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	if n := g.up.count(); n != before {
		t.Fatalf("%d bad-token requests were forwarded", n-before)
	}
}

func TestBackendOrder(t *testing.T) {
	// Session first: a live session decides and a Bearer header is not
	// even read, but still not forwarded.
	g := newGateway(t, withTokens(t))
	c := g.client()
	wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
	wantStatus(t, g.withAuth(t, c, "/editors/x", "Bearer garbage"), 200)
	if h := g.up.last(t).Header.Get("Authorization"); h != "" {
		t.Fatalf("upstream saw Authorization %q", h)
	}
	// Bearer first: its verdict on the header decides, even with a session.
	g2 := newGateway(t, withTokens(t), func(c *config.Config, _ *fs.FS) { c.Authentication.Backends = []string{"bearer", "session"} })
	c2 := g2.client()
	wantStatus(t, g2.loginJSON(c2, "alice", testPassword), 200)
	wantStatus(t, g2.withAuth(t, c2, "/editors/x", "Bearer garbage"), 401)
	// Without the header, the session is next in line.
	wantStatus(t, g2.withAuth(t, c2, "/editors/x", ""), 200)
	// Other schemes pass to the app untouched; two Authorization headers
	// are refused.
	wantStatus(t, g2.withAuth(t, c2, "/editors/x", "Digest realm=x"), 200)
	if h := g2.up.last(t).Header.Get("Authorization"); h != "Digest realm=x" {
		t.Fatalf("upstream saw Authorization %q", h)
	}
	wantStatus(t, g2.do(c2, "GET", "/editors/x", http.Header{"Authorization": {"Bearer a", "Bearer b"}}, ""), 401)
	// Anonymous API clients are told which schemes the gateway takes.
	resp := g2.do(http.DefaultClient, "GET", "/account/", nil, "")
	wantStatus(t, resp, 401)
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], "Bearer realm=") {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

func TestBasicBackend(t *testing.T) {
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	t.Run("refused over plain HTTP", func(t *testing.T) {
		g := newGateway(t, func(c *config.Config, _ *fs.FS) { c.Authentication.Backends = []string{"session", "basic"} })
		resp := g.withAuth(t, nil, "/editors/x", basic("alice", testPassword))
		wantStatus(t, resp, 401)
		if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="gateway", charset="UTF-8"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		if g.up.count() != 0 {
			t.Fatal("forwarded")
		}
	})
	t.Run("over TLS per a trusted proxy", func(t *testing.T) {
		g := newGateway(t, func(c *config.Config, _ *fs.FS) {
			c.Authentication.Backends = []string{"session", "basic"}
			c.TrustedProxies = []string{"127.0.0.1"}
		})
		h := http.Header{"Authorization": {basic("alice", testPassword)}, "X-Forwarded-Proto": {"https"}}
		wantStatus(t, g.do(g.client(), "GET", "/editors/x", h, ""), 200)
	})
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Authentication.Backends = []string{"session", "basic"}
		c.Authentication.Basic.AllowInsecure = true
		c.Authentication.Basic.Realm = "legacy"
	})
	body := wantStatus(t, g.withAuth(t, nil, "/_gateway/me", basic("alice", testPassword)), 200)
	if u, b := meBackend(t, body); u != "alice" || b != "basic" {
		t.Fatalf("me = %s via %s", u, b)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", basic("alice", testPassword)), 200)
	if seen := g.up.last(t); seen.Header.Get("Authorization") != "" || seen.Header.Get("X-Remote-User") != "alice" {
		t.Fatalf("upstream saw %v", seen.Header)
	}
	for name, cred := range map[string]string{
		"wrong password":    basic("alice", "wrong"),
		"inactive user":     basic("ghost", testPassword),
		"no colon":          "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")),
		"not base64":        "Basic %%%",
		"empty password":    basic("alice", ""),
		"public path, even": basic("bob", "wrong"),
	} {
		t.Run(name, func(t *testing.T) {
			path := "/editors/x"
			if name == "public path, even" {
				path = "/public/"
			}
			resp := g.withAuth(t, nil, path, cred)
			wantStatus(t, resp, 401)
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="legacy", charset="UTF-8"` {
				t.Fatalf("WWW-Authenticate %q", got)
			}
		})
	}
	// A right password is remembered for a minute (no hash per request),
	// but only while it is still the user's.
	ctx := context.Background()
	alice, err := g.users.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.users.ChangePassword(ctx, alice, "another password 42"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", basic("alice", testPassword)), 401)
	wantStatus(t, g.withAuth(t, nil, "/editors/x", basic("alice", "another password 42")), 200)
	if err := g.users.SetActive(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", basic("alice", "another password 42")), 401)

	// Throttled like logins: at the limit even the right password is
	// refused before it is checked.
	for range g.cfg.Throttle.UsernameLimit {
		g.withAuth(t, nil, "/admin/", basic("root", "wrong")).Body.Close()
	}
	resp := g.withAuth(t, nil, "/admin/", basic("root", testPassword))
	wantStatus(t, resp, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if strings.Contains(g.logs.String(), testPassword) {
		t.Fatal("a password was logged")
	}
}

func TestRemoteUserBackend(t *testing.T) {
	trusted := func(create bool) func(*config.Config, *fs.FS) {
		return func(c *config.Config, _ *fs.FS) {
			c.Authentication.Backends = []string{"remote_user", "session"}
			c.Authentication.RemoteUser.TrustedProxies = []string{"127.0.0.1", "::1"}
			c.Authentication.RemoteUser.CreateUnknownUsers = create
		}
	}
	g := newGateway(t, trusted(false))
	ru := func(name string) http.Header { return http.Header{"Remote-User": {name}} }
	body := wantStatus(t, g.do(g.client(), "GET", "/_gateway/me", ru("alice"), ""), 200)
	if u, b := meBackend(t, body); u != "alice" || b != "remote_user" {
		t.Fatalf("me = %s via %s", u, b)
	}
	wantStatus(t, g.do(g.client(), "GET", "/editors/x", ru("alice"), ""), 200)
	if seen := g.up.last(t); seen.Header.Get("Remote-User") != "" || seen.Header.Get("X-Remote-User") != "alice" {
		t.Fatalf("upstream saw %v", seen.Header)
	}
	for name, h := range map[string]http.Header{
		"unknown user":  ru("carol"),
		"inactive user": ru("ghost"),
		"sent twice":    {"Remote-User": {"alice", "root"}},
		"empty":         ru(" "),
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, g.do(g.client(), "GET", "/public/", h, ""), 401)
		})
	}

	t.Run("create unknown users", func(t *testing.T) {
		g := newGateway(t, trusted(true))
		body := wantStatus(t, g.do(g.client(), "GET", "/_gateway/me", ru("carol"), ""), 200)
		if u, _ := meBackend(t, body); u != "carol" {
			t.Fatalf("me = %s", u)
		}
		u, err := g.users.GetUserByUsername(context.Background(), "carol")
		if err != nil || !u.IsActive || !strings.HasPrefix(u.Password, "!") {
			t.Fatalf("carol = %+v, %v; want active with an unusable password", u, err)
		}
	})

	t.Run("SSO proxy that is also a trusted proxy", func(t *testing.T) {
		// clientAddr rewrites the client's address from X-Forwarded-For;
		// the header is still judged by the connection's real peer.
		g := newGateway(t, trusted(false), func(c *config.Config, _ *fs.FS) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
		h := ru("alice")
		h.Set("X-Forwarded-For", "203.0.113.9")
		wantStatus(t, g.do(g.client(), "GET", "/editors/x", h, ""), 200)
		if got := g.up.last(t).Header.Get("X-Forwarded-For"); got != "203.0.113.9" {
			t.Fatalf("X-Forwarded-For %q", got)
		}
	})

	t.Run("untrusted peer", func(t *testing.T) {
		g := newGateway(t, func(c *config.Config, _ *fs.FS) {
			c.Authentication.Backends = []string{"remote_user", "session"}
			c.Authentication.RemoteUser.TrustedProxies = []string{"10.0.0.0/8"}
		})
		wantStatus(t, g.do(g.client(), "GET", "/editors/x", ru("alice"), ""), 401) // anonymous: login required
		wantStatus(t, g.do(g.client(), "GET", "/public/", ru("alice"), ""), 200)
		if seen := g.up.last(t); seen.Header.Get("Remote-User") != "" || seen.Header.Get("X-Remote-User") != "" {
			t.Fatalf("upstream saw %v", seen.Header)
		}
		if !strings.Contains(g.logs.String(), "ignoring the remote_user header") {
			t.Error("untrusted header not logged")
		}
	})
}

// TestPolicySeesBackend: the policy input names the backend that
// identified the user.
func TestPolicySeesBackend(t *testing.T) {
	const policy = "package gateway.authz\n\ndecision := {\"allow\": input.user.backend == \"bearer\", \"reason\": input.user.backend}\n"
	g := newGateway(t, withTokens(t), func(c *config.Config, f *fs.FS) {
		*f = mapPolicy(policy)
	})
	tp := g.login4Tokens(t, "bob")
	wantStatus(t, g.withAuth(t, nil, "/x", "Bearer "+tp.Access), 200)
	c := g.client()
	wantStatus(t, g.loginJSON(c, "bob", testPassword), 200)
	wantStatus(t, g.do(c, "GET", "/x", nil, ""), 403)
}

// TestForwardAuthWithBearer: forward-auth mode runs the same chain.
func TestForwardAuthWithBearer(t *testing.T) {
	g := newGateway(t, withTokens(t), func(c *config.Config, _ *fs.FS) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	tp := g.login4Tokens(t, "alice")
	h := http.Header{"X-Original-Uri": {"/editors/x"}, "X-Original-Method": {"GET"}, "Authorization": {"Bearer " + tp.Access}}
	resp := g.do(http.DefaultClient, "GET", "/_gateway/auth", h, "")
	wantStatus(t, resp, 200)
	if resp.Header.Get("X-Remote-User") != "alice" {
		t.Fatalf("identity %q", resp.Header.Get("X-Remote-User"))
	}
	h.Set("Authorization", "Bearer forged")
	wantStatus(t, g.do(http.DefaultClient, "GET", "/_gateway/auth", h, ""), 401)
}

// TestJWKSServed: the public keys, and nothing private.
func TestJWKSServed(t *testing.T) {
	g := newGateway(t, withTokens(t))
	resp := g.do(http.DefaultClient, "GET", "/_gateway/.well-known/jwks.json", nil, "")
	body := wantStatus(t, resp, 200)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", body, err)
	}
	k := set.Keys[0]
	if k["kid"] != "k1" || k["kty"] != "OKP" || k["alg"] != "EdDSA" || k["d"] != nil {
		t.Fatalf("key %v", k)
	}
	plain := newGateway(t)
	wantStatus(t, plain.do(http.DefaultClient, "GET", "/_gateway/.well-known/jwks.json", nil, ""), 404)
}
