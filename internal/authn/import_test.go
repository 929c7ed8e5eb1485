package authn

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/profile"
	"github.com/djangate/gateway/internal/testredis"
)

// snapshot is testredis.Snapshot of the test's database.
func (e *testEnv) snapshot(t *testing.T) map[string]string {
	t.Helper()
	return testredis.Snapshot(t, e.rdb)
}

func assertSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	testredis.AssertSnapshot(t, what, got, want)
}

func importModels(t *testing.T) []Model {
	t.Helper()
	var out []Model
	for _, spec := range []ModelSpec{
		{Label: "blog.post", Permissions: map[string]string{"can_publish": "Can publish posts"}},
		{Label: "blog.comment"},
		{Label: "shop.order", DefaultPermissions: []string{"add", "view"}},
	} {
		m, err := NewModel(spec)
		must(t, err)
		out = append(out, m)
	}
	return out
}

var (
	joined    = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	lastLogin = time.Date(2024, 1, 15, 9, 30, 0, 123_000_000, time.UTC)
)

// importSet is a small set: editors and shop groups, alice and bob.
func importSet(t *testing.T) ImportSet {
	return ImportSet{
		Models: importModels(t),
		Groups: []ImportGroup{
			{Name: "editors", Permissions: []string{"blog.can_publish", "blog.change_post"}},
			{Name: "shop staff", Permissions: []string{"shop.view_order"}},
		},
		Users: []ImportUser{
			{
				User: User{Username: "alice", Email: "alice@example.com", FirstName: "Alice", LastName: "Liddell",
					Password: "pbkdf2_sha256$260000$salt$hash=", IsActive: true, DateJoined: joined, LastLogin: lastLogin},
				Groups: []string{"editors"}, Permissions: []string{"blog.add_comment"},
			},
			{
				User:   User{Username: "bob", Password: "!unusable", IsActive: true, IsStaff: true, DateJoined: joined},
				Groups: []string{"editors", "shop staff"},
			},
		},
	}
}

func mustImport(t *testing.T, s *Store, set ImportSet) *ImportResult {
	t.Helper()
	ctx := context.Background()
	st, err := s.ReadImportState(ctx, set)
	if err != nil {
		t.Fatalf("ReadImportState: %v", err)
	}
	res, err := s.Import(ctx, set, st)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

func TestImportCreatesThenUpdates(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	// Objects the set does not name must be left alone.
	outsider := mustCreate(t, e.store, "outsider", "pw", nil)
	must(t, e.store.CreateGroup(ctx, "legacy"))
	must(t, e.store.AddUserToGroup(ctx, "outsider", "legacy"))

	set := importSet(t)
	st, err := e.store.ReadImportState(ctx, set)
	must(t, err)
	if len(st.Users) != 0 || len(st.Models) != 0 || st.Groups["editors"].Exists || st.Known["blog.add_post"] {
		t.Fatalf("state of an empty store: %+v", st)
	}
	res, err := e.store.Import(ctx, set, st)
	must(t, err)
	if res.Created["alice"] != outsider.ID+1 || res.Created["bob"] != outsider.ID+2 {
		t.Errorf("created ids %v, want the next ones after %d", res.Created, outsider.ID)
	}

	alice, err := e.store.GetUserByUsername(ctx, "alice")
	must(t, err)
	want := set.Users[0].User
	want.ID = res.Created["alice"]
	if !reflect.DeepEqual(*alice, want) {
		t.Errorf("alice = %+v\nwant    %+v", *alice, want)
	}
	p, err := e.store.LoadPrincipal(ctx, alice.ID, "")
	must(t, err)
	assertEqual(t, "alice's groups", p.Groups, []string{"editors"})
	assertEqual(t, "alice's permissions", p.Permissions, []string{"blog.add_comment", "blog.can_publish", "blog.change_post"})
	members, err := e.store.GroupMembers(ctx, "shop staff")
	must(t, err)
	assertEqual(t, "shop staff members", members, []string{"bob"})
	models, err := e.store.Models(ctx)
	must(t, err)
	if len(models) != 3 || !SameModel(models[0], set.Models[1]) {
		t.Errorf("models %+v", models)
	}
	known, err := e.store.KnownPermissions(ctx)
	must(t, err)
	assertEqual(t, "known", known, set.Permissions())

	// Django's is the truth for the objects in the set: alice changes,
	// joins legacy meanwhile (outside the set), gets a stray permission.
	must(t, e.store.AddUserToGroup(ctx, "alice", "legacy"))
	must(t, e.store.GrantUserPermission(ctx, "alice", "blog.view_post"))
	must(t, e.store.GrantGroupPermission(ctx, "editors", "blog.delete_post"))
	set.Users[0].User.Email = "new@example.com"
	set.Users[0].User.IsActive = false
	set.Users[0].User.LastLogin = time.Time{}
	set.Users[0].Groups = []string{"shop staff"}
	set.Groups[0].Permissions = []string{"blog.change_post"}
	set.Models[0].Permissions = set.Models[0].Permissions[1:] // drop add_post from blog.post's record
	st, err = e.store.ReadImportState(ctx, set)
	must(t, err)
	if got := st.Users["alice"]; got.User.ID != alice.ID || !slices.Equal(got.Groups, []string{"editors", "legacy"}) ||
		!slices.Equal(got.Permissions, []string{"blog.add_comment", "blog.view_post"}) {
		t.Errorf("state of alice: %+v", got)
	}
	res, err = e.store.Import(ctx, set, st)
	must(t, err)
	if len(res.Created) != 0 {
		t.Errorf("created %v on update", res.Created)
	}
	alice, err = e.store.GetUserByUsername(ctx, "alice")
	must(t, err)
	if alice.Email != "new@example.com" || alice.IsActive || !alice.LastLogin.IsZero() || alice.ID != want.ID {
		t.Errorf("alice after update: %+v", alice)
	}
	perms, err := e.store.UserPermissions(ctx, "alice")
	must(t, err)
	assertEqual(t, "alice's direct permissions", perms, []string{"blog.add_comment"})
	for group, wantMembers := range map[string][]string{"legacy": {"outsider"}, "editors": {"bob"}, "shop staff": {"alice", "bob"}} {
		got, err := e.store.GroupMembers(ctx, group)
		must(t, err)
		assertEqual(t, group+" members", got, wantMembers)
	}
	gp, err := e.store.GroupPermissions(ctx, "editors")
	must(t, err)
	assertEqual(t, "editors' permissions", gp, []string{"blog.change_post"})
	// DeclareModels semantics: declarations only add (the record is the
	// union), and the permission stays known.
	models, err = e.store.Models(ctx)
	must(t, err)
	if names := models[1].PermissionNames(); !slices.Contains(names, "blog.add_post") || !slices.Contains(names, "blog.can_publish") {
		t.Errorf("blog.post = %+v, want the union of both declarations", models[1])
	}
	known, err = e.store.KnownPermissions(ctx)
	must(t, err)
	if !slices.Contains(known, "blog.add_post") {
		t.Error("re-declaring a model removed a known permission")
	}
	if _, err := e.store.GetUserByUsername(ctx, "outsider"); err != nil {
		t.Errorf("outsider: %v", err)
	}
}

func assertEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// Values are passed to the script byte for byte, whatever they hold.
func TestImportKeepsBytes(t *testing.T) {
	e := newTestEnv(t)
	set := importSet(t)
	set.Users[0].User.FirstName = "12:ab:3:"
	set.Users[0].User.LastName = strings.Repeat("ü", 1000)
	set.Users[0].User.Email = ""
	set.Users[0].User.Password = "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"
	set.Groups[1].Name = "Équipe 0:1"
	set.Users[1].Groups = []string{"Équipe 0:1"}
	// ':' is reserved in group names.
	if _, err := e.store.ReadImportState(context.Background(), set); !errors.Is(err, ErrInvalidGroupName) {
		t.Fatalf("group name with ':' err = %v, want ErrInvalidGroupName", err)
	}
	set.Groups[1].Name = "Équipe 0 1"
	set.Users[1].Groups = []string{"Équipe 0 1"}
	res := mustImport(t, e.store, set)
	got, err := e.store.GetUser(context.Background(), res.Created["alice"])
	must(t, err)
	want := set.Users[0].User
	want.ID = got.ID
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("read back %+v\nwant %+v", *got, want)
	}
	members, err := e.store.GroupMembers(context.Background(), "Équipe 0 1")
	must(t, err)
	assertEqual(t, "members", members, []string{"bob"})
}

func TestImportValidation(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustCreate(t, e.store, "someone", "pw", nil)
	before := e.snapshot(t)
	tests := []struct {
		name string
		mod  func(*ImportSet)
		want error
	}{
		{"invalid username", func(s *ImportSet) { s.Users[0].User.Username = "bad name" }, ErrInvalidUsername},
		{"username not NFKC", func(s *ImportSet) { s.Users[0].User.Username = "\ufb01nn" }, ErrInvalidUsername},
		{"duplicate username", func(s *ImportSet) { s.Users[1].User.Username = "alice" }, ErrUserExists},
		{"group outside the set", func(s *ImportSet) { s.Users[0].Groups = []string{"nope"} }, ErrGroupNotFound},
		{"undeclared user permission", func(s *ImportSet) { s.Users[0].Permissions = []string{"blog.fly"} }, ErrPermissionNotDeclared},
		{"undeclared group permission", func(s *ImportSet) { s.Groups[0].Permissions = []string{"auth.add_user"} }, ErrPermissionNotDeclared},
		{"invalid permission", func(s *ImportSet) { s.Groups[0].Permissions = []string{"Blog.x"} }, ErrInvalidPermission},
		{"invalid group name", func(s *ImportSet) { s.Groups[0].Name = "a{b}" }, ErrInvalidGroupName},
		{"duplicate group", func(s *ImportSet) { s.Groups[1].Name = "editors" }, ErrGroupExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := importSet(t)
			good, err := e.store.ReadImportState(ctx, set)
			must(t, err)
			tc.mod(&set)
			if _, err := e.store.ReadImportState(ctx, set); !errors.Is(err, tc.want) {
				t.Errorf("ReadImportState err = %v, want %v", err, tc.want)
			}
			if _, err := e.store.Import(ctx, set, good); !errors.Is(err, tc.want) {
				t.Errorf("Import err = %v, want %v", err, tc.want)
			}
			assertSnapshot(t, "after a refused import", e.snapshot(t), before)
		})
	}
	t.Run("state of another set", func(t *testing.T) {
		set := importSet(t)
		other := importSet(t)
		other.Users = other.Users[:1]
		st, err := e.store.ReadImportState(ctx, other)
		must(t, err)
		if _, err := e.store.Import(ctx, set, st); err == nil || !strings.Contains(err.Error(), "another set") {
			t.Errorf("Import with the state of another set: %v", err)
		}
		if _, err := e.store.Import(ctx, set, nil); err == nil {
			t.Error("Import without a prior state succeeded")
		}
		assertSnapshot(t, "after a refused import", e.snapshot(t), before)
	})
}

// Anything that changes between the read and the write makes Import
// write nothing and report ErrImportConflict.
func TestImportConflict(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(t *testing.T, s *Store)
	}{
		{"user created meanwhile", func(t *testing.T, s *Store) { mustCreate(t, s, "bob", "pw", nil) }},
		{"last login updated", func(t *testing.T, s *Store) {
			u, err := s.GetUserByUsername(ctx, "alice")
			must(t, err)
			must(t, s.UpdateLastLogin(ctx, u.ID, time.Now()))
		}},
		{"user granted a permission", func(t *testing.T, s *Store) { must(t, s.GrantUserPermission(ctx, "alice", "blog.view_post")) }},
		{"user joined a group", func(t *testing.T, s *Store) {
			must(t, s.CreateGroup(ctx, "legacy"))
			must(t, s.AddUserToGroup(ctx, "alice", "legacy"))
		}},
		{"group created", func(t *testing.T, s *Store) { must(t, s.CreateGroup(ctx, "shop staff")) }},
		{"group permission revoked", func(t *testing.T, s *Store) { must(t, s.RevokeGroupPermission(ctx, "editors", "blog.change_post")) }},
		{"model declared", func(t *testing.T, s *Store) {
			m, err := NewModel(ModelSpec{Label: "shop.order"})
			must(t, err)
			must(t, s.DeclareModels(ctx, m))
		}},
		{"permission registered", func(t *testing.T, s *Store) { must(t, s.RegisterPermissions(ctx, "shop.add_order")) }},
		// Profile fields are compared like the other fields of the user.
		{"profile value changed", func(t *testing.T, s *Store) { setProfile(t, s, "alice", profile.Values{"department": "ops"}) }},
		{"profile field added", func(t *testing.T, s *Store) {
			setProfile(t, s, "alice", profile.Values{"department": "sales", "level": int64(2)})
		}},
		{"profile field removed", func(t *testing.T, s *Store) { setProfile(t, s, "alice", nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			first := importSet(t)
			first.Users = first.Users[:1] // alice
			first.Groups = first.Groups[:1]
			first.Models = first.Models[:2]
			first.Users[0].User.Profile = profile.Values{"department": "sales"}
			mustImport(t, e.store, first)

			set := importSet(t)
			set.Users[0].User.Email = "changed@example.com"
			set.Users[0].User.Profile = profile.Values{"department": "sales"}
			st, err := e.store.ReadImportState(ctx, set)
			must(t, err)
			tc.change(t, e.store)
			before := e.snapshot(t)
			_, err = e.store.Import(ctx, set, st)
			if !errors.Is(err, ErrImportConflict) {
				t.Fatalf("Import err = %v, want ErrImportConflict", err)
			}
			assertSnapshot(t, "after a conflict", e.snapshot(t), before)
			// Read again, and it goes through.
			mustImport(t, e.store, set)
			u, err := e.store.GetUserByUsername(ctx, "alice")
			must(t, err)
			if u.Email != "changed@example.com" {
				t.Errorf("email after the retry = %q", u.Email)
			}
		})
	}
}

func setProfile(t *testing.T, s *Store, username string, values profile.Values) {
	t.Helper()
	_, err := s.UpdateProfile(context.Background(), username, func(profile.Values) (profile.Values, error) { return values, nil })
	must(t, err)
}

// A key that cannot be written is found before the first write: the
// earlier users of the set are not written either.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		corrupt func(t *testing.T, e *testEnv, bobID int64)
	}{
		{"last user's permission set is a string", func(t *testing.T, e *testEnv, bobID int64) {
			must(t, e.rdb.Set(ctx, e.store.userKey(bobID)+":perms", "x", 0).Err())
		}},
		{"a member set is a string", func(t *testing.T, e *testEnv, _ int64) {
			must(t, e.rdb.Set(ctx, testPrefix+"{auth}:group:shop staff:members", "x", 0).Err())
		}},
		{"id counter is not a number", func(t *testing.T, e *testEnv, _ int64) {
			must(t, e.rdb.Set(ctx, e.store.seqKey(), "many", 0).Err())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			bob := mustCreate(t, e.store, "bob", "pw", nil)
			set := importSet(t)
			set.Users = append(set.Users, ImportUser{User: User{Username: "carol", Password: "!", DateJoined: joined}})
			st, err := e.store.ReadImportState(ctx, set)
			must(t, err)
			// Not a change ReadImportState saw: written behind its back,
			// so only the script can find it.
			tc.corrupt(t, e, bob.ID)
			before := e.snapshot(t)
			_, err = e.store.Import(ctx, set, st)
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrImportConflict) {
				t.Fatalf("Import err = %v, want ErrUnavailable or ErrImportConflict", err)
			}
			assertSnapshot(t, "after a failed import", e.snapshot(t), before)
		})
	}
}

func TestImportUnavailable(t *testing.T) {
	e := newTestEnv(t)
	set := importSet(t)
	st, err := e.store.ReadImportState(context.Background(), set)
	must(t, err)
	before := e.snapshot(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.store.Import(ctx, set, st)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Import with a cancelled context: err = %v, want ErrUnavailable and context.Canceled", err)
	}
	assertSnapshot(t, "after a cancelled import", e.snapshot(t), before)

	e.srv.Stop()
	if _, err := e.store.ReadImportState(context.Background(), set); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ReadImportState with Redis down: err = %v, want ErrUnavailable", err)
	}
	if _, err := e.store.Import(context.Background(), set, st); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Import with Redis down: err = %v, want ErrUnavailable", err)
	}
}

func TestReadImportStateCorrupt(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	u := mustCreate(t, e.store, "alice", "pw", nil)
	must(t, e.rdb.HSet(ctx, e.store.userKey(u.ID), "is_active", "maybe").Err())
	if _, err := e.store.ReadImportState(ctx, importSet(t)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "is_active") {
		t.Errorf("corrupt user: err = %v, want ErrUnavailable naming is_active", err)
	}
	must(t, e.rdb.HSet(ctx, e.store.modelsKey(), "blog.post", "{").Err())
	if _, err := e.store.ReadImportState(ctx, importSet(t)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("corrupt model: err = %v, want ErrUnavailable", err)
	}
}

func TestPasswordHashProblem(t *testing.T) {
	e := newTestEnv(t) // pbkdf2_sha256 only
	for enc, wantErr := range map[string]error{
		"pbkdf2_sha256$1000$salt$hash": nil,
		"!unusable":                    nil,
		"":                             nil,
		"argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA": ErrHashAlgorithmNotEnabled,
		"plaintext": ErrHashInvalid,
	} {
		err := e.store.PasswordHashProblem(enc)
		if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			t.Errorf("PasswordHashProblem(%q) = %v, want %v", enc, err, wantErr)
		}
		if err != nil && enc != "" && strings.Contains(err.Error(), enc) {
			t.Errorf("PasswordHashProblem(%q) shows the hash: %v", enc, err)
		}
	}
}
