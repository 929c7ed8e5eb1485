package server_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/metrics"
	"github.com/djangate/gateway/internal/server"
)

// TestAccessLog: one line per request with what ops need, never the
// query, cookies or tokens.
func TestAccessLog(t *testing.T) {
	g := newGateway(t)
	cookie := g.login(t, "alice")
	h := http.Header{"Cookie": {g.cfg.Session.CookieName + "=" + cookie}}
	wantStatus(t, g.do(g.client(), "GET", "/editors/doc?secret=s3cr3t", h, ""), 200)
	var line map[string]any
	for _, l := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"access"`) && strings.Contains(l, "/editors/doc") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access line in:\n%s", g.logs.String())
	}
	for k, want := range map[string]any{"method": "GET", "path": "/editors/doc", "status": float64(200), "user": "alice", "backend": "session", "upstream": "app", "client_ip": "127.0.0.1"} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	for _, k := range []string{"request_id", "duration", "bytes"} {
		if line[k] == nil {
			t.Errorf("no %s", k)
		}
	}
	if strings.Contains(g.logs.String(), "s3cr3t") || strings.Contains(g.logs.String(), cookie) {
		t.Fatal("the query or the session id was logged")
	}
	off := false
	quiet := newGateway(t, func(c *config.Config, _ *fs.FS) { c.Log.Access = &off })
	wantStatus(t, quiet.do(quiet.client(), "GET", "/public/", nil, ""), 200)
	if strings.Contains(quiet.logs.String(), `"msg":"access"`) {
		t.Fatal("access log written while log.access is false")
	}
}

// TestRequestIDFromTrustedProxy: a trusted proxy's X-Request-Id is kept
// end to end; anyone else's is replaced.
func TestRequestIDFromTrustedProxy(t *testing.T) {
	trusted := newGateway(t, func(c *config.Config, _ *fs.FS) { c.TrustedProxies = []string{"127.0.0.1", "::1"} })
	resp := trusted.do(trusted.client(), "GET", "/public/", http.Header{"X-Request-Id": {"lb-7f3a.1"}}, "")
	wantStatus(t, resp, 200)
	if resp.Header.Get("X-Request-Id") != "lb-7f3a.1" || trusted.up.last(t).Header.Get("X-Request-Id") != "lb-7f3a.1" {
		t.Fatalf("trusted id not kept: response %q, upstream %q", resp.Header.Get("X-Request-Id"), trusted.up.last(t).Header.Get("X-Request-Id"))
	}
	// Malformed ids are replaced even from a trusted proxy.
	resp = trusted.do(trusted.client(), "GET", "/public/", http.Header{"X-Request-Id": {"bad id\"<x>"}}, "")
	wantStatus(t, resp, 200)
	if strings.Contains(resp.Header.Get("X-Request-Id"), "bad") {
		t.Fatal("malformed id kept")
	}
	g := newGateway(t)
	resp = g.do(g.client(), "GET", "/public/", http.Header{"X-Request-Id": {"lb-7f3a.1"}}, "")
	wantStatus(t, resp, 200)
	if got := g.up.last(t).Header.Get("X-Request-Id"); got == "lb-7f3a.1" || len(got) != 32 || got != resp.Header.Get("X-Request-Id") {
		t.Fatalf("untrusted id: upstream %q, response %q", got, resp.Header.Get("X-Request-Id"))
	}
}

// TestOpsListener: /healthz, /readyz (503 while Redis is down), pprof
// only when enabled, and nothing of the traffic side.
func TestOpsListener(t *testing.T) {
	g := newGateway(t, func(c *config.Config, _ *fs.FS) { c.Ops = config.Ops{Listen: "127.0.0.1:19090", Pprof: true} }) // served below by httptest
	ops := httptest.NewServer(g.srv.OpsHandler())
	defer ops.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readBody(t, resp)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthz %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Fatalf("pprof %d", code)
	}
	if code, _ := get("/_gateway/login"); code != 404 {
		t.Fatalf("traffic routes on the ops listener: %d", code)
	}
	g.redis.Stop()
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"not_ready"`) {
		t.Fatalf("readyz with Redis down: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz with Redis down: %d (the process is alive)", code)
	}
	plain := newGateway(t)
	ops2 := httptest.NewServer(plain.srv.OpsHandler())
	defer ops2.Close()
	resp, err := http.Get(ops2.URL + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("pprof without ops.pprof: %d", resp.StatusCode)
	}
}

// TestMetricsEndToEnd: real traffic shows in /metrics with the real
// metrics package.
func TestMetricsEndToEnd(t *testing.T) {
	m := metrics.New()
	g := newGatewayWith(t, func(o *server.Options) { o.Metrics = m })
	cookie := g.login(t, "alice")
	h := http.Header{"Cookie": {g.cfg.Session.CookieName + "=" + cookie}}
	wantStatus(t, g.do(g.client(), "GET", "/editors/x", h, ""), 200)
	wantStatus(t, g.do(g.client(), "GET", "/admin/", h, ""), 403)
	wantStatus(t, g.do(g.client(), "GET", "/public/", nil, ""), 200)
	ops := httptest.NewServer(g.srv.OpsHandler())
	defer ops.Close()
	resp, err := http.Get(ops.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	for _, want := range []string{
		`gateway_requests_total{code="2xx",upstream="app"} 2`,
		`gateway_requests_total{code="4xx",upstream="gateway"} 1`,
		`gateway_policy_decisions_total{reason="route",result="allow"} 2`,
		`gateway_policy_decisions_total{reason="route",result="deny"} 1`,
		`gateway_authn_total{backend="session",outcome="authenticated"} 2`,
		`gateway_logins_total{outcome="success"} 1`,
		`gateway_sessions_created_total 1`,
		`gateway_upstream_duration_seconds_count{upstream="app"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
