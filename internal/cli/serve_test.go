package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// copyDir copies the flat or nested tree at src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeReloadsPolicy runs `gateway serve` in-process against a real
// redis-server with policy.dir set, then edits the policy on disk, breaks
// it, and sends SIGHUP: edits apply without a restart, a broken edit is
// rejected (logged with file and line) while the previous policy keeps
// serving, and SIGHUP is handled.
func TestServeReloadsPolicy(t *testing.T) {
	e := newTestEnv(t)
	pol := filepath.Join(e.dir, "policies")
	copyDir(t, "../../policies", pol)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--config", e.cfgPath}, IO{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: stderr,
			Environ: []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_LISTEN=" + addr, "GATEWAY_POLICY_DIR=" + pol, "GATEWAY_SESSION_SECURE=false"},
		})
	}()
	status := func() int {
		resp, err := http.Get("http://" + addr + "/account/")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if status() == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: /account/ answers %d, want %d\nlog:\n%s", what, status(), want, stderr.String())
	}
	waitFor("started", 401) // login required by the default policy

	data := filepath.Join(pol, "data.yaml")
	orig, _ := os.ReadFile(data)
	public := strings.Replace(string(orig), "gateway:\n  routes:\n", "gateway:\n  routes:\n    - prefix: /account/\n      public: true\n", 1)
	if err := os.WriteFile(data, []byte(public), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("after making /account/ public", 502) // allowed; the test upstream is down

	// A model declared in the policy data is declared in the store when
	// the edited policy loads: its permissions become grantable.
	models := filepath.Join(pol, "models.yaml")
	origModels, _ := os.ReadFile(models)
	if err := os.WriteFile(models, append(origModels, []byte("    shop.order:\n      permissions:\n        refund_order: Can refund orders\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(e.knownPerms(t), "shop.refund_order") {
		if time.Now().After(deadline) {
			t.Fatalf("shop.order's permissions were not declared after the reload; known beyond the defaults: %v\nlog:\n%s", e.knownPerms(t), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	assertStrings(t, "declared by the reload", e.knownPerms(t), "shop.add_order", "shop.change_order", "shop.delete_order", "shop.refund_order", "shop.view_order")

	if err := os.WriteFile(filepath.Join(pol, "broken.rego"), []byte("package gateway.authz\nthis is not rego\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if s := status(); s != 502 {
		t.Fatalf("a broken edit changed the answer to %d", s)
	}
	if !strings.Contains(stderr.String(), "broken.rego:2") {
		t.Fatalf("the rejected reload is not logged with file and line:\n%s", stderr.String())
	}

	// Restore the table and send SIGHUP too: serve must handle the signal
	// (its default action would kill the process) and serve the restored
	// policy. The watcher also sees this write; engine tests cover Reload
	// on its own.
	if err := os.Remove(filepath.Join(pol, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if err := os.WriteFile(data, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("after restoring the table and SIGHUP", 401)

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
}
