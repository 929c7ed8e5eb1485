package authn

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/pbkdf2"

	"github.com/djangate/gateway/internal/config"
)

// pbkdf2Hasher is Django's PBKDF2PasswordHasher (pbkdf2_sha256) and
// PBKDF2SHA1PasswordHasher (pbkdf2_sha1):
// "<algorithm>$<iterations>$<salt>$<base64 of the digest-sized key>".
type pbkdf2Hasher struct {
	alg        string
	digest     func() hash.Hash
	size       int // Django's dklen: the digest size
	iterations int
}

func newPBKDF2(alg string, iterations int) (*pbkdf2Hasher, error) {
	if iterations < 1 || iterations > maxPBKDF2Iterations {
		return nil, fmt.Errorf("%s: iterations must be in 1..%d, got %d", alg, maxPBKDF2Iterations, iterations)
	}
	p := &pbkdf2Hasher{alg: alg, digest: sha256.New, size: sha256.Size, iterations: iterations}
	if alg == config.AlgorithmPBKDF2SHA1 {
		p.digest, p.size = sha1.New, sha1.Size
	}
	return p, nil
}

// Algorithm implements Hasher.
func (p *pbkdf2Hasher) Algorithm() string { return p.alg }

func (p *pbkdf2Hasher) encode(password string) (string, error) {
	return p.encodeWith(password, randomString(saltLength), p.iterations), nil
}

// encodeWith is Django's encode(password, salt, iterations).
func (p *pbkdf2Hasher) encodeWith(password, salt string, iterations int) string {
	key := pbkdf2.Key([]byte(password), []byte(salt), iterations, p.size, p.digest)
	return p.alg + "$" + strconv.Itoa(iterations) + "$" + salt + "$" + base64.StdEncoding.EncodeToString(key)
}

type pbkdf2Decoded struct {
	iterations int
	salt       string
	key        []byte
}

// decode parses an encoded hash, accepting only what Django's encode can
// produce (a hash Django would refuse or never match is malformed here).
func (p *pbkdf2Hasher) decode(encoded string) (pbkdf2Decoded, error) {
	rest, ok := strings.CutPrefix(encoded, p.alg+"$")
	if !ok {
		return pbkdf2Decoded{}, invalid(p.alg, "not a %s hash", p.alg)
	}
	// Django splits on the first three "$": the salt cannot hold one.
	f := strings.SplitN(rest, "$", 3)
	if len(f) != 3 {
		return pbkdf2Decoded{}, invalid(p.alg, "want 4 $-separated fields")
	}
	n, ok := parseDecimal(f[0], maxPBKDF2Iterations)
	if !ok || n < 1 {
		return pbkdf2Decoded{}, invalid(p.alg, "iteration count is not a number in 1..%d", maxPBKDF2Iterations)
	}
	if f[1] == "" {
		return pbkdf2Decoded{}, invalid(p.alg, "empty salt")
	}
	key, ok := decodeBase64(base64.StdEncoding, f[2])
	if !ok || len(key) != p.size {
		return pbkdf2Decoded{}, invalid(p.alg, "hash is not the base64 of %d bytes", p.size)
	}
	return pbkdf2Decoded{iterations: int(n), salt: f[1], key: key}, nil
}

// Verify implements Hasher: it derives the key with the stored salt and
// iterations and compares in constant time.
func (p *pbkdf2Hasher) Verify(password, encoded string) (bool, error) {
	d, err := p.decode(encoded)
	if err != nil {
		return false, err
	}
	key := pbkdf2.Key([]byte(password), []byte(d.salt), d.iterations, p.size, p.digest)
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// MustUpdate implements Hasher: the iteration count differs from the
// configured one, or the salt carries fewer than 128 bits.
func (p *pbkdf2Hasher) MustUpdate(encoded string) bool {
	d, err := p.decode(encoded)
	if err != nil {
		return false
	}
	return d.iterations != p.iterations || saltTooWeak(utf8.RuneCountInString(d.salt))
}

// hardenRuntime spends the iterations the stored hash is short of the
// configured count (Django's PBKDF2PasswordHasher.harden_runtime).
func (p *pbkdf2Hasher) hardenRuntime(_ context.Context, password, encoded string) {
	d, err := p.decode(encoded)
	if err != nil {
		return
	}
	if extra := p.iterations - d.iterations; extra > 0 {
		_ = pbkdf2.Key([]byte(password), []byte(d.salt), extra, p.size, p.digest)
	}
}
