// Command rate is an open-loop, fixed-rate HTTP/1.1 load generator: it
// measures the latency a server adds below saturation, which a closed-loop
// tool such as wrk cannot (its latencies at saturation are queueing, and a
// stalled connection stops sending, so the stall hides in one sample:
// "coordinated omission").
//
// Request i (counting from 0) is due at start + i/rate and goes to worker
// i mod conns; each worker owns one keep-alive connection. A worker that is
// still busy when its next request is due sends it as soon as it is free,
// and every latency is measured from the request's due time, not from when
// it was sent: a stall of the server shows up in every request scheduled
// during it, as it would for independent clients.
//
// The first -warmup of requests are sent but not recorded; the requests
// due in the -duration after it are. Requests due in the window but still
// queued -grace after its end are not sent and are counted as unsent.
//
// Output: one line of name=value pairs on stdout, a human summary on
// stderr. Exit status 1 if any recorded request failed (transport error,
// timeout, status other than -expect) or was not sent; 2 on bad flags.
//
// The client is deliberately small: the request's bytes are built once,
// written on a plain net.Conn and the response read with
// http.ReadResponse; no per-request goroutines and no transport pool, the
// latencies go into a slice allocated up front and are sorted at the end.
// Only http:// URLs.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("want 'Name: value', got %q", v)
	}
	*h = append(*h, strings.TrimSpace(name)+": "+strings.TrimSpace(value))
	return nil
}

// config is one run's settings.
type config struct {
	URL      string
	Headers  []string // "Name: value"
	Rate     float64  // requests per second, all connections together
	Conns    int
	Duration time.Duration // recorded window
	Warmup   time.Duration // before it, not recorded
	Grace    time.Duration // after it, for backlogged requests
	Timeout  time.Duration // per request (dial, write, read)
	Expect   int           // expected status
	Precise  bool          // timerfd instead of Go timers (Linux)
}

// plan is the schedule: request k (0-based) is due at offset(k) from the
// start, on worker k mod conns, and is recorded iff first <= k < first+n.
type plan struct {
	rate  float64
	conns int
	first int // requests due during the warmup
	n     int // requests recorded
}

func newPlan(c config) plan {
	return plan{
		rate:  c.Rate,
		conns: c.Conns,
		first: int(math.Round(c.Warmup.Seconds() * c.Rate)),
		n:     int(math.Round(c.Duration.Seconds() * c.Rate)),
	}
}

func (p plan) offset(k int) time.Duration {
	return time.Duration(math.Round(float64(k) * 1e9 / p.rate))
}

// total is the number of requests scheduled (warmup and recorded).
func (p plan) total() int { return p.first + p.n }

// percentile is the nearest-rank percentile (q in [0, 1]) of sorted values:
// the smallest value with at least q of all values at or below it.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// result is what a run measured over its recorded window.
type result struct {
	Scheduled int // requests due in the window
	Sent      int // of them, sent (answered or failed)
	OK        int // answered with the expected status
	BadStatus int // answered with another status
	Errors    int // transport errors and timeouts
	Unsent    int // still queued when the grace period ended
	Achieved  float64
	Latency   []time.Duration // from the due time to the end of the response, sorted; sent requests only
	Lag       []time.Duration // from the due time to the start of the send, sorted
	FirstErr  string
}

func (r *result) failed() bool { return r.OK != r.Scheduled }

// buildRequest returns the bytes of the GET sent on every request (Host
// from the URL unless a -H sets it) and the address to dial.
func buildRequest(u *url.URL, headers []string) ([]byte, string, error) {
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("only http:// URLs, got %q", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", u.RequestURI())
	host := true
	for _, h := range headers {
		if strings.HasPrefix(strings.ToLower(h), "host:") {
			host = false
		}
	}
	if host {
		fmt.Fprintf(&b, "Host: %s\r\n", u.Host)
	}
	b.WriteString("User-Agent: bench-rate\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String()), addr, nil
}

// worker is one keep-alive connection and its share of the schedule.
type worker struct {
	addr    string
	req     []byte
	expect  int
	timeout time.Duration
	sleep   *sleeper

	conn net.Conn
	br   *bufio.Reader

	ok, bad, errs, unsent int
	lastSend              time.Time
	firstErr              string
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// do sends one request and reads its whole response. On any error the
// connection is closed, and the next request dials a new one (its latency
// includes the dial); likewise after a "Connection: close" response.
func (w *worker) do() (status int, err error) {
	deadline := time.Now().Add(w.timeout)
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", w.addr, w.timeout)
		if err != nil {
			return 0, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		w.conn = c
		if w.br == nil {
			w.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			w.br.Reset(c)
		}
	}
	w.conn.SetDeadline(deadline)
	if _, err := w.conn.Write(w.req); err != nil {
		w.close()
		return 0, err
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		w.close()
		return resp.StatusCode, err
	}
	if resp.Close {
		w.close()
	}
	return resp.StatusCode, nil
}

// run sends this worker's requests (id, id+conns, ...) of the plan from
// start. lat and lag have one slot per recorded request; the worker writes
// only its own requests' slots (-1: not sent).
func (w *worker) run(p plan, id int, start time.Time, stop time.Time, lat, lag []time.Duration) {
	defer w.close()
	defer w.sleep.close()
	for k := id; k < p.total(); k += p.conns {
		due := start.Add(p.offset(k))
		w.sleep.until(due)
		now := time.Now()
		rec := k >= p.first
		if rec && now.After(stop) {
			// Everything left is queued behind: not sent.
			for ; k < p.total(); k += p.conns {
				lat[k-p.first], lag[k-p.first] = -1, -1
				w.unsent++
			}
			return
		}
		status, err := w.do()
		done := time.Now()
		if !rec {
			continue
		}
		j := k - p.first
		lat[j], lag[j] = done.Sub(due), now.Sub(due)
		w.lastSend = now
		switch {
		case err != nil:
			w.errs++
			if w.firstErr == "" {
				w.firstErr = err.Error()
			}
		case status != w.expect:
			w.bad++
			if w.firstErr == "" {
				w.firstErr = fmt.Sprintf("status %d, expected %d", status, w.expect)
			}
		default:
			w.ok++
		}
	}
}

func run(c config) (*result, error) {
	if c.Rate <= 0 || c.Conns <= 0 || c.Duration <= 0 || c.Warmup < 0 || c.Grace < 0 || c.Timeout <= 0 {
		return nil, errors.New("rate, conns, duration and timeout must be positive; warmup and grace not negative")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	req, addr, err := buildRequest(u, c.Headers)
	if err != nil {
		return nil, err
	}
	p := newPlan(c)
	if p.n <= 0 {
		return nil, errors.New("duration x rate is less than one request")
	}
	if p.n > 50_000_000 {
		return nil, errors.New("more than 50,000,000 recorded requests: lower -rate or -duration")
	}
	lat := make([]time.Duration, p.n)
	lag := make([]time.Duration, p.n)
	ws := make([]*worker, c.Conns)
	for i := range ws {
		s, err := newSleeper(c.Precise)
		if err != nil {
			for _, w := range ws[:i] {
				w.sleep.close()
			}
			return nil, err
		}
		ws[i] = &worker{addr: addr, req: req, expect: c.Expect, timeout: c.Timeout, sleep: s}
	}
	start := time.Now().Add(10 * time.Millisecond) // all workers started
	windowStart := start.Add(p.offset(p.first))
	stop := start.Add(c.Warmup + c.Duration + c.Grace)
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(p, i, start, stop, lat, lag)
		}()
	}
	wg.Wait()

	r := &result{Scheduled: p.n}
	var last time.Time
	for _, w := range ws {
		r.OK += w.ok
		r.BadStatus += w.bad
		r.Errors += w.errs
		r.Unsent += w.unsent
		if w.lastSend.After(last) {
			last = w.lastSend
		}
		if r.FirstErr == "" {
			r.FirstErr = w.firstErr
		}
	}
	r.Sent = r.OK + r.BadStatus + r.Errors
	r.Latency = slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	r.Lag = slices.DeleteFunc(lag, func(d time.Duration) bool { return d < 0 })
	slices.Sort(r.Latency)
	slices.Sort(r.Lag)
	if r.Sent > 0 {
		// Sends per second over the window: from its start to the last
		// recorded send, plus one interval (exactly -rate when on time).
		span := last.Sub(windowStart) + time.Duration(1e9/c.Rate)
		r.Achieved = float64(r.Sent) / span.Seconds()
	}
	return r, nil
}

func us(d time.Duration) int64 { return d.Microseconds() }

func (r *result) line(c config) string {
	l, g := r.Latency, r.Lag
	return fmt.Sprintf("rate=%g conns=%d duration_s=%g scheduled=%d sent=%d ok=%d bad_status=%d errors=%d unsent=%d achieved_rps=%.1f"+
		" p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d lag_p50_us=%d lag_p99_us=%d lag_max_us=%d",
		c.Rate, c.Conns, c.Duration.Seconds(), r.Scheduled, r.Sent, r.OK, r.BadStatus, r.Errors, r.Unsent, r.Achieved,
		us(percentile(l, .5)), us(percentile(l, .9)), us(percentile(l, .99)), us(percentile(l, .999)), us(percentile(l, 1)),
		us(percentile(g, .5)), us(percentile(g, .99)), us(percentile(g, 1)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func (r *result) human(c config) string {
	l := r.Latency
	s := fmt.Sprintf("rate: %s: %g req/s over %d connections for %s (after %s warmup): %d/%d sent at %.0f req/s, %d ok, %d bad status, %d errors, %d unsent;"+
		" latency from the scheduled time (ms) p50 %s p90 %s p99 %s p99.9 %s max %s; send lag p99 %s ms",
		c.URL, c.Rate, c.Conns, c.Duration, c.Warmup, r.Sent, r.Scheduled, r.Achieved, r.OK, r.BadStatus, r.Errors, r.Unsent,
		ms(percentile(l, .5)), ms(percentile(l, .9)), ms(percentile(l, .99)), ms(percentile(l, .999)), ms(percentile(l, 1)),
		ms(percentile(r.Lag, .99)))
	if r.FirstErr != "" {
		s += "; first failure: " + r.FirstErr
	}
	return s
}

func main() {
	var c config
	var hdr headerFlags
	flag.StringVar(&c.URL, "url", "", "target URL (http:// only)")
	flag.Float64Var(&c.Rate, "rate", 1000, "requests per second, all connections together")
	flag.IntVar(&c.Conns, "conns", 32, "keep-alive connections, one worker each")
	flag.DurationVar(&c.Duration, "duration", 10*time.Second, "recorded window")
	flag.DurationVar(&c.Warmup, "warmup", time.Second, "sent before the window, not recorded")
	flag.DurationVar(&c.Grace, "grace", time.Second, "how long after the window backlogged requests are still sent (the rest: unsent)")
	flag.DurationVar(&c.Timeout, "timeout", 2*time.Second, "per request: connect, send and read the whole response")
	flag.IntVar(&c.Expect, "expect", 200, "expected status; any other counts as a failure")
	flag.Var(&hdr, "H", "request header 'Name: value' (repeatable)")
	sleep := flag.String("sleep", "precise", "how workers wait for a due time: precise (a timerfd per worker, Linux; wakes within tens of us) or go (Go timers: cheaper, up to ~1 ms late)")
	flag.Parse()
	c.Headers = hdr
	switch *sleep {
	case "precise":
		c.Precise = preciseSleepAvailable
	case "go":
	default:
		fmt.Fprintln(os.Stderr, "rate: -sleep is precise or go")
		os.Exit(2)
	}
	if c.URL == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: rate -url http://host:port/path [-rate N] [-conns N] [-duration D] [-warmup D] [-H 'Name: value']... [-expect STATUS]")
		os.Exit(2)
	}
	r, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rate:", err)
		os.Exit(2)
	}
	fmt.Println(r.line(c))
	fmt.Fprintln(os.Stderr, r.human(c))
	if r.failed() {
		os.Exit(1)
	}
}
