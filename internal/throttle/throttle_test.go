package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/testredis"
	"github.com/djangate/gateway/internal/throttle"
)

const prefix = "tt:"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLimiter(t *testing.T, cfg throttle.Config) (*throttle.Limiter, *clock, *redis.Client, *testredis.Server) {
	t.Helper()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	l := throttle.New(rdb, prefix, cfg)
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l.Now = c.now
	return l, c, rdb, srv
}

// step is one action at the clock's current time, after advancing it.
type step struct {
	advance  time.Duration
	op       string // "fail": a wrong password; "ok": a right one; "begin": only check
	user, ip string
	// wantLocked: Begin (or, for "fail", Failed) refuses the login.
	wantLocked bool
	// wantRetry, when set, is the Retry-After expected with the refusal.
	wantRetry time.Duration
	// wantNew are the scopes a lockout starts for at this step.
	wantNew []throttle.Scope
}

func run(t *testing.T, l *throttle.Limiter, c *clock, steps []step) {
	t.Helper()
	ctx := context.Background()
	for i, s := range steps {
		c.advance(s.advance)
		att, d, err := l.Begin(ctx, s.user, s.ip)
		if err != nil && !errors.Is(err, throttle.ErrLocked) {
			t.Fatalf("step %d: Begin: %v", i, err)
		}
		if err == nil {
			switch s.op {
			case "fail":
				if d, err = att.Failed(ctx); err != nil {
					t.Fatalf("step %d: Failed: %v", i, err)
				}
			case "ok":
				if err := att.Succeeded(ctx); err != nil {
					t.Fatalf("step %d: Succeeded: %v", i, err)
				}
			case "begin":
				if err := att.Abandon(ctx); err != nil {
					t.Fatalf("step %d: Abandon: %v", i, err)
				}
			}
		}
		if d.Locked != s.wantLocked {
			t.Fatalf("step %d (%s %q from %s at +%s): locked = %v, want %v (%+v)", i, s.op, s.user, s.ip, s.advance, d.Locked, s.wantLocked, d)
		}
		if s.wantRetry != 0 && d.RetryAfter != s.wantRetry {
			t.Fatalf("step %d: RetryAfter = %s, want %s", i, d.RetryAfter, s.wantRetry)
		}
		var scopes []throttle.Scope
		for _, lo := range d.NewLocks {
			scopes = append(scopes, lo.Scope)
		}
		if len(scopes) != len(s.wantNew) {
			t.Fatalf("step %d: new locks %v, want %v", i, scopes, s.wantNew)
		}
		for j := range scopes {
			if scopes[j] != s.wantNew[j] {
				t.Fatalf("step %d: new locks %v, want %v", i, scopes, s.wantNew)
			}
		}
	}
}

func TestLimiter(t *testing.T) {
	const ip, ip2 = "192.0.2.1", "192.0.2.2"
	cfg := throttle.Config{Window: 10 * time.Second, UsernameLimit: 3, IPLimit: 5, Cooloff: 60 * time.Second}
	u := throttle.ScopeUsername
	cases := []struct {
		name  string
		cfg   throttle.Config
		steps []step
	}{
		{"the limit-th failure locks the username", cfg, []step{
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip, wantLocked: true, wantRetry: time.Minute, wantNew: []throttle.Scope{u}},
			{advance: time.Second, op: "ok", user: "alice", ip: ip2, wantLocked: true, wantRetry: 59 * time.Second},
			{op: "fail", user: "bob", ip: ip2},
		}},
		{"a failure still counts 1ms before window end", cfg, []step{
			{op: "fail", user: "alice", ip: ip},
			{advance: 5 * time.Second, op: "fail", user: "alice", ip: ip},
			{advance: 5*time.Second - time.Millisecond, op: "fail", user: "alice", ip: ip, wantLocked: true, wantNew: []throttle.Scope{u}},
		}},
		{"a failure stops counting exactly at window end", cfg, []step{
			{op: "fail", user: "alice", ip: ip},
			{advance: 5 * time.Second, op: "fail", user: "alice", ip: ip},
			{advance: 5 * time.Second, op: "fail", user: "alice", ip: ip},
			// The first fell out at +10s; the third and fourth make 3.
			{advance: 0, op: "fail", user: "alice", ip: ip, wantLocked: true, wantNew: []throttle.Scope{u}},
		}},
		{"cool-off ends exactly after cooloff, with a fresh count", cfg, []step{
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip, wantLocked: true, wantNew: []throttle.Scope{u}},
			{advance: 60*time.Second - time.Millisecond, op: "begin", user: "alice", ip: ip, wantLocked: true, wantRetry: time.Millisecond},
			{advance: time.Millisecond, op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip, wantLocked: true, wantNew: []throttle.Scope{u}},
		}},
		{"success resets the username count", cfg, []step{
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "ok", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "ok", user: "alice", ip: ip},
		}},
		{"success does not reset the IP count", cfg, []step{
			{op: "fail", user: "a", ip: ip},
			{op: "fail", user: "b", ip: ip},
			{op: "fail", user: "c", ip: ip},
			{op: "fail", user: "d", ip: ip},
			{op: "ok", user: "alice", ip: ip},
			{op: "fail", user: "e", ip: ip, wantLocked: true, wantNew: []throttle.Scope{throttle.ScopeIP}},
			{op: "ok", user: "alice", ip: ip, wantLocked: true},
			{op: "ok", user: "alice", ip: ip2},
		}},
		{"Unicode variants of a username share a count", cfg, []step{
			{op: "fail", user: "ﬁnn", ip: ip},
			{op: "fail", user: "finn", ip: ip2},
			{op: "fail", user: "ﬁnn", ip: "192.0.2.3", wantLocked: true, wantNew: []throttle.Scope{u}},
			{op: "ok", user: "finn", ip: "192.0.2.4", wantLocked: true},
		}},
		{"usernames are case-sensitive, as in Django", cfg, []step{
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "Alice", ip: ip},
			{op: "fail", user: "ALICE", ip: ip},
		}},
		{"an IPv6 client counts by its /64", cfg, []step{
			{op: "fail", user: "a", ip: "2001:db8:1:2::1"},
			{op: "fail", user: "b", ip: "2001:db8:1:2::2"},
			{op: "fail", user: "c", ip: "2001:db8:1:2:ffff::3"},
			{op: "fail", user: "d", ip: "2001:db8:1:2::4"},
			{op: "fail", user: "e", ip: "2001:db8:1:2::5", wantLocked: true, wantNew: []throttle.Scope{throttle.ScopeIP}},
			{op: "ok", user: "f", ip: "2001:db8:1:3::1"},
		}},
		{"IPv4 written as IPv4-in-IPv6 is the same client", throttle.Config{Window: time.Minute, UsernameLimit: 9, IPLimit: 2, Cooloff: time.Minute}, []step{
			{op: "fail", user: "a", ip: "192.0.2.9"},
			{op: "fail", user: "b", ip: "::ffff:192.0.2.9", wantLocked: true, wantNew: []throttle.Scope{throttle.ScopeIP}},
		}},
		{"both limits reached at once", throttle.Config{Window: time.Minute, UsernameLimit: 2, IPLimit: 2, Cooloff: time.Minute}, []step{
			{op: "fail", user: "alice", ip: ip},
			{op: "fail", user: "alice", ip: ip, wantLocked: true, wantNew: []throttle.Scope{u, throttle.ScopeIP}},
		}},
		{"an empty username counts the IP only", throttle.Config{Window: time.Minute, UsernameLimit: 1, IPLimit: 2, Cooloff: time.Minute}, []step{
			{op: "fail", user: "", ip: ip},
			{op: "fail", user: "", ip: ip, wantLocked: true, wantNew: []throttle.Scope{throttle.ScopeIP}},
		}},
		{"an attempt taken back does not count", throttle.Config{Window: time.Minute, UsernameLimit: 1, IPLimit: 1, Cooloff: time.Minute}, []step{
			{op: "begin", user: "alice", ip: ip},
			{op: "begin", user: "alice", ip: ip},
			{op: "ok", user: "alice", ip: ip},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, c, _, _ := newLimiter(t, tc.cfg)
			run(t, l, c, tc.steps)
		})
	}
}

// Attempts still being checked count toward the limit: a burst of
// concurrent guesses gets at most limit password checks. Being busy locks
// nothing; the failures do.
func TestLimiterBoundsAttemptsInFlight(t *testing.T) {
	l, _, _, _ := newLimiter(t, throttle.Config{Window: time.Minute, UsernameLimit: 3, IPLimit: 100, Cooloff: time.Minute})
	ctx := context.Background()
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted []*throttle.Attempt
		refused  int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			att, d, err := l.Begin(ctx, "alice", fmt.Sprint("192.0.2.", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, throttle.ErrLocked):
				if !d.Saturated || len(d.NewLocks) != 0 || d.RetryAfter != time.Second {
					t.Errorf("refused in flight: %+v", d)
				}
				refused++
			case err != nil:
				t.Error(err)
			default:
				admitted = append(admitted, att)
			}
		}()
	}
	wg.Wait()
	if len(admitted) != 3 || refused != n-3 {
		t.Fatalf("admitted %d, refused %d; want 3, %d", len(admitted), refused, n-3)
	}
	// The three are guesses: they fail, the third failure locks.
	for i, att := range admitted {
		d, err := att.Failed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Locked != (i == 2) {
			t.Fatalf("failure %d: %+v", i+1, d)
		}
	}
	if _, d, err := l.Begin(ctx, "alice", "192.0.2.50"); !errors.Is(err, throttle.ErrLocked) || d.Saturated {
		t.Fatalf("Begin after the lock = %v %+v, want locked", err, d)
	}
}

// Concurrent logins of one account that all succeed are delayed at most,
// never locked out.
func TestLimiterConcurrentSuccessesNeverLock(t *testing.T) {
	l, _, _, _ := newLimiter(t, throttle.Config{Window: time.Minute, UsernameLimit: 2, IPLimit: 100, Cooloff: time.Minute})
	ctx := context.Background()
	var atts []*throttle.Attempt
	for range 2 {
		att, _, err := l.Begin(ctx, "svc", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, att)
	}
	if _, d, err := l.Begin(ctx, "svc", "192.0.2.1"); !errors.Is(err, throttle.ErrLocked) || !d.Saturated {
		t.Fatalf("third concurrent attempt = %v %+v, want refused for a moment", err, d)
	}
	for _, att := range atts {
		if err := att.Succeeded(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		att, _, err := l.Begin(ctx, "svc", "192.0.2.1")
		if err != nil {
			t.Fatalf("after the successes: %v", err)
		}
		if err := att.Succeeded(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// An attempt whose gateway died mid-check stops counting as in flight
// after a minute (or the window, if shorter).
func TestLimiterForgetsStalePending(t *testing.T) {
	l, c, _, _ := newLimiter(t, throttle.Config{Window: time.Hour, UsernameLimit: 1, IPLimit: 100, Cooloff: time.Minute})
	ctx := context.Background()
	if _, _, err := l.Begin(ctx, "alice", "192.0.2.1"); err != nil { // never finished
		t.Fatal(err)
	}
	c.advance(time.Minute - time.Millisecond)
	if _, d, err := l.Begin(ctx, "alice", "192.0.2.1"); !errors.Is(err, throttle.ErrLocked) || !d.Saturated {
		t.Fatalf("while pending: %v %+v", err, d)
	}
	c.advance(time.Millisecond)
	if _, _, err := l.Begin(ctx, "alice", "192.0.2.1"); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
}

// The cool-off in real time: the lock and the counts live in Redis keys
// that expire on their own.
func TestLimiterRealTimeCooloff(t *testing.T) {
	l, _, rdb, _ := newLimiter(t, throttle.Config{Window: 2 * time.Second, UsernameLimit: 2, IPLimit: 10, Cooloff: 400 * time.Millisecond})
	l.Now = time.Now
	ctx := context.Background()
	for i := range 2 {
		att, _, err := l.Begin(ctx, "alice", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		d, err := att.Failed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Locked != (i == 1) {
			t.Fatalf("failure %d: locked = %v", i+1, d.Locked)
		}
	}
	_, d, err := l.Begin(ctx, "alice", "192.0.2.1")
	if !errors.Is(err, throttle.ErrLocked) || d.RetryAfter <= 0 || d.RetryAfter > 400*time.Millisecond {
		t.Fatalf("Begin while locked = %v, %+v", err, d)
	}
	time.Sleep(450 * time.Millisecond)
	att, _, err := l.Begin(ctx, "alice", "192.0.2.1")
	if err != nil {
		t.Fatalf("Begin after the cool-off: %v", err)
	}
	if err := att.Succeeded(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing is kept longer than the window.
	time.Sleep(2100 * time.Millisecond)
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys left after window and cool-off: %v %v", keys, err)
	}
}

func TestUnlock(t *testing.T) {
	cfg := throttle.Config{Window: time.Minute, UsernameLimit: 2, IPLimit: 3, Cooloff: time.Hour}
	ctx := context.Background()
	fail := func(t *testing.T, l *throttle.Limiter, user, ip string) {
		t.Helper()
		att, _, err := l.Begin(ctx, user, ip)
		if err != nil {
			t.Fatalf("Begin(%q, %q): %v", user, ip, err)
		}
		if _, err := att.Failed(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		setup   func(t *testing.T, l *throttle.Limiter)
		unlock  func(l *throttle.Limiter) (throttle.Cleared, error)
		want    throttle.Cleared
		locked  bool // still locked afterwards for (user, ip)
		user    string
		ip      string
		wantErr bool
	}{
		{
			name: "locked username",
			setup: func(t *testing.T, l *throttle.Limiter) {
				fail(t, l, "alice", "192.0.2.1")
				fail(t, l, "alice", "192.0.2.2")
			},
			unlock: func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockUsername(ctx, "alice") },
			want:   throttle.Cleared{Scope: throttle.ScopeUsername, Subject: "alice", Remaining: time.Hour},
			user:   "alice", ip: "192.0.2.3",
		},
		{
			name:   "username failures without a lock, by a Unicode variant",
			setup:  func(t *testing.T, l *throttle.Limiter) { fail(t, l, "finn", "192.0.2.1") },
			unlock: func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockUsername(ctx, "ﬁnn") },
			want:   throttle.Cleared{Scope: throttle.ScopeUsername, Subject: "finn", Failures: 1},
			user:   "finn", ip: "192.0.2.3",
		},
		{
			name: "locked IP",
			setup: func(t *testing.T, l *throttle.Limiter) {
				fail(t, l, "a", "192.0.2.9")
				fail(t, l, "b", "192.0.2.9")
				fail(t, l, "c", "192.0.2.9")
			},
			unlock: func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockIP(ctx, "192.0.2.9") },
			want:   throttle.Cleared{Scope: throttle.ScopeIP, Subject: "192.0.2.9", Remaining: time.Hour},
			user:   "d", ip: "192.0.2.9",
		},
		{
			name: "IPv6 unlock covers the /64",
			setup: func(t *testing.T, l *throttle.Limiter) {
				fail(t, l, "a", "2001:db8::1")
				fail(t, l, "b", "2001:db8::2")
			},
			unlock: func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockIP(ctx, "2001:db8::ffff") },
			want:   throttle.Cleared{Scope: throttle.ScopeIP, Subject: "2001:db8::/64", Failures: 2},
			user:   "c", ip: "2001:db8::3",
		},
		{
			name: "unlocking the IP leaves the username locked",
			setup: func(t *testing.T, l *throttle.Limiter) {
				fail(t, l, "alice", "192.0.2.1")
				fail(t, l, "alice", "192.0.2.1")
			},
			unlock: func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockIP(ctx, "192.0.2.1") },
			want:   throttle.Cleared{Scope: throttle.ScopeIP, Subject: "192.0.2.1", Failures: 2},
			locked: true, user: "alice", ip: "192.0.2.1",
		},
		{
			name:   "nothing to clear",
			unlock: func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockUsername(ctx, "nobody") },
			want:   throttle.Cleared{Scope: throttle.ScopeUsername, Subject: "nobody"},
			user:   "nobody", ip: "192.0.2.1",
		},
		{
			name:    "not an IP",
			unlock:  func(l *throttle.Limiter) (throttle.Cleared, error) { return l.UnlockIP(ctx, "example.com") },
			wantErr: true, user: "a", ip: "192.0.2.1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, _, _, _ := newLimiter(t, cfg)
			if tc.setup != nil {
				tc.setup(t, l)
			}
			got, err := tc.unlock(l)
			if (err != nil) != tc.wantErr {
				t.Fatalf("unlock error = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("Cleared = %+v, want %+v", got, tc.want)
			}
			_, _, err = l.Begin(ctx, tc.user, tc.ip)
			if errors.Is(err, throttle.ErrLocked) != tc.locked {
				t.Fatalf("Begin after unlock = %v, want locked %v", err, tc.locked)
			}
		})
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	l, _, _, srv := newLimiter(t, throttle.Config{Window: time.Minute, UsernameLimit: 3, IPLimit: 3, Cooloff: time.Minute})
	ctx := context.Background()
	att, _, err := l.Begin(ctx, "alice", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := att.Failed(ctx); !errors.Is(err, throttle.ErrUnavailable) {
		t.Errorf("Failed with Redis down = %v, want ErrUnavailable", err)
	}
	if err := att.Succeeded(ctx); !errors.Is(err, throttle.ErrUnavailable) {
		t.Errorf("Succeeded with Redis down = %v, want ErrUnavailable", err)
	}
	if _, _, err := l.Begin(ctx, "alice", "192.0.2.1"); !errors.Is(err, throttle.ErrUnavailable) || errors.Is(err, throttle.ErrLocked) {
		t.Errorf("Begin with Redis down = %v, want ErrUnavailable", err)
	}
	if _, err := l.UnlockUsername(ctx, "alice"); !errors.Is(err, throttle.ErrUnavailable) {
		t.Errorf("UnlockUsername with Redis down = %v, want ErrUnavailable", err)
	}
}

func TestIPSubject(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":          "192.0.2.1",
		"::ffff:192.0.2.1":   "192.0.2.1",
		"2001:db8:a:b:c::1":  "2001:db8:a:b::/64",
		"fe80::1%eth0":       "fe80::/64",
		"::1":                "::/64",
		"not an address":     "",
		"192.0.2.1:80":       "",
		"":                   "",
		"2001:db8::/64":      "",
		"[2001:db8::1]":      "",
		"1.2.3.4, 5.6.7.8":   "",
		"2001:DB8:0:0:1::ff": "2001:db8::/64",
	} {
		got, ok := throttle.IPSubject(in)
		if got != want || ok != (want != "") {
			t.Errorf("IPSubject(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
