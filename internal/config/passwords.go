package config

import (
	"math/bits"
	"runtime"
	"strings"
)

// Django's password hashers, by the names Django stores in hashes.
const (
	AlgorithmPBKDF2SHA256 = "pbkdf2_sha256"
	AlgorithmPBKDF2SHA1   = "pbkdf2_sha1"
	AlgorithmArgon2       = "argon2"
	AlgorithmBCryptSHA256 = "bcrypt_sha256"
	AlgorithmBCrypt       = "bcrypt"
	AlgorithmScrypt       = "scrypt"
	AlgorithmSHA1         = "sha1"
	AlgorithmMD5          = "md5"
	AlgorithmUnsaltedSHA1 = "unsalted_sha1"
	AlgorithmUnsaltedMD5  = "unsalted_md5"
)

// Hasher defaults: Django 6.1's.
const (
	DefaultPBKDF2Iterations  = 1_500_000
	DefaultArgon2TimeCost    = 2
	DefaultArgon2MemoryCost  = 102400 // KiB
	DefaultArgon2Parallelism = 8
	DefaultBCryptRounds      = 12
	DefaultScryptWorkFactor  = 1 << 14
	DefaultScryptBlockSize   = 8
	DefaultScryptParallelism = 5 // Django 5.1+ (ticket #35428)
)

// Limits on hasher parameters for new hashes.
const (
	// MinPBKDF2Iterations: below this a stolen hash is brute-forced in no
	// time.
	MinPBKDF2Iterations = 1000
	// MaxPBKDF2Iterations bounds the CPU one login may take.
	MaxPBKDF2Iterations = 100_000_000
	// MaxArgon2MemoryCost is 4 GiB in KiB.
	MaxArgon2MemoryCost = 4 << 20
	// MaxArgon2Work bounds memory_cost × time_cost (16 GiB of passes, in
	// KiB), the same bound the hashers apply to stored hashes.
	MaxArgon2Work = 16 << 20
	// MaxBCryptRounds: cost 18 already takes ~20 s per hash; the hashers
	// refuse stored hashes above it, so new ones may not exceed it either.
	MaxBCryptRounds = 18
	// MaxScryptMemory bounds scrypt's 128·N·r·p bytes.
	MaxScryptMemory = 1 << 30
)

// Validator names, as in Django's AUTH_PASSWORD_VALIDATORS.
const (
	ValidatorUserAttributeSimilarity = "UserAttributeSimilarityValidator"
	ValidatorMinimumLength           = "MinimumLengthValidator"
	ValidatorCommonPassword          = "CommonPasswordValidator"
	ValidatorNumericPassword         = "NumericPasswordValidator"
)

// Validator defaults: Django's.
const (
	DefaultMinLength     = 8
	DefaultMaxSimilarity = 0.7
)

// DefaultUserAttributes are UserAttributeSimilarityValidator's defaults.
var DefaultUserAttributes = []string{"username", "first_name", "last_name", "email"}

// SupportedHashers lists every algorithm, writing ones first.
var SupportedHashers = []string{
	AlgorithmPBKDF2SHA256, AlgorithmPBKDF2SHA1, AlgorithmArgon2, AlgorithmBCryptSHA256,
	AlgorithmBCrypt, AlgorithmScrypt, AlgorithmSHA1, AlgorithmMD5, AlgorithmUnsaltedSHA1, AlgorithmUnsaltedMD5,
}

// VerifyOnly reports whether an algorithm may only check old hashes:
// Django's weak legacy hashers, never used for new passwords here.
func VerifyOnly(algorithm string) bool {
	switch algorithm {
	case AlgorithmSHA1, AlgorithmMD5, AlgorithmUnsaltedSHA1, AlgorithmUnsaltedMD5:
		return true
	}
	return false
}

// hasherParams says which parameters an algorithm takes.
var hasherParams = map[string][]string{
	AlgorithmPBKDF2SHA256: {"iterations"},
	AlgorithmPBKDF2SHA1:   {"iterations"},
	AlgorithmArgon2:       {"time_cost", "memory_cost", "parallelism"},
	AlgorithmBCryptSHA256: {"rounds"},
	AlgorithmBCrypt:       {"rounds"},
	AlgorithmScrypt:       {"work_factor", "block_size", "parallelism"},
}

// applyPasswordDefaults applies Django's defaults: PASSWORD_HASHERS of a
// new Django 6.1 project (pbkdf2_sha256 first, then pbkdf2_sha1, argon2,
// bcrypt_sha256, scrypt), each algorithm's default parameters, and all
// four AUTH_PASSWORD_VALIDATORS of a new project.
func (c *Config) applyPasswordDefaults() {
	if len(c.PasswordHashers) == 0 {
		for _, a := range []string{AlgorithmPBKDF2SHA256, AlgorithmPBKDF2SHA1, AlgorithmArgon2, AlgorithmBCryptSHA256, AlgorithmScrypt} {
			c.PasswordHashers = append(c.PasswordHashers, PasswordHasher{Algorithm: a})
		}
	}
	for i := range c.PasswordHashers {
		h := &c.PasswordHashers[i]
		setString(&h.Algorithm, AlgorithmPBKDF2SHA256)
		switch h.Algorithm {
		case AlgorithmPBKDF2SHA256, AlgorithmPBKDF2SHA1:
			setInt(&h.Iterations, DefaultPBKDF2Iterations)
		case AlgorithmArgon2:
			setInt(&h.TimeCost, DefaultArgon2TimeCost)
			setInt(&h.MemoryCost, DefaultArgon2MemoryCost)
			setInt(&h.Parallelism, DefaultArgon2Parallelism)
		case AlgorithmBCryptSHA256, AlgorithmBCrypt:
			setInt(&h.Rounds, DefaultBCryptRounds)
		case AlgorithmScrypt:
			setInt(&h.WorkFactor, DefaultScryptWorkFactor)
			setInt(&h.BlockSize, DefaultScryptBlockSize)
			setInt(&h.Parallelism, DefaultScryptParallelism)
		}
	}
	if len(c.PasswordValidators) == 0 {
		for _, n := range []string{ValidatorUserAttributeSimilarity, ValidatorMinimumLength, ValidatorCommonPassword, ValidatorNumericPassword} {
			c.PasswordValidators = append(c.PasswordValidators, PasswordValidator{Name: n})
		}
	}
	for i := range c.PasswordValidators {
		pv := &c.PasswordValidators[i]
		switch pv.Name {
		case ValidatorMinimumLength:
			setInt(&pv.MinLength, DefaultMinLength)
		case ValidatorUserAttributeSimilarity:
			if pv.MaxSimilarity == 0 {
				pv.MaxSimilarity = DefaultMaxSimilarity
			}
			if len(pv.UserAttributes) == 0 {
				pv.UserAttributes = append([]string(nil), DefaultUserAttributes...)
			}
		}
	}
	setInt(&c.PasswordHashConcurrency, DefaultPasswordHashConcurrency())
}

// DefaultPasswordHashConcurrency is half the CPUs, at least one: hashing
// may never occupy every core, so proxied requests always find one.
func DefaultPasswordHashConcurrency() int { return max(1, runtime.NumCPU()/2) }

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func (v *validator) passwordHashers(hs []PasswordHasher) {
	if len(hs) == 0 {
		v.add("password_hashers", "at least one hasher is required")
		return
	}
	seen := map[string]int{}
	for i, h := range hs {
		p := indexPath("password_hashers", i)
		if h.Algorithm == "" {
			v.add(p+".algorithm", "required; supported: %s", strings.Join(SupportedHashers, ", "))
			continue
		}
		if !isSupportedHasher(h.Algorithm) {
			v.add(p+".algorithm", "unsupported algorithm %s; supported: %s", quoteValue(h.Algorithm), strings.Join(SupportedHashers, ", "))
			continue
		}
		if j, dup := seen[h.Algorithm]; dup {
			v.add(p+".algorithm", "duplicate of password_hashers[%d]; list each algorithm once", j)
		} else {
			seen[h.Algorithm] = i
		}
		if i == 0 && VerifyOnly(h.Algorithm) {
			v.add(p+".algorithm", "%s can only verify old hashes; list a hasher for new passwords first, e.g. %s", h.Algorithm, AlgorithmPBKDF2SHA256)
		}
		v.hasherParams(p, h)
	}
}

// hasherParams rejects parameters of other algorithms (a likely mix-up)
// and checks the ranges of the algorithm's own.
func (v *validator) hasherParams(p string, h PasswordHasher) {
	set := map[string]int{
		"iterations": h.Iterations, "time_cost": h.TimeCost, "memory_cost": h.MemoryCost,
		"parallelism": h.Parallelism, "rounds": h.Rounds, "work_factor": h.WorkFactor, "block_size": h.BlockSize,
	}
	own := map[string]bool{}
	for _, k := range hasherParams[h.Algorithm] {
		own[k] = true
	}
	for _, k := range []string{"iterations", "time_cost", "memory_cost", "parallelism", "rounds", "work_factor", "block_size"} {
		if set[k] != 0 && !own[k] {
			if len(own) == 0 {
				v.add(p+"."+k, "%s takes no parameters", h.Algorithm)
			} else {
				v.add(p+"."+k, "does not apply to %s (it takes %s)", h.Algorithm, strings.Join(hasherParams[h.Algorithm], ", "))
			}
		}
	}
	between := func(k string, lo, hi int, why string) {
		if x := set[k]; own[k] && (x < lo || x > hi) {
			v.add(p+"."+k, "must be from %d to %d, got %d%s", lo, hi, x, why)
		}
	}
	between("iterations", MinPBKDF2Iterations, MaxPBKDF2Iterations, "; fewer make stolen hashes cheap to crack")
	between("rounds", 4, MaxBCryptRounds, " (bcrypt's log2 cost)")
	switch h.Algorithm {
	case AlgorithmArgon2:
		between("time_cost", 1, 100, "")
		between("parallelism", 1, 255, "")
		between("memory_cost", 8*max(h.Parallelism, 1), MaxArgon2MemoryCost, " KiB (at least 8 per lane)")
		if w := h.MemoryCost * h.TimeCost; w > MaxArgon2Work {
			v.add(p+".memory_cost", "memory_cost × time_cost is %d KiB, more than the %d allowed", w, MaxArgon2Work)
		}
	case AlgorithmScrypt:
		if n := h.WorkFactor; n < 2 || bits.OnesCount(uint(n)) != 1 {
			v.add(p+".work_factor", "must be a power of two greater than 1, got %d", n)
		}
		between("block_size", 1, 64, "")
		between("parallelism", 1, 64, "")
		if mem := 128 * h.WorkFactor * h.BlockSize * max(h.Parallelism, 1); mem > MaxScryptMemory || mem < 0 {
			v.add(p+".work_factor", "128·work_factor·block_size·parallelism is %d bytes, more than the %d allowed", mem, MaxScryptMemory)
		}
	}
}

func isSupportedHasher(a string) bool {
	for _, s := range SupportedHashers {
		if a == s {
			return true
		}
	}
	return false
}

func (v *validator) passwordValidators(vs []PasswordValidator) {
	for i, pv := range vs {
		p := indexPath("password_validators", i)
		switch pv.Name {
		case ValidatorUserAttributeSimilarity:
			if pv.MinLength != 0 {
				v.add(p+".min_length", "does not apply to %s", pv.Name)
			}
			if pv.MaxSimilarity < 0.1 || pv.MaxSimilarity > 1 {
				v.add(p+".max_similarity", "must be from 0.1 to 1, got %g", pv.MaxSimilarity)
			}
			for j, a := range pv.UserAttributes {
				if !contains(DefaultUserAttributes, a) {
					v.add(indexPath(p+".user_attributes", j), "unknown attribute %s; use %s", quoteValue(a), strings.Join(DefaultUserAttributes, ", "))
				}
			}
		case ValidatorMinimumLength:
			if pv.MinLength < 1 {
				v.add(p+".min_length", "must be at least 1, got %d", pv.MinLength)
			}
			v.noSimilarityOptions(p, pv)
		case ValidatorCommonPassword, ValidatorNumericPassword:
			if pv.MinLength != 0 {
				v.add(p+".min_length", "does not apply to %s", pv.Name)
			}
			v.noSimilarityOptions(p, pv)
		default:
			v.add(p+".name", "unknown validator %s; use %s, %s, %s or %s", quoteValue(pv.Name),
				ValidatorUserAttributeSimilarity, ValidatorMinimumLength, ValidatorCommonPassword, ValidatorNumericPassword)
		}
	}
}

func (v *validator) noSimilarityOptions(p string, pv PasswordValidator) {
	if pv.MaxSimilarity != 0 {
		v.add(p+".max_similarity", "does not apply to %s", pv.Name)
	}
	if len(pv.UserAttributes) != 0 {
		v.add(p+".user_attributes", "does not apply to %s", pv.Name)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
