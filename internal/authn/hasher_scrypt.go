package authn

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/scrypt"

	"github.com/djangate/gateway/internal/config"
)

// scryptHasher is Django's ScryptPasswordHasher (Django 4.0+):
// "scrypt$<N>$<salt>$<r>$<p>$<base64 of a 64-byte key>". Django has no
// harden_runtime for it ("too complicated"), nor here.
//
// Django passes maxmem=0 to hashlib.scrypt, i.e. OpenSSL's 32 MiB limit,
// so Django itself fails (raises) on hashes needing more, e.g. N=2^15
// with r=8; here the limit is maxScryptWork instead.
type scryptHasher struct {
	n, r, p int
}

const scryptKeyLen = 64

func newScrypt(n, r, p int) (*scryptHasher, error) {
	if err := scryptParamsOK(n, r, p); err != nil {
		return nil, fmt.Errorf("%s: %w", config.AlgorithmScrypt, err)
	}
	return &scryptHasher{n: n, r: r, p: p}, nil
}

// scryptParamsOK checks OpenSSL's constraints (N a power of two above 1,
// N < 2^(16r)) and the work limit.
func scryptParamsOK(n, r, p int) error {
	switch {
	case n < 2 || n&(n-1) != 0:
		return fmt.Errorf("work factor (N) must be a power of two above 1, got %d", n)
	case r < 1 || p < 1 || r > maxScryptWork || p > maxScryptWork:
		return fmt.Errorf("block size (r) and parallelism (p) must be at least 1, got %d and %d", r, p)
	case uint64(r)*uint64(p) > maxScryptWork/128/uint64(n):
		return fmt.Errorf("128·N·r·p must be at most %d bytes", maxScryptWork)
	case 16*r <= 63 && uint64(n) >= 1<<(16*r):
		return fmt.Errorf("work factor (N) must be below 2^(16·r) (OpenSSL's limit)")
	}
	return nil
}

// Algorithm implements Hasher.
func (s *scryptHasher) Algorithm() string { return config.AlgorithmScrypt }

func (s *scryptHasher) encode(password string) (string, error) {
	salt := randomString(saltLength)
	key, err := scrypt.Key([]byte(password), []byte(salt), s.n, s.r, s.p, scryptKeyLen)
	if err != nil {
		return "", fmt.Errorf("%s: %w", config.AlgorithmScrypt, err)
	}
	return config.AlgorithmScrypt + "$" + strconv.Itoa(s.n) + "$" + salt + "$" + strconv.Itoa(s.r) + "$" +
		strconv.Itoa(s.p) + "$" + base64.StdEncoding.EncodeToString(key), nil
}

type scryptDecoded struct {
	n, r, p int
	salt    string
	key     []byte
}

func (s *scryptHasher) decode(encoded string) (scryptDecoded, error) {
	const alg = config.AlgorithmScrypt
	rest, ok := strings.CutPrefix(encoded, alg+"$")
	if !ok {
		return scryptDecoded{}, invalid(alg, "not a scrypt hash")
	}
	// Django unpacks exactly six fields: no "$" in the salt or hash.
	f := strings.Split(rest, "$")
	if len(f) != 5 {
		return scryptDecoded{}, invalid(alg, "want 6 $-separated fields")
	}
	var nrp [3]int
	for i, s := range []string{f[0], f[2], f[3]} {
		v, ok := parseDecimal(s, maxScryptWork)
		if !ok {
			return scryptDecoded{}, invalid(alg, "N, r and p must be numbers up to %d", uint64(maxScryptWork))
		}
		nrp[i] = int(v)
	}
	if err := scryptParamsOK(nrp[0], nrp[1], nrp[2]); err != nil {
		return scryptDecoded{}, invalid(alg, "%v", err)
	}
	if f[1] == "" {
		return scryptDecoded{}, invalid(alg, "empty salt")
	}
	key, ok := decodeBase64(base64.StdEncoding, f[4])
	if !ok || len(key) != scryptKeyLen {
		return scryptDecoded{}, invalid(alg, "hash is not the base64 of %d bytes", scryptKeyLen)
	}
	return scryptDecoded{n: nrp[0], r: nrp[1], p: nrp[2], salt: f[1], key: key}, nil
}

// Verify implements Hasher.
func (s *scryptHasher) Verify(password, encoded string) (bool, error) {
	d, err := s.decode(encoded)
	if err != nil {
		return false, err
	}
	key, err := scrypt.Key([]byte(password), []byte(d.salt), d.n, d.r, d.p, scryptKeyLen)
	if err != nil {
		return false, invalid(config.AlgorithmScrypt, "refused by scrypt")
	}
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// MustUpdate implements Hasher: N, r or p differ from the configured ones
// (Django checks no salt length for scrypt).
func (s *scryptHasher) MustUpdate(encoded string) bool {
	d, err := s.decode(encoded)
	return err == nil && (d.n != s.n || d.r != s.r || d.p != s.p)
}
