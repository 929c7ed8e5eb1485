package server_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"slices"
	"testing"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/djangoimport"
)

// A Django database imported into a running gateway's Redis: its users
// log in through the gateway with their Django passwords (hashed by
// pbkdf2_sha256, argon2 and bcrypt_sha256 in the dump), and /me shows
// exactly the permissions Django computes for them.
func TestImportedDjangoUsersLogIn(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		// Django's algorithms, as in the default password_hashers; the
		// preferred one cheap, since a login re-hashes every Django hash.
		c.PasswordHashers = []config.PasswordHasher{
			{Algorithm: config.AlgorithmPBKDF2SHA256, Iterations: 1000},
			{Algorithm: config.AlgorithmPBKDF2SHA1},
			{Algorithm: config.AlgorithmArgon2},
			{Algorithm: config.AlgorithmBCryptSHA256},
		}
	})
	ctx := context.Background()
	data, err := os.ReadFile("../djangoimport/testdata/auth_natural.json")
	if err != nil {
		t.Fatal(err)
	}
	fx, err := djangoimport.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's own alice and bob (seeded with testPassword) are
	// matched by username and become Django's.
	if _, err := djangoimport.Import(ctx, g.users.Store, fx, false); err != nil {
		t.Fatalf("import: %v", err)
	}
	g.users.settle()
	var exp struct {
		Users map[string]struct {
			Password       *string  `json:"password"`
			Groups         []string `json:"groups"`
			AllPermissions []string `json:"all_permissions"`
			IsStaff        bool     `json:"is_staff"`
		} `json:"users"`
	}
	raw, err := os.ReadFile("../djangoimport/testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatal(err)
	}
	for _, username := range []string{"alice", "bob", "zoë"} {
		want := exp.Users[username]
		c := g.client()
		wantStatus(t, g.loginJSON(c, username, *want.Password), 200)
		var me struct {
			Username    string   `json:"username"`
			IsActive    bool     `json:"is_active"`
			IsStaff     bool     `json:"is_staff"`
			Groups      []string `json:"groups"`
			Permissions []string `json:"permissions"`
		}
		if err := json.Unmarshal([]byte(wantStatus(t, g.do(c, "GET", "/_gateway/me", nil, ""), 200)), &me); err != nil {
			t.Fatal(err)
		}
		if me.Username != username || !me.IsActive || me.IsStaff != want.IsStaff {
			t.Errorf("/me of %s = %+v", username, me)
		}
		if !slices.Equal(me.Permissions, want.AllPermissions) {
			t.Errorf("/me permissions of %s = %q\nwant Django's %q", username, me.Permissions, want.AllPermissions)
		}
		if !slices.Equal(me.Groups, want.Groups) {
			t.Errorf("/me groups of %s = %q, want %q", username, me.Groups, want.Groups)
		}
		// Logged in again after the hash upgrade on the first login.
		wantStatus(t, g.loginJSON(g.client(), username, *want.Password), 200)
	}
	// The gateway's old password for alice is gone; Django's inactive and
	// unusable-password users cannot log in.
	wantStatus(t, g.loginJSON(g.client(), "alice", testPassword), 401)
	wantStatus(t, g.loginJSON(g.client(), "carol", *exp.Users["carol"].Password), 401)
	wantStatus(t, g.loginJSON(g.client(), "frank", ""), 401)
}
