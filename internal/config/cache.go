package config

import "time"

// Cache configures what the gateway keeps in memory between requests, so
// that the steady state of a session or token costs neither a Redis
// round trip nor a policy evaluation:
//
//   - the decision memo remembers the policy's decisions under the parts
//     of the input the policy reads (package authz);
//   - the principal cache keeps what a session cookie or access token
//     resolved to (session, user, groups, permissions), dropped as soon
//     as Redis announces a change on the invalidation channel, and used
//     only while that channel has proven live within MaxStaleness.
type Cache struct {
	// Enabled turns both caches on (the default); false asks Redis and
	// the policy on every request.
	Enabled *bool `yaml:"enabled"`
	// Decisions bounds the decision memo, in decisions.
	Decisions int `yaml:"decisions"`
	// Principals bounds the principal cache, in sessions and tokens.
	Principals int `yaml:"principals"`
	// TTL is the longest a cached principal is used before Redis is read
	// again (at most session.refresh_interval, so last activity is still
	// written back on time).
	TTL time.Duration `yaml:"ttl"`
	// MaxStaleness bounds how old the last sign of life of the
	// invalidation channel may be for cached principals to be used: a
	// revocation takes effect within it even if Redis or the network
	// fails, since the cache then stops being used.
	MaxStaleness time.Duration `yaml:"max_staleness"`
}

// On reports whether caching is enabled (nil means true).
func (c *Cache) On() bool { return c.Enabled == nil || *c.Enabled }

// Cache defaults.
const (
	DefaultCacheDecisions    = 100000
	DefaultCachePrincipals   = 100000
	DefaultCacheTTL          = 30 * time.Second
	DefaultCacheMaxStaleness = time.Second

	maxCacheEntries   = 10000000
	maxCacheTTL       = time.Hour
	minCacheStaleness = 100 * time.Millisecond
	maxCacheStaleness = 10 * time.Second
)

func (c *Config) applyCacheDefaults() {
	setBool(&c.Cache.Enabled, true)
	setInt(&c.Cache.Decisions, DefaultCacheDecisions)
	setInt(&c.Cache.Principals, DefaultCachePrincipals)
	setDuration(&c.Cache.TTL, DefaultCacheTTL)
	setDuration(&c.Cache.MaxStaleness, DefaultCacheMaxStaleness)
}

func (v *validator) cache(c *Cache) {
	for _, n := range []struct {
		path string
		v    int
	}{{"cache.decisions", c.Decisions}, {"cache.principals", c.Principals}} {
		if n.v < 1 || n.v > maxCacheEntries {
			v.add(n.path, "must be from 1 to %d, got %d (set cache.enabled: false to turn caching off)", maxCacheEntries, n.v)
		}
	}
	if c.TTL <= 0 || c.TTL > maxCacheTTL {
		v.add("cache.ttl", "must be greater than 0 and at most %s, got %s", maxCacheTTL, c.TTL)
	}
	if c.MaxStaleness < minCacheStaleness || c.MaxStaleness > maxCacheStaleness {
		v.add("cache.max_staleness", "must be from %s to %s, got %s", minCacheStaleness, maxCacheStaleness, c.MaxStaleness)
	}
}
