package authn

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/djangate/gateway/internal/config"
)

// testIterations keeps PBKDF2 cheap in tests.
const testIterations = 1000

func newTestHashers(tb testing.TB, iterations int) *Hashers {
	tb.Helper()
	hs, err := NewHashers([]config.PasswordHasher{{Algorithm: AlgorithmPBKDF2SHA256, Iterations: iterations}}, 0)
	if err != nil {
		tb.Fatalf("NewHashers: %v", err)
	}
	return hs
}

// cheapHasherParams are fast parameters for every writable algorithm.
var cheapHasherParams = map[string]config.PasswordHasher{
	config.AlgorithmPBKDF2SHA256: {Iterations: testIterations},
	config.AlgorithmPBKDF2SHA1:   {Iterations: testIterations},
	config.AlgorithmArgon2:       {TimeCost: 1, MemoryCost: 64, Parallelism: 2},
	config.AlgorithmBCryptSHA256: {Rounds: 4},
	config.AlgorithmBCrypt:       {Rounds: 4},
	config.AlgorithmScrypt:       {WorkFactor: 1024, BlockSize: 8, Parallelism: 1},
}

// defaultHasherParams are config's defaults (Django 6.1's, per config).
var defaultHasherParams = map[string]config.PasswordHasher{
	config.AlgorithmPBKDF2SHA256: {Iterations: config.DefaultPBKDF2Iterations},
	config.AlgorithmPBKDF2SHA1:   {Iterations: config.DefaultPBKDF2Iterations},
	config.AlgorithmArgon2: {TimeCost: config.DefaultArgon2TimeCost, MemoryCost: config.DefaultArgon2MemoryCost,
		Parallelism: config.DefaultArgon2Parallelism},
	config.AlgorithmBCryptSHA256: {Rounds: config.DefaultBCryptRounds},
	config.AlgorithmBCrypt:       {Rounds: config.DefaultBCryptRounds},
	config.AlgorithmScrypt: {WorkFactor: config.DefaultScryptWorkFactor, BlockSize: config.DefaultScryptBlockSize,
		Parallelism: config.DefaultScryptParallelism},
}

// writable lists the algorithms that hash new passwords.
func writableAlgorithms() []string {
	var out []string
	for _, a := range config.SupportedHashers {
		if !config.VerifyOnly(a) {
			out = append(out, a)
		}
	}
	return out
}

// allHashersConfig lists every algorithm, pref first, with params.
func allHashersConfig(pref string, params map[string]config.PasswordHasher) []config.PasswordHasher {
	list := []config.PasswordHasher{}
	add := func(a string) {
		c := params[a]
		c.Algorithm = a
		list = append(list, c)
	}
	add(pref)
	for _, a := range config.SupportedHashers {
		if a != pref {
			add(a)
		}
	}
	return list
}

func newAllHashers(tb testing.TB, pref string, params map[string]config.PasswordHasher) *Hashers {
	tb.Helper()
	hs, err := NewHashers(allHashersConfig(pref, params), 0)
	if err != nil {
		tb.Fatalf("NewHashers: %v", err)
	}
	return hs
}

// The expected hashes were computed independently with Python:
//
//	python3 -c "import hashlib,base64; print(base64.b64encode(
//	  hashlib.pbkdf2_hmac('sha256', 'pw'.encode(), b'salt', 1000)).decode())"
//
// and the 10000-iteration one is the vector of Django 1.5's own
// tests/auth_tests/test_hashers.py. testdata/hash_vectors.json has many
// more, made by Django itself (hasher_vectors_test.go).
var pbkdf2Vectors = []struct {
	name       string
	password   string
	salt       string
	iterations int
	want       string
}{
	{"ascii", "pw", "salt", 1000, "pbkdf2_sha256$1000$salt$CjglNVXON/XHKmtwP5loFOvyQfIDrxRuk9zesDHFVn4="},
	{"non-ascii password is UTF-8", "lètmein", "seasalt", 1000, "pbkdf2_sha256$1000$seasalt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A="},
	{"empty password", "", "emptysalt", 1000, "pbkdf2_sha256$1000$emptysalt$Th/GgYSDV3N4Zpkx3TpFlR/PPyCUSrZ7QQFwKxyd/oo="},
	{"django 1.5 test vector", "lètmein", "seasalt", 10000, "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY="},
}

func TestPBKDF2Vectors(t *testing.T) {
	for _, tc := range pbkdf2Vectors {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newPBKDF2(AlgorithmPBKDF2SHA256, tc.iterations)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.encodeWith(tc.password, tc.salt, tc.iterations); got != tc.want {
				t.Fatalf("encode = %q, want %q", got, tc.want)
			}
			// Any configured iteration count verifies a stored hash.
			hs := newTestHashers(t, testIterations)
			if ok, _ := hs.Check(tc.password, tc.want); !ok {
				t.Fatal("Check(correct password) = false")
			}
			if ok, _ := hs.Check(tc.password+"x", tc.want); ok {
				t.Fatal("Check(wrong password) = true")
			}
		})
	}
}

func TestMakeFormat(t *testing.T) {
	hs := newTestHashers(t, testIterations)
	enc, err := hs.Make("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// Django's documented shape: <algorithm>$<iterations>$<salt>$<hash>.
	parts := strings.Split(enc, "$")
	if len(parts) != 4 {
		t.Fatalf("Make = %q: want 4 $-separated fields", enc)
	}
	if parts[0] != "pbkdf2_sha256" || parts[1] != strconv.Itoa(testIterations) {
		t.Errorf("Make = %q: wrong algorithm or iterations", enc)
	}
	if len(parts[2]) != 22 || strings.Trim(parts[2], randomChars) != "" {
		t.Errorf("salt %q: want 22 chars of [a-zA-Z0-9]", parts[2])
	}
	if len(parts[3]) != 44 || !strings.HasSuffix(parts[3], "=") {
		t.Errorf("hash %q: want base64 of 32 bytes", parts[3])
	}
	if ok, mustUpdate := hs.Check("correct horse", enc); !ok || mustUpdate {
		t.Errorf("Check(fresh hash) = %v, %v; want true, false", ok, mustUpdate)
	}
	again, _ := hs.Make("correct horse")
	if again == enc {
		t.Error("two hashes of one password are equal: salt is not random")
	}
	if _, err := hs.Make(""); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("Make(\"\") error = %v, want ErrEmptyPassword", err)
	}
}

// The encoded hashFormats Django writes, for hashes made here.
var hashFormats = map[string]*regexp.Regexp{
	config.AlgorithmPBKDF2SHA256: regexp.MustCompile(`^pbkdf2_sha256\$1000\$[a-zA-Z0-9]{22}\$[A-Za-z0-9+/]{43}=$`),
	config.AlgorithmPBKDF2SHA1:   regexp.MustCompile(`^pbkdf2_sha1\$1000\$[a-zA-Z0-9]{22}\$[A-Za-z0-9+/]{27}=$`),
	config.AlgorithmArgon2:       regexp.MustCompile(`^argon2\$argon2id\$v=19\$m=64,t=1,p=2\$[A-Za-z0-9+/]{30}\$[A-Za-z0-9+/]{22}$`),
	config.AlgorithmBCryptSHA256: regexp.MustCompile(`^bcrypt_sha256\$\$2b\$04\$[./A-Za-z0-9]{53}$`),
	config.AlgorithmBCrypt:       regexp.MustCompile(`^bcrypt\$\$2b\$04\$[./A-Za-z0-9]{53}$`),
	config.AlgorithmScrypt:       regexp.MustCompile(`^scrypt\$1024\$[a-zA-Z0-9]{22}\$8\$1\$[A-Za-z0-9+/]{86}==$`),
}

// hashTestPasswords: ASCII, Latin-1, other scripts and emoji, and two of 100
// bytes, the second with its 72nd byte inside a 3-byte character.
var hashTestPasswords = []string{
	"correct horse battery staple", "lètmein", "пароль 🔑 密码",
	strings.Repeat("0123456789", 10), "a" + strings.Repeat("€", 33),
}

// TestRoundTrip makes a hash with every writable hasher and checks it.
func TestRoundTrip(t *testing.T) {
	for _, alg := range writableAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			hs := newAllHashers(t, alg, cheapHasherParams)
			for _, pw := range hashTestPasswords {
				enc, err := hs.Make(pw)
				if err != nil {
					t.Fatal(err)
				}
				if !hashFormats[alg].MatchString(enc) {
					t.Errorf("Make = %q: not Django's format", enc)
				}
				if r, err := hs.CheckContext(context.Background(), pw, enc); err != nil || !r.OK || r.MustUpdate || r.Problem != nil {
					t.Errorf("Check(%q, fresh) = %+v, %v; want OK only", pw, r, err)
				}
				for _, wrong := range []string{pw + "x", pw[:len(pw)-1], strings.ToUpper(pw), ""} {
					if wrong == pw {
						continue
					}
					// Plain bcrypt uses the first 72 bytes, as Django's does.
					want := alg == config.AlgorithmBCrypt && len(wrong) >= 72 && wrong[:72] == pw[:72]
					if ok, _ := hs.Check(wrong, enc); ok != want {
						t.Errorf("Check(%q) against the hash of %q = %v, want %v", wrong, pw, ok, want)
					}
				}
				long := pw
				if len(long) > 72 {
					long = pw[:72] + "different tail"
				}
				wantLong := alg == config.AlgorithmBCrypt || long == pw
				if ok, _ := hs.Check(long, enc); ok != wantLong {
					t.Errorf("Check(first 72 bytes + other tail) = %v, want %v", ok, wantLong)
				}
			}
		})
	}
}

func TestBCryptNUL(t *testing.T) {
	hs := newAllHashers(t, config.AlgorithmBCrypt, cheapHasherParams)
	if _, err := hs.Make("nul\x00byte"); err == nil {
		t.Error("bcrypt Make accepted a NUL byte (Django's bcrypt raises)")
	}
	// A hash x/crypto made of the key with the NUL would match it; C
	// bcrypt stops at the NUL, so Django refuses such passwords outright.
	mcf, err := bcrypt.GenerateFromPassword([]byte("nul\x00byte"), 4)
	if err != nil {
		t.Fatal(err)
	}
	enc := "bcrypt$$2b" + strings.TrimPrefix(string(mcf), "$2a")
	if ok, _ := hs.Check("nul\x00byte", enc); ok {
		t.Error("a password with a NUL byte verified against plain bcrypt")
	}
	sha := newAllHashers(t, config.AlgorithmBCryptSHA256, cheapHasherParams)
	enc, err = sha.Make("nul\x00byte")
	if err != nil {
		t.Fatalf("bcrypt_sha256 refused a NUL byte: %v", err)
	}
	if ok, _ := sha.Check("nul\x00byte", enc); !ok {
		t.Error("bcrypt_sha256 did not verify a password with a NUL byte")
	}
}

func TestCheck(t *testing.T) {
	hs := newTestHashers(t, testIterations)
	good, err := hs.Make("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPBKDF2(AlgorithmPBKDF2SHA256, testIterations)
	old := p.encodeWith("s3cret", randomString(22), 500)
	shortSalt := p.encodeWith("s3cret", "abcdefghijkl", testIterations)
	const (
		none = iota
		invalidHash
		notEnabled
	)
	tests := []struct {
		name           string
		password       string
		encoded        string
		wantOK         bool
		wantMustUpdate bool
		wantProblem    int
	}{
		{"correct", "s3cret", good, true, false, none},
		{"wrong password", "s3cret!", good, false, false, none},
		{"case matters", "S3cret", good, false, false, none},
		{"empty encoded", "s3cret", "", false, false, none},
		{"unusable", "s3cret", hs.MakeUnusable(), false, false, none},
		{"unusable prefix on a valid hash", "s3cret", "!" + good, false, false, none},
		{"algorithm not enabled", "s3cret", strings.Replace(good, "pbkdf2_sha256", "argon2", 1), false, false, notEnabled},
		{"unsalted md5 not enabled", "s3cret", "5ebe2294ecd0e0f08eab7690d2a6ee69", false, false, notEnabled},
		{"unknown algorithm", "s3cret", strings.Replace(good, "pbkdf2_sha256", "whirlpool", 1), false, false, invalidHash},
		{"no dollar", "s3cret", "hunter2", false, false, invalidHash},
		{"algorithm without fields", "s3cret", "pbkdf2_sha256", false, false, invalidHash},
		{"truncated after algorithm", "s3cret", "pbkdf2_sha256$", false, false, invalidHash},
		{"truncated after iterations", "s3cret", "pbkdf2_sha256$1000$", false, false, invalidHash},
		{"truncated hash", "s3cret", good[:len(good)-5], false, false, invalidHash},
		{"empty salt", "s3cret", "pbkdf2_sha256$1000$$abc=", false, false, invalidHash},
		{"zero iterations", "s3cret", "pbkdf2_sha256$0$salt$abc=", false, false, invalidHash},
		{"negative iterations", "s3cret", "pbkdf2_sha256$-1$salt$abc=", false, false, invalidHash},
		{"leading zero iterations", "s3cret", strings.Replace(good, "$1000$", "$01000$", 1), false, false, invalidHash},
		{"huge iterations", "s3cret", "pbkdf2_sha256$99999999999999999999$salt$abc=", false, false, invalidHash},
		{"2^40 iterations", "s3cret", strings.Replace(good, "$1000$", "$1099511627776$", 1), false, false, invalidHash},
		{"non-numeric iterations", "s3cret", "pbkdf2_sha256$abc$salt$abc=", false, false, invalidHash},
		{"extra field", "s3cret", good + "$x", false, false, invalidHash},
		{"longer than 4096 bytes", "s3cret", good + strings.Repeat("A", 4096), false, false, invalidHash},
		{"older iterations verify and need update", "s3cret", old, true, true, none},
		{"older iterations wrong password", "nope", old, false, true, none},
		{"short salt verifies and needs update", "s3cret", shortSalt, true, true, none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := hs.CheckContext(context.Background(), tc.password, tc.encoded)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK != tc.wantOK || r.MustUpdate != tc.wantMustUpdate {
				t.Errorf("Check = %v, %v; want %v, %v", r.OK, r.MustUpdate, tc.wantOK, tc.wantMustUpdate)
			}
			switch tc.wantProblem {
			case none:
				if r.Problem != nil {
					t.Errorf("Problem = %v, want none", r.Problem)
				}
			case invalidHash:
				if !errors.Is(r.Problem, ErrHashInvalid) {
					t.Errorf("Problem = %v, want ErrHashInvalid", r.Problem)
				}
			case notEnabled:
				if !errors.Is(r.Problem, ErrHashAlgorithmNotEnabled) {
					t.Errorf("Problem = %v, want ErrHashAlgorithmNotEnabled", r.Problem)
				}
			}
			if last := tc.encoded[strings.LastIndex(tc.encoded, "$")+1:]; r.Problem != nil && len(last) >= 8 && !knownAlgorithm(last) && strings.Contains(r.Problem.Error(), last) {
				t.Errorf("Problem %q quotes the hash", r.Problem)
			}
			if ok, mu := hs.Check(tc.password, tc.encoded); ok != r.OK || mu != r.MustUpdate {
				t.Errorf("Check and CheckContext disagree")
			}
		})
	}
}

// TestMustUpdate: Django's must_update for the preferred hasher, and any
// hash of another enabled algorithm.
func TestMustUpdate(t *testing.T) {
	mk := func(alg string, params config.PasswordHasher) string {
		t.Helper()
		params.Algorithm = alg
		h, err := newHasher(params)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := h.(encoder).encode("s3cret")
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	with := func(alg string, f func(*config.PasswordHasher)) config.PasswordHasher {
		c := cheapHasherParams[alg]
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		pref    string
		encoded string
		want    bool
	}{
		{"pbkdf2 same", "pbkdf2_sha256", mk("pbkdf2_sha256", cheapHasherParams["pbkdf2_sha256"]), false},
		{"pbkdf2 more iterations", "pbkdf2_sha256", mk("pbkdf2_sha256", with("pbkdf2_sha256", func(c *config.PasswordHasher) { c.Iterations = 1200 })), true},
		{"pbkdf2 fewer iterations", "pbkdf2_sha256", mk("pbkdf2_sha256", with("pbkdf2_sha256", func(c *config.PasswordHasher) { c.Iterations = 999 })), true},
		{"pbkdf2 short salt", "pbkdf2_sha256", pbkdf2ForTest("s3cret", "iodizedsalt", testIterations), true},
		{"pbkdf2_sha1 from pbkdf2_sha256", "pbkdf2_sha256", mk("pbkdf2_sha1", cheapHasherParams["pbkdf2_sha1"]), true},
		{"argon2 same", "argon2", mk("argon2", cheapHasherParams["argon2"]), false},
		{"argon2 time", "argon2", mk("argon2", with("argon2", func(c *config.PasswordHasher) { c.TimeCost = 2 })), true},
		{"argon2 memory", "argon2", mk("argon2", with("argon2", func(c *config.PasswordHasher) { c.MemoryCost = 128 })), true},
		{"argon2 lanes", "argon2", mk("argon2", with("argon2", func(c *config.PasswordHasher) { c.Parallelism = 1 })), true},
		{"argon2 from bcrypt", "argon2", mk("bcrypt", cheapHasherParams["bcrypt"]), true},
		{"bcrypt same", "bcrypt", mk("bcrypt", cheapHasherParams["bcrypt"]), false},
		{"bcrypt more rounds", "bcrypt", mk("bcrypt", with("bcrypt", func(c *config.PasswordHasher) { c.Rounds = 5 })), true},
		{"bcrypt_sha256 same", "bcrypt_sha256", mk("bcrypt_sha256", cheapHasherParams["bcrypt_sha256"]), false},
		{"bcrypt_sha256 from bcrypt", "bcrypt_sha256", mk("bcrypt", cheapHasherParams["bcrypt"]), true},
		{"scrypt same", "scrypt", mk("scrypt", cheapHasherParams["scrypt"]), false},
		{"scrypt N", "scrypt", mk("scrypt", with("scrypt", func(c *config.PasswordHasher) { c.WorkFactor = 2048 })), true},
		{"scrypt r", "scrypt", mk("scrypt", with("scrypt", func(c *config.PasswordHasher) { c.BlockSize = 4 })), true},
		{"scrypt p", "scrypt", mk("scrypt", with("scrypt", func(c *config.PasswordHasher) { c.Parallelism = 2 })), true},
		{"md5 from legacy", "pbkdf2_sha256", newSaltedLegacy("md5").encodeForTest("s3cret", randomString(22)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := newAllHashers(t, tc.pref, cheapHasherParams)
			r, err := hs.CheckContext(context.Background(), "s3cret", tc.encoded)
			if err != nil || r.Problem != nil {
				t.Fatalf("Check: %v, %v", err, r.Problem)
			}
			if !r.OK {
				t.Errorf("Check = false")
			}
			if r.MustUpdate != tc.want {
				t.Errorf("MustUpdate = %v, want %v", r.MustUpdate, tc.want)
			}
		})
	}
}

func pbkdf2ForTest(password, salt string, iterations int) string {
	p, _ := newPBKDF2(AlgorithmPBKDF2SHA256, iterations)
	return p.encodeWith(password, salt, iterations)
}

// encodeForTest makes a legacy hash, which Hashers never do.
func (s *saltedLegacy) encodeForTest(password, salt string) string {
	h := s.digest()
	h.Write([]byte(salt + password))
	return s.alg + "$" + salt + "$" + lowerHexString(h.Sum(nil))
}

func lowerHexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestMakeUnusable(t *testing.T) {
	hs := newTestHashers(t, testIterations)
	u := hs.MakeUnusable()
	if len(u) != 41 || u[0] != '!' || strings.Trim(u[1:], randomChars) != "" {
		t.Fatalf("MakeUnusable = %q: want '!' and 40 chars of [a-zA-Z0-9]", u)
	}
	if IsUsable(u) {
		t.Error("IsUsable(unusable) = true")
	}
	if u == hs.MakeUnusable() {
		t.Error("two unusable passwords are equal")
	}
}

func TestNewHashers(t *testing.T) {
	pb := func(it int) config.PasswordHasher {
		return config.PasswordHasher{Algorithm: "pbkdf2_sha256", Iterations: it}
	}
	tests := []struct {
		name        string
		cfg         []config.PasswordHasher
		concurrency int
		wantErr     string
	}{
		{"ok", []config.PasswordHasher{pb(1_000_000)}, 0, ""},
		{"every algorithm", allHashersConfig("argon2", defaultHasherParams), 3, ""},
		{"empty", nil, 0, "at least one"},
		{"unknown algorithm", []config.PasswordHasher{{Algorithm: "whirlpool"}}, 0, `unsupported algorithm "whirlpool"`},
		{"verify-only first", []config.PasswordHasher{{Algorithm: "md5"}, pb(1000)}, 0, "can only verify"},
		{"verify-only later", []config.PasswordHasher{pb(1000), {Algorithm: "md5"}, {Algorithm: "unsalted_md5"}}, 0, ""},
		{"zero iterations", []config.PasswordHasher{{Algorithm: "pbkdf2_sha256"}}, 0, "iterations must be in"},
		{"too many iterations", []config.PasswordHasher{pb(maxPBKDF2Iterations + 1)}, 0, "iterations must be in"},
		{"duplicate", []config.PasswordHasher{pb(1), pb(2)}, 0, "listed twice"},
		{"negative concurrency", []config.PasswordHasher{pb(1000)}, -1, "concurrency"},
		{"bcrypt rounds 3", []config.PasswordHasher{{Algorithm: "bcrypt", Rounds: 3}}, 0, "rounds must be in 4..18"},
		{"bcrypt rounds 19", []config.PasswordHasher{{Algorithm: "bcrypt_sha256", Rounds: 19}}, 0, "rounds must be in 4..18"},
		{"argon2 zero time", []config.PasswordHasher{{Algorithm: "argon2", MemoryCost: 64, Parallelism: 1}}, 0, "time cost"},
		{"argon2 too little memory", []config.PasswordHasher{{Algorithm: "argon2", TimeCost: 1, MemoryCost: 15, Parallelism: 2}}, 0, "8 KiB per lane"},
		{"argon2 256 lanes", []config.PasswordHasher{{Algorithm: "argon2", TimeCost: 1, MemoryCost: 4096, Parallelism: 256}}, 0, "parallelism"},
		{"argon2 too much work", []config.PasswordHasher{{Algorithm: "argon2", TimeCost: 5, MemoryCost: 4 << 20, Parallelism: 1}}, 0, "memory cost × time cost"},
		{"scrypt N not a power of two", []config.PasswordHasher{{Algorithm: "scrypt", WorkFactor: 1000, BlockSize: 8, Parallelism: 1}}, 0, "power of two"},
		{"scrypt too much memory", []config.PasswordHasher{{Algorithm: "scrypt", WorkFactor: 1 << 21, BlockSize: 8, Parallelism: 1}}, 0, "at most"},
		{"scrypt N >= 2^(16r)", []config.PasswordHasher{{Algorithm: "scrypt", WorkFactor: 1 << 16, BlockSize: 1, Parallelism: 1}}, 0, "2^(16·r)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs, err := NewHashers(tc.cfg, tc.concurrency)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				want := tc.concurrency
				if want == 0 {
					want = runtime.NumCPU()
				}
				if cap(hs.sem) != want {
					t.Errorf("slots = %d, want %d", cap(hs.sem), want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRandomStringUniformAlphabet(t *testing.T) {
	seen := map[rune]bool{}
	for range 200 {
		s := randomString(22)
		if len(s) != 22 {
			t.Fatalf("len = %d", len(s))
		}
		for _, r := range s {
			if !strings.ContainsRune(randomChars, r) {
				t.Fatalf("char %q outside the alphabet", r)
			}
			seen[r] = true
		}
	}
	// 4400 draws over 62 symbols: missing one is a ~1e-29 event.
	if len(seen) != len(randomChars) {
		t.Errorf("saw %d distinct chars, want %d", len(seen), len(randomChars))
	}
	if saltLength != 22 {
		t.Errorf("saltLength = %d, want Django's 22", saltLength)
	}
}

// minRunTime runs f n times and returns the fastest run: the least noisy
// estimate on a shared machine.
func minRunTime(n int, f func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range n {
		start := time.Now()
		f()
		best = min(best, time.Since(start))
	}
	return best
}

// TestTimingSanity: a wrong password against a weaker hash of the
// preferred algorithm costs about one preferred hash (harden_runtime), as
// do unusable, malformed and unknown hashes and unknown users (Dummy),
// while a correct password against the weak hash stays cheap. The bounds
// are loose: this catches a missing step, not a few percent.
func TestTimingSanity(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	cases := []struct {
		alg          string
		strong, weak config.PasswordHasher
	}{
		{"pbkdf2_sha256", config.PasswordHasher{Iterations: 40_000}, config.PasswordHasher{Iterations: 1000}},
		{"bcrypt_sha256", config.PasswordHasher{Rounds: 7}, config.PasswordHasher{Rounds: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.alg, func(t *testing.T) {
			params := map[string]config.PasswordHasher{}
			for k, v := range cheapHasherParams {
				params[k] = v
			}
			params[tc.alg] = tc.strong
			hs := newAllHashers(t, tc.alg, params)
			strong, err := hs.Make("s3cret")
			if err != nil {
				t.Fatal(err)
			}
			weakParams := tc.weak
			weakParams.Algorithm = tc.alg
			wh, _ := newHasher(weakParams)
			weak, _ := wh.(encoder).encode("s3cret")

			full := minRunTime(3, func() { hs.Check("wrong", strong) })
			hardened := minRunTime(3, func() { hs.Check("wrong", weak) })
			cheap := minRunTime(3, func() { hs.Check("s3cret", weak) })
			dummy := minRunTime(2, func() { hs.Dummy("wrong") })
			unusable := minRunTime(2, func() { hs.Check("wrong", "!"+strong) })
			malformed := minRunTime(2, func() { hs.Check("wrong", strong[:len(strong)-2]) })
			unknown := minRunTime(2, func() { hs.Check("wrong", "crypt$$ab01234567890") })
			t.Logf("full %v, hardened %v, correct on weak %v, dummy %v, unusable %v, malformed %v, unknown %v",
				full, hardened, cheap, dummy, unusable, malformed, unknown)
			for name, d := range map[string]time.Duration{"hardened": hardened, "dummy": dummy, "unusable": unusable, "malformed": malformed, "unknown": unknown} {
				if d < full*4/10 {
					t.Errorf("%s took %v, under 40%% of a full check (%v)", name, d, full)
				}
			}
			if cheap > full/2 {
				t.Errorf("a correct password against the weak hash took %v, not much less than a full check (%v): hardening without need?", cheap, full)
			}
		})
	}
}

func TestConcurrencyLimit(t *testing.T) {
	hs, err := NewHashers(allHashersConfig("pbkdf2_sha256", cheapHasherParams), 1)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := hs.Make("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	release, err := hs.acquire(context.Background()) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := hs.CheckContext(ctx, "s3cret", enc); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CheckContext with no free slot: err = %v, want DeadlineExceeded", err)
	}
	if _, err := hs.CheckContext(ctx, "s3cret", "malformed$"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CheckContext (dummy path) with no free slot: err = %v, want DeadlineExceeded", err)
	}
	if _, err := hs.MakeContext(ctx, "s3cret"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("MakeContext with no free slot: err = %v, want DeadlineExceeded", err)
	}
	if err := hs.DummyContext(ctx, "s3cret"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("DummyContext with no free slot: err = %v, want DeadlineExceeded", err)
	}
	// Without a deadline, a waiting check proceeds once the slot frees.
	done := make(chan bool)
	go func() {
		ok, _ := hs.Check("s3cret", enc)
		done <- ok
	}()
	select {
	case <-done:
		t.Fatal("Check ran without a slot")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	if !<-done {
		t.Error("Check = false after the slot freed")
	}
	// A context already ended never computes, even with a free slot.
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := hs.CheckContext(cancelled, "s3cret", enc); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckContext(cancelled) err = %v", err)
	}
}

// FuzzCheck: decoding never panics, a Problem never quotes the hash, and
// nothing verifies that Django would not: the fuzzer cannot invert a
// hash, so anything accepted must be a known (password, hash) pair of the
// corpus, up to the equivalences Django has too (bcrypt's 72 bytes and
// $2a$/$2b$/$2y$, argon2's implicit v=16, md5$$ for unsalted MD5).
func FuzzCheck(f *testing.F) {
	hs := newAllHashers(f, config.AlgorithmPBKDF2SHA256, cheapHasherParams)
	known := map[string][]string{}
	addKnown := func(password, encoded string) {
		k := canonicalEncoding(encoded)
		known[k] = append(known[k], password)
	}
	for _, v := range pbkdf2Vectors {
		f.Add(v.password, v.want)
		addKnown(v.password, v.want)
	}
	vf := loadHashVectors(f)
	for _, v := range vf.Vectors {
		for _, c := range v.Checks {
			if c.OK {
				addKnown(c.Password, v.Encoded)
			}
		}
		if !fuzzTooExpensive(v.Encoded) {
			f.Add(v.Checks[0].Password, v.Encoded)
			f.Add(v.Checks[len(v.Checks)-1].Password, v.Encoded)
		}
	}
	for _, m := range vf.Malformed {
		if !fuzzTooExpensive(m.Encoded) {
			f.Add(m.Password, m.Encoded)
		}
	}
	for _, s := range []string{"", "!", "$", "$$$", "pbkdf2_sha256$", "pbkdf2_sha256$1$$", "pbkdf2_sha256$1$s$", "pbkdf2_sha256$1$s$\xff",
		"pbkdf2_sha256$-5$s$h", "pbkdf2_sha256$1$s$h$h", "argon2$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAA", "bcrypt$$2b$04$",
		"scrypt$2$s$1$1$", "md5$$", "sha1$$", strings.Repeat("0", 32), "md5$$" + strings.Repeat("0", 32)} {
		f.Add("pw", s)
	}
	f.Fuzz(func(t *testing.T, password, encoded string) {
		// Valid but expensive parameters only slow the fuzzer down.
		if fuzzTooExpensive(encoded) {
			t.Skip()
		}
		r, err := hs.CheckContext(context.Background(), password, encoded)
		if err != nil {
			t.Fatal(err)
		}
		if r.Problem != nil {
			if r.OK {
				t.Fatal("OK with a Problem")
			}
			msg := r.Problem.Error()
			// The message names the algorithm; a field that merely spells
			// part of an algorithm's name ("df2_sha2") is not a leak.
			for _, a := range config.SupportedHashers {
				msg = strings.ReplaceAll(msg, a, "")
			}
			for _, field := range strings.Split(encoded, "$") {
				if len(field) >= 8 && strings.Trim(field, "0123456789") != "" && !strings.HasPrefix(field, "argon2") && !knownAlgorithm(field) &&
					strings.Contains(msg, field) {
					t.Fatalf("Problem %q quotes the hash field %q", msg, field)
				}
			}
		}
		if r.OK && !knownPair(known, password, encoded) {
			t.Fatalf("Check accepted %q for %q, which is not a known pair", password, encoded)
		}
	})
}

func knownPair(known map[string][]string, password, encoded string) bool {
	for _, p := range known[canonicalEncoding(encoded)] {
		if p == password {
			return true
		}
		if sameKeyMaterial(identifyAlgorithm(encoded), p, password) {
			return true
		}
	}
	return false
}

// sameKeyMaterial reports whether two different passwords reach the
// underlying primitive as the same key, which no hasher can tell apart and
// Django cannot either:
//   - HMAC zero-pads keys shorter than its block (64 bytes for SHA-1 and
//     SHA-256), so PBKDF2 (and scrypt, which starts with PBKDF2) cannot tell
//     "" from "\x00" or "a" from "a\x00";
//   - bcrypt uses at most 72 bytes and cycles a NUL-terminated key, so an
//     empty password and one made only of NULs expand to the same key.
func sameKeyMaterial(alg, p, q string) bool {
	switch alg {
	case config.AlgorithmPBKDF2SHA256, config.AlgorithmPBKDF2SHA1, config.AlgorithmScrypt:
		return len(p) <= 64 && len(q) <= 64 && strings.TrimRight(p, "\x00") == strings.TrimRight(q, "\x00")
	case config.AlgorithmBCrypt:
		if len(p) >= 72 && len(q) >= 72 {
			return p[:72] == q[:72]
		}
		return strings.Trim(p, "\x00") == "" && strings.Trim(q, "\x00") == ""
	}
	return false
}

// canonicalEncoding maps the spellings Django treats alike to one.
func canonicalEncoding(encoded string) string {
	switch identifyAlgorithm(encoded) {
	case config.AlgorithmBCrypt, config.AlgorithmBCryptSHA256:
		for _, p := range []string{"$$2a$", "$$2y$"} {
			encoded = strings.Replace(encoded, p, "$$2b$", 1)
		}
	case config.AlgorithmArgon2:
		encoded = strings.Replace(encoded, "$v=16$", "$", 1)
	case config.AlgorithmUnsaltedMD5:
		encoded = strings.TrimPrefix(encoded, "md5$$")
	}
	return encoded
}

// fuzzTooExpensive reports whether encoded is a valid hash whose
// parameters would make one fuzz execution slow.
func fuzzTooExpensive(encoded string) bool {
	switch identifyAlgorithm(encoded) {
	case config.AlgorithmPBKDF2SHA256, config.AlgorithmPBKDF2SHA1:
		p, _ := newPBKDF2(identifyAlgorithm(encoded), 1)
		d, err := p.decode(encoded)
		return err == nil && d.iterations > 20_000
	case config.AlgorithmArgon2:
		d, err := (&argon2Hasher{}).decode(encoded)
		return err == nil && uint64(d.m)*uint64(d.t) > 4096
	case config.AlgorithmBCrypt, config.AlgorithmBCryptSHA256:
		_, cost, err := (&bcryptHasher{alg: identifyAlgorithm(encoded)}).decode(encoded)
		return err == nil && cost > 5
	case config.AlgorithmScrypt:
		d, err := (&scryptHasher{}).decode(encoded)
		return err == nil && d.n*d.r*d.p > 1<<14
	}
	return false
}
