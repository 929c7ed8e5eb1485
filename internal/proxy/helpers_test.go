package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/canonical"
	"github.com/djangate/gateway/internal/config"
)

var testHeaders = config.IdentityHeaders{
	User:   "X-Remote-User",
	Email:  "X-Remote-Email",
	Groups: "X-Remote-Groups",
}

var gatewayCookies = []string{"sessionid", "csrftoken"}

// testUsers maps a sessionid cookie value to the identity the test
// gateway forwards, standing in for the session store.
var testUsers = map[string]*Identity{
	"alice": {Username: "alice", Email: "alice@example.com", Groups: []string{"staff", "ops"}},
	"weird": {
		Username: "evil\r\nX-Injected: 1",
		Groups:   []string{"a,b", "Ops Team", " pad ", "ünï", "", "100%", "tab\there"},
	},
	"nameless": {Email: "x@example.com", Groups: []string{"admin"}},
}

// seenRequest is what an upstream received.
type seenRequest struct {
	RequestURI string
	Host       string
	Header     http.Header
}

// recordingUpstream answers 200 "ok" and reports every request it gets.
func recordingUpstream(t *testing.T) (*httptest.Server, <-chan seenRequest) {
	t.Helper()
	ch := make(chan seenRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seenRequest{RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func upstreamConfig(name, rawURL string) config.Upstream {
	return config.Upstream{
		Name: name,
		URL:  rawURL,
		Timeouts: config.UpstreamTimeouts{
			Dial:           time.Second,
			ResponseHeader: 2 * time.Second,
			Idle:           30 * time.Second,
		},
	}
}

// testGateway is a minimal server in front of a Proxy: canonical path,
// Select, identity from the sessionid cookie, Forward.
type testGateway struct {
	p      *Proxy
	srv    *httptest.Server
	errs   chan error         // errors given to Options.ErrorHandler
	errReq chan *http.Request // the request given to Options.ErrorHandler
	served chan struct{}      // one value per finished Forward
	logs   *recordHandler
}

func newTestGateway(t *testing.T, ups ...config.Upstream) *testGateway {
	t.Helper()
	g := &testGateway{
		errs:   make(chan error, 16),
		errReq: make(chan *http.Request, 16),
		served: make(chan struct{}, 64),
		logs:   &recordHandler{},
	}
	p, err := New(ups, testHeaders, gatewayCookies, Options{
		Logger: slog.New(g.logs),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.errs <- err
			g.errReq <- r
			defaultErrorHandler(w, r, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	g.p = p
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { g.served <- struct{}{} }()
		cp, err := canonical.Path(r.RequestURI)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		up, ok := p.Select(r.Host, cp)
		if !ok {
			http.NotFound(w, r)
			return
		}
		var id *Identity
		if c, err := r.Cookie("sessionid"); err == nil {
			id = testUsers[c.Value]
		}
		p.Forward(w, r, up, id, cp, "")
	}))
	t.Cleanup(func() {
		g.srv.Close()
		p.CloseIdleConnections()
	})
	return g
}

func (g *testGateway) addr() string { return g.srv.Listener.Addr().String() }

// rawDo sends a hand-written request over a fresh TCP connection, so
// header names and request-targets reach the gateway exactly as written.
// lines are the request line and header lines, without CRLFs.
func rawDo(t *testing.T, addr string, lines ...string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := strings.Join(lines, "\r\n") + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// recordHandler is a slog.Handler that keeps records for assertions.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) atLeast(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var msgs []string
	for _, r := range h.records {
		if r.Level >= level {
			msgs = append(msgs, r.Message)
		}
	}
	return msgs
}
