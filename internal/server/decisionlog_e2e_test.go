package server_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/djangate/gateway/internal/config"
)

func withDecisionLog(mutate func(*config.DecisionLog)) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.DecisionLog.Enabled = true
		if mutate != nil {
			mutate(&c.DecisionLog)
		}
	}
}

// decisionLines parses the decision log, one JSON object a line.
func (g *gw) decisionLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(g.dlog.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("decision log line is not JSON: %v: %q", err, line)
		}
		out = append(out, m)
	}
	return out
}

var decisionFields = []string{"allow", "client_ip", "eval_ms", "method", "path", "policy_revision", "reason", "request_id", "time", "upstream", "user"}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestDecisionLogLines(t *testing.T) {
	g := newGateway(t, withDecisionLog(nil))
	alice := g.client()
	wantStatus(t, g.loginJSON(alice, "alice", testPassword), 200)

	type call struct {
		c            *http.Client
		method, path string
		user         string
		allow        bool
		wantPath     string
	}
	calls := []call{
		{g.client(), "GET", "/public/x", "", true, "/public/x"},
		{g.client(), "GET", "/account/", "", false, "/account/"},
		{alice, "GET", "/editors/", "alice", true, "/editors/"},
		{alice, "DELETE", "/api/blog/post/1/", "alice", false, "/api/blog/post/1/"},
		{g.client(), "GET", "/public/a/../b%7e", "", true, "/public/b~"},
	}
	var ids []string
	for _, c := range calls {
		resp := g.do(c.c, c.method, c.path, nil, "application/json")
		readBody(t, resp)
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	lines := g.decisionLines(t)
	if len(lines) != len(calls) {
		t.Fatalf("%d decision lines for %d decisions:\n%s", len(lines), len(calls), g.dlog.String())
	}
	for i, c := range calls {
		l := lines[i]
		if got := keys(l); !reflect.DeepEqual(got, decisionFields) {
			t.Errorf("line %d fields = %v, want %v", i, got, decisionFields)
		}
		if l["request_id"] != ids[i] || ids[i] == "" {
			t.Errorf("line %d request_id = %v, want the response's X-Request-Id %q", i, l["request_id"], ids[i])
		}
		want := map[string]any{"user": c.user, "method": c.method, "path": c.wantPath, "allow": c.allow, "client_ip": "127.0.0.1", "upstream": "app"}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("line %d %s = %#v, want %#v", i, k, l[k], v)
			}
		}
		if r, _ := l["reason"].(string); r == "" {
			t.Errorf("line %d has no reason", i)
		}
		if r, _ := l["policy_revision"].(string); r == "" {
			t.Errorf("line %d has no policy_revision", i)
		}
		if ms, ok := l["eval_ms"].(float64); !ok || ms < 0 {
			t.Errorf("line %d eval_ms = %#v, want a number", i, l["eval_ms"])
		}
		if ts, _ := l["time"].(string); ts == "" {
			t.Errorf("line %d has no time", i)
		}
	}
	if strings.Contains(g.logs.String(), `"eval_ms"`) {
		t.Error("decision lines went to the process log")
	}
}

func TestDecisionLogPolicyError(t *testing.T) {
	g := newGateway(t, withDecisionLog(func(d *config.DecisionLog) { d.SampleRate = new(0.0) }),
		func(_ *config.Config, f *fs.FS) {
			*f = fstest.MapFS{"authz.rego": {Data: []byte("package gateway.authz\n\ndecision := {\"allow\": to_number(input.request.query) > 0, \"reason\": \"\"}\n")}}
		})
	wantStatus(t, g.do(g.client(), "GET", "/public/?token=s3cr3t-query", nil, ""), 500)
	lines := g.decisionLines(t)
	if len(lines) != 1 {
		t.Fatalf("want 1 line, got:\n%s", g.dlog.String())
	}
	if want := append(slices.Clone(decisionFields), "error"); !reflect.DeepEqual(keys(lines[0]), slices.Sorted(slices.Values(want))) {
		t.Errorf("fields = %v", keys(lines[0]))
	}
	if lines[0]["allow"] != false || lines[0]["error"] != "policy error" {
		t.Errorf("line = %v, want allow false and error \"policy error\"", lines[0])
	}
	if strings.Contains(g.dlog.String(), "s3cr3t") {
		t.Errorf("decision log reveals the query:\n%s", g.dlog.String())
	}
}

func TestDecisionLogSampling(t *testing.T) {
	g := newGateway(t, withDecisionLog(func(d *config.DecisionLog) { d.SampleRate = new(0.0) }))
	c := g.client()
	for range 5 {
		wantStatus(t, g.do(c, "GET", "/public/x", nil, ""), 200)
	}
	resp := g.do(c, "GET", "/account/", nil, "application/json")
	readBody(t, resp)
	lines := g.decisionLines(t)
	if len(lines) != 1 || lines[0]["allow"] != false || lines[0]["request_id"] != resp.Header.Get("X-Request-Id") {
		t.Fatalf("sample_rate 0 must log the denial only, got:\n%s", g.dlog.String())
	}
}

func TestDecisionLogMask(t *testing.T) {
	g := newGateway(t, withDecisionLog(func(d *config.DecisionLog) {
		d.Mask = []string{"user", "path", "client_ip", "reason"}
	}))
	alice := g.client()
	wantStatus(t, g.loginJSON(alice, "alice", testPassword), 200)
	wantStatus(t, g.do(alice, "GET", "/editors/", nil, ""), 200)
	lines := g.decisionLines(t)
	if len(lines) != 1 {
		t.Fatalf("want 1 line, got:\n%s", g.dlog.String())
	}
	for _, k := range []string{"user", "path", "client_ip", "reason"} {
		if lines[0][k] != "***" {
			t.Errorf("%s = %#v, want masked", k, lines[0][k])
		}
	}
	if lines[0]["method"] != "GET" || lines[0]["allow"] != true {
		t.Errorf("unmasked fields changed: %v", lines[0])
	}
	for _, s := range []string{"alice", "/editors/", "127.0.0.1"} {
		if strings.Contains(g.dlog.String(), s) {
			t.Errorf("masked value %q in the decision log", s)
		}
	}
}

func TestDecisionLogNeverHoldsSecrets(t *testing.T) {
	g := newGateway(t, withDecisionLog(nil))
	alice := g.client()
	wantStatus(t, g.loginJSON(alice, "alice", testPassword), 200)
	session := g.sessionCookie(alice)
	h := http.Header{
		"Cookie":        {"other=c00kie-secret"},
		"Authorization": {"Bearer auth-secret"},
		"X-Api-Token":   {"header-secret"},
	}
	for _, c := range []*http.Client{alice, g.client()} {
		for _, p := range []string{"/public/x?token=secret-query", "/editors/?token=secret-query", "/account/?token=secret-query"} {
			readBody(t, g.do(c, "GET", p, h, "application/json"))
		}
	}
	out := g.dlog.String()
	if n := len(g.decisionLines(t)); n != 6 {
		t.Fatalf("%d lines, want 6:\n%s", n, out)
	}
	for _, s := range []string{"c00kie-secret", "auth-secret", "header-secret", "secret-query", "token", testPassword, session} {
		if strings.Contains(out, s) {
			t.Errorf("decision log contains %q:\n%s", s, out)
		}
	}
}

func TestDecisionLogDisabled(t *testing.T) {
	g := newGateway(t)
	c := g.client()
	wantStatus(t, g.do(c, "GET", "/public/x", nil, ""), 200)
	readBody(t, g.do(c, "GET", "/account/", nil, ""))
	if out := g.dlog.String(); out != "" {
		t.Errorf("disabled decision log wrote:\n%s", out)
	}
}
