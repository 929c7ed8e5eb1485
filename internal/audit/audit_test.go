package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/testredis"
)

const stream = "t:audit"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t *testing.T, maxLen int64) (*audit.Auditor, *redis.Client, *syncBuffer, *testredis.Server) {
	t.Helper()
	srv := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	logs := &syncBuffer{}
	a := audit.New(rdb, audit.Options{Stream: stream, MaxLen: maxLen, Logger: slog.New(slog.NewJSONHandler(logs, nil)), Timeout: time.Second})
	return a, rdb, logs, srv
}

func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRecord(t *testing.T) {
	when := time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC)
	cases := []struct {
		name string
		ev   audit.Event
		want map[string]string // the stream entry's fields
	}{
		{
			name: "login",
			ev: audit.Event{Name: audit.LoggedIn, Time: when, Username: "alice", UserID: 7, ClientIP: "192.0.2.1",
				UserAgent: "curl/8", RequestID: "abc", Source: audit.SourceServer},
			want: map[string]string{"time": "2025-01-02T03:04:05.6Z", "event": "user_logged_in", "username": "alice", "user_id": "7",
				"client_ip": "192.0.2.1", "user_agent": "curl/8", "request_id": "abc", "source": "server"},
		},
		{
			name: "unknown user id is empty, fields follow",
			ev: audit.Event{Name: audit.LoginFailed, Time: when, Username: "mallory", Source: audit.SourceServer,
				Fields: map[string]string{"reason": "invalid_credentials"}},
			want: map[string]string{"time": "2025-01-02T03:04:05.6Z", "event": "user_login_failed", "username": "mallory", "user_id": "",
				"client_ip": "", "user_agent": "", "request_id": "", "source": "server", "reason": "invalid_credentials"},
		},
		{
			name: "secret-looking fields are redacted, standard names cannot be overridden",
			ev: audit.Event{Name: audit.PasswordChanged, Time: when, Username: "bob", Source: audit.SourceCLI,
				Fields: map[string]string{"new_password": "hunter2hunter2", "Session_ID": "s3cr3tsess", "csrf_token": "tok", "username": "eve", "via": "cli"}},
			want: map[string]string{"time": "2025-01-02T03:04:05.6Z", "event": "password_changed", "username": "bob", "user_id": "",
				"client_ip": "", "user_agent": "", "request_id": "", "source": "cli",
				"new_password": audit.Redacted, "Session_ID": audit.Redacted, "csrf_token": audit.Redacted, "via": "cli"},
		},
		{
			name: "long values are cut on a rune boundary",
			ev:   audit.Event{Name: audit.LoginFailed, Time: when, Username: strings.Repeat("é", 200), UserAgent: strings.Repeat("a", 1000)},
			want: map[string]string{"time": "2025-01-02T03:04:05.6Z", "event": "user_login_failed", "username": strings.Repeat("é", 128), "user_id": "",
				"client_ip": "", "user_agent": strings.Repeat("a", 256), "request_id": "", "source": ""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, rdb, logs, _ := setup(t, 1000)
			a.Record(context.Background(), tc.ev)
			msgs, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("stream: %v %v", msgs, err)
			}
			got := map[string]string{}
			for k, v := range msgs[0].Values {
				got[k] = v.(string)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("entry\n got %v\nwant %v", got, tc.want)
			}
			lines := logLines(t, logs.String())
			if len(lines) != 1 || lines[0]["msg"] != "audit event" || lines[0]["event"] != tc.ev.Name || lines[0]["level"] != "INFO" {
				t.Fatalf("log = %v", lines)
			}
			for k, v := range tc.want {
				if k != "time" && lines[0][k] != v {
					t.Errorf("log line %s = %v, want %q", k, lines[0][k], v)
				}
			}
			for _, secret := range []string{"hunter2hunter2", "s3cr3tsess"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log holds %q", secret)
				}
			}
		})
	}
}

// Values keeps one order: standard fields, then the event's own sorted.
func TestValuesOrder(t *testing.T) {
	kv := audit.Values(audit.Event{Name: "x", Fields: map[string]string{"b": "2", "a": "1"}})
	var names []string
	for i := 0; i < len(kv); i += 2 {
		names = append(names, kv[i])
	}
	if got := strings.Join(names, ","); got != "time,event,username,user_id,client_ip,user_agent,request_id,source,a,b" {
		t.Errorf("field order %s", got)
	}
}

func TestStreamIsCapped(t *testing.T) {
	a, rdb, _, _ := setup(t, 10)
	ctx := context.Background()
	const n = 350
	for i := range n {
		a.Record(ctx, audit.Event{Name: audit.LoginFailed, Username: fmt.Sprint("u", i)})
	}
	length, err := rdb.XLen(ctx, stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole stream nodes (100 entries by default), so the
	// stream holds at least max_len and less than max_len + one node.
	if length < 10 || length > 10+100 {
		t.Fatalf("stream length %d after %d events with max_len 10", length, n)
	}
	last, err := audit.Latest(ctx, rdb, stream, 1)
	if err != nil || len(last) != 1 || last[0].Fields["username"] != fmt.Sprint("u", n-1) {
		t.Fatalf("newest entry %v %v", last, err)
	}
}

// A stream that cannot be written never fails the caller, and the event
// is still in the log, whole, at error level.
func TestStreamFailureIsLogged(t *testing.T) {
	a, _, logs, srv := setup(t, 10)
	srv.Stop()
	start := time.Now()
	a.Record(context.Background(), audit.Event{Name: audit.LoginFailed, Username: "alice", ClientIP: "192.0.2.1", RequestID: "r1",
		Fields: map[string]string{"reason": "invalid_credentials"}})
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Record took %s with Redis down", d)
	}
	lines := logLines(t, logs.String())
	if len(lines) != 2 {
		t.Fatalf("want the event line and an error line, got %v", lines)
	}
	e := lines[1]
	if e["level"] != "ERROR" || e["event"] != "user_login_failed" || e["username"] != "alice" || e["client_ip"] != "192.0.2.1" ||
		e["request_id"] != "r1" || e["reason"] != "invalid_credentials" || e["stream"] != stream || e["error"] == "" {
		t.Fatalf("error line does not hold the whole event: %v", e)
	}
}

// A cancelled request still gets its event recorded.
func TestRecordOutlivesCancelledRequest(t *testing.T) {
	a, rdb, _, _ := setup(t, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.Record(ctx, audit.Event{Name: audit.LoginFailed, Username: "alice"})
	if n, err := rdb.XLen(context.Background(), stream).Result(); err != nil || n != 1 {
		t.Fatalf("XLEN = %d, %v", n, err)
	}
}

func TestLogOnly(t *testing.T) {
	logs := &syncBuffer{}
	a := audit.New(nil, audit.Options{Stream: stream, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	a.Record(context.Background(), audit.Event{Name: audit.LoggedOut, Username: "alice"})
	if a.Stream() != "" || len(logLines(t, logs.String())) != 1 {
		t.Fatalf("log-only auditor: stream %q, log %s", a.Stream(), logs)
	}
	var r audit.Recorder = audit.Nop{}
	r.Record(context.Background(), audit.Event{Name: audit.LoggedOut})
}

func TestLatestAndFollow(t *testing.T) {
	a, rdb, _, _ := setup(t, 1000)
	ctx := context.Background()
	for i := range 5 {
		a.Record(ctx, audit.Event{Name: audit.GroupCreated, Fields: map[string]string{"group": fmt.Sprint("g", i)}})
	}
	got, err := audit.Latest(ctx, rdb, stream, 2)
	if err != nil || len(got) != 2 || got[0].Fields["group"] != "g3" || got[1].Fields["group"] != "g4" {
		t.Fatalf("Latest(2) = %v, %v", got, err)
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"id":"`+got[0].ID+`","time":"`) || !strings.Contains(string(b), `"source":"","group":"g3"}`) {
		t.Fatalf("JSON %s", b)
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan audit.Entry, 10)
	done := make(chan error, 1)
	go func() {
		done <- audit.Follow(fctx, rdb, stream, got[1].ID, 100*time.Millisecond, func(e audit.Entry) error {
			seen <- e
			return nil
		})
	}()
	time.Sleep(150 * time.Millisecond)
	a.Record(ctx, audit.Event{Name: audit.GroupDeleted, Fields: map[string]string{"group": "g0"}})
	select {
	case e := <-seen:
		if e.Fields["event"] != audit.GroupDeleted {
			t.Fatalf("followed %v", e)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Follow did not deliver the new event")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow returned %v after cancel", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Follow did not stop after cancel")
	}
	if len(seen) != 0 {
		t.Fatalf("Follow delivered old entries: %v", <-seen)
	}
}
