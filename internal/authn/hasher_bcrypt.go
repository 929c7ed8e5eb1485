package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/djangate/gateway/internal/config"
)

// bcryptHasher is Django's BCryptSHA256PasswordHasher (bcrypt_sha256:
// bcrypt over the hex SHA-256 of the password, so long passwords count in
// full) and BCryptPasswordHasher (bcrypt: the password itself, of which
// bcrypt uses the first 72 bytes). Encoded: "<algorithm>$" followed by the
// 60-character modular-crypt hash "$2b$<cost>$<22 salt><31 checksum>".
type bcryptHasher struct {
	alg    string
	digest bool // bcrypt_sha256
	rounds int
}

// bcryptMaxPassword is how many bytes of the password bcrypt uses. Django
// passes longer ones to the bcrypt library, which (pyca/bcrypt before 5.0,
// as in Debian) truncates them; x/crypto/bcrypt refuses them instead, so
// they are truncated here. The NUL byte after them is part of bcrypt's key
// either way, so the hashes are identical.
const bcryptMaxPassword = 72

// bcryptAlphabet is bcrypt's base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func newBCrypt(alg string, rounds int) (*bcryptHasher, error) {
	if rounds < minBCryptRounds || rounds > maxBCryptRounds {
		return nil, fmt.Errorf("%s: rounds must be in %d..%d, got %d", alg, minBCryptRounds, maxBCryptRounds, rounds)
	}
	return &bcryptHasher{alg: alg, digest: alg == config.AlgorithmBCryptSHA256, rounds: rounds}, nil
}

// Algorithm implements Hasher.
func (b *bcryptHasher) Algorithm() string { return b.alg }

// key is what Django hands bcrypt: the hex SHA-256 of the password, or the
// password itself, truncated as bcrypt does.
func (b *bcryptHasher) key(password string) []byte {
	if b.digest {
		sum := sha256.Sum256([]byte(password))
		return []byte(hex.EncodeToString(sum[:]))
	}
	k := []byte(password)
	if len(k) > bcryptMaxPassword {
		k = k[:bcryptMaxPassword]
	}
	return k
}

// errBCryptNUL mirrors pyca/bcrypt's "password may not contain NUL bytes":
// C bcrypt would stop at the NUL, so Django refuses such passwords.
var errBCryptNUL = errors.New("bcrypt: password must not contain NUL bytes")

func (b *bcryptHasher) encode(password string) (string, error) {
	if !b.digest && strings.IndexByte(password, 0) >= 0 {
		return "", errBCryptNUL
	}
	h, err := bcrypt.GenerateFromPassword(b.key(password), b.rounds)
	if err != nil {
		return "", fmt.Errorf("%s: %w", b.alg, err)
	}
	// x/crypto writes the $2a$ prefix; Django's bcrypt.gensalt writes
	// $2b$. They differ only for keys of 255 bytes or more, which bcrypt
	// never sees after the truncation above.
	return b.alg + "$$2b" + strings.TrimPrefix(string(h), "$2a"), nil
}

// decode checks the encoded hash and returns the modular-crypt part and
// its cost. It accepts what pyca/bcrypt accepts ($2a$, $2b$, $2y$, cost
// 4..31, here bounded to maxBCryptRounds) and only the canonical salt and
// checksum encodings: Django re-encodes and compares whole strings, so no
// other spelling can ever verify there (while x/crypto would accept a
// non-canonical salt, or trailing bytes after the 60 characters).
func (b *bcryptHasher) decode(encoded string) (mcf string, cost int, err error) {
	mcf, ok := strings.CutPrefix(encoded, b.alg+"$")
	if !ok {
		return "", 0, invalid(b.alg, "not a %s hash", b.alg)
	}
	if len(mcf) != 60 || !strings.HasPrefix(mcf, "$2") || strings.IndexByte("aby", mcf[2]) < 0 || mcf[3] != '$' || mcf[6] != '$' {
		return "", 0, invalid(b.alg, "want $2b$<cost>$ and 53 characters")
	}
	if !isASCIIDigit(mcf[4]) || !isASCIIDigit(mcf[5]) {
		return "", 0, invalid(b.alg, "cost is not two digits")
	}
	c := int(mcf[4]-'0')*10 + int(mcf[5]-'0')
	if c < minBCryptRounds || c > maxBCryptRounds {
		return "", 0, invalid(b.alg, "cost %d is not in %d..%d", c, minBCryptRounds, maxBCryptRounds)
	}
	// 22 characters carry 16 bytes and 4 spare bits, 31 carry 23 bytes
	// and 2 spare bits; canonical encodings leave them zero.
	if !bcryptCanonical(mcf[7:29], 4) || !bcryptCanonical(mcf[29:], 2) {
		return "", 0, invalid(b.alg, "salt or checksum is not canonical bcrypt base64")
	}
	return mcf, c, nil
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

// bcryptCanonical reports whether s is in bcrypt's alphabet and its last
// character's low spare bits are zero.
func bcryptCanonical(s string, spare uint) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return false
		}
	}
	return strings.IndexByte(bcryptAlphabet, s[len(s)-1])&(1<<spare-1) == 0
}

// Verify implements Hasher. A password with a NUL byte never verifies
// against plain bcrypt (Django raises), but still costs the hash.
func (b *bcryptHasher) Verify(password, encoded string) (bool, error) {
	mcf, _, err := b.decode(encoded)
	if err != nil {
		return false, err
	}
	switch err := bcrypt.CompareHashAndPassword([]byte(mcf), b.key(password)); {
	case err == nil:
		return b.digest || strings.IndexByte(password, 0) < 0, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, invalid(b.alg, "refused by bcrypt")
	}
}

// MustUpdate implements Hasher: the cost differs from the configured
// rounds.
func (b *bcryptHasher) MustUpdate(encoded string) bool {
	_, cost, err := b.decode(encoded)
	return err == nil && cost != b.rounds
}

// hardenRuntime hashes 2^(rounds-cost)-1 more times at the stored cost
// (Django's BCryptSHA256PasswordHasher.harden_runtime); the work factor is
// logarithmic, so that brings the total to one hash at the configured
// rounds. It stops early once ctx ends: nobody waits for the answer.
func (b *bcryptHasher) hardenRuntime(ctx context.Context, password, encoded string) {
	_, cost, err := b.decode(encoded)
	if err != nil || cost >= b.rounds {
		return
	}
	key := b.key(password)
	for i := 0; i < 1<<(b.rounds-cost)-1 && ctx.Err() == nil; i++ {
		_, _ = bcrypt.GenerateFromPassword(key, cost)
	}
}
