package sessionstore_test

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/sessionstore"
)

// keyID spells out the documented key id: base64url SHA-256 of the id.
func keyID(s string) string { return sessionstore.KeyID(s) }

// userKey is the user hash, which holds the session index.
func userKey(uid string) string { return prefix + "{auth}:user:" + uid }

// indexLen counts the session index fields of the user's hash.
func indexLen(rdb *redis.Client, uid string) int {
	n := 0
	for _, f := range rdb.HKeys(context.Background(), userKey(uid)).Val() {
		if strings.HasPrefix(f, "s:") {
			n++
		}
	}
	return n
}

// indexScore is the expiry the index records for the session with that id.
func indexScore(rdb *redis.Client, uid, id string) string {
	return rdb.HGet(context.Background(), userKey(uid), "s:"+keyID(id)).Val()
}
