package config

import "fmt"

// Redis modes (redis.mode).
const (
	RedisModeStandalone = "standalone"
	RedisModeSentinel   = "sentinel"
	RedisModeCluster    = "cluster"
)

// DefaultRedisMode is the default of redis.mode.
const DefaultRedisMode = RedisModeStandalone

// RedisModes are the values redis.mode accepts.
var RedisModes = []string{RedisModeStandalone, RedisModeSentinel, RedisModeCluster}

// redisHA validates the keys that choose between one Redis server, a
// Sentinel-managed master and a Redis Cluster: redis.mode, redis.addrs,
// redis.master_name and redis.sentinel_*. Every problem is reported.
func (v *validator) redisHA(r *Redis) {
	switch r.Mode {
	case RedisModeStandalone, RedisModeSentinel, RedisModeCluster:
	default:
		v.oneOf("redis.mode", r.Mode, RedisModes...)
		return
	}
	for i, a := range r.Addrs {
		if msg := checkHostPort(a, true, `"127.0.0.1:26379"`); msg != "" {
			v.add(fmt.Sprintf("redis.addrs[%d]", i), "%s", msg)
		}
	}
	seen := map[string]int{}
	for i, a := range r.Addrs {
		if j, ok := seen[a]; ok {
			v.add(fmt.Sprintf("redis.addrs[%d]", i), "duplicates redis.addrs[%d] (%s)", j, quoteValue(a))
			continue
		}
		seen[a] = i
	}
	if r.Mode == RedisModeStandalone {
		if len(r.Addrs) > 0 {
			v.add("redis.addrs", "only used when redis.mode is sentinel or cluster; set redis.mode, or use redis.addr for one server")
		}
	} else if len(r.Addrs) == 0 {
		what := "the sentinels' host:port"
		if r.Mode == RedisModeCluster {
			what = "host:port of one or more cluster nodes"
		}
		v.add("redis.addrs", "required when redis.mode is %s: %s, e.g. [\"10.0.0.1:%s\", \"10.0.0.2:%s\"]", r.Mode, what, redisHAPort(r.Mode), redisHAPort(r.Mode))
	}
	if r.Mode == RedisModeSentinel {
		if r.MasterName == "" {
			v.add("redis.master_name", "required when redis.mode is sentinel: the name the sentinels monitor the master under, e.g. \"mymaster\"")
		}
	} else {
		for _, s := range []struct{ key, val string }{
			{"master_name", r.MasterName}, {"sentinel_username", r.SentinelUsername}, {"sentinel_password", r.SentinelPassword},
		} {
			if s.val != "" {
				v.add("redis."+s.key, "only used when redis.mode is sentinel, but redis.mode is %s", r.Mode)
			}
		}
	}
	if r.Mode == RedisModeCluster && r.DB != 0 {
		v.add("redis.db", "must be 0 in cluster mode (Redis Cluster has only database 0), got %d", r.DB)
	}
}

func redisHAPort(mode string) string {
	if mode == RedisModeSentinel {
		return "26379"
	}
	return "6379"
}
