// Package testredis starts a real redis-server for tests: on a free loopback
// port, in a temporary directory, stopped when the test ends. Tests never
// touch a shared Redis.
package testredis

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by one test.
type Server struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
}

// Start launches redis-server and registers its shutdown with t.Cleanup. The
// test fails (not skips) when redis-server is missing: CI installs it.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testredis: redis-server not found on PATH (apt-get install -y redis-server): %v", err)
	}
	s := &Server{t: t, dir: t.TempDir(), port: freePort(t)}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server",
		"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testredis: start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr()) == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.t.Fatalf("testredis: redis-server on %s did not answer PING within 10s; log:\n%s", s.Addr(), log)
}

// Stop kills the server (idempotent). Data is lost: it keeps nothing on disk.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testredis: find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Stall makes the server unresponsive for d, as DEBUG SLEEP does, and
// returns when it answers again. testredis leaves enable-debug-command at
// its default (no), which refuses DEBUG; a Lua script that spins for d
// blocks Redis the same way (below busy-reply-threshold, 5s, nobody gets
// even BUSY). how names the method used.
func (s *Server) Stall(d time.Duration) (how string, err error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, ReadTimeout: d + 5*time.Second})
	defer c.Close()
	ctx := context.Background()
	err = c.Do(ctx, "DEBUG", "SLEEP", fmt.Sprintf("%.3f", d.Seconds())).Err()
	if err == nil || !strings.Contains(err.Error(), "not allowed") {
		return "DEBUG SLEEP", err
	}
	const spin = `local s = redis.call('TIME')
local stop = s[1] * 1000000 + s[2] + tonumber(ARGV[1])
while true do
  local n = redis.call('TIME')
  if n[1] * 1000000 + n[2] >= stop then return 1 end
end`
	return "EVAL (spin)", c.Eval(ctx, spin, nil, d.Microseconds()).Err()
}
