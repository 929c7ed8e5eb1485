package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/throttle"
)

// limiter is the login throttle as the gateway configured by the test
// config would run it (default limits).
func (e *testEnv) limiter() *throttle.Limiter {
	return throttle.New(e.rdb, testPrefix, throttle.ConfigFrom(config.Default().Throttle))
}

// fail records n failed logins of username from ip.
func (e *testEnv) fail(t *testing.T, username, ip string, n int) {
	t.Helper()
	ctx := context.Background()
	for range n {
		att, _, err := e.limiter().Begin(ctx, username, ip)
		if err != nil {
			t.Fatalf("Begin(%q, %q): %v", username, ip, err)
		}
		if _, err := att.Failed(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// assertLocked checks whether a login of username from ip is refused.
func (e *testEnv) assertLocked(t *testing.T, username, ip string, want bool) {
	t.Helper()
	att, _, err := e.limiter().Begin(context.Background(), username, ip)
	if got := errors.Is(err, throttle.ErrLocked); got != want {
		t.Fatalf("login of %q from %s locked = %v (%v), want %v", username, ip, got, err, want)
	}
	if att != nil {
		_ = att.Abandon(context.Background())
	}
}

func TestUnlock(t *testing.T) {
	const usernameLimit, ipLimit = 5, 50
	runCases(t, []cliCase{
		{
			name:            "locked username",
			setup:           func(t *testing.T, e *testEnv) { e.fail(t, "alice", "192.0.2.1", usernameLimit) },
			invocation:      invoke("unlock", "alice"),
			wantCode:        exitOK,
			wantStdout:      []string{`Unlocked username "alice": lifted a lock with `, ` left, forgot 0 failed login(s).`},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.assertLocked(t, "alice", "192.0.2.2", false)
				ev := e.auditEvents(t)
				if len(ev) != 1 || ev[0]["event"] != "throttle_unlocked" || ev[0]["username"] != "alice" || ev[0]["scope"] != "username" ||
					!strings.HasPrefix(ev[0]["remaining_seconds"], "8") && ev[0]["remaining_seconds"] != "900" || ev[0]["source"] != "cli" {
					t.Fatalf("audit events %v", ev)
				}
			},
		},
		{
			name:       "failures of a username, by a Unicode variant of it",
			setup:      func(t *testing.T, e *testEnv) { e.fail(t, "finn", "192.0.2.1", 2) },
			invocation: invoke("unlock", "ﬁnn"),
			wantCode:   exitOK,
			wantStdout: []string{`Unlocked username "finn": forgot 2 failed login(s).`},
			check: func(t *testing.T, e *testEnv, _ result) {
				// Three more failures no longer reach the limit of five.
				e.fail(t, "finn", "192.0.2.1", usernameLimit-2)
				e.assertLocked(t, "finn", "192.0.2.1", false)
			},
		},
		{
			name: "locked IP",
			setup: func(t *testing.T, e *testEnv) {
				for i := range ipLimit {
					e.fail(t, "user"+string(rune('a'+i%26))+string(rune('a'+i/26)), "192.0.2.7", 1)
				}
				e.assertLocked(t, "bob", "192.0.2.7", true)
			},
			invocation:      invoke("unlock", "192.0.2.7"),
			wantCode:        exitOK,
			wantStdout:      []string{`Unlocked IP 192.0.2.7: lifted a lock with `, ` left, forgot 0 failed login(s).`},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				e.assertLocked(t, "bob", "192.0.2.7", false)
				if e.auditEvents(t)[0]["subject"] != "192.0.2.7" {
					t.Fatalf("audit %v", e.auditEvents(t))
				}
			},
		},
		{
			name:       "an IPv6 address unlocks its /64",
			setup:      func(t *testing.T, e *testEnv) { e.fail(t, "a", "2001:db8::1", 3) },
			invocation: invoke("unlock", "2001:db8::ffff"),
			wantCode:   exitOK,
			wantStdout: []string{`Unlocked IP 2001:db8::/64 (2001:db8::ffff counts as its /64): forgot 3 failed login(s).`},
		},
		{
			name:       "an IP that is also a username clears both",
			setup:      func(t *testing.T, e *testEnv) { e.fail(t, "10.0.0.1", "192.0.2.1", usernameLimit) },
			invocation: invoke("unlock", "10.0.0.1"),
			wantCode:   exitOK,
			wantStdout: []string{
				"Nothing to unlock: IP 10.0.0.1 has no lock and no recent failed logins.\n",
				`Unlocked username "10.0.0.1": lifted a lock`,
			},
			check: func(t *testing.T, e *testEnv, _ result) { e.assertLocked(t, "10.0.0.1", "192.0.2.1", false) },
		},
		{
			name:            "nothing to unlock",
			invocation:      invoke("unlock", "bob"),
			wantCode:        exitOK,
			wantStdout:      []string{`Nothing to unlock: username "bob" has no lock and no recent failed logins.`},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, _ result) {
				if ev := e.auditEvents(t); len(ev) != 0 {
					t.Fatalf("audit events for a no-op: %v", ev)
				}
			},
		},
		{
			name:            "neither IP nor username",
			invocation:      invoke("unlock", "not a name!"),
			wantCode:        exitUsage,
			wantStderr:      []string{`"not a name!" is neither an IP address nor a valid username`, "usage: gateway unlock USER|IP"},
			wantEmptyStdout: true,
		},
		{
			name:            "no argument",
			invocation:      invoke("unlock"),
			wantCode:        exitUsage,
			wantStderr:      []string{"expected 1 argument(s), got 0"},
			wantEmptyStdout: true,
		},
		{
			name:            "Redis down",
			setup:           func(t *testing.T, e *testEnv) { e.srv.Stop() },
			invocation:      invoke("unlock", "alice"),
			wantCode:        exitError,
			wantStderr:      []string{"cannot reach Redis at @ADDR (redis.addr)"},
			wantEmptyStdout: true,
		},
	})
}
