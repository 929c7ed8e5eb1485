package server_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/server"
)

// auditEntries are the audit stream's entries, oldest first.
func (g *gw) auditEntries(t *testing.T) []map[string]string {
	t.Helper()
	msgs, err := g.rdb.XRange(context.Background(), g.cfg.Redis.KeyPrefix+g.cfg.Audit.Stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]string, len(msgs))
	for i, m := range msgs {
		out[i] = map[string]string{"id": m.ID}
		for k, v := range m.Values {
			out[i][k] = fmt.Sprint(v)
		}
	}
	return out
}

// find returns the entries whose fields include want.
func find(entries []map[string]string, want map[string]string) []map[string]string {
	var out []map[string]string
next:
	for _, e := range entries {
		for k, v := range want {
			if e[k] != v {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

func TestAuditLoginEvents(t *testing.T) {
	g := newGateway(t, throttled(3, 100))
	alice, _ := g.users.GetUserByUsername(context.Background(), "alice")
	aliceID := fmt.Sprint(alice.ID)
	ua := "audit-test-agent/1.0"
	hdr := http.Header{"User-Agent": {ua}}

	c := g.client()
	resp, _ := g.attempt(t, c, "alice", testPassword, hdr)
	loginReq := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	sessionID := g.sessionCookie(c)
	u, _ := url.Parse(g.URL)
	var csrf string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == server.CSRFCookieName {
			csrf = ck.Value
		}
	}
	// Logout.
	req, _ := http.NewRequest("POST", g.URL+"/_gateway/logout", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp, 200)

	wrong, _ := g.attempt(t, nil, "alice", "not-her-password-4711", hdr)
	unknown, _ := g.attempt(t, nil, "mallory", "mallory-guess-0815", hdr)
	if wrong.StatusCode != 401 || unknown.StatusCode != 401 {
		t.Fatalf("failures: %d %d", wrong.StatusCode, unknown.StatusCode)
	}
	// Lock bob: two failures, the third locks, the fourth is refused.
	for i := range 4 {
		g.attempt(t, nil, "bob", fmt.Sprint("bob-guess-", i), hdr)
	}

	entries := g.auditEntries(t)
	checks := []struct {
		name string
		want map[string]string
		n    int
	}{
		{"login", map[string]string{"event": "user_logged_in", "username": "alice", "user_id": aliceID, "client_ip": "127.0.0.1",
			"user_agent": ua, "request_id": loginReq, "source": "server"}, 1},
		{"logout", map[string]string{"event": "user_logged_out", "username": "alice", "user_id": aliceID, "client_ip": "127.0.0.1", "user_agent": ua}, 1},
		{"wrong password", map[string]string{"event": "user_login_failed", "username": "alice", "user_id": aliceID, "reason": "invalid_credentials",
			"request_id": wrong.Header.Get("X-Request-Id")}, 1},
		{"unknown user, as attempted", map[string]string{"event": "user_login_failed", "username": "mallory", "user_id": "", "reason": "invalid_credentials",
			"request_id": unknown.Header.Get("X-Request-Id")}, 1},
		{"bob's failures", map[string]string{"event": "user_login_failed", "username": "bob", "reason": "invalid_credentials"}, 3},
		{"bob refused while locked", map[string]string{"event": "user_login_failed", "username": "bob", "reason": "locked_out", "user_id": ""}, 1},
		{"bob locked out", map[string]string{"event": "user_locked_out", "username": "bob", "scope": "username", "subject": "bob", "cooloff_seconds": "60"}, 1},
	}
	for _, ck := range checks {
		if got := find(entries, ck.want); len(got) != ck.n {
			t.Errorf("%s: %d entries with %v, want %d; stream:\n%v", ck.name, len(got), ck.want, ck.n, entries)
		}
	}
	// Every entry has the standard fields, and none holds a secret.
	secrets := []string{testPassword, "not-her-password-4711", "mallory-guess-0815", "bob-guess-", sessionID, csrf, g.cfg.SecretKey}
	for _, e := range entries {
		for _, f := range []string{"time", "event", "username", "user_id", "client_ip", "user_agent", "request_id", "source"} {
			if _, ok := e[f]; !ok {
				t.Errorf("entry %v lacks %s", e, f)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, e["time"]); err != nil {
			t.Errorf("entry time %q: %v", e["time"], err)
		}
		for k, v := range e {
			for _, s := range secrets {
				if s != "" && (strings.Contains(v, s) || strings.Contains(k, s)) {
					t.Errorf("entry %v holds a secret (%.6s...)", e, s)
				}
			}
		}
	}
	// The process log has each event as a line too, without secrets.
	logs := g.logs.String()
	for _, ev := range []string{"user_logged_in", "user_logged_out", "user_login_failed", "user_locked_out"} {
		if !strings.Contains(logs, `"msg":"audit event","event":"`+ev+`"`) {
			t.Errorf("process log lacks %s", ev)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("process log holds a secret (%.6s...)", s)
		}
	}
}

func TestAuditStreamIsCapped(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Audit.MaxLen = 5
		off := false
		c.Throttle.Enabled = &off
	})
	const n = 130
	for i := range n {
		resp, _ := g.attempt(t, nil, fmt.Sprint("user", i), "wrong", nil)
		if resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	entries := g.auditEntries(t)
	// XADD MAXLEN ~ trims whole stream nodes (100 entries by default).
	if len(entries) < 5 || len(entries) > 5+100 {
		t.Fatalf("stream holds %d entries after %d events with max_len 5", len(entries), n)
	}
	if last := entries[len(entries)-1]; last["username"] != fmt.Sprint("user", n-1) {
		t.Fatalf("newest entry %v", last)
	}
}

func TestAuditDisabledLogsOnly(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		off := false
		c.Audit.Enabled = &off
	})
	wantStatus(t, g.loginJSON(g.client(), "alice", testPassword), 200)
	if n, err := g.rdb.Exists(context.Background(), g.cfg.Redis.KeyPrefix+g.cfg.Audit.Stream).Result(); err != nil || n != 0 {
		t.Fatalf("stream written although audit.enabled is false (%d, %v)", n, err)
	}
	if !strings.Contains(g.logs.String(), `"event":"user_logged_in"`) {
		t.Fatal("the event is not in the process log")
	}
}
