package sessionstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/testredis"
)

// Redis memory budget (issue 8): at most 400 bytes per live session and
// 1 KiB per user, for users shaped like bench/cmd/seed bulk's (alice's:
// username, email, a PBKDF2 hash, 2 groups) and sessions like its (one per
// user, ClientIP 127.0.0.1, UserAgent wrk). Measured as bench/run.sh does,
// used_memory (INFO memory) delta / count, on a real redis-server.
const (
	budgetPerSession = 400
	budgetPerUser    = 1024
)

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO memory: no used_memory")
	return 0
}

func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds thousands of users")
	}
	const n = 5000
	ctx := context.Background()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: authn.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	users := authn.NewStore(rdb, "gw:", hs)
	sessions := sessionstore.New(rdb, "gw:")
	for _, g := range []string{"editors", "reporters"} {
		if err := users.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := hs.Make("bulk-bench-password")
	if err != nil {
		t.Fatal(err)
	}
	key := authn.SessionAuthKey("secret")
	lt := sessionstore.Lifetime{MaxAge: 24 * 60 * 60 * 1e9}
	newUser := func(i int) int64 {
		name := fmt.Sprintf("bulk%07d", i)
		u, err := users.CreateUser(ctx, &authn.User{Username: name, Email: name + "@example.com", IsActive: true, Password: enc}, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"editors", "reporters"} {
			if err := users.AddUserToGroup(ctx, name, g); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	newSession := func(uid int64) string {
		id, err := sessions.Create(ctx, &sessionstore.Session{UserID: uid, Backend: "session", ClientIP: "127.0.0.1", UserAgent: "wrk",
			AuthHash: authn.SessionAuthHash(key, uid, "")}, lt)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	newSession(newUser(0)) // loads the scripts before measuring

	m0 := usedMemory(t, rdb)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = newUser(i + 1)
	}
	m1 := usedMemory(t, rdb)
	var last string
	for _, uid := range ids {
		last = newSession(uid)
	}
	m2 := usedMemory(t, rdb)

	perUser, perSession := float64(m1-m0)/n, float64(m2-m1)/n
	uk, sk := authn.UserKey("gw:{auth}:", ids[n-1]), authn.SessionKey("gw:{auth}:", sessionstore.KeyID(last))
	t.Logf("%d users and sessions: %.0f B per user, %.0f B per session; MEMORY USAGE user hash %d B (%s), session %d B (%s)",
		n, perUser, perSession, rdb.MemoryUsage(ctx, uk).Val(), rdb.ObjectEncoding(ctx, uk).Val(),
		rdb.MemoryUsage(ctx, sk).Val(), rdb.ObjectEncoding(ctx, sk).Val())
	if perUser > budgetPerUser {
		t.Errorf("%.0f B per user, budget %d", perUser, budgetPerUser)
	}
	if perSession > budgetPerSession {
		t.Errorf("%.0f B per session, budget %d", perSession, budgetPerSession)
	}
	// Both stay compact listpacks, also with a browser's user agent.
	for _, k := range []string{uk, sk} {
		if enc := rdb.ObjectEncoding(ctx, k).Val(); enc != "listpack" {
			t.Errorf("%s is a %s, want a listpack", k, enc)
		}
	}
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	id, err := sessions.Create(ctx, &sessionstore.Session{UserID: ids[0], Backend: "session", ClientIP: "2001:db8::7", UserAgent: ua, AuthHash: "h"}, lt)
	if err != nil {
		t.Fatal(err)
	}
	sk = authn.SessionKey("gw:{auth}:", sessionstore.KeyID(id))
	if enc := rdb.ObjectEncoding(ctx, sk).Val(); enc != "listpack" {
		t.Errorf("a session with a browser's user agent is a %s, want a listpack", enc)
	}
	if got, err := sessions.Get(ctx, id); err != nil || got.UserAgent != ua {
		t.Errorf("Get = %+v, %v; want the user agent back whole", got, err)
	}
}

func TestUserAgentStored(t *testing.T) {
	ctx := context.Background()
	st, rdb, _ := newStore(t)
	newUsers(t, rdb)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"curl/8", "curl/8"},
		{strings.Repeat("x", 64), strings.Repeat("x", 64)},
		{strings.Repeat("y", 65), strings.Repeat("y", 65)},
		{strings.Repeat("z", 300), strings.Repeat("z", sessionstore.MaxUserAgent)},
		{"Evil\x1b[31m\r\n\xffé", "Evil?[31m???é"},
		{strings.Repeat("a", 255) + "é", strings.Repeat("a", 255)}, // cut at a character boundary
	} {
		id, err := st.Create(ctx, &sessionstore.Session{UserID: 1, Backend: "session", UserAgent: tc.in, AuthHash: "h"}, long)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, id)
		if err != nil || got.UserAgent != tc.want {
			t.Errorf("user agent %q stored as %+v, %v; want %q", tc.in, got, err, tc.want)
		}
		for f, v := range rdb.HGetAll(ctx, keyFor(id)).Val() {
			if len(v) > authn.ListpackValueMax {
				t.Errorf("field %s holds %d bytes", f, len(v))
			}
		}
	}
	// The parts are decoded strictly: a gap or a short part before another
	// is corrupt.
	base := []any{"u", "1", "b", "session", "c", "1", "l", "1", "ah", "h"}
	for name, parts := range map[string][]any{
		"no ua":      {},
		"gap":        {"ua", strings.Repeat("a", 64), "ua3", "b"},
		"short part": {"ua", "a", "ua2", "b"},
	} {
		id := strings.Repeat(string(rune('G'+len(name))), 43)
		rdb.HSet(ctx, keyFor(id), append(append([]any{}, base...), parts...)...)
		if _, err := st.Get(ctx, id); err == nil {
			t.Errorf("%s: Get accepted it", name)
		}
	}
}
