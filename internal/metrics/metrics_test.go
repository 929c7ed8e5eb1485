package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/testredis"
)

// absent in a want map: the series must not be exported.
const absent = -1

// scrape fetches the metrics over a real HTTP server and returns every
// sample by its series, written as the text format writes it
// (`name{a="x",b="y"}`, labels sorted).
func scrape(t testing.TB, m *Metrics) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: Content-Type %q, want the text format", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("scrape: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkSeries(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for series, w := range want {
		g, ok := got[series]
		switch {
		case w == absent && ok:
			t.Errorf("%s = %v, want no such series", series, g)
		case w != absent && !ok:
			t.Errorf("%s missing from the scrape", series)
		case w != absent && g != w:
			t.Errorf("%s = %v, want %v", series, g, w)
		}
	}
}

func TestMethods(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name string
		call func(m *Metrics)
		want map[string]float64
	}{
		{
			name: "request to an upstream",
			call: func(m *Metrics) { m.Request("app", 200, 4*ms) },
			want: map[string]float64{
				`gateway_requests_total{code="2xx",upstream="app"}`:                   1,
				`gateway_requests_total{code="4xx",upstream="app"}`:                   0,
				`gateway_requests_total{code="1xx",upstream="app"}`:                   absent,
				`gateway_request_duration_seconds_count{upstream="app"}`:              1,
				`gateway_request_duration_seconds_bucket{upstream="app",le="0.005"}`:  1,
				`gateway_request_duration_seconds_bucket{upstream="app",le="0.0025"}`: 0,
				`gateway_request_duration_seconds_sum{upstream="app"}`:                0.004,
			},
		},
		{
			name: "request to the gateway's own endpoint",
			call: func(m *Metrics) { m.Request("", 302, ms); m.Request("", 404, ms) },
			want: map[string]float64{
				`gateway_requests_total{code="3xx",upstream="gateway"}`:      1,
				`gateway_requests_total{code="4xx",upstream="gateway"}`:      1,
				`gateway_request_duration_seconds_count{upstream="gateway"}`: 2,
				`gateway_requests_total{code="2xx",upstream=""}`:             absent,
			},
		},
		{
			name: "status code classes",
			call: func(m *Metrics) {
				for _, s := range []int{101, 200, 204, 399, 400, 499, 500, 504, 0, 99, 600} {
					m.Request("app", s, ms)
				}
			},
			want: map[string]float64{
				`gateway_requests_total{code="1xx",upstream="app"}`:   1,
				`gateway_requests_total{code="2xx",upstream="app"}`:   2,
				`gateway_requests_total{code="3xx",upstream="app"}`:   1,
				`gateway_requests_total{code="4xx",upstream="app"}`:   2,
				`gateway_requests_total{code="5xx",upstream="app"}`:   2,
				`gateway_requests_total{code="other",upstream="app"}`: 3,
			},
		},
		{
			name: "decisions",
			call: func(m *Metrics) {
				m.Decision("allow", "route", ms)
				m.Decision("allow", "object", ms)
				m.Decision("deny", "no_route", ms)
				m.Decision("error", "error", ms)
				m.Decision("deny", "something new", ms)
				m.Decision("maybe", "route", ms)
			},
			want: map[string]float64{
				`gateway_policy_decisions_total{reason="route",result="allow"}`:   1,
				`gateway_policy_decisions_total{reason="object",result="allow"}`:  1,
				`gateway_policy_decisions_total{reason="no_route",result="deny"}`: 1,
				`gateway_policy_decisions_total{reason="error",result="error"}`:   1,
				`gateway_policy_decisions_total{reason="other",result="deny"}`:    1,
				`gateway_policy_decisions_total{reason="route",result="other"}`:   1,
				`gateway_policy_decisions_total{reason="route",result="deny"}`:    0,
				`gateway_policy_decision_duration_seconds_count`:                  6,
			},
		},
		{
			name: "authentication",
			call: func(m *Metrics) {
				m.Authn("session", "authenticated", ms)
				m.Authn("session", "anonymous", ms)
				m.Authn("bearer", "invalid", 2*ms)
				m.Authn("basic", "error", ms)
				m.Authn("remote_user", "authenticated", ms)
				m.Authn("none", "anonymous", ms)
				m.Authn("kerberos", "authenticated", ms)
				m.Authn("session", "confused", ms)
			},
			want: map[string]float64{
				`gateway_authn_total{backend="session",outcome="authenticated"}`:     1,
				`gateway_authn_total{backend="session",outcome="anonymous"}`:         1,
				`gateway_authn_total{backend="bearer",outcome="invalid"}`:            1,
				`gateway_authn_total{backend="basic",outcome="error"}`:               1,
				`gateway_authn_total{backend="remote_user",outcome="authenticated"}`: 1,
				`gateway_authn_total{backend="none",outcome="anonymous"}`:            1,
				`gateway_authn_total{backend="other",outcome="authenticated"}`:       1,
				`gateway_authn_total{backend="session",outcome="other"}`:             1,
				`gateway_authn_total{backend="bearer",outcome="error"}`:              0,
				`gateway_authn_duration_seconds_count{backend="session"}`:            3,
				`gateway_authn_duration_seconds_count{backend="bearer"}`:             1,
				`gateway_authn_duration_seconds_sum{backend="bearer"}`:               0.002,
				`gateway_authn_duration_seconds_count{backend="other"}`:              1,
			},
		},
		{
			name: "upstream round trips and errors",
			call: func(m *Metrics) {
				m.Upstream("app", 30*ms)
				m.Upstream("app", 2*time.Second)
				m.Upstream("admin", ms)
				m.UpstreamError("app", "timeout")
				m.UpstreamError("app", "unavailable")
				m.UpstreamError("app", "unavailable")
				m.UpstreamError("admin", "weird")
			},
			want: map[string]float64{
				`gateway_upstream_duration_seconds_count{upstream="app"}`:            2,
				`gateway_upstream_duration_seconds_bucket{upstream="app",le="0.05"}`: 1,
				`gateway_upstream_duration_seconds_bucket{upstream="app",le="2.5"}`:  2,
				`gateway_upstream_duration_seconds_count{upstream="admin"}`:          1,
				`gateway_upstream_errors_total{kind="timeout",upstream="app"}`:       1,
				`gateway_upstream_errors_total{kind="unavailable",upstream="app"}`:   2,
				`gateway_upstream_errors_total{kind="other",upstream="admin"}`:       1,
				`gateway_upstream_errors_total{kind="timeout",upstream="admin"}`:     0,
				`gateway_requests_total{code="2xx",upstream="app"}`:                  0,
			},
		},
		{
			name: "logins, lockouts and sessions",
			call: func(m *Metrics) {
				m.Login("success")
				m.Login("failure")
				m.Login("failure")
				m.Login("locked")
				m.Login("bogus")
				m.Lockout()
				m.SessionCreated()
				m.SessionCreated()
				m.SessionRevoked(3)
				m.SessionRevoked(0)
				m.SessionRevoked(-2)
			},
			want: map[string]float64{
				`gateway_logins_total{outcome="success"}`: 1,
				`gateway_logins_total{outcome="failure"}`: 2,
				`gateway_logins_total{outcome="locked"}`:  1,
				`gateway_logins_total{outcome="other"}`:   1,
				`gateway_lockouts_total`:                  1,
				`gateway_sessions_created_total`:          2,
				`gateway_sessions_revoked_total`:          3,
			},
		},
		{
			name: "policy loads and reload errors",
			call: func(m *Metrics) {
				m.PolicyLoaded("abc123")
				m.PolicyReloadError()
				m.PolicyReloadError()
			},
			want: map[string]float64{
				`gateway_policy_info{revision="abc123"}`: 1,
				`gateway_policy_loads_total`:             1,
				`gateway_policy_reload_errors_total`:     2,
			},
		},
		{
			name: "nothing called",
			call: func(*Metrics) {},
			want: map[string]float64{
				`gateway_policy_decisions_total{reason="route",result="allow"}`:  0,
				`gateway_authn_total{backend="session",outcome="authenticated"}`: 0,
				`gateway_logins_total{outcome="success"}`:                        0,
				`gateway_lockouts_total`:                                         0,
				`gateway_policy_loads_total`:                                     0,
				`gateway_policy_info{revision=""}`:                               absent,
				`gateway_redis_pool_connections`:                                 absent,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			tt.call(m)
			checkSeries(t, scrape(t, m), tt.want)
		})
	}
}

// The registry carries the Go runtime and process collectors, and the
// gateway's metrics pass promlint (names, units, _total, help).
func TestRegistry(t *testing.T) {
	m := New()
	m.Request("app", 200, time.Millisecond)
	m.PolicyLoaded("r1")
	got := scrape(t, m)
	for _, series := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := got[series]; !ok {
			t.Errorf("%s missing from the scrape", series)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "gateway_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestPolicyRevisionReplaces(t *testing.T) {
	tests := []struct {
		name      string
		revisions []string
		want      map[string]float64
	}{
		{
			name:      "first load",
			revisions: []string{"r1"},
			want:      map[string]float64{`gateway_policy_info{revision="r1"}`: 1, `gateway_policy_loads_total`: 1},
		},
		{
			name:      "reload replaces the old revision",
			revisions: []string{"r1", "r2"},
			want: map[string]float64{
				`gateway_policy_info{revision="r1"}`: absent,
				`gateway_policy_info{revision="r2"}`: 1,
				`gateway_policy_loads_total`:         2,
			},
		},
		{
			name:      "same revision reloaded",
			revisions: []string{"r1", "r2", "r2"},
			want: map[string]float64{
				`gateway_policy_info{revision="r1"}`: absent,
				`gateway_policy_info{revision="r2"}`: 1,
				`gateway_policy_loads_total`:         3,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			for _, r := range tt.revisions {
				m.PolicyLoaded(r)
			}
			if n := testutil.CollectAndCount(m.policyInfo); n != 1 {
				t.Errorf("gateway_policy_info has %d series, want 1", n)
			}
			checkSeries(t, scrape(t, m), tt.want)
		})
	}
}

// Concurrent reloads leave exactly one revision.
func TestPolicyLoadedConcurrent(t *testing.T) {
	m := New()
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 100 {
				m.PolicyLoaded(fmt.Sprintf("r%d-%d", i, j))
			}
		}()
	}
	for range 8 {
		<-done
	}
	if n := testutil.CollectAndCount(m.policyInfo); n != 1 {
		t.Errorf("gateway_policy_info has %d series, want 1", n)
	}
	if got := testutil.ToFloat64(m.policyLoads); got != 800 {
		t.Errorf("gateway_policy_loads_total = %v, want 800", got)
	}
}

// Label values stay bounded: upstream names beyond the cap share "other";
// the gateway's own endpoints keep their "gateway" series regardless.
func TestUpstreamCap(t *testing.T) {
	m := New()
	for i := range maxUpstreams + 50 {
		m.Upstream(fmt.Sprintf("u%d", i), time.Millisecond)
	}
	m.Upstream("", time.Millisecond)
	if n, want := testutil.CollectAndCount(m.upstreamLatency), maxUpstreams+2; n != want {
		t.Errorf("gateway_upstream_duration_seconds has %d series, want %d", n, want)
	}
	got := scrape(t, m)
	checkSeries(t, got, map[string]float64{
		`gateway_upstream_duration_seconds_count{upstream="u0"}`:      1,
		`gateway_upstream_duration_seconds_count{upstream="other"}`:   50,
		`gateway_upstream_duration_seconds_count{upstream="gateway"}`: 1,
		`gateway_upstream_duration_seconds_count{upstream="u300"}`:    absent,
	})
}

// The hot path allocates nothing once an upstream has been seen.
func TestHotPathAllocs(t *testing.T) {
	m := New()
	m.Request("app", 200, 0)
	ctx := context.Background()
	cmd := redis.NewStringCmd(ctx, "get", "k")
	process := m.RedisHook().ProcessHook(func(context.Context, redis.Cmder) error { return nil })
	_ = process(ctx, cmd)
	tests := []struct {
		name string
		f    func()
	}{
		{"Request", func() { m.Request("app", 200, time.Millisecond) }},
		{"Request gateway", func() { m.Request("", 404, time.Millisecond) }},
		{"Decision", func() { m.Decision("allow", "route", time.Millisecond) }},
		{"Authn", func() { m.Authn("session", "authenticated", time.Millisecond) }},
		{"Upstream", func() { m.Upstream("app", time.Millisecond) }},
		{"UpstreamError", func() { m.UpstreamError("app", "timeout") }},
		{"Login", func() { m.Login("failure") }},
		{"Redis hook", func() { _ = process(ctx, cmd) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f() // first use of a label value may resolve its series
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Errorf("%s: %v allocations per call, want 0", tt.name, n)
			}
		})
	}
}

func newRedis(t *testing.T, addr string, m *Metrics, opts ...func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr}
	for _, f := range opts {
		f(o)
	}
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	rdb.AddHook(m.RedisHook())
	m.RegisterRedisPool(rdb)
	return rdb
}

func TestRedisHook(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	const script = `return redis.call("GET", KEYS[1])`
	tests := []struct {
		name string
		run  func(t *testing.T, rdb *redis.Client)
		want map[string]float64
	}{
		{
			name: "SET GET EVAL pipeline",
			run: func(t *testing.T, rdb *redis.Client) {
				cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "k", "v", 0)
					p.Get(ctx, "k")
					p.Eval(ctx, script, []string{"k"})
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if v := cmds[2].(*redis.Cmd).Val(); v != "v" {
					t.Fatalf("EVAL = %v", v)
				}
			},
			want: map[string]float64{
				`gateway_redis_command_duration_seconds_count{command="set"}`:  1,
				`gateway_redis_command_duration_seconds_count{command="get"}`:  1,
				`gateway_redis_command_duration_seconds_count{command="eval"}`: 1,
				`gateway_redis_command_errors_total{command="set"}`:            0,
				`gateway_redis_command_errors_total{command="get"}`:            0,
				`gateway_redis_command_errors_total{command="eval"}`:           0,
			},
		},
		{
			name: "transaction",
			run: func(t *testing.T, rdb *redis.Client) {
				if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Incr(ctx, "n")
					p.Expire(ctx, "n", time.Minute)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]float64{
				`gateway_redis_command_duration_seconds_count{command="multi"}`:  1,
				`gateway_redis_command_duration_seconds_count{command="incr"}`:   1,
				`gateway_redis_command_duration_seconds_count{command="expire"}`: 1,
				`gateway_redis_command_duration_seconds_count{command="exec"}`:   1,
			},
		},
		{
			name: "missing key is not an error",
			run: func(t *testing.T, rdb *redis.Client) {
				if err := rdb.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) {
					t.Fatalf("GET missing: %v, want redis.Nil", err)
				}
				cmds, _ := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.Get(ctx, "missing")
					p.HGet(ctx, "missing", "f")
					return nil
				})
				if len(cmds) != 2 {
					t.Fatalf("pipeline ran %d commands", len(cmds))
				}
			},
			want: map[string]float64{
				`gateway_redis_command_duration_seconds_count{command="get"}`:  2,
				`gateway_redis_command_errors_total{command="get"}`:            0,
				`gateway_redis_command_duration_seconds_count{command="hget"}`: 1,
				`gateway_redis_command_errors_total{command="hget"}`:           0,
			},
		},
		{
			name: "script runs as evalsha then eval, NOSCRIPT is not an error",
			run: func(t *testing.T, rdb *redis.Client) {
				s := redis.NewScript(script + ` -- ` + t.Name()) // not cached by another case
				for range 2 {
					if err := s.Run(ctx, rdb, []string{"missing"}).Err(); !errors.Is(err, redis.Nil) {
						t.Fatalf("script: %v", err)
					}
				}
			},
			want: map[string]float64{
				`gateway_redis_command_duration_seconds_count{command="evalsha"}`: 2,
				`gateway_redis_command_duration_seconds_count{command="eval"}`:    1,
				`gateway_redis_command_errors_total{command="evalsha"}`:           0,
				`gateway_redis_command_errors_total{command="eval"}`:              0,
			},
		},
		{
			name: "error reply counts",
			run: func(t *testing.T, rdb *redis.Client) {
				rdb.Set(ctx, "str", "x", 0)
				if err := rdb.LPush(ctx, "str", "y").Err(); err == nil {
					t.Fatal("LPUSH on a string succeeded")
				}
			},
			want: map[string]float64{
				`gateway_redis_command_duration_seconds_count{command="lpush"}`: 1,
				`gateway_redis_command_errors_total{command="lpush"}`:           1,
				`gateway_redis_command_errors_total{command="set"}`:             0,
			},
		},
		{
			name: "command names are lower case and bounded",
			run: func(t *testing.T, rdb *redis.Client) {
				if err := rdb.Do(ctx, "PING").Err(); err != nil {
					t.Fatal(err)
				}
				_ = rdb.Do(ctx, "NO SUCH COMMAND").Err()
			},
			want: map[string]float64{
				`gateway_redis_command_duration_seconds_count{command="ping"}`:  1,
				`gateway_redis_command_duration_seconds_count{command="PING"}`:  absent,
				`gateway_redis_command_duration_seconds_count{command="other"}`: 1,
				`gateway_redis_command_errors_total{command="other"}`:           1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			rdb := newRedis(t, srv.Addr(), m)
			tt.run(t, rdb)
			got := scrape(t, m)
			checkSeries(t, got, tt.want)
			if got[`gateway_redis_dial_duration_seconds_count`] < 1 {
				t.Errorf("no dial observed")
			}
			if got[`gateway_redis_dial_errors_total`] != 0 {
				t.Errorf("gateway_redis_dial_errors_total = %v, want 0", got[`gateway_redis_dial_errors_total`])
			}
		})
	}
}

// With the server gone, commands and dials fail and are counted.
func TestRedisHookServerStopped(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	m := New()
	rdb := newRedis(t, srv.Addr(), m, func(o *redis.Options) {
		// Fail fast: no command retries, few dial attempts.
		o.MaxRetries = -1
		o.DialerRetries = 1
		o.DialerRetryTimeout = time.Millisecond
	})
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	tests := []struct {
		name    string
		run     func() error
		command string
	}{
		{"GET", func() error { return rdb.Get(ctx, "k").Err() }, "get"},
		{"pipeline", func() error {
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.HGetAll(ctx, "h")
				return nil
			})
			return err
		}, "hgetall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || errors.Is(err, redis.Nil) {
				t.Fatalf("%s against a stopped server: %v, want an error", tt.name, err)
			}
			checkSeries(t, scrape(t, m), map[string]float64{
				`gateway_redis_command_errors_total{command="` + tt.command + `"}`:           1,
				`gateway_redis_command_duration_seconds_count{command="` + tt.command + `"}`: 1,
			})
		})
	}
	got := scrape(t, m)
	checkSeries(t, got, map[string]float64{`gateway_redis_command_errors_total{command="set"}`: 0})
	if got[`gateway_redis_dial_errors_total`] < 1 {
		t.Errorf("gateway_redis_dial_errors_total = %v, want >= 1", got[`gateway_redis_dial_errors_total`])
	}
}

func TestRedisPoolStats(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	m := New()
	rdb := newRedis(t, srv.Addr(), m)
	for range 5 {
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape(t, m)
	st := rdb.PoolStats()
	tests := []struct {
		series string
		want   float64
	}{
		{"gateway_redis_pool_hits_total", float64(st.Hits)},
		{"gateway_redis_pool_misses_total", float64(st.Misses)},
		{"gateway_redis_pool_timeouts_total", float64(st.Timeouts)},
		{"gateway_redis_pool_waits_total", float64(st.WaitCount)},
		{"gateway_redis_pool_stale_connections_total", float64(st.StaleConns)},
		{"gateway_redis_pool_connections", float64(st.TotalConns)},
		{"gateway_redis_pool_idle_connections", float64(st.IdleConns)},
	}
	for _, tt := range tests {
		t.Run(tt.series, func(t *testing.T) {
			g, ok := got[tt.series]
			if !ok {
				t.Fatalf("%s missing from the scrape", tt.series)
			}
			if g != tt.want {
				t.Errorf("%s = %v, want %v (PoolStats)", tt.series, g, tt.want)
			}
		})
	}
	if st.Hits+st.Misses == 0 || st.TotalConns == 0 {
		t.Errorf("PoolStats shows no use: %+v", st)
	}
	if _, ok := got["gateway_redis_pool_wait_seconds_total"]; !ok {
		t.Errorf("gateway_redis_pool_wait_seconds_total missing from the scrape")
	}

	// A second client adds to the same series.
	rdb2 := newRedis(t, srv.Addr(), m)
	if err := rdb2.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	got = scrape(t, m)
	if want := float64(rdb.PoolStats().TotalConns + rdb2.PoolStats().TotalConns); got["gateway_redis_pool_connections"] != want {
		t.Errorf("gateway_redis_pool_connections = %v with two clients, want %v", got["gateway_redis_pool_connections"], want)
	}
}

func BenchmarkRequest(b *testing.B) {
	m := New()
	hot := func(d time.Duration) {
		m.Authn("session", "authenticated", d)
		m.Decision("allow", "route", d)
		m.Request("app", 200, d)
	}
	hot(time.Millisecond)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			hot(time.Duration(i%5000) * time.Microsecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				hot(time.Duration(i%5000) * time.Microsecond)
			}
		})
	})
}
