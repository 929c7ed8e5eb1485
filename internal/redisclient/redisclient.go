// Package redisclient builds the gateway's Redis client from the redis
// section of the configuration: one server (redis.mode standalone), a
// master found through Redis Sentinel (sentinel) or a Redis Cluster
// (cluster). `gateway serve`, the management commands and the tests share
// it, so they all talk to Redis the same way.
//
// Every mode reads from and writes to masters only: a session written at
// login must be readable by the next request (read-your-writes), so
// neither replica reads nor latency routing is ever turned on.
package redisclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/config"
)

// New builds the client for c, which must have been validated. Files named
// by the TLS settings are read here, and their errors name the key. It
// does not connect: go-redis dials lazily.
func New(c config.Redis) (redis.UniversalClient, error) {
	tc, err := tlsConfig(c.TLS)
	if err != nil {
		return nil, err
	}
	// A command that fails is reported, not retried into the request's
	// latency budget: the gateway answers 503 and the client retries.
	// One dial attempt per command: a down Redis is reported at once.
	const maxRetries, dialerRetries = 1, 1
	switch c.Mode {
	case config.RedisModeSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.MasterName, SentinelAddrs: c.Addrs,
			SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
			Username: c.Username, Password: c.Password, DB: c.DB,
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
			PoolSize: c.PoolSize, MaxRetries: maxRetries, DialerRetries: dialerRetries,
			TLSConfig: tc,
		}), nil
	case config.RedisModeCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    c.Addrs,
			Username: c.Username, Password: c.Password,
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
			PoolSize: c.PoolSize, MaxRetries: maxRetries, DialerRetries: dialerRetries,
			TLSConfig: tc,
		}), nil
	case config.RedisModeStandalone, "":
		return redis.NewClient(&redis.Options{
			Addr: c.Addr, Username: c.Username, Password: c.Password, DB: c.DB,
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
			PoolSize: c.PoolSize, MaxRetries: maxRetries, DialerRetries: dialerRetries,
			TLSConfig: tc,
		}), nil
	}
	return nil, fmt.Errorf("redis.mode: unknown mode %q", c.Mode)
}

// Where describes, for messages, where c says Redis is and the keys that
// say so, e.g. `127.0.0.1:6379 (redis.addr)` or `master "mymaster" via
// sentinels a:26379,b:26379 (redis.master_name, redis.addrs)`.
func Where(c config.Redis) string {
	switch c.Mode {
	case config.RedisModeSentinel:
		return fmt.Sprintf("master %q via sentinels %s (redis.master_name, redis.addrs)", c.MasterName, strings.Join(c.Addrs, ","))
	case config.RedisModeCluster:
		return fmt.Sprintf("cluster nodes %s (redis.addrs)", strings.Join(c.Addrs, ","))
	}
	return c.Addr + " (redis.addr)"
}

func tlsConfig(t config.RedisTLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, validated
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
