package tokens

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/testredis"
)

const ownPrefix = "gw:"

type ownEnv struct {
	srv   *testredis.Server
	rdb   *redis.Client
	store *Store
	users *authn.Store
}

// newOwnEnv starts a real redis-server owned by the test.
func newOwnEnv(tb testing.TB) *ownEnv {
	tb.Helper()
	srv := testredis.Start(tb)
	rdb := redis.NewClient(&redis.Options{
		Addr:          srv.Addr(),
		MaxRetries:    -1, // fail fast once the server is stopped
		DialerRetries: 1,
		DialTimeout:   time.Second,
	})
	tb.Cleanup(func() { _ = rdb.Close() })
	hs, err := authn.NewHashers([]config.PasswordHasher{{Algorithm: authn.AlgorithmPBKDF2SHA256, Iterations: 1000}}, 0)
	if err != nil {
		tb.Fatalf("NewHashers: %v", err)
	}
	return &ownEnv{srv: srv, rdb: rdb, store: NewStore(rdb, ownPrefix), users: authn.NewStore(rdb, ownPrefix, hs)}
}

// user creates an active user in group "editors" with permission
// blog.add_post and returns it.
func (e *ownEnv) user(tb testing.TB, name string) *authn.User {
	tb.Helper()
	ctx := context.Background()
	u, err := e.users.CreateUser(ctx, &authn.User{Username: name, Email: name + "@example.com", IsActive: true}, "pw")
	if err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	for _, step := range []func() error{
		func() error { return e.users.RegisterPermissions(ctx, "blog.add_post", "blog.view_post") },
		func() error { return e.users.GrantUserPermission(ctx, name, "blog.add_post") },
		func() error {
			if err := e.users.CreateGroup(ctx, "editors"); err != nil && !errors.Is(err, authn.ErrGroupExists) {
				return err
			}
			return nil
		},
		func() error { return e.users.GrantGroupPermission(ctx, "editors", "blog.view_post") },
		func() error { return e.users.AddUserToGroup(ctx, name, "editors") },
	} {
		if err := step(); err != nil {
			tb.Fatalf("set up user %s: %v", name, err)
		}
	}
	return u
}

// dump returns every key and its content as text, to check that no raw
// token is stored.
func (e *ownEnv) dump(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		b.WriteString(k + "\n")
		switch e.rdb.Type(ctx, k).Val() {
		case "hash":
			for f, v := range e.rdb.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "string":
			b.WriteString(e.rdb.Get(ctx, k).Val() + "\n")
		case "zset":
			b.WriteString(strings.Join(e.rdb.ZRange(ctx, k, 0, -1).Val(), ",") + "\n")
		}
	}
	return b.String()
}

func isInvalid(err error) bool { return errors.Is(err, ErrInvalidToken) }

func TestRefreshChain(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")

	t1, fam, err := e.store.IssueRefresh(ctx, u.ID, "bind-1", time.Hour)
	if err != nil {
		t.Fatalf("IssueRefresh: %v", err)
	}
	if !validRefresh(t1) || !strings.HasPrefix(t1, "rt1.") || !validFamily(fam) {
		t.Fatalf("token %q family %q: wrong shape", t1, fam)
	}
	r1, err := e.store.Rotate(ctx, t1, 0)
	if err != nil {
		t.Fatalf("Rotate 1: %v", err)
	}
	if r1.UserID != u.ID || r1.Family != fam || r1.AuthBind != "bind-1" || r1.Token == t1 || !validRefresh(r1.Token) {
		t.Errorf("Rotate 1 = %+v", r1)
	}
	if d := time.Until(r1.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("rotated token expires in %s; want the family's expiry (1h)", d)
	}
	r2, err := e.store.Rotate(ctx, r1.Token, 10*time.Minute)
	if err != nil {
		t.Fatalf("Rotate 2: %v", err)
	}
	if r2.Family != fam || r2.Token == r1.Token {
		t.Errorf("Rotate 2 = %+v", r2)
	}
	if d := time.Until(r2.ExpiresAt); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("token rotated with ttl 10m expires in %s", d)
	}
	r3, err := e.store.Rotate(ctx, r2.Token, 2*time.Hour) // capped at the family's expiry
	if err != nil {
		t.Fatalf("Rotate 3: %v", err)
	}
	if d := time.Until(r3.ExpiresAt); d > time.Hour {
		t.Errorf("rotation extended the family: new token expires in %s", d)
	}
	famTTL := e.rdb.PTTL(ctx, e.store.famKey(fam)).Val()
	if famTTL <= 59*time.Minute || famTTL > time.Hour {
		t.Errorf("family TTL %s; want about 1h, unchanged by rotation", famTTL)
	}
	// Used tokens stay recorded until the family expires.
	if ttl := e.rdb.PTTL(ctx, e.store.rtKey(hashToken(r1.Token))).Val(); ttl < 59*time.Minute {
		t.Errorf("used token recorded for %s only", ttl)
	}
	// Only hashes are stored.
	dump := e.dump(t)
	for _, tok := range []string{t1, r1.Token, r2.Token, r3.Token} {
		if strings.Contains(dump, tok) || strings.Contains(dump, tok[4:]) {
			t.Errorf("raw refresh token stored in Redis:\n%s", dump)
		}
	}
	for _, k := range []string{"gw:{auth}:rf:" + fam, "gw:{auth}:rt:" + hashToken(t1), "gw:{auth}:user:1:rfams"} {
		if !strings.Contains(dump, k+"\n") {
			t.Errorf("key %s missing from\n%s", k, dump)
		}
	}
}

func TestRefreshReuse(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")
	now := ownT0
	iss := ownIssuer(t, &now, ownKey(t, "ed", "ed25519.pem"))

	t1, fam, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := e.store.Rotate(ctx, t1, 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.store.Rotate(ctx, r1.Token, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, ac, err := iss.Access(u.ID, u.Username, fam, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.LoadAccess(ctx, u.ID, ac.ID, fam, "bearer"); err != nil {
		t.Fatalf("LoadAccess before reuse: %v", err)
	}

	// The first token again: reuse.
	_, err = e.store.Rotate(ctx, t1, 0)
	if !errors.Is(err, ErrReused) || !isInvalid(err) {
		t.Fatalf("Rotate(used token) = %v; want ErrReused and ErrInvalidToken", err)
	}
	if strings.Contains(err.Error(), t1) {
		t.Errorf("error %q contains the token", err)
	}
	// The family is gone: the newest token fails, and so do its access tokens.
	if _, err := e.store.Rotate(ctx, r2.Token, 0); !isInvalid(err) || errors.Is(err, ErrReused) {
		t.Errorf("Rotate(newest token after reuse) = %v; want ErrInvalidToken", err)
	}
	if _, err := e.store.LoadAccess(ctx, u.ID, ac.ID, fam, "bearer"); !isInvalid(err) || !errors.Is(err, ErrRevoked) {
		t.Errorf("LoadAccess after reuse = %v; want ErrInvalidToken and ErrRevoked", err)
	}
	// A used token stays reuse.
	if _, err := e.store.Rotate(ctx, r1.Token, 0); !errors.Is(err, ErrReused) {
		t.Errorf("Rotate(second used token) = %v; want ErrReused", err)
	}
	if n := e.rdb.ZCard(ctx, e.store.indexKey(u.ID)).Val(); n != 0 {
		t.Errorf("revoked family still indexed (%d)", n)
	}
}

// Concurrent Rotates of one token: exactly one wins; every other one is
// reuse (ErrReused), which revokes the family, the winner's token too.
func TestRefreshConcurrentRotate(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")
	tok, _, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []Rotation
		reused  int
		other   []error
		start   = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			r, err := e.store.Rotate(ctx, tok, 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, r)
			case errors.Is(err, ErrReused) && isInvalid(err):
				reused++
			default:
				other = append(other, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 || reused != n-1 || len(other) != 0 {
		t.Fatalf("%d winners, %d reused, other errors %v; want 1, %d, none", len(winners), reused, other, n-1)
	}
	if _, err := e.store.Rotate(ctx, winners[0].Token, 0); !isInvalid(err) {
		t.Errorf("winner's token after the race = %v; want ErrInvalidToken (family revoked)", err)
	}
}

func TestRefreshExpiry(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")

	short, _, err := e.store.IssueRefresh(ctx, u.ID, "b", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := e.store.Rotate(ctx, long, 300*time.Millisecond) // new token idles out
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := e.store.Rotate(ctx, short, 0); !isInvalid(err) || errors.Is(err, ErrReused) {
		t.Errorf("Rotate(expired family) = %v; want ErrInvalidToken", err)
	}
	if _, err := e.store.Rotate(ctx, idle.Token, 0); !isInvalid(err) || errors.Is(err, ErrReused) {
		t.Errorf("Rotate(token past its ttl) = %v; want ErrInvalidToken", err)
	}
	// The script's own clock check, should Redis not have expired the key yet.
	tok, _, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.store.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	defer func() { e.store.now = time.Now }()
	if _, err := e.store.Rotate(ctx, tok, 0); !isInvalid(err) {
		t.Errorf("Rotate(past the family's exp) = %v; want ErrInvalidToken", err)
	}
}

func TestRefreshInvalid(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	tests := []struct{ name, tok string }{
		{"empty", ""},
		{"no prefix", strings.Repeat("A", 47)},
		{"wrong version", "rt2." + strings.Repeat("A", 43)},
		{"too short", "rt1." + strings.Repeat("A", 42)},
		{"too long", "rt1." + strings.Repeat("A", 44)},
		{"not base64url", "rt1." + strings.Repeat("A", 42) + "+"},
		{"never issued", "rt1." + strings.Repeat("A", 43)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.store.Rotate(ctx, tt.tok, 0)
			if !isInvalid(err) || errors.Is(err, ErrReused) || errors.Is(err, ErrUnavailable) {
				t.Errorf("Rotate = %v; want ErrInvalidToken", err)
			}
			if tt.tok != "" && strings.Contains(err.Error(), tt.tok) {
				t.Errorf("error %q contains the token", err)
			}
			if err := e.store.RevokeRefresh(ctx, tt.tok); err != nil {
				t.Errorf("RevokeRefresh(unknown) = %v; want nil (RFC 7009)", err)
			}
		})
	}
	for name, f := range map[string]func() error{
		"user 0":               func() error { _, _, err := e.store.IssueRefresh(ctx, 0, "b", time.Hour); return err },
		"no binding":           func() error { _, _, err := e.store.IssueRefresh(ctx, 1, "", time.Hour); return err },
		"zero ttl":             func() error { _, _, err := e.store.IssueRefresh(ctx, 1, "b", 0); return err },
		"revoke malformed jti": func() error { return e.store.RevokeAccess(ctx, "a b", time.Now().Add(time.Hour)) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestRevokeRefresh(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")
	t1, fam, _ := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	r1, err := e.store.Rotate(ctx, t1, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, otherFam, _ := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)

	if err := e.store.RevokeRefresh(ctx, r1.Token); err != nil {
		t.Fatalf("RevokeRefresh: %v", err)
	}
	if _, err := e.store.Rotate(ctx, r1.Token, 0); !isInvalid(err) {
		t.Errorf("Rotate(revoked) = %v", err)
	}
	if _, err := e.store.LoadAccess(ctx, u.ID, "jti1", fam, "bearer"); !errors.Is(err, ErrRevoked) {
		t.Errorf("LoadAccess(revoked family) = %v; want ErrRevoked", err)
	}
	if err := e.store.RevokeRefresh(ctx, r1.Token); err != nil {
		t.Errorf("RevokeRefresh twice: %v", err)
	}
	// The other family lives.
	if _, err := e.store.LoadAccess(ctx, u.ID, "jti1", otherFam, "bearer"); err != nil {
		t.Errorf("other family: %v", err)
	}
	// Revoking with a used token of a family revokes it too.
	u1, uFam, _ := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	ur, err := e.store.Rotate(ctx, u1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeRefresh(ctx, u1); err != nil {
		t.Fatalf("RevokeRefresh(used token): %v", err)
	}
	if _, err := e.store.Rotate(ctx, ur.Token, 0); !isInvalid(err) {
		t.Errorf("Rotate(current token after revoking with a used one) = %v", err)
	}
	if _, err := e.store.LoadAccess(ctx, u.ID, "jti1", uFam, "bearer"); !errors.Is(err, ErrRevoked) {
		t.Errorf("LoadAccess(family revoked with a used token) = %v", err)
	}
	if err := e.store.RevokeFamily(ctx, otherFam); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	if _, err := e.store.Rotate(ctx, other, 0); !isInvalid(err) {
		t.Errorf("Rotate(token of revoked family) = %v", err)
	}
	for _, f := range []string{otherFam, "not-a-family", ""} {
		if err := e.store.RevokeFamily(ctx, f); err != nil {
			t.Errorf("RevokeFamily(%q) = %v; want nil", f, err)
		}
	}
	if n := e.rdb.Exists(ctx, e.store.indexKey(u.ID)).Val(); n != 0 {
		t.Errorf("index survives its last family")
	}
}

func TestRevokeAccessAndUser(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	alice, bob := e.user(t, "alice"), e.user(t, "bob")
	now := time.Now()
	iss := ownIssuer(t, &now, ownKey(t, "ed", "ed25519.pem"))

	_, famA1, _ := e.store.IssueRefresh(ctx, alice.ID, "b", time.Hour)
	tokA2, famA2, _ := e.store.IssueRefresh(ctx, alice.ID, "b", time.Hour)
	tokB, famB, _ := e.store.IssueRefresh(ctx, bob.ID, "b", time.Hour)
	_, a1, _ := iss.Access(alice.ID, "alice", famA1, "b")
	_, a2, _ := iss.Access(alice.ID, "alice", famA1, "b")

	p, err := e.store.LoadAccess(ctx, alice.ID, a1.ID, famA1, "bearer")
	if err != nil {
		t.Fatalf("LoadAccess: %v", err)
	}
	if p.User.Username != "alice" || p.Backend != "bearer" || !slices.Equal(p.Groups, []string{"editors"}) ||
		!slices.Equal(p.Permissions, []string{"blog.add_post", "blog.view_post"}) {
		t.Errorf("principal = %+v %+v", p, p.User)
	}

	if err := e.store.RevokeAccess(ctx, a1.ID, a1.ExpiresAt.Time); err != nil {
		t.Fatalf("RevokeAccess: %v", err)
	}
	if _, err := e.store.LoadAccess(ctx, alice.ID, a1.ID, famA1, "bearer"); !isInvalid(err) || !errors.Is(err, ErrRevoked) {
		t.Errorf("LoadAccess(revoked jti) = %v; want ErrInvalidToken and ErrRevoked", err)
	}
	if ttl := e.rdb.PTTL(ctx, e.store.jtiKey(a1.ID)).Val(); ttl < 5*time.Minute || ttl > 10*time.Minute+time.Second {
		t.Errorf("revocation entry lives %s; want until exp plus slack", ttl)
	}
	if _, err := e.store.LoadAccess(ctx, alice.ID, a2.ID, famA1, "bearer"); err != nil {
		t.Errorf("LoadAccess(another jti) = %v", err)
	}
	if err := e.store.RevokeAccess(ctx, "old", time.Now().Add(-time.Hour)); err != nil {
		t.Errorf("RevokeAccess(long expired) = %v", err)
	}

	// Family of another user.
	if _, err := e.store.LoadAccess(ctx, alice.ID, a2.ID, famB, "bearer"); !isInvalid(err) || errors.Is(err, ErrRevoked) {
		t.Errorf("LoadAccess(bob's family for alice) = %v; want ErrInvalidToken", err)
	}

	if err := e.store.RevokeUser(ctx, alice.ID); err != nil {
		t.Fatalf("RevokeUser: %v", err)
	}
	for _, f := range []string{famA1, famA2} {
		if _, err := e.store.LoadAccess(ctx, alice.ID, a2.ID, f, "bearer"); !errors.Is(err, ErrRevoked) {
			t.Errorf("LoadAccess(family %s after RevokeUser) = %v; want ErrRevoked", f, err)
		}
	}
	if _, err := e.store.Rotate(ctx, tokA2, 0); !isInvalid(err) {
		t.Errorf("Rotate(alice's token after RevokeUser) = %v", err)
	}
	if _, err := e.store.Rotate(ctx, tokB, 0); err != nil {
		t.Errorf("bob's family hit by RevokeUser(alice): %v", err)
	}
	if err := e.store.RevokeUser(ctx, alice.ID); err != nil {
		t.Errorf("RevokeUser twice: %v", err)
	}

	// A deleted user.
	_, famB2, _ := e.store.IssueRefresh(ctx, bob.ID, "b", time.Hour)
	if err := e.users.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.LoadAccess(ctx, bob.ID, "jti", famB2, "bearer"); !errors.Is(err, authn.ErrUserNotFound) || !isInvalid(err) {
		t.Errorf("LoadAccess(deleted user) = %v; want ErrUserNotFound", err)
	}

	for name, args := range map[string][3]any{
		"user 0":       {int64(0), "jti", famA1},
		"bad jti":      {alice.ID, "a b", famA1},
		"long jti":     {alice.ID, strings.Repeat("a", 65), famA1},
		"bad family":   {alice.ID, "jti", "fam"},
		"empty family": {alice.ID, "jti", ""},
	} {
		_, err := e.store.LoadAccess(ctx, args[0].(int64), args[1].(string), args[2].(string), "bearer")
		if !isInvalid(err) {
			t.Errorf("LoadAccess(%s) = %v; want ErrInvalidToken", name, err)
		}
	}
}

// A corrupt user record is ErrUnavailable (fail closed), as in authn.
func TestLoadAccessCorruptUser(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")
	_, fam, _ := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	e.rdb.HSet(ctx, e.store.userKey(u.ID), "is_active", "maybe")
	if _, err := e.store.LoadAccess(ctx, u.ID, "jti", fam, "bearer"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("LoadAccess(corrupt user) = %v; want ErrUnavailable", err)
	}
	e.rdb.Del(ctx, e.store.famKey(fam))
	e.rdb.Set(ctx, e.store.famKey(fam), "x", 0) // wrong type: treated as revoked, not an error
	if _, err := e.store.LoadAccess(ctx, u.ID, "jti", fam, "bearer"); !errors.Is(err, ErrRevoked) {
		t.Errorf("LoadAccess(family of the wrong type) = %v; want ErrRevoked", err)
	}
}

func TestStoreUnavailable(t *testing.T) {
	e := newOwnEnv(t)
	ctx := context.Background()
	u := e.user(t, "alice")
	tok, fam, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Stop()
	tests := []struct {
		name string
		f    func() error
	}{
		{"IssueRefresh", func() error { _, _, err := e.store.IssueRefresh(ctx, u.ID, "b", time.Hour); return err }},
		{"Rotate", func() error { _, err := e.store.Rotate(ctx, tok, 0); return err }},
		{"RevokeRefresh", func() error { return e.store.RevokeRefresh(ctx, tok) }},
		{"RevokeFamily", func() error { return e.store.RevokeFamily(ctx, fam) }},
		{"RevokeAccess", func() error { return e.store.RevokeAccess(ctx, "jti", time.Now().Add(time.Minute)) }},
		{"RevokeUser", func() error { return e.store.RevokeUser(ctx, u.ID) }},
		{"LoadAccess", func() error { _, err := e.store.LoadAccess(ctx, u.ID, "jti", fam, "bearer"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f()
			if !errors.Is(err, ErrUnavailable) || isInvalid(err) || errors.Is(err, redis.Nil) {
				t.Errorf("%s with Redis down = %v; want ErrUnavailable only", tt.name, err)
			}
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}
