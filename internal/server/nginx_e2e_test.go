package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startNginx runs a real nginx with examples/nginx/nginx.conf, its
// listen address and upstreams pointed at gateway and app, and returns
// its base URL.
func startNginx(t *testing.T, gateway, app string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/nginx"); e == nil {
			bin = "/usr/sbin/nginx"
		} else if os.Getenv("CI") != "" {
			t.Fatal("nginx is not installed: apt-get install nginx-light (the forward-auth example is tested against it)")
		} else {
			t.Skip("nginx not on PATH; install nginx-light to run this test")
		}
	}
	example, err := os.ReadFile("../../examples/nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	conf := string(example)
	for _, r := range [][2]string{
		{"listen 80;", "listen " + addr + ";"},
		{"server 127.0.0.1:8080;", "server " + strings.TrimPrefix(gateway, "http://") + ";"},
		{"server 127.0.0.1:8000;", "server " + strings.TrimPrefix(app, "http://") + ";"},
		{"http {", fmt.Sprintf("http {\n    access_log %[1]s/access.log;\n    client_body_temp_path %[1]s/client_body;\n"+
			"    proxy_temp_path %[1]s/proxy;\n    fastcgi_temp_path %[1]s/fastcgi;\n    uwsgi_temp_path %[1]s/uwsgi;\n    scgi_temp_path %[1]s/scgi;\n", dir)},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("examples/nginx/nginx.conf no longer contains %q", r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	head := fmt.Sprintf("pid %[1]s/nginx.pid;\nerror_log %[1]s/error.log info;\n", dir)
	if os.Geteuid() == 0 {
		head += "user root;\n" // workers must reach the temp dir
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(head+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // fast shutdown (SIGINT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output: %s\nerror.log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNginxForwardAuth(t *testing.T) {
	g := newGateway(t, trustLoopback)
	// The app behind nginx: echoes the identity headers it receives.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"uri": r.RequestURI, "user": r.Header.Values("X-Remote-User"),
			"email": r.Header.Values("X-Remote-Email"), "groups": r.Header.Values("X-Remote-Groups"),
		})
	}))
	t.Cleanup(app.Close)
	base := startNginx(t, g.URL, app.URL)

	client := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	get := func(c *http.Client, path string, h map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	login := func(user string) *http.Client {
		t.Helper()
		c := client()
		body, _ := json.Marshal(map[string]string{"username": user, "password": testPassword})
		resp, err := c.Post(base+"/_gateway/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, resp, 200)
		return c
	}
	type echo struct {
		URI                 string
		User, Email, Groups []string
	}
	appSaw := func(resp *http.Response) echo {
		t.Helper()
		var e echo
		if err := json.Unmarshal([]byte(wantStatus(t, resp, 200)), &e); err != nil {
			t.Fatalf("not the app's answer: %v", err)
		}
		return e
	}

	alice, bob := login("alice"), login("bob")

	t.Run("allowed request reaches the app with the identity", func(t *testing.T) {
		e := appSaw(get(alice, "/editors/?page=2", nil))
		if e.URI != "/editors/?page=2" || len(e.User) != 1 || e.User[0] != "alice" ||
			len(e.Email) != 1 || e.Email[0] != "alice@example.com" || len(e.Groups) != 1 || e.Groups[0] != "editors" {
			t.Fatalf("app saw %+v", e)
		}
	})
	t.Run("anonymous browser is sent to the login page", func(t *testing.T) {
		resp := get(client(), "/account/?tab=1", map[string]string{"Accept": "text/html"})
		wantStatus(t, resp, http.StatusFound)
		want := "/_gateway/login?next=" + url.QueryEscape("/account/?tab=1")
		if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, want) {
			t.Fatalf("Location = %q, want …%s", loc, want)
		}
		// And the login page is served through nginx.
		page := get(client(), strings.TrimPrefix(resp.Header.Get("Location"), base), map[string]string{"Accept": "text/html"})
		if body := wantStatus(t, page, 200); !strings.Contains(body, "csrfmiddlewaretoken") {
			t.Fatalf("login page through nginx: %.200s", body)
		}
	})
	t.Run("denied request gets 403", func(t *testing.T) {
		wantStatus(t, get(bob, "/editors/", nil), http.StatusForbidden)
	})
	t.Run("a client's fake identity header never reaches the app", func(t *testing.T) {
		fake := map[string]string{"X-Remote-User": "root", "X-Remote-Groups": "editors", "X-Remote-Email": "root@example.com"}
		e := appSaw(get(client(), "/public/x", fake))
		if len(e.User)+len(e.Email)+len(e.Groups) != 0 {
			t.Fatalf("anonymous request: app saw %+v", e)
		}
		e = appSaw(get(bob, "/account/", fake))
		if len(e.User) != 1 || e.User[0] != "bob" || len(e.Groups) != 0 || len(e.Email) != 1 || e.Email[0] != "bob@example.com" {
			t.Fatalf("bob's request: app saw %+v", e)
		}
		wantStatus(t, get(bob, "/editors/", fake), http.StatusForbidden)
	})
	t.Run("forward-auth endpoint is internal", func(t *testing.T) {
		wantStatus(t, get(alice, "/_gateway/auth", map[string]string{"X-Original-URI": "/editors/", "X-Original-Method": "GET"}), http.StatusNotFound)
	})
}
