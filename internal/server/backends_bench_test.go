package server_test

import (
	"io/fs"
	"net/http"
	"testing"

	"github.com/djangate/gateway/internal/config"
)

// BenchmarkBackendThroughput compares, in one run on one gateway, whole
// authenticated requests (loopback HTTP, real Redis, the shipped policy,
// a real upstream) identified by each backend: the session cookie, the
// gateway's own access token (EdDSA), a third-party ES256 token, Basic
// credentials remembered after their first check, and the session again
// with the signed upstream assertion added.
//
//	go test -run '^$' -bench BackendThroughput -benchmem ./internal/server
func BenchmarkBackendThroughput(b *testing.B) {
	p := newIdP(b)
	g := newGatewayB(b, func(c *config.Config, f *fs.FS) {
		withTokens(b)(c, f)
		withIdP(p, false, false)(c, f)
		c.Authentication.Backends = []string{"session", "bearer", "basic"}
		c.Authentication.Basic.AllowInsecure = true
	})
	ga := newGatewayB(b, func(c *config.Config, f *fs.FS) {
		withTokens(b)(c, f)
		c.UpstreamAssertion.Enabled = true
	})
	session := &http.Cookie{Name: g.cfg.Session.CookieName, Value: g.login(b, "alice")}
	sessionA := &http.Cookie{Name: ga.cfg.Session.CookieName, Value: ga.login(b, "alice")}
	access := g.login4Tokens(b, "alice").Access
	idpToken := p.token(b, nil)

	b.Run("session", func(b *testing.B) { benchGet(b, g.URL+"/editors/", session, 200) })
	b.Run("bearer-gateway-eddsa", func(b *testing.B) {
		benchGetWith(b, g.URL+"/editors/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+access) }, 200)
	})
	b.Run("bearer-idp-es256", func(b *testing.B) {
		benchGetWith(b, g.URL+"/editors/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+idpToken) }, 200)
	})
	b.Run("basic-remembered", func(b *testing.B) {
		benchGetWith(b, g.URL+"/editors/", func(r *http.Request) { r.SetBasicAuth("alice", testPassword) }, 200)
	})
	b.Run("session+assertion", func(b *testing.B) { benchGet(b, ga.URL+"/editors/", sessionA, 200) })
}
