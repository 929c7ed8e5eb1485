// Command upstream is a minimal app behind the djangate gateway. It learns
// who the user is ONLY from the gateway's signed upstream assertion (a JWT),
// never from plain identity headers, so it stays safe even when reachable
// without going through the gateway. It answers 401 without a valid
// assertion, else 200 with the verified claims. See ../README.md.
package main

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	leeway     = 30 * time.Second // clock skew allowed on exp, nbf and iat
	minRefetch = 30 * time.Second // fetch the JWKS at most this often
	maxKeyAge  = 5 * time.Minute  // refresh after this, so removed keys stop being trusted
	maxToken   = 8 << 10          // assertions are well under 1 KiB
)

// key is a public key from the JWKS and the one algorithm it may verify.
// The algorithm follows from the key's type, never from the token.
type key struct {
	alg string // "EdDSA" (Ed25519), "ES256" (P-256) or "RS256" (RSA)
	pub crypto.PublicKey
}

// jwks caches the gateway's public keys by kid.
type jwks struct {
	url            string
	client         *http.Client
	mu             sync.Mutex // also held during a fetch: concurrent misses share it
	keys           map[string]key
	fetched, tried time.Time // last successful fetch, last attempt
}

// lookup returns the key named kid. An unknown kid may mean the gateway has
// rotated in a new key, and keys older than maxKeyAge may have been removed,
// so both refetch the set -- but at most once per minRefetch, so tokens with
// made-up kids cannot make us hammer the gateway.
func (j *jwks) lookup(kid string) (key, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k, ok := j.keys[kid]
	if (!ok || time.Since(j.fetched) > maxKeyAge) && time.Since(j.tried) >= minRefetch {
		if err := j.refresh(); err != nil {
			log.Printf("jwks: %v (keeping the keys we had)", err)
		}
		k, ok = j.keys[kid]
	}
	return k, ok
}

// refresh fetches the JWKS and replaces the cached keys. Call with mu held.
func (j *jwks) refresh() error {
	j.tried = time.Now()
	resp, err := j.client.Get(j.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", j.url, resp.StatusCode)
	}
	var doc struct {
		Keys []struct{ Kty, Crv, X, Y, N, E, Kid, Alg, Use string }
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return fmt.Errorf("decode JWKS: %w", err)
	}
	keys := map[string]key{}
	for _, jk := range doc.Keys {
		if jk.Kid == "" || (jk.Use != "" && jk.Use != "sig") {
			continue
		}
		k, err := parseJWK(jk.Kty, jk.Crv, jk.X, jk.Y, jk.N, jk.E)
		if err != nil || (jk.Alg != "" && jk.Alg != k.alg) {
			log.Printf("jwks: skipping key %q: unusable (%v) or alg %q does not fit it", jk.Kid, err, jk.Alg)
			continue
		}
		keys[jk.Kid] = k
	}
	if len(keys) == 0 {
		return errors.New("JWKS has no usable signing keys")
	}
	j.keys, j.fetched = keys, time.Now()
	return nil
}

// parseJWK decodes the public key of a JWK (RFC 7518, RFC 8037) with the
// standard library: OKP Ed25519, EC P-256 or RSA of at least 2048 bits.
func parseJWK(kty, crv, x, y, n, e string) (key, error) {
	b64 := base64.RawURLEncoding.DecodeString
	switch {
	case kty == "OKP" && crv == "Ed25519":
		pub, err := b64(x)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return key{}, errors.New("bad Ed25519 x")
		}
		return key{"EdDSA", ed25519.PublicKey(pub)}, nil
	case kty == "EC" && crv == "P-256":
		bx, err1 := b64(x)
		by, err2 := b64(y)
		if err1 != nil || err2 != nil || len(bx) != 32 || len(by) != 32 {
			return key{}, errors.New("bad P-256 x/y")
		}
		// Checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, bx...), by...))
		if err != nil {
			return key{}, err
		}
		return key{"ES256", pub}, nil
	case kty == "RSA":
		bn, err1 := b64(n)
		be, err2 := b64(e)
		if err1 != nil || err2 != nil || len(be) == 0 || len(be) > 4 {
			return key{}, errors.New("bad RSA n/e")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(bn), E: int(new(big.Int).SetBytes(be).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			return key{}, errors.New("weak RSA key")
		}
		return key{"RS256", pub}, nil
	}
	return key{}, fmt.Errorf("unsupported key type %s %s", kty, crv)
}

// claims are the assertion's claims this app uses (registered ones included).
type claims struct {
	jwt.RegisteredClaims
	Username    string   `json:"username"`
	Email       string   `json:"email"`
	Groups      []string `json:"groups"`
	IsStaff     bool     `json:"is_staff"`
	IsSuperuser bool     `json:"is_superuser"`
	Backend     string   `json:"backend"` // how the user authenticated: "session", "bearer", ...
}

// verify checks the assertion and returns its claims.
func verify(keys *jwks, p *jwt.Parser, tok string) (*claims, error) {
	if len(tok) > maxToken {
		return nil, errors.New("token too long")
	}
	c := new(claims)
	_, err := p.ParseWithClaims(tok, c, func(t *jwt.Token) (any, error) {
		// typ "JWT" tells assertions apart from the gateway's access tokens (at+jwt).
		if typ, _ := t.Header["typ"].(string); typ != "JWT" {
			return nil, errors.New("typ is not JWT")
		}
		kid, _ := t.Header["kid"].(string)
		k, ok := keys.lookup(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		// The alg allow-list (WithValidMethods) is not enough on its own:
		// the token's alg must be the one of the key its kid names.
		if t.Method.Alg() != k.alg {
			return nil, fmt.Errorf("alg %s does not match the %s key", t.Method.Alg(), k.alg)
		}
		return k.pub, nil
	})
	if err == nil && (c.IssuedAt == nil || c.Subject == "") {
		err = errors.New("missing iat or sub")
	}
	return c, err
}

func main() {
	jwksURL, aud := os.Getenv("GATEWAY_JWKS_URL"), os.Getenv("UPSTREAM_NAME")
	if jwksURL == "" || aud == "" {
		log.Fatal("set GATEWAY_JWKS_URL and UPSTREAM_NAME (this upstream's name in the gateway's config)")
	}
	header, iss, listen := os.Getenv("ASSERTION_HEADER"), os.Getenv("GATEWAY_ISSUER"), os.Getenv("LISTEN")
	header, iss, listen = cmp.Or(header, "X-Gateway-Assertion"), cmp.Or(iss, "djangate"), cmp.Or(listen, "127.0.0.1:8000")

	keys := &jwks{url: jwksURL, client: &http.Client{Timeout: 5 * time.Second}}
	if err := keys.refresh(); err != nil { // warm the cache; not fatal: the gateway may start later
		log.Printf("jwks: %v (retrying on demand)", err)
	}

	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA", "ES256", "RS256"}), // never "none" or HS256
		jwt.WithIssuer(iss),
		jwt.WithAudience(aud), // an assertion minted for another upstream is refused
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		vals := r.Header.Values(header)
		var c *claims
		err := errors.New("missing or repeated " + header)
		if len(vals) == 1 {
			c, err = verify(keys, parser, vals[0])
		}
		if err != nil {
			log.Printf("401 %s %s: %v", r.Method, r.URL.Path, err) // the reason is for logs only
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"error":"invalid_assertion"}`)
			return
		}
		if c.Groups == nil {
			c.Groups = []string{} // "groups": [] rather than null
		}
		json.NewEncoder(w).Encode(map[string]any{
			"sub": c.Subject, "username": c.Username, "email": c.Email, "groups": c.Groups,
			"is_staff": c.IsStaff, "is_superuser": c.IsSuperuser, "backend": c.Backend,
		})
	})
	log.Printf("serving http://%s as upstream %q", listen, aud)
	log.Fatal((&http.Server{Addr: listen, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe())
}
