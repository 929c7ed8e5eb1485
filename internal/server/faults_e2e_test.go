package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/server"
)

// panickingDecider fails in a way no policy can: it panics.
type panickingDecider struct{}

func (panickingDecider) Decide(context.Context, *authz.Input) (authz.Decision, error) {
	panic("injected fault")
}

// TestPanicFailsClosed: a panic while deciding is recovered, answered
// 500, logged, and nothing is forwarded; the gateway keeps serving.
func TestPanicFailsClosed(t *testing.T) {
	g := newGatewayWith(t, func(o *server.Options) { o.Policy = panickingDecider{} })
	for range 3 {
		wantStatus(t, g.do(g.client(), "GET", "/public/", nil, ""), 500)
	}
	if n := g.up.count(); n != 0 {
		t.Fatalf("%d requests forwarded after a panic", n)
	}
	if !strings.Contains(g.logs.String(), "injected fault") {
		t.Fatal("the panic was not logged")
	}
	// The gateway's own pages still work.
	wantStatus(t, g.do(g.client(), "GET", "/_gateway/login", nil, "text/html"), 200)
}

// TestUpstreamSwitchingProtocolsUnasked: a 101 from an upstream for a
// request that did not ask to upgrade is not tunnelled.
func TestUpstreamSwitchingProtocolsUnasked(t *testing.T) {
	for _, upgrade := range []string{"websocket", ""} {
		t.Run("Upgrade: "+upgrade, func(t *testing.T) {
			rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				h := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				if upgrade != "" {
					h += "Upgrade: " + upgrade + "\r\n"
				}
				fmt.Fprint(brw, h+"\r\nTUNNEL-DATA")
				brw.Flush()
				io.Copy(io.Discard, conn) //nolint:errcheck
			}))
			defer rogue.Close()
			g := newGateway(t, func(c *config.Config, _ *fs.FS) { c.Upstreams[0].URL = rogue.URL })
			conn, err := net.Dial("tcp", g.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
			fmt.Fprint(conn, "GET /public/ HTTP/1.1\r\nHost: gw\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(body), "TUNNEL-DATA") {
				t.Fatalf("status %d, body %q: want 502 and no tunnel", resp.StatusCode, body)
			}
		})
	}
}

// TestServerHosts: with server.hosts set, a forged Host is refused before
// anything reads the request, in proxy and forward-auth mode alike.
func TestServerHosts(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) {
		c.Server.Hosts = []string{"127.0.0.1", ".example.test"}
		c.TrustedProxies = []string{"127.0.0.1", "::1"}
	})
	wantStatus(t, g.do(g.client(), "GET", "/public/", nil, ""), 200)
	for _, host := range []string{"evil.com", "127.0.0.1.evil.com", "example.test.evil.com"} {
		code, body := rawRequest(t, g.Listener.Addr().String(), "GET /public/?next=//"+host+"/ HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if code != 400 || !strings.Contains(body, "host_not_allowed") {
			t.Fatalf("Host %s: %d %s", host, code, body)
		}
	}
	code, _ := rawRequest(t, g.Listener.Addr().String(), "GET /public/ HTTP/1.1\r\nHost: app.example.test:8443\r\nConnection: close\r\n\r\n")
	if code != 200 {
		t.Fatalf("listed domain: %d", code)
	}
	if n := g.up.count(); n != 2 {
		t.Fatalf("upstream saw %d requests, want 2", n)
	}
	h := http.Header{"X-Original-Uri": {"/public/"}, "X-Original-Method": {"GET"}, "X-Forwarded-Host": {"evil.com"}}
	wantStatus(t, g.do(http.DefaultClient, "GET", "/_gateway/auth", h, ""), 400)
	h.Set("X-Forwarded-Host", "www.example.test")
	wantStatus(t, g.do(http.DefaultClient, "GET", "/_gateway/auth", h, ""), 200)
}

// TestBodyFailuresAreTheClients: a body longer than server.max_body_bytes
// or one whose chunked framing breaks after the head was forwarded is
// answered 413 / 400, not 502.
func TestBodyFailuresAreTheClients(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) { c.Server.MaxBodyBytes = 10 })
	addr := g.Listener.Addr().String()
	code, _ := rawRequest(t, addr, "POST /public/ HTTP/1.1\r\nHost: gw\r\nContent-Length: 11\r\nConnection: close\r\n\r\n01234567890")
	if code != 413 {
		t.Fatalf("Content-Length over the limit: %d, want 413", code)
	}
	// Chunked: the length is unknown until the body exceeds the limit.
	code, _ = rawRequest(t, addr, "POST /public/ HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n")
	if code != 413 {
		t.Fatalf("chunked body over the limit: %d, want 413", code)
	}
	// A bad chunk line sent after the head (a separate write).
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	fmt.Fprint(conn, "POST /public/ HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the head is forwarded before the body comes
	fmt.Fprint(conn, "3\r\nabc\r\nnot-hex\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("bad chunk after the head: %d, want 400", resp.StatusCode)
	}
}

// TestMultipartMethodOverride: a multipart form carrying "_method" is
// refused and never reaches the app complete; other multipart bodies
// pass byte for byte with their Content-Length.
func TestMultipartMethodOverride(t *testing.T) {
	type got struct {
		cl   int64
		body string
	}
	complete := make(chan got, 10)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err == nil {
			complete <- got{r.ContentLength, string(b)}
		}
	}))
	defer app.Close()
	g := newGateway(t, func(c *config.Config, _ *fs.FS) { c.Upstreams[0].URL = app.URL })
	cookie := g.login(t, "alice")
	send := func(body string) int {
		raw := "POST /account/upload HTTP/1.1\r\nHost: gw\r\nCookie: " + g.cfg.Session.CookieName + "=" + cookie +
			"\r\nContent-Type: multipart/form-data; boundary=B0und\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\nConnection: close\r\n\r\n" + body
		code, _ := rawRequest(t, g.Listener.Addr().String(), raw)
		return code
	}
	ok := "--B0und\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n--B0und--\r\n"
	if code := send(ok); code != 200 {
		t.Fatalf("ordinary multipart: %d", code)
	}
	if g := <-complete; g.body != ok || g.cl != int64(len(ok)) {
		t.Fatalf("app got %+v", g)
	}
	bad := "--B0und\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n--B0und\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--B0und--\r\n"
	if code := send(bad); code != 400 {
		t.Fatalf("multipart with _method: %d, want 400", code)
	}
	select {
	case g := <-complete:
		t.Fatalf("the app received a complete request: %+v", g)
	case <-time.After(200 * time.Millisecond):
	}
}
