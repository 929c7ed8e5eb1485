package server_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/pbkdf2"

	"github.com/djangate/gateway/internal/config"
)

// djangoPBKDF2SHA1 builds a hash in Django's pbkdf2_sha1 format the way
// Django does (the authn package's tests check the format against real
// Django); here it stands for a hash imported from a Django user table.
func djangoPBKDF2SHA1(password, salt string, iterations int) string {
	dk := pbkdf2.Key([]byte(password), []byte(salt), iterations, sha1.Size, sha1.New)
	return "pbkdf2_sha1$" + strconv.Itoa(iterations) + "$" + salt + "$" + base64.StdEncoding.EncodeToString(dk)
}

func TestLoginUpgradesHash(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.PasswordHashers = []config.PasswordHasher{
			{Algorithm: config.AlgorithmPBKDF2SHA256, Iterations: 1000},
			{Algorithm: config.AlgorithmPBKDF2SHA1, Iterations: 1000},
		}
	})
	ctx := context.Background()
	old := djangoPBKDF2SHA1(testPassword, "seasalt0123456789abcd", 1000)
	if err := g.users.SetPassword(ctx, "alice", old); err != nil {
		t.Fatal(err)
	}
	// A session that exists before the upgrade must survive it.
	before := g.client()
	wantStatus(t, g.loginJSON(before, "alice", testPassword), 200)

	u, err := g.users.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.Password, "pbkdf2_sha256$1000$") {
		t.Fatalf("after login the stored hash is %.20s…, want an upgraded pbkdf2_sha256 hash", u.Password)
	}
	wantStatus(t, g.do(before, "GET", "/account/", nil, ""), 200)
	// The upgraded hash verifies, the old password still works.
	wantStatus(t, g.loginJSON(g.client(), "alice", testPassword), 200)
	wantStatus(t, g.loginJSON(g.client(), "alice", "wrong"), 401)
}

func TestUnusableStoredHashesAreLoggedNotLeaked(t *testing.T) {
	g := newGateway(t) // default hashers: md5 and sha1 are not enabled
	ctx := context.Background()
	md5sum := md5.Sum([]byte("salt" + testPassword))
	hashes := map[string]string{
		"alice": "md5$salt$" + hex.EncodeToString(md5sum[:]), // algorithm not enabled
		"bob":   "pbkdf2_sha256$1000$salt$tooshort",          // malformed
	}
	for user, h := range hashes {
		if err := g.users.SetPassword(ctx, user, h); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		for user := range hashes {
			wantStatus(t, g.loginJSON(g.client(), user, testPassword), 401)
		}
	}
	logs := g.logs.String()
	for user, h := range hashes {
		n := 0
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "stored password hash can never verify") && strings.Contains(line, `"username":"`+user+`"`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s's unusable hash was reported %d times in three failed logins, want once:\n%s", user, n, logs)
		}
		if strings.Contains(logs, h) || strings.Contains(logs, strings.SplitN(h, "$", 3)[2]) {
			t.Errorf("the stored hash of %s appears in the logs", user)
		}
	}
	if strings.Contains(logs, testPassword) {
		t.Error("a password appears in the logs")
	}
}
