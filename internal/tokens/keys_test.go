package tokens

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ownKey loads testdata/<file> under kid or fails the test.
func ownKey(tb testing.TB, kid, file string) *Key {
	tb.Helper()
	k, err := LoadKey(kid, filepath.Join("testdata", file))
	if err != nil {
		tb.Fatalf("LoadKey(%s): %v", file, err)
	}
	return k
}

// ownKeySet builds a KeySet or fails the test.
func ownKeySet(tb testing.TB, keys ...*Key) *KeySet {
	tb.Helper()
	ks, err := NewKeySet(keys...)
	if err != nil {
		tb.Fatalf("NewKeySet: %v", err)
	}
	return ks
}

func TestLoadKey(t *testing.T) {
	tests := []struct {
		name, file, alg string
		pub             func(any) bool
	}{
		{"Ed25519 PKCS8", "ed25519.pem", "EdDSA", func(p any) bool { _, ok := p.(ed25519.PublicKey); return ok }},
		{"P-256 PKCS8", "ec256.pem", "ES256", func(p any) bool { _, ok := p.(*ecdsa.PublicKey); return ok }},
		{"P-256 SEC1", "ec256-sec1.pem", "ES256", func(p any) bool { _, ok := p.(*ecdsa.PublicKey); return ok }},
		{"RSA 2048 PKCS8", "rsa2048.pem", "RS256", func(p any) bool { _, ok := p.(*rsa.PublicKey); return ok }},
		{"RSA 2048 PKCS1", "rsa2048-pkcs1.pem", "RS256", func(p any) bool { _, ok := p.(*rsa.PublicKey); return ok }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKey("k-1", filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatalf("LoadKey: %v", err)
			}
			if k.ID() != "k-1" || k.Alg() != tt.alg || !tt.pub(k.Public()) {
				t.Errorf("got kid %q alg %q public %T; want k-1, %s", k.ID(), k.Alg(), k.Public(), tt.alg)
			}
		})
	}
	// The same key in both encodings is the same key.
	a, b := ownKey(t, "a", "ec256.pem"), ownKey(t, "b", "ec256-sec1.pem")
	if !a.Public().(*ecdsa.PublicKey).Equal(b.Public()) {
		t.Error("ec256.pem and ec256-sec1.pem differ")
	}
	a, b = ownKey(t, "a", "rsa2048.pem"), ownKey(t, "b", "rsa2048-pkcs1.pem")
	if !a.Public().(*rsa.PublicKey).Equal(b.Public()) {
		t.Error("rsa2048.pem and rsa2048-pkcs1.pem differ")
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, parts ...string) string {
		var buf []byte
		for _, p := range parts {
			data, err := os.ReadFile(filepath.Join("testdata", p))
			if err != nil {
				t.Fatal(err)
			}
			buf = append(buf, data...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	twoKeys := write("two.pem", "ed25519.pem", "ec256.pem")
	keyAndCert := write("keycert.pem", "cert.pem", "ec256.pem")
	empty := write("empty.pem")
	td := func(f string) string { return filepath.Join("testdata", f) }

	tests := []struct {
		name, kid, path, want string
	}{
		{"EC P-384", "k", td("ec384.pem"), "testdata/ec384.pem: EC key on P-384; want P-256 (ES256)"},
		{"RSA 1024", "k", td("rsa1024.pem"), "testdata/rsa1024.pem: RSA key of 1024 bits; want at least 2048"},
		{"garbage", "k", td("garbage.pem"), "testdata/garbage.pem: no PEM block"},
		{"empty file", "k", empty, empty + ": no PEM block"},
		{"public key only", "k", td("public-only.pem"), "testdata/public-only.pem: a public key; want the private key"},
		{"certificate", "k", td("cert.pem"), "testdata/cert.pem: a certificate (a public key); want the private key"},
		{"encrypted PKCS8", "k", td("encrypted.pem"), "testdata/encrypted.pem: encrypted PEM is not supported"},
		{"encrypted legacy PEM", "k", td("encrypted-legacy.pem"), "testdata/encrypted-legacy.pem: encrypted PEM is not supported"},
		{"corrupt DER", "k", td("corrupt-der.pem"), "testdata/corrupt-der.pem: PRIVATE KEY block is not a valid PKCS #8 key"},
		{"two keys", "k", twoKeys, twoKeys + ": more than one PEM block; want only the private key"},
		{"certificate then key", "k", keyAndCert, keyAndCert + ": more than one PEM block; want only the private key"},
		{"missing file", "k", td("nope.pem"), "testdata/nope.pem: cannot read: no such file or directory"},
		{"empty kid", "", td("ed25519.pem"), `testdata/ed25519.pem: key id "": want 1 to 64 printable ASCII characters without spaces or quotes`},
		{"kid with space", "a b", td("ed25519.pem"), `testdata/ed25519.pem: key id "a b": want 1 to 64 printable ASCII characters without spaces or quotes`},
		{"kid with quote", `a"b`, td("ed25519.pem"), `testdata/ed25519.pem: key id "a\"b": want 1 to 64 printable ASCII characters without spaces or quotes`},
		{"kid not ASCII", "clé", td("ed25519.pem"), `testdata/ed25519.pem: key id "clé": want 1 to 64 printable ASCII characters without spaces or quotes`},
		{"kid too long", strings.Repeat("k", 65), td("ed25519.pem"), `testdata/ed25519.pem: key id "` + strings.Repeat("k", 65) + `": want 1 to 64 printable ASCII characters without spaces or quotes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKey(tt.kid, tt.path)
			if err == nil {
				t.Fatalf("LoadKey = %v, nil; want error %q", k, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("LoadKey error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
	if _, err := LoadKey(strings.Repeat("k", 64), td("ed25519.pem")); err != nil {
		t.Errorf("64-character kid: %v", err)
	}
}

func TestNewKey(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if k, err := NewKey("ed", ed); err != nil || k.Alg() != "EdDSA" {
		t.Errorf("NewKey(Ed25519) = %v, %v", k, err)
	}
	if _, err := NewKey("ec", p384); err == nil || err.Error() != "EC key on P-384; want P-256 (ES256)" {
		t.Errorf("NewKey(P-384) error = %v", err)
	}
	if _, err := NewKey("", ed); err == nil {
		t.Error("NewKey with empty kid: no error")
	}
}

func TestNewKeySet(t *testing.T) {
	ed, ec := ownKey(t, "a", "ed25519.pem"), ownKey(t, "b", "ec256.pem")
	ecSameKID := ownKey(t, "a", "ec256.pem")
	tests := []struct {
		name string
		keys []*Key
		want string // error substring; "" = success
	}{
		{"one key", []*Key{ed}, ""},
		{"two keys", []*Key{ed, ec}, ""},
		{"no keys", nil, "no keys"},
		{"nil key", []*Key{ed, nil}, "key 1 is nil"},
		{"duplicate kid", []*Key{ed, ecSameKID}, `key id "a" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := NewKeySet(tt.keys...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewKeySet: %v", err)
				}
				if ks.Signer() != tt.keys[0] {
					t.Error("Signer is not the first key")
				}
				for _, k := range tt.keys {
					if got, ok := ks.Lookup(k.ID()); !ok || got != k {
						t.Errorf("Lookup(%q) = %v, %v", k.ID(), got, ok)
					}
				}
				if _, ok := ks.Lookup("nope"); ok {
					t.Error("Lookup(nope) found a key")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewKeySet error = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	ed, ec, rs := ownKey(t, "ed-1", "ed25519.pem"), ownKey(t, "ec-1", "ec256.pem"), ownKey(t, "rs-1", "rsa2048.pem")
	ks := ownKeySet(t, ec, ed, rs)
	raw := ks.JWKS()

	if again := ownKeySet(t, ec, ed, rs).JWKS(); !bytes.Equal(raw, again) {
		t.Errorf("JWKS not deterministic:\n%s\n%s", raw, again)
	}
	raw[0] = 'X' // callers get their own copy
	if ks.JWKS()[0] != '{' {
		t.Fatal("JWKS returns the shared buffer")
	}
	raw = ks.JWKS()
	if bytes.Contains(raw, []byte("=")) || bytes.Contains(raw, []byte("\n")) {
		t.Errorf("JWKS contains padding or newlines: %s", raw)
	}

	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, raw)
	}
	if len(doc.Keys) != 3 {
		t.Fatalf("JWKS has %d keys; want 3", len(doc.Keys))
	}
	dec := func(s string) []byte {
		t.Helper()
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			t.Fatalf("not base64url without padding: %q", s)
		}
		return b
	}
	for i, want := range []*Key{ec, ed, rs} {
		j := doc.Keys[i]
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := j[private]; ok {
				t.Errorf("key %d: private member %q published", i, private)
			}
		}
		if j["kid"] != want.ID() || j["alg"] != want.Alg() || j["use"] != "sig" {
			t.Errorf("key %d: kid %q alg %q use %q; want %s %s sig", i, j["kid"], j["alg"], j["use"], want.ID(), want.Alg())
		}
		switch pub := want.Public().(type) {
		case ed25519.PublicKey:
			if j["kty"] != "OKP" || j["crv"] != "Ed25519" || !bytes.Equal(dec(j["x"]), pub) || len(j) != 6 {
				t.Errorf("Ed25519 JWK = %v", j)
			}
		case *ecdsa.PublicKey:
			point, _ := pub.Bytes()
			x, y := dec(j["x"]), dec(j["y"])
			if j["kty"] != "EC" || j["crv"] != "P-256" || !bytes.Equal(x, point[1:33]) || !bytes.Equal(y, point[33:]) || len(j) != 7 {
				t.Errorf("EC JWK = %v", j)
			}
		case *rsa.PublicKey:
			n, e := dec(j["n"]), dec(j["e"])
			if j["kty"] != "RSA" || new(big.Int).SetBytes(n).Cmp(pub.N) != 0 || new(big.Int).SetBytes(e).Int64() != int64(pub.E) || len(j) != 6 {
				t.Errorf("RSA JWK = %v", j)
			}
			if j["e"] != "AQAB" {
				t.Errorf("RSA e = %q; want AQAB", j["e"])
			}
		}
	}
	if !strings.HasPrefix(string(raw), `{"keys":[{"kty":"EC","crv":"P-256","x":"`) {
		t.Errorf("JWKS member order: %s", raw)
	}
}

// An EC coordinate with leading zero bytes is still published as 32 bytes.
func TestJWKSFixedWidthEC(t *testing.T) {
	for i := 0; i < 20000; i++ {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, _ := priv.PublicKey.Bytes()
		if point[1] != 0 && point[33] != 0 {
			continue
		}
		k, err := NewKey("short", priv)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Keys []map[string]string `json:"keys"`
		}
		if err := json.Unmarshal(ownKeySet(t, k).JWKS(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"x", "y"} {
			if b, _ := base64.RawURLEncoding.DecodeString(doc.Keys[0][c]); len(b) != 32 {
				t.Errorf("%s is %d bytes; want 32", c, len(b))
			}
		}
		return
	}
	t.Skip("no key with a short coordinate found")
}
