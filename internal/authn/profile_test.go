package authn

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/profile"
)

func TestProfileStoredWithTheUser(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	hired := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	u, err := e.store.CreateUser(ctx, &User{Username: "pat", IsActive: true, Profile: profile.Values{
		"department": "sales", "level": int64(3), "remote": true, "tags": []string{"a", "b"}, "hired": hired,
	}}, "secret-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	// One field of the user hash, written by the same HSET as the rest.
	raw, err := e.rdb.HGet(ctx, "gw:{auth}:user:1", "profile").Result()
	want := `{"department":"sales","hired":"2020-01-02T03:04:05Z","level":3,"remote":true,"tags":["a","b"]}`
	if err != nil || raw != want {
		t.Fatalf("stored profile %q, %v; want %q", raw, err, want)
	}
	stored := profile.Values{"department": "sales", "level": int64(3), "remote": true, "tags": []string{"a", "b"}, "hired": "2020-01-02T03:04:05Z"}
	for name, load := range map[string]func() (*User, error){
		"GetUser":           func() (*User, error) { return e.store.GetUser(ctx, u.ID) },
		"GetUserByUsername": func() (*User, error) { return e.store.GetUserByUsername(ctx, "pat") },
		"LoadPrincipal": func() (*User, error) {
			p, err := e.store.LoadPrincipal(ctx, u.ID, "session")
			if err != nil {
				return nil, err
			}
			return p.User, nil
		},
	} {
		got, err := load()
		if err != nil || !reflect.DeepEqual(got.Profile, stored) {
			t.Errorf("%s: profile %#v, %v", name, got.Profile, err)
		}
	}
	// A user without a profile stores no field at all.
	mustCreate(t, e.store, "noprofile", "secret-Pass-1", nil)
	if n, _ := e.rdb.HExists(ctx, "gw:{auth}:user:2", "profile").Result(); n {
		t.Error("an empty profile was stored")
	}
	// A profile that cannot be stored is refused before anything is written.
	if _, err := e.store.CreateUser(ctx, &User{Username: "bad", Profile: profile.Values{"x": 1.5}}, "secret-Pass-1"); !errors.Is(err, profile.ErrInvalidValue) {
		t.Errorf("CreateUser with a float: %v", err)
	}
}

func TestCorruptProfileFailsClosed(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	u := mustCreate(t, e.store, "pat", "secret-Pass-1", nil)
	for _, bad := range []string{`{"a":null}`, `not json`, `{"a":1,"a":2}`} {
		must(t, e.rdb.HSet(ctx, "gw:{auth}:user:1", "profile", bad).Err())
		if _, err := e.store.GetUser(ctx, u.ID); !errors.Is(err, ErrUnavailable) {
			t.Errorf("GetUser with profile %q: %v, want ErrUnavailable", bad, err)
		}
		if _, err := e.store.LoadPrincipal(ctx, u.ID, "session"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("LoadPrincipal with profile %q: %v, want ErrUnavailable", bad, err)
		}
		if _, err := e.store.Authenticate(ctx, "pat", "secret-Pass-1"); err == nil {
			t.Errorf("Authenticate with profile %q succeeded", bad)
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
	// Clearing every value deletes the field.
	if _, err := e.store.UpdateProfile(ctx, "pat", func(profile.Values) (profile.Values, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.rdb.HExists(ctx, "gw:{auth}:user:1", "profile").Result(); ok {
		t.Error("empty profile still stored")
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
