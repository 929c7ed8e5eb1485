package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestRedisModeDefaults(t *testing.T) {
	c := validConfig()
	if c.Redis.Mode != RedisModeStandalone || len(c.Redis.Addrs) != 0 || c.Redis.MasterName != "" {
		t.Fatalf("defaults: mode %q, addrs %v, master_name %q", c.Redis.Mode, c.Redis.Addrs, c.Redis.MasterName)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

func TestRedisHAValid(t *testing.T) {
	for name, change := range map[string]func(*Redis){
		"sentinel": func(r *Redis) {
			r.Mode = RedisModeSentinel
			r.Addrs = []string{"10.0.0.1:26379", "sentinel-2.internal:26379", "[::1]:26379"}
			r.MasterName = "mymaster"
			r.SentinelUsername, r.SentinelPassword = "sentinel", "s3cret"
			r.DB = 3
		},
		"cluster": func(r *Redis) {
			r.Mode = RedisModeCluster
			r.Addrs = []string{"10.0.0.1:6379"}
		},
		"standalone explicit": func(r *Redis) { r.Mode = RedisModeStandalone },
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			change(&c.Redis)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRedisHAProblems(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Redis)
		want   []string
	}{
		{"unknown mode", func(r *Redis) { r.Mode = "replicated" }, []string{
			`redis.mode: must be one of "standalone", "sentinel", "cluster", got "replicated"`,
		}},
		{"sentinel without addrs or master", func(r *Redis) { r.Mode = RedisModeSentinel }, []string{
			`redis.addrs: required when redis.mode is sentinel: the sentinels' host:port, e.g. ["10.0.0.1:26379", "10.0.0.2:26379"]`,
			`redis.master_name: required when redis.mode is sentinel: the name the sentinels monitor the master under, e.g. "mymaster"`,
		}},
		{"cluster: every problem at once", func(r *Redis) {
			r.Mode = RedisModeCluster
			r.DB = 2
			r.MasterName = "mymaster"
			r.SentinelUsername = "u"
			r.SentinelPassword = "hunter2hunter2"
		}, []string{
			`redis.addrs: required when redis.mode is cluster: host:port of one or more cluster nodes, e.g. ["10.0.0.1:6379", "10.0.0.2:6379"]`,
			`redis.master_name: only used when redis.mode is sentinel, but redis.mode is cluster`,
			`redis.sentinel_username: only used when redis.mode is sentinel, but redis.mode is cluster`,
			`redis.sentinel_password: only used when redis.mode is sentinel, but redis.mode is cluster`,
			`redis.db: must be 0 in cluster mode (Redis Cluster has only database 0), got 2`,
		}},
		{"bad and duplicate addrs", func(r *Redis) {
			r.Mode = RedisModeCluster
			r.Addrs = []string{"10.0.0.1:6379", "redis://10.0.0.2:6379", "10.0.0.3", "10.0.0.1:6379"}
		}, []string{
			`redis.addrs[1]: must be host:port, not a URL, e.g. "127.0.0.1:26379"; got "redis://10.0.0.2:6379"`,
			`redis.addrs[2]: must be host:port, e.g. "127.0.0.1:26379"; got "10.0.0.3"`,
			`redis.addrs[3]: duplicates redis.addrs[0] ("10.0.0.1:6379")`,
		}},
		{"standalone refuses HA keys", func(r *Redis) {
			r.Addrs = []string{"10.0.0.1:26379"}
			r.MasterName = "mymaster"
		}, []string{
			`redis.addrs: only used when redis.mode is sentinel or cluster; set redis.mode, or use redis.addr for one server`,
			`redis.master_name: only used when redis.mode is sentinel, but redis.mode is standalone`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c.Redis)
			err := c.Validate()
			assertLines(t, err, tc.want)
			if err != nil && strings.Contains(err.Error(), "hunter2hunter2") {
				t.Errorf("error reveals redis.sentinel_password:\n%v", err)
			}
		})
	}
}

// The new keys come from the file and from GATEWAY_REDIS_* like every
// other key; GATEWAY_REDIS_ADDRS is comma-separated.
func TestRedisHAFromFileAndEnv(t *testing.T) {
	path := writeFile(t, "upstreams: [{url: http://127.0.0.1:8000}]\nredis:\n  mode: cluster\n  addrs: [10.0.0.1:7000, 10.0.0.2:7000]\n")
	c, err := Load(path, []string{"GATEWAY_SECRET_KEY=" + testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Mode != RedisModeCluster || !reflect.DeepEqual(c.Redis.Addrs, []string{"10.0.0.1:7000", "10.0.0.2:7000"}) {
		t.Fatalf("from file: mode %q addrs %v", c.Redis.Mode, c.Redis.Addrs)
	}
	c, err = Load(path, []string{
		"GATEWAY_SECRET_KEY=" + testSecret,
		"GATEWAY_REDIS_MODE=sentinel",
		"GATEWAY_REDIS_ADDRS=s1:26379, s2:26379,s3:26379",
		"GATEWAY_REDIS_MASTER_NAME=mymaster",
		"GATEWAY_REDIS_SENTINEL_USERNAME=watcher",
		"GATEWAY_REDIS_SENTINEL_PASSWORD=pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redis
	if r.Mode != RedisModeSentinel || !reflect.DeepEqual(r.Addrs, []string{"s1:26379", "s2:26379", "s3:26379"}) ||
		r.MasterName != "mymaster" || r.SentinelUsername != "watcher" || r.SentinelPassword != "pw" {
		t.Fatalf("from environment: %+v", r)
	}
	_, err = Load(path, []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_REDIS_MODE=sentinel"})
	if err == nil || !strings.Contains(err.Error(), "redis.master_name: required when redis.mode is sentinel") {
		t.Fatalf("sentinel without master_name: %v", err)
	}
}
