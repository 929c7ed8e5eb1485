package authn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/djangate/gateway/internal/config"
)

// Django's password hashers, byte-compatible both ways: a hash made by
// Django verifies here and a hash made here verifies in Django. Each
// algorithm lives in its own file (hasher_*.go); this file holds the
// PASSWORD_HASHERS list, identify_hasher, check_password and the limits.
//
// Limits on stored hashes. A stored hash names its own cost, so a corrupt
// or hostile import could otherwise pin a CPU for hours or allocate
// terabytes on one login. Hashes beyond these limits are refused as
// malformed (ErrHashInvalid) without computing anything, and NewHashers
// refuses to configure a hasher beyond them. The times are for this
// project's reference machine (see perf-anchors.md); every limit is far
// above Django's defaults:
//
//   - PBKDF2: at most 100,000,000 iterations (config.MaxPBKDF2Iterations,
//     ~25 s; Django 6.1 uses 1,500,000).
//   - argon2: parallelism 1..255, memory at most 4 GiB
//     (config.MaxArgon2MemoryCost) and memory·time at most 16 GiB
//     (~10 s; Django's default is 100 MiB·2).
//   - bcrypt, bcrypt_sha256: cost 4..18 (~18 s; Django's default is 12,
//     bcrypt itself allows 31, i.e. hours).
//   - scrypt: 128·N·r·p at most 1 GiB (config.MaxScryptMemory; Django's
//     default is 16 MiB).
//   - any encoded hash: at most 4096 bytes (Django's column holds 128).
const (
	maxPBKDF2Iterations = config.MaxPBKDF2Iterations
	maxArgon2Memory     = config.MaxArgon2MemoryCost // KiB
	maxArgon2Work       = 16 << 20                   // KiB·passes
	maxArgon2Lanes      = 255
	minBCryptRounds     = 4
	maxBCryptRounds     = 18
	maxScryptWork       = config.MaxScryptMemory // bytes, 128·N·r·p
	maxEncodedLength    = 4096
)

// Sentinel errors of password hash checks, reported in Result.Problem.
var (
	// ErrHashInvalid: the stored hash is malformed, truncated or beyond
	// the limits above, so it can never verify.
	ErrHashInvalid = errors.New("malformed password hash")
	// ErrHashAlgorithmNotEnabled: the stored hash is of an algorithm that
	// is not in password_hashers (or not supported), so it never verifies.
	ErrHashAlgorithmNotEnabled = errors.New("password hash algorithm not enabled")
)

// Hasher is one of Django's password hashers. Implementations are safe for
// concurrent use.
type Hasher interface {
	// Algorithm is Django's algorithm name, e.g. "pbkdf2_sha256".
	Algorithm() string
	// Verify reports whether password matches encoded, as Django's
	// hasher.verify does. A malformed encoded hash is an error wrapping
	// ErrHashInvalid (whose text never includes the hash), never a panic.
	Verify(password, encoded string) (bool, error)
	// MustUpdate is Django's must_update: encoded was made with other
	// parameters than the hasher's configured ones (or too short a salt)
	// and should be re-hashed. It is false for a malformed hash.
	MustUpdate(encoded string) bool
}

// encoder is a Hasher that can hash new passwords: every hasher except
// the verify-only legacy ones, which cannot be asked to.
type encoder interface {
	Hasher
	// encode hashes password with a fresh random salt and the configured
	// parameters.
	encode(password string) (string, error)
}

// hardener is implemented by hashers with Django's harden_runtime: it
// spends the work a hash at the configured parameters would cost beyond
// what the weaker stored one did, so a failed check does not reveal that
// the stored hash is old.
type hardener interface {
	hardenRuntime(ctx context.Context, password, encoded string)
}

// Result is the outcome of a password check.
type Result struct {
	// OK: the password matches.
	OK bool
	// MustUpdate: the hash should be re-made with the preferred hasher
	// (Django's must_update), meaningful when OK.
	MustUpdate bool
	// Problem is non-nil when the stored hash is malformed (wrapping
	// ErrHashInvalid) or of an algorithm not enabled (wrapping
	// ErrHashAlgorithmNotEnabled). It never contains the hash.
	Problem error
}

const (
	// AlgorithmPBKDF2SHA256 is Django's default hasher.
	AlgorithmPBKDF2SHA256 = config.AlgorithmPBKDF2SHA256

	// UnusablePasswordPrefix marks a password that never verifies
	// (Django's UNUSABLE_PASSWORD_PREFIX).
	UnusablePasswordPrefix = "!"
	// unusableSuffixLength is Django's UNUSABLE_PASSWORD_SUFFIX_LENGTH.
	unusableSuffixLength = 40

	// saltEntropy is Django's BasePasswordHasher.salt_entropy in bits.
	saltEntropy = 128

	// randomChars is Django's RANDOM_STRING_CHARS.
	randomChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// saltLength is the number of randomChars that carry saltEntropy bits:
// ceil(128 / log2(62)) = 22, as in Django's BasePasswordHasher.salt.
var saltLength = int(math.Ceil(saltEntropy / math.Log2(float64(len(randomChars)))))

// saltTooWeak is Django's must_update_salt for a salt of n characters.
func saltTooWeak(n int) bool {
	return float64(n)*math.Log2(float64(len(randomChars))) < saltEntropy
}

// randomString returns n characters drawn uniformly from randomChars using
// crypto/rand, like Django's get_random_string.
func randomString(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	// Rejection sampling: 248 = 4*62, so bytes below it map uniformly.
	const limit = 256 - 256%len(randomChars)
	for len(out) < n {
		// crypto/rand.Read never returns an error (it crashes the
		// program if the OS cannot supply randomness).
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if int(c) < limit {
				out = append(out, randomChars[int(c)%len(randomChars)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

// Hashers is Django's PASSWORD_HASHERS: the first hasher encodes new
// passwords, all of them verify existing hashes. Every hash computation
// takes one of a fixed number of slots, so a burst of logins queues
// instead of starving the proxy of CPU and memory.
type Hashers struct {
	list  []Hasher
	byAlg map[string]Hasher
	pref  encoder
	sem   chan struct{}
}

// NewHashers builds the hasher list from configuration, in order: the
// first entry hashes new passwords and must not be verify-only; each
// algorithm may be listed once. Parameters must be set (config applies
// Django's defaults) and within the limits documented in this file.
// concurrency is the number of hashes computed at once; 0 means
// runtime.NumCPU().
func NewHashers(cfg []config.PasswordHasher, concurrency int) (*Hashers, error) {
	if len(cfg) == 0 {
		return nil, errors.New("password hashers: at least one hasher is required")
	}
	if concurrency < 0 {
		return nil, fmt.Errorf("password hashers: concurrency must be 0 (one per CPU) or more, got %d", concurrency)
	}
	if concurrency == 0 {
		concurrency = runtime.NumCPU()
	}
	hs := &Hashers{byAlg: make(map[string]Hasher, len(cfg)), sem: make(chan struct{}, concurrency)}
	for i, c := range cfg {
		h, err := newHasher(c)
		if err != nil {
			return nil, fmt.Errorf("password hashers[%d]: %w", i, err)
		}
		if _, dup := hs.byAlg[h.Algorithm()]; dup {
			return nil, fmt.Errorf("password hashers[%d]: algorithm %q listed twice", i, c.Algorithm)
		}
		if i == 0 {
			e, ok := h.(encoder)
			if !ok {
				return nil, fmt.Errorf("password hashers[0]: %s can only verify old hashes; list a hasher for new passwords first", c.Algorithm)
			}
			hs.pref = e
		}
		hs.list = append(hs.list, h)
		hs.byAlg[h.Algorithm()] = h
	}
	return hs, nil
}

// newHasher builds one configured hasher.
func newHasher(c config.PasswordHasher) (Hasher, error) {
	switch c.Algorithm {
	case config.AlgorithmPBKDF2SHA256, config.AlgorithmPBKDF2SHA1:
		return newPBKDF2(c.Algorithm, c.Iterations)
	case config.AlgorithmArgon2:
		return newArgon2(c.TimeCost, c.MemoryCost, c.Parallelism)
	case config.AlgorithmBCryptSHA256, config.AlgorithmBCrypt:
		return newBCrypt(c.Algorithm, c.Rounds)
	case config.AlgorithmScrypt:
		return newScrypt(c.WorkFactor, c.BlockSize, c.Parallelism)
	case config.AlgorithmSHA1, config.AlgorithmMD5:
		return newSaltedLegacy(c.Algorithm), nil
	case config.AlgorithmUnsaltedSHA1:
		return unsaltedSHA1{}, nil
	case config.AlgorithmUnsaltedMD5:
		return unsaltedMD5{}, nil
	}
	return nil, fmt.Errorf("unsupported algorithm %q (supported: %s)", c.Algorithm, strings.Join(config.SupportedHashers, ", "))
}

// acquire takes a hashing slot, or gives up when ctx ends first.
func (hs *Hashers) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("waiting for a password hashing slot: %w", err)
	}
	select {
	case hs.sem <- struct{}{}:
		return func() { <-hs.sem }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a password hashing slot: %w", ctx.Err())
	}
}

// Make hashes password with the preferred hasher and a fresh random salt
// (Django's make_password), waiting as long as it takes for a slot. An
// empty password is refused.
func (hs *Hashers) Make(password string) (string, error) {
	return hs.MakeContext(context.Background(), password)
}

// MakeContext is Make that gives up waiting for a hashing slot when ctx
// ends.
func (hs *Hashers) MakeContext(ctx context.Context, password string) (string, error) {
	if password == "" {
		return "", ErrEmptyPassword
	}
	release, err := hs.acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer release()
	enc, err := hs.pref.encode(password)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return enc, nil
}

// MakeUnusable returns a password that never verifies, "!" followed by 40
// random characters (Django's set_unusable_password). The random part keeps
// it from revealing that the password is unusable by equality.
func (hs *Hashers) MakeUnusable() string { return UnusablePassword() }

// UnusablePassword is MakeUnusable for callers without Hashers (users
// created for an identity provider or a fronting SSO).
func UnusablePassword() string {
	return UnusablePasswordPrefix + randomString(unusableSuffixLength)
}

// IsUsable reports whether encoded can ever verify (Django's
// is_password_usable, with "" treated as unusable).
func IsUsable(encoded string) bool {
	return encoded != "" && !strings.HasPrefix(encoded, UnusablePasswordPrefix)
}

// Dummy runs the preferred hasher once and discards the result. Callers use
// it for unknown users so that "no such user" costs as much as "wrong
// password" (Django's ModelBackend does the same).
func (hs *Hashers) Dummy(password string) {
	_ = hs.DummyContext(context.Background(), password)
}

// DummyContext is Dummy that gives up waiting for a hashing slot when ctx
// ends; the error is then ctx's.
func (hs *Hashers) DummyContext(ctx context.Context, password string) error {
	release, err := hs.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	_, _ = hs.pref.encode(password)
	return nil
}

// Check reports whether password matches encoded and whether encoded should
// be re-hashed with the preferred hasher (Django's check_password). See
// CheckContext.
func (hs *Hashers) Check(password, encoded string) (ok bool, mustUpdate bool) {
	r, _ := hs.CheckContext(context.Background(), password, encoded)
	return r.OK, r.MustUpdate
}

// CheckContext is Django's check_password: the hasher is identified from
// encoded (identify_hasher's rules), must_update is true for another
// algorithm than the preferred one or for other parameters, and a wrong
// password against a weaker hash of the preferred algorithm spends the
// difference (harden_runtime). Empty, unusable ("!") and malformed hashes
// and algorithms not enabled never verify and cost one preferred hash, so
// they are not told apart by timing; the last two set Result.Problem. The
// error is non-nil only when ctx ends while waiting for a hashing slot.
func (hs *Hashers) CheckContext(ctx context.Context, password, encoded string) (Result, error) {
	h, problem := hs.identify(encoded)
	if h == nil {
		if err := hs.DummyContext(ctx, password); err != nil {
			return Result{}, err
		}
		return Result{Problem: problem}, nil
	}
	release, err := hs.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()
	ok, err := h.Verify(password, encoded)
	if err != nil {
		// Verify refuses malformed hashes before computing anything.
		_, _ = hs.pref.encode(password)
		return Result{Problem: err}, nil
	}
	changed := h.Algorithm() != hs.pref.Algorithm()
	mustUpdate := changed || hs.pref.MustUpdate(encoded)
	if !ok && !changed && mustUpdate {
		if hr, can := h.(hardener); can {
			hr.hardenRuntime(ctx, password, encoded)
		}
	}
	return Result{OK: ok, MustUpdate: mustUpdate}, nil
}

// identify returns the enabled hasher for encoded, or nil and the reason:
// nil for an unusable password (not a problem), else an error that names
// the algorithm only when it is one of Django's (an unrecognized prefix
// could be anything, even a plaintext password).
func (hs *Hashers) identify(encoded string) (Hasher, error) {
	if !IsUsable(encoded) {
		return nil, nil
	}
	if len(encoded) > maxEncodedLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrHashInvalid, maxEncodedLength)
	}
	alg := identifyAlgorithm(encoded)
	if h, ok := hs.byAlg[alg]; ok {
		return h, nil
	}
	switch {
	case knownAlgorithm(alg):
		return nil, fmt.Errorf("%w: %s is not in password_hashers", ErrHashAlgorithmNotEnabled, alg)
	case alg == "crypt":
		return nil, fmt.Errorf("%w: crypt (Django's CryptPasswordHasher) is not supported", ErrHashAlgorithmNotEnabled)
	case !strings.Contains(encoded, "$"):
		return nil, fmt.Errorf("%w: no algorithm prefix", ErrHashInvalid)
	}
	return nil, fmt.Errorf("%w: unknown algorithm prefix", ErrHashInvalid)
}

// identifyAlgorithm is Django's identify_hasher without the lookup: bare
// 32-character strings and "md5$$" + 32 are unsalted MD5, "sha1$$" + 40
// is unsalted SHA1, anything else is named by its first "$" field.
// Lengths are in characters, as in Python.
func identifyAlgorithm(encoded string) string {
	n := utf8.RuneCountInString(encoded)
	switch {
	case n == 32 && !strings.Contains(encoded, "$"), n == 37 && strings.HasPrefix(encoded, "md5$$"):
		return config.AlgorithmUnsaltedMD5
	case n == 46 && strings.HasPrefix(encoded, "sha1$$"):
		return config.AlgorithmUnsaltedSHA1
	}
	alg, _, _ := strings.Cut(encoded, "$")
	return alg
}

func knownAlgorithm(alg string) bool {
	for _, a := range config.SupportedHashers {
		if a == alg {
			return true
		}
	}
	return false
}

// invalid is a malformed-hash error naming the algorithm and the reason,
// never the hash.
func invalid(alg, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrHashInvalid, alg, fmt.Sprintf(format, args...))
}

// parseDecimal parses the canonical decimal spelling of a number up to max:
// digits only, no sign, no leading zeros. Python's int() accepts more
// ("+5", " 5", "0_5"), but Django re-encodes the number with %d and
// compares whole strings, so any other spelling never verifies there.
func parseDecimal(s string, max uint64) (uint64, bool) {
	if s == "" || len(s) > 20 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		hi, lo := bits.Mul64(n, 10)
		lo, carry := bits.Add64(lo, uint64(c-'0'), 0)
		if hi != 0 || carry != 0 {
			return 0, false
		}
		n = lo
	}
	return n, n <= max
}

// decodeBase64 decodes s only if it is exactly enc's canonical encoding of
// the result: Go's decoder skips newlines and, unless strict, ignores
// trailing bits, while Django compares whole strings.
func decodeBase64(enc *base64.Encoding, s string) ([]byte, bool) {
	b, err := enc.Strict().DecodeString(s)
	if err != nil || enc.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// isLowerHex reports whether s is n lowercase hex digits, as Python's
// hexdigest() writes them.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
