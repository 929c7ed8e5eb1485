package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/djangate/gateway/internal/config"
)

// idp is a third-party identity provider: an ES256 key served as a JWKS
// over real HTTP, and tokens it signs.
type idp struct {
	*httptest.Server
	key     *ecdsa.PrivateKey
	fetches atomic.Int32
}

func newIdP(t testing.TB) *idp {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: k}
	pad := func(b *big.Int) string { return base64.RawURLEncoding.EncodeToString(b.FillBytes(make([]byte, 32))) }
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "kid": "idp-1", "alg": "ES256", "use": "sig", "x": pad(k.X), "y": pad(k.Y),
	}}})
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(p.Close)
	return p
}

const idpIssuer = "https://idp.example.test/"

func (p *idp) token(t testing.TB, mod func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": idpIssuer, "aud": []string{"gateway"}, "sub": "00u1", "preferred_username": "alice",
		"email": "alice@idp.example", "groups": []string{"editors"},
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = "idp-1"
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withIdP(p *idp, create, sync bool) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.Authentication.Backends = []string{"session", "bearer"}
		c.Authentication.Bearer.Issuers = []config.BearerIssuer{{
			Issuer: idpIssuer, JWKSURL: p.URL + "/jwks", Audience: []string{"gateway"}, Algorithms: []string{"ES256"},
			Claims:      config.ClaimMapping{Username: "preferred_username", Email: "email", Groups: "groups"},
			CreateUsers: create, SyncGroups: sync,
		}}
	}
}

func TestBearerThirdPartyIssuer(t *testing.T) {
	p := newIdP(t)
	g := newGateway(t, withIdP(p, false, false))
	body := wantStatus(t, g.withAuth(t, nil, "/_gateway/me", "Bearer "+p.token(t, nil)), 200)
	if u, b := meBackend(t, body); u != "alice" || b != "bearer" {
		t.Fatalf("me = %s via %s", u, b)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+p.token(t, nil)), 200)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256 := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": idpIssuer, "aud": "gateway", "preferred_username": "alice",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	rs256.Header["kid"] = "idp-1"
	rsTok, _ := rs256.SignedString(rsaKey)
	tests := []struct{ name, token string }{
		{"unknown user, not created", p.token(t, func(c jwt.MapClaims) { c["preferred_username"] = "carol" })},
		{"inactive user", p.token(t, func(c jwt.MapClaims) { c["preferred_username"] = "ghost" })},
		{"wrong audience", p.token(t, func(c jwt.MapClaims) { c["aud"] = "another-app" })},
		{"wrong issuer", p.token(t, func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })},
		{"expired", p.token(t, func(c jwt.MapClaims) {
			c["iat"], c["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-5*time.Minute).Unix()
		})},
		{"algorithm not allowed", rsTok},
		{"no username claim", p.token(t, func(c jwt.MapClaims) { delete(c, "preferred_username") })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.withAuth(t, nil, "/public/", "Bearer "+tc.token)
			wantStatus(t, resp, 401)
			if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
				t.Fatalf("WWW-Authenticate %q", got)
			}
		})
	}
	if _, err := g.users.GetUserByUsername(context.Background(), "carol"); err == nil {
		t.Fatal("carol was created although create_users is off")
	}
	if n := p.fetches.Load(); n > 3 {
		t.Fatalf("%d JWKS fetches; the keys should be cached", n)
	}
}

func TestBearerIssuerCreatesAndSyncsUsers(t *testing.T) {
	p := newIdP(t)
	g := newGateway(t, withIdP(p, true, true))
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(g.users.CreateGroup(ctx, "staff"))
	carol := func(groups ...string) string {
		return p.token(t, func(c jwt.MapClaims) {
			c["preferred_username"], c["email"], c["groups"] = "carol", "carol@idp.example", groups
		})
	}
	// Created just in time, without a usable password, in the groups the
	// token names that exist here.
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+carol("editors", "unknown-group")), 200)
	u, err := g.users.GetUserByUsername(ctx, "carol")
	if err != nil || !u.IsActive || u.Email != "carol@idp.example" || u.Password == "" || u.Password[0] != '!' {
		t.Fatalf("carol = %+v, %v", u, err)
	}
	p2, err := g.users.LoadPrincipal(ctx, u.ID, "")
	must(err)
	if !reflect.DeepEqual(p2.Groups, []string{"editors"}) {
		t.Fatalf("groups %q", p2.Groups)
	}
	// The next token says otherwise: memberships follow.
	wantStatus(t, g.withAuth(t, nil, "/editors/x", "Bearer "+carol("staff")), 403)
	p3, err := g.users.LoadPrincipal(ctx, u.ID, "")
	must(err)
	if !reflect.DeepEqual(p3.Groups, []string{"staff"}) {
		t.Fatalf("groups %q", p3.Groups)
	}
	// She cannot log in with a password: there is none.
	if st, _, _ := g.postToken(t, "/token", map[string]string{"username": "carol", "password": "!"}); st != 404 {
		t.Fatalf("/token without tokens.enabled: %d", st)
	}
}

// TestBearerIssuerUnreachable: an identity provider whose keys cannot be
// fetched fails closed with 503, never anonymous.
func TestBearerIssuerUnreachable(t *testing.T) {
	p := newIdP(t)
	tok := p.token(t, nil)
	p.Close()
	g := newGateway(t, withIdP(p, false, false))
	wantStatus(t, g.withAuth(t, nil, "/public/", "Bearer "+tok), 503)
	if g.up.count() != 0 {
		t.Fatal("forwarded")
	}
}

// TestBearerIssuerTokenCachedUntilUserChanges: an identity provider's
// token is verified and its user provisioned once, then answered from the
// principal cache; deactivating the user ends it within a second.
func TestBearerIssuerTokenCachedUntilUserChanges(t *testing.T) {
	p := newIdP(t)
	g := newGateway(t, withIdP(p, false, false))
	tok := "Bearer " + p.token(t, nil)
	hook := &roundTrips{}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", tok), 200)
	g.rdb.AddHook(hook)
	wantStatus(t, g.withAuth(t, nil, "/editors/x", tok), 200)
	if n := hook.n.Load(); n != 0 {
		t.Fatalf("a known IdP token cost %d Redis round trips, want 0 (cached)", n)
	}
	if err := g.users.SetActive(context.Background(), "alice", false); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.withAuth(t, nil, "/editors/x", tok), 401)
}
