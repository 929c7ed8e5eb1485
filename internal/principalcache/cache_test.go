package principalcache

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/testredis"
)

// live returns a cache that is marked live by hand (no Redis).
func live(t *testing.T, o Options) *Cache {
	t.Helper()
	if o.MaxEntries == 0 {
		o.MaxEntries = 100
	}
	if o.TTL == 0 {
		o.TTL = time.Minute
	}
	if o.MaxStaleness == 0 {
		o.MaxStaleness = time.Hour
	}
	c := New(o)
	c.reset(true)
	return c
}

func TestCacheBasics(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, c *Cache) (hit bool)
	}{
		{"stored value is served", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Minute, c.Begin(), "u 1")
			_, ok := c.Get("k")
			return ok
		}},
		{"tag drops it", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Minute, c.Begin(), "u 1", "s abc")
			c.Invalidate("s abc")
			_, ok := c.Get("k")
			return ok
		}},
		{"other tag keeps it", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Minute, c.Begin(), "u 1")
			c.Invalidate("u 2")
			_, ok := c.Get("k")
			return ok
		}},
		{"star drops everything", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Minute, c.Begin(), "u 1")
			c.Invalidate("*")
			_, ok := c.Get("k")
			return ok
		}},
		{"load older than an invalidation is refused", func(t *testing.T, c *Cache) bool {
			seq := c.Begin()
			c.Invalidate("u 9") // any change, while the value was being read
			if c.Put("k", 1, time.Minute, seq, "u 1") {
				t.Error("Put accepted a value read before an invalidation")
			}
			_, ok := c.Get("k")
			return ok
		}},
		{"expired", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Millisecond, c.Begin())
			time.Sleep(5 * time.Millisecond)
			_, ok := c.Get("k")
			return ok
		}},
		{"ttl capped by options", func(t *testing.T, _ *Cache) bool {
			c := live(t, Options{TTL: time.Millisecond})
			c.Put("k", 1, time.Hour, c.Begin())
			time.Sleep(5 * time.Millisecond)
			_, ok := c.Get("k")
			return ok
		}},
		{"removed", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Minute, c.Begin(), "u 1")
			c.Remove("k")
			_, ok := c.Get("k")
			return ok
		}},
		{"not live: nothing served", func(t *testing.T, c *Cache) bool {
			c.Put("k", 1, time.Minute, c.Begin())
			c.alive.Store(0)
			_, ok := c.Get("k")
			return ok
		}},
		{"stale channel: nothing served", func(t *testing.T, _ *Cache) bool {
			c := live(t, Options{MaxStaleness: time.Millisecond})
			c.Put("k", 1, time.Minute, c.Begin())
			time.Sleep(5 * time.Millisecond)
			_, ok := c.Get("k")
			return ok
		}},
		{"not live: nothing stored", func(t *testing.T, _ *Cache) bool {
			c := New(Options{MaxEntries: 10, TTL: time.Minute, MaxStaleness: time.Hour})
			if c.Put("k", 1, time.Minute, c.Begin()) {
				t.Error("stored while not live")
			}
			c.reset(true)
			_, ok := c.Get("k")
			return ok
		}},
	}
	want := map[string]bool{"stored value is served": true, "other tag keeps it": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(t, live(t, Options{})); got != want[tc.name] {
				t.Fatalf("hit = %v, want %v", got, want[tc.name])
			}
		})
	}
}

func TestCacheBoundedAndTagsCleaned(t *testing.T) {
	c := live(t, Options{MaxEntries: 64})
	for i := range 1000 {
		c.Put(fmt.Sprint("k", i), i, time.Minute, c.Begin(), fmt.Sprint("u ", i%10), fmt.Sprint("s ", i))
	}
	if n := len(c.entries); n > 64 {
		t.Fatalf("%d entries, want at most 64", n)
	}
	// Every tag set names live entries only.
	for tag, keys := range c.tags {
		for k := range keys {
			if _, ok := c.entries[k]; !ok {
				t.Fatalf("tag %q names dropped key %q", tag, k)
			}
		}
	}
	for i := range 10 {
		c.Invalidate(fmt.Sprint("u ", i))
	}
	if len(c.entries) != 0 || len(c.tags) != 0 {
		t.Fatalf("after dropping every user: %d entries, %d tags", len(c.entries), len(c.tags))
	}
}

func TestNilCache(t *testing.T) {
	var c *Cache
	if c.Put("k", 1, time.Minute, c.Begin()) || c.Live() {
		t.Fatal("a nil cache caches nothing")
	}
	if _, ok := c.Get("k"); ok {
		t.Fatal("a nil cache caches nothing")
	}
	c.Invalidate("*")
	c.Remove("k")
	c.Listen(context.Background(), nil, "x", nil)
}

func TestConcurrentUse(t *testing.T) {
	c := live(t, Options{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Sprint("k", (i*7+g)%80)
				if _, ok := c.Get(k); !ok {
					c.Put(k, i, time.Minute, c.Begin(), fmt.Sprint("u ", i%5))
				}
				if i%97 == 0 {
					c.Invalidate(fmt.Sprint("u ", i%5))
				}
			}
		}()
	}
	wg.Wait()
}

// listening starts Listen on a real Redis and waits until the cache is live.
func listening(t *testing.T, rdb *redis.Client, o Options) (*Cache, context.CancelFunc) {
	t.Helper()
	c := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Listen(ctx, rdb, "test:changes", nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 3*time.Second, "the cache to become live", c.Live)
	return c, cancel
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestListenInvalidatesFromRedis: a PUBLISH on the channel (as the stores'
// scripts do) drops the tagged entry within milliseconds.
func TestListenInvalidatesFromRedis(t *testing.T) {
	rs := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	c, _ := listening(t, rdb, Options{MaxEntries: 10, TTL: time.Minute, MaxStaleness: 500 * time.Millisecond})
	ctx := context.Background()
	for _, tag := range []string{"u 7", "s abc", "f fam", "j jti", "*"} {
		c.Put("k", 1, time.Minute, c.Begin(), "u 7", "s abc", "f fam", "j jti")
		if _, ok := c.Get("k"); !ok {
			t.Fatal("not stored")
		}
		if err := rdb.Publish(ctx, "test:changes", tag).Err(); err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, time.Second, "tag "+tag+" to drop the entry", func() bool { _, ok := c.Get("k"); return !ok })
		t.Logf("%q dropped the entry after %s", tag, took)
	}
	// It stays live while nothing is published: the pings keep it so.
	time.Sleep(1200 * time.Millisecond)
	if !c.Live() {
		t.Fatal("an idle but healthy channel must stay live")
	}
}

// TestListenFailsClosed: when Redis goes away the cache stops serving
// within MaxStaleness, comes back (empty) when Redis does, and a change
// announced while it was away cannot be served from before.
func TestListenFailsClosed(t *testing.T) {
	rs := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	stale := 400 * time.Millisecond
	c, _ := listening(t, rdb, Options{MaxEntries: 10, TTL: time.Minute, MaxStaleness: stale})
	c.Put("k", 1, time.Minute, c.Begin(), "u 1")

	rs.Stop()
	took := waitFor(t, 2*time.Second, "the cache to stop serving", func() bool { _, ok := c.Get("k"); return !ok })
	if took > stale+100*time.Millisecond {
		t.Errorf("served for %s after Redis went away, want at most MaxStaleness (%s)", took, stale)
	}
	rs.Restart()
	waitFor(t, 5*time.Second, "the cache to be live again", c.Live)
	if _, ok := c.Get("k"); ok {
		t.Fatal("an entry from before the outage survived it")
	}
}

// TestListenStalledRedis: a Redis that stops answering (DEBUG SLEEP) ends
// the serving within MaxStaleness too.
func TestListenStalledRedis(t *testing.T) {
	rs := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	stale := 300 * time.Millisecond
	c, _ := listening(t, rdb, Options{MaxEntries: 10, TTL: time.Minute, MaxStaleness: stale})
	c.Put("k", 1, time.Minute, c.Begin())
	go rs.Stall(1500 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	took := waitFor(t, time.Second, "the cache to stop serving", func() bool { _, ok := c.Get("k"); return !ok })
	if took > stale+100*time.Millisecond {
		t.Errorf("served for %s into the stall, want at most %s", took, stale)
	}
	waitFor(t, 5*time.Second, "the cache to be live after the stall", c.Live)
}

// TestListenStopsCleanly: Listen returns when its context ends and leaves
// no goroutine behind.
func TestListenStopsCleanly(t *testing.T) {
	rs := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	before := runtime.NumGoroutine()
	c := New(Options{MaxEntries: 10, TTL: time.Minute, MaxStaleness: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Listen(ctx, rdb, "test:changes", nil); close(done) }()
	waitFor(t, 3*time.Second, "live", c.Live)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Listen did not return")
	}
	if c.Live() {
		t.Fatal("a stopped listener leaves the cache live")
	}
	waitFor(t, 2*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+1 })
}
