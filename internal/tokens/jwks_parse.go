package tokens

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
)

// JWKS parsing for third-party identity providers (RFC 7517 / 7518 / 8037).
//
// The parser is deliberately strict: a JWKS is published configuration of a
// party we trust to authenticate users, so anything surprising in it (a
// symmetric key, private key material, a weak RSA modulus, a point that is
// not on its curve, an ambiguous kid) is an error for the whole document
// rather than something to silently work around. Keys that are explicitly
// not for signatures ("use": "enc", key_ops without "verify", a JWE "alg")
// are skipped, because IdPs routinely publish encryption keys next to their
// signing keys.

const (
	jwksMaxBytes   = 1 << 20 // cap on a JWKS document
	jwksMinRSABits = 2048
	jwksMaxRSABits = 8192
)

// jwksKey is one usable public verification key.
type jwksKey struct {
	kid string
	kty string // "RSA", "EC" or "OKP"
	crv string // "P-256", "P-384", "Ed25519"; "" for RSA
	alg string // the JWK's "alg", "" when absent
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// jwksSet is a parsed JWKS: the usable signing keys in document order.
type jwksSet struct {
	keys  []*jwksKey
	byKid map[string]*jwksKey
}

// jwksRawKey holds a JWK's members. A map (rather than a struct) keeps
// member names case-sensitive, as RFC 7517 requires: encoding/json would
// match a struct field "kty" against "KTY" too.
type jwksRawKey map[string]json.RawMessage

// jwksPrivateMembers are members of private or symmetric keys.
var jwksPrivateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth"}

// jwksSigAlgs maps each supported JWS algorithm to the key shape it needs.
var jwksSigAlgs = map[string]struct{ kty, crv string }{
	"RS256": {"RSA", ""},
	"RS384": {"RSA", ""},
	"RS512": {"RSA", ""},
	"PS256": {"RSA", ""},
	"ES256": {"EC", "P-256"},
	"ES384": {"EC", "P-384"},
	"EdDSA": {"OKP", "Ed25519"},
}

// jwksEncAlgs are JWE key-management algorithms (RFC 7518 §4.1). A key
// labelled with one of them is an encryption key and is skipped.
var jwksEncAlgs = []string{
	"RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512",
	"ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW",
	"A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW",
	"PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW", "dir",
}

// jwksAlgFits reports whether a token signed with alg may be verified with k:
// the key's type and curve must be the ones alg needs and, when the JWK
// names an "alg", it must be exactly alg.
func jwksAlgFits(alg string, k *jwksKey) bool {
	want, ok := jwksSigAlgs[alg]
	if !ok || want.kty != k.kty || want.crv != k.crv {
		return false
	}
	return k.alg == "" || k.alg == alg
}

// jwksParse parses and validates a JWKS document.
func jwksParse(data []byte) (*jwksSet, error) {
	if len(data) > jwksMaxBytes {
		return nil, fmt.Errorf("jwks: document is %d bytes, larger than the %d byte limit", len(data), jwksMaxBytes)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: not a JSON JWK Set object: %v", err)
	}
	rawKeys, ok := doc["keys"]
	if !ok {
		return nil, errors.New(`jwks: "keys" member is missing`)
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(rawKeys, &keys); err != nil {
		return nil, errors.New(`jwks: "keys" member is not an array`)
	}
	set := &jwksSet{byKid: make(map[string]*jwksKey)}
	kidAt := make(map[string]int)
	for i, raw := range keys {
		k, err := jwksParseKey(raw)
		if err != nil {
			return nil, fmt.Errorf("jwks keys[%d]: %w", i, err)
		}
		if k == nil { // not a signing key
			continue
		}
		if k.kid != "" {
			if j, dup := kidAt[k.kid]; dup {
				return nil, fmt.Errorf("jwks keys[%d]: duplicate kid %q (also keys[%d])", i, k.kid, j)
			}
			kidAt[k.kid] = i
			set.byKid[k.kid] = k
		}
		set.keys = append(set.keys, k)
	}
	if len(set.keys) == 0 {
		return nil, errors.New("jwks: no usable signing keys")
	}
	return set, nil
}

// jwksReadLimited reads at most jwksMaxBytes from r and fails, rather than
// truncating, when there is more.
func jwksReadLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, jwksMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > jwksMaxBytes {
		return nil, fmt.Errorf("jwks: document is larger than the %d byte limit", jwksMaxBytes)
	}
	return data, nil
}

// jwksParseKey validates one JWK. It returns (nil, nil) for a key that is
// explicitly not meant for verifying signatures.
func jwksParseKey(raw json.RawMessage) (*jwksKey, error) {
	var r jwksRawKey
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if r == nil {
		return nil, errors.New("not a JSON object")
	}
	for _, m := range jwksPrivateMembers {
		if _, ok := r[m]; ok {
			return nil, fmt.Errorf("private key member %q is present; a JWKS must contain public keys only (is the private key leaked?)", m)
		}
	}

	kty, err := jwksString(r["kty"], "kty", true)
	if err != nil {
		return nil, err
	}
	kid, err := jwksString(r["kid"], "kid", false)
	if err != nil {
		return nil, err
	}
	use, err := jwksString(r["use"], "use", false)
	if err != nil {
		return nil, err
	}
	alg, err := jwksString(r["alg"], "alg", false)
	if err != nil {
		return nil, err
	}

	if _, hasK := r["k"]; kty == "oct" || hasK {
		return nil, fmt.Errorf("kty %q is not supported: symmetric keys must never be published in a JWKS", kty)
	}

	// Keys that declare themselves not for signatures are skipped.
	if use != "" && use != "sig" {
		return nil, nil
	}
	if r["key_ops"] != nil {
		var ops []string
		if err := json.Unmarshal(r["key_ops"], &ops); err != nil {
			return nil, errors.New("key_ops must be an array of strings")
		}
		if !slices.Contains(ops, "verify") {
			return nil, nil
		}
	}
	if slices.Contains(jwksEncAlgs, alg) {
		return nil, nil
	}

	k := &jwksKey{kid: kid, kty: kty, alg: alg}
	switch kty {
	case "RSA":
		if k.pub, err = jwksRSA(r); err != nil {
			return nil, err
		}
	case "EC":
		if k.crv, err = jwksString(r["crv"], "crv", true); err != nil {
			return nil, err
		}
		if k.pub, err = jwksEC(k.crv, r); err != nil {
			return nil, err
		}
	case "OKP":
		if k.crv, err = jwksString(r["crv"], "crv", true); err != nil {
			return nil, err
		}
		if k.crv != "Ed25519" {
			return nil, fmt.Errorf("kty \"OKP\" crv %q is not supported (only Ed25519)", k.crv)
		}
		x, err := jwksB64(r["x"], "x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("x is %d bytes, an Ed25519 public key is %d", len(x), ed25519.PublicKeySize)
		}
		k.pub = ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("kty %q is not supported (RSA, EC and OKP are)", kty)
	}

	if alg != "" {
		want, ok := jwksSigAlgs[alg]
		if !ok {
			return nil, fmt.Errorf("alg %q is not supported", alg)
		}
		if want.kty != k.kty || want.crv != k.crv {
			return nil, fmt.Errorf("alg %q does not fit a kty %q%s key", alg, k.kty, jwksCrvSuffix(k.crv))
		}
	}
	return k, nil
}

func jwksCrvSuffix(crv string) string {
	if crv == "" {
		return ""
	}
	return " crv " + crv
}

func jwksRSA(r jwksRawKey) (*rsa.PublicKey, error) {
	nb, err := jwksB64(r["n"], "n")
	if err != nil {
		return nil, err
	}
	eb, err := jwksB64(r["e"], "e")
	if err != nil {
		return nil, err
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < jwksMinRSABits {
		return nil, fmt.Errorf("RSA modulus is %d bits, at least %d are required", bits, jwksMinRSABits)
	} else if bits > jwksMaxRSABits {
		return nil, fmt.Errorf("RSA modulus is %d bits, at most %d are allowed", bits, jwksMaxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, errors.New("RSA modulus is even")
	}
	eb = bytes.TrimLeft(eb, "\x00")
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("RSA exponent e is out of range")
	}
	var e uint64
	for _, b := range eb {
		e = e<<8 | uint64(b)
	}
	if e < 3 || e > 1<<31-1 || e%2 == 0 {
		return nil, fmt.Errorf("RSA exponent e=%d is invalid", e)
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

func jwksEC(crv string, r jwksRawKey) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	default:
		return nil, fmt.Errorf("kty \"EC\" crv %q is not supported (P-256 and P-384 are)", crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := jwksB64(r["x"], "x")
	if err != nil {
		return nil, err
	}
	y, err := jwksB64(r["y"], "y")
	if err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("%s coordinates must be %d bytes each, got x=%d y=%d", crv, size, len(x), len(y))
	}
	point := make([]byte, 0, 1+2*size)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	// ParseUncompressedPublicKey rejects points that are not on the curve
	// (and the point at infinity), which is the invalid-curve defence.
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("%s point (x, y) is not on the curve", crv)
	}
	return pub, nil
}

// jwksString decodes an optional (or required) string member.
func jwksString(v json.RawMessage, name string, required bool) (string, error) {
	if v == nil {
		if required {
			return "", fmt.Errorf("%q is missing", name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%q must be a string", name)
	}
	if required && s == "" {
		return "", fmt.Errorf("%q is empty", name)
	}
	return s, nil
}

// jwksB64 decodes a required base64url (unpadded, RFC 7515 §2) member.
func jwksB64(v json.RawMessage, name string) ([]byte, error) {
	s, err := jwksString(v, name, true)
	if err != nil {
		return nil, err
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not valid unpadded base64url: %v", name, err)
	}
	return b, nil
}
