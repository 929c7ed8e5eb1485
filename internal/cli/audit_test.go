package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/audit"
)

const testAuditStream = testPrefix + "audit"

// auditEvents are the audit stream's entries, oldest first.
func (e *testEnv) auditEvents(t *testing.T) []map[string]string {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), testAuditStream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]string, len(msgs))
	for i, m := range msgs {
		out[i] = map[string]string{}
		for k, v := range m.Values {
			out[i][k] = fmt.Sprint(v)
		}
	}
	return out
}

func (e *testEnv) recordEvents(t *testing.T, groups ...string) {
	t.Helper()
	a := audit.New(e.rdb, audit.Options{Stream: testAuditStream, MaxLen: 100})
	for _, g := range groups {
		a.Record(context.Background(), audit.Event{Name: audit.GroupCreated, Source: audit.SourceCLI, Fields: map[string]string{"group": g}})
	}
}

// jsonLines parses stdout as one JSON object a line.
func jsonLines(t *testing.T, out string) []map[string]string {
	t.Helper()
	var docs []map[string]string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var d map[string]string
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("line %q is not a JSON object of strings: %v", l, err)
		}
		docs = append(docs, d)
	}
	return docs
}

func TestAuditTail(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:            "the latest events, oldest first",
			setup:           func(t *testing.T, e *testEnv) { e.recordEvents(t, "g1", "g2", "g3") },
			invocation:      invoke("audit", "tail", "--count", "2"),
			wantCode:        exitOK,
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				docs := jsonLines(t, r.stdout)
				if len(docs) != 2 || docs[0]["group"] != "g2" || docs[1]["group"] != "g3" || docs[0]["event"] != "group_created" ||
					docs[0]["id"] == "" || docs[0]["time"] == "" || docs[0]["source"] != "cli" {
					t.Fatalf("printed %v", docs)
				}
				if !strings.HasPrefix(r.stdout, `{"id":"`) {
					t.Fatalf("id does not come first: %s", r.stdout)
				}
			},
		},
		{
			name:            "default count is 10",
			setup:           func(t *testing.T, e *testEnv) { e.recordEvents(t, strings.Split("a b c d e f g h i j k l", " ")...) },
			invocation:      invoke("audit", "tail"),
			wantCode:        exitOK,
			wantEmptyStderr: true,
			check: func(t *testing.T, e *testEnv, r result) {
				if docs := jsonLines(t, r.stdout); len(docs) != 10 || docs[0]["group"] != "c" {
					t.Fatalf("printed %v", docs)
				}
			},
		},
		{
			name:            "empty stream",
			invocation:      invoke("audit", "tail"),
			wantCode:        exitOK,
			wantEmptyStdout: true,
			wantEmptyStderr: true,
		},
		{
			name:       "audit disabled still shows the stream, with a note",
			setup:      func(t *testing.T, e *testEnv) { e.recordEvents(t, "old") },
			invocation: invocation{args: []string{"audit", "tail"}, env: []string{"GATEWAY_AUDIT_ENABLED=false"}},
			wantCode:   exitOK,
			wantStdout: []string{`"group":"old"`},
			wantStderr: []string{"note: audit.enabled is false"},
		},
		{name: "no subcommand", invocation: invoke("audit"), wantCode: exitUsage, wantStdout: []string{"usage: gateway audit tail"}},
		{name: "unknown subcommand", invocation: invoke("audit", "head"), wantCode: exitUsage, wantStderr: []string{`unknown subcommand "head"`}},
		{name: "negative count", invocation: invoke("audit", "tail", "--count", "-1"), wantCode: exitUsage, wantStderr: []string{"--count must be 0 or more"}},
		{name: "stray argument", invocation: invoke("audit", "tail", "x"), wantCode: exitUsage},
		{
			name:            "Redis down",
			setup:           func(t *testing.T, e *testEnv) { e.srv.Stop() },
			invocation:      invoke("audit", "tail"),
			wantCode:        exitError,
			wantStderr:      []string{"cannot reach Redis at @ADDR (redis.addr)"},
			wantEmptyStdout: true,
		},
	})
}

// syncWriter is a buffer the following command and the test share.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestAuditTailFollow(t *testing.T) {
	e := newTestEnv(t)
	e.recordEvents(t, "before")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncWriter
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"audit", "tail", "--follow", "--count", "1"},
			IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Environ: []string{"GATEWAY_CONFIG=" + e.cfgPath}})
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(stdout.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not printed; stdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(`"group":"before"`)
	// A management command's event shows up as it happens.
	withAlice(t, e)
	if r := e.run(t, invoke("group", "create", "live")); r.code != exitOK {
		t.Fatal(r)
	}
	waitFor(`"group":"live"`)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d after interrupt; stderr %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("--follow did not stop when interrupted")
	}
	docs := jsonLines(t, stdout.String())
	if len(docs) != 2 || docs[1]["event"] != "group_created" || docs[1]["source"] != "cli" {
		t.Fatalf("printed %v", docs)
	}
}

// Every management command that changes users, groups or permissions
// leaves an event in the audit stream.
func TestManagementCommandsAreAudited(t *testing.T) {
	withEditors := func(t *testing.T, e *testEnv) {
		withAlice(t, e)
		e.mustCreateGroup(t, "editors", nil)
	}
	type want map[string]string
	cases := []struct {
		name  string
		setup func(t *testing.T, e *testEnv)
		inv   invocation
		want  []want
	}{
		{"user grant", withAlice, invoke("user", "grant", "alice", "blog.add_post", "blog.view_post"), []want{
			{"event": "user_permission_granted", "username": "alice", "permission": "blog.add_post", "source": "cli"},
			{"event": "user_permission_granted", "username": "alice", "permission": "blog.view_post"},
		}},
		{"user revoke", func(t *testing.T, e *testEnv) { withAlice(t, e); e.mustGrantUser(t, "alice", "blog.add_post") },
			invoke("user", "revoke", "alice", "blog.add_post"), []want{{"event": "user_permission_revoked", "username": "alice", "permission": "blog.add_post"}}},
		{"group grant", withEditors, invoke("group", "grant", "editors", "blog.change_post"), []want{
			{"event": "group_permission_granted", "group": "editors", "permission": "blog.change_post", "username": ""},
		}},
		{"group revoke", func(t *testing.T, e *testEnv) { withAlice(t, e); e.mustCreateGroup(t, "editors", nil, "blog.add_post") },
			invoke("group", "revoke", "editors", "blog.add_post"), []want{{"event": "group_permission_revoked", "group": "editors", "permission": "blog.add_post"}}},
		{"group add-user", withEditors, invoke("group", "add-user", "editors", "alice"), []want{
			{"event": "group_member_added", "group": "editors", "username": "alice"},
		}},
		{"group remove-user", func(t *testing.T, e *testEnv) { withAlice(t, e); e.mustCreateGroup(t, "editors", []string{"alice"}) },
			invoke("group", "remove-user", "editors", "alice"), []want{{"event": "group_member_removed", "group": "editors", "username": "alice"}}},
		{"group create", nil, invoke("group", "create", "auditors"), []want{{"event": "group_created", "group": "auditors"}}},
		{"group delete", withEditors, invoke("group", "delete", "editors"), []want{{"event": "group_deleted", "group": "editors"}}},
		{"user create", nil, invocation{args: []string{"user", "create", "bob", "--staff", "--password-stdin"}, stdin: pwNew + "\n"}, []want{
			{"event": "user_created", "username": "bob", "user_id": "1", "is_staff": "true", "is_superuser": "false", "is_active": "true"},
		}},
		{"createsuperuser", nil, invocation{args: []string{"createsuperuser", "--username", "root", "--noinput"}, env: []string{"GATEWAY_SUPERUSER_PASSWORD=" + pwSuper}}, []want{
			{"event": "user_created", "username": "root", "user_id": "1", "is_superuser": "true", "is_staff": "true"},
		}},
		{"user deactivate", withAlice, invoke("user", "deactivate", "alice"), []want{{"event": "user_deactivated", "username": "alice"}}},
		{"user activate", withAlice, invoke("user", "activate", "alice"), []want{{"event": "user_activated", "username": "alice"}}},
		{"user delete", withAlice, invoke("user", "delete", "alice"), []want{{"event": "user_deleted", "username": "alice"}}},
		{"changepassword", withAlice, invocation{args: []string{"changepassword", "alice", "--password-stdin"}, stdin: pwNew + "\n"}, []want{
			{"event": "password_changed", "username": "alice", "user_id": "1"},
		}},
		{"the operator is recorded", withAlice, invocation{args: []string{"user", "activate", "alice"}, env: []string{"USER=ops", "SUDO_USER=ada"}}, []want{
			{"event": "user_activated", "operator": "ada"},
		}},
		{"sessions revoke", withSessions, invoke("sessions", "revoke", "alice", "--all"), []want{
			{"event": "session_revoked", "username": "alice", "sessions": "2", "which": "all"},
		}},
		{"a failed command records nothing", withAlice, invoke("user", "grant", "alice", "blog.no_such_perm"), nil},
	}
	var cc []cliCase
	for _, tc := range cases {
		code := exitOK
		if tc.want == nil {
			code = exitError
		}
		cc = append(cc, cliCase{
			name: tc.name, setup: tc.setup, invocation: tc.inv, wantCode: code,
			check: func(t *testing.T, e *testEnv, r result) {
				got := e.auditEvents(t)
				if len(got) != len(tc.want) {
					t.Fatalf("%d audit events, want %d: %v", len(got), len(tc.want), got)
				}
				for i, w := range tc.want {
					for k, v := range w {
						if got[i][k] != v {
							t.Errorf("event %d: %s = %q, want %q (%v)", i, k, got[i][k], v, got[i])
						}
					}
					for k, v := range got[i] {
						for _, s := range knownSecrets {
							if strings.Contains(k+v, s) {
								t.Errorf("event %v holds a secret", got[i])
							}
						}
					}
				}
			},
		})
	}
	runCases(t, cc)
}

// An event that cannot be appended does not fail the command, and is not
// lost silently: the whole event is printed on stderr.
func TestAuditStreamFailureIsReported(t *testing.T) {
	runCases(t, []cliCase{{
		name: "stream key of the wrong type",
		setup: func(t *testing.T, e *testEnv) {
			withAlice(t, e)
			if err := e.rdb.Set(context.Background(), testAuditStream, "not a stream", 0).Err(); err != nil {
				t.Fatal(err)
			}
		},
		invocation: invoke("user", "grant", "alice", "blog.add_post"),
		wantCode:   exitOK,
		wantStdout: []string{"Permission 'blog.add_post' granted to user 'alice'."},
		wantStderr: []string{"audit event not written to the stream", "event=user_permission_granted", "username=alice", "permission=blog.add_post", "WRONGTYPE"},
		check: func(t *testing.T, e *testEnv, _ result) {
			assertStrings(t, "alice's permissions", e.userPerms(t, "alice"), "blog.add_post")
		},
	}})
}
