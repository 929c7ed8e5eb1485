package redisclient

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/testredis"
)

func base() config.Redis {
	c := config.Default()
	return c.Redis
}

// Each mode builds its client; options that the gateway relies on are set.
func TestNewPerMode(t *testing.T) {
	c := base()
	rdb, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cl, ok := rdb.(*redis.Client)
	if !ok || cl.Options().Addr != c.Addr || cl.Options().MaxRetries != 1 {
		t.Fatalf("standalone: %T %+v", rdb, cl.Options())
	}

	c = base()
	c.Mode, c.Addrs, c.MasterName, c.DB = config.RedisModeSentinel, []string{"127.0.0.1:26379"}, "mymaster", 2
	rdb, err = New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(*redis.Client); !ok {
		t.Fatalf("sentinel: %T, want the failover *redis.Client", rdb)
	}

	c = base()
	c.Mode, c.Addrs = config.RedisModeCluster, []string{"127.0.0.1:7000", "127.0.0.1:7001"}
	rdb, err = New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok || cc.Options().ReadOnly || cc.Options().RouteByLatency || cc.Options().RouteRandomly {
		t.Fatalf("cluster: %T, reads must stay on masters", rdb)
	}

	c = base()
	c.Mode = "bogus"
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "redis.mode") {
		t.Fatalf("unknown mode: %v", err)
	}
}

func TestTLSFileErrorsNameTheKey(t *testing.T) {
	for _, mode := range config.RedisModes {
		c := base()
		c.Mode = mode
		c.TLS.Enabled = true
		c.TLS.CAFile = filepath.Join(t.TempDir(), "missing.pem")
		if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "redis.tls.ca_file: ") {
			t.Fatalf("%s: %v", mode, err)
		}
	}
}

func TestWhere(t *testing.T) {
	c := base()
	if got := Where(c); got != "127.0.0.1:6379 (redis.addr)" {
		t.Errorf("standalone: %q", got)
	}
	c.Mode, c.Addrs, c.MasterName = config.RedisModeSentinel, []string{"a:1", "b:2"}, "m"
	if got := Where(c); got != `master "m" via sentinels a:1,b:2 (redis.master_name, redis.addrs)` {
		t.Errorf("sentinel: %q", got)
	}
	c.Mode = config.RedisModeCluster
	if got := Where(c); got != "cluster nodes a:1,b:2 (redis.addrs)" {
		t.Errorf("cluster: %q", got)
	}
}

// Every mode talks to a real deployment and runs a script.
func TestNewConnects(t *testing.T) {
	script := redis.NewScript(`return redis.call("INCR", KEYS[1])`)
	check := func(t *testing.T, c config.Redis) {
		c.DialTimeout, c.ReadTimeout, c.WriteTimeout = time.Second, time.Second, time.Second
		rdb, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		ctx := context.Background()
		if n, err := script.Run(ctx, rdb, []string{"gw:{auth}:n"}).Int(); err != nil || n != 1 {
			t.Fatalf("script: %d, %v", n, err)
		}
	}
	t.Run("standalone", func(t *testing.T) {
		c := base()
		c.Addr = testredis.Start(t).Addr()
		check(t, c)
	})
	t.Run("sentinel", func(t *testing.T) {
		s := testredis.StartSentinel(t)
		c := base()
		c.Mode, c.Addrs, c.MasterName = config.RedisModeSentinel, s.Addrs(), s.MasterName()
		check(t, c)
	})
	t.Run("cluster", func(t *testing.T) {
		cl := testredis.StartCluster(t)
		c := base()
		c.Mode, c.Addrs = config.RedisModeCluster, cl.Addrs()
		check(t, c)
	})
}
