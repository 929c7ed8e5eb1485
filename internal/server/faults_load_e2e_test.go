package server_test

// Faults under load: Redis killed and restarted, Redis hung, the upstream
// stopped, a broken then a changed policy pushed to a watched directory.
// While each fault is injected, 8 workers send a fixed mix of requests
// whose verdict is known, and every single request is checked afterwards:
//
//   - a request the policy denies is never forwarded (the upstream never
//     saw its ?n=) and never answered 2xx;
//   - a request the policy allows is either 2xx (and the upstream saw it,
//     with the right identity) or a fail-closed error of the fault at hand
//     (503 store, 502/504 upstream, 500 policy), and a 500/503 was not
//     forwarded.
//
// Each test also measures recovery and checks for leaked goroutines.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
	"github.com/djangate/gateway/internal/server"
	"github.com/djangate/gateway/policies"
)

const (
	flWorkers = 8
	// flWarm is how long the load runs before a fault and after recovery.
	flWarm = 700 * time.Millisecond
	// flGoroutineMargin is how many more goroutines than the baseline are
	// tolerated once the load stopped and idle connections closed.
	flGoroutineMargin = 10
)

// flKind is one kind of request the load sends, with the verdict of the
// shipped policy (policies/data.yaml).
type flKind struct {
	name    string
	path    string // without the query
	user    string // whose session cookie is sent; "" anonymous
	allowed bool
}

const (
	flAlice = iota
	flBob
	flAnonAdmin
	flAnonPublic
)

var flKinds = [...]flKind{
	flAlice:      {"alice /editors/x", "/editors/x", "alice", true},
	flBob:        {"bob /editors/x", "/editors/x", "bob", false},
	flAnonAdmin:  {"anon /admin/", "/admin/", "", false},
	flAnonPublic: {"anon /public/", "/public/", "", true},
}

// flResult is one request of the load as the client saw it.
type flResult struct {
	kind       int
	n          int64
	start, end time.Time
	status     int   // 0 when err
	err        error // no response at all
}

func (r flResult) latency() time.Duration { return r.end.Sub(r.start) }

// flUpstream is a recording upstream on a fixed address that can be
// stopped and started again on that address. It records, per ?n=, the
// X-Remote-User it received.
type flUpstream struct {
	addr  string
	mu    sync.Mutex
	srv   *http.Server
	done  chan struct{} // closed when srv's Serve returned
	seen  map[int64]string
	dups  int // an n seen more than once (a replayed request)
	other int // requests without ?n=
}

func newFLUpstream(t *testing.T) *flUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &flUpstream{addr: l.Addr().String(), seen: map[int64]string{}}
	u.serve(l)
	t.Cleanup(u.stop)
	return u
}

func (u *flUpstream) handle(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	u.mu.Lock()
	if err != nil {
		u.other++
	} else {
		if _, ok := u.seen[n]; ok {
			u.dups++
		}
		u.seen[n] = r.Header.Get("X-Remote-User")
	}
	u.mu.Unlock()
	io.WriteString(w, "ok") //nolint:errcheck
}

func (u *flUpstream) serve(l net.Listener) {
	// A short idle timeout closes the gateway's keep-alive connections
	// soon after the load stops, so the goroutine count can settle.
	srv := &http.Server{Handler: http.HandlerFunc(u.handle), IdleTimeout: 500 * time.Millisecond, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	u.mu.Lock()
	u.srv, u.done = srv, done
	u.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
}

// stop closes the listener and every connection, idle or active.
func (u *flUpstream) stop() {
	u.mu.Lock()
	srv, done := u.srv, u.done
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// restart listens on the same address again.
func (u *flUpstream) restart(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := net.Listen("tcp", u.addr)
		if err == nil {
			u.serve(l)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream: listen again on %s: %v", u.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (u *flUpstream) lookup(n int64) (user string, forwarded bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user, forwarded = u.seen[n]
	return user, forwarded
}

// flWithUpstream points the gateway at u.
func flWithUpstream(u *flUpstream) func(*config.Config, *fs.FS) {
	return func(c *config.Config, _ *fs.FS) {
		c.Upstreams = []config.Upstream{{Name: "app", URL: "http://" + u.addr}}
	}
}

// Each test injects one fault. On a loaded host (-race, 2 CPUs shared)
// the 250ms policy budget, and the harness's 300ms Redis timeouts where
// Redis is not the subject, can expire on their own and inject a second,
// unrelated fault (a 500 or a 503 that is fail-closed but not the fault
// under test). These options give those budgets room; they change no
// verdict and the invariant is checked in full.
func flRoomyPolicy(c *config.Config, _ *fs.FS) { c.Policy.Timeout = 2 * time.Second }

func flRoomyRedis(c *config.Config, _ *fs.FS) {
	c.Redis.DialTimeout, c.Redis.ReadTimeout, c.Redis.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
}

// flDriver runs the load against a gateway.
type flDriver struct {
	t       *testing.T
	g       *gw
	up      *flUpstream
	tr      *http.Transport
	client  *http.Client
	cookies map[string]string // user → session id; read-only once running
	next    atomic.Int64
	mu      sync.Mutex
	res     []flResult
	stopc   chan struct{}
	wg      sync.WaitGroup
	stopped bool
}

func newFLDriver(t *testing.T, g *gw, up *flUpstream) *flDriver {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * flWorkers, IdleConnTimeout: 5 * time.Second}
	d := &flDriver{t: t, g: g, up: up, tr: tr, stopc: make(chan struct{}),
		client:  &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		cookies: map[string]string{"alice": g.login(t, "alice"), "bob": g.login(t, "bob")}}
	t.Cleanup(func() { d.halt(); tr.CloseIdleConnections() })
	return d
}

func (d *flDriver) start() {
	for w := range flWorkers {
		d.wg.Add(1)
		go d.worker(w)
	}
}

func (d *flDriver) worker(w int) {
	defer d.wg.Done()
	for i := w; ; i++ {
		select {
		case <-d.stopc:
			return
		default:
		}
		r := d.send(i % len(flKinds))
		d.mu.Lock()
		d.res = append(d.res, r)
		d.mu.Unlock()
		time.Sleep(2 * time.Millisecond) // ≤ ~4000 req/s: the fault, not the CPU, is what is measured
	}
}

func (d *flDriver) send(kind int) flResult {
	k := flKinds[kind]
	r := flResult{kind: kind, n: d.next.Add(1)}
	req, err := http.NewRequest(http.MethodGet, d.g.URL+k.path+"?n="+strconv.FormatInt(r.n, 10), nil)
	if err != nil {
		panic(err)
	}
	if k.user != "" {
		req.Header.Set("Cookie", d.g.cfg.Session.CookieName+"="+d.cookies[k.user])
	}
	r.start = time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		r.err = err
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.status = resp.StatusCode
	}
	r.end = time.Now()
	return r
}

// halt stops the load and waits for the requests in flight.
func (d *flDriver) halt() []flResult {
	d.mu.Lock()
	if !d.stopped {
		d.stopped = true
		close(d.stopc)
	}
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.res)
}

// waitFor waits until a request completes for which match is true and
// returns it, or fails the test after timeout.
func (d *flDriver) waitFor(what string, timeout time.Duration, match func(flResult) bool) flResult {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	from := 0
	for {
		d.mu.Lock()
		res := d.res[from:]
		from = len(d.res)
		for _, r := range res {
			if match(r) {
				d.mu.Unlock()
				return r
			}
		}
		d.mu.Unlock()
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flVerdict is what the policy in force decides for one request.
type flVerdict int

const (
	flAllowed flVerdict = iota
	flDenied
	flEither // the policy changed while the request was in flight
)

func flStatic(r flResult) flVerdict {
	if flKinds[r.kind].allowed {
		return flAllowed
	}
	return flDenied
}

// flCheck checks every request against the invariant and logs the
// outcomes per kind. failClosed are the error statuses an allowed request
// may get under the fault injected.
func (d *flDriver) check(res []flResult, expect func(flResult) flVerdict, failClosed ...int) (violations int) {
	t := d.t
	t.Helper()
	violate := func(r flResult, format string, args ...any) {
		violations++
		if violations <= 15 {
			t.Errorf("INVARIANT VIOLATION: %s n=%d (t+%s, took %s): %s", flKinds[r.kind].name, r.n,
				r.start.Sub(res[0].start).Round(time.Millisecond), r.latency().Round(time.Millisecond), fmt.Sprintf(format, args...))
		}
	}
	outcomes := map[string]int{}
	for _, r := range res {
		k := flKinds[r.kind]
		user, fwd := d.up.lookup(r.n)
		v := expect(r)
		key := fmt.Sprintf("%-17s %d", k.name, r.status)
		if v == flEither {
			key += " (policy changing)"
		}
		if fwd {
			key += " forwarded"
		}
		outcomes[key]++
		ok2xx := r.status >= 200 && r.status < 300
		switch {
		case r.err != nil:
			violate(r, "no response: %v", r.err)
		case v == flDenied && (fwd || ok2xx):
			violate(r, "DENIED REQUEST forwarded=%v status=%d", fwd, r.status)
		case ok2xx && !fwd:
			violate(r, "2xx but the upstream never saw it")
		case ok2xx && user != k.user:
			violate(r, "forwarded as X-Remote-User %q, want %q", user, k.user)
		case v == flDenied: // refused, not forwarded
		case ok2xx:
		case v == flEither && (r.status == 401 || r.status == 403) && !fwd:
		case !slices.Contains(failClosed, r.status):
			violate(r, "allowed request got %d (fail-closed statuses here: %v), forwarded=%v", r.status, failClosed, fwd)
		case (r.status == 500 || r.status == 503) && fwd:
			violate(r, "answered %d after it was forwarded", r.status)
		}
	}
	if violations > 15 {
		t.Errorf("... %d invariant violations in all", violations)
	}
	if violations > 0 {
		var errs []string
		for _, l := range strings.Split(d.g.logs.String(), "\n") {
			if strings.Contains(l, `"level":"ERROR"`) && len(errs) < 5 {
				errs = append(errs, l)
			}
		}
		t.Logf("the gateway's first errors:\n%s", strings.Join(errs, "\n"))
	}
	keys := make([]string, 0, len(outcomes))
	for k := range outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %-45s %6d", k, outcomes[k])
	}
	d.up.mu.Lock()
	dups, other := d.up.dups, d.up.other
	d.up.mu.Unlock()
	t.Logf("%d requests, %d invariant violations; upstream saw %d replayed, %d without ?n=; outcomes (kind status):%s",
		len(res), violations, dups, other, b.String())
	return violations
}

// count counts the requests for which match is true.
func flCount(res []flResult, match func(flResult) bool) int {
	n := 0
	for _, r := range res {
		if match(r) {
			n++
		}
	}
	return n
}

// flBaseline is the process's goroutines and live heap at one moment.
type flBaseline struct {
	goroutines int
	heap       uint64
}

func flMeasure() flBaseline {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return flBaseline{runtime.NumGoroutine(), m.HeapAlloc}
}

// baseline is taken before the load: the client's connections closed,
// the gateway idle.
func (d *flDriver) baseline() flBaseline {
	d.tr.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	return flMeasure()
}

// leakCheck runs once the load stopped and the fault cleared: it closes
// the client's idle connections and waits up to 5s for the goroutines to
// come back within flGoroutineMargin of the baseline.
func (d *flDriver) leakCheck(before flBaseline) {
	t := d.t
	t.Helper()
	d.tr.CloseIdleConnections()
	// Wait until the count is back to the baseline, or has not moved
	// for a second (what is left then stays), or 5s.
	start := time.Now()
	last, lastChange := runtime.NumGoroutine(), start
	for n := last; n > before.goroutines && time.Since(lastChange) < time.Second && time.Since(start) < 5*time.Second; n = runtime.NumGoroutine() {
		if n != last {
			last, lastChange = n, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	settled := time.Since(start)
	after := flMeasure()
	t.Logf("leak check: goroutines %d before load → %d after (settled in %s); heap %.1f MiB → %.1f MiB",
		before.goroutines, after.goroutines, settled.Round(time.Millisecond), float64(before.heap)/(1<<20), float64(after.heap)/(1<<20))
	if after.goroutines > before.goroutines+flGoroutineMargin {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Errorf("goroutines leaked: %d before the load, %d after it stopped (margin %d); goroutines:\n%.12000s",
			before.goroutines, after.goroutines, flGoroutineMargin, buf.String())
	}
}

// TestFaultRedisKilledAndRestarted: Redis is killed for 2s under load and
// started again. Redis-backed requests fail closed with 503 meanwhile;
// the gateway recovers by itself. Redis first writes an RDB snapshot
// (SAVE into testredis's --dir, loaded again at start), as a Redis with
// persistence would, so the sessions survive the restart.
func TestFaultRedisKilledAndRestarted(t *testing.T) {
	up := newFLUpstream(t)
	g := newGateway(t, flWithUpstream(up), flRoomyPolicy)
	d := newFLDriver(t, g, up)
	before := d.baseline()

	d.start()
	time.Sleep(flWarm)
	if err := g.rdb.Save(context.Background()).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	downAt := time.Now()
	g.redis.Stop()
	time.Sleep(2 * time.Second)
	g.redis.Restart() // returns once it answers PING
	upAt := time.Now()

	reconnected := d.waitFor("alice answered other than 503 after the restart", 10*time.Second, func(r flResult) bool {
		return r.kind == flAlice && r.start.After(upAt) && r.status != 0 && r.status != 503
	})
	recovered := d.waitFor("alice's requests succeed again after the restart", 10*time.Second, func(r flResult) bool {
		return r.kind == flAlice && r.start.After(upAt) && r.status == 200
	})
	time.Sleep(flWarm)
	res := d.halt()

	t.Logf("Redis down for %s; after the restart: first non-503 for alice after %s (status %d), alice allowed again after %s",
		upAt.Sub(downAt).Round(time.Millisecond), reconnected.end.Sub(upAt).Round(time.Millisecond), reconnected.status,
		recovered.end.Sub(upAt).Round(time.Millisecond))
	d.check(res, flStatic, 503)

	during := func(r flResult) bool { return r.start.After(downAt.Add(50*time.Millisecond)) && r.end.Before(upAt) }
	if n := flCount(res, func(r flResult) bool { return during(r) && r.kind == flAlice && r.status == 503 }); n == 0 {
		t.Error("no request of alice's was answered 503 while Redis was down: the fault was not exercised")
	}
	var slowest time.Duration
	for _, r := range res {
		if during(r) && r.status == 503 {
			slowest = max(slowest, r.latency())
		}
	}
	t.Logf("while Redis was down: alice 503 ×%d, bob 503 ×%d, anon /public/ 200 ×%d of %d; slowest 503 %s",
		flCount(res, func(r flResult) bool { return during(r) && r.kind == flAlice && r.status == 503 }),
		flCount(res, func(r flResult) bool { return during(r) && r.kind == flBob && r.status == 503 }),
		flCount(res, func(r flResult) bool { return during(r) && r.kind == flAnonPublic && r.status == 200 }),
		flCount(res, func(r flResult) bool { return during(r) && r.kind == flAnonPublic }), slowest.Round(time.Millisecond))
	after := flCount(res, func(r flResult) bool {
		return r.start.After(recovered.end) && flKinds[r.kind].user != "" && r.status == 503
	})
	t.Logf("503s for sessions after recovery: %d", after)
	d.leakCheck(before)
}

// TestFaultRedisSlow: Redis stops answering for 2s under load. Requests
// that need it fail closed (503) within the configured read timeout
// instead of waiting for Redis, and the gateway recovers afterwards.
func TestFaultRedisSlow(t *testing.T) {
	up := newFLUpstream(t)
	g := newGateway(t, flWithUpstream(up), flRoomyPolicy)
	d := newFLDriver(t, g, up)
	before := d.baseline()

	d.start()
	time.Sleep(flWarm)
	const sleep = 2 * time.Second
	type blockResult struct {
		how string
		err error
	}
	blocked := make(chan blockResult, 1)
	slowAt := time.Now()
	go func() {
		how, err := g.redis.Stall(sleep)
		blocked <- blockResult{how, err}
	}()
	var b blockResult
	select {
	case b = <-blocked:
	case <-time.After(sleep + 10*time.Second):
		t.Fatal("the blocking command did not return")
	}
	fastAt := time.Now()
	if b.err != nil {
		t.Fatalf("%s: %v", b.how, b.err)
	}
	recovered := d.waitFor("alice's requests succeed again after Redis answers", 10*time.Second, func(r flResult) bool {
		return r.kind == flAlice && r.start.After(fastAt) && r.status == 200
	})
	time.Sleep(flWarm)
	res := d.halt()

	readTimeout := g.cfg.Redis.ReadTimeout
	t.Logf("Redis blocked by %s for %s; alice allowed again %s after it answered",
		b.how, fastAt.Sub(slowAt).Round(time.Millisecond), recovered.end.Sub(fastAt).Round(time.Millisecond))
	d.check(res, flStatic, 503)

	// Every request with a session (they need Redis) was answered well
	// before the stall ended: it waits about one read timeout (plus at
	// most a dial and the connection's handshake), not for Redis. The
	// bound leaves room for a loaded host and stays below the 2s stall.
	bound := 5 * readTimeout
	var lat []time.Duration
	var slowest flResult
	var slowestAnon time.Duration
	for _, r := range res {
		if r.status == 503 {
			lat = append(lat, r.latency())
			if r.latency() > slowest.latency() {
				slowest = r
			}
		}
		if flKinds[r.kind].user == "" {
			if r.end.After(slowAt) && r.start.Before(fastAt) {
				slowestAnon = max(slowestAnon, r.latency())
			}
			continue
		}
		if r.latency() > bound {
			t.Errorf("%s n=%d: answered %d after %s (> %s with redis.read_timeout %s): it waited for Redis",
				flKinds[r.kind].name, r.n, r.status, r.latency().Round(time.Millisecond), bound, readTimeout)
		}
	}
	t.Logf("slowest anonymous request (no Redis needed) while Redis was blocked: %s", slowestAnon.Round(time.Millisecond))
	if len(lat) == 0 {
		t.Fatal("no request was answered 503 while Redis was blocked: the fault was not exercised")
	}
	slices.Sort(lat)
	t.Logf("503s while Redis was blocked: %d; latency p50 %s, p99 %s, max %s (%s); redis.read_timeout %s",
		len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond),
		slowest.latency().Round(time.Millisecond), flKinds[slowest.kind].name, readTimeout)
	if n := flCount(res, func(r flResult) bool { return r.status == 503 && flKinds[r.kind].user == "" }); n != 0 {
		t.Logf("note: %d anonymous requests were answered 503", n)
	}
	d.leakCheck(before)
}

// TestFaultUpstreamStopped: the upstream goes away for 1.5s under load
// and comes back on the same address: allowed requests get 502 (or 504)
// meanwhile, denied ones are still never forwarded, and the gateway
// recovers by itself.
func TestFaultUpstreamStopped(t *testing.T) {
	up := newFLUpstream(t)
	g := newGateway(t, flWithUpstream(up), flRoomyPolicy, flRoomyRedis)
	d := newFLDriver(t, g, up)
	before := d.baseline()

	d.start()
	time.Sleep(flWarm)
	downAt := time.Now()
	up.stop()
	time.Sleep(1500 * time.Millisecond)
	up.restart(t)
	upAt := time.Now()
	recovered := d.waitFor("alice's requests succeed again after the upstream came back", 10*time.Second, func(r flResult) bool {
		return r.kind == flAlice && r.start.After(upAt) && r.status == 200
	})
	public := d.waitFor("anonymous /public/ succeeds again after the upstream came back", 10*time.Second, func(r flResult) bool {
		return r.kind == flAnonPublic && r.start.After(upAt) && r.status == 200
	})
	time.Sleep(flWarm)
	res := d.halt()

	t.Logf("upstream down for %s; after it came back: alice allowed again after %s, anon /public/ after %s",
		upAt.Sub(downAt).Round(time.Millisecond), recovered.end.Sub(upAt).Round(time.Millisecond), public.end.Sub(upAt).Round(time.Millisecond))
	d.check(res, flStatic, 502, 504)
	during := func(r flResult) bool { return r.start.After(downAt) && r.end.Before(upAt) }
	n502 := flCount(res, func(r flResult) bool { return during(r) && r.status == 502 })
	if n502 == 0 {
		t.Error("no request was answered 502 while the upstream was down: the fault was not exercised")
	}
	var slowest time.Duration
	for _, r := range res {
		if during(r) && r.status == 502 {
			slowest = max(slowest, r.latency())
		}
	}
	t.Logf("while the upstream was down: %d answered 502, slowest %s; after it came back: %d answered 502",
		n502, slowest.Round(time.Millisecond), flCount(res, func(r flResult) bool { return r.start.After(recovered.end) && r.status == 502 }))
	d.leakCheck(before)
}

// flWrite replaces dir/name as deploy tools do: written aside under a
// name the watcher ignores, then renamed over.
func flWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestFaultBrokenPolicyPushed: under load, a syntactically broken file is
// pushed into the watched policy directory: the reload fails and the
// previous policy keeps serving, no verdict changes. Then a valid policy
// that makes /public/ require a login is pushed: the verdict changes
// within seconds and no request it denies is forwarded.
func TestFaultBrokenPolicyPushed(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS); err != nil {
		t.Fatal(err)
	}
	engine, err := authz.New(context.Background(), authz.Options{FS: os.DirFS(dir), Source: dir, Timeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	up := newFLUpstream(t)
	g := newGatewayWith(t, func(o *server.Options) { o.Policy, o.PolicyStatus = engine, engine }, flWithUpstream(up), flRoomyRedis)
	ctx, cancel := context.WithCancel(context.Background())
	watching := make(chan error, 1)
	go func() { watching <- engine.Watch(ctx, dir) }()
	t.Cleanup(func() {
		cancel()
		if err := <-watching; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	d := newFLDriver(t, g, up)
	before := d.baseline()
	rev0 := engine.Revision()

	d.start()
	time.Sleep(flWarm)

	// 1. A broken file: the reload fails, the previous policy serves on.
	brokenAt := time.Now()
	flWrite(t, dir, "broken.rego", "package gateway.authz\n\nthis is { not rego\n")
	deadline := time.Now().Add(5 * time.Second)
	for st := engine.Status(); !st.LastReloadAt.After(brokenAt); st = engine.Status() {
		if time.Now().After(deadline) {
			t.Fatal("the broken policy was not picked up by the watcher within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := engine.Status()
	if st.LastReloadError == "" || engine.Revision() != rev0 {
		t.Fatalf("after the broken push: revision %s (was %s), reload error %q", engine.Revision(), rev0, st.LastReloadError)
	}
	t.Logf("broken policy rejected %s after the push: %s", st.LastReloadAt.Sub(brokenAt).Round(time.Millisecond), st.LastReloadError)
	time.Sleep(time.Second) // load under the rejected push

	// 2. A valid policy in which /public/ needs a login.
	data, err := fs.ReadFile(policies.FS, "data.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const publicRoute = "    - prefix: /public/\n      public: true\n"
	if !strings.Contains(string(data), publicRoute) {
		t.Fatalf("policies/data.yaml has no %q route", publicRoute)
	}
	changed := strings.Replace(string(data), publicRoute, "    - prefix: /public/\n      login: true\n", 1)
	validAt := time.Now()
	if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
		t.Fatal(err)
	}
	flWrite(t, dir, "data.yaml", changed)
	var switchedAt time.Time
	deadline = time.Now().Add(5 * time.Second)
	for engine.Revision() == rev0 {
		if time.Now().After(deadline) {
			t.Fatalf("the valid policy was not in force within 5s; status %+v", engine.Status())
		}
		time.Sleep(2 * time.Millisecond)
	}
	switchedAt = time.Now()
	denied := d.waitFor("anonymous /public/ denied after the new policy", 5*time.Second, func(r flResult) bool {
		return r.kind == flAnonPublic && r.start.After(switchedAt) && r.status == 401
	})
	time.Sleep(time.Second)
	res := d.halt()

	if st := engine.Status(); st.LastReloadError != "" {
		t.Errorf("after the valid push the reload error is still %q", st.LastReloadError)
	}
	t.Logf("valid policy in force %s after the push (revision %s → %s); anonymous /public/ denied through the gateway %s after the push",
		switchedAt.Sub(validAt).Round(time.Millisecond), rev0, engine.Revision(), denied.end.Sub(validAt).Round(time.Millisecond))
	// Before the valid push every verdict is the shipped one, broken file
	// or not (the rejected reload changes nothing); once the new revision
	// is in force anonymous /public/ is denied; in between either.
	expect := func(r flResult) flVerdict {
		if r.kind != flAnonPublic {
			return flStatic(r)
		}
		switch {
		case r.end.Before(validAt):
			return flAllowed
		case r.start.After(switchedAt):
			return flDenied
		}
		return flEither
	}
	d.check(res, expect) // no fail-closed status: the broken policy never served
	brokenPhase := func(r flResult) bool { return r.start.After(brokenAt) && r.end.Before(validAt) }
	want := map[int]int{flAlice: 200, flBob: 403, flAnonAdmin: 401, flAnonPublic: 200}
	changedVerdicts := flCount(res, func(r flResult) bool { return brokenPhase(r) && r.status != want[r.kind] })
	t.Logf("while the broken file was in the directory: %d requests, %d answered other than under the shipped policy",
		flCount(res, brokenPhase), changedVerdicts)
	if changedVerdicts != 0 {
		t.Errorf("%d answers changed while the rejected policy was in the directory", changedVerdicts)
	}
	d.leakCheck(before)
}
