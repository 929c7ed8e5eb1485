// Package principalcache keeps, in the gateway's memory, what credentials
// resolved to (a session and its principal, an access token and its
// principal), so that the steady state of a session costs no Redis round
// trip, and drops an entry as soon as Redis announces a change to it.
//
// Every script that changes a user, a group, a session or a token family
// announces the change on one Redis pub/sub channel
// (authn.ChangesChannel) in the same script as the change, as a tag:
//
//	u <user id>        the user's record, groups or permissions
//	s <session hash>   one session (logged out, revoked, expired)
//	f <family>         one refresh-token family (and its access tokens)
//	j <jti>            one access token
//	*                  anything else that can change many principals
//	                   (a group's permissions, declared models, imports)
//
// Each cached entry carries the tags it depends on; a message drops every
// entry with its tag. Announcements can be lost only with the
// subscriber's connection, so the cache is used only while the channel
// is provably live: Listen pings on the subscriber's connection several
// times per MaxStaleness, and an entry is served only if the last sign of
// life (a message or a pong) is younger than MaxStaleness. Whenever the
// subscription is (re)established the cache is emptied, since whatever
// was announced meanwhile is lost. So a revocation takes effect within
// the delivery time of one message, and within MaxStaleness even if Redis
// or the network fails; a Redis that is down is then answered 503 as
// without the cache.
//
// A load races with invalidations: Begin returns a sequence number that
// every invalidation advances, and Put refuses an entry loaded under an
// older number, so a value read before a change is never cached after
// the change's announcement was processed.
package principalcache

import (
	"sync"
	"sync/atomic"
	"time"
)

// Options configure New.
type Options struct {
	// MaxEntries bounds the cache; when full, about an eighth of the
	// entries is dropped to make room.
	MaxEntries int
	// TTL is the longest an entry is served.
	TTL time.Duration
	// MaxStaleness is how old the channel's last sign of life may be for
	// entries to be served.
	MaxStaleness time.Duration
}

// Cache is the principal cache. It is safe for concurrent use. A nil
// *Cache caches nothing.
type Cache struct {
	opts Options

	mu      sync.RWMutex
	entries map[string]*entry
	tags    map[string]map[string]struct{} // tag -> keys

	seq   atomic.Uint64 // advanced by every invalidation
	alive atomic.Int64  // monotonic ns (since start) of the last sign of life; 0: not subscribed
	start time.Time

	hits, misses, invalidations atomic.Uint64
	last                        atomic.Pointer[string] // the last announcement received
}

type entry struct {
	value   any
	expires int64 // monotonic ns since start
	tags    []string
}

// New returns an empty cache, not live until Listen has subscribed.
func New(opts Options) *Cache {
	return &Cache{
		opts:    opts,
		entries: make(map[string]*entry),
		tags:    make(map[string]map[string]struct{}),
		start:   time.Now(),
	}
}

// TTL is Options.TTL.
func (c *Cache) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.opts.TTL
}

func (c *Cache) now() int64 { return int64(time.Since(c.start)) + 1 }

// Live reports whether the invalidation channel has shown a sign of life
// within MaxStaleness: only then are entries served or stored.
func (c *Cache) Live() bool {
	if c == nil {
		return false
	}
	a := c.alive.Load()
	return a != 0 && c.now()-a < int64(c.opts.MaxStaleness)
}

// Get returns the value stored under key if the cache is live and the
// entry has not expired.
func (c *Cache) Get(key string) (any, bool) {
	if c == nil {
		return nil, false
	}
	if !c.Live() {
		c.misses.Add(1)
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || c.now() >= e.expires {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return e.value, true
}

// Begin returns the sequence number to pass to Put for a value about to
// be loaded.
func (c *Cache) Begin() uint64 {
	if c == nil {
		return 0
	}
	return c.seq.Load()
}

// Put stores value under key for at most ttl (and at most Options.TTL),
// dropped by any of tags. It stores nothing, and returns false, when an
// invalidation happened since seq was taken (Begin) or the cache is not
// live.
func (c *Cache) Put(key string, value any, ttl time.Duration, seq uint64, tags ...string) bool {
	if c == nil || ttl <= 0 {
		return false
	}
	ttl = min(ttl, c.opts.TTL)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Checked under the lock: invalidations take it too, so none can
	// slip between this check and the insert.
	if c.seq.Load() != seq || !c.Live() {
		return false
	}
	if old, ok := c.entries[key]; ok {
		c.unlink(key, old)
	} else if len(c.entries) >= c.opts.MaxEntries {
		c.evict()
	}
	e := &entry{value: value, expires: c.now() + int64(ttl), tags: tags}
	c.entries[key] = e
	for _, t := range tags {
		keys := c.tags[t]
		if keys == nil {
			keys = make(map[string]struct{}, 1)
			c.tags[t] = keys
		}
		keys[key] = struct{}{}
	}
	return true
}

// Remove drops key (a session this gateway just ended, say).
func (c *Cache) Remove(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		c.unlink(key, e)
		delete(c.entries, key)
	}
	c.mu.Unlock()
}

// Invalidate drops every entry tagged tag, or every entry for "*", and
// advances the sequence so that loads in flight are not stored.
func (c *Cache) Invalidate(tag string) {
	if c == nil {
		return
	}
	c.invalidations.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq.Add(1)
	if tag == "*" {
		clear(c.entries)
		clear(c.tags)
		return
	}
	for key := range c.tags[tag] {
		if e, ok := c.entries[key]; ok {
			c.unlink(key, e)
			delete(c.entries, key)
		}
	}
	delete(c.tags, tag)
}

// unlink removes key from its tags' sets. c.mu is held.
func (c *Cache) unlink(key string, e *entry) {
	for _, t := range e.tags {
		if keys := c.tags[t]; keys != nil {
			delete(keys, key)
			if len(keys) == 0 {
				delete(c.tags, t)
			}
		}
	}
}

// evict drops expired entries, and if that is not enough about an eighth
// of the others (map order). c.mu is held.
func (c *Cache) evict() {
	now := c.now()
	target := c.opts.MaxEntries - max(c.opts.MaxEntries/8, 1)
	for key, e := range c.entries {
		if now >= e.expires {
			c.unlink(key, e)
			delete(c.entries, key)
		}
	}
	for key, e := range c.entries {
		if len(c.entries) <= target {
			break
		}
		c.unlink(key, e)
		delete(c.entries, key)
	}
}

// markAlive records a sign of life of the channel.
func (c *Cache) markAlive() { c.alive.Store(c.now()) }

// reset empties the cache and marks it live or not: on every
// (re)subscription, since announcements made meanwhile are lost, and when
// the subscription fails.
func (c *Cache) reset(live bool) {
	c.Invalidate("*")
	if live {
		c.markAlive()
	} else {
		c.alive.Store(0)
	}
}

// LastAnnouncement is the last message received on the changes channel
// ("" before the first). Announcements arrive in the order they were
// published, so once a marker published after a change is the last one
// received, the change's own announcement was applied: tests use that
// as a barrier.
func (c *Cache) LastAnnouncement() string {
	if c == nil {
		return ""
	}
	if p := c.last.Load(); p != nil {
		return *p
	}
	return ""
}

// Stats are the cache's counters since New.
type Stats struct {
	Entries                     int
	Hits, Misses, Invalidations uint64
	Live                        bool
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	c.mu.RLock()
	n := len(c.entries)
	c.mu.RUnlock()
	return Stats{Entries: n, Hits: c.hits.Load(), Misses: c.misses.Load(), Invalidations: c.invalidations.Load(), Live: c.Live()}
}
