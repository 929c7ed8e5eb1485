package authn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/testredis"
)

const testPrefix = "gw:"

type testEnv struct {
	srv   *testredis.Server
	rdb   *redis.Client
	store *Store
}

// newTestEnv starts a real redis-server owned by the test.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{
		Addr:          srv.Addr(),
		MaxRetries:    -1, // fail fast once the server is stopped
		DialerRetries: 1,
		DialTimeout:   time.Second,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	return &testEnv{srv: srv, rdb: rdb, store: NewStore(rdb, testPrefix, newTestHashers(t, testIterations))}
}

// keys returns every key in the database, sorted.
func (e *testEnv) keys(t *testing.T) []string {
	t.Helper()
	var all []string
	iter := e.rdb.Scan(context.Background(), 0, "*", 100).Iterator()
	for iter.Next(context.Background()) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	slices.Sort(all)
	return all
}

func mustCreate(t *testing.T, s *Store, username, password string, mod func(*User)) *User {
	t.Helper()
	u := &User{Username: username, Email: username + "@example.com", IsActive: true}
	if mod != nil {
		mod(u)
	}
	got, err := s.CreateUser(context.Background(), u, password)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return got
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreateAndGetUser(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	in := &User{Username: "alice", Email: "a@example.com", FirstName: "Alice", LastName: "Liddell", IsActive: true, IsStaff: true}
	before := time.Now().UTC()
	u, err := e.store.CreateUser(ctx, in, "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != 0 || in.Password != "" {
		t.Error("CreateUser modified its argument")
	}
	if u.ID != 1 || u.DateJoined.Before(before) || u.DateJoined.Location() != time.UTC {
		t.Errorf("ID %d, DateJoined %v: want 1 and now in UTC", u.ID, u.DateJoined)
	}
	if !strings.HasPrefix(u.Password, "pbkdf2_sha256$1000$") {
		t.Errorf("password not hashed with the preferred hasher: prefix %q", u.Password[:min(20, len(u.Password))])
	}
	byID, err := e.store.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := e.store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*User{byID, byName} {
		if !reflect.DeepEqual(*got, *u) {
			t.Errorf("read back %+v\nwant %+v", *got, *u)
		}
	}
	// The stored hash follows the documented layout.
	h, err := e.rdb.HGetAll(ctx, "gw:{auth}:user:1").Result()
	must(t, err)
	if h["is_active"] != "1" || h["is_staff"] != "1" || h["is_superuser"] != "0" || h["last_login"] != "" ||
		h["date_joined"] != u.DateJoined.Format(time.RFC3339Nano) {
		t.Errorf("stored hash %v does not follow the layout", h)
	}
	if id, _ := e.rdb.HGet(ctx, "gw:{auth}:usernames", "alice").Result(); id != "1" {
		t.Errorf("usernames index alice -> %q, want 1", id)
	}

	// Case-sensitive, like Django.
	if _, err := e.store.GetUserByUsername(ctx, "Alice"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("GetUserByUsername(Alice) err = %v, want ErrUserNotFound", err)
	}
	bob := mustCreate(t, e.store, "Alice", "pw", nil)
	if bob.ID != 2 {
		t.Errorf("second user id %d, want 2", bob.ID)
	}
}

func TestCreateUserErrors(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustCreate(t, e.store, "taken", "pw", nil)
	tests := []struct {
		name     string
		user     *User
		password string
		want     error
	}{
		{"duplicate", &User{Username: "taken"}, "pw", ErrUserExists},
		{"duplicate after NFKC", &User{Username: "ｔａｋｅｎ"}, "pw", ErrUserExists},
		{"empty username", &User{}, "pw", ErrInvalidUsername},
		{"space in username", &User{Username: "john doe"}, "pw", ErrInvalidUsername},
		{"too long", &User{Username: strings.Repeat("x", 151)}, "pw", ErrInvalidUsername},
		{"empty password", &User{Username: "nopass"}, "", ErrEmptyPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.store.CreateUser(ctx, tc.user, tc.password)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := e.store.CreateUser(ctx, &User{Username: "both", Password: "pbkdf2_sha256$1$s$h"}, "pw"); err == nil {
		t.Error("hash and password together accepted")
	}
	// Only "taken" exists: failed creates left nothing behind.
	users, err := e.store.ListUsers(ctx)
	must(t, err)
	if len(users) != 1 {
		t.Errorf("%d users after failed creates, want 1", len(users))
	}
}

func TestCreateUserConcurrentDuplicates(t *testing.T) {
	e := newTestEnv(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := e.store.CreateUser(context.Background(), &User{Username: "race", IsActive: true}, "pw")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var ok, dup int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrUserExists):
			dup++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || dup != 19 {
		t.Errorf("%d created, %d duplicates; want 1 and 19", ok, dup)
	}
}

func TestImportedHashAndNormalization(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	const djangoHash = "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY="
	joined := time.Date(2019, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600))
	u, err := e.store.CreateUser(ctx, &User{Username: "\ufb01nn", Password: djangoHash, IsActive: true, DateJoined: joined}, "")
	must(t, err)
	if u.Username != "finn" || u.Password != djangoHash || !u.DateJoined.Equal(joined) {
		t.Errorf("got %q / hash kept %v / joined %v", u.Username, u.Password == djangoHash, u.DateJoined)
	}
	got, err := e.store.GetUser(ctx, u.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, *u) {
		t.Errorf("read back %+v\nwant %+v", *got, *u)
	}
}

func TestListUsers(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	users, err := e.store.ListUsers(ctx)
	must(t, err)
	if len(users) != 0 {
		t.Fatalf("empty store lists %d users", len(users))
	}
	for _, n := range []string{"carol", "alice", "Bob", "dave"} {
		mustCreate(t, e.store, n, "pw", nil)
	}
	users, err = e.store.ListUsers(ctx)
	must(t, err)
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	if want := "Bob,alice,carol,dave"; strings.Join(names, ",") != want {
		t.Errorf("ListUsers = %v, want %s", names, want)
	}
}

func TestUserUpdates(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	u := mustCreate(t, e.store, "alice", "pw", nil)
	yes, no := true, false

	must(t, e.store.SetActive(ctx, "alice", false))
	must(t, e.store.SetFlags(ctx, "alice", &yes, nil))
	must(t, e.store.SetFlags(ctx, "alice", nil, &yes))
	must(t, e.store.SetFlags(ctx, "alice", &no, nil))
	login := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	must(t, e.store.UpdateLastLogin(ctx, u.ID, login))
	enc, err := e.store.hashers.Make("new")
	must(t, err)
	must(t, e.store.SetPassword(ctx, "alice", enc))

	got, err := e.store.GetUser(ctx, u.ID)
	must(t, err)
	if got.IsActive || got.IsStaff || !got.IsSuperuser || !got.LastLogin.Equal(login) || got.Password != enc {
		t.Errorf("after updates: %+v", got)
	}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"set password unknown", func() error { return e.store.SetPassword(ctx, "nobody", enc) }, ErrUserNotFound},
		{"set empty password", func() error { return e.store.SetPassword(ctx, "alice", "") }, ErrEmptyPassword},
		{"set active unknown", func() error { return e.store.SetActive(ctx, "nobody", true) }, ErrUserNotFound},
		{"set flags unknown", func() error { return e.store.SetFlags(ctx, "nobody", &yes, &yes) }, ErrUserNotFound},
		{"set flags none unknown", func() error { return e.store.SetFlags(ctx, "nobody", nil, nil) }, ErrUserNotFound},
		{"last login unknown", func() error { return e.store.UpdateLastLogin(ctx, 999, login) }, ErrUserNotFound},
		{"last login bad id", func() error { return e.store.UpdateLastLogin(ctx, 0, login) }, ErrUserNotFound},
		{"get missing id", func() error { _, err := e.store.GetUser(ctx, 999); return err }, ErrUserNotFound},
		{"get empty username", func() error { _, err := e.store.GetUserByUsername(ctx, ""); return err }, ErrInvalidUsername},
		{"delete unknown", func() error { return e.store.DeleteUser(ctx, "nobody") }, ErrUserNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if errors.Is(err, redis.Nil) {
				t.Fatal("redis.Nil leaked")
			}
		})
	}
	// UpdateLastLogin on a missing id must not create a stray hash.
	if n, _ := e.rdb.Exists(ctx, "gw:{auth}:user:999").Result(); n != 0 {
		t.Error("UpdateLastLogin created a hash for a missing user")
	}
}

func TestDeleteUserCleansEveryKey(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	must(t, s.RegisterPermissions(ctx, "blog.add_post", "blog.change_post", "blog.delete_post", "blog.view_post")) // declared, as by a model
	keep := mustCreate(t, s, "keep", "pw", nil)
	gone := mustCreate(t, s, "gone", "pw", nil)
	for _, g := range []string{"editors", "readers"} {
		must(t, s.CreateGroup(ctx, g))
		must(t, s.AddUserToGroup(ctx, "gone", g))
	}
	must(t, s.AddUserToGroup(ctx, "keep", "editors"))
	must(t, s.GrantUserPermission(ctx, "gone", "blog.add_post"))
	must(t, s.GrantGroupPermission(ctx, "editors", "blog.change_post"))

	must(t, s.DeleteUser(ctx, "gone"))

	want := []string{
		"gw:{auth}:group:editors:members",
		"gw:{auth}:group:editors:perms",
		"gw:{auth}:groups",
		"gw:{auth}:perms",
		"gw:{auth}:seq:user",
		"gw:{auth}:user:" + strconv.FormatInt(keep.ID, 10),
		"gw:{auth}:user:" + strconv.FormatInt(keep.ID, 10) + ":groups",
		"gw:{auth}:usernames",
	}
	if got := e.keys(t); !slices.Equal(got, want) {
		t.Errorf("keys after delete:\n got %q\nwant %q", got, want)
	}
	goneID := strconv.FormatInt(gone.ID, 10)
	for _, k := range e.keys(t) {
		if strings.Contains(k, "user:"+goneID) {
			t.Errorf("key %q of the deleted user remains", k)
		}
	}
	members, err := e.rdb.SMembers(ctx, "gw:{auth}:group:editors:members").Result()
	must(t, err)
	if slices.Contains(members, goneID) {
		t.Error("deleted user still a member of editors")
	}
	if ok, _ := e.rdb.HExists(ctx, "gw:{auth}:usernames", "gone").Result(); ok {
		t.Error("username index still has the deleted user")
	}
	if _, err := s.GetUser(ctx, gone.ID); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("GetUser(deleted) err = %v", err)
	}
	// The permission stays known (Django keeps Permission rows), and the
	// name can be reused by a new user with a new id.
	known, err := s.KnownPermissions(ctx)
	must(t, err)
	if !slices.Contains(known, "blog.add_post") {
		t.Error("deleting a user forgot a known permission")
	}
	again := mustCreate(t, s, "gone", "pw", nil)
	if again.ID == gone.ID {
		t.Error("user id reused")
	}
	if groups, _ := e.rdb.SMembers(ctx, "gw:{auth}:user:"+strconv.FormatInt(again.ID, 10)+":groups").Result(); len(groups) != 0 {
		t.Errorf("new user inherited groups %v", groups)
	}
}

func TestGroups(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	must(t, s.RegisterPermissions(ctx, "blog.add_post", "blog.change_post", "blog.delete_post", "blog.view_post")) // declared, as by a model
	mustCreate(t, s, "alice", "pw", nil)
	mustCreate(t, s, "bob", "pw", nil)
	must(t, s.CreateGroup(ctx, "writers"))
	must(t, s.CreateGroup(ctx, "Éditeurs en chef"))
	must(t, s.AddUserToGroup(ctx, "bob", "writers"))
	must(t, s.AddUserToGroup(ctx, "alice", "writers"))
	must(t, s.AddUserToGroup(ctx, "alice", "writers")) // idempotent
	must(t, s.GrantGroupPermission(ctx, "writers", "blog.add_post"))
	must(t, s.GrantGroupPermission(ctx, "writers", "blog.change_post"))
	must(t, s.RevokeGroupPermission(ctx, "writers", "blog.change_post"))

	groups, err := s.ListGroups(ctx)
	must(t, err)
	if strings.Join(groups, ",") != "writers,Éditeurs en chef" {
		t.Errorf("ListGroups = %q", groups)
	}
	members, err := s.GroupMembers(ctx, "writers")
	must(t, err)
	if strings.Join(members, ",") != "alice,bob" {
		t.Errorf("GroupMembers = %q", members)
	}
	perms, err := s.GroupPermissions(ctx, "writers")
	must(t, err)
	if strings.Join(perms, ",") != "blog.add_post" {
		t.Errorf("GroupPermissions = %q", perms)
	}
	must(t, s.RemoveUserFromGroup(ctx, "bob", "writers"))
	must(t, s.RemoveUserFromGroup(ctx, "bob", "writers")) // idempotent
	members, err = s.GroupMembers(ctx, "writers")
	must(t, err)
	if strings.Join(members, ",") != "alice" {
		t.Errorf("GroupMembers after remove = %q", members)
	}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"create duplicate", func() error { return s.CreateGroup(ctx, "writers") }, ErrGroupExists},
		{"create invalid", func() error { return s.CreateGroup(ctx, "a:b") }, ErrInvalidGroupName},
		{"delete unknown", func() error { return s.DeleteGroup(ctx, "nope") }, ErrGroupNotFound},
		{"add to unknown group", func() error { return s.AddUserToGroup(ctx, "alice", "nope") }, ErrGroupNotFound},
		{"add unknown user", func() error { return s.AddUserToGroup(ctx, "nobody", "writers") }, ErrUserNotFound},
		{"remove from unknown group", func() error { return s.RemoveUserFromGroup(ctx, "alice", "nope") }, ErrGroupNotFound},
		{"members of unknown", func() error { _, err := s.GroupMembers(ctx, "nope"); return err }, ErrGroupNotFound},
		{"perms of unknown", func() error { _, err := s.GroupPermissions(ctx, "nope"); return err }, ErrGroupNotFound},
		{"grant to unknown group", func() error { return s.GrantGroupPermission(ctx, "nope", "blog.add_post") }, ErrGroupNotFound},
		{"grant invalid to group", func() error { return s.GrantGroupPermission(ctx, "writers", "Blog.add") }, ErrInvalidPermission},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A failed grant to an unknown group wrote nothing.
	if n, _ := e.rdb.Exists(ctx, "gw:{auth}:group:nope:perms").Result(); n != 0 {
		t.Error("grant to an unknown group created its perms set")
	}
}

func TestDeleteGroupCleansBothSides(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	must(t, s.RegisterPermissions(ctx, "blog.add_post", "blog.change_post", "blog.delete_post", "blog.view_post")) // declared, as by a model
	alice := mustCreate(t, s, "alice", "pw", nil)
	bob := mustCreate(t, s, "bob", "pw", nil)
	must(t, s.CreateGroup(ctx, "doomed"))
	must(t, s.CreateGroup(ctx, "stays"))
	for _, u := range []string{"alice", "bob"} {
		must(t, s.AddUserToGroup(ctx, u, "doomed"))
	}
	must(t, s.AddUserToGroup(ctx, "alice", "stays"))
	must(t, s.GrantGroupPermission(ctx, "doomed", "blog.delete_post"))

	must(t, s.DeleteGroup(ctx, "doomed"))

	for _, k := range e.keys(t) {
		if strings.Contains(k, "group:doomed") {
			t.Errorf("key %q of the deleted group remains", k)
		}
	}
	for _, u := range []*User{alice, bob} {
		groups, err := e.rdb.SMembers(ctx, "gw:{auth}:user:"+strconv.FormatInt(u.ID, 10)+":groups").Result()
		must(t, err)
		if slices.Contains(groups, "doomed") {
			t.Errorf("%s still lists the deleted group", u.Username)
		}
	}
	groups, err := s.ListGroups(ctx)
	must(t, err)
	if strings.Join(groups, ",") != "stays" {
		t.Errorf("ListGroups = %q", groups)
	}
	p, err := s.LoadPrincipal(ctx, alice.ID, "session")
	must(t, err)
	if strings.Join(p.Groups, ",") != "stays" || len(p.Permissions) != 0 {
		t.Errorf("principal after group delete: groups %q perms %q", p.Groups, p.Permissions)
	}
	// Recreating the name starts empty.
	must(t, s.CreateGroup(ctx, "doomed"))
	if m, _ := s.GroupMembers(ctx, "doomed"); len(m) != 0 {
		t.Errorf("recreated group has members %q", m)
	}
}

func TestPermissions(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	must(t, s.RegisterPermissions(ctx, "shop.view_order", "blog.add_post"))
	mustCreate(t, s, "alice", "pw", nil)
	must(t, s.GrantUserPermission(ctx, "alice", "shop.view_order"))
	must(t, s.GrantUserPermission(ctx, "alice", "blog.add_post"))
	must(t, s.GrantUserPermission(ctx, "alice", "blog.add_post"))
	must(t, s.RevokeUserPermission(ctx, "alice", "shop.view_order"))
	must(t, s.RevokeUserPermission(ctx, "alice", "shop.never_had"))
	must(t, s.RegisterPermissions(ctx, "blog.view_post", "blog.add_post"))
	must(t, s.RegisterPermissions(ctx))

	perms, err := s.UserPermissions(ctx, "alice")
	must(t, err)
	if strings.Join(perms, ",") != "blog.add_post" {
		t.Errorf("UserPermissions = %q", perms)
	}
	known, err := s.KnownPermissions(ctx)
	must(t, err)
	if strings.Join(known, ",") != "blog.add_post,blog.view_post,shop.view_order" {
		t.Errorf("KnownPermissions = %q (revoking must not forget)", known)
	}

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"grant invalid", func() error { return s.GrantUserPermission(ctx, "alice", "not-a-perm") }, ErrInvalidPermission},
		{"grant invalid label", func() error { return s.GrantUserPermission(ctx, "alice", "Blog.add_post") }, ErrInvalidPermission},
		{"revoke invalid", func() error { return s.RevokeUserPermission(ctx, "alice", "blog.") }, ErrInvalidPermission},
		{"grant to unknown user", func() error { return s.GrantUserPermission(ctx, "nobody", "blog.add_post") }, ErrUserNotFound},
		{"perms of unknown user", func() error { _, err := s.UserPermissions(ctx, "nobody"); return err }, ErrUserNotFound},
		{"register one invalid writes none", func() error { return s.RegisterPermissions(ctx, "ok.fine", "bad") }, ErrInvalidPermission},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	known, err = s.KnownPermissions(ctx)
	must(t, err)
	if slices.Contains(known, "ok.fine") || slices.Contains(known, "not-a-perm") {
		t.Errorf("rejected permissions became known: %q", known)
	}
}

func TestLoadPrincipal(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	must(t, s.RegisterPermissions(ctx, "admin.view_logentry"))
	must(t, s.RegisterPermissions(ctx, "blog.change_post", "blog.view_post", "shop.refund"))
	must(t, s.CreateGroup(ctx, "editors"))
	must(t, s.CreateGroup(ctx, "viewers"))
	must(t, s.GrantGroupPermission(ctx, "editors", "blog.change_post"))
	must(t, s.GrantGroupPermission(ctx, "editors", "blog.view_post"))
	must(t, s.GrantGroupPermission(ctx, "viewers", "blog.view_post"))

	setup := func(name string, active, super bool, groups []string, direct []string) *User {
		u := mustCreate(t, s, name, "pw", func(u *User) { u.IsActive = active; u.IsSuperuser = super })
		for _, g := range groups {
			must(t, s.AddUserToGroup(ctx, name, g))
		}
		for _, p := range direct {
			must(t, s.GrantUserPermission(ctx, name, p))
		}
		return u
	}
	all := "admin.view_logentry,blog.change_post,blog.view_post,shop.refund"
	tests := []struct {
		name       string
		active     bool
		super      bool
		groups     []string
		direct     []string
		wantGroups string
		wantPerms  string
	}{
		{"no groups no perms", true, false, nil, nil, "", ""},
		{"direct only", true, false, nil, []string{"shop.refund"}, "", "shop.refund"},
		{"groups union direct", true, false, []string{"viewers", "editors"}, []string{"blog.view_post"}, "editors,viewers", "blog.change_post,blog.view_post"},
		{"inactive has none", false, false, []string{"editors"}, []string{"shop.refund"}, "editors", ""},
		{"inactive superuser has none", false, true, nil, nil, "", ""},
		{"active superuser has all known", true, true, []string{"viewers"}, nil, "viewers", all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "_")
			u := setup(name, tc.active, tc.super, tc.groups, tc.direct)
			p, err := s.LoadPrincipal(ctx, u.ID, "session")
			must(t, err)
			if p.User.Username != name || p.Backend != "session" || !p.IsAuthenticated() {
				t.Errorf("principal %+v", p)
			}
			if g := strings.Join(p.Groups, ","); g != tc.wantGroups {
				t.Errorf("groups %q, want %q", g, tc.wantGroups)
			}
			if got := strings.Join(p.Permissions, ","); got != tc.wantPerms {
				t.Errorf("permissions %q, want %q", got, tc.wantPerms)
			}
		})
	}
	if _, err := s.LoadPrincipal(ctx, 9999, "session"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("LoadPrincipal(missing) err = %v", err)
	}
	if _, err := s.LoadPrincipal(ctx, -1, "session"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("LoadPrincipal(-1) err = %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	mustCreate(t, s, "alice", "wonderland", nil)
	mustCreate(t, s, "sleepy", "dormouse", func(u *User) { u.IsActive = false })
	mustCreate(t, s, "finn", "human", nil)
	mustCreate(t, s, "ghost", "", func(u *User) { u.Password = s.hashers.MakeUnusable() })

	tests := []struct {
		name     string
		username string
		password string
		wantUser string // "" means ErrInvalidCredentials
	}{
		{"correct", "alice", "wonderland", "alice"},
		{"wrong password", "alice", "Wonderland", ""},
		{"empty password", "alice", "", ""},
		{"unknown user", "mallory", "wonderland", ""},
		{"username is case-sensitive", "Alice", "wonderland", ""},
		{"invalid username", "", "wonderland", ""},
		{"inactive with correct password", "sleepy", "dormouse", ""},
		{"inactive with wrong password", "sleepy", "nope", ""},
		{"unusable password", "ghost", "", ""},
		{"NFKC-normalized like the login form", "\ufb01nn", "human", "finn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.Authenticate(ctx, tc.username, tc.password)
			if tc.wantUser != "" {
				if err != nil || u == nil || u.Username != tc.wantUser {
					t.Fatalf("Authenticate = %v, %v; want %s", u, err, tc.wantUser)
				}
				return
			}
			if u != nil || !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate = %v, %v; want ErrInvalidCredentials", u, err)
			}
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestAuthenticateUpgradesOldHash(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	// Django 1.5's own test vector: 10000 iterations, 7-character salt.
	const old = "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY="
	mustCreate(t, s, "legacy", "", func(u *User) { u.Password = old })

	u, err := s.Authenticate(ctx, "legacy", "lètmein")
	must(t, err)
	stored, err := s.GetUserByUsername(ctx, "legacy")
	must(t, err)
	if stored.Password == old || !strings.HasPrefix(stored.Password, "pbkdf2_sha256$1000$") || u.Password != stored.Password {
		t.Fatalf("hash not upgraded: stored prefix %q", stored.Password[:20])
	}
	if ok, mustUpdate := s.hashers.Check("lètmein", stored.Password); !ok || mustUpdate {
		t.Errorf("upgraded hash Check = %v, %v", ok, mustUpdate)
	}
	// The upgrade is a compare-and-set: it never overwrites a newer hash.
	newer, _ := s.hashers.Make("changed")
	wrote, err := s.rehash(ctx, u.ID, old, "pbkdf2_sha256$1$x$y")
	must(t, err)
	must(t, s.SetPassword(ctx, "legacy", newer))
	if wrote {
		t.Error("rehash wrote over a hash it did not read")
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	u := mustCreate(t, s, "alice", "pw", nil)
	must(t, s.CreateGroup(ctx, "g"))
	e.srv.Stop()

	yes := true
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateUser", func() error { _, err := s.CreateUser(ctx, &User{Username: "bob"}, "pw"); return err }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, u.ID); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx, "alice"); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx); return err }},
		{"SetPassword", func() error { return s.SetPassword(ctx, "alice", "pbkdf2_sha256$1$s$h") }},
		{"SetActive", func() error { return s.SetActive(ctx, "alice", true) }},
		{"SetFlags", func() error { return s.SetFlags(ctx, "alice", &yes, nil) }},
		{"UpdateLastLogin", func() error { return s.UpdateLastLogin(ctx, u.ID, time.Now()) }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "alice") }},
		{"CreateGroup", func() error { return s.CreateGroup(ctx, "h") }},
		{"DeleteGroup", func() error { return s.DeleteGroup(ctx, "g") }},
		{"ListGroups", func() error { _, err := s.ListGroups(ctx); return err }},
		{"GroupMembers", func() error { _, err := s.GroupMembers(ctx, "g"); return err }},
		{"GroupPermissions", func() error { _, err := s.GroupPermissions(ctx, "g"); return err }},
		{"AddUserToGroup", func() error { return s.AddUserToGroup(ctx, "alice", "g") }},
		{"RemoveUserFromGroup", func() error { return s.RemoveUserFromGroup(ctx, "alice", "g") }},
		{"GrantUserPermission", func() error { return s.GrantUserPermission(ctx, "alice", "a.b") }},
		{"RevokeUserPermission", func() error { return s.RevokeUserPermission(ctx, "alice", "a.b") }},
		{"GrantGroupPermission", func() error { return s.GrantGroupPermission(ctx, "g", "a.b") }},
		{"RevokeGroupPermission", func() error { return s.RevokeGroupPermission(ctx, "g", "a.b") }},
		{"UserPermissions", func() error { _, err := s.UserPermissions(ctx, "alice"); return err }},
		{"RegisterPermissions", func() error { return s.RegisterPermissions(ctx, "a.b") }},
		{"KnownPermissions", func() error { _, err := s.KnownPermissions(ctx); return err }},
		{"LoadPrincipal", func() error { _, err := s.LoadPrincipal(ctx, u.ID, "session"); return err }},
		{"Authenticate", func() error { _, err := s.Authenticate(ctx, "alice", "pw"); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			for _, wrong := range []error{ErrInvalidCredentials, ErrUserNotFound, ErrGroupNotFound, redis.Nil} {
				if errors.Is(err, wrong) {
					t.Errorf("err = %v also matches %v", err, wrong)
				}
			}
		})
	}
	// The cause stays inspectable next to the sentinel.
	_, err := s.GetUser(ctx, u.ID)
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("err = %v: the network cause is not in the chain", err)
	}

	// A cancelled context is unavailable too, and still a context error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.GetUser(cctx, u.ID)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// TestScriptErrorCodesAreMapped guards the assumption that error_reply codes
// reach the client as the first word of the message on this Redis version.
func TestScriptErrorCodesAreMapped(t *testing.T) {
	e := newTestEnv(t)
	err := e.rdb.Eval(context.Background(), fmt.Sprintf("return redis.error_reply('%s some detail')", codeNoGroup), nil).Err()
	if got := storeError("op", err); !errors.Is(got, ErrGroupNotFound) {
		t.Fatalf("storeError(%v) = %v", err, got)
	}
}
