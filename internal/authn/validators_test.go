package authn

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/djangate/gateway/internal/config"
)

// validatorVectors is testdata/validator_vectors.json, written by
// testdata/gen_validator_vectors.py from real Django.
type validatorVectors struct {
	DjangoVersion string `json:"django_version"`
	PythonVersion string `json:"python_version"`
	Cases         []struct {
		Name               string         `json:"name"`
		Validators         []vecValidator `json:"validators"`
		Password           string         `json:"password"`
		User               *vecUser       `json:"user"`
		Messages           []string       `json:"messages"`
		NewerDjangoDiffers bool           `json:"newer_django_differs"`
		PreCVEDiffers      bool           `json:"pre_cve_differs"`
	} `json:"cases"`
	HelpTexts []struct {
		Validators []vecValidator `json:"validators"`
		HelpTexts  []string       `json:"help_texts"`
	} `json:"help_texts"`
	QuickRatio []struct {
		A, B  string
		Ratio float64
	} `json:"quick_ratio"`
	Split []struct {
		Value string
		Parts []string
	} `json:"split"`
	Lower []struct {
		S     string `json:"s"`
		Lower string `json:"lower"`
	} `json:"lower"`
	Strip []struct {
		S     string `json:"s"`
		Strip string `json:"strip"`
	} `json:"strip"`
	IsDigit []struct {
		S       string `json:"s"`
		IsDigit bool   `json:"isdigit"`
	} `json:"isdigit"`
	Unicode struct {
		Version       string              `json:"version"`
		Unassigned    [][2]rune           `json:"unassigned"`
		Whitespace    [][2]rune           `json:"whitespace"`
		IsDigit       [][2]rune           `json:"isdigit"`
		Word          [][2]rune           `json:"word"`
		Cased         [][2]rune           `json:"cased"`
		CaseIgnorable [][2]rune           `json:"case_ignorable"`
		Lower         [][]json.RawMessage `json:"lower"`
	} `json:"unicode"`
	DjangoCommon struct {
		Source  string   `json:"source"`
		Count   int      `json:"count"`
		SHA256  string   `json:"sha256"`
		Samples []string `json:"samples"`
	} `json:"django_common_passwords"`
}

type vecValidator struct {
	Name           string   `json:"name"`
	MinLength      int      `json:"min_length"`
	MaxSimilarity  float64  `json:"max_similarity"`
	UserAttributes []string `json:"user_attributes"`
}

type vecUser struct {
	Username  string `json:"username"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

var (
	vectorsOnce sync.Once
	vectors     validatorVectors
	vectorsErr  error
)

func loadValidatorVectors(t testing.TB) *validatorVectors {
	t.Helper()
	vectorsOnce.Do(func() {
		b, err := os.ReadFile("testdata/validator_vectors.json")
		if err != nil {
			vectorsErr = err
			return
		}
		vectorsErr = json.Unmarshal(b, &vectors)
	})
	if vectorsErr != nil {
		t.Fatalf("validator vectors: %v", vectorsErr)
	}
	return &vectors
}

func toConfig(vs []vecValidator) []config.PasswordValidator {
	out := make([]config.PasswordValidator, 0, len(vs))
	for _, v := range vs {
		out = append(out, config.PasswordValidator(v))
	}
	return out
}

func (u *vecUser) user() *User {
	if u == nil {
		return nil
	}
	return &User{Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName}
}

func messagesOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return []string{}
	}
	var pe *PasswordError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *PasswordError", err, err)
	}
	return pe.Messages
}

func mustValidators(t testing.TB, cfg []config.PasswordValidator) *Validators {
	t.Helper()
	v, err := NewValidators(cfg)
	if err != nil {
		t.Fatalf("NewValidators: %v", err)
	}
	return v
}

func TestValidatorVectors(t *testing.T) {
	vv := loadValidatorVectors(t)
	if len(vv.Cases) < 100 {
		t.Fatalf("only %d cases in the vectors", len(vv.Cases))
	}
	t.Logf("%d cases from Django %s (Python %s)", len(vv.Cases), vv.DjangoVersion, vv.PythonVersion)
	for _, c := range vv.Cases {
		t.Run(c.Name, func(t *testing.T) {
			v := mustValidators(t, toConfig(c.Validators))
			got := messagesOf(t, v.Validate(c.Password, c.User.user()))
			if !slices.Equal(got, c.Messages) {
				t.Errorf("Validate(%q, %+v) = %q, Django (newer differs: %v) says %q",
					c.Password, c.User, got, c.NewerDjangoDiffers, c.Messages)
			}
		})
	}
}

func TestValidatorHelpTexts(t *testing.T) {
	vv := loadValidatorVectors(t)
	for i, h := range vv.HelpTexts {
		got := mustValidators(t, toConfig(h.Validators)).HelpTexts()
		if !slices.Equal(got, h.HelpTexts) && !(len(got) == 0 && len(h.HelpTexts) == 0) {
			t.Errorf("help texts %d: got %q, Django %q", i, got, h.HelpTexts)
		}
	}
	tests := []struct {
		name      string
		minLength int
		want      string
	}{
		{"singular", 1, "Your password must contain at least 1 character."},
		{"plural two", 2, "Your password must contain at least 2 characters."},
		{"default", 0, "Your password must contain at least 8 characters."},
		{"plural large", 21, "Your password must contain at least 21 characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustValidators(t, []config.PasswordValidator{{Name: config.ValidatorMinimumLength, MinLength: tt.minLength}}).HelpTexts()
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := (*Validators)(nil).HelpTexts(); got != nil {
		t.Errorf("nil Validators: %q", got)
	}
}

func TestValidatorMinimumLengthPlural(t *testing.T) {
	tests := []struct {
		name      string
		minLength int
		password  string
		want      []string
	}{
		{"singular", 1, "", []string{"This password is too short. It must contain at least 1 character."}},
		{"plural two", 2, "x", []string{"This password is too short. It must contain at least 2 characters."}},
		{"code points not bytes", 3, "żó", []string{"This password is too short. It must contain at least 3 characters."}},
		{"long enough in code points", 2, "żó", []string{}},
		{"emoji is one", 2, "🔑", []string{"This password is too short. It must contain at least 2 characters."}},
		{"combining mark counts", 2, "e\u0301", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustValidators(t, []config.PasswordValidator{{Name: config.ValidatorMinimumLength, MinLength: tt.minLength}})
			if got := messagesOf(t, v.Validate(tt.password, nil)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidatorQuickRatio(t *testing.T) {
	vv := loadValidatorVectors(t)
	for _, q := range vv.QuickRatio {
		if got := quickRatio(q.A, q.B); got != q.Ratio {
			t.Errorf("quickRatio(%q, %q) = %v, difflib %v", q.A, q.B, got, q.Ratio)
		}
	}
	tests := []struct {
		name string
		a, b string
		want float64
	}{
		{"both empty", "", "", 1.0},
		{"one empty", "abc", "", 0},
		{"identical", "abc", "abc", 1.0},
		{"anagram", "abc", "cba", 1.0},
		{"multiset, not set", "aaaa", "aa", 2.0 * 2 / 6},
		{"decomposed vs precomposed", "é", "e\u0301", 0},
		{"combining mark matches itself", "e\u0301", "\u0301", 2.0 * 1 / 3},
		{"emoji is one code point", "🔑🔑", "🔑", 2.0 * 1 / 3},
		{"final sigma differs from sigma", "σσ", "σς", 2.0 * 1 / 4},
		{"mixed ascii and astral", "a🔑b🔑c", "🔑🔑🔑abc", 2.0 * 5 / 11},
		{"nul bytes", "\x00\x00", "\x00", 2.0 * 1 / 3},
		{"invalid utf-8 counts as U+FFFD", "\xff", "\uFFFD", 1.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quickRatio(tt.a, tt.b); got != tt.want {
				t.Errorf("quickRatio(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func wordParts(s string) []string {
	parts := []string{}
	forEachWordPart(s, func(p string) bool { parts = append(parts, p); return true })
	return parts
}

func TestValidatorWordSplit(t *testing.T) {
	vv := loadValidatorVectors(t)
	for _, s := range vv.Split {
		if got := wordParts(s.Value); !slices.Equal(got, s.Parts) {
			t.Errorf("re.split(r'\\W+', %q): got %q, Python %q", s.Value, got, s.Parts)
		}
	}
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{"empty", "", []string{""}},
		{"only separators", "+.@", []string{"", ""}},
		{"email with dots and plus", "first.last+tag@mail.example.org", []string{"first", "last", "tag", "mail", "example", "org"}},
		{"underscore is a word char", "a_b", []string{"a_b"}},
		{"unicode letters are word chars", "jürgen.müller", []string{"jürgen", "müller"}},
		{"combining mark is not", "jose\u0301", []string{"jose", ""}},
		{"dotted i lowered splits", "i\u0307stanbul", []string{"i", "stanbul"}},
		{"numbers of all kinds are word chars", "a²b½cⅧd", []string{"a²b½cⅧd"}},
		{"zero width space splits", "ab\u200bcd", []string{"ab", "cd"}},
		{"cjk with ideographic space", "山田\u3000太郎", []string{"山田", "太郎"}},
		{"emoji is not a word char", "🔑x🔑", []string{"", "x", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wordParts(tt.value); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// Stopping early.
	n := 0
	forEachWordPart("a.b.c", func(string) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("forEachWordPart went on after false: %d calls", n)
	}
}

func TestValidatorPythonStrings(t *testing.T) {
	vv := loadValidatorVectors(t)
	for _, l := range vv.Lower {
		if got := pyLower(l.S); got != l.Lower {
			t.Errorf("pyLower(%q) = %q, Python %q", l.S, got, l.Lower)
		}
	}
	for _, s := range vv.Strip {
		if got := pyStrip(s.S); got != s.Strip {
			t.Errorf("pyStrip(%q) = %q, Python %q", s.S, got, s.Strip)
		}
	}
	for _, d := range vv.IsDigit {
		if got := pyIsDigitString(d.S); got != d.IsDigit {
			t.Errorf("pyIsDigitString(%q) = %v, Python %v", d.S, got, d.IsDigit)
		}
	}
	lowerTests := []struct{ name, in, want string }{
		{"ascii unchanged, same string", "abc-1", "abc-1"},
		{"ascii", "ABC", "abc"},
		{"dotted capital i grows", "İ", "i\u0307"},
		{"final sigma", "ΟΔΥΣΣΕΥΣ", "οδυσσευς"},
		{"lone sigma", "Σ", "σ"},
		{"sigma before letter", "ΣΑ", "σα"},
		{"sigma after case-ignorable", "Α'Σ", "α'ς"},
		{"sigma before case-ignorable then letter", "ΑΣ'Β", "ασ'β"},
		{"sigma before case-ignorable then end", "ΑΣ'", "ας'"},
		{"sigma after digit", "1Σ", "1σ"},
		{"capital sharp s", "ẞ", "ß"},
		{"titlecase digraph", "ǅ", "ǆ"},
		{"kelvin sign", "K", "k"},
		{"deseret", "𐐀", "𐐨"},
		{"invalid utf-8 becomes U+FFFD", "A\xff", "a\uFFFD"},
	}
	for _, tt := range lowerTests {
		t.Run("lower/"+tt.name, func(t *testing.T) {
			if got := pyLower(tt.in); got != tt.want {
				t.Errorf("pyLower(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func inRanges(rs [][2]rune, c rune) bool {
	_, found := slices.BinarySearchFunc(rs, c, func(r [2]rune, c rune) int {
		switch {
		case r[1] < c:
			return -1
		case r[0] > c:
			return 1
		}
		return 0
	})
	return found
}

// TestValidatorUnicodeTables compares the Go ports with Python on every
// code point Python's Unicode version assigns.
func TestValidatorUnicodeTables(t *testing.T) {
	vv := loadValidatorVectors(t)
	u := &vv.Unicode
	lower := map[rune]string{}
	for _, e := range u.Lower {
		var cp rune
		var s string
		if len(e) != 2 || json.Unmarshal(e[0], &cp) != nil || json.Unmarshal(e[1], &s) != nil {
			t.Fatalf("bad lower entry %s", e)
		}
		lower[cp] = s
	}
	checks := []struct {
		name string
		set  [][2]rune
		fn   func(rune) bool
	}{
		{"str.isspace", u.Whitespace, pyIsSpace},
		{"str.isdigit", u.IsDigit, pyIsDigit},
		{"re \\w", u.Word, pyIsWord},
		{"Cased", u.Cased, isCased},
		{"Case_Ignorable", u.CaseIgnorable, isCaseIgnorable},
	}
	bad := map[string][]string{}
	checked := 0
	for c := rune(0); c <= utf8.MaxRune; c++ {
		if !utf8.ValidRune(c) || inRanges(u.Unassigned, c) {
			continue
		}
		checked++
		for _, ch := range checks {
			if want := inRanges(ch.set, c); ch.fn(c) != want {
				bad[ch.name] = append(bad[ch.name], fmt.Sprintf("U+%04X (Python %v)", c, want))
			}
		}
		want, ok := lower[c]
		if !ok {
			want = string(c)
		}
		if got := pyLower(string(c)); got != want {
			bad["str.lower"] = append(bad["str.lower"], fmt.Sprintf("U+%04X: %q, Python %q", c, got, want))
		}
	}
	// Unicode 15.0 gave these modifier letters Other_Lowercase; Python 3.11
	// has Unicode 14.0, Go and the Python 3.12+ that Django 6 needs have 15.
	if u.Version == "14.0.0" {
		bad["Cased"] = slices.DeleteFunc(bad["Cased"], func(s string) bool {
			return slices.Contains([]string{"U+10FC", "U+A7F2", "U+A7F3", "U+A7F4", "U+AB69"}, strings.Fields(s)[0])
		})
		if len(bad["Cased"]) == 0 {
			delete(bad, "Cased")
		}
	}
	for name, list := range bad {
		t.Errorf("%s differs from Python (Unicode %s) on %d code points: %s", name, u.Version, len(list), strings.Join(list[:min(len(list), 20)], ", "))
	}
	t.Logf("%d code points checked against Python's Unicode %s", checked, u.Version)
}

func TestCommonPasswordsList(t *testing.T) {
	vv := loadValidatorVectors(t)
	set, err := commonPasswords()
	if err != nil {
		t.Fatal(err)
	}
	if len(set) < 20000 {
		t.Errorf("%d common passwords, want at least 20,000", len(set))
	}
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != len(set) {
		t.Errorf("%d lines but %d distinct passwords: duplicates or blank lines", len(lines), len(set))
	}
	for i, p := range lines {
		if p == "" || pyLower(p) != p || pyStrip(p) != p {
			t.Errorf("line %d %q is not lower-cased and stripped", i+1, p)
		}
	}
	// Django's list comes first, whole and in order.
	dc := vv.DjangoCommon
	if dc.Count < 19000 || dc.Count > len(lines) {
		t.Fatalf("Django's list: %d entries, ours %d", dc.Count, len(lines))
	}
	sum := sha256.Sum256([]byte(strings.Join(lines[:dc.Count], "\n")))
	if got := hex.EncodeToString(sum[:]); got != dc.SHA256 {
		t.Errorf("the first %d lines are not Django's list (%s): sha256 %s, want %s", dc.Count, dc.Source, got, dc.SHA256)
	}
	for _, p := range dc.Samples {
		if _, ok := set[p]; !ok {
			t.Errorf("Django's %q is missing", p)
		}
	}
	for _, p := range []string{"password", "godzilla", "12345678", "iloveyou", "z k.lovemom"} {
		if _, ok := set[p]; !ok {
			t.Errorf("%q is missing", p)
		}
	}
	t.Logf("%d common passwords, %d from %s", len(set), dc.Count, dc.Source)
}

// TestCommonPasswordsDjangoFile checks every entry of the Django list on
// this machine, when there is one (Debian's python3-django).
func TestCommonPasswordsDjangoFile(t *testing.T) {
	const path = "/usr/lib/python3/dist-packages/django/contrib/auth/common-passwords.txt.gz"
	gz, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no Django list here: %v", err)
	}
	theirs, err := loadCommonPasswords(gz)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := commonPasswords()
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for p := range theirs {
		if _, ok := ours[p]; !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of Django's %d common passwords are missing", missing, len(theirs))
	}
}

func TestCommonPasswordsLoadErrors(t *testing.T) {
	if _, err := loadCommonPasswords([]byte("not gzip")); err == nil {
		t.Error("no error for data that isn't gzip")
	}
	if _, err := loadCommonPasswords(commonPasswordsGz[:len(commonPasswordsGz)/2]); err == nil {
		t.Error("no error for a truncated list")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(" Foo \r\n\nbar\n")) //nolint:errcheck
	zw.Close()
	set, err := loadCommonPasswords(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 {
		t.Errorf("got %v, want the stripped entries 'Foo' and 'bar' only", set)
	}
}

// TestCommonPasswordsMemory measures what the loaded list costs.
func TestCommonPasswordsMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	set, err := loadCommonPasswords(commonPasswordsGz)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d passwords: %d KiB gzipped, %.0f KiB live heap, %.0f KiB allocated, loaded in %v",
		len(set), len(commonPasswordsGz)/1024, float64(live)/1024, float64(after.TotalAlloc-before.TotalAlloc)/1024, elapsed)
	if live > 4<<20 {
		t.Errorf("the list takes %d bytes of heap, more than 4 MiB", live)
	}
	runtime.KeepAlive(set)
}

func TestNewValidatorsErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.PasswordValidator
		want string
	}{
		{"unknown validator", config.PasswordValidator{Name: "django.contrib.auth.password_validation.MinimumLengthValidator"}, "unknown validator"},
		{"max_similarity below 0.1", config.PasswordValidator{Name: config.ValidatorUserAttributeSimilarity, MaxSimilarity: 0.09}, "max_similarity must be at least 0.1"},
		{"negative max_similarity", config.PasswordValidator{Name: config.ValidatorUserAttributeSimilarity, MaxSimilarity: -1}, "max_similarity must be at least 0.1"},
		{"unknown attribute", config.PasswordValidator{Name: config.ValidatorUserAttributeSimilarity, UserAttributes: []string{"password"}}, `unknown user attribute "password"`},
		{"negative min_length", config.PasswordValidator{Name: config.ValidatorMinimumLength, MinLength: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewValidators([]config.PasswordValidator{{Name: config.ValidatorNumericPassword}, tt.cfg})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "validator 1") {
				t.Errorf("got %v, want an error naming validator 1 and saying %q", err, tt.want)
			}
		})
	}
}

func TestValidatorDefaultsAndPasswordError(t *testing.T) {
	// Zero options are Django's defaults: min_length 8, max_similarity 0.7,
	// all four attributes.
	v := mustValidators(t, []config.PasswordValidator{
		{Name: config.ValidatorUserAttributeSimilarity},
		{Name: config.ValidatorMinimumLength},
		{Name: config.ValidatorCommonPassword},
		{Name: config.ValidatorNumericPassword},
	})
	u := &User{Username: "alice", Email: "alice@example.com", FirstName: "Alice", LastName: "Liddell"}
	err := v.Validate("liddell", u)
	var pe *PasswordError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a *PasswordError", err)
	}
	want := []string{
		"The password is too similar to the last name.",
		"This password is too short. It must contain at least 8 characters.",
	}
	if !slices.Equal(pe.Messages, want) {
		t.Errorf("messages %q, want %q", pe.Messages, want)
	}
	if got := pe.Error(); got != strings.Join(want, " ") {
		t.Errorf("Error() = %q", got)
	}
	if err := v.Validate("Zebra-Quantum-42", u); err != nil {
		t.Errorf("a good password: %v", err)
	}
	// No validators, or a nil *Validators, accept anything.
	if err := mustValidators(t, nil).Validate("", u); err != nil {
		t.Errorf("no validators: %v", err)
	}
	if err := (*Validators)(nil).Validate("", u); err != nil {
		t.Errorf("nil Validators: %v", err)
	}
}

func TestValidatorConcurrentFirstUse(t *testing.T) {
	v := mustValidators(t, []config.PasswordValidator{{Name: config.ValidatorCommonPassword}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pw := "password"
			if i%2 == 1 {
				pw = "Zebra-Quantum-42"
			}
			err := v.Validate(pw, nil)
			if (err != nil) != (i%2 == 0) {
				t.Errorf("Validate(%q) = %v", pw, err)
			}
		})
	}
	wg.Wait()
}

func TestValidatorAllocs(t *testing.T) {
	v := mustValidators(t, []config.PasswordValidator{
		{Name: config.ValidatorUserAttributeSimilarity},
		{Name: config.ValidatorMinimumLength},
		{Name: config.ValidatorCommonPassword},
		{Name: config.ValidatorNumericPassword},
	})
	// Lower-casing allocates only for values that change: here none do.
	u := &User{Username: "testclient", Email: "testclient@example.com", FirstName: "test", LastName: "client"}
	if err := v.Validate("zebra-quantum-42", u); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = v.Validate("zebra-quantum-42", u) }); n != 0 {
		t.Errorf("a passing lower-case ASCII password allocates %v times, want 0", n)
	}
}

func BenchmarkValidate(b *testing.B) {
	v := mustValidators(b, []config.PasswordValidator{
		{Name: config.ValidatorUserAttributeSimilarity},
		{Name: config.ValidatorMinimumLength},
		{Name: config.ValidatorCommonPassword},
		{Name: config.ValidatorNumericPassword},
	})
	ascii := &User{Username: "testclient", Email: "testclient@example.com", FirstName: "Test", LastName: "Client"}
	uni := &User{Username: "jürgen.müller", Email: "jürgen.müller+news@exämple.com", FirstName: "Jürgen", LastName: "Müller"}
	for _, bc := range []struct {
		name     string
		password string
		user     *User
	}{
		{"pass/ascii", "Zebra-Quantum-42", ascii},
		{"pass/unicode", "Żółw-Kwantowy-42", uni},
		{"fail/all-four", "123456", &User{Username: "123456"}},
		{"pass/long-1000", strings.Repeat("Zebra-Quantum-", 72), ascii},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_ = v.Validate(bc.password, bc.user) // load the list outside the timing
			b.ReportAllocs()
			for b.Loop() {
				_ = v.Validate(bc.password, bc.user)
			}
		})
	}
}

// BenchmarkCommonPasswordsLoad is the first use's cost: gunzip and build
// the set.
func BenchmarkCommonPasswordsLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadCommonPasswords(commonPasswordsGz); err != nil {
			b.Fatal(err)
		}
	}
}
