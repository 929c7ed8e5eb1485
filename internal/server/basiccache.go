package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"
)

// basicCache remembers, for a short while, that a Basic username and
// password were right, so a client sending them with every request does
// not cost a password hash (by default ~1 s of CPU) each time, nor run
// into the login throttle's limit on attempts in progress.
//
// An entry is keyed by HMAC-SHA256 under a random per-process key of the
// username and password (the password itself is never kept) and holds the
// user id and the stored password hash it was checked against. A hit is
// only good while that hash is still the user's: a password change (or
// the re-hash of a login) makes the next request check the password
// again. Deactivation is seen on every request, which loads the principal.
type basicCache struct {
	key []byte
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]basicEntry
}

type basicEntry struct {
	userID  int64
	hash    string // the stored password hash the password matched
	expires time.Time
}

// Bounds of the Basic credential cache.
const (
	basicCacheTTL = time.Minute
	basicCacheMax = 10000
)

func newBasicCache(ttl time.Duration, max int) *basicCache {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return &basicCache{key: k, ttl: ttl, max: max, entries: map[[sha256.Size]byte]basicEntry{}}
}

func (c *basicCache) id(username, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// get returns the user id remembered for the credentials, and the hash
// the caller must find still stored for that user.
func (c *basicCache) get(username, password string, now time.Time) (int64, string, bool) {
	id := c.id(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !now.Before(e.expires) {
		delete(c.entries, id)
		return 0, "", false
	}
	return e.userID, e.hash, true
}

// put remembers good credentials. At the bound, expired entries are
// dropped first, then arbitrary ones.
func (c *basicCache) put(username, password string, userID int64, hash string, now time.Time) {
	id := c.id(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
			if len(c.entries) < c.max*3/4 {
				break
			}
		}
	}
	c.entries[id] = basicEntry{userID: userID, hash: hash, expires: now.Add(c.ttl)}
}

// forget drops the credentials (their hash is no longer the user's).
func (c *basicCache) forget(username, password string) {
	id := c.id(username, password)
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// sameHash compares stored password hashes in constant time.
func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
