package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/internal/throttle"
	"github.com/djangate/gateway/policies"
)

// healthDoc is the /healthz document.
type healthDoc struct {
	Status string `json:"status"`
	Redis  *struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"redis"`
	Policy *struct {
		Revision        string `json:"revision"`
		LoadedAt        string `json:"loaded_at"`
		LastReloadAt    string `json:"last_reload_at"`
		LastReloadError string `json:"last_reload_error"`
	} `json:"policy"`
}

// countingDecider counts the policy evaluations.
type countingDecider struct {
	server.Decider
	n atomic.Int64
}

func (c *countingDecider) Decide(ctx context.Context, in *authz.Input) (authz.Decision, error) {
	c.n.Add(1)
	return c.Decider.Decide(ctx, in)
}

// healthGateway is a second gateway over g's Redis, stores and config,
// with the health sources wired as cmd serve wires them: the engine's
// Status and a PING of g's Redis (unless pinger is given).
func healthGateway(t *testing.T, g *gw, engine *authz.Engine, pinger server.RedisPinger, cfg *config.Config) (*httptest.Server, *countingDecider) {
	t.Helper()
	if pinger == nil {
		pinger = server.PingFunc(func(ctx context.Context) error { return g.rdb.Ping(ctx).Err() })
	}
	if cfg == nil {
		cfg = g.cfg
	}
	dec := &countingDecider{Decider: engine}
	srv, err := server.New(server.Options{
		Config: cfg, Users: g.users, Sessions: g.sessions, Policy: dec,
		PolicyStatus: engine, Redis: pinger,
		Throttle: throttle.New(g.rdb, cfg.Redis.KeyPrefix, throttle.ConfigFrom(cfg.Throttle)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs, dec
}

func newTestEngine(t *testing.T, o authz.Options) *authz.Engine {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	e, err := authz.New(context.Background(), o)
	if err != nil {
		t.Fatalf("authz.New: %v", err)
	}
	return e
}

// getHealth fetches /_gateway/healthz, optionally with a session cookie.
func getHealth(t *testing.T, base string, cookie *http.Cookie) (*http.Response, healthDoc, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/_gateway/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc healthDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return resp, doc, string(body)
}

func TestHealthOK(t *testing.T) {
	g := newGateway(t)
	engine := newTestEngine(t, authz.Options{FS: policies.FS, Source: "embedded"})
	hs, dec := healthGateway(t, g, engine, nil, nil)

	resp, doc, body := getHealth(t, hs.URL, nil)
	if resp.StatusCode != http.StatusOK || doc.Status != "ok" {
		t.Fatalf("status %d, %s", resp.StatusCode, body)
	}
	if doc.Redis == nil || !doc.Redis.OK || doc.Redis.Error != "" {
		t.Errorf("redis = %s", body)
	}
	if doc.Policy == nil || doc.Policy.Revision != engine.Revision() || doc.Policy.Revision == "" {
		t.Fatalf("policy = %s, want revision %s", body, engine.Revision())
	}
	if at, err := time.Parse(time.RFC3339, doc.Policy.LoadedAt); err != nil || time.Since(at) > time.Minute {
		t.Errorf("loaded_at = %q (%v)", doc.Policy.LoadedAt, err)
	}
	if doc.Policy.LastReloadAt != "" || doc.Policy.LastReloadError != "" {
		t.Errorf("no reload happened, got %s", body)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(body, g.cfg.SecretKey) {
		t.Error("the secret key is in the health document")
	}

	// A session cookie changes nothing: no identification, no policy.
	_, doc2, _ := getHealth(t, hs.URL, &http.Cookie{Name: g.cfg.Session.CookieName, Value: strings.Repeat("a", 32)})
	if doc2.Status != "ok" {
		t.Errorf("with a cookie: %+v", doc2)
	}

	// HEAD answers too, without a body; other methods are refused.
	head, err := http.Head(hs.URL + "/_gateway/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(head.Body)
	head.Body.Close()
	if head.StatusCode != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD: %d, %d body bytes", head.StatusCode, len(b))
	}
	post, err := http.Post(hs.URL+"/_gateway/healthz", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", post.StatusCode)
	}

	if n := dec.n.Load(); n != 0 {
		t.Errorf("the policy was asked %d time(s) for /healthz", n)
	}
	if g.up.count() != 0 {
		t.Error("/healthz was forwarded upstream")
	}
}

// Without health sources (the existing fixture passes none) the parts are
// left out and the check passes.
func TestHealthWithoutSources(t *testing.T) {
	g := newGatewayWith(t, func(o *server.Options) { o.Redis, o.PolicyStatus = nil, nil })
	resp, doc, body := getHealth(t, g.URL, nil)
	if resp.StatusCode != http.StatusOK || doc.Status != "ok" || doc.Redis != nil || doc.Policy != nil ||
		strings.Contains(body, `"redis"`) || strings.Contains(body, `"policy"`) {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
}

// After a failed reload /healthz shows the error (file and line) and the
// revision still in force; a later good reload clears it.
func TestHealthShowsLastReloadError(t *testing.T) {
	g := newGateway(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS); err != nil {
		t.Fatal(err)
	}
	engine := newTestEngine(t, authz.Options{FS: os.DirFS(dir), Source: dir, Logger: nil})
	hs, _ := healthGateway(t, g, engine, nil, nil)
	rev := engine.Revision()

	broken := filepath.Join(dir, "broken.rego")
	if err := os.WriteFile(broken, []byte("package gateway.authz\nthis is not rego\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reloadErr := engine.Reload(context.Background())
	if reloadErr == nil {
		t.Fatal("Reload of a broken policy succeeded")
	}
	resp, doc, body := getHealth(t, hs.URL, nil)
	if resp.StatusCode != http.StatusOK || doc.Status != "ok" {
		t.Errorf("a failed reload made the gateway unhealthy: %d %s", resp.StatusCode, body)
	}
	if doc.Policy.Revision != rev || doc.Policy.LastReloadError != reloadErr.Error() ||
		!strings.Contains(doc.Policy.LastReloadError, "broken.rego:2") || doc.Policy.LastReloadAt == "" {
		t.Errorf("policy = %s; want revision %s and the reload error", body, rev)
	}

	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	if err := engine.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, doc, body = getHealth(t, hs.URL, nil)
	if doc.Policy.LastReloadError != "" || doc.Policy.LastReloadAt == "" {
		t.Errorf("after a good reload: %s", body)
	}
}

// Redis stopped: 503, redis.ok false with the error; nothing panics.
func TestHealthRedisDown(t *testing.T) {
	g := newGateway(t)
	engine := newTestEngine(t, authz.Options{FS: policies.FS})
	hs, _ := healthGateway(t, g, engine, nil, nil)
	g.redis.Stop()

	start := time.Now()
	resp, doc, body := getHealth(t, hs.URL, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || doc.Status != "unavailable" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if doc.Redis == nil || doc.Redis.OK || doc.Redis.Error == "" {
		t.Errorf("redis = %s", body)
	}
	if doc.Policy == nil || doc.Policy.Revision != engine.Revision() {
		t.Errorf("policy part missing while Redis is down: %s", body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s", took)
	}

	// HEAD gives the same status.
	head, err := http.Head(hs.URL + "/_gateway/healthz")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("HEAD: %d", head.StatusCode)
	}
}

// A Redis that never answers: 503 after the health timeout, not a hang.
// An error that would carry the Redis password is redacted.
func TestHealthRedisHangsOrLeaks(t *testing.T) {
	g := newGateway(t)
	engine := newTestEngine(t, authz.Options{FS: policies.FS})

	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	hang := server.PingFunc(func(ctx context.Context) error { <-block; return nil })
	hs, _ := healthGateway(t, g, engine, hang, nil)
	start := time.Now()
	resp, doc, body := getHealth(t, hs.URL, nil)
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || doc.Redis.OK || !strings.Contains(doc.Redis.Error, "did not answer") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
	if took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("answered after %s, want about 1s", took)
	}

	const pw = "Redis-Passw0rd-zxcv"
	cfg := *g.cfg
	cfg.Redis.Password = pw
	leak := server.PingFunc(func(ctx context.Context) error { return errors.New("WRONGPASS " + pw + " rejected") })
	hs2, _ := healthGateway(t, g, engine, leak, &cfg)
	resp, _, body = getHealth(t, hs2.URL, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, pw) || !strings.Contains(body, "WRONGPASS") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
}
