package authn

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"unicode/utf8"

	"github.com/djangate/gateway/internal/config"
)

// systemPython is Debian's python3, which has python3-django (3.2),
// python3-argon2 and python3-bcrypt; a pyenv python3 may come first on
// PATH without them.
const systemPython = "/usr/bin/python3"

// TestGoHashesVerifyInDjango makes hashes here with every writable hasher
// and has real Django check them (testdata/django_check.py): each must
// verify with its password, and not with a wrong one, exactly as here.
// scrypt is checked with Django 4.x's hasher, copied (Django 3.2 has
// none). Without Django it skips, unless CI is set (CI installs it).
func TestGoHashesVerifyInDjango(t *testing.T) {
	if out, err := exec.Command(systemPython, "-c", "import django, argon2, bcrypt").CombinedOutput(); err != nil {
		msg := "real Django is not available (" + systemPython + " cannot import django, argon2, bcrypt: install " +
			"python3-django python3-argon2 python3-bcrypt): " + err.Error() + ": " + string(bytes.TrimSpace(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	type item struct {
		Encoded  string `json:"encoded"`
		Password string `json:"password"`
		want     bool
		what     string
		costly   bool
	}
	var items []item
	for _, alg := range writableAlgorithms() {
		sets := []map[string]config.PasswordHasher{cheapHasherParams}
		// Default costs too where they shape the hash beyond a count
		// (argon2's lanes and memory, scrypt's N, r, p); PBKDF2 and bcrypt
		// at Django's default costs are in the Django-made vectors.
		if !testing.Short() && (alg == config.AlgorithmArgon2 || alg == config.AlgorithmScrypt) {
			sets = append(sets, defaultHasherParams)
		}
		for i, params := range sets {
			hs := newAllHashers(t, alg, params)
			pws := append([]string{""}, hashTestPasswords...) // Django hashes "" too
			if i == 1 {
				pws = pws[1:2]
			}
			for _, pw := range pws {
				enc, err := hs.pref.encode(pw)
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					items = append(items, item{enc, pw, true, "own password, default cost", true},
						item{enc, pw + "x", false, "wrong password, default cost", true})
					continue
				}
				// Plain bcrypt uses only the first 72 bytes.
				truncated := alg == config.AlgorithmBCrypt && len(pw) > 72
				items = append(items, item{enc, pw, true, "own password", false}, item{enc, pw + "x", truncated, "password + x", false},
					item{enc, lastRuneChanged(pw), truncated, "last character changed", false})
				if len(pw) > 72 {
					// The second long password's 72nd byte falls inside
					// "€" (E2 82 AC): E2 82 81 is "₁", so JSON can carry it.
					other := pw[:72] + "tail"
					if !utf8.ValidString(other) {
						other = pw[:72] + "\x81tail"
					}
					items = append(items, item{enc, other, alg == config.AlgorithmBCrypt, "same first 72 bytes", false})
				}
			}
		}
	}
	in, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(systemPython, "testdata/django_check.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("django_check.py: %v\n%s", err, stderr.String())
	}
	var res []struct {
		OK        bool    `json:"ok"`
		Algorithm *string `json:"algorithm"`
		Error     *string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(items) {
		t.Fatalf("django_check.py output: %v (%d results for %d hashes)", err, len(res), len(items))
	}
	hs := newAllHashers(t, config.AlgorithmPBKDF2SHA256, cheapHasherParams)
	for i, it := range items {
		r := res[i]
		alg := identifyAlgorithm(it.Encoded)
		switch {
		case r.Error != nil:
			t.Errorf("%s, %s: Django raised %s for %q", alg, it.what, *r.Error, it.Encoded)
		case r.Algorithm == nil || *r.Algorithm != alg:
			t.Errorf("%s, %s: Django identified %v", alg, it.what, r.Algorithm)
		case r.OK != it.want:
			t.Errorf("%s, %s: Django's check_password = %v, want %v, for %q", alg, it.what, r.OK, it.want, it.Encoded)
		}
		if it.costly {
			continue // the round-trip tests check those here
		}
		if ok, _ := hs.Check(it.Password, it.Encoded); ok != r.OK && r.Error == nil {
			t.Errorf("%s, %s: Check here = %v, Django = %v", alg, it.what, ok, r.OK)
		}
	}
	t.Logf("Django %s checked %d hashes made here", loadHashVectors(t).Versions["django"], len(items))
}

func lastRuneChanged(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return "y"
	}
	return string(r[:len(r)-1]) + "y"
}
