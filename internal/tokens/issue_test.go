package tokens

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/djangate/gateway/internal/profile"
)

const (
	ownIss = "https://gw.example.com/_gateway"
	ownAud = "djangate"
)

// ownT0 is the tests' fixed clock.
var ownT0 = time.Unix(1_800_000_000, 0)

// ownIssuer returns an Issuer over keys (the first signs) at a clock the
// test controls through *now.
func ownIssuer(tb testing.TB, now *time.Time, keys ...*Key) *Issuer {
	tb.Helper()
	i, err := NewIssuer(IssuerOptions{
		Keys: ownKeySet(tb, keys...), Issuer: ownIss, Audience: ownAud,
		AccessTTL: 5 * time.Minute, Leeway: 30 * time.Second,
		Now: func() time.Time { return *now },
	})
	if err != nil {
		tb.Fatalf("NewIssuer: %v", err)
	}
	return i
}

// ownKeys are the three test keys under the kids "ed", "ec", "rs".
func ownKeys(tb testing.TB) (ed, ec, rs *Key) {
	return ownKey(tb, "ed", "ed25519.pem"), ownKey(tb, "ec", "ec256.pem"), ownKey(tb, "rs", "rsa2048.pem")
}

// craft builds header.payload.signature from JSON-able header and claims,
// signing the signing input with sign (nil: empty signature).
func craft(t *testing.T, header, claims any, sign func(input string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign(input)
	}
	return input + "." + enc.EncodeToString(sig)
}

// signWith signs with k's own method.
func signWith(t *testing.T, k *Key) func(string) []byte {
	return func(input string) []byte {
		sig, err := k.method.Sign(input, k.priv)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// hs256 signs with HMAC-SHA256 under secret.
func hs256(secret []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// goodClaims are valid access-token claims at ownT0.
func goodClaims() map[string]any {
	return map[string]any{
		"iss": ownIss, "sub": "42", "aud": []string{ownAud},
		"exp": ownT0.Add(5 * time.Minute).Unix(), "nbf": ownT0.Unix(), "iat": ownT0.Unix(),
		"jti": "AAAAAAAAAAAAAAAAAAAAAA", "username": "alice", "fam": "BBBBBBBBBBBBBBBBBBBBBB", "abd": "x",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func hdr(alg, kid, typ string) map[string]any {
	h := map[string]any{"alg": alg}
	if kid != "" {
		h["kid"] = kid
	}
	if typ != "" {
		h["typ"] = typ
	}
	return h
}

func segment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewIssuerOptions(t *testing.T) {
	ks := ownKeySet(t, ownKey(t, "ed", "ed25519.pem"))
	good := IssuerOptions{Keys: ks, Issuer: ownIss, Audience: ownAud, AccessTTL: time.Minute}
	tests := []struct {
		name string
		mod  func(*IssuerOptions)
		want string
	}{
		{"valid", func(*IssuerOptions) {}, ""},
		{"no keys", func(o *IssuerOptions) { o.Keys = nil }, "no keys"},
		{"no issuer", func(o *IssuerOptions) { o.Issuer = "" }, "empty issuer"},
		{"no audience", func(o *IssuerOptions) { o.Audience = "" }, "empty audience"},
		{"zero ttl", func(o *IssuerOptions) { o.AccessTTL = 0 }, "lifetime must be positive"},
		{"negative leeway", func(o *IssuerOptions) { o.Leeway = -time.Second }, "leeway must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mod(&o)
			_, err := NewIssuer(o)
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewIssuer error = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestAccessRoundTrip(t *testing.T) {
	ed, ec, rs := ownKeys(t)
	for _, signer := range []*Key{ed, ec, rs} {
		t.Run(signer.Alg(), func(t *testing.T) {
			now := ownT0
			others := slices.DeleteFunc([]*Key{ed, ec, rs}, func(k *Key) bool { return k == signer })
			iss := ownIssuer(t, &now, append([]*Key{signer}, others...)...)
			tok, c, err := iss.Access(42, "alice", "fam-1", "bind")
			if err != nil {
				t.Fatalf("Access: %v", err)
			}
			h := segment(t, tok, 0)
			if h["typ"] != "at+jwt" || h["kid"] != signer.ID() || h["alg"] != signer.Alg() || len(h) != 3 {
				t.Errorf("header = %v", h)
			}
			p := segment(t, tok, 1)
			if p["sub"] != "42" || p["iss"] != ownIss || p["fam"] != "fam-1" || p["abd"] != "bind" || p["username"] != "alice" {
				t.Errorf("payload = %v", p)
			}
			if p["exp"].(float64)-p["iat"].(float64) != 300 || p["nbf"] != p["iat"] {
				t.Errorf("times: %v", p)
			}
			if jti, _ := p["jti"].(string); len(jti) != 22 {
				t.Errorf("jti %q: want 128 bits base64url", jti)
			}
			now = now.Add(4 * time.Minute)
			got, err := iss.VerifyAccess(tok)
			if err != nil {
				t.Fatalf("VerifyAccess: %v", err)
			}
			if got.Subject != "42" || got.UserID() != 42 || got.ID != c.ID || got.Family != "fam-1" || got.AuthBind != "bind" ||
				got.Username != "alice" || !got.ExpiresAt.Equal(c.ExpiresAt.Time) || !slices.Equal(got.Audience, []string{ownAud}) {
				t.Errorf("claims = %+v; want %+v", got, c)
			}
			_, c2, _ := iss.Access(42, "alice", "fam-1", "bind")
			if c2.ID == c.ID {
				t.Error("two tokens share a jti")
			}
		})
	}
}

func TestAccessArguments(t *testing.T) {
	now := ownT0
	iss := ownIssuer(t, &now, ownKey(t, "ed", "ed25519.pem"))
	if _, _, err := iss.Access(0, "alice", "f", "b"); err == nil {
		t.Error("Access(user 0): no error")
	}
	if _, _, err := iss.Access(1, "alice", "", "b"); err == nil {
		t.Error("Access(no family): no error")
	}
}

func TestVerifyAccessRejects(t *testing.T) {
	ed, ec, rs := ownKeys(t)
	now := ownT0
	iss := ownIssuer(t, &now, ed, ec, rs)
	otherEd := ownKey(t, "ed", "ed25519b.pem") // same kid, another key

	rsaPub, _ := x509.MarshalPKIXPublicKey(rs.Public())
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	edPubDER, _ := x509.MarshalPKIXPublicKey(ed.Public())
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edPubDER})
	edRaw := []byte(ed.Public().(ed25519.PublicKey))

	valid := craft(t, hdr("EdDSA", "ed", "at+jwt"), goodClaims(), signWith(t, ed))
	if _, err := iss.VerifyAccess(valid); err != nil {
		t.Fatalf("hand-crafted valid token: %v", err)
	}
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, with(goodClaims(), "sub", "1"))) + "." + parts[2]

	tests := []struct {
		name, tok, reason string
		at                time.Time // zero: ownT0
	}{
		{"alg none", craft(t, hdr("none", "ed", "at+jwt"), goodClaims(), nil), "alg not accepted", time.Time{}},
		{"alg none no kid", craft(t, hdr("none", "", "at+jwt"), goodClaims(), nil), "alg not accepted", time.Time{}},
		{"HS256 with RSA public key PEM", craft(t, hdr("HS256", "rs", "at+jwt"), goodClaims(), hs256(rsaPEM)), "alg not accepted", time.Time{}},
		{"HS256 with RSA public key DER", craft(t, hdr("HS256", "rs", "at+jwt"), goodClaims(), hs256(rsaPub)), "alg not accepted", time.Time{}},
		{"HS256 with Ed25519 public key PEM", craft(t, hdr("HS256", "ed", "at+jwt"), goodClaims(), hs256(edPEM)), "alg not accepted", time.Time{}},
		{"HS256 with Ed25519 public key raw", craft(t, hdr("HS256", "ed", "at+jwt"), goodClaims(), hs256(edRaw)), "alg not accepted", time.Time{}},
		{"RS256 claiming the Ed25519 kid", craft(t, hdr("RS256", "ed", "at+jwt"), goodClaims(), signWith(t, rs)), "alg does not match the key", time.Time{}},
		{"ES256 claiming the Ed25519 kid", craft(t, hdr("ES256", "ed", "at+jwt"), goodClaims(), signWith(t, ec)), "alg does not match the key", time.Time{}},
		{"EdDSA claiming the ES256 kid", craft(t, hdr("EdDSA", "ec", "at+jwt"), goodClaims(), signWith(t, ed)), "alg does not match the key", time.Time{}},
		{"RS256 claiming the ES256 kid", craft(t, hdr("RS256", "ec", "at+jwt"), goodClaims(), signWith(t, rs)), "alg does not match the key", time.Time{}},
		{"ES256 claiming the RS256 kid", craft(t, hdr("ES256", "rs", "at+jwt"), goodClaims(), signWith(t, ec)), "alg does not match the key", time.Time{}},
		{"PS256 with the RSA key", craft(t, hdr("PS256", "rs", "at+jwt"), goodClaims(), func(in string) []byte {
			sig, _ := jwt.SigningMethodPS256.Sign(in, rs.priv)
			return sig
		}), "alg not accepted", time.Time{}},
		{"unknown alg", craft(t, hdr("XS999", "ed", "at+jwt"), goodClaims(), signWith(t, ed)), "alg not accepted", time.Time{}},
		{"unknown kid", craft(t, hdr("EdDSA", "nope", "at+jwt"), goodClaims(), signWith(t, ed)), "unknown kid", time.Time{}},
		{"missing kid", craft(t, hdr("EdDSA", "", "at+jwt"), goodClaims(), signWith(t, ed)), "missing kid header", time.Time{}},
		{"kid not a string", craft(t, map[string]any{"alg": "EdDSA", "kid": 1, "typ": "at+jwt"}, goodClaims(), signWith(t, ed)), "missing kid header", time.Time{}},
		{"signed by another key under a known kid", craft(t, hdr("EdDSA", "ed", "at+jwt"), goodClaims(), signWith(t, otherEd)), "bad signature", time.Time{}},
		{"tampered payload", tampered, "bad signature", time.Time{}},
		{"truncated signature", valid[:len(valid)-4], "malformed", time.Time{}},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", "2"), signWith(t, ed)), ".")[2], "bad signature", time.Time{}},
		{"wrong typ", craft(t, hdr("EdDSA", "ed", "JWT"), goodClaims(), signWith(t, ed)), "wrong typ header", time.Time{}},
		{"missing typ", craft(t, hdr("EdDSA", "ed", ""), goodClaims(), signWith(t, ed)), "wrong typ header", time.Time{}},
		{"crit header", craft(t, map[string]any{"alg": "EdDSA", "kid": "ed", "typ": "at+jwt", "crit": []string{"exp"}}, goodClaims(), signWith(t, ed)), "unsupported crit header", time.Time{}},
		{"wrong iss", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "iss", "https://evil.example"), signWith(t, ed)), "wrong iss", time.Time{}},
		{"missing iss", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "iss", nil), signWith(t, ed)), "missing required claim", time.Time{}},
		{"wrong aud", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "aud", "other"), signWith(t, ed)), "wrong aud", time.Time{}},
		{"missing aud", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "aud", nil), signWith(t, ed)), "missing required claim", time.Time{}},
		{"expired beyond leeway", valid, "expired", ownT0.Add(5*time.Minute + 31*time.Second)},
		{"nbf in the future", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "nbf", ownT0.Add(time.Minute).Unix()), signWith(t, ed)), "not valid yet (nbf)", time.Time{}},
		{"iat in the future", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "iat", ownT0.Add(time.Minute).Unix()), signWith(t, ed)), "issued in the future (iat)", time.Time{}},
		{"missing exp", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "exp", nil), signWith(t, ed)), "missing required claim", time.Time{}},
		{"missing iat", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "iat", nil), signWith(t, ed)), "missing iat", time.Time{}},
		{"exp not a number", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "exp", "soon"), signWith(t, ed)), "malformed", time.Time{}},
		{"sub not numeric", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", "alice"), signWith(t, ed)), "sub is not a user id", time.Time{}},
		{"sub zero", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", "0"), signWith(t, ed)), "sub is not a user id", time.Time{}},
		{"sub negative", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", "-42"), signWith(t, ed)), "sub is not a user id", time.Time{}},
		{"sub leading zero", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", "042"), signWith(t, ed)), "sub is not a user id", time.Time{}},
		{"sub overflows int64", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", "9223372036854775808"), signWith(t, ed)), "sub is not a user id", time.Time{}},
		{"sub a JSON number", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", 42), signWith(t, ed)), "malformed", time.Time{}},
		{"missing sub", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "sub", nil), signWith(t, ed)), "sub is not a user id", time.Time{}},
		{"missing jti", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "jti", nil), signWith(t, ed)), "missing jti", time.Time{}},
		{"missing fam", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "fam", nil), signWith(t, ed)), "missing fam", time.Time{}},
		{"oversize", craft(t, hdr("EdDSA", "ed", "at+jwt"), with(goodClaims(), "username", strings.Repeat("a", MaxAccessTokenLen)), signWith(t, ed)), "too long", time.Time{}},
		{"empty", "", "empty", time.Time{}},
		{"two segments", parts[0] + "." + parts[1], "malformed", time.Time{}},
		{"four segments", valid + ".x", "malformed", time.Time{}},
		{"header not base64", "%%%." + parts[1] + "." + parts[2], "malformed", time.Time{}},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], "malformed", time.Time{}},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2], "malformed", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = ownT0
			if !tt.at.IsZero() {
				now = tt.at
			}
			c, err := iss.VerifyAccess(tt.tok)
			if err == nil {
				t.Fatalf("VerifyAccess = %+v, nil; want %q", c, tt.reason)
			}
			if !errors.Is(err, ErrInvalidToken) || c != nil {
				t.Errorf("VerifyAccess error %v does not wrap ErrInvalidToken (claims %v)", err, c)
			}
			if want := "invalid token: " + tt.reason; err.Error() != want {
				t.Errorf("error %q; want %q", err, want)
			}
			for _, p := range strings.Split(tt.tok, ".") {
				if len(p) > 8 && strings.Contains(err.Error(), p) {
					t.Errorf("error %q contains token text", err)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAccessLeeway(t *testing.T) {
	ed := ownKey(t, "ed", "ed25519.pem")
	now := ownT0
	iss := ownIssuer(t, &now, ed)
	tok, _, err := iss.Access(7, "bob", "fam", "b")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"just issued", ownT0, true},
		{"exp within leeway", ownT0.Add(5*time.Minute + 29*time.Second), true},
		{"exp beyond leeway", ownT0.Add(5*time.Minute + 30*time.Second), false},
		{"nbf and iat within leeway (clock behind)", ownT0.Add(-29 * time.Second), true},
		{"nbf and iat beyond leeway (clock behind)", ownT0.Add(-31 * time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = tt.at
			_, err := iss.VerifyAccess(tok)
			if (err == nil) != tt.ok {
				t.Errorf("VerifyAccess at %s: %v; want ok=%v", tt.at.Sub(ownT0), err, tt.ok)
			}
		})
	}
	// application/at+jwt is the same type (RFC 9068, section 4).
	now = ownT0
	app := craft(t, hdr("EdDSA", "ed", "application/at+jwt"), with(goodClaims()), signWith(t, ed))
	if _, err := iss.VerifyAccess(app); err != nil {
		t.Errorf("typ application/at+jwt: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	old, next := ownKey(t, "2025", "ed25519.pem"), ownKey(t, "2026", "ed25519b.pem")
	now := ownT0
	before := ownIssuer(t, &now, old)
	oldTok, _, err := before.Access(1, "a", "f", "b")
	if err != nil {
		t.Fatal(err)
	}
	during := ownIssuer(t, &now, next, old)
	if _, err := during.VerifyAccess(oldTok); err != nil {
		t.Errorf("token of the old key while it is listed: %v", err)
	}
	newTok, _, err := during.Access(1, "a", "f", "b")
	if err != nil {
		t.Fatal(err)
	}
	if h := segment(t, newTok, 0); h["kid"] != "2026" || h["alg"] != "EdDSA" {
		t.Errorf("new token header = %v; want the new key", h)
	}
	if _, err := before.VerifyAccess(newTok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("old issuer accepts the new key's token: %v", err)
	}
	after := ownIssuer(t, &now, next)
	if _, err := after.VerifyAccess(oldTok); err == nil || err.Error() != "invalid token: unknown kid" {
		t.Errorf("token of the removed key: %v; want unknown kid", err)
	}
	if _, err := after.VerifyAccess(newTok); err != nil {
		t.Errorf("new token after rotation: %v", err)
	}
	// Rotating to another algorithm: once the old key is gone, so is its alg.
	ecOnly := ownIssuer(t, &now, ownKey(t, "2027", "ec256.pem"))
	if _, err := ecOnly.VerifyAccess(oldTok); err == nil || err.Error() != "invalid token: alg not accepted" {
		t.Errorf("EdDSA token after rotating to ES256: %v; want alg not accepted", err)
	}
}

func TestAssert(t *testing.T) {
	ed, ec, rs := ownKeys(t)
	for _, k := range []*Key{ed, ec, rs} {
		t.Run(k.Alg(), func(t *testing.T) {
			now := ownT0
			iss := ownIssuer(t, &now, k)
			tests := []struct {
				name string
				a    Assertion
				want map[string]any
			}{
				{"session", Assertion{UserID: 42, Username: "alice", Email: "a@example.com", Groups: []string{"editors", "staff"},
					IsStaff: true, SessionHash: "ab12", Backend: "session", Audience: "blog"},
					map[string]any{"sub": "42", "aud": "blog", "username": "alice", "email": "a@example.com",
						"groups": []any{"editors", "staff"}, "is_staff": true, "is_superuser": false, "sid": "ab12", "backend": "session"}},
				{"bearer without groups", Assertion{UserID: 7, Username: "bot", IsSuperuser: true, Backend: "bearer", Audience: "shop"},
					map[string]any{"sub": "7", "aud": "shop", "username": "bot", "email": "",
						"groups": []any{}, "is_staff": false, "is_superuser": true, "backend": "bearer"}},
				{"with a profile", Assertion{UserID: 9, Username: "pat", Backend: "session", Audience: "blog", Profile: profile.Values{
					"department": "sales", "level": int64(3), "contractor": false, "tags": []string{"a", "b"},
					"hired": time.Date(2021, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)),
				}},
					map[string]any{"sub": "9", "aud": "blog", "username": "pat", "email": "",
						"groups": []any{}, "is_staff": false, "is_superuser": false, "backend": "session",
						"profile": map[string]any{"department": "sales", "level": 3, "contractor": false,
							"tags": []any{"a", "b"}, "hired": "2021-03-04T04:06:07Z"}}},
				{"an empty profile is no claim", Assertion{UserID: 9, Username: "pat", Backend: "session", Audience: "blog", Profile: profile.Values{}},
					map[string]any{"sub": "9", "aud": "blog", "username": "pat", "email": "",
						"groups": []any{}, "is_staff": false, "is_superuser": false, "backend": "session"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tok, err := iss.Assert(tt.a, time.Minute)
					if err != nil {
						t.Fatalf("Assert: %v", err)
					}
					h := segment(t, tok, 0)
					if h["typ"] != "JWT" || h["kid"] != k.ID() || h["alg"] != k.Alg() {
						t.Errorf("header = %v", h)
					}
					// An upstream verifies it with the published key.
					parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return k.Public(), nil },
						jwt.WithValidMethods([]string{k.Alg()}), jwt.WithAudience(tt.a.Audience), jwt.WithIssuer(ownIss),
						jwt.WithTimeFunc(func() time.Time { return ownT0 }))
					if err != nil || !parsed.Valid {
						t.Fatalf("upstream verification: %v", err)
					}
					p := segment(t, tok, 1)
					iat := float64(ownT0.Unix())
					want := with(tt.want, "iss", ownIss, "iat", iat, "nbf", iat, "exp", iat+60, "jti", p["jti"])
					if len(p) != len(want) {
						t.Errorf("claims %v; want %v", p, want)
					}
					for name, w := range want {
						if got, _ := json.Marshal(p[name]); string(got) != string(mustJSON(t, w)) {
							t.Errorf("%s = %s; want %s", name, got, mustJSON(t, w))
						}
					}
					if jti, _ := p["jti"].(string); len(jti) != 22 {
						t.Errorf("jti %q", jti)
					}
					// Not an access token.
					if _, err := iss.VerifyAccess(tok); !errors.Is(err, ErrInvalidToken) {
						t.Errorf("assertion accepted as access token: %v", err)
					}
				})
			}
		})
	}
	now := ownT0
	iss := ownIssuer(t, &now, ed)
	for name, a := range map[string]Assertion{
		"no user":     {Audience: "blog"},
		"no audience": {UserID: 1},
	} {
		if _, err := iss.Assert(a, time.Minute); err == nil {
			t.Errorf("Assert(%s): no error", name)
		}
	}
	if _, err := iss.Assert(Assertion{UserID: 1, Audience: "blog"}, 0); err == nil {
		t.Error("Assert(ttl 0): no error")
	}
}

func TestAuthBinding(t *testing.T) {
	key := []byte("binding key")
	want := func(k []byte, msg string) string {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(msg))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
	}
	got := AuthBinding(key, 42, "secret")
	if w := want(key, "gateway token binding v1\x0042\x00secret"); got != w {
		t.Errorf("AuthBinding = %q; want %q", got, w)
	}
	if len(got) != 22 {
		t.Errorf("len %d; want 22", len(got))
	}
	others := []string{
		AuthBinding(key, 43, "secret"),
		AuthBinding(key, 42, "secret2"),
		AuthBinding([]byte("other key"), 42, "secret"),
		AuthBinding(key, 4, "2secret"), // the separator keeps id and secret apart
		AuthBinding(key, 42, ""),
	}
	for i, o := range others {
		if hmac.Equal([]byte(o), []byte(got)) {
			t.Errorf("binding %d equals the original", i)
		}
	}
	if AuthBinding(key, 42, "secret") != got {
		t.Error("AuthBinding is not deterministic")
	}
}
