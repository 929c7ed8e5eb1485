package server_test

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/config"
)

// wsUpstream answers an Upgrade with 101 and then echoes bytes.
func wsUpstream(t *testing.T, upgrades *atomic.Int64) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			// A streamed response: two events with a pause between them.
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(1500 * time.Millisecond)
			fmt.Fprint(w, "data: two\n\n")
			return
		}
		upgrades.Add(1)
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-User: %s\r\n\r\n", r.Header.Get("X-Remote-User"))
		brw.Flush()
		_, _ = io.Copy(conn, brw)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestWebSocketAfterAuthorization(t *testing.T) {
	var upgrades atomic.Int64
	ws := wsUpstream(t, &upgrades)
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Upstreams = []config.Upstream{{Name: "ws", URL: ws.URL}}
	})
	c := g.client()
	wantStatus(t, g.loginJSON(c, "alice", testPassword), 200)
	sid := g.sessionCookie(c)
	addr := strings.TrimPrefix(g.URL, "http://")
	upgrade := func(cookie string) (net.Conn, *bufio.Reader, *http.Response) {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET /editors/socket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", addr, cookie)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn, br, resp
	}

	t.Run("anonymous upgrade refused", func(t *testing.T) {
		conn, _, resp := upgrade("")
		defer conn.Close()
		if resp.StatusCode != 401 || upgrades.Load() != 0 {
			t.Fatalf("status %d, upstream upgrades %d; want 401 and none", resp.StatusCode, upgrades.Load())
		}
	})
	t.Run("authorized upgrade tunnels", func(t *testing.T) {
		conn, br, resp := upgrade("Cookie: " + g.cfg.Session.CookieName + "=" + sid + "\r\n")
		defer conn.Close()
		if resp.StatusCode != 101 || resp.Header.Get("X-Seen-User") != "alice" {
			t.Fatalf("status %d, upstream saw user %q", resp.StatusCode, resp.Header.Get("X-Seen-User"))
		}
		// Not HTTP: the framing checks stand aside once the upstream said 101.
		if _, err := io.WriteString(conn, "p\n\n\x00"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "p\n\n\x00" {
			t.Fatalf("echo = %q, %v", buf, err)
		}
	})
}

func TestStreamedResponseFlushed(t *testing.T) {
	var upgrades atomic.Int64
	ws := wsUpstream(t, &upgrades)
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Upstreams = []config.Upstream{{Name: "sse", URL: ws.URL}}
	})
	start := time.Now()
	resp := g.do(g.client(), "GET", "/public/events", nil, "text/event-stream")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("first event took %v: the response was buffered", d)
	}
}
