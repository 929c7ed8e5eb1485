package authn

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
)

// hashOf makes a hash of password with alg at cheap parameters, including
// the verify-only algorithms (which Hashers never write).
func hashOf(t *testing.T, alg, password string) string {
	t.Helper()
	switch alg {
	case config.AlgorithmSHA1, config.AlgorithmMD5:
		return newSaltedLegacy(alg).encodeForTest(password, randomString(saltLength))
	case config.AlgorithmUnsaltedSHA1:
		sum := sha1.Sum([]byte(password))
		return "sha1$$" + hex.EncodeToString(sum[:])
	case config.AlgorithmUnsaltedMD5:
		sum := md5.Sum([]byte(password))
		return hex.EncodeToString(sum[:])
	}
	c := cheapHasherParams[alg]
	c.Algorithm = alg
	h, err := newHasher(c)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.(encoder).encode(password)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// TestAuthenticateUpgradesEveryAlgorithm: a hash of any enabled algorithm
// other than the preferred one, or of the preferred one at other
// parameters, is replaced by a preferred hash at the first successful
// login, and logins keep working with it.
func TestAuthenticateUpgradesEveryAlgorithm(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	n := 0
	for _, pref := range writableAlgorithms() {
		params := map[string]config.PasswordHasher{}
		for k, v := range cheapHasherParams {
			params[k] = v
		}
		// The preferred hasher's own old hashes differ in parameters.
		p := params[pref]
		switch pref {
		case config.AlgorithmPBKDF2SHA256, config.AlgorithmPBKDF2SHA1:
			p.Iterations *= 2
		case config.AlgorithmArgon2:
			p.TimeCost++
		case config.AlgorithmBCrypt, config.AlgorithmBCryptSHA256:
			p.Rounds++
		case config.AlgorithmScrypt:
			p.WorkFactor *= 2
		}
		params[pref] = p
		hs := newAllHashers(t, pref, params)
		s := NewStore(e.rdb, testPrefix, hs)
		for _, stored := range config.SupportedHashers {
			n++
			username := fmt.Sprintf("u%d", n)
			const pw = "lètmein 🔑"
			old := hashOf(t, stored, pw)
			mustCreate(t, s, username, "", func(u *User) { u.Password = old })
			if stored == pref { // a weaker hash of the preferred algorithm: hardening
				if _, err := s.Authenticate(ctx, username, pw+"x"); !errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("%s←%s: wrong password: %v", pref, stored, err)
				}
			}
			u, err := s.Authenticate(ctx, username, pw)
			if err != nil {
				t.Errorf("%s←%s: Authenticate: %v", pref, stored, err)
				continue
			}
			got, err := s.GetUserByUsername(ctx, username)
			must(t, err)
			if got.Password == old || identifyAlgorithm(got.Password) != pref || u.Password != got.Password {
				t.Errorf("%s←%s: not upgraded: stored %.20s…", pref, stored, got.Password)
			}
			if _, err := s.Authenticate(ctx, username, pw); err != nil {
				t.Errorf("%s←%s: second login: %v", pref, stored, err)
			}
			if again, err := s.GetUserByUsername(ctx, username); err != nil || again.Password != got.Password {
				t.Errorf("%s←%s: the upgraded hash was upgraded again (%v)", pref, stored, err)
			}
		}
	}
}

// TestAuthenticateReportsHashProblems: a stored hash that can never verify
// is logged once per username, with the reason and never the hash.
func TestAuthenticateReportsHashProblems(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	var buf bytes.Buffer
	s := e.store // pbkdf2_sha256 only
	s.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))

	good, err := s.hashers.Make("s3cret")
	must(t, err)
	malformed := strings.Replace(good, "$1000$", "$1099511627776$", 1)
	notEnabled := hashOf(t, config.AlgorithmBCryptSHA256, "s3cret")
	mustCreate(t, s, "broken", "", func(u *User) { u.Password = malformed })
	mustCreate(t, s, "imported", "", func(u *User) { u.Password = notEnabled })
	mustCreate(t, s, "fine", "", func(u *User) { u.Password = good })
	mustCreate(t, s, "locked", "", func(u *User) { u.Password = s.hashers.MakeUnusable() })

	for range 3 {
		for _, name := range []string{"broken", "imported", "fine", "locked", "nobody"} {
			if _, err := s.Authenticate(ctx, name, "wrong"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%s) = %v", name, err)
			}
		}
		if _, err := s.Authenticate(ctx, "broken", "s3cret"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("malformed hash verified: %v", err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 warnings (one per user with a bad hash), got %d:\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ user, reason string }{
		{"broken", "malformed password hash"}, {"imported", "bcrypt_sha256 is not in password_hashers"},
	} {
		if !strings.Contains(lines[i], "level=WARN") || !strings.Contains(lines[i], "username="+want.user) || !strings.Contains(lines[i], want.reason) {
			t.Errorf("warning %d = %s; want username=%s and %q", i, lines[i], want.user, want.reason)
		}
	}
	for _, secret := range []string{malformed[len(malformed)-20:], notEnabled[len(notEnabled)-20:], "s3cret", "wrong"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log reveals %q:\n%s", secret, buf.String())
		}
	}
}

func TestHashProblemReportsAreBounded(t *testing.T) {
	var buf bytes.Buffer
	var p hashProblemLog
	p.log = slog.New(slog.NewTextHandler(&buf, nil))
	problem := fmt.Errorf("%w: test", ErrHashInvalid)
	for i := range maxReportedHashProblems + 50 {
		p.report(&User{ID: int64(i), Username: fmt.Sprintf("user%d", i)}, problem)
		p.report(&User{ID: int64(i), Username: fmt.Sprintf("user%d", i)}, problem) // repeats stay silent
	}
	if got := strings.Count(buf.String(), "\n"); got != maxReportedHashProblems+1 {
		t.Errorf("%d log lines, want %d and one saying no more", got, maxReportedHashProblems+1)
	}
	if len(p.reported) != maxReportedHashProblems {
		t.Errorf("remembered %d usernames, want at most %d", len(p.reported), maxReportedHashProblems)
	}
	if !strings.Contains(buf.String(), "further ones are not logged") {
		t.Error("no notice that reports stopped")
	}
}

// TestAuthenticateGivesUpWaiting: a login that cannot get a hashing slot
// before its context ends fails as unavailable (fail closed), for known
// and unknown users alike, instead of queueing forever.
func TestAuthenticateGivesUpWaiting(t *testing.T) {
	e := newTestEnv(t)
	hs, err := NewHashers([]config.PasswordHasher{{Algorithm: AlgorithmPBKDF2SHA256, Iterations: testIterations}}, 1)
	must(t, err)
	s := NewStore(e.rdb, testPrefix, hs)
	mustCreate(t, s, "alice", "s3cret", nil)
	release, err := hs.acquire(context.Background())
	must(t, err)
	defer release()
	for _, name := range []string{"alice", "nobody"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := s.Authenticate(ctx, name, "s3cret")
		cancel()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Authenticate(%s) while all slots are busy = %v; want ErrUnavailable and DeadlineExceeded", name, err)
		}
	}
}
