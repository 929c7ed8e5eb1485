package djangoimport

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authn"
)

func names[T any](l []T, name func(T) string) []string {
	out := []string{}
	for _, v := range l {
		out = append(out, name(v))
	}
	return out
}

func userNames(l []UserChange) []string {
	return names(l, func(u UserChange) string { return u.Username })
}

// seedOutsider stores objects no fixture names: they must survive every
// import untouched.
func seedOutsider(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	if err := e.store.DeclareModels(ctx, authn.BuiltinModels()...); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateUser(ctx, &authn.User{Username: "outsider", IsActive: true}, "outsider-pw"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateGroup(ctx, "legacy"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddUserToGroup(ctx, "outsider", "legacy"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.GrantGroupPermission(ctx, "legacy", "auth.view_user"); err != nil {
		t.Fatal(err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	for _, name := range fixtureFiles {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			seedOutsider(t, e)
			before := e.snapshot(t)
			ch, err := load(context.Background(), e.store, readTestdata(t, name), true)
			if err != nil {
				t.Fatal(err)
			}
			assertSnapshot(t, "after a dry run", e.snapshot(t), before)
			// The built-in auth models are declared already and equal
			// Django's: only the apps' models are new.
			if got := names(ch.ModelsDeclared, func(m ModelChange) string { return m.Label }); !slices.Equal(got, []string{"blog.comment", "blog.post", "shop.order"}) {
				t.Errorf("models declared %q", got)
			}
			if len(ch.ModelsChanged) != 0 {
				t.Errorf("built-in models differ from Django's: %+v", ch.ModelsChanged)
			}
			if len(ch.PermissionsAdded) != 13 || ch.PermissionsAdded[0] != "blog.add_comment" {
				t.Errorf("permissions added %q", ch.PermissionsAdded)
			}
			if got := names(ch.GroupsCreated, func(g GroupChange) string { return g.Name }); !slices.Equal(got, []string{"editors", "nobody", "shop_staff", "Équipe support"}) {
				t.Errorf("groups created %q", got)
			}
			if got := userNames(ch.UsersCreated); !slices.Equal(got, []string{"alice", "bob", "carol", "dave", "erin", "frank", "root", "zoë"}) {
				t.Errorf("users created %q", got)
			}
			if ch.UsersCreated[0].ID != 0 {
				t.Errorf("a dry run reports id %d", ch.UsersCreated[0].ID)
			}
			var out bytes.Buffer
			ch.Write(&out, true)
			for _, w := range []string{
				"declare model   blog.post: add_post can_publish change_post delete_post view_post\n",
				"add permission  shop.refund_order\n",
				`create group    "editors": +blog.can_publish +blog.change_post +blog.view_post` + "\n",
				`create user     "frank": active, unusable password; groups "nobody" "Équipe support"; permissions auth.change_group contenttypes.view_contenttype` + "\n",
				"Dry run, nothing was written: would declare 3 models, add 13 permissions, create 4 groups, change 0 groups, create 8 users, update 0 users.\n",
			} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("dry-run output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "$") {
				t.Errorf("output shows a password hash:\n%s", out.String())
			}
		})
	}
}

// Import then import again (in either format): the second finds nothing
// to change and leaves every byte as it was.
func TestImportIsIdempotent(t *testing.T) {
	for _, pair := range [][2]string{{"auth.json", "auth.json"}, {"auth.json", "auth_natural.json"}, {"auth_natural.json", "auth.json"}} {
		t.Run(pair[0]+" then "+pair[1], func(t *testing.T) {
			e := newEnv(t, nil)
			seedOutsider(t, e)
			ch := mustImport(t, e, mustParse(t, readTestdata(t, pair[0])))
			if len(ch.UsersCreated) != 8 || ch.UsersCreated[0].ID != 2 || ch.UsersCreated[7].ID != 9 {
				t.Errorf("created %+v; want ids 2..9 after the outsider's 1", userNames(ch.UsersCreated))
			}
			var out bytes.Buffer
			ch.Write(&out, false)
			if !strings.Contains(out.String(), `create user     "alice" (id 2): active; groups "editors"; permissions blog.add_comment`) ||
				!strings.Contains(out.String(), "Imported: declared 3 models, added 13 permissions, created 4 groups") {
				t.Errorf("output:\n%s", out.String())
			}
			first := e.snapshot(t)
			ch = mustImport(t, e, mustParse(t, readTestdata(t, pair[1])))
			if !ch.Empty() {
				t.Errorf("second import changes %+v", ch)
			}
			out.Reset()
			ch.Write(&out, false)
			if out.String() != "Nothing to change: the store already matches the fixture.\n" {
				t.Errorf("second import output %q", out.String())
			}
			assertSnapshot(t, "after the second import", e.snapshot(t), first)
		})
	}
}

// Objects in the fixture become equal to it; others are left alone.
func TestImportUpdatesExisting(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	seedOutsider(t, e)
	fx := mustParse(t, readTestdata(t, "auth_natural.json"))
	mustImport(t, e, fx)
	alice, err := e.store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Life goes on in the gateway.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.store.AddUserToGroup(ctx, "alice", "legacy"))
	must(e.store.RemoveUserFromGroup(ctx, "alice", "editors"))
	must(e.store.GrantUserPermission(ctx, "alice", "shop.refund_order"))
	must(e.store.SetPassword(ctx, "alice", "pbkdf2_sha256$1000$other$c2FsdA=="))
	must(e.store.UpdateLastLogin(ctx, alice.ID, time.Date(2025, 5, 5, 5, 5, 5, 0, time.UTC)))
	must(e.store.SetActive(ctx, "bob", false))
	must(e.store.RevokeGroupPermission(ctx, "editors", "blog.can_publish"))
	must(e.store.GrantGroupPermission(ctx, "editors", "blog.delete_post"))
	must(e.store.DeleteGroup(ctx, "nobody"))

	ch, err := Import(ctx, e.store, fx, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := userNames(ch.UsersUpdated); !slices.Equal(got, []string{"alice", "bob", "frank"}) {
		t.Errorf("users updated %q", got)
	}
	a := ch.UsersUpdated[0]
	if got := names(a.Fields, func(f FieldChange) string { return f.Name }); !slices.Equal(got, []string{"password", "last_login"}) ||
		a.Fields[0].Old != "" || a.Fields[0].New != "" {
		t.Errorf("alice's fields %+v", a.Fields)
	}
	if !slices.Equal(a.Joined, []string{"editors"}) || !slices.Equal(a.Left, []string{"legacy"}) ||
		len(a.Granted) != 0 || !slices.Equal(a.Revoked, []string{"shop.refund_order"}) || a.ID != alice.ID {
		t.Errorf("alice's change %+v", a)
	}
	if f := ch.UsersUpdated[2]; !slices.Equal(f.Joined, []string{"nobody"}) || len(f.Fields) != 0 {
		t.Errorf("frank's change %+v", f)
	}
	if len(ch.GroupsCreated) != 1 || ch.GroupsCreated[0].Name != "nobody" || len(ch.GroupsChanged) != 1 ||
		!slices.Equal(ch.GroupsChanged[0].Granted, []string{"blog.can_publish"}) || !slices.Equal(ch.GroupsChanged[0].Revoked, []string{"blog.delete_post"}) {
		t.Errorf("groups created %+v, changed %+v", ch.GroupsCreated, ch.GroupsChanged)
	}
	var out bytes.Buffer
	ch.Write(&out, false)
	for _, w := range []string{
		`update user     "alice" (id 2): password (hash replaced), last_login 2025-05-05T05:05:05Z -> 2024-01-15T09:30:00.123Z; groups +"editors" -"legacy"; permissions -shop.refund_order`,
		`update user     "bob" (id 3): is_active false -> true`,
		`change group    "editors": +blog.can_publish -blog.delete_post`,
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "$") {
		t.Errorf("output shows a password hash:\n%s", out.String())
	}

	mustImport(t, e, fx)
	if ch, err := Import(ctx, e.store, fx, true); err != nil || !ch.Empty() {
		t.Fatalf("after the import there is still something to change: %+v, %v", ch, err)
	}
	got, err := e.store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := fx.Users[0].User
	want.ID = alice.ID
	// Replacing her hash is a password change: a new auth secret, which
	// ends her sessions.
	if got.AuthSecret == "" || got.AuthSecret == alice.AuthSecret {
		t.Errorf("replacing alice's password hash kept her auth secret")
	}
	want.AuthSecret = got.AuthSecret
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("alice = %+v\nwant  %+v", *got, want)
	}
	// The outsider and legacy are untouched; alice left legacy on both sides.
	members, err := e.store.GroupMembers(ctx, "legacy")
	if err != nil || !slices.Equal(members, []string{"outsider"}) {
		t.Errorf("legacy members %q, %v", members, err)
	}
	if _, err := e.store.Authenticate(ctx, "outsider", "outsider-pw"); err != nil {
		t.Errorf("outsider: %v", err)
	}
	if perms, err := e.store.GroupPermissions(ctx, "legacy"); err != nil || !slices.Equal(perms, []string{"auth.view_user"}) {
		t.Errorf("legacy permissions %q, %v", perms, err)
	}
}

// Import writes all or nothing, even when the problem is only found in
// the store's current state, at the last moment.
func TestImportAtomic(t *testing.T) {
	ctx := context.Background()
	fx := mustParse(t, readTestdata(t, "auth.json"))

	t.Run("corrupt record found while reading", func(t *testing.T) {
		e := newEnv(t, nil)
		seedOutsider(t, e)
		// zoë, the fixture's last user, exists with a record the gateway
		// cannot have written.
		u, err := e.store.CreateUser(ctx, &authn.User{Username: "zoë", IsActive: true, Password: "!"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.rdb.HSet(ctx, testPrefix+"{auth}:user:"+itoa(u.ID), "is_staff", "perhaps").Err(); err != nil {
			t.Fatal(err)
		}
		before := e.snapshot(t)
		_, err = Import(ctx, e.store, fx, false)
		if !errors.Is(err, authn.ErrUnavailable) || !strings.Contains(err.Error(), "is_staff") {
			t.Errorf("err = %v, want ErrUnavailable naming is_staff", err)
		}
		assertSnapshot(t, "after a failed import", e.snapshot(t), before)
	})

	t.Run("unwritable key found by the script", func(t *testing.T) {
		e := newEnv(t, nil)
		seedOutsider(t, e)
		u, err := e.store.CreateUser(ctx, &authn.User{Username: "zoë", IsActive: true, Password: "!"}, "")
		if err != nil {
			t.Fatal(err)
		}
		var before map[string]string
		defer func() { beforeWrite = nil }()
		beforeWrite = func(int) {
			// After the read, before the write: zoë's group set becomes
			// a string. Users alice..root come first in the script.
			if err := e.rdb.Set(ctx, testPrefix+"{auth}:user:"+itoa(u.ID)+":groups", "x", 0).Err(); err != nil {
				t.Error(err)
			}
			before = e.snapshot(t)
		}
		_, err = Import(ctx, e.store, fx, false)
		if !errors.Is(err, authn.ErrUnavailable) && !errors.Is(err, authn.ErrImportConflict) {
			t.Errorf("err = %v, want ErrUnavailable or ErrImportConflict", err)
		}
		assertSnapshot(t, "after a failed import", e.snapshot(t), before)
	})

	t.Run("context cancelled before the write", func(t *testing.T) {
		e := newEnv(t, nil)
		seedOutsider(t, e)
		before := e.snapshot(t)
		cctx, cancel := context.WithCancel(ctx)
		defer func() { beforeWrite = nil }()
		beforeWrite = func(int) { cancel() }
		_, err := Import(cctx, e.store, fx, false)
		if !errors.Is(err, authn.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want ErrUnavailable and context.Canceled", err)
		}
		assertSnapshot(t, "after a cancelled import", e.snapshot(t), before)
	})

	t.Run("Redis down", func(t *testing.T) {
		e := newEnv(t, nil)
		e.srv.Stop()
		if _, err := Import(ctx, e.store, fx, true); !errors.Is(err, authn.ErrUnavailable) {
			t.Errorf("dry run: err = %v, want ErrUnavailable", err)
		}
		if _, err := Import(ctx, e.store, fx, false); !errors.Is(err, authn.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A write between the read and the import's script is not overwritten
// blindly: the import reads and plans again.
func TestImportRetriesAfterConflict(t *testing.T) {
	ctx := context.Background()
	fx := mustParse(t, readTestdata(t, "auth.json"))

	t.Run("once", func(t *testing.T) {
		e := newEnv(t, nil)
		var attempts []int
		defer func() { beforeWrite = nil }()
		beforeWrite = func(attempt int) {
			attempts = append(attempts, attempt)
			if attempt == 1 { // an admin creates erin meanwhile
				if _, err := e.store.CreateUser(ctx, &authn.User{Username: "erin", IsActive: false}, "erin-gateway-pw"); err != nil {
					t.Error(err)
				}
			}
		}
		ch, err := Import(ctx, e.store, fx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(attempts, []int{1, 2}) {
			t.Errorf("attempts %v, want [1 2]", attempts)
		}
		// The second plan saw erin: she is updated, keeping her id 1.
		if got := userNames(ch.UsersUpdated); !slices.Equal(got, []string{"erin"}) || ch.UsersUpdated[0].ID != 1 {
			t.Errorf("updated %q", got)
		}
		if len(ch.UsersCreated) != 7 {
			t.Errorf("created %q", userNames(ch.UsersCreated))
		}
		if ch, err := Import(ctx, e.store, fx, true); err != nil || !ch.Empty() {
			t.Errorf("store does not match the fixture: %+v, %v", ch, err)
		}
	})

	t.Run("every time", func(t *testing.T) {
		e := newEnv(t, nil)
		seedOutsider(t, e)
		alice, err := e.store.CreateUser(ctx, &authn.User{Username: "alice", IsActive: true}, "pw")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		var before map[string]string
		defer func() { beforeWrite = nil }()
		beforeWrite = func(int) {
			n++ // alice keeps logging in: every plan is stale by the time it is written
			if err := e.store.UpdateLastLogin(ctx, alice.ID, time.Date(2025, 1, n, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Error(err)
			}
			before = e.snapshot(t)
		}
		_, err = Import(ctx, e.store, fx, false)
		if !errors.Is(err, authn.ErrImportConflict) {
			t.Fatalf("err = %v, want ErrImportConflict", err)
		}
		if n != maxAttempts {
			t.Errorf("%d attempts, want %d", n, maxAttempts)
		}
		assertSnapshot(t, "after giving up", e.snapshot(t), before)
	})
}
