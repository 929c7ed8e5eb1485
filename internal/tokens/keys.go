package tokens

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// JWS algorithms of the gateway's signing keys. The algorithm of a key
// follows from its type; it is never taken from a token.
const (
	algEdDSA = "EdDSA"
	algES256 = "ES256"
	algRS256 = "RS256"
)

// minRSABits is the smallest RSA modulus LoadKey accepts.
const minRSABits = 2048

// maxKIDLen bounds a key id.
const maxKIDLen = 64

// Key is one signing key: a private key, its public half, its key id and
// the JWS algorithm that follows from its type.
type Key struct {
	kid    string
	alg    string
	priv   crypto.Signer
	pub    crypto.PublicKey
	method jwt.SigningMethod
	jwk    keyJWK
}

// ID is the key id ("kid"), as in token headers and the JWKS.
func (k *Key) ID() string { return k.kid }

// Alg is the JWS algorithm: "EdDSA", "ES256" or "RS256".
func (k *Key) Alg() string { return k.alg }

// Public is the public key: ed25519.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// validKID reports whether kid is 1 to 64 printable ASCII characters
// without spaces, quotes or backslashes.
func validKID(kid string) bool {
	if kid == "" || len(kid) > maxKIDLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		if c <= ' ' || c > '~' || c == '"' || c == '\'' || c == '\\' {
			return false
		}
	}
	return true
}

func checkKID(kid string) error {
	if !validKID(kid) {
		return fmt.Errorf("key id %q: want 1 to %d printable ASCII characters without spaces or quotes", kid, maxKIDLen)
	}
	return nil
}

// LoadKey reads a PEM private key: Ed25519 (PKCS #8), ECDSA on P-256
// (PKCS #8 or SEC 1 "EC PRIVATE KEY") or RSA of at least 2048 bits
// (PKCS #1 or PKCS #8), giving EdDSA, ES256 or RS256 tokens. The file
// must hold exactly one PEM block. Errors name the file and the problem;
// they never contain key material.
func LoadKey(kid, path string) (*Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: cannot read: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("%s: cannot read: %w", path, err)
	}
	priv, err := parsePrivatePEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, err := newKey(kid, priv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// NewKey wraps a private key held in memory (ed25519.PrivateKey,
// *ecdsa.PrivateKey on P-256, *rsa.PrivateKey of at least 2048 bits),
// with the same checks as LoadKey.
func NewKey(kid string, priv crypto.Signer) (*Key, error) {
	if err := checkKID(kid); err != nil {
		return nil, err
	}
	return newKey(kid, priv)
}

// parsePrivatePEM decodes the one PEM block of data as a private key.
func parsePrivatePEM(data []byte) (any, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block; want only the private key")
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, errors.New("encrypted PEM is not supported")
	}
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted PEM is not supported")
	case "PUBLIC KEY", "RSA PUBLIC KEY", "EC PUBLIC KEY":
		return nil, errors.New("a public key; want the private key")
	case "CERTIFICATE":
		return nil, errors.New("a certificate (a public key); want the private key")
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PRIVATE KEY block is not a valid PKCS #8 key")
		}
		return k, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("EC PRIVATE KEY block is not a valid SEC 1 key on a supported curve")
		}
		return k, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("RSA PRIVATE KEY block is not a valid PKCS #1 key")
		}
		return k, nil
	default:
		return nil, fmt.Errorf("PEM block of type %q; want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
}

// newKey checks priv and derives the algorithm and the JWK.
func newKey(kid string, priv any) (*Key, error) {
	k := &Key{kid: kid}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return nil, errors.New("malformed Ed25519 key")
		}
		pub := p.Public().(ed25519.PublicKey)
		k.alg, k.priv, k.pub, k.method = algEdDSA, p, pub, jwt.SigningMethodEdDSA
		k.jwk = keyJWK{Kty: "OKP", Crv: "Ed25519", X: keyB64(pub)}
	case *ed25519.PrivateKey:
		if p == nil {
			return nil, errors.New("no key")
		}
		return newKey(kid, *p)
	case *ecdsa.PrivateKey:
		if p == nil {
			return nil, errors.New("no key")
		}
		if p.Curve != elliptic.P256() {
			name := "an unknown curve"
			if p.Curve != nil && p.Curve.Params() != nil {
				name = p.Curve.Params().Name
			}
			return nil, fmt.Errorf("EC key on %s; want P-256 (ES256)", name)
		}
		point, err := p.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
		if err != nil || len(point) != 65 {
			return nil, errors.New("malformed EC key")
		}
		k.alg, k.priv, k.pub, k.method = algES256, p, &p.PublicKey, jwt.SigningMethodES256
		k.jwk = keyJWK{Kty: "EC", Crv: "P-256", X: keyB64(point[1:33]), Y: keyB64(point[33:])}
	case *rsa.PrivateKey:
		if p == nil || p.N == nil {
			return nil, errors.New("no key")
		}
		if bits := p.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits; want at least %d", bits, minRSABits)
		}
		if err := p.Validate(); err != nil {
			return nil, errors.New("RSA key fails validation")
		}
		k.alg, k.priv, k.pub, k.method = algRS256, p, &p.PublicKey, jwt.SigningMethodRS256
		k.jwk = keyJWK{Kty: "RSA", N: keyB64(p.N.Bytes()), E: keyB64(big.NewInt(int64(p.E)).Bytes())}
	default:
		return nil, fmt.Errorf("unsupported key type %T; want Ed25519, ECDSA P-256 or RSA", priv)
	}
	k.jwk.Kid, k.jwk.Alg, k.jwk.Use = k.kid, k.alg, "sig"
	return k, nil
}

func keyB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// keyJWK is the public JSON Web Key of a Key (RFC 7517, 7518, 8037), in the
// member order it is published.
type keyJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// KeySet is the gateway's signing keys: the first signs, all verify.
// To rotate, list the new key first and keep the old one listed until
// every token it signed has expired.
type KeySet struct {
	keys  []*Key
	byKID map[string]*Key
	jwks  []byte
}

// NewKeySet returns the set of keys, which must be at least one, with
// unique key ids. The first key signs.
func NewKeySet(keys ...*Key) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("key set: no keys; want at least one signing key")
	}
	ks := &KeySet{keys: make([]*Key, 0, len(keys)), byKID: make(map[string]*Key, len(keys))}
	doc := struct {
		Keys []keyJWK `json:"keys"`
	}{Keys: make([]keyJWK, 0, len(keys))}
	for i, k := range keys {
		if k == nil || k.priv == nil {
			return nil, fmt.Errorf("key set: key %d is nil", i)
		}
		if _, dup := ks.byKID[k.kid]; dup {
			return nil, fmt.Errorf("key set: key id %q is listed twice", k.kid)
		}
		ks.keys = append(ks.keys, k)
		ks.byKID[k.kid] = k
		doc.Keys = append(doc.Keys, k.jwk)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("key set: encode JWKS: %w", err)
	}
	ks.jwks = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return ks, nil
}

// Signer is the key that signs new tokens: the first listed.
func (ks *KeySet) Signer() *Key { return ks.keys[0] }

// Keys returns the keys in listed order.
func (ks *KeySet) Keys() []*Key { return append([]*Key(nil), ks.keys...) }

// Lookup returns the key with that id.
func (ks *KeySet) Lookup(kid string) (*Key, bool) {
	k, ok := ks.byKID[kid]
	return k, ok
}

// JWKS is the RFC 7517 JSON Web Key Set of the public keys, in listed
// order: {"keys":[{"kty":..., "kid":..., "alg":..., "use":"sig"}, ...]}.
// The bytes are computed once and are the same on every call; the caller
// gets its own copy.
func (ks *KeySet) JWKS() []byte { return bytes.Clone(ks.jwks) }

// algs are the algorithms of the keys in the set, without duplicates.
func (ks *KeySet) algs() []string {
	var out []string
	for _, k := range ks.keys {
		seen := false
		for _, a := range out {
			seen = seen || a == k.alg
		}
		if !seen {
			out = append(out, k.alg)
		}
	}
	return out
}
