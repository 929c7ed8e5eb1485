package authn

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/profile"
)

// profileHash returns the profile fields (and the legacy profile field)
// of the user hash of id.
func profileHash(t *testing.T, e *testEnv, id int64) map[string]string {
	t.Helper()
	h, err := e.rdb.HGetAll(context.Background(), "gw:{auth}:user:"+strconv.FormatInt(id, 10)).Result()
	must(t, err)
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, ProfileFieldPrefix) || k == "profile" {
			out[k] = v
		}
	}
	return out
}

// loadProfile reads the profile of id through every path that decodes a
// user: GetUser, GetUserByUsername, LoadPrincipal (the per-request
// script's reply) and ListUsers; they must agree.
func loadProfile(t *testing.T, e *testEnv, id int64, username string) (profile.Values, error) {
	t.Helper()
	ctx := context.Background()
	var got []profile.Values
	for _, load := range []func() (*User, error){
		func() (*User, error) { return e.store.GetUser(ctx, id) },
		func() (*User, error) { return e.store.GetUserByUsername(ctx, username) },
		func() (*User, error) {
			p, err := e.store.LoadPrincipal(ctx, id, "session")
			if err != nil {
				return nil, err
			}
			return p.User, nil
		},
		func() (*User, error) {
			all, err := e.store.ListUsers(ctx)
			if err != nil {
				return nil, err
			}
			for _, u := range all {
				if u.ID == id {
					return u, nil
				}
			}
			return nil, ErrUserNotFound
		},
	} {
		u, err := load()
		if err != nil {
			return nil, err
		}
		got = append(got, u.Profile)
	}
	for _, p := range got[1:] {
		if !reflect.DeepEqual(p, got[0]) {
			t.Errorf("the paths disagree: %#v", got)
		}
	}
	return got[0], nil
}

func TestProfileStoredWithTheUser(t *testing.T) {
	hired := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("é", 60) // 120 bytes, 122 as JSON
	longList := []string{strings.Repeat("x", 40), strings.Repeat("y", 40)}
	tests := []struct {
		name   string
		values profile.Values
		fields map[string]string // the p: fields stored
		back   profile.Values    // as read back
	}{
		{"none", nil, map[string]string{}, nil},
		{"empty", profile.Values{}, map[string]string{}, nil},
		{
			"every type",
			profile.Values{"department": "sales", "level": int64(3), "remote": true, "tags": []string{"a", "b"}, "hired": hired},
			map[string]string{"p:department": `"sales"`, "p:level": "3", "p:remote": "true", "p:tags": `["a","b"]`, "p:hired": `"2020-01-02T03:04:05Z"`},
			profile.Values{"department": "sales", "level": int64(3), "remote": true, "tags": []string{"a", "b"}, "hired": "2020-01-02T03:04:05Z"},
		},
		{
			"escapes",
			profile.Values{"note": "a \"b\" <c> & \\ \n", "empty": "", "none": []string{}},
			map[string]string{"p:note": `"a \"b\" <c> & \\ \n"`, "p:empty": `""`, "p:none": "[]"},
			profile.Values{"note": "a \"b\" <c> & \\ \n", "empty": "", "none": []string{}},
		},
		{
			// Longer than ListpackValueMax: stored and read back whole (the
			// hash becomes a hashtable, README.md "Redis memory").
			"long values",
			profile.Values{"bio": long, "aliases": longList, "department": "sales"},
			map[string]string{"p:bio": `"` + long + `"`, "p:aliases": `["` + longList[0] + `","` + longList[1] + `"]`, "p:department": `"sales"`},
			profile.Values{"bio": long, "aliases": longList, "department": "sales"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			u := mustCreate(t, e.store, "pat", "secret-Pass-1", func(u *User) { u.Profile = tc.values })
			if got := profileHash(t, e, u.ID); !reflect.DeepEqual(got, tc.fields) {
				t.Errorf("stored %q, want %q", got, tc.fields)
			}
			got, err := loadProfile(t, e, u.ID, "pat")
			if err != nil || !reflect.DeepEqual(got, tc.back) {
				t.Errorf("read back %#v, %v; want %#v", got, err, tc.back)
			}
			if _, err := e.store.Authenticate(context.Background(), "pat", "secret-Pass-1"); err != nil {
				t.Errorf("Authenticate: %v", err)
			}
		})
	}
	// A profile that cannot be stored is refused before anything is written.
	e := newTestEnv(t)
	ctx := context.Background()
	for _, bad := range []profile.Values{{"x": 1.5}, {"X": "a"}, {"x": strings.Repeat("a", profile.MaxEncodedLength)}} {
		if _, err := e.store.CreateUser(ctx, &User{Username: "bad", Profile: bad}, "secret-Pass-1"); err == nil {
			t.Errorf("CreateUser with %v succeeded", bad)
		}
	}
	if _, err := e.store.GetUserByUsername(ctx, "bad"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("a refused user was stored: %v", err)
	}
}

func TestCorruptProfileFailsClosed(t *testing.T) {
	tests := []struct {
		field, value string
	}{
		{"p:a", `null`},
		{"p:a", `1.5`},
		{"p:a", `1e3`},
		{"p:a", `not json`},
		{"p:a", ``},
		{"p:a", `{"b":1}`},
		{"p:a", `[1]`},
		{"p:a", `"x" "y"`},
		{"p:a", "\"\xff\""},
		{"p:A", `1`},
		{"p:", `1`},
		{"p:a:b", `1`},
		// The unreleased one-field layout is not read: ignoring it would
		// give the user the defaults instead of their values.
		{"profile", `{"a":1}`},
		{"profile", `not json`},
	}
	for _, tc := range tests {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			e := newTestEnv(t)
			ctx := context.Background()
			u := mustCreate(t, e.store, "pat", "secret-Pass-1", func(u *User) { u.Profile = profile.Values{"ok": "fine"} })
			must(t, e.rdb.HSet(ctx, "gw:{auth}:user:1", tc.field, tc.value).Err())
			if _, err := e.store.GetUser(ctx, u.ID); !errors.Is(err, ErrUnavailable) {
				t.Errorf("GetUser: %v, want ErrUnavailable", err)
			}
			if _, err := e.store.GetUserByUsername(ctx, "pat"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("GetUserByUsername: %v, want ErrUnavailable", err)
			}
			if _, err := e.store.LoadPrincipal(ctx, u.ID, "session"); !errors.Is(err, ErrUnavailable) {
				t.Errorf("LoadPrincipal: %v, want ErrUnavailable", err)
			}
			if _, err := e.store.Authenticate(ctx, "pat", "secret-Pass-1"); err == nil {
				t.Error("Authenticate succeeded")
			}
			if _, err := e.store.UpdateProfile(ctx, "pat", func(profile.Values) (profile.Values, error) { return nil, nil }); err == nil {
				t.Error("UpdateProfile succeeded")
			}
		})
	}
	// An empty legacy field (what the unreleased import wrote for a
	// cleared profile) holds no values: read as none.
	e := newTestEnv(t)
	u := mustCreate(t, e.store, "pat", "secret-Pass-1", nil)
	must(t, e.rdb.HSet(context.Background(), "gw:{auth}:user:1", "profile", "").Err())
	if got, err := loadProfile(t, e, u.ID, "pat"); err != nil || got != nil {
		t.Errorf("empty legacy profile field read as %#v, %v", got, err)
	}
}

// Writing a profile replaces it: no field of a value no longer there
// remains, whether UpdateProfile or a re-import writes it.
func TestProfileStaleFieldsRemoved(t *testing.T) {
	tests := []struct {
		name     string
		before   profile.Values
		legacy   bool // an empty legacy profile field is stored too
		after    profile.Values
		wantHash map[string]string
	}{
		{"one removed", profile.Values{"a": "1", "b": "2"}, false, profile.Values{"a": "1"}, map[string]string{"p:a": `"1"`}},
		{"all removed", profile.Values{"a": "1", "b": "2"}, false, nil, map[string]string{}},
		{"replaced", profile.Values{"a": "1"}, false, profile.Values{"b": int64(2)}, map[string]string{"p:b": "2"}},
		{"changed type", profile.Values{"a": "1"}, false, profile.Values{"a": []string{"1"}}, map[string]string{"p:a": `["1"]`}},
		{"added", nil, false, profile.Values{"a": true}, map[string]string{"p:a": "true"}},
		{"unchanged", profile.Values{"a": "1"}, false, profile.Values{"a": "1"}, map[string]string{"p:a": `"1"`}},
		{"long to short", profile.Values{"a": strings.Repeat("x", 100)}, false, profile.Values{"a": "x"}, map[string]string{"p:a": `"x"`}},
		{"legacy field dropped", nil, true, profile.Values{"a": "1"}, map[string]string{"p:a": `"1"`}},
		{"legacy field dropped, none", nil, true, nil, map[string]string{}},
	}
	writers := map[string]func(t *testing.T, e *testEnv, values profile.Values){
		"UpdateProfile": func(t *testing.T, e *testEnv, values profile.Values) {
			_, err := e.store.UpdateProfile(context.Background(), "pat", func(profile.Values) (profile.Values, error) { return values, nil })
			must(t, err)
		},
		"re-import": func(t *testing.T, e *testEnv, values profile.Values) {
			set := importSet(t)
			set.Users = []ImportUser{{User: User{Username: "pat", Password: "!unusable", IsActive: true, DateJoined: joined, Profile: values}}}
			mustImport(t, e.store, set)
		},
	}
	for wname, write := range writers {
		for _, tc := range tests {
			t.Run(wname+"/"+tc.name, func(t *testing.T) {
				e := newTestEnv(t)
				ctx := context.Background()
				u := mustCreate(t, e.store, "pat", "", func(u *User) { u.Password, u.Profile = "!unusable", tc.before })
				if tc.legacy {
					must(t, e.rdb.HSet(ctx, "gw:{auth}:user:1", "profile", "").Err())
				}
				write(t, e, tc.after)
				if got := profileHash(t, e, u.ID); !reflect.DeepEqual(got, tc.wantHash) {
					t.Errorf("stored %q, want %q", got, tc.wantHash)
				}
				got, err := loadProfile(t, e, u.ID, "pat")
				want := tc.after
				if len(want) == 0 {
					want = nil
				}
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("read back %#v, %v; want %#v", got, err, want)
				}
			})
		}
	}
}

func TestUpdateProfile(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustCreate(t, e.store, "pat", "secret-Pass-1", func(u *User) { u.Profile = profile.Values{"removed_field": "kept"} })
	set := func(name string, v any) func(profile.Values) (profile.Values, error) {
		return func(cur profile.Values) (profile.Values, error) {
			next := profile.Values{}
			for k, x := range cur {
				next[k] = x
			}
			next[name] = v
			return next, nil
		}
	}
	// Concurrent updates of different fields all land (compare and set).
	var wg sync.WaitGroup
	names := []string{"a", "b", "c", "d", "e", "f"}
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.store.UpdateProfile(ctx, "pat", set(n, int64(i)))
		}()
	}
	wg.Wait()
	got, err := e.store.GetUserByUsername(ctx, "pat")
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for i, n := range names {
		if errors.Is(errs[i], ErrConcurrentUpdate) {
			lost++
			continue
		}
		if errs[i] != nil || got.Profile[n] != int64(i) {
			t.Errorf("field %s: %v, stored %v", n, errs[i], got.Profile[n])
		}
	}
	if lost == len(names) || got.Profile["removed_field"] != "kept" {
		t.Errorf("profile %v (%d updates gave up)", got.Profile, lost)
	}
	// Clearing every value deletes every field.
	if _, err := e.store.UpdateProfile(ctx, "pat", func(profile.Values) (profile.Values, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if got := profileHash(t, e, 1); len(got) != 0 {
		t.Errorf("empty profile still stored: %q", got)
	}
	if _, err := e.store.UpdateProfile(ctx, "nobody", set("a", "b")); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	boom := errors.New("boom")
	if _, err := e.store.UpdateProfile(ctx, "pat", func(profile.Values) (profile.Values, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("update error: %v", err)
	}
}

// A typical profile adds little to the user record: the operations budget
// is 1 KiB per typical user in Redis, which the rest of the record is
// being shrunk to meet (another change); the profile's share is bounded
// here, as the difference between two otherwise identical users.
func TestProfileMemoryPerUser(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	for _, name := range []string{"typical.user1", "typical.user2"} {
		mustCreate(t, e.store, name, "secret-Pass-1", func(u *User) {
			u.FirstName, u.LastName = "Typical", "User"
			if name == "typical.user2" {
				u.Profile = profile.Values{"department": "sales", "tenant_id": int64(4711), "employee_number": "E-004711"}
			}
		})
	}
	without, err := e.rdb.MemoryUsage(ctx, "gw:{auth}:user:1", 0).Result()
	if err != nil {
		t.Skipf("MEMORY USAGE: %v", err)
	}
	with, err := e.rdb.MemoryUsage(ctx, "gw:{auth}:user:2", 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	if with-without > 160 {
		t.Errorf("a typical profile adds %d bytes to the user hash (%d -> %d); want at most 160", with-without, without, with)
	}
	t.Logf("user hash without/with a typical profile: %d/%d bytes", without, with)
}
