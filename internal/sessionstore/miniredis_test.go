package sessionstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/sessionstore"
)

// The demo runs on miniredis, whose Lua and TTLs differ from Redis's
// (keys do not expire on their own). The scripts must work there too, and
// lifetimes hold because the script checks them against the caller's
// clock.
func TestScriptsOnDemoStore(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	st := sessionstore.New(rdb, prefix)
	newUsers(t, rdb)

	lt := sessionstore.Lifetime{MaxAge: time.Hour, Idle: 10 * time.Minute, Refresh: time.Minute}
	id := mustCreate(t, st, 1, lt)
	now := time.Now()
	if _, p, err := st.Load(ctx, id, now.Add(2*time.Minute), lt); err != nil || p.Username() != "alice" {
		t.Fatalf("Load = %v, %v", p, err)
	}
	list, err := st.List(ctx, 1, time.Now())
	if err != nil || len(list) != 1 || list[0].Session == nil {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, _, err := st.Load(ctx, id, now.Add(13*time.Minute), lt); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("idle session: %v", err)
	}
	id = mustCreate(t, st, 1, lt)
	if n, err := st.Revoke(ctx, 1, list[0].IDPrefix); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Revoke of an ended session = %d, %v", n, err)
	}
	if n, err := st.RevokeAll(ctx, 1); err != nil || n != 1 {
		t.Fatalf("RevokeAll = %d, %v", n, err)
	}
	if _, err := st.Get(ctx, id); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("revoked session: %v", err)
	}
	id = mustCreate(t, st, 1, lt)
	if err := st.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
}
