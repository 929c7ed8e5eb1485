package metrics

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// maxCommands caps the distinct command label values: the gateway issues
// a handful of commands, but Do accepts any name.
const maxCommands = 128

// redisMetrics are the Redis client's series: per command latency and
// errors (the hook), dial latency and errors, and pool stats (read at
// scrape time).
type redisMetrics struct {
	commandDuration *prometheus.HistogramVec // command
	commandErrors   *prometheus.CounterVec   // command
	dialDuration    prometheus.Histogram
	dialErrors      prometheus.Counter

	// commands maps a command name to its pre-resolved series; immutable,
	// replaced (copy on write, under commandsMu) on a new name.
	commands   atomic.Pointer[map[string]*commandSeries]
	commandsMu sync.Mutex

	pool *poolCollector
}

type commandSeries struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

func newRedisMetrics() *redisMetrics {
	r := &redisMetrics{
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "redis_command_duration_seconds",
			Help:    "Redis command latency, by command; a pipelined command observes its pipeline's round trip.",
			Buckets: latencyBuckets,
		}, []string{"command"}),
		commandErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_command_errors_total",
			Help: "Redis commands that failed (a nil reply and NOSCRIPT, which is answered by loading the script, are not failures), by command.",
		}, []string{"command"}),
		dialDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "redis_dial_duration_seconds",
			Help:    "Time to open a connection to Redis (including TLS and the connection handshake hook chain).",
			Buckets: latencyBuckets,
		}),
		dialErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_dial_errors_total",
			Help: "Connections to Redis that could not be opened.",
		}),
		pool: newPoolCollector(),
	}
	empty := map[string]*commandSeries{}
	r.commands.Store(&empty)
	return r
}

func (r *redisMetrics) register(reg *prometheus.Registry) {
	reg.MustRegister(r.commandDuration, r.commandErrors, r.dialDuration, r.dialErrors, r.pool)
}

// command returns the series of a command name (go-redis lower cases it).
func (r *redisMetrics) command(name string) *commandSeries {
	if s, ok := (*r.commands.Load())[name]; ok {
		return s
	}
	r.commandsMu.Lock()
	defer r.commandsMu.Unlock()
	cur := *r.commands.Load()
	if s, ok := cur[name]; ok {
		return s
	}
	label := name
	if !validLabel(name) || len(cur) >= maxCommands {
		label = other
	}
	s := &commandSeries{
		duration: r.commandDuration.WithLabelValues(label),
		errors:   r.commandErrors.WithLabelValues(label),
	}
	next := make(map[string]*commandSeries, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = s
	r.commands.Store(&next)
	return s
}

func (r *redisMetrics) observe(cmd redis.Cmder, err error, d time.Duration) {
	s := r.command(cmd.Name())
	s.duration.Observe(d.Seconds())
	if isRedisError(err) {
		s.errors.Inc()
	}
}

// isRedisError reports whether err is a failure: redis.Nil (no such key)
// is an answer, and so is NOSCRIPT (Script.Run loads the script and
// retries with EVAL, which is counted in its own right).
func isRedisError(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "NOSCRIPT")
}

// RedisHook returns a go-redis hook recording the latency of every command
// by command name (lower case; scripts as "evalsha" or "eval") and its
// failures; add it with rdb.AddHook(m.RedisHook()). Each command of a
// pipeline observes the pipeline's round trip; a transaction's MULTI and
// EXEC are commands too.
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m.redis} }

type redisHook struct{ r *redisMetrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		conn, err := next(ctx, network, addr)
		h.r.dialDuration.Observe(time.Since(start).Seconds())
		if err != nil {
			h.r.dialErrors.Inc()
		}
		return conn, err
	}
}

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.r.observe(cmd, err, time.Since(start))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		d := time.Since(start)
		for _, cmd := range cmds {
			h.r.observe(cmd, cmd.Err(), d)
		}
		return err
	}
}

// RegisterRedisPool exports rdb's connection pool stats, read at scrape
// time. With several clients registered, the series are their sums.
func (m *Metrics) RegisterRedisPool(rdb interface{ PoolStats() *redis.PoolStats }) {
	m.redis.pool.add(rdb)
}

// poolCollector reads the registered clients' pool stats at scrape time.
type poolCollector struct {
	mu      sync.Mutex
	sources []interface{ PoolStats() *redis.PoolStats }

	hits, misses, timeouts, waits, waitSeconds, stale *prometheus.Desc
	conns, idle                                       *prometheus.Desc
}

func newPoolCollector() *poolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "redis_pool", name), help, nil, nil)
	}
	return &poolCollector{
		hits:        desc("hits_total", "Times a free connection was found in the Redis connection pool."),
		misses:      desc("misses_total", "Times no free connection was found in the Redis connection pool (a new one was dialed or waited for)."),
		timeouts:    desc("timeouts_total", "Times waiting for a Redis pool connection timed out."),
		waits:       desc("waits_total", "Times a request waited for a Redis pool connection."),
		waitSeconds: desc("wait_seconds_total", "Time spent waiting for Redis pool connections."),
		stale:       desc("stale_connections_total", "Stale connections removed from the Redis connection pool."),
		conns:       desc("connections", "Connections in the Redis connection pool, idle and in use."),
		idle:        desc("idle_connections", "Idle connections in the Redis connection pool."),
	}
}

func (c *poolCollector) add(src interface{ PoolStats() *redis.PoolStats }) {
	c.mu.Lock()
	c.sources = append(c.sources, src)
	c.mu.Unlock()
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.timeouts, c.waits, c.waitSeconds, c.stale, c.conns, c.idle} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := c.sources
	c.mu.Unlock()
	if len(sources) == 0 {
		return
	}
	var hits, misses, timeouts, waits, waitNs, stale, conns, idle float64
	add := func(hi, mi, to, wc uint32, wns int64, st, tc, ic uint32) {
		hits += float64(hi)
		misses += float64(mi)
		timeouts += float64(to)
		waits += float64(wc)
		waitNs += float64(wns)
		stale += float64(st)
		conns += float64(tc)
		idle += float64(ic)
	}
	for _, src := range sources {
		s := src.PoolStats()
		if s == nil {
			continue
		}
		add(s.Hits, s.Misses, s.Timeouts, s.WaitCount, s.WaitDurationNs, s.StaleConns, s.TotalConns, s.IdleConns)
		if p := s.PipelineStats; p != nil { // a separate pipeline pool
			add(p.Hits, p.Misses, p.Timeouts, p.WaitCount, p.WaitDurationNs, p.StaleConns, p.TotalConns, p.IdleConns)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, hits)
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, misses)
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, timeouts)
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, waits)
	ch <- prometheus.MustNewConstMetric(c.waitSeconds, prometheus.CounterValue, waitNs/1e9)
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, stale)
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, conns)
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, idle)
}
