package testredis

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Snapshot is every key of rdb's database with its type, whether it has a
// TTL, and its exact contents (hash fields and set members sorted): two
// equal snapshots are the same data, byte for byte. (DUMP would not do:
// plain reads of a hashtable-encoded hash advance its incremental
// rehashing, which changes DUMP's field order.)
func Snapshot(t testing.TB, rdb redis.Cmdable) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("snapshot: KEYS: %v", err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("snapshot: TYPE %q: %v", k, err)
		}
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("snapshot: PTTL %q: %v", k, err)
		}
		var items []string
		switch typ {
		case "string":
			v, err := rdb.Get(ctx, k).Result()
			if err != nil {
				t.Fatalf("snapshot: GET %q: %v", k, err)
			}
			items = []string{v}
		case "hash":
			h, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatalf("snapshot: HGETALL %q: %v", k, err)
			}
			for f, v := range h {
				items = append(items, strconv.Quote(f)+"="+strconv.Quote(v))
			}
		case "set":
			if items, err = rdb.SMembers(ctx, k).Result(); err != nil {
				t.Fatalf("snapshot: SMEMBERS %q: %v", k, err)
			}
		default:
			t.Fatalf("snapshot: key %q of unexpected type %q", k, typ)
		}
		slices.Sort(items)
		out[k] = fmt.Sprintf("%s ttl=%v %q", typ, ttl > 0, items)
	}
	return out
}

// AssertSnapshot fails t, key by key, unless got equals want.
func AssertSnapshot(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: key %q disappeared", what, k)
		} else if g != want[k] {
			t.Errorf("%s: key %q changed:\n  was %s\n  now %s", what, k, want[k], g)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: key %q appeared", what, k)
		}
	}
}
