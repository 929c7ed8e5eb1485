package cli

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestGracefulShutdown runs the real binary: after SIGTERM it stops
// accepting connections, lets the request in flight finish, and exits 0.
// Its operations listener serves readiness and metrics meanwhile.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	e := newTestEnv(t)
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	entered := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		time.Sleep(1500 * time.Millisecond)
		io.WriteString(w, "slow answer") //nolint:errcheck
	}))
	defer slow.Close()

	addr, opsAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "serve", "--config", e.cfgPath)
	cmd.Env = append(os.Environ(), "GATEWAY_SECRET_KEY="+testSecret, "GATEWAY_LISTEN="+addr, "GATEWAY_OPS_LISTEN="+opsAddr,
		"GATEWAY_UPSTREAMS_0_URL="+slow.URL, "GATEWAY_SESSION_SECURE=false", "GATEWAY_SERVER_SHUTDOWN_GRACE=10s")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get("http://" + opsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := hc.Get("http://" + addr + "/public/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{code: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("the request never reached the upstream:\n%s", logs.String())
	}
	metrics, err := hc.Get("http://" + opsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(mb), "gateway_policy_info{revision=") || !strings.Contains(string(mb), "gateway_redis_command_duration_seconds") {
		t.Fatalf("metrics lack the policy revision or Redis latencies:\n%.2000s", mb)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the request in flight finishes.
	refused := false
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("still accepting connections a second after SIGTERM")
	}
	r := <-done
	if r.err != nil || r.code != 200 || r.body != "slow answer" {
		t.Fatalf("the request in flight: %d %q %v\n%s", r.code, r.body, r.err, logs.String())
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not exit after SIGTERM:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "gateway stopped") {
		t.Errorf("no shutdown line in the log:\n%s", logs.String())
	}
}
