package authn

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strings"
	"unicode/utf8"

	"github.com/djangate/gateway/internal/config"
)

// Django's legacy hashers, verify-only here: they never hash a new
// password (config refuses them first in the list, NewHashers too), and a
// hash they verify is always re-made with the preferred hasher. Django 5.1
// removed all but md5; their behaviour is Django 3.2's.

// saltedLegacy is SHA1PasswordHasher ("sha1$<salt>$<hex sha1(salt+pw)>")
// or MD5PasswordHasher ("md5$<salt>$<hex md5(salt+pw)>").
type saltedLegacy struct {
	alg    string
	digest func() hash.Hash
	hexLen int
}

func newSaltedLegacy(alg string) *saltedLegacy {
	if alg == config.AlgorithmMD5 {
		return &saltedLegacy{alg: alg, digest: md5.New, hexLen: 2 * md5.Size}
	}
	return &saltedLegacy{alg: alg, digest: sha1.New, hexLen: 2 * sha1.Size}
}

// Algorithm implements Hasher.
func (s *saltedLegacy) Algorithm() string { return s.alg }

func (s *saltedLegacy) decode(encoded string) (salt string, sum []byte, err error) {
	rest, ok := strings.CutPrefix(encoded, s.alg+"$")
	if !ok {
		return "", nil, invalid(s.alg, "not a %s hash", s.alg)
	}
	salt, hexSum, ok := strings.Cut(rest, "$")
	if !ok {
		return "", nil, invalid(s.alg, "want 3 $-separated fields")
	}
	if salt == "" {
		// Django asserts a salt (an empty one is the unsalted format,
		// identified by its exact length).
		return "", nil, invalid(s.alg, "empty salt")
	}
	if !isLowerHex(hexSum, s.hexLen) {
		return "", nil, invalid(s.alg, "hash is not %d lowercase hex digits", s.hexLen)
	}
	sum, _ = hex.DecodeString(hexSum)
	return salt, sum, nil
}

// Verify implements Hasher.
func (s *saltedLegacy) Verify(password, encoded string) (bool, error) {
	salt, sum, err := s.decode(encoded)
	if err != nil {
		return false, err
	}
	h := s.digest()
	h.Write([]byte(salt + password))
	return subtle.ConstantTimeCompare(h.Sum(nil), sum) == 1, nil
}

// MustUpdate implements Hasher: the salt carries fewer than 128 bits.
func (s *saltedLegacy) MustUpdate(encoded string) bool {
	salt, _, err := s.decode(encoded)
	return err == nil && saltTooWeak(utf8.RuneCountInString(salt))
}

// unsaltedSHA1 is UnsaltedSHA1PasswordHasher: "sha1$$<hex sha1(pw)>".
type unsaltedSHA1 struct{}

// Algorithm implements Hasher.
func (unsaltedSHA1) Algorithm() string { return config.AlgorithmUnsaltedSHA1 }

// Verify implements Hasher.
func (unsaltedSHA1) Verify(password, encoded string) (bool, error) {
	hexSum, ok := strings.CutPrefix(encoded, "sha1$$")
	if !ok || !isLowerHex(hexSum, 2*sha1.Size) {
		return false, invalid(config.AlgorithmUnsaltedSHA1, "want sha1$$ and 40 lowercase hex digits")
	}
	sum := sha1.Sum([]byte(password))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(hexSum)) == 1, nil
}

// MustUpdate implements Hasher (Django's base: never).
func (unsaltedSHA1) MustUpdate(string) bool { return false }

// unsaltedMD5 is UnsaltedMD5PasswordHasher: a bare "<hex md5(pw)>", or
// "md5$$<hex md5(pw)>".
type unsaltedMD5 struct{}

// Algorithm implements Hasher.
func (unsaltedMD5) Algorithm() string { return config.AlgorithmUnsaltedMD5 }

// Verify implements Hasher.
func (unsaltedMD5) Verify(password, encoded string) (bool, error) {
	hexSum := encoded
	if len(encoded) == 37 {
		hexSum, _ = strings.CutPrefix(encoded, "md5$$")
	}
	if !isLowerHex(hexSum, 2*md5.Size) {
		return false, invalid(config.AlgorithmUnsaltedMD5, "want 32 lowercase hex digits, optionally after md5$$")
	}
	sum := md5.Sum([]byte(password))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(hexSum)) == 1, nil
}

// MustUpdate implements Hasher (Django's base: never).
func (unsaltedMD5) MustUpdate(string) bool { return false }
