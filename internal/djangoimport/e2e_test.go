package djangoimport

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/authn"
)

// After importing a real Django dump, the gateway agrees with Django:
// every password Django accepted works (with the gateway's default
// hashers, which include each algorithm Django used), inactive users and
// unusable passwords do not, and each user's effective permissions are
// exactly Django's user.get_all_permissions().
func TestImportedUsersAuthenticateLikeDjango(t *testing.T) {
	exp := readExpected(t)
	algs := map[string]bool{}
	for _, iu := range mustParse(t, readTestdata(t, "auth.json")).Users {
		alg, _, _ := strings.Cut(iu.User.Password, "$")
		algs[alg] = true
	}
	for _, alg := range []string{"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256"} {
		if !algs[alg] {
			t.Errorf("the fixture has no %s hash", alg)
		}
	}
	for _, name := range fixtureFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // password checks dominate: use two cores
			e := newEnv(t, defaultHashers(t))
			ctx := context.Background()
			// As the gateway does at start: auth and contenttypes are
			// always declared. Django has them too.
			if err := e.store.DeclareModels(ctx, authn.BuiltinModels()...); err != nil {
				t.Fatal(err)
			}
			ch := mustImport(t, e, mustParse(t, readTestdata(t, name)))
			if len(ch.ModelsChanged) != 0 {
				t.Errorf("Django's auth models differ from the built-in ones: %+v", ch.ModelsChanged)
			}
			known, err := e.store.KnownPermissions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(known, exp.Permissions) {
				t.Errorf("known permissions %q\nwant Django's %q", known, exp.Permissions)
			}

			for username, want := range exp.Users {
				u, err := e.store.GetUserByUsername(ctx, username)
				if err != nil {
					t.Errorf("user %q: %v", username, err)
					continue
				}
				p, err := e.store.LoadPrincipal(ctx, u.ID, "test")
				if err != nil {
					t.Fatal(err)
				}
				if !equalStrings(p.Permissions, want.AllPermissions) {
					t.Errorf("user %q: permissions %q\nwant Django's get_all_permissions() %q", username, p.Permissions, want.AllPermissions)
				}
				if !equalStrings(p.Groups, want.Groups) {
					t.Errorf("user %q: groups %q, want %q", username, p.Groups, want.Groups)
				}
				direct, err := e.store.UserPermissions(ctx, username)
				if err != nil || !equalStrings(direct, want.DirectPermissions) {
					t.Errorf("user %q: direct permissions %q (%v), want %q", username, direct, err, want.DirectPermissions)
				}
				for perm := range slices.Values(exp.Permissions) {
					if got, want := p.HasPerm(perm), slices.Contains(want.AllPermissions, perm); got != want {
						t.Errorf("user %q: has_perm(%q) = %v, Django says %v", username, perm, got, want)
					}
				}

				if want.Password == nil { // frank: set_unusable_password()
					for _, try := range []string{"", u.Password, u.Password[1:], "frank"} {
						if _, err := e.store.Authenticate(ctx, username, try); !errors.Is(err, authn.ErrInvalidCredentials) {
							t.Errorf("user %q with an unusable password authenticated (%v)", username, err)
						}
					}
					continue
				}
				djangoHash := u.Password
				_, err = e.store.Authenticate(ctx, username, *want.Password)
				switch {
				case want.IsActive && err != nil:
					t.Errorf("user %q: Django's password refused: %v", username, err)
				case !want.IsActive && !errors.Is(err, authn.ErrInvalidCredentials):
					t.Errorf("inactive user %q: Authenticate err = %v, want ErrInvalidCredentials", username, err)
				}
				// A correct Django password upgrades the hash to the
				// configured hasher, as Django does.
				after, err := e.store.GetUserByUsername(ctx, username)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(after.Password, "pbkdf2_sha256$"+strconv.Itoa(newIterations)+"$") || after.Password == djangoHash {
					t.Errorf("user %q: hash not upgraded to the default hasher after login: %.22s…", username, after.Password)
				}
				if want.IsActive {
					if _, err := e.store.Authenticate(ctx, username, *want.Password); err != nil {
						t.Errorf("user %q: password refused after the upgrade: %v", username, err)
					}
				}
			}
			// A wrong password fails for hashes of every algorithm.
			for _, username := range []string{"bob", "carol", "root"} {
				if _, err := e.store.Authenticate(ctx, username, "not-"+*exp.Users[username].Password); !errors.Is(err, authn.ErrInvalidCredentials) {
					t.Errorf("user %q: wrong password: err = %v", username, err)
				}
			}
		})
	}
}
