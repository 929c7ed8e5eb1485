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

// SentinelMaster is the name the sentinels of a Sentinel group monitor
// the master under.
const SentinelMaster = "mymaster"

// Sentinel is a real Sentinel deployment owned by one test: a master, one
// replica and three sentinels (quorum 2, down-after 1s), every process on
// a free loopback port. Everything is killed when the test ends.
type Sentinel struct {
	t         testing.TB
	dir       string
	servers   []*proc // [0] the initial master, [1] its replica
	sentinels []*proc
}

// StartSentinel starts the group and waits until the replica is in sync
// and every sentinel knows the replica and the two other sentinels, so a
// failover can happen at once. The sentinels run as `redis-sentinel`
// when installed (Debian package redis-sentinel), else as
// `redis-server --sentinel`.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testredis: redis-server not found on PATH (apt-get install -y redis-server): %v", err)
	}
	s := &Sentinel{t: t, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	for i := 0; i < 2; i++ {
		port := freePort(t)
		d := filepath.Join(s.dir, fmt.Sprintf("redis%d", i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		args := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", d, "--logfile", filepath.Join(d, "redis.log")}
		if i == 1 {
			args = append(args, "--replicaof", "127.0.0.1", fmt.Sprint(s.servers[0].port))
		}
		s.servers = append(s.servers, startProc(t, d, port, "redis-server", args...))
	}
	s.waitFor(15*time.Second, "replica in sync", func() (bool, string) {
		info, err := nodeCmd(s.servers[1].addr(), "INFO", "replication")
		return err == nil && strings.Contains(info, "master_link_status:up"), info
	})
	name := "redis-server"
	if _, err := exec.LookPath("redis-sentinel"); err == nil {
		name = "redis-sentinel"
	}
	for i := 0; i < 3; i++ {
		port := freePort(t)
		d := filepath.Join(s.dir, fmt.Sprintf("sentinel%d", i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(d, "sentinel.conf")
		m := SentinelMaster
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n", port, d, filepath.Join(d, "sentinel.log")) +
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n", m, s.servers[0].port) +
			fmt.Sprintf("sentinel down-after-milliseconds %s 1000\n", m) +
			fmt.Sprintf("sentinel failover-timeout %s 10000\n", m) +
			fmt.Sprintf("sentinel parallel-syncs %s 1\n", m)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{conf}
		if name == "redis-server" {
			args = append(args, "--sentinel")
		}
		s.sentinels = append(s.sentinels, startProc(t, d, port, name, args...))
	}
	s.waitFor(30*time.Second, "sentinels know the replica and each other", func() (bool, string) {
		var b strings.Builder
		ok := true
		for _, sn := range s.sentinels {
			rs, err1 := sentinelCount(sn.addr(), "REPLICAS")
			ss, err2 := sentinelCount(sn.addr(), "SENTINELS")
			fmt.Fprintf(&b, "%s: replicas %d (%v), other sentinels %d (%v)\n", sn.addr(), rs, err1, ss, err2)
			if rs != 1 || ss != 2 {
				ok = false
			}
		}
		return ok, b.String()
	})
	return s
}

// Addrs are host:port of the three sentinels.
func (s *Sentinel) Addrs() []string {
	a := make([]string, len(s.sentinels))
	for i, p := range s.sentinels {
		a[i] = p.addr()
	}
	return a
}

// MasterName is the monitored master's name (SentinelMaster).
func (s *Sentinel) MasterName() string { return SentinelMaster }

// Master is host:port of the current master as the first sentinel that
// answers reports it.
func (s *Sentinel) Master() string {
	s.t.Helper()
	for _, sn := range s.sentinels {
		if a, err := masterAddr(sn.addr()); err == nil {
			return a
		}
	}
	s.t.Fatal("testredis: no sentinel reports a master")
	return ""
}

// Failover asks a sentinel for a failover (SENTINEL FAILOVER) and waits
// until every sentinel reports the replica as the master and it answers
// as one. It returns the new master's host:port.
func (s *Sentinel) Failover() string {
	s.t.Helper()
	old := s.Master()
	if _, err := nodeCmd(s.sentinels[0].addr(), "SENTINEL", "FAILOVER", SentinelMaster); err != nil {
		s.t.Fatalf("testredis: SENTINEL FAILOVER: %v", err)
	}
	return s.waitNewMaster(old)
}

// KillMaster kills the current master's process, as a crash would, and
// waits until the sentinels have promoted the replica. It returns the new
// master's host:port. The old master stays down.
func (s *Sentinel) KillMaster() string {
	s.t.Helper()
	old := s.Master()
	for _, p := range s.servers {
		if p.addr() == old {
			p.stop()
		}
	}
	return s.waitNewMaster(old)
}

func (s *Sentinel) waitNewMaster(old string) string {
	s.t.Helper()
	var now string
	s.waitFor(60*time.Second, "a new master", func() (bool, string) {
		var b strings.Builder
		now = ""
		for _, sn := range s.sentinels {
			a, err := masterAddr(sn.addr())
			fmt.Fprintf(&b, "%s says master %s (%v)\n", sn.addr(), a, err)
			if err != nil || a == old || (now != "" && a != now) {
				return false, b.String()
			}
			now = a
		}
		role, err := nodeCmd(now, "ROLE")
		fmt.Fprintf(&b, "%s ROLE: %s (%v)\n", now, role, err)
		return err == nil && strings.HasPrefix(role, "[master "), b.String()
	})
	return now
}

// Stop kills every process (idempotent).
func (s *Sentinel) Stop() {
	for _, p := range s.sentinels {
		p.stop()
	}
	for _, p := range s.servers {
		p.stop()
	}
}

func (s *Sentinel) waitFor(timeout time.Duration, what string, cond func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("testredis: sentinel group: no %s within %s; last state:\n%s", what, timeout, last)
}

func masterAddr(sentinel string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hp, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return "", err
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("unexpected reply %v", hp)
	}
	return hp[0] + ":" + hp[1], nil
}

// sentinelCount is the number of entries of SENTINEL REPLICAS|SENTINELS
// for the master.
func sentinelCount(sentinel, what string) (int, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var (
		v   []map[string]string
		err error
	)
	if what == "REPLICAS" {
		v, err = sc.Replicas(ctx, SentinelMaster).Result()
	} else {
		v, err = sc.Sentinels(ctx, SentinelMaster).Result()
	}
	return len(v), err
}
