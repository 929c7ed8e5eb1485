package server_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
)

// BenchmarkLoginAnswers measures how long the gateway takes to answer a
// failed sign-in of each kind, with a realistic hasher cost (PBKDF2,
// 100,000 iterations), so the figures can be compared: an unknown user, a
// wrong password and an inactive user must cost the same (one hash
// each); a locked username costs no hash, whether it exists or not. The
// answers themselves are compared by TestAdversarialEnumeration; this
// reports the timing, which no test asserts.
//
//	go test -run '^$' -bench LoginAnswers -count 5 ./internal/server
func BenchmarkLoginAnswers(b *testing.B) {
	off := false
	hashers := func(c *config.Config, _ *fs.FS) {
		c.PasswordHashers = []config.PasswordHasher{{Algorithm: "pbkdf2_sha256", Iterations: 100000}}
	}
	g := newGatewayB(b, hashers, withTokens(b), func(c *config.Config, _ *fs.FS) { c.Throttle.Enabled = &off })
	post := func(b *testing.B, g *gw, path, username, password string, want int) {
		body, _ := json.Marshal(map[string]string{"username": username, "password": password})
		req, _ := http.NewRequest("POST", g.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d, want %d", path, username, resp.StatusCode, want)
		}
	}
	for _, path := range []string{"/_gateway/login", "/_gateway/token"} {
		for _, c := range []struct{ name, user, pass string }{
			{"unknown-user", "nobody", testPassword},
			{"wrong-password", "alice", "wrong password"},
			{"inactive-user", "ghost", testPassword},
		} {
			b.Run(strings.TrimPrefix(path, "/_gateway/")+"/"+c.name, func(b *testing.B) {
				for range b.N {
					post(b, g, path, c.user, c.pass, 401)
				}
			})
		}
	}
	// Locked: 429 before any hash, for an existing and a made-up name alike.
	gl := newGatewayB(b, hashers, func(c *config.Config, _ *fs.FS) { c.Throttle.UsernameLimit = 1 })
	for _, u := range []string{"alice", "nobody"} {
		post(b, gl, "/_gateway/login", u, "wrong", 429) // the failure that reaches the limit locks at once
	}
	for _, u := range []string{"alice", "nobody"} {
		b.Run("login/locked-"+map[string]string{"alice": "existing", "nobody": "unknown"}[u], func(b *testing.B) {
			for range b.N {
				post(b, gl, "/_gateway/login", u, testPassword, 429)
			}
		})
	}
}
