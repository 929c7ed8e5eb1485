package testredis

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCluster(t *testing.T) {
	c := StartCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	ctx := context.Background()
	// Keys in every slot range: each master serves a third of them.
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "{auth}:x", "{auth}:y"} {
		if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var mu sync.Mutex
	masters := map[string]bool{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		masters[m.Options().Addr] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("masters = %v, want 3", masters)
	}
	c.Stop()
	c.Stop() // idempotent
}

func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t)
	ctx := context.Background()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName(), SentinelAddrs: s.Addrs()})
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The replica has it before the failover.
	time.Sleep(200 * time.Millisecond)
	old := s.Master()
	now := s.Failover()
	if now == old {
		t.Fatalf("master still %s after SENTINEL FAILOVER", now)
	}
	var got string
	var err error
	for i := 0; i < 50; i++ {
		if got, err = rdb.Get(ctx, "k").Result(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "v" {
		t.Fatalf("after failover GET k = %q, %v", got, err)
	}
	if err := rdb.Set(ctx, "k2", "v", 0).Err(); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	// And a crash: the old master (now a replica) is promoted back.
	if again := s.KillMaster(); again != old {
		t.Fatalf("after killing %s the master is %s, want %s", now, again, old)
	}
}
