package authn

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/djangate/gateway/internal/config"
)

// argon2Hasher is Django's Argon2PasswordHasher. It writes
// "argon2$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>", with
// unpadded base64 of the 22-character salt string (Django hands argon2
// salt.encode()) and of a 16-byte hash (argon2-cffi's DEFAULT_HASH_LENGTH).
// It verifies what Django verifies through argon2-cffi and libargon2:
// argon2id, argon2i and argon2d, any version including the version-less
// 1.0 encoding of Django 1.10 ("argon2$argon2i$m=..."), any salt of 8
// bytes or more and any hash of 4 bytes or more.
type argon2Hasher struct {
	time, memory, lanes uint32
}

// argon2HashLen is argon2-cffi's DEFAULT_HASH_LENGTH, Django's hash_len.
const argon2HashLen = 16

// argon2Names are the variants' names, indexed by argon2D, argon2I,
// argon2ID.
var argon2Names = [...]string{"argon2d", "argon2i", "argon2id"}

func newArgon2(time, memory, lanes int) (*argon2Hasher, error) {
	if time < 1 {
		return nil, fmt.Errorf("%s: time cost must be at least 1, got %d", config.AlgorithmArgon2, time)
	}
	if err := argon2ParamsOK(uint64(time), uint64(max(memory, 0)), uint64(max(lanes, 0))); err != nil {
		return nil, fmt.Errorf("%s: %w", config.AlgorithmArgon2, err)
	}
	return &argon2Hasher{time: uint32(time), memory: uint32(memory), lanes: uint32(lanes)}, nil
}

// argon2ParamsOK checks libargon2's rules (at least 8 KiB per lane) and
// this package's limits.
func argon2ParamsOK(t, m, p uint64) error {
	switch {
	case p < 1 || p > maxArgon2Lanes:
		return fmt.Errorf("parallelism must be in 1..%d, got %d", maxArgon2Lanes, p)
	case m < 8*p:
		return fmt.Errorf("memory cost must be at least 8 KiB per lane, got %d KiB for %d lanes", m, p)
	case m > maxArgon2Memory:
		return fmt.Errorf("memory cost must be at most %d KiB, got %d", maxArgon2Memory, m)
	case t > maxArgon2Work/m:
		return fmt.Errorf("memory cost × time cost must be at most %d KiB", maxArgon2Work)
	}
	return nil
}

// Algorithm implements Hasher.
func (a *argon2Hasher) Algorithm() string { return config.AlgorithmArgon2 }

func (a *argon2Hasher) encode(password string) (string, error) {
	salt := randomString(saltLength)
	key := argon2.IDKey([]byte(password), []byte(salt), a.time, a.memory, uint8(a.lanes), argon2HashLen)
	return fmt.Sprintf("%s$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", config.AlgorithmArgon2, argon2Names[argon2ID], argon2Version13,
		a.memory, a.time, a.lanes, base64.RawStdEncoding.EncodeToString([]byte(salt)), base64.RawStdEncoding.EncodeToString(key)), nil
}

type argon2Decoded struct {
	variant, version, m, t, p uint32
	salt, key                 []byte
}

// decode parses an encoded hash as argon2-cffi and libargon2's
// decode_string do: the variant from the header, an optional "$v=", then
// "$m=,t=,p=" in that order, canonical decimals (no leading zeros, at most
// 2^32-1), canonical unpadded base64, nothing after the hash.
func (a *argon2Hasher) decode(encoded string) (argon2Decoded, error) {
	const alg = config.AlgorithmArgon2
	rest, ok := strings.CutPrefix(encoded, alg+"$")
	if !ok {
		return argon2Decoded{}, invalid(alg, "not an argon2 hash")
	}
	var d argon2Decoded
	switch {
	// argon2-cffi picks the variant from the first 9 characters of
	// "$"+rest; libargon2 then checks "$<name>".
	case strings.HasPrefix(rest, "argon2id"):
		d.variant = argon2ID
	case strings.HasPrefix(rest, "argon2i$"):
		d.variant = argon2I
	case strings.HasPrefix(rest, "argon2d$"):
		d.variant = argon2D
	default:
		return argon2Decoded{}, invalid(alg, "variant is not argon2id, argon2i or argon2d")
	}
	s := rest[len(argon2Names[d.variant]):]
	d.version = argon2Version10 // libargon2's default when "$v=" is absent
	field := func(prefix string) (uint32, bool) {
		var ok bool
		if s, ok = strings.CutPrefix(s, prefix); !ok {
			return 0, false
		}
		end := 0
		for end < len(s) && isASCIIDigit(s[end]) {
			end++
		}
		v, ok := parseDecimal(s[:end], math.MaxUint32)
		s = s[end:]
		return uint32(v), ok
	}
	if strings.HasPrefix(s, "$v=") {
		if d.version, ok = field("$v="); !ok {
			return argon2Decoded{}, invalid(alg, "malformed version")
		}
	}
	var okM, okT, okP bool
	d.m, okM = field("$m=")
	if okM {
		d.t, okT = field(",t=")
	}
	if okT {
		d.p, okP = field(",p=")
	}
	if !okP {
		return argon2Decoded{}, invalid(alg, "want $m=<memory>,t=<time>,p=<parallelism>")
	}
	b64 := func() ([]byte, bool) {
		var ok bool
		if s, ok = strings.CutPrefix(s, "$"); !ok {
			return nil, false
		}
		end := 0
		for end < len(s) && (isASCIIDigit(s[end]) || (s[end]|0x20 >= 'a' && s[end]|0x20 <= 'z') || s[end] == '+' || s[end] == '/') {
			end++
		}
		b, ok := decodeBase64(base64.RawStdEncoding, s[:end])
		s = s[end:]
		return b, ok
	}
	var okSalt, okKey bool
	d.salt, okSalt = b64()
	if okSalt {
		d.key, okKey = b64()
	}
	if !okKey || s != "" {
		return argon2Decoded{}, invalid(alg, "want $<salt>$<hash> in unpadded base64 at the end")
	}
	switch {
	case len(d.salt) < 8:
		return argon2Decoded{}, invalid(alg, "salt shorter than 8 bytes")
	case len(d.key) < 4:
		return argon2Decoded{}, invalid(alg, "hash shorter than 4 bytes")
	case d.t < 1:
		return argon2Decoded{}, invalid(alg, "time cost 0")
	}
	if err := argon2ParamsOK(uint64(d.t), uint64(d.m), uint64(d.p)); err != nil {
		return argon2Decoded{}, invalid(alg, "%v", err)
	}
	return d, nil
}

// Verify implements Hasher: x/crypto computes argon2id and argon2i at
// version 1.3 (fast, assembly), the portable code the rest.
func (a *argon2Hasher) Verify(password, encoded string) (bool, error) {
	d, err := a.decode(encoded)
	if err != nil {
		return false, err
	}
	var key []byte
	switch {
	case d.version == argon2Version13 && d.variant == argon2ID:
		key = argon2.IDKey([]byte(password), d.salt, d.t, d.m, uint8(d.p), uint32(len(d.key)))
	case d.version == argon2Version13 && d.variant == argon2I:
		key = argon2.Key([]byte(password), d.salt, d.t, d.m, uint8(d.p), uint32(len(d.key)))
	default:
		key = argon2Key(d.variant, d.version, []byte(password), d.salt, d.t, d.m, d.p, uint32(len(d.key)))
	}
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// MustUpdate implements Hasher as Django does: any difference from
// argon2id, version 1.3, a 16-byte hash and the configured t, m, p, or a
// salt under 128 bits (22 bytes, which Django counts as latin-1
// characters).
func (a *argon2Hasher) MustUpdate(encoded string) bool {
	d, err := a.decode(encoded)
	if err != nil {
		return false
	}
	return d.variant != argon2ID || d.version != argon2Version13 || len(d.key) != argon2HashLen ||
		d.t != a.time || d.m != a.memory || d.p != a.lanes || saltTooWeak(len(d.salt))
}
