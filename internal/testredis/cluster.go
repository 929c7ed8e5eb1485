package testredis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a real 3-master Redis Cluster (no replicas) owned by one test:
// three redis-server processes with cluster-enabled on free loopback ports,
// joined with `redis-cli --cluster create`. Everything is killed when the
// test ends.
type Cluster struct {
	t     testing.TB
	nodes []*proc
}

// StartCluster starts the cluster and waits until every node reports
// cluster_state:ok with all 16384 slots assigned. It skips the test when
// redis-cli (Debian package redis-tools, a dependency of redis-server) is
// not installed; a missing redis-server fails it, as Start does.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testredis: redis-server not found on PATH (apt-get install -y redis-server): %v", err)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skipf("testredis: redis-cli not found on PATH, needed to create a Redis Cluster (apt-get install -y redis-tools): %v", err)
	}
	dir := t.TempDir()
	c := &Cluster{t: t}
	t.Cleanup(c.Stop)
	for i := 0; i < 3; i++ {
		port := freePort(t)
		nd := filepath.Join(dir, fmt.Sprintf("node%d", i))
		if err := os.Mkdir(nd, 0o700); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, startProc(t, nd, port, "redis-server",
			"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nd, "nodes.conf"),
			"--cluster-node-timeout", "2000",
			"--save", "", "--appendonly", "no", "--dir", nd,
			"--logfile", filepath.Join(nd, "redis.log")))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testredis: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.waitOK(30 * time.Second)
	return c
}

// Addrs are host:port of the three masters (the seed nodes).
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		a[i] = n.addr()
	}
	return a
}

// Stop kills every node (idempotent).
func (c *Cluster) Stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

func (c *Cluster) waitOK(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.nodes {
			info, err := nodeCmd(n.addr(), "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
				!strings.Contains(info, "cluster_known_nodes:3") {
				ok, last = false, fmt.Sprintf("%s: %v\n%s", n.addr(), err, info)
				break
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("testredis: cluster not ok within %s; last CLUSTER INFO:\n%s", timeout, last)
}

// proc is one redis-server (or sentinel) process.
type proc struct {
	t    testing.TB
	dir  string
	port int
	name string
	args []string
	cmd  *exec.Cmd
}

// startProc starts name args... and waits until 127.0.0.1:port answers
// PING. The log file, if any, is expected in dir/*.log.
func startProc(t testing.TB, dir string, port int, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, dir: dir, port: port, name: name, args: args}
	p.start()
	return p
}

func (p *proc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *proc) start() {
	p.t.Helper()
	cmd := exec.Command(p.name, p.args...)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testredis: start %s: %v", p.name, err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(p.addr()) == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs, _ := filepath.Glob(filepath.Join(p.dir, "*.log"))
	var b strings.Builder
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "%s:\n%s\n", l, data)
	}
	p.t.Fatalf("testredis: %s on %s did not answer PING within 10s; logs:\n%s", p.name, p.addr(), b.String())
}

func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// nodeCmd runs one command on the server at addr and returns its reply
// as text.
func nodeCmd(addr string, args ...any) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := rdb.Do(ctx, args...).Result()
	if err != nil {
		return "", err
	}
	return fmt.Sprint(v), nil
}
