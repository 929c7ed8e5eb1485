package server

import (
	"strconv"
	"testing"
	"time"
)

func TestBasicCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newBasicCache(time.Minute, 100)
	c.put("alice", "pw", 7, "pbkdf2_sha256$x", now)
	tests := []struct {
		name, user, pass string
		at               time.Time
		ok               bool
	}{
		{"hit", "alice", "pw", now.Add(59 * time.Second), true},
		{"wrong password", "alice", "pw2", now, false},
		{"user and password are not concatenated", "alic", "epw", now, false},
		{"expired", "alice", "pw", now.Add(time.Minute), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, hash, ok := c.get(tc.user, tc.pass, tc.at)
			if ok != tc.ok || (ok && (id != 7 || hash != "pbkdf2_sha256$x")) {
				t.Fatalf("get = %d %q %v, want ok %v", id, hash, ok, tc.ok)
			}
		})
	}
	c.put("bob", "pw", 8, "h", now)
	c.forget("bob", "pw")
	if _, _, ok := c.get("bob", "pw", now); ok {
		t.Fatal("forgotten entry still there")
	}
	for i := range 1000 {
		c.put("u"+strconv.Itoa(i), "pw", int64(i+1), "h", now)
	}
	if n := len(c.entries); n > 100 {
		t.Fatalf("%d entries, bound 100", n)
	}
	if _, _, ok := c.get("u999", "pw", now); !ok {
		t.Fatal("the newest entry was evicted")
	}
	if !sameHash("a", "a") || sameHash("a", "b") || sameHash("a", "ab") {
		t.Fatal("sameHash")
	}
}
