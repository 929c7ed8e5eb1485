package sessionstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/testredis"
)

const prefix = "test:"

var long = sessionstore.Lifetime{MaxAge: time.Hour, Refresh: time.Minute}

func newStore(t *testing.T) (*sessionstore.Store, *redis.Client, *testredis.Server) {
	t.Helper()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	return sessionstore.New(rdb, prefix), rdb, srv
}

// newUsers is an identity store over the same keys, with users alice
// (id 1) and bob (id 2).
func newUsers(t *testing.T, rdb redis.UniversalClient) *authn.Store {
	t.Helper()
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: authn.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	users := authn.NewStore(rdb, prefix, hs)
	for _, name := range []string{"alice", "bob"} {
		if _, err := users.CreateUser(context.Background(), &authn.User{Username: name, IsActive: true}, "pw-"+name); err != nil {
			t.Fatal(err)
		}
	}
	return users
}

// keyFor spells out the documented layout so a test can look at or plant
// data: P{auth}:s:<base64url sha256 of id>; the index is in the user hash
// (helpers_test.go).
func keyFor(id string) string { return prefix + "{auth}:s:" + keyID(id) }

func mustCreate(t *testing.T, st *sessionstore.Store, uid int64, lt sessionstore.Lifetime) string {
	t.Helper()
	id, err := st.Create(context.Background(), &sessionstore.Session{UserID: uid, Backend: "session", AuthHash: "h"}, lt)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCreateGetDelete(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	now := time.Now().UTC().Truncate(time.Millisecond)
	in := &sessionstore.Session{UserID: 1, Backend: "session", CreatedAt: now.Add(-time.Second), LastActivity: now,
		ClientIP: "10.0.0.1", UserAgent: "curl/8", AuthHash: "hash"}
	id, err := st.Create(ctx, in, sessionstore.Lifetime{MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !sessionstore.ValidID(id) {
		t.Fatalf("issued id %q does not pass ValidID", id)
	}
	got, err := st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *in {
		t.Fatalf("got %+v, want %+v", got, in)
	}
	// The raw id must not appear in any Redis key or value; the session
	// and the index carry the {auth} hash tag.
	keys, _ := rdb.Keys(ctx, prefix+"{auth}:s:*").Result()
	if len(keys) != 1 {
		t.Fatalf("keys %q, want the session", keys)
	}
	for _, v := range rdb.HGetAll(ctx, keys[0]).Val() {
		if strings.Contains(v, id) {
			t.Fatal("the session hash contains the session id")
		}
	}
	for _, k := range keys {
		if strings.Contains(k, id) || !strings.HasPrefix(k, prefix+"{auth}:") {
			t.Fatalf("redis key %q contains the session id or lacks the {auth} tag", k)
		}
	}
	if n := indexScore(rdb, "1", id); n != ms(in.CreatedAt.Add(time.Minute)) {
		t.Fatalf("index entry %q, want the expiry", n)
	}
	if ttl, err := st.TTL(ctx, id); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL = %v, %v; want in (0, 1m]", ttl, err)
	}
	if err := st.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("after delete: err = %v, want ErrNotFound", err)
	}
	if n := indexLen(rdb, "1"); n != 0 {
		t.Fatal("the index entry outlived the session")
	}
}

func TestCreateRefuses(t *testing.T) {
	ctx := context.Background()
	st, _, _ := newStore(t)
	for name, tc := range map[string]struct {
		s  *sessionstore.Session
		lt sessionstore.Lifetime
	}{
		"no user":         {&sessionstore.Session{}, long},
		"no max age":      {&sessionstore.Session{UserID: 1}, sessionstore.Lifetime{}},
		"already expired": {&sessionstore.Session{UserID: 1, CreatedAt: time.Now().Add(-2 * time.Hour)}, long},
	} {
		if _, err := st.Create(ctx, tc.s, tc.lt); err == nil {
			t.Errorf("%s: Create succeeded", name)
		}
	}
}

func TestIDsAreFresh(t *testing.T) {
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := mustCreate(t, st, 1, long)
		if seen[id] {
			t.Fatalf("id %d repeated", i)
		}
		seen[id] = true
	}
}

func TestGetAndLoadReject(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	valid := strings.Repeat("A", 43)
	plant := func(id string, fields ...any) func() {
		return func() { rdb.HSet(ctx, keyFor(id), fields...) }
	}
	cases := []struct {
		name  string
		id    string
		setup func()
		want  error
	}{
		{name: "empty", id: "", want: sessionstore.ErrNotFound},
		{name: "too short", id: "abc", want: sessionstore.ErrNotFound},
		{name: "bad alphabet", id: strings.Repeat("+", 43), want: sessionstore.ErrNotFound},
		{name: "unknown", id: valid, want: sessionstore.ErrNotFound},
		// Reach into the layout on purpose: corrupt data must be an error, not a session.
		{name: "wrong type", id: strings.Repeat("B", 43), setup: func() {
			rdb.Set(ctx, keyFor(strings.Repeat("B", 43)), "{not a hash", time.Minute)
		}, want: sessionstore.ErrCorrupt},
		{name: "bad uid", id: strings.Repeat("C", 43), setup: plant(strings.Repeat("C", 43),
			"u", "1 OR 1", "b", "session", "c", "1", "l", "1", "ah", "x"), want: sessionstore.ErrCorrupt},
		{name: "no times", id: strings.Repeat("D", 43), setup: plant(strings.Repeat("D", 43),
			"u", "1", "b", "session", "ah", "x"), want: sessionstore.ErrCorrupt},
		{name: "no auth hash", id: strings.Repeat("E", 43), setup: plant(strings.Repeat("E", 43),
			"u", "1", "b", "session", "c", ms(time.Now()), "l", ms(time.Now())), want: sessionstore.ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			if _, err := st.Get(ctx, tc.id); !errors.Is(err, tc.want) {
				t.Errorf("Get: err = %v, want %v", err, tc.want)
			}
			if _, _, err := st.Load(ctx, tc.id, time.Now(), long); !errors.Is(err, tc.want) {
				t.Errorf("Load: err = %v, want %v", err, tc.want)
			}
		})
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestLoad(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	users := newUsers(t, rdb)
	// No session for a user that does not exist: the index lives in the
	// user hash, which Create never creates.
	if _, err := st.Create(ctx, &sessionstore.Session{UserID: 99, Backend: "session", AuthHash: "h"}, long); !errors.Is(err, sessionstore.ErrNoUser) {
		t.Fatalf("Create for a missing user: %v, want ErrNoUser", err)
	}
	if n := rdb.Exists(ctx, userKey("99")).Val(); n != 0 {
		t.Fatal("Create made a user hash")
	}
	id := mustCreate(t, st, 1, long)
	sess, p, err := st.Load(ctx, id, time.Now(), long)
	if err != nil {
		t.Fatal(err)
	}
	if sess.UserID != 1 || sess.AuthHash != "h" || p.Username() != "alice" || p.Backend != "session" || !p.User.IsActive {
		t.Fatalf("Load = %+v, %+v", sess, p)
	}
	// The user is gone: the session is deleted and not found.
	if err := users.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Load(ctx, id, time.Now(), long); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Load after the user was deleted: %v", err)
	}
	// A session planted for a user that never existed is deleted on sight.
	id = strings.Repeat("Z", 43)
	rdb.HSet(ctx, keyFor(id), "u", "99", "b", "session", "c", ms(time.Now()), "l", ms(time.Now()), "ah", "h", "ua", "")
	if _, _, err := st.Load(ctx, id, time.Now(), long); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Load of an unknown user's session: %v", err)
	}
	if rdb.Exists(ctx, keyFor(id)).Val() != 0 {
		t.Fatal("a session of a missing user was kept")
	}
}

// Lifetimes are checked in the script against the caller's clock, so they
// hold even where Redis does not expire keys on time.
func TestLoadLifetimes(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	now := time.Now()
	lt := sessionstore.Lifetime{MaxAge: time.Hour, Idle: 10 * time.Minute, Refresh: time.Minute}

	id := mustCreate(t, st, 1, lt)
	if _, _, err := st.Load(ctx, id, now.Add(9*time.Minute), lt); err != nil {
		t.Fatalf("within the idle timeout: %v", err)
	}
	// That load wrote back activity: the idle timeout counts from it.
	if _, _, err := st.Load(ctx, id, now.Add(18*time.Minute), lt); err != nil {
		t.Fatalf("within the idle timeout of the last write-back: %v", err)
	}
	if _, _, err := st.Load(ctx, id, now.Add(29*time.Minute), lt); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("idle for 11m: %v, want ErrNotFound", err)
	}
	if rdb.Exists(ctx, keyFor(id)).Val() != 0 || indexLen(rdb, "1") != 0 {
		t.Fatal("an expired session or its index entry was kept")
	}

	// Absolute: however active, the session ends MaxAge after creation.
	id = mustCreate(t, st, 1, lt)
	for m := 5; m < 60; m += 5 {
		if _, _, err := st.Load(ctx, id, now.Add(time.Duration(m)*time.Minute), lt); err != nil {
			t.Fatalf("active at %dm: %v", m, err)
		}
	}
	if _, _, err := st.Load(ctx, id, now.Add(61*time.Minute), lt); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("past max age: %v, want ErrNotFound", err)
	}
}

// Within the refresh interval a Load writes nothing; after it, one write
// of last activity and expiry, in the same script.
func TestLoadRefreshInterval(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	lt := sessionstore.Lifetime{MaxAge: time.Hour, Idle: 20 * time.Minute, Refresh: 10 * time.Minute}
	id := mustCreate(t, st, 1, lt)
	before := rdb.HGetAll(ctx, keyFor(id)).Val()
	expBefore := rdb.PExpireTime(ctx, keyFor(id)).Val()
	now := time.Now()
	for _, m := range []int{1, 5, 9} {
		sess, _, err := st.Load(ctx, id, now.Add(time.Duration(m)*time.Minute), lt)
		if err != nil {
			t.Fatal(err)
		}
		if !sess.LastActivity.Equal(sess.CreatedAt) {
			t.Fatalf("at %dm: LastActivity moved within the refresh interval", m)
		}
	}
	if after := rdb.HGetAll(ctx, keyFor(id)).Val(); after["l"] != before["l"] || rdb.PExpireTime(ctx, keyFor(id)).Val() != expBefore {
		t.Fatal("a load within the refresh interval wrote to Redis")
	}
	at := now.Add(11 * time.Minute)
	sess, _, err := st.Load(ctx, id, at, lt)
	if err != nil {
		t.Fatal(err)
	}
	if got := rdb.HGet(ctx, keyFor(id), "l").Val(); got != ms(at) || !sess.LastActivity.Equal(time.UnixMilli(at.UnixMilli())) {
		t.Fatalf("last = %s after the interval, want %s", got, ms(at))
	}
	wantExp := time.UnixMilli(at.Add(lt.Idle).UnixMilli())
	if got := rdb.PExpireTime(ctx, keyFor(id)).Val(); got != time.Duration(wantExp.UnixMilli())*time.Millisecond {
		t.Fatalf("expiry %v after refresh, want %v", got, wantExp)
	}
	if score := indexScore(rdb, "1", id); score != ms(wantExp) {
		t.Fatalf("index entry %v after refresh, want %v", score, wantExp.UnixMilli())
	}
}

// The index must not grow without bound when sessions expire on their own:
// expired entries are pruned on the next write, refresh or list.
func TestIndexPruning(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	// Thousands of sessions that all end 2 s after start (created then,
	// with a 2 s lifetime), made by concurrent logins.
	short := sessionstore.Lifetime{MaxAge: 2 * time.Second, Refresh: time.Minute}
	start := time.Now()
	const n = 400 // per user; the index then still is a listpack
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ { // 8 workers per user
				uid := int64(1 + w%2)
				if _, err := st.Create(ctx, &sessionstore.Session{UserID: uid, Backend: "session", CreatedAt: start, AuthHash: "h"}, short); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d sessions in %s", 2*n, time.Since(start))
	if time.Since(start) > 1800*time.Millisecond {
		t.Skipf("creating %d sessions took %s; too slow a machine to see them all before they expire", 2*n, time.Since(start))
	}
	for _, uid := range []string{"1", "2"} {
		if got := indexLen(rdb, uid); got != n {
			t.Fatalf("index of user %s holds %d, want %d", uid, got, n)
		}
	}
	time.Sleep(time.Until(start.Add(2200 * time.Millisecond)))
	// User 1 logs in again: the write prunes the expired members.
	mustCreate(t, st, 1, long)
	if got := indexLen(rdb, "1"); got != 1 {
		t.Fatalf("after a write, index of user 1 holds %d, want 1", got)
	}
	// Whether or not user 2 comes back, the sessions themselves expired.
	if keys := rdb.Keys(ctx, prefix+"{auth}:s:*").Val(); len(keys) != 1 {
		t.Fatalf("%d session keys left, want 1", len(keys))
	}
	// Listing prunes too.
	id := mustCreate(t, st, 2, short)
	mustCreate(t, st, 2, long)
	time.Sleep(2100 * time.Millisecond)
	list, err := st.List(ctx, 2, time.Now())
	if err != nil || len(list) != 1 || list[0].IDPrefix == keyID(id)[:sessionstore.ShownPrefix] {
		t.Fatalf("List = %+v, %v; want only the live session", list, err)
	}
	if got := indexLen(rdb, "2"); got != 1 {
		t.Fatalf("after a list, index of user 2 holds %d, want 1", got)
	}
}

func TestListAndRevoke(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	created := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	var ids []string
	for i := 0; i < 3; i++ {
		id, err := st.Create(ctx, &sessionstore.Session{UserID: 1, Backend: "session", CreatedAt: created.Add(time.Duration(i) * time.Second),
			ClientIP: "10.0.0.1", UserAgent: "ua", AuthHash: "h"}, long)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	other := mustCreate(t, st, 2, long)
	// A corrupt session in the index is listed as such, not hidden.
	rdb.HSet(ctx, userKey("1"), "s:"+strings.Repeat("f", 43), ms(time.Now().Add(time.Hour)))
	rdb.Set(ctx, prefix+"{auth}:s:"+strings.Repeat("f", 43), "junk", time.Hour)

	list, err := st.List(ctx, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 || list[3].Session != nil {
		t.Fatalf("List = %+v", list)
	}
	for i, in := range list[:3] {
		want := keyID(ids[i])[:sessionstore.ShownPrefix]
		if in.IDPrefix != want || !in.Session.CreatedAt.Equal(created.Add(time.Duration(i)*time.Second)) || in.Session.ClientIP != "10.0.0.1" {
			t.Fatalf("List[%d] = %+v, want prefix %s", i, in, want)
		}
	}
	if _, err := st.Revoke(ctx, 1, "abc"); err == nil {
		t.Fatal("Revoke accepted a 3-digit prefix")
	}
	if _, err := st.Revoke(ctx, 1, "ABC+EF"); err == nil {
		t.Fatal("Revoke accepted a character outside base64url")
	}
	// Another user's session cannot be revoked through this user.
	if _, err := st.Revoke(ctx, 1, keyID(other)[:8]); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Revoke of another user's session: %v", err)
	}
	n, err := st.Revoke(ctx, 1, keyID(ids[1])[:8])
	if err != nil || n != 1 {
		t.Fatalf("Revoke = %d, %v", n, err)
	}
	if _, err := st.Get(ctx, ids[1]); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatal("revoked session still exists")
	}
	if n, err := st.RevokeAll(ctx, 1); err != nil || n != 3 {
		t.Fatalf("RevokeAll = %d, %v; want 3 (two sessions and the corrupt one)", n, err)
	}
	if _, err := st.Get(ctx, other); err != nil {
		t.Fatalf("RevokeAll of user 1 ended user 2's session: %v", err)
	}
	if indexLen(rdb, "1") != 0 {
		t.Fatal("the emptied index was kept")
	}
}

func TestRevokeAmbiguous(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	// Two sessions whose hashes share a prefix, planted through the layout
	// (random ids practically never do).
	exp := ms(time.Now().Add(time.Hour))
	for _, h := range []string{"abcdef01" + strings.Repeat("0", 35), "abcdef02" + strings.Repeat("0", 35)} {
		rdb.HSet(ctx, prefix+"{auth}:s:"+h, "u", "1", "b", "session", "c", "1", "l", "1", "ah", "h", "ua", "")
		rdb.HSet(ctx, userKey("1"), "s:"+h, exp)
	}
	if _, err := st.Revoke(ctx, 1, "abcdef0"); !errors.Is(err, sessionstore.ErrAmbiguous) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if n := indexLen(rdb, "1"); n != 2 {
		t.Fatalf("an ambiguous revoke ended sessions: %d left", n)
	}
	if n, err := st.Revoke(ctx, 1, "abcdef02"); err != nil || n != 1 {
		t.Fatalf("Revoke(unique prefix) = %d, %v", n, err)
	}
	if rdb.Exists(ctx, prefix+"{auth}:s:abcdef02"+strings.Repeat("0", 35)).Val() != 0 {
		t.Fatal("revoked session still exists")
	}
}

// Changes to the user end its sessions in the same script: deactivation,
// deletion and explicit password changes; activation and other changes
// do not.
func TestUserChangesEndSessions(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	users := newUsers(t, rdb)
	alive := func(id string) bool {
		_, err := st.Get(ctx, id)
		return err == nil
	}
	bob := mustCreate(t, st, 2, long)
	for _, tc := range []struct {
		name string
		do   func() error
		ends bool
	}{
		{"set flags", func() error { yes := true; return users.SetFlags(ctx, "alice", &yes, nil) }, false},
		{"activate", func() error { return users.SetActive(ctx, "alice", true) }, false},
		{"update last login", func() error { return users.UpdateLastLogin(ctx, 1, time.Now()) }, false},
		{"deactivate", func() error { return users.SetActive(ctx, "alice", false) }, true},
		{"set password", func() error { return users.SetPassword(ctx, "alice", "!unusable") }, true},
		{"delete", func() error { return users.DeleteUser(ctx, "alice") }, true},
	} {
		ids := []string{mustCreate(t, st, 1, long), mustCreate(t, st, 1, long)}
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, id := range ids {
			if alive(id) == tc.ends {
				t.Errorf("%s: session alive = %v, want %v", tc.name, alive(id), !tc.ends)
			}
		}
		if tc.ends && indexLen(rdb, "1") != 0 {
			t.Errorf("%s: the index was kept", tc.name)
		}
		if !alive(bob) {
			t.Fatalf("%s: another user's session ended", tc.name)
		}
	}
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	users := newUsers(t, rdb)
	id := mustCreate(t, st, 1, long)
	u, err := users.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	changed, err := users.ChangePassword(ctx, u, "new-pw-alice")
	if err != nil {
		t.Fatal(err)
	}
	if changed.AuthSecret == "" || changed.AuthSecret == u.AuthSecret || changed.Password == u.Password {
		t.Fatal("ChangePassword did not replace the hash and the auth secret")
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("session after a password change: %v", err)
	}
	stored, _ := users.GetUserByUsername(ctx, "alice")
	if stored.AuthSecret != changed.AuthSecret || stored.Password != changed.Password {
		t.Fatal("ChangePassword returned something else than it stored")
	}
	// Compare and set: a change based on a stale hash writes nothing.
	id = mustCreate(t, st, 1, long)
	if _, err := users.ChangePassword(ctx, u, "other-pw-alice"); !errors.Is(err, authn.ErrInvalidCredentials) {
		t.Fatalf("stale ChangePassword: %v", err)
	}
	if _, err := st.Get(ctx, id); err != nil {
		t.Fatalf("a refused change ended a session: %v", err)
	}
	if _, err := users.Authenticate(ctx, "alice", "new-pw-alice"); err != nil {
		t.Fatalf("a refused change changed the password: %v", err)
	}
}

func TestSessionAuthHash(t *testing.T) {
	k1, k2 := authn.SessionAuthKey(strings.Repeat("a", 40)), authn.SessionAuthKey(strings.Repeat("b", 40))
	h := authn.SessionAuthHash(k1, 1, "")
	for name, other := range map[string]string{
		"other secret_key": authn.SessionAuthHash(k2, 1, ""),
		"other user":       authn.SessionAuthHash(k1, 2, ""),
		"other secret":     authn.SessionAuthHash(k1, 1, "x"),
		"no ambiguity":     authn.SessionAuthHash(k1, 11, ""),
	} {
		if other == h {
			t.Errorf("%s: same hash", name)
		}
	}
	if authn.SessionAuthHash(k1, 1, "") != h {
		t.Error("not deterministic")
	}
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	st, rdb, srv := newStore(t)
	newUsers(t, rdb)
	id := mustCreate(t, st, 1, long)
	srv.Stop()
	if _, err := st.Get(ctx, id); !errors.Is(err, sessionstore.ErrUnavailable) {
		t.Fatalf("Get with redis down: err = %v, want ErrUnavailable", err)
	}
	if _, _, err := st.Load(ctx, id, time.Now(), long); !errors.Is(err, sessionstore.ErrUnavailable) {
		t.Fatalf("Load with redis down: err = %v, want ErrUnavailable", err)
	}
	if _, err := st.Create(ctx, &sessionstore.Session{UserID: 1}, long); !errors.Is(err, sessionstore.ErrUnavailable) {
		t.Fatalf("Create with redis down: err = %v, want ErrUnavailable", err)
	}
	if err := st.Delete(ctx, id); !errors.Is(err, sessionstore.ErrUnavailable) {
		t.Fatalf("Delete with redis down: err = %v, want ErrUnavailable", err)
	}
	if _, err := st.List(ctx, 1, time.Now()); !errors.Is(err, sessionstore.ErrUnavailable) {
		t.Fatalf("List with redis down: err = %v, want ErrUnavailable", err)
	}
	if _, err := st.RevokeAll(ctx, 1); !errors.Is(err, sessionstore.ErrUnavailable) {
		t.Fatalf("RevokeAll with redis down: err = %v, want ErrUnavailable", err)
	}
}

func FuzzValidID(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add("")
	f.Add("../../etc")
	f.Fuzz(func(t *testing.T, id string) {
		if sessionstore.ValidID(id) && len(id) != 43 {
			t.Fatalf("accepted id of length %d", len(id))
		}
	})
}

// An import (gateway import-django) that replaces a user's password hash
// is a password change: new auth secret, sessions ended, in the import's
// one script. One that leaves the hash alone ends nothing.
func TestImportReplacingHashEndsSessions(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	users := newUsers(t, rdb)
	alice, err := users.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	imp := func(u authn.User) *authn.User {
		t.Helper()
		u.ID = 0
		set := authn.ImportSet{Users: []authn.ImportUser{{User: u}}}
		prior, err := users.ReadImportState(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users.Import(ctx, set, prior); err != nil {
			t.Fatal(err)
		}
		got, err := users.GetUserByUsername(ctx, u.Username)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	id := mustCreate(t, st, alice.ID, long)
	u := *alice
	u.Email = "alice@example.com"
	if got := imp(u); got.AuthSecret != alice.AuthSecret {
		t.Fatal("an import keeping the hash replaced the auth secret")
	}
	if _, err := st.Get(ctx, id); err != nil {
		t.Fatalf("an import keeping the hash ended a session: %v", err)
	}
	u.Password = "!unusable-from-django"
	if got := imp(u); got.AuthSecret == alice.AuthSecret || got.AuthSecret == "" {
		t.Fatal("an import replacing the hash kept the auth secret")
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("an import replacing the hash left a session: %v", err)
	}
	if indexLen(rdb, "1") != 0 {
		t.Fatal("the index was kept")
	}
}
