package cli

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/sessionstore"
)

// Session ids of the user "alice" the setups below create, by name, so
// checks can tell which ones survived. The ids are credentials: no output
// may show them, nor their whole hash.
type sessionIDs map[string]string

var (
	createdMu       sync.Mutex
	createdSessions = map[*testEnv]sessionIDs{}
)

func (e *testEnv) sessionID(name string) string {
	createdMu.Lock()
	defer createdMu.Unlock()
	return createdSessions[e][name]
}

func (e *testEnv) sessions() *sessionstore.Store { return sessionstore.New(e.rdb, testPrefix) }

// withSessions creates alice (and bob) and sessions for them: alice's
// "laptop" and "phone", bob's "desk".
func withSessions(t *testing.T, e *testEnv) {
	t.Helper()
	e.mustCreateUser(t, "alice", pwOld, nil)
	e.mustCreateUser(t, "bob", pwOld, nil)
	ids := sessionIDs{}
	for _, s := range []struct {
		name, user, ip, ua string
		age                time.Duration
	}{
		{"laptop", "alice", "192.0.2.10", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", 2 * time.Hour},
		{"phone", "alice", "2001:db8::7", "Evil\x1b[31mAgent\r\n\twith controls", time.Hour},
		{"desk", "bob", "192.0.2.20", "curl/8.5.0", time.Hour},
	} {
		created := time.Now().Add(-s.age)
		id, err := e.sessions().Create(context.Background(), &sessionstore.Session{
			UserID: e.user(t, s.user).ID, Backend: "session", CreatedAt: created, ClientIP: s.ip, UserAgent: s.ua, AuthHash: "h",
		}, sessionstore.Lifetime{MaxAge: 24 * time.Hour, Refresh: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ids[s.name] = id
	}
	createdMu.Lock()
	createdSessions[e] = ids
	createdMu.Unlock()
	t.Cleanup(func() {
		createdMu.Lock()
		delete(createdSessions, e)
		createdMu.Unlock()
	})
}

// hashOf is a session's key id: the base64url SHA-256 of its id.
func hashOf(id string) string { return sessionstore.KeyID(id) }

// alive reports which of the named sessions still exist.
func (e *testEnv) alive(t *testing.T, names ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, n := range names {
		_, err := e.sessions().Get(context.Background(), e.sessionID(n))
		switch {
		case err == nil:
			out[n] = true
		case errors.Is(err, sessionstore.ErrNotFound):
			out[n] = false
		default:
			t.Fatalf("Get(%s): %v", n, err)
		}
	}
	return out
}

func (e *testEnv) wantAlive(t *testing.T, want map[string]bool) {
	t.Helper()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	got := e.alive(t, names...)
	for n, w := range want {
		if got[n] != w {
			t.Errorf("session %q alive = %v, want %v", n, got[n], w)
		}
	}
}

// noSessionSecrets fails if the output shows a session id or a whole id
// hash.
func (e *testEnv) noSessionSecrets(t *testing.T, r result) {
	t.Helper()
	for _, name := range []string{"laptop", "phone", "desk"} {
		id := e.sessionID(name)
		if strings.Contains(r.stdout+r.stderr, id) || strings.Contains(r.stdout+r.stderr, hashOf(id)) {
			t.Errorf("the output shows session %q's id or whole hash\n%s", name, r)
		}
	}
}

func (e *testEnv) prefixOf(name string) string {
	return hashOf(e.sessionID(name))[:sessionstore.ShownPrefix]
}

func TestSessionsCommand(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:            "list",
			setup:           withSessions,
			invocation:      invoke("sessions", "list", "alice"),
			wantCode:        exitOK,
			wantStdout:      []string{"ID", "CREATED", "LAST ACTIVITY", "IP", "BACKEND", "USER AGENT", "192.0.2.10", "2001:db8::7", "Firefox/128.0", "session"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				e.noSessionSecrets(t, r)
				lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
				if len(lines) != 3 {
					t.Fatalf("want a header and alice's 2 sessions:\n%s", r)
				}
				// Oldest first, each named by a 12-character prefix of its key id.
				if !strings.HasPrefix(lines[1], e.prefixOf("laptop")+" ") || !strings.HasPrefix(lines[2], e.prefixOf("phone")+" ") {
					t.Errorf("rows are not alice's sessions, oldest first:\n%s", r)
				}
				if strings.Contains(r.stdout, e.prefixOf("desk")) || strings.Contains(r.stdout, "curl") {
					t.Errorf("alice's list shows bob's session:\n%s", r)
				}
				// A client-chosen user agent cannot drive the terminal.
				if strings.ContainsAny(r.stdout, "\x1b\r\t") || !strings.Contains(r.stdout, "Evil?[31mAgent???with controls") {
					t.Errorf("user agent not made printable:\n%q", r.stdout)
				}
			},
		},
		{
			name:            "list without sessions",
			setup:           withAlice,
			invocation:      invoke("sessions", "list", "alice"),
			wantCode:        exitOK,
			wantStdout:      []string{"User 'alice' has no sessions.\n"},
			wantEmptyStderr: true,
		},
		{
			name:       "list unknown user",
			invocation: invoke("sessions", "list", "ghost"),
			wantCode:   exitError,
			wantStderr: []string{`user "ghost"`, "user not found"},
		},
		{
			name:            "revoke all",
			setup:           withSessions,
			invocation:      invoke("sessions", "revoke", "alice", "--all"),
			wantCode:        exitOK,
			wantStdout:      []string{"Ended 2 sessions of user 'alice'.\n"},
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				e.wantAlive(t, map[string]bool{"laptop": false, "phone": false, "desk": true})
				if r := e.run(t, invoke("sessions", "list", "alice")); !strings.Contains(r.stdout, "no sessions") {
					t.Errorf("list after revoke --all:\n%s", r)
				}
			},
		},
		{
			name:       "revoke needs a prefix or --all",
			setup:      withSessions,
			invocation: invoke("sessions", "revoke", "alice"),
			wantCode:   exitUsage,
			wantStderr: []string{"give --all or the ID-PREFIX", "usage: gateway sessions"},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": true, "phone": true})
			},
		},
		{
			name:       "revoke with both",
			setup:      withSessions,
			invocation: invoke("sessions", "revoke", "alice", "--all", "abcdef"),
			wantCode:   exitUsage,
			wantStderr: []string{"not both"},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": true, "phone": true})
			},
		},
		{
			name:       "revoke with a short prefix",
			setup:      withSessions,
			invocation: invoke("sessions", "revoke", "alice", "abc"),
			wantCode:   exitUsage,
			wantStderr: []string{"ID-PREFIX must be 6 or more characters (A-Z a-z 0-9 - _, case-sensitive)"},
		},
		{
			name:       "revoke an unknown prefix",
			setup:      withSessions,
			invocation: invoke("sessions", "revoke", "alice", "000000"),
			wantCode:   exitError,
			wantStderr: []string{`no session starts with "000000"`, "session not found"},
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": true, "phone": true, "desk": true})
			},
		},
		{
			name:       "revoke for an unknown user",
			invocation: invoke("sessions", "revoke", "ghost", "--all"),
			wantCode:   exitError,
			wantStderr: []string{`user "ghost"`, "user not found"},
		},
		// The user commands end sessions in the same script as the change.
		{
			name:       "deactivate ends sessions",
			setup:      withSessions,
			invocation: invoke("user", "deactivate", "alice"),
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": false, "phone": false, "desk": true})
				// Activating again does not bring them back.
				if r := e.run(t, invoke("user", "activate", "alice")); r.code != exitOK {
					t.Fatal(r)
				}
				e.wantAlive(t, map[string]bool{"laptop": false, "phone": false})
			},
		},
		{
			name:       "delete ends sessions",
			setup:      withSessions,
			invocation: invoke("user", "delete", "alice"),
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": false, "phone": false, "desk": true})
				if n := e.rdb.Exists(context.Background(), testPrefix+"{auth}:user:1").Val(); n != 0 {
					t.Error("the deleted user's hash, with its session index, was kept")
				}
			},
		},
		{
			name:       "changepassword ends sessions",
			setup:      withSessions,
			invocation: invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: pwNew + "\n"},
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": false, "phone": false, "desk": true})
				if e.user(t, "alice").AuthSecret == "" {
					t.Error("changepassword did not set a new auth secret")
				}
			},
		},
		{
			name:       "grant keeps sessions",
			setup:      withSessions,
			invocation: invoke("user", "grant", "alice", "blog.add_post"),
			wantCode:   exitOK,
			check: func(t *testing.T, e *testEnv, _ result) {
				e.wantAlive(t, map[string]bool{"laptop": true, "phone": true})
			},
		},
	})
}

// Revoking by prefix needs the prefix the list printed, which only exists
// once the setup ran: a case of its own.
func TestSessionsRevokeByPrefix(t *testing.T) {
	e := newTestEnv(t)
	withSessions(t, e)
	r := e.run(t, invoke("sessions", "revoke", "alice", e.prefixOf("phone")[:8]))
	if r.code != exitOK || !strings.Contains(r.stdout, "Ended 1 session of user 'alice'.\n") {
		t.Fatalf("revoke by prefix:\n%s", r)
	}
	e.noSessionSecrets(t, r)
	e.wantAlive(t, map[string]bool{"laptop": true, "phone": false, "desk": true})
	// Bob's session cannot be revoked through alice.
	r = e.run(t, invoke("sessions", "revoke", "alice", e.prefixOf("desk")))
	if r.code != exitError || !strings.Contains(r.stderr, "session not found") {
		t.Fatalf("revoke of another user's session through alice:\n%s", r)
	}
	e.wantAlive(t, map[string]bool{"desk": true})
	r = e.run(t, invoke("sessions", "list", "alice"))
	if strings.Contains(r.stdout, e.prefixOf("phone")) || !strings.Contains(r.stdout, e.prefixOf("laptop")) {
		t.Fatalf("list after revoking the phone:\n%s", r)
	}
}
