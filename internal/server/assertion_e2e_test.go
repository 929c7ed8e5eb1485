package server_test

// End-to-end tests of the upstream assertion: the JWT the gateway signs
// for each request it forwards for an authenticated user, verified with the
// gateway's JWKS by the test itself and by the example upstreams in
// examples/upstream-assertion (Go and Python), run as real processes.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/djangate/gateway/internal/config"
)

const (
	uaHeader   = "X-Gateway-Assertion" // the default upstream_assertion.header
	uaJWKSPath = "/_gateway/.well-known/jwks.json"
)

// uaKinds are the signing key types and the algorithm each gives.
var uaKinds = []struct{ kind, alg string }{{"ed25519", "EdDSA"}, {"p256", "ES256"}, {"rsa", "RS256"}}

// uaKeyFile writes a fresh PKCS #8 PEM private key of kind "ed25519",
// "p256" or "rsa" (2048 bits) and returns its path.
func uaKeyFile(t *testing.T, kind string) string {
	t.Helper()
	if kind != "rsa" {
		return writeKey(t, kind)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rsa.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// uaSigner reads the private key in a uaKeyFile and returns it with its
// signing method.
func uaSigner(t *testing.T, path string) (crypto.Signer, jwt.SigningMethod) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		return p, jwt.SigningMethodEdDSA
	case *ecdsa.PrivateKey:
		return p, jwt.SigningMethodES256
	case *rsa.PrivateKey:
		return p, jwt.SigningMethodRS256
	}
	t.Fatalf("%s: unexpected key type %T", path, priv)
	return nil, nil
}

// withAssertion turns the upstream assertion on, signed with keyFile as kid k1.
func withAssertion(keyFile string) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.UpstreamAssertion.Enabled = true
		c.Tokens.Keys = []config.SigningKey{{ID: "k1", File: keyFile}}
	}
}

// uaKey is a public key of the JWKS and the algorithm it is published for.
type uaKey struct {
	alg string
	pub crypto.PublicKey
}

// uaFetchJWKS fetches the gateway's JWKS over HTTP, as an upstream would,
// and decodes it with the standard library.
func uaFetchJWKS(t *testing.T, g *gw) map[string]uaKey {
	t.Helper()
	resp, err := http.Get(g.URL + uaJWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	body := wantStatus(t, resp, 200)
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("JWKS Content-Type = %q", ct)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWKS %s: %v", body, err)
		}
		return b
	}
	keys := map[string]uaKey{}
	for _, k := range set.Keys {
		if k["use"] != "sig" || k["d"] != "" || k["p"] != "" {
			t.Fatalf("JWKS key %v: want use sig and no private parts", k)
		}
		var pub crypto.PublicKey
		switch k["kty"] + " " + k["crv"] {
		case "OKP Ed25519":
			pub = ed25519.PublicKey(b64(k["x"]))
		case "EC P-256":
			p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), slices.Concat([]byte{4}, b64(k["x"]), b64(k["y"])))
			if err != nil {
				t.Fatalf("JWKS key %v: %v", k, err)
			}
			pub = p
		case "RSA ":
			pub = &rsa.PublicKey{N: new(big.Int).SetBytes(b64(k["n"])), E: int(new(big.Int).SetBytes(b64(k["e"])).Int64())}
		default:
			t.Fatalf("JWKS key %v: unexpected type", k)
		}
		keys[k["kid"]] = uaKey{k["alg"], pub}
	}
	return keys
}

// uaVerify verifies an assertion with golang-jwt against keys, for
// audience aud, and returns its header and claims (numbers as json.Number).
func uaVerify(t *testing.T, keys map[string]uaKey, tok, aud string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	p := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA", "ES256", "RS256"}), jwt.WithIssuer("djangate"),
		jwt.WithAudience(aud), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithJSONNumber())
	claims := jwt.MapClaims{}
	parsed, err := p.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok || k.alg != tk.Method.Alg() {
			return nil, fmt.Errorf("kid %q with alg %s not in the JWKS", kid, tk.Method.Alg())
		}
		return k.pub, nil
	})
	if err != nil {
		t.Fatalf("assertion does not verify with the JWKS: %v", err)
	}
	return parsed.Header, claims
}

func uaInt(t *testing.T, c jwt.MapClaims, name string) int64 {
	t.Helper()
	n, ok := c[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %#v, want a number", name, c[name])
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s = %s, want an integer", name, n)
	}
	return i
}

func uaUserID(t *testing.T, g *gw, username string) string {
	t.Helper()
	u, err := g.users.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(u.ID, 10)
}

func TestAssertionVerifiesWithJWKS(t *testing.T) {
	for _, kc := range uaKinds {
		t.Run(kc.kind, func(t *testing.T) {
			g := newGateway(t, withAssertion(uaKeyFile(t, kc.kind)))
			keys := uaFetchJWKS(t, g)
			if len(keys) != 1 || keys["k1"].alg != kc.alg {
				t.Fatalf("JWKS keys %v, want k1 with alg %s", keys, kc.alg)
			}
			c := g.client()
			wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
			session := g.sessionCookie(c)
			if session == "" {
				t.Fatal("no session cookie after login")
			}

			// A client-sent assertion is replaced by the gateway's own.
			const forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."
			wantStatus(t, g.do(c, "GET", "/anything?x=1", http.Header{uaHeader: {forged}}, ""), 200)
			vals := g.up.last(t).Header.Values(uaHeader)
			if len(vals) != 1 || vals[0] == forged {
				t.Fatalf("upstream got %s %q, want exactly the gateway's assertion", uaHeader, vals)
			}
			tok := vals[0]
			header, claims := uaVerify(t, keys, tok, "app")
			if header["typ"] != "JWT" || header["kid"] != "k1" || header["alg"] != kc.alg {
				t.Errorf("header %v, want typ JWT, kid k1, alg %s", header, kc.alg)
			}
			sum := sha256.Sum256([]byte(session))
			want := map[string]any{
				"iss": "djangate", "sub": uaUserID(t, g, "alice"), "aud": "app", // aud: a single string
				"username": "alice", "email": "alice@example.com", "groups": []any{"editors"},
				"is_staff": false, "is_superuser": false, "backend": "session", "sid": hex.EncodeToString(sum[:]),
			}
			for name, w := range want {
				if !reflect.DeepEqual(claims[name], w) {
					t.Errorf("claim %s = %#v, want %#v", name, claims[name], w)
				}
			}
			for name := range claims {
				if _, ok := want[name]; !ok && !slices.Contains([]string{"iat", "nbf", "exp", "jti"}, name) {
					t.Errorf("unexpected claim %s = %v", name, claims[name])
				}
			}
			iat, nbf, exp := uaInt(t, claims, "iat"), uaInt(t, claims, "nbf"), uaInt(t, claims, "exp")
			if exp-iat != 60 || nbf != iat {
				t.Errorf("iat %d nbf %d exp %d: want nbf = iat and a 60s lifetime", iat, nbf, exp)
			}
			if d := time.Now().Unix() - iat; d < -2 || d > 10 {
				t.Errorf("iat is %ds off now", d)
			}
			jti, _ := claims["jti"].(string)
			if len(jti) < 16 {
				t.Errorf("jti %q, want a random id", jti)
			}

			// Every request gets a fresh assertion.
			wantStatus(t, g.do(c, "GET", "/anything", nil, ""), 200)
			_, again := uaVerify(t, keys, g.up.last(t).Header.Get(uaHeader), "app")
			if again["jti"] == jti {
				t.Errorf("two requests share jti %v", jti)
			}

			// Anonymous requests carry none, even when the client sends a
			// real (replayed) assertion.
			anon := g.client()
			for _, path := range []string{"/", "/public/x"} {
				wantStatus(t, g.do(anon, "GET", path, http.Header{uaHeader: {tok}}, "text/html"), 200)
				if got := g.up.last(t).Header.Values(uaHeader); len(got) != 0 {
					t.Errorf("anonymous %s reached the upstream with %s %.20q", path, uaHeader, got)
				}
			}
		})
	}
	t.Run("custom header and ttl", func(t *testing.T) {
		g := newGateway(t, withAssertion(uaKeyFile(t, "ed25519")), func(c *config.Config, _ *fs.FS) {
			c.UpstreamAssertion.Header = "X-Identity-Assertion"
			c.UpstreamAssertion.TTL = 2 * time.Minute
		})
		c := g.client()
		wantStatus(t, g.loginJSON(c, "root", testPassword), 200)
		wantStatus(t, g.do(c, "GET", "/admin/", nil, ""), 200)
		h := g.up.last(t).Header
		if h.Get(uaHeader) != "" {
			t.Errorf("default header %s sent with a custom header configured", uaHeader)
		}
		_, claims := uaVerify(t, uaFetchJWKS(t, g), h.Get("X-Identity-Assertion"), "app")
		if d := uaInt(t, claims, "exp") - uaInt(t, claims, "iat"); d != 120 {
			t.Errorf("lifetime %ds, want 120", d)
		}
		if claims["username"] != "root" || claims["is_staff"] != true || claims["is_superuser"] != true || !reflect.DeepEqual(claims["groups"], []any{}) {
			t.Errorf("claims %v, want root, staff, superuser, groups []", claims)
		}
	})
}

// uaModuleRoot is the module's root directory (the test runs in
// internal/server).
func uaModuleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// uaFreeAddr returns a loopback address with a port nobody listens on.
func uaFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// uaStartExample runs an example upstream (argv) as upstream name on addr,
// verifying with the JWKS at jwksURL, waits until it answers HTTP and
// returns its base URL. It is killed when the test ends.
func uaStartExample(t *testing.T, argv []string, addr, name, jwksURL string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GATEWAY_JWKS_URL="+jwksURL, "UPSTREAM_NAME="+name, "LISTEN="+addr,
		"ASSERTION_HEADER="+uaHeader, "GATEWAY_ISSUER=djangate", "PYTHONUNBUFFERED=1")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("example %q output:\n%s", name, logs)
		}
	})
	base := "http://" + addr
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-done:
			t.Fatalf("example %q exited before listening:\n%s", name, logs)
		default:
		}
		if resp, err := hc.Get(base + "/"); err == nil {
			resp.Body.Close()
			// Only the example answers a request without an assertion 401.
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("something else answers on %s (status %d), not example %q", addr, resp.StatusCode, name)
			}
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("example %q not listening on %s after 30s:\n%s", name, addr, logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// uaAsk sends a request with the given assertion header values straight to
// an example and returns the status and the JSON body.
func uaAsk(t *testing.T, base string, assertions ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/direct", nil)
	for _, a := range assertions {
		req.Header.Add(uaHeader, a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return uaJSON(t, resp)
}

func uaJSON(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	body := readBody(t, resp)
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not JSON", resp.Request.Method, resp.Request.URL, resp.StatusCode, body)
	}
	if resp.StatusCode == 401 && (len(doc) != 1 || doc["error"] != "invalid_assertion") {
		t.Errorf("401 body %q, want {\"error\":\"invalid_assertion\"}", body)
	}
	return resp.StatusCode, doc
}

// uaWantUser checks an example's 200 answer names the user.
func uaWantUser(t *testing.T, g *gw, doc map[string]any, username string, groups []any, staff bool) {
	t.Helper()
	want := map[string]any{
		"sub": uaUserID(t, g, username), "username": username, "email": username + "@example.com", "groups": groups,
		"is_staff": staff, "is_superuser": staff, "backend": "session",
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("example answered %v, want %v", doc, want)
	}
}

func TestAssertionExampleGo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "upstream")
	cmd := exec.Command("go", "build", "-o", bin, "./examples/upstream-assertion/go")
	cmd.Dir = uaModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	uaExampleSuite(t, []string{bin})
}

func TestAssertionExamplePython(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, where python3-jwt is installed
	if out, err := exec.Command(python, "-c", "import jwt, cryptography").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import jwt and cryptography (install python3-jwt python3-cryptography): %v %s", python, err, out)
	}
	uaExampleSuite(t, []string{python, filepath.Join(uaModuleRoot(t), "examples", "upstream-assertion", "python", "app.py")})
}

// uaExampleSuite runs an example upstream behind a real gateway, for each
// key type, and checks it accepts the gateway's assertions and nothing else.
func uaExampleSuite(t *testing.T, argv []string) {
	for _, kc := range uaKinds {
		t.Run(kc.kind, func(t *testing.T) {
			keyFile := uaKeyFile(t, kc.kind)
			// Upstream "rec" (the harness's recording upstream) gets /rec/...;
			// upstream "app", the example, everything else. The example's
			// port is chosen before the gateway's own servers start; should
			// one of them take it meanwhile, choose again.
			var appAddr string
			var g *gw
			for attempt := 0; ; attempt++ {
				appAddr = uaFreeAddr(t)
				g = newGateway(t, withAssertion(keyFile), func(c *config.Config, _ *fs.FS) {
					c.Upstreams = []config.Upstream{
						{Name: "rec", URL: c.Upstreams[0].URL, Match: config.Match{PathPrefix: "/rec/"}},
						{Name: "app", URL: "http://" + appAddr},
					}
				})
				if ln, err := net.Listen("tcp", appAddr); err == nil {
					ln.Close()
					break
				}
				if attempt == 5 {
					t.Fatal("could not find a port for the example")
				}
			}
			app := uaStartExample(t, argv, appAddr, "app", g.URL+uaJWKSPath)

			// Through the gateway, the example knows who the user is.
			alice, root, anon := g.client(), g.client(), g.client()
			wantStatus(t, g.loginJSON(alice, "alice", testPassword), 200)
			wantStatus(t, g.loginJSON(root, "root", testPassword), 200)
			st, doc := uaJSON(t, g.do(alice, "GET", "/hello", nil, "application/json"))
			if st != 200 {
				t.Fatalf("alice through the gateway: %d %v", st, doc)
			}
			uaWantUser(t, g, doc, "alice", []any{"editors"}, false)
			if st, doc = uaJSON(t, g.do(root, "POST", "/admin/x", nil, "application/json")); st != 200 {
				t.Fatalf("root through the gateway: %d %v", st, doc)
			}
			uaWantUser(t, g, doc, "root", []any{}, true)
			// The gateway lets anonymous users reach "/", without an assertion.
			if st, doc = uaJSON(t, g.do(anon, "GET", "/", nil, "application/json")); st != 401 {
				t.Errorf("anonymous through the gateway: %d %v, want 401 from the example", st, doc)
			}

			// Straight to the example: tokens minted by the test.
			signer, method := uaSigner(t, keyFile)
			other, otherMethod := uaSigner(t, uaKeyFile(t, "ed25519"))
			wrongType, wrongTypeMethod := uaSigner(t, uaKeyFile(t, "p256")) // a key of another type
			if kc.kind == "p256" {
				wrongType, wrongTypeMethod = other, otherMethod
			}
			now := time.Now().Unix()
			mint := func(m jwt.SigningMethod, key any, edit func(h map[string]any, c jwt.MapClaims)) string {
				c := jwt.MapClaims{"iss": "djangate", "sub": uaUserID(t, g, "alice"), "aud": "app",
					"iat": now, "nbf": now, "exp": now + 60, "jti": "test", "username": "alice", "email": "alice@example.com",
					"groups": []string{"editors"}, "is_staff": false, "is_superuser": false, "backend": "session"}
				tk := jwt.NewWithClaims(m, c)
				tk.Header["kid"] = "k1"
				if edit != nil {
					edit(tk.Header, c)
				}
				s, err := tk.SignedString(key)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			valid := func(edit func(map[string]any, jwt.MapClaims)) string { return mint(method, signer, edit) }
			claim := func(name string, v any) func(map[string]any, jwt.MapClaims) {
				return func(_ map[string]any, c jwt.MapClaims) {
					if v == nil {
						delete(c, name)
					} else {
						c[name] = v
					}
				}
			}
			jwksBody := readBody(t, g.do(http.DefaultClient, "GET", uaJWKSPath, nil, ""))
			cases := []struct {
				name   string
				tokens []string
				status int
			}{
				{"signed with the gateway's key (control)", []string{valid(nil)}, 200},
				{"expired 10s ago, within the leeway", []string{valid(func(_ map[string]any, c jwt.MapClaims) {
					c["iat"], c["nbf"], c["exp"] = now-70, now-70, now-10
				})}, 200},
				{"no header", nil, 401},
				{"not a JWT", []string{"garbage"}, 401},
				{"header repeated", []string{valid(nil), valid(nil)}, 401},
				{"expired", []string{valid(func(_ map[string]any, c jwt.MapClaims) {
					c["iat"], c["nbf"], c["exp"] = now-105, now-105, now-45
				})}, 401},
				{"not yet valid (nbf)", []string{valid(claim("nbf", now+120))}, 401},
				{"issued in the future", []string{valid(claim("iat", now+120))}, 401},
				{"wrong issuer", []string{valid(claim("iss", "someone-else"))}, 401},
				{"another upstream's audience", []string{valid(claim("aud", "rec"))}, 401},
				{"no exp", []string{valid(claim("exp", nil))}, 401},
				{"no iat", []string{valid(claim("iat", nil))}, 401},
				{"no sub", []string{valid(claim("sub", nil))}, 401},
				{"no aud", []string{valid(claim("aud", nil))}, 401},
				{"typ of an access token", []string{valid(func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "at+jwt" })}, 401},
				{"forged: another key, same kid", []string{mint(otherMethod, other, nil)}, 401},
				{"forged: another key, unknown kid", []string{mint(otherMethod, other, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "k2" })}, 401},
				{"forged: alg of another key type", []string{mint(wrongTypeMethod, wrongType, nil)}, 401},
				{"forged: alg none", []string{mint(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil)}, 401},
				{"forged: HS256 keyed with the JWKS", []string{mint(jwt.SigningMethodHS256, []byte(jwksBody), nil)}, 401},
			}
			for _, tc := range cases {
				if st, doc := uaAsk(t, app, tc.tokens...); st != tc.status {
					t.Errorf("%s: status %d %v, want %d", tc.name, st, doc, tc.status)
				} else if st == 200 {
					uaWantUser(t, g, doc, "alice", []any{"editors"}, false)
				}
			}

			// A real assertion the gateway minted for upstream "rec" is
			// refused by "app", and accepted by an example named "rec".
			wantStatus(t, g.do(alice, "GET", "/rec/x", nil, ""), 200)
			recTok := g.up.last(t).Header.Get(uaHeader)
			if recTok == "" {
				t.Fatal("upstream rec got no assertion")
			}
			if st, doc := uaAsk(t, app, recTok); st != 401 {
				t.Errorf("rec's assertion replayed to app: %d %v, want 401", st, doc)
			}
			// "rec" fetches the JWKS through a proxy that counts fetches.
			var fetches atomic.Int64
			gwURL, _ := url.Parse(g.URL)
			rp := httputil.NewSingleHostReverseProxy(gwURL)
			counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fetches.Add(1)
				rp.ServeHTTP(w, r)
			}))
			t.Cleanup(counter.Close)
			rec := uaStartExample(t, argv, uaFreeAddr(t), "rec", counter.URL+uaJWKSPath)
			st, doc = uaAsk(t, rec, recTok)
			if st != 200 {
				t.Fatalf("rec's assertion at rec: %d %v, want 200", st, doc)
			}
			uaWantUser(t, g, doc, "alice", []any{"editors"}, false)

			// Unknown kids refetch the JWKS at most once per 30s.
			before := fetches.Load()
			unknown := mint(otherMethod, other, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = "rotated-in" })
			for range 10 {
				if st, doc := uaAsk(t, rec, unknown); st != 401 {
					t.Fatalf("unknown kid: %d %v, want 401", st, doc)
				}
			}
			if n := fetches.Load() - before; n > 1 {
				t.Errorf("10 tokens with an unknown kid caused %d JWKS fetches, want at most 1", n)
			}
			if before < 1 {
				t.Errorf("rec never fetched the JWKS")
			}
		})
	}
}
