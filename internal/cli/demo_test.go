package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/demo"
)

// TestDemoQuickstart runs the quickstart as a new user would: the demo
// store and app, a login with a printed password, and a proxied page that
// shows the identity headers.
func TestDemoQuickstart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := demo.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv, _, err := buildServer(ctx, d.Config, d.Redis, demo.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln, time.Second) }()
	base := "http://" + ln.Addr().String()

	var banner bytes.Buffer
	d.Banner(&banner, base)
	if !strings.Contains(banner.String(), "DEMO MODE") {
		t.Fatal("banner does not say it is a demo")
	}
	var editorPassword string
	for _, u := range d.Users {
		if !strings.Contains(banner.String(), u.Password) {
			t.Fatalf("banner does not print %s's password", u.Username)
		}
		if u.Username == "editor" {
			editorPassword = u.Password
		}
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body, _ := json.Marshal(map[string]string{"username": "editor", "password": editorPassword})
	resp, err := c.Post(base+"/_gateway/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login status %d", resp.StatusCode)
	}
	resp, err = c.Get(base + "/editors/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<code>editor</code>") {
		t.Fatalf("status %d; demo app page does not show the identity header:\n%.500s", resp.StatusCode, page)
	}
	resp, err = c.Get(base + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("editor on /admin/: status %d, want 403", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("server did not shut down cleanly: %v", err)
	}
}
