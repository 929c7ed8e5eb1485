package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ---------------------------------------------------------------------------
// Test keys and helpers. All names carry an "ext" prefix so they cannot
// collide with the other tests of the package.

const (
	extTestIssuer = "https://idp.example.com/realms/main"
	extTestAud    = "gateway"
)

// extT0 is the fixed "now" of the tests (whole seconds, as JWT times are).
var extT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type extTestKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec, ecOther   *ecdsa.PrivateKey
	ec384         *ecdsa.PrivateKey
	ed, edOther   ed25519.PrivateKey
}

// extKeys generates the test keys once per test binary (RSA is slow).
var extKeys = sync.OnceValue(func() *extTestKeys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &extTestKeys{}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.edOther, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

func extB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// extJWK renders a public key as a JWK map; extra members are merged in.
func extJWK(kid string, pub crypto.PublicKey, extra map[string]any) map[string]any {
	m := map[string]any{}
	if kid != "" {
		m["kid"] = kid
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = extB64(p.N.Bytes())
		m["e"] = extB64(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(b) - 1) / 2
		m["kty"] = "EC"
		m["crv"] = p.Curve.Params().Name
		m["x"] = extB64(b[1 : 1+size])
		m["y"] = extB64(b[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = extB64(p)
	default:
		panic(fmt.Sprintf("extJWK: %T", pub))
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func extJWKS(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// extDefaultJWKS is what the test IdP publishes.
func extDefaultJWKS() []byte {
	k := extKeys()
	return extJWKS(
		extJWK("rsa1", &k.rsa.PublicKey, map[string]any{"alg": "RS256", "use": "sig"}),
		extJWK("rsa-any", &k.rsa.PublicKey, nil),
		extJWK("ec1", &k.ec.PublicKey, map[string]any{"alg": "ES256"}),
		extJWK("ec384", &k.ec384.PublicKey, nil),
		extJWK("ed1", k.ed.Public(), nil),
		// An encryption key, as Keycloak publishes one: skipped.
		extJWK("enc1", &k.rsaOther.PublicKey, map[string]any{"alg": "RSA-OAEP", "use": "enc"}),
	)
}

// extClock is a settable clock.
type extClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *extClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *extClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// extIdP is a JWKS endpoint that counts its requests.
type extIdP struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	jwks     []byte
	status   int
	delay    time.Duration
	gate     chan struct{} // when set, requests block until it is closed
}

func extNewIdP(t testing.TB, jwks []byte) *extIdP {
	p := &extIdP{jwks: jwks, status: http.StatusOK}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		p.mu.Lock()
		body, status, delay, gate := p.jwks, p.status, p.delay, p.gate
		p.mu.Unlock()
		time.Sleep(delay)
		if gate != nil {
			<-gate
		}
		if status != http.StatusOK {
			http.Error(w, "down", status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *extIdP) URL() string { return p.srv.URL + "/protocol/openid-connect/certs" }

func (p *extIdP) Set(jwks []byte, status int) {
	p.mu.Lock()
	p.jwks, p.status = jwks, status
	p.mu.Unlock()
}

func extOptions(clock *extClock) ExternalOptions {
	return ExternalOptions{
		Issuer:        extTestIssuer,
		Audience:      []string{extTestAud, "account"},
		Algorithms:    []string{"RS256", "PS256", "ES256", "EdDSA"},
		Leeway:        30 * time.Second,
		UsernameClaim: "preferred_username",
		EmailClaim:    "email",
		GroupsClaim:   "groups",
		MinRefresh:    time.Minute,
		MaxAge:        time.Hour,
		Now:           clock.Now,
	}
}

// extNew builds an External against a fresh test IdP.
func extNew(t testing.TB, jwks []byte, edit func(*ExternalOptions)) (*External, *extIdP, *extClock) {
	t.Helper()
	clock := &extClock{t: extT0}
	idp := extNewIdP(t, jwks)
	o := extOptions(clock)
	o.JWKSURL = idp.URL()
	if edit != nil {
		edit(&o)
	}
	e, err := NewExternal(context.Background(), o)
	if err != nil {
		t.Fatalf("NewExternal: %v", err)
	}
	return e, idp, clock
}

// extClaims returns valid claims at extT0.
func extClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":                extTestIssuer,
		"sub":                "5f1c0a5e-7c2b-4b8e-9d0e-2a1f3c4d5e6f",
		"aud":                extTestAud,
		"exp":                extT0.Add(5 * time.Minute).Unix(),
		"iat":                extT0.Add(-time.Minute).Unix(),
		"preferred_username": "alice",
		"email":              "alice@example.com",
		"groups":             []string{"staff", "editors"},
	}
}

func extSign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// extRaw builds a token from raw header and claims JSON and a signature.
func extRaw(header, claims string, sig []byte) string {
	return extB64([]byte(header)) + "." + extB64([]byte(claims)) + "." + extB64(sig)
}

func extMarshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// extCheckErr asserts err wraps want, contains every fragment, and does
// not leak the token.
func extCheckErr(t *testing.T, err error, want error, token string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want error wrapping %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %v", err, want)
	}
	if want == ErrInvalidToken && errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %q wraps ErrUnavailable too", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
	extNoLeak(t, err, token)
}

func extNoLeak(t *testing.T, err error, token string) {
	t.Helper()
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 && strings.Contains(err.Error(), part) {
			t.Errorf("error %q contains part of the token", err)
		}
	}
}

// ---------------------------------------------------------------------------
// Verify

func TestExternalVerify(t *testing.T) {
	k := extKeys()
	e, _, _ := extNew(t, extDefaultJWKS(), nil)

	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := extClaims()
		edit(c)
		return c
	}
	at := func(d time.Duration) int64 { return extT0.Add(d).Unix() }
	es := func(c jwt.MapClaims) string { return extSign(t, jwt.SigningMethodES256, k.ec, "ec1", c) }

	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})

	noneHeader := `{"alg":"none","typ":"JWT"}`
	okClaims := extMarshal(extClaims())
	esValid := es(extClaims())
	esParts := strings.Split(esValid, ".")

	alice := &Identity{
		Issuer:   extTestIssuer,
		Subject:  "5f1c0a5e-7c2b-4b8e-9d0e-2a1f3c4d5e6f",
		Username: "alice",
		Email:    "alice@example.com",
		Groups:   []string{"staff", "editors"},
	}
	aliceWith := func(edit func(*Identity)) *Identity {
		id := *alice
		id.Groups = append([]string(nil), alice.Groups...)
		edit(&id)
		return &id
	}

	tests := []struct {
		name    string
		token   string
		want    *Identity // when accepted
		wantErr []string  // fragments; the error must wrap ErrInvalidToken
	}{
		// Accepted.
		{name: "RS256 valid", token: extSign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", extClaims()), want: alice},
		{name: "PS256 valid with alg-less RSA key", token: extSign(t, jwt.SigningMethodPS256, k.rsa, "rsa-any", extClaims()), want: alice},
		{name: "ES256 valid", token: esValid, want: alice},
		{name: "EdDSA valid", token: extSign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", extClaims()), want: alice},
		{name: "aud array with one allowed", token: es(with(func(c jwt.MapClaims) { c["aud"] = []string{"other", "account"} })), want: alice},
		{name: "groups single string", token: es(with(func(c jwt.MapClaims) { c["groups"] = "staff" })),
			want: aliceWith(func(id *Identity) { id.Groups = []string{"staff"} })},
		{name: "groups absent gives empty non-nil", token: es(with(func(c jwt.MapClaims) { delete(c, "groups") })),
			want: aliceWith(func(id *Identity) { id.Groups = []string{} })},
		{name: "email absent", token: es(with(func(c jwt.MapClaims) { delete(c, "email") })),
			want: aliceWith(func(id *Identity) { id.Email = "" })},
		{name: "expired within leeway", token: es(with(func(c jwt.MapClaims) { c["exp"] = at(-20 * time.Second) })), want: alice},
		{name: "nbf within leeway", token: es(with(func(c jwt.MapClaims) { c["nbf"] = at(20 * time.Second) })), want: alice},
		{name: "iat within leeway", token: es(with(func(c jwt.MapClaims) { c["iat"] = at(20 * time.Second) })), want: alice},
		{name: "username of 150 characters", token: es(with(func(c jwt.MapClaims) { c["preferred_username"] = strings.Repeat("é", 150) })),
			want: aliceWith(func(id *Identity) { id.Username = strings.Repeat("é", 150) })},

		// Algorithm confusion.
		{name: "alg none, empty signature", token: extRaw(noneHeader, okClaims, nil), wantErr: []string{"alg is not one of the allowed"}},
		{name: "alg none with kid", token: extRaw(`{"alg":"none","kid":"ec1"}`, okClaims, nil), wantErr: []string{"alg is not one of the allowed"}},
		{name: "alg None capitalised", token: extRaw(`{"alg":"None","kid":"ec1"}`, okClaims, nil), wantErr: []string{"unverifiable"}},
		{name: "alg none signed by library", token: extSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", extClaims()), wantErr: []string{"alg is not one of the allowed"}},
		{name: "HS256 keyed with RSA public key PEM", token: extSign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", extClaims()), wantErr: []string{"alg is not one of the allowed"}},
		{name: "HS256 keyed with RSA public key PKCS1 PEM", token: extSign(t, jwt.SigningMethodHS256, pkcs1PEM, "rsa1", extClaims()), wantErr: []string{"alg is not one of the allowed"}},
		{name: "HS256 keyed with RSA public key DER", token: extSign(t, jwt.SigningMethodHS256, pubDER, "rsa1", extClaims()), wantErr: []string{"alg is not one of the allowed"}},
		{name: "RS256 header with EC kid", token: extSign(t, jwt.SigningMethodRS256, k.rsa, "ec1", extClaims()), wantErr: []string{`alg RS256 cannot be verified with a kty EC crv P-256 key (kid "ec1")`}},
		{name: "EdDSA header with RSA kid", token: extSign(t, jwt.SigningMethodEdDSA, k.ed, "rsa-any", extClaims()), wantErr: []string{"alg EdDSA cannot be verified with a kty RSA key"}},
		{name: "ES256 header with P-384 kid", token: extSign(t, jwt.SigningMethodES256, k.ec, "ec384", extClaims()), wantErr: []string{"cannot be verified with a kty EC crv P-384 key"}},
		{name: "PS256 with RS256-only JWK", token: extSign(t, jwt.SigningMethodPS256, k.rsa, "rsa1", extClaims()), wantErr: []string{`alg PS256 does not match the key's alg RS256 (kid "rsa1")`}},
		{name: "ES384 not in Algorithms", token: extSign(t, jwt.SigningMethodES384, k.ec384, "ec384", extClaims()), wantErr: []string{"alg is not one of the allowed"}},
		{name: "RS512 not in Algorithms", token: extSign(t, jwt.SigningMethodRS512, k.rsa, "rsa-any", extClaims()), wantErr: []string{"alg is not one of the allowed"}},

		// Signature.
		{name: "signed by another key with a known kid", token: extSign(t, jwt.SigningMethodES256, k.ecOther, "ec1", extClaims()), wantErr: []string{"signature is invalid"}},
		{name: "RSA signed by another key", token: extSign(t, jwt.SigningMethodRS256, k.rsaOther, "rsa1", extClaims()), wantErr: []string{"signature is invalid"}},
		{name: "tampered payload", token: esParts[0] + "." + extB64([]byte(extMarshal(with(func(c jwt.MapClaims) { c["preferred_username"] = "admin" })))) + "." + esParts[2], wantErr: []string{"signature is invalid"}},
		{name: "signature stripped", token: esParts[0] + "." + esParts[1] + ".", wantErr: []string{"signature is invalid"}},

		// kid handling.
		{name: "unknown kid", token: extSign(t, jwt.SigningMethodES256, k.ec, "nope", extClaims()), wantErr: []string{`unknown kid "nope"`}},
		{name: "no kid with several keys", token: extSign(t, jwt.SigningMethodES256, k.ec, "", extClaims()), wantErr: []string{`"kid" is required`}},
		{name: "kid not a string", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, extClaims())
			tok.Header["kid"] = 7
			s, _ := tok.SignedString(k.ec)
			return s
		}(), wantErr: []string{`"kid" is not a string`}},
		{name: "crit header", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, extClaims())
			tok.Header["kid"] = "ec1"
			tok.Header["crit"] = []string{"b64"}
			tok.Header["b64"] = false
			s, _ := tok.SignedString(k.ec)
			return s
		}(), wantErr: []string{`"crit" is not supported`}},

		// Registered claims.
		{name: "wrong aud", token: es(with(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), wantErr: []string{"audience is not allowed"}},
		{name: "wrong aud array", token: es(with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), wantErr: []string{"audience is not allowed"}},
		{name: "missing aud", token: es(with(func(c jwt.MapClaims) { delete(c, "aud") })), wantErr: []string{"required claim"}},
		{name: "aud a number", token: es(with(func(c jwt.MapClaims) { c["aud"] = 5 })), wantErr: []string{"required claim"}},
		{name: "aud array with a number", token: es(with(func(c jwt.MapClaims) { c["aud"] = []any{extTestAud, 5} })), wantErr: []string{"wrong type"}},
		{name: "wrong iss", token: es(with(func(c jwt.MapClaims) { c["iss"] = extTestIssuer + "/" })), wantErr: []string{"issuer does not match"}},
		{name: "missing iss", token: es(with(func(c jwt.MapClaims) { delete(c, "iss") })), wantErr: []string{"required claim"}},
		{name: "expired beyond leeway", token: es(with(func(c jwt.MapClaims) { c["exp"] = at(-31 * time.Second) })), wantErr: []string{"expired"}},
		{name: "missing exp", token: es(with(func(c jwt.MapClaims) { delete(c, "exp") })), wantErr: []string{"required claim"}},
		{name: "exp a string", token: es(with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })), wantErr: []string{"wrong type"}},
		{name: "nbf in future", token: es(with(func(c jwt.MapClaims) { c["nbf"] = at(time.Minute) })), wantErr: []string{"not valid yet"}},
		{name: "iat in future", token: es(with(func(c jwt.MapClaims) { c["iat"] = at(time.Minute) })), wantErr: []string{"issued in the future"}},
		{name: "missing iat", token: es(with(func(c jwt.MapClaims) { delete(c, "iat") })), wantErr: []string{`"iat" is required`}},
		{name: "missing sub", token: es(with(func(c jwt.MapClaims) { delete(c, "sub") })), wantErr: []string{`"sub" must be a non-empty string`}},

		// Identity claims.
		{name: "username missing", token: es(with(func(c jwt.MapClaims) { delete(c, "preferred_username") })), wantErr: []string{`username claim "preferred_username" is missing`}},
		{name: "username not a string", token: es(with(func(c jwt.MapClaims) { c["preferred_username"] = 42 })), wantErr: []string{`username claim "preferred_username" must be a string`}},
		{name: "username null", token: es(with(func(c jwt.MapClaims) { c["preferred_username"] = nil })), wantErr: []string{"must be a string"}},
		{name: "username empty", token: es(with(func(c jwt.MapClaims) { c["preferred_username"] = "" })), wantErr: []string{"is empty"}},
		{name: "username too long", token: es(with(func(c jwt.MapClaims) { c["preferred_username"] = strings.Repeat("a", 151) })), wantErr: []string{"longer than 150 characters"}},
		{name: "username with newline", token: es(with(func(c jwt.MapClaims) { c["preferred_username"] = "alice\nX-Remote-User: admin" })), wantErr: []string{"control characters"}},
		{name: "email not a string", token: es(with(func(c jwt.MapClaims) { c["email"] = []string{"a@b"} })), wantErr: []string{`email claim "email" must be a string`}},
		{name: "groups not an array", token: es(with(func(c jwt.MapClaims) { c["groups"] = map[string]any{"a": 1} })), wantErr: []string{`groups claim "groups" must be an array of strings`}},
		{name: "groups element not a string", token: es(with(func(c jwt.MapClaims) { c["groups"] = []any{"staff", 3} })), wantErr: []string{`groups claim "groups"[1] must be a string`}},
		{name: "group too long", token: es(with(func(c jwt.MapClaims) { c["groups"] = []string{strings.Repeat("g", 151)} })), wantErr: []string{`"groups"[0] is longer than 150 characters`}},
		{name: "group empty", token: es(with(func(c jwt.MapClaims) { c["groups"] = []string{"staff", ""} })), wantErr: []string{`"groups"[1] is empty`}},

		// Shape.
		{name: "empty", token: "", wantErr: []string{"empty token"}},
		{name: "garbage", token: "not a jwt", wantErr: []string{"malformed"}},
		{name: "four segments", token: esValid + ".x", wantErr: []string{"malformed"}},
		{name: "too long", token: es(with(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 9000) })), wantErr: []string{"longer than 8192 bytes"}},
		{name: "header not JSON", token: extB64([]byte("{")) + "." + esParts[1] + "." + esParts[2], wantErr: []string{"malformed"}},
		{name: "padded base64", token: esParts[0] + "=." + esParts[1] + "." + esParts[2], wantErr: []string{"malformed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.Verify(context.Background(), tc.token)
			if tc.wantErr != nil {
				if id != nil {
					t.Errorf("got identity %+v with error", id)
				}
				extCheckErr(t, err, ErrInvalidToken, tc.token, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.ExpiresAt.IsZero() {
				t.Error("ExpiresAt is not the token's exp")
			}
			noExp := *id
			noExp.ExpiresAt = time.Time{}
			if got, want := extMarshal(&noExp), extMarshal(tc.want); got != want {
				t.Errorf("identity\n got %s\nwant %s", got, want)
			}
			if id.Groups == nil {
				t.Error("Groups is nil although GroupsClaim is set")
			}
		})
	}
}

func TestExternalVerifyDefaults(t *testing.T) {
	k := extKeys()
	e, _, _ := extNew(t, extJWKS(extJWK("", k.ed.Public(), nil)), func(o *ExternalOptions) {
		o.UsernameClaim, o.EmailClaim, o.GroupsClaim = "", "", ""
		o.Algorithms = []string{"EdDSA"}
	})
	if e.Issuer() != extTestIssuer {
		t.Errorf("Issuer() = %q", e.Issuer())
	}
	// Exactly one key without kid: a token without kid uses it.
	id, err := e.Verify(context.Background(), extSign(t, jwt.SigningMethodEdDSA, k.ed, "", extClaims()))
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{Issuer: extTestIssuer, Subject: extClaims()["sub"].(string), Username: extClaims()["sub"].(string),
		ExpiresAt: extT0.Add(5 * time.Minute)}
	if extMarshal(id) != extMarshal(want) || id.Groups != nil {
		t.Errorf("got %+v, want %+v with nil Groups", id, want)
	}
	// A token naming a kid the set does not have is still rejected.
	_, err = e.Verify(context.Background(), extSign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", extClaims()))
	extCheckErr(t, err, ErrInvalidToken, "", "unknown kid")
}

// ---------------------------------------------------------------------------
// JWKS refresh, rotation and availability

func TestExternalUnknownKidRefetchIsRateLimited(t *testing.T) {
	k := extKeys()
	e, idp, clock := extNew(t, extDefaultJWKS(), nil)
	if n := idp.requests.Load(); n != 1 {
		t.Fatalf("NewExternal made %d JWKS requests, want 1", n)
	}
	unknown := extSign(t, jwt.SigningMethodES256, k.ecOther, "rotated", extClaims())

	// Within MinRefresh of the first fetch: no refetch at all.
	_, err := e.Verify(context.Background(), unknown)
	extCheckErr(t, err, ErrInvalidToken, unknown, `unknown kid "rotated"`)
	if n := idp.requests.Load(); n != 1 {
		t.Fatalf("refetched within MinRefresh: %d requests", n)
	}

	// After MinRefresh: 50 concurrent requests cause exactly one refetch.
	clock.Advance(61 * time.Second)
	idp.mu.Lock()
	idp.delay = 50 * time.Millisecond // make the requests overlap the fetch
	idp.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := e.Verify(context.Background(), unknown)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		extCheckErr(t, err, ErrInvalidToken, unknown, "unknown kid")
	}
	if n := idp.requests.Load(); n != 2 {
		t.Fatalf("50 concurrent unknown-kid tokens made %d refetches, want exactly 1", n-1)
	}

	// Repeating the token within MinRefresh does not refetch either.
	clock.Advance(30 * time.Second)
	for range 20 {
		if _, err := e.Verify(context.Background(), unknown); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify: %v", err)
		}
	}
	if n := idp.requests.Load(); n != 2 {
		t.Fatalf("repeated unknown kid made %d requests, want 2", n)
	}
	// Valid tokens are unaffected and never fetch.
	if _, err := e.Verify(context.Background(), extSign(t, jwt.SigningMethodES256, k.ec, "ec1", extClaims())); err != nil {
		t.Fatal(err)
	}
	// Once MinRefresh has passed, one more refetch is allowed.
	clock.Advance(31 * time.Second)
	e.Verify(context.Background(), unknown)
	e.Verify(context.Background(), unknown)
	if n := idp.requests.Load(); n != 3 {
		t.Fatalf("after MinRefresh: %d requests, want 3", n)
	}
}

func TestExternalKeyRotation(t *testing.T) {
	k := extKeys()
	e, idp, clock := extNew(t, extDefaultJWKS(), nil)
	claims := extClaims()
	claims["exp"] = extT0.Add(3 * time.Hour).Unix()
	newTok := extSign(t, jwt.SigningMethodES256, k.ecOther, "ec2", claims)
	oldTok := extSign(t, jwt.SigningMethodES256, k.ec, "ec1", claims)

	// The IdP rotates: ec2 is added, ec1 stays for a while.
	idp.Set(extJWKS(
		extJWK("ec1", &k.ec.PublicKey, nil),
		extJWK("ec2", &k.ecOther.PublicKey, nil),
	), http.StatusOK)
	clock.Advance(2 * time.Minute)
	id, err := e.Verify(context.Background(), newTok)
	if err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	if id.Username != "alice" {
		t.Errorf("username %q", id.Username)
	}
	if n := idp.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if _, err := e.Verify(context.Background(), oldTok); err != nil {
		t.Fatalf("old kid still published: %v", err)
	}

	// ec1 is retired at the IdP; after MaxAge the cache is refreshed and
	// the old kid is no longer accepted.
	idp.Set(extJWKS(extJWK("ec2", &k.ecOther.PublicKey, nil)), http.StatusOK)
	clock.Advance(30 * time.Minute)
	if _, err := e.Verify(context.Background(), oldTok); err != nil {
		t.Fatalf("before MaxAge the cached ec1 is still valid: %v", err)
	}
	clock.Advance(31 * time.Minute)
	_, err = e.Verify(context.Background(), oldTok)
	extCheckErr(t, err, ErrInvalidToken, oldTok, `unknown kid "ec1"`)
	if _, err := e.Verify(context.Background(), newTok); err != nil {
		t.Fatalf("new kid after refresh: %v", err)
	}
	if n := idp.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestExternalJWKSUnavailable(t *testing.T) {
	k := extKeys()
	tok := func(clock *extClock) string {
		c := extClaims()
		c["iat"] = clock.Now().Unix()
		c["exp"] = clock.Now().Add(time.Hour).Unix()
		return extSign(t, jwt.SigningMethodES256, k.ec, "ec1", c)
	}

	t.Run("down from the start", func(t *testing.T) {
		clock := &extClock{t: extT0}
		idp := extNewIdP(t, extDefaultJWKS())
		idp.Set(nil, http.StatusInternalServerError)
		o := extOptions(clock)
		o.JWKSURL = idp.URL()
		e, err := NewExternal(context.Background(), o)
		if err != nil || e == nil {
			t.Fatalf("NewExternal with the IdP down must succeed: %v", err)
		}
		// Malformed tokens and disallowed algs are rejected as invalid
		// without touching the IdP.
		clock.Advance(time.Minute)
		for _, bad := range []string{"garbage", extRaw(`{"alg":"none"}`, extMarshal(extClaims()), nil)} {
			_, err = e.Verify(context.Background(), bad)
			extCheckErr(t, err, ErrInvalidToken, bad)
		}
		if n := idp.requests.Load(); n != 1 {
			t.Fatalf("malformed tokens caused %d JWKS requests", n-1)
		}
		clock.Advance(-time.Minute)

		token := tok(clock)
		_, err = e.Verify(context.Background(), token)
		extCheckErr(t, err, ErrUnavailable, token, "jwks fetch", "500")
		if errors.Is(err, ErrInvalidToken) {
			t.Errorf("unavailable error also wraps ErrInvalidToken: %v", err)
		}
		// Retries are rate-limited too.
		e.Verify(context.Background(), token)
		if n := idp.requests.Load(); n != 1 {
			t.Errorf("%d requests within MinRefresh, want 1", n)
		}
		// The IdP recovers.
		idp.Set(extDefaultJWKS(), http.StatusOK)
		clock.Advance(time.Minute)
		if _, err := e.Verify(context.Background(), tok(clock)); err != nil {
			t.Fatalf("after recovery: %v", err)
		}

		// Down again: cached keys are used up to 2×MaxAge, then fail closed.
		idp.Set(nil, http.StatusServiceUnavailable)
		clock.Advance(time.Hour + time.Minute)
		if _, err := e.Verify(context.Background(), tok(clock)); err != nil {
			t.Fatalf("stale keys within 2×MaxAge must be used: %v", err)
		}
		clock.Advance(55 * time.Minute)
		if _, err := e.Verify(context.Background(), tok(clock)); err != nil {
			t.Fatalf("stale keys within 2×MaxAge must be used: %v", err)
		}
		before := idp.requests.Load()
		clock.Advance(5 * time.Minute)
		token = tok(clock)
		_, err = e.Verify(context.Background(), token)
		extCheckErr(t, err, ErrUnavailable, token, "503")
		if idp.requests.Load() != before+1 {
			t.Errorf("expected one refetch attempt")
		}
	})

	t.Run("stale keys are used while a refresh is in flight", func(t *testing.T) {
		e, idp, clock := extNew(t, extDefaultJWKS(), nil)
		gate := make(chan struct{})
		idp.mu.Lock()
		idp.gate = gate
		idp.mu.Unlock()
		clock.Advance(time.Hour + time.Second) // past MaxAge
		token := tok(clock)
		done := make(chan error, 1)
		go func() { _, err := e.Verify(context.Background(), token); done <- err }()
		for idp.requests.Load() < 2 { // wait until the refresh is blocked at the IdP
			time.Sleep(time.Millisecond)
		}
		// Does not queue behind the blocked refresh.
		if _, err := e.Verify(context.Background(), token); err != nil {
			t.Fatalf("stale keys during refresh: %v", err)
		}
		close(gate)
		if err := <-done; err != nil {
			t.Fatalf("refreshing request: %v", err)
		}
		if n := idp.requests.Load(); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})

	t.Run("waiting caller gives up", func(t *testing.T) {
		clock := &extClock{t: extT0}
		idp := extNewIdP(t, extDefaultJWKS())
		idp.Set(nil, http.StatusInternalServerError)
		o := extOptions(clock)
		o.JWKSURL = idp.URL()
		e, err := NewExternal(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		idp.mu.Lock()
		idp.gate, idp.status, idp.jwks = gate, http.StatusOK, extDefaultJWKS()
		idp.mu.Unlock()
		clock.Advance(time.Minute)
		token := tok(clock)
		done := make(chan error, 1)
		go func() { _, err := e.Verify(context.Background(), token); done <- err }()
		for idp.requests.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		// No keys at all: this caller waits for the fetch, until its
		// context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err = e.Verify(ctx, token)
		extCheckErr(t, err, ErrUnavailable, token, "waiting for jwks fetch")
		close(gate)
		if err := <-done; err != nil {
			t.Fatalf("fetching request: %v", err)
		}
		// The fetch completed for everyone.
		if _, err := e.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		clock := &extClock{t: extT0}
		idp := extNewIdP(t, extDefaultJWKS())
		url := idp.URL()
		idp.srv.Close()
		o := extOptions(clock)
		o.JWKSURL = url
		e, err := NewExternal(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		token := tok(clock)
		_, err = e.Verify(context.Background(), token)
		extCheckErr(t, err, ErrUnavailable, token, "jwks fetch")
	})

	t.Run("malformed document served", func(t *testing.T) {
		clock := &extClock{t: extT0}
		idp := extNewIdP(t, extJWKS(extJWK("k", &k.ec.PublicKey, map[string]any{"d": "AAAA"})))
		o := extOptions(clock)
		o.JWKSURL = idp.URL()
		e, err := NewExternal(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		token := tok(clock)
		_, err = e.Verify(context.Background(), token)
		extCheckErr(t, err, ErrUnavailable, token, `jwks keys[0]: private key member "d" is present`)
	})

	t.Run("cancelled caller while waiting", func(t *testing.T) {
		clock := &extClock{t: extT0}
		idp := extNewIdP(t, extDefaultJWKS())
		idp.Set(nil, http.StatusInternalServerError)
		o := extOptions(clock)
		o.JWKSURL = idp.URL()
		e, err := NewExternal(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = e.Verify(ctx, tok(clock))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	})
}

func TestExternalJWKSFile(t *testing.T) {
	// testdata/external/ed25519.jwks.json holds the public half of the
	// Ed25519 key derived from this seed, plus an encryption key.
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	clock := &extClock{t: extT0}
	o := extOptions(clock)
	o.JWKSFile = filepath.Join("testdata", "external", "ed25519.jwks.json")
	e, err := NewExternal(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	token := extSign(t, jwt.SigningMethodEdDSA, priv, "file-ed1", extClaims())
	id, err := e.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if id.Username != "alice" || id.Email != "alice@example.com" || len(id.Groups) != 2 {
		t.Errorf("identity %+v", id)
	}
	// File keys do not expire and unknown kids never fetch anything.
	clock.Advance(10 * time.Hour)
	c := extClaims()
	c["iat"], c["exp"] = clock.Now().Unix(), clock.Now().Add(time.Minute).Unix()
	if _, err := e.Verify(context.Background(), extSign(t, jwt.SigningMethodEdDSA, priv, "file-ed1", c)); err != nil {
		t.Fatal(err)
	}
	_, err = e.Verify(context.Background(), extSign(t, jwt.SigningMethodEdDSA, priv, "other", c))
	extCheckErr(t, err, ErrInvalidToken, "", "unknown kid")

	for _, tc := range []struct{ file, want string }{
		{"oct.jwks.json", `JWKSFile: testdata/external/oct.jwks.json: jwks keys[1]: kty "oct" is not supported`},
		{"missing.jwks.json", "no such file"},
	} {
		o.JWKSFile = filepath.Join("testdata", "external", tc.file)
		_, err := NewExternal(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.file, err, tc.want)
		}
	}
}

// ---------------------------------------------------------------------------
// JWKS parsing

func TestExternalJWKSParse(t *testing.T) {
	k := extKeys()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec := func(extra map[string]any) map[string]any { return extJWK("ec", &k.ec.PublicKey, extra) }
	ecOff := ec(nil)
	{ // move the point off the curve: y+1
		y, _ := base64.RawURLEncoding.DecodeString(ecOff["y"].(string))
		y[len(y)-1] ^= 1
		ecOff["y"] = extB64(y)
	}
	big := `{"keys":[` + extMarshal(ec(nil)) + `],"pad":"` + strings.Repeat("x", 1<<20) + `"}`

	tests := []struct {
		name    string
		doc     string
		wantErr string // "" = valid
		kids    []string
	}{
		{name: "valid mixed", doc: string(extDefaultJWKS()), kids: []string{"rsa1", "rsa-any", "ec1", "ec384", "ed1"}},
		{name: "skip use enc and key_ops without verify", doc: string(extJWKS(
			ec(nil),
			extJWK("e1", &k.ecOther.PublicKey, map[string]any{"use": "enc"}),
			extJWK("e2", &k.ecOther.PublicKey, map[string]any{"key_ops": []string{"encrypt"}}),
			extJWK("e3", &k.ecOther.PublicKey, map[string]any{"alg": "ECDH-ES"}),
			extJWK("e4", &k.ecOther.PublicKey, map[string]any{"key_ops": []string{"verify"}}),
		)), kids: []string{"ec", "e4"}},
		{name: "oct key", doc: string(extJWKS(ec(nil), map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"})), wantErr: `jwks keys[1]: kty "oct" is not supported`},
		{name: "RSA 1024", doc: string(extJWKS(extJWK("r", &rsa1024.PublicKey, nil))), wantErr: "jwks keys[0]: RSA modulus is 1024 bits, at least 2048 are required"},
		{name: "private d present", doc: string(extJWKS(ec(nil), ec(map[string]any{"kid": "p", "d": "AAAA"}))), wantErr: `jwks keys[1]: private key member "d" is present; a JWKS must contain public keys only`},
		{name: "private RSA parts", doc: string(extJWKS(extJWK("r", &k.rsa.PublicKey, map[string]any{"p": "AQAB"}))), wantErr: `jwks keys[0]: private key member "p" is present`},
		{name: "duplicate kid", doc: string(extJWKS(ec(nil), extJWK("x", k.ed.Public(), nil), extJWK("ec", k.ed.Public(), nil))), wantErr: `jwks keys[2]: duplicate kid "ec" (also keys[0])`},
		{name: "bad base64", doc: string(extJWKS(ec(map[string]any{"x": "not*base64"}))), wantErr: `jwks keys[0]: "x" is not valid unpadded base64url`},
		{name: "padded base64", doc: string(extJWKS(extJWK("r", &k.rsa.PublicKey, map[string]any{"e": "AQAB="}))), wantErr: `jwks keys[0]: "e" is not valid unpadded base64url`},
		{name: "point not on curve", doc: string(extJWKS(ecOff)), wantErr: "jwks keys[0]: P-256 point (x, y) is not on the curve"},
		{name: "coordinate wrong length", doc: string(extJWKS(ec(map[string]any{"x": extB64(make([]byte, 31))}))), wantErr: "jwks keys[0]: P-256 coordinates must be 32 bytes each, got x=31 y=32"},
		{name: "oversize", doc: big, wantErr: "jwks: document is 1048" /* bytes... */},
		{name: "not JSON", doc: "<html>", wantErr: "jwks: not a JSON JWK Set object"},
		{name: "keys missing", doc: `{"kid":"x"}`, wantErr: `jwks: "keys" member is missing`},
		{name: "keys not array", doc: `{"keys":{}}`, wantErr: `jwks: "keys" member is not an array`},
		{name: "keys upper case", doc: `{"KEYS":[]}`, wantErr: `jwks: "keys" member is missing`},
		{name: "member names are case-sensitive", doc: string(extJWKS(ec(map[string]any{"kty": nil, "KTY": "EC"}))), wantErr: `jwks keys[0]: "kty" is missing`},
		{name: "key null", doc: `{"keys":[null]}`, wantErr: "jwks keys[0]: not a JSON object"},
		{name: "key not object", doc: `{"keys":[1]}`, wantErr: "jwks keys[0]: not a JSON object"},
		{name: "no usable keys", doc: string(extJWKS(extJWK("e1", &k.ec.PublicKey, map[string]any{"use": "enc"}))), wantErr: "jwks: no usable signing keys"},
		{name: "empty", doc: `{"keys":[]}`, wantErr: "jwks: no usable signing keys"},
		{name: "kty missing", doc: string(extJWKS(ec(map[string]any{"kty": nil}))), wantErr: `jwks keys[0]: "kty" is missing`},
		{name: "kid not string", doc: string(extJWKS(ec(map[string]any{"kid": 3}))), wantErr: `jwks keys[0]: "kid" must be a string`},
		{name: "unsupported kty", doc: `{"keys":[{"kty":"PQC","x":"AA"}]}`, wantErr: `jwks keys[0]: kty "PQC" is not supported`},
		{name: "unsupported curve", doc: string(extJWKS(ec(map[string]any{"crv": "P-521"}))), wantErr: `jwks keys[0]: kty "EC" crv "P-521" is not supported`},
		{name: "X25519 OKP", doc: string(extJWKS(extJWK("x", k.ed.Public(), map[string]any{"crv": "X25519"}))), wantErr: `crv "X25519" is not supported`},
		{name: "Ed25519 wrong length", doc: string(extJWKS(extJWK("x", k.ed.Public(), map[string]any{"x": extB64(make([]byte, 31))}))), wantErr: "x is 31 bytes"},
		{name: "alg does not fit key", doc: string(extJWKS(ec(map[string]any{"alg": "RS256"}))), wantErr: `jwks keys[0]: alg "RS256" does not fit a kty "EC" crv P-256 key`},
		{name: "unsupported alg", doc: string(extJWKS(ec(map[string]any{"alg": "ES512"}))), wantErr: `jwks keys[0]: alg "ES512" is not supported`},
		{name: "RSA even exponent", doc: string(extJWKS(extJWK("r", &k.rsa.PublicKey, map[string]any{"e": extB64([]byte{1, 0, 0})}))), wantErr: "RSA exponent e=65536 is invalid"},
		{name: "RSA exponent too big", doc: string(extJWKS(extJWK("r", &k.rsa.PublicKey, map[string]any{"e": extB64([]byte{1, 0, 0, 0, 1})}))), wantErr: "RSA exponent e is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := jwksParse([]byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kids []string
			for _, key := range set.keys {
				kids = append(kids, key.kid)
			}
			if strings.Join(kids, ",") != strings.Join(tc.kids, ",") {
				t.Errorf("kids %v, want %v", kids, tc.kids)
			}
		})
	}

	// The oversize check also applies when reading from a server, where
	// the document is not even read past the limit.
	t.Run("oversize served", func(t *testing.T) {
		clock := &extClock{t: extT0}
		idp := extNewIdP(t, []byte(big))
		o := extOptions(clock)
		o.JWKSURL = idp.URL()
		e, err := NewExternal(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Verify(context.Background(), extSign(t, jwt.SigningMethodES256, k.ec, "ec", extClaims()))
		extCheckErr(t, err, ErrUnavailable, "", "larger than the 1048576 byte limit")
	})
}

// ---------------------------------------------------------------------------
// Options

func TestExternalOptions(t *testing.T) {
	clock := &extClock{t: extT0}
	jwksPath := filepath.Join("testdata", "external", "ed25519.jwks.json")
	base := func() ExternalOptions {
		o := extOptions(clock)
		o.JWKSFile = jwksPath
		return o
	}
	tests := []struct {
		name string
		edit func(*ExternalOptions)
		want string // "" = valid
	}{
		{"valid", func(o *ExternalOptions) {}, ""},
		{"https url", func(o *ExternalOptions) { o.JWKSFile, o.JWKSURL = "", "https://127.0.0.1:1/jwks" }, ""},
		{"http localhost", func(o *ExternalOptions) { o.JWKSFile, o.JWKSURL = "", "http://localhost:1/jwks" }, ""},
		{"http ipv6 loopback", func(o *ExternalOptions) { o.JWKSFile, o.JWKSURL = "", "http://[::1]:1/jwks" }, ""},
		{"no issuer", func(o *ExternalOptions) { o.Issuer = "" }, "Issuer is required"},
		{"no jwks", func(o *ExternalOptions) { o.JWKSFile = "" }, "one of JWKSFile or JWKSURL is required"},
		{"both jwks", func(o *ExternalOptions) { o.JWKSURL = "https://idp/jwks" }, "JWKSFile and JWKSURL are mutually exclusive"},
		{"http remote", func(o *ExternalOptions) { o.JWKSFile, o.JWKSURL = "", "http://idp.example.com/jwks" }, "JWKSURL: \"http://idp.example.com/jwks\" must use https"},
		{"ftp", func(o *ExternalOptions) { o.JWKSFile, o.JWKSURL = "", "ftp://idp.example.com/jwks" }, "JWKSURL"},
		{"no host", func(o *ExternalOptions) { o.JWKSFile, o.JWKSURL = "", "https:///jwks" }, "has no host"},
		{"no audience", func(o *ExternalOptions) { o.Audience = nil }, "Audience is required"},
		{"empty audience", func(o *ExternalOptions) { o.Audience = []string{"a", ""} }, "Audience[1] is empty"},
		{"no algorithms", func(o *ExternalOptions) { o.Algorithms = nil }, "Algorithms is required"},
		{"HS256", func(o *ExternalOptions) { o.Algorithms = []string{"ES256", "HS256"} }, `Algorithms: "HS256" is not allowed`},
		{"none", func(o *ExternalOptions) { o.Algorithms = []string{"none"} }, `Algorithms: "none" is not allowed`},
		{"leeway too big", func(o *ExternalOptions) { o.Leeway = 6 * time.Minute }, "Leeway 6m0s must be between 0 and 5m0s"},
		{"negative leeway", func(o *ExternalOptions) { o.Leeway = -time.Second }, "Leeway"},
		{"negative MinRefresh", func(o *ExternalOptions) { o.MinRefresh = -1 }, "MinRefresh"},
		{"MaxAge below MinRefresh", func(o *ExternalOptions) { o.MaxAge = time.Second }, "MaxAge 1s is shorter than MinRefresh 1m0s"},
		{"bad file", func(o *ExternalOptions) { o.JWKSFile = filepath.Join("testdata", "external", "oct.jwks.json") }, "JWKSFile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.edit(&o)
			e, err := NewExternal(context.Background(), o)
			if tc.want == "" {
				if err != nil || e == nil {
					t.Fatalf("NewExternal: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// TokenIssuer

func TestTokenIssuer(t *testing.T) {
	k := extKeys()
	valid := extSign(t, jwt.SigningMethodES256, k.ec, "ec1", extClaims())
	tests := []struct {
		name, token, want string
	}{
		{"valid", valid, extTestIssuer},
		{"unsigned is still read", extRaw(`{"alg":"none"}`, `{"iss":"https://x"}`, nil), "https://x"},
		{"empty", "", ""},
		{"garbage", "garbage", ""},
		{"dots only", "..", ""},
		{"two segments", "a.b", ""},
		{"four segments", valid + ".x", ""},
		{"payload not base64", "a.!!!.c", ""},
		{"payload not JSON", "a." + extB64([]byte("iss")) + ".c", ""},
		{"payload array", "a." + extB64([]byte(`["iss"]`)) + ".c", ""},
		{"iss number", "a." + extB64([]byte(`{"iss":5}`)) + ".c", ""},
		{"iss null", "a." + extB64([]byte(`{"iss":null}`)) + ".c", ""},
		{"no iss", "a." + extB64([]byte(`{"sub":"x"}`)) + ".c", ""},
		{"ISS is not iss", "a." + extB64([]byte(`{"ISS":"https://x"}`)) + ".c", ""},
		{"too long", "a." + extB64([]byte(`{"iss":"x","p":"`+strings.Repeat("p", 9000)+`"}`)) + ".c", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := TokenIssuer(tc.token); got != tc.want {
				t.Errorf("TokenIssuer = %q, want %q", got, tc.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Fuzzing

// FuzzExternalVerify feeds arbitrary strings to Verify. It must never panic
// and must only accept tokens whose signature really verifies under one of
// the test keys (checked here independently of golang-jwt).
func FuzzExternalVerify(f *testing.F) {
	k := extKeys()
	dir := f.TempDir()
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, extJWKS(
		extJWK("ec1", &k.ec.PublicKey, nil),
		extJWK("ed1", k.ed.Public(), nil),
	), 0o600); err != nil {
		f.Fatal(err)
	}
	clock := &extClock{t: extT0}
	o := extOptions(clock)
	o.JWKSFile = path
	e, err := NewExternal(context.Background(), o)
	if err != nil {
		f.Fatal(err)
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	f.Add(sign(jwt.SigningMethodEdDSA, k.ed, "ed1", extClaims()))
	f.Add(sign(jwt.SigningMethodES256, k.ec, "ec1", extClaims()))
	f.Add(sign(jwt.SigningMethodES256, k.ecOther, "ec1", extClaims()))
	f.Add(sign(jwt.SigningMethodHS256, []byte("secret"), "ec1", extClaims()))
	f.Add(extRaw(`{"alg":"none"}`, extMarshal(extClaims()), nil))
	f.Add(extRaw(`{"alg":"EdDSA","kid":"ed1"}`, `{"iss":1}`, make([]byte, 64)))
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")

	f.Fuzz(func(t *testing.T, token string) {
		id, err := e.Verify(context.Background(), token)
		if err != nil {
			if id != nil {
				t.Fatal("identity returned with an error")
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if id == nil || id.Username == "" || id.Issuer != extTestIssuer {
			t.Fatalf("accepted with identity %+v", id)
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token with %d segments", len(parts))
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("accepted a token with an undecodable signature")
		}
		msg := []byte(parts[0] + "." + parts[1])
		okEd := ed25519.Verify(k.ed.Public().(ed25519.PublicKey), msg, sig)
		okEC := false
		if len(sig) == 64 {
			h := crypto.SHA256.New()
			h.Write(msg)
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			okEC = ecdsa.Verify(&k.ec.PublicKey, h.Sum(nil), r, s)
		}
		if !okEd && !okEC {
			t.Fatalf("accepted a token not signed by a test key")
		}
	})
}
