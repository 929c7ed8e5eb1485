// Package metrics owns the gateway's Prometheus metrics: one registry per
// gateway with the request, policy, authentication, upstream, login,
// session and Redis series, plus the Go runtime and process collectors.
//
// Every label takes its values from a small, closed set: configured
// upstream names, status code classes, decision results and reason
// classes, authentication backends and outcomes, Redis command names.
// Nothing a client controls (user names, paths, addresses) ever becomes a
// label value; values outside a closed set are reported as "other", and
// open-ended sets (upstreams, Redis commands) are capped.
//
// The methods the request path calls (Request, Decision, Authn, Upstream,
// the Redis hook) look up pre-resolved series and do not allocate.
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "gateway"

// latencyBuckets span 100µs (a Redis round trip on loopback, a cached
// policy decision) to 10s (a slow upstream), roughly 1-2.5-5 per decade.
var latencyBuckets = []float64{
	.0001, .00025, .0005,
	.001, .0025, .005,
	.01, .025, .05,
	.1, .25, .5,
	1, 2.5, 5, 10,
}

// gatewayUpstream is the upstream label of the gateway's own endpoints
// (Request with upstream "").
const gatewayUpstream = "gateway"

// other is the label value of anything outside a closed set, and of the
// upstreams and Redis commands beyond their caps.
const other = "other"

// maxUpstreams caps the distinct upstream label values; the caller passes
// configured upstream names, so the cap only guards against misuse.
const maxUpstreams = 256

// The closed label sets. The methods map their arguments to an index into
// these (unknown values to -1, reported as "other").
var (
	statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
	results       = [...]string{"allow", "deny", "error"}
	reasonClasses = [...]string{"route", "no_route", "object", "error", "other"}
	authBackends  = [...]string{"session", "bearer", "basic", "remote_user", "none"}
	authOutcomes  = [...]string{"authenticated", "anonymous", "invalid", "error"}
	errorKinds    = [...]string{"timeout", "unavailable"}
	loginOutcomes = [...]string{"success", "failure", "locked"}
)

// Metrics are the gateway's Prometheus metrics, registered on their own
// registry. All methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests        *prometheus.CounterVec   // upstream, code
	requestDuration *prometheus.HistogramVec // upstream
	upstreamLatency *prometheus.HistogramVec // upstream
	upstreamErrors  *prometheus.CounterVec   // upstream, kind

	// upstreams maps an upstream label value to its pre-resolved series;
	// the map is immutable, replaced (copy on write, under upstreamsMu)
	// when an upstream is seen for the first time.
	upstreams   atomic.Pointer[map[string]*upstreamSeries]
	upstreamsMu sync.Mutex

	decisions        *prometheus.CounterVec // result, reason
	decisionByIndex  [len(results)][len(reasonClasses)]prometheus.Counter
	decisionDuration prometheus.Histogram

	authn           *prometheus.CounterVec // backend, outcome
	authnByIndex    [len(authBackends)][len(authOutcomes)]prometheus.Counter
	authnDuration   *prometheus.HistogramVec // backend
	authnDurByIndex [len(authBackends)]prometheus.Observer

	logins         *prometheus.CounterVec // outcome
	loginByIndex   [len(loginOutcomes)]prometheus.Counter
	lockouts       prometheus.Counter
	sessionCreated prometheus.Counter
	sessionRevoked prometheus.Counter

	policyInfo         *prometheus.GaugeVec // revision
	policyMu           sync.Mutex           // orders PolicyLoaded's reset and set
	policyLoads        prometheus.Counter
	policyReloadErrors prometheus.Counter

	redis *redisMetrics
}

// upstreamSeries are one upstream's pre-resolved series.
type upstreamSeries struct {
	name            string
	codes           [len(statusClasses)]prometheus.Counter
	requestDuration prometheus.Observer
	upstreamLatency prometheus.Observer
	errors          [len(errorKinds)]prometheus.Counter
}

// New returns the gateway's metrics on a new registry, which also carries
// the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "requests_total",
		Help: `Requests served by the gateway, by upstream ("gateway" for the gateway's own endpoints) and status code class.`,
	}, []string{"upstream", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "request_duration_seconds",
		Help:    `Time from receiving a request to finishing its response, by upstream ("gateway" for the gateway's own endpoints).`,
		Buckets: latencyBuckets,
	}, []string{"upstream"})
	m.upstreamLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_duration_seconds",
		Help:    "Upstream round trip time, from sending the request to receiving the response headers, by upstream.",
		Buckets: latencyBuckets,
	}, []string{"upstream"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_errors_total",
		Help: `Upstream requests that failed, by upstream and kind ("timeout", "unavailable").`,
	}, []string{"upstream", "kind"})
	empty := map[string]*upstreamSeries{}
	m.upstreams.Store(&empty)

	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "policy_decisions_total",
		Help: `Policy decisions, by result ("allow", "deny", "error") and reason class ("route", "no_route", "object", "error", "other").`,
	}, []string{"result", "reason"})
	for i, r := range results {
		for j, c := range reasonClasses {
			m.decisionByIndex[i][j] = m.decisions.WithLabelValues(r, c)
		}
	}
	m.decisionDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "policy_decision_duration_seconds",
		Help:    "Time to evaluate the policy for one request.",
		Buckets: latencyBuckets,
	})

	m.authn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "authn_total",
		Help: `Request authentications, by backend ("session", "bearer", "basic", "remote_user", "none") and outcome ("authenticated", "anonymous", "invalid", "error").`,
	}, []string{"backend", "outcome"})
	m.authnDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "authn_duration_seconds",
		Help:    "Time to authenticate one request, by backend.",
		Buckets: latencyBuckets,
	}, []string{"backend"})
	for i, b := range authBackends {
		for j, o := range authOutcomes {
			m.authnByIndex[i][j] = m.authn.WithLabelValues(b, o)
		}
		m.authnDurByIndex[i] = m.authnDuration.WithLabelValues(b)
	}

	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "logins_total",
		Help: `Login attempts, by outcome ("success", "failure", "locked").`,
	}, []string{"outcome"})
	for i, o := range loginOutcomes {
		m.loginByIndex[i] = m.logins.WithLabelValues(o)
	}
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "lockouts_total",
		Help: "Login lockouts started after repeated failures.",
	})
	m.sessionCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "sessions_created_total",
		Help: "Sessions created.",
	})
	m.sessionRevoked = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "sessions_revoked_total",
		Help: "Sessions revoked (logout, password change, administrative revocation).",
	})

	m.policyInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "policy_info",
		Help: "The policy revision in force: always 1, with the revision as a label.",
	}, []string{"revision"})
	m.policyLoads = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "policy_loads_total",
		Help: "Policies loaded (at start and on every successful reload).",
	})
	m.policyReloadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "policy_reload_errors_total",
		Help: "Policy reloads that failed; the previous policy stays in force.",
	})

	m.redis = newRedisMetrics()

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestDuration, m.upstreamLatency, m.upstreamErrors,
		m.decisions, m.decisionDuration,
		m.authn, m.authnDuration,
		m.logins, m.lockouts, m.sessionCreated, m.sessionRevoked,
		m.policyInfo, m.policyLoads, m.policyReloadErrors,
	)
	m.redis.register(reg)

	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // promhttp_metric_handler_errors_total
	})
	return m
}

// Handler serves the registry in the Prometheus exposition format (text,
// unless the scraper negotiates otherwise).
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the registry of the gateway's metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Request counts a request served by the gateway and observes its
// latency. upstream is the configured upstream's name, "" for the
// gateway's own endpoints (label "gateway"); status is the response's
// status code, counted by class.
func (m *Metrics) Request(upstream string, status int, d time.Duration) {
	s := m.upstream(upstream)
	switch i := status/100 - 1; {
	case status < 100 || i >= len(s.codes):
		m.requests.WithLabelValues(s.name, other).Inc()
	case s.codes[i] == nil:
		m.requests.WithLabelValues(s.name, statusClasses[i]).Inc()
	default:
		s.codes[i].Inc()
	}
	s.requestDuration.Observe(d.Seconds())
}

// Decision counts a policy decision by result ("allow", "deny", "error")
// and reason class ("route", "no_route", "object", "error", "other"), and
// observes the evaluation's latency.
func (m *Metrics) Decision(result, reasonClass string, d time.Duration) {
	i, j := resultIndex(result), reasonIndex(reasonClass)
	if j < 0 {
		j = len(reasonClasses) - 1 // "other"
	}
	if i >= 0 {
		m.decisionByIndex[i][j].Inc()
	} else {
		m.decisions.WithLabelValues(other, reasonClasses[j]).Inc()
	}
	m.decisionDuration.Observe(d.Seconds())
}

// Authn counts an authentication by backend ("session", "bearer",
// "basic", "remote_user", "none") and outcome ("authenticated",
// "anonymous", "invalid", "error"), and observes its latency.
func (m *Metrics) Authn(backend, outcome string, d time.Duration) {
	i, j := backendIndex(backend), outcomeIndex(outcome)
	if i >= 0 && j >= 0 {
		m.authnByIndex[i][j].Inc()
	} else {
		b, o := other, other
		if i >= 0 {
			b = authBackends[i]
		}
		if j >= 0 {
			o = authOutcomes[j]
		}
		m.authn.WithLabelValues(b, o).Inc()
	}
	if i >= 0 {
		m.authnDurByIndex[i].Observe(d.Seconds())
	} else {
		m.authnDuration.WithLabelValues(other).Observe(d.Seconds())
	}
}

// Upstream observes an upstream round trip: the time from sending the
// request to receiving the response headers.
func (m *Metrics) Upstream(upstream string, d time.Duration) {
	m.upstream(upstream).upstreamLatency.Observe(d.Seconds())
}

// UpstreamError counts an upstream request that failed, by kind
// ("timeout", "unavailable"; anything else is "other").
func (m *Metrics) UpstreamError(upstream, kind string) {
	s := m.upstream(upstream)
	switch kind {
	case "timeout":
		s.errors[0].Inc()
	case "unavailable":
		s.errors[1].Inc()
	default:
		m.upstreamErrors.WithLabelValues(s.name, other).Inc()
	}
}

// Login counts a login attempt by outcome ("success", "failure",
// "locked").
func (m *Metrics) Login(outcome string) {
	switch outcome {
	case "success":
		m.loginByIndex[0].Inc()
	case "failure":
		m.loginByIndex[1].Inc()
	case "locked":
		m.loginByIndex[2].Inc()
	default:
		m.logins.WithLabelValues(other).Inc()
	}
}

// Lockout counts a lockout started.
func (m *Metrics) Lockout() { m.lockouts.Inc() }

// SessionCreated counts a session created.
func (m *Metrics) SessionCreated() { m.sessionCreated.Inc() }

// SessionRevoked counts n sessions revoked; n <= 0 counts nothing.
func (m *Metrics) SessionRevoked(n int) {
	if n > 0 {
		m.sessionRevoked.Add(float64(n))
	}
}

// PolicyLoaded records that the policy of the given revision is in force:
// gateway_policy_info{revision=...} becomes 1, replacing the previous
// revision's series, and gateway_policy_loads_total counts the load.
func (m *Metrics) PolicyLoaded(revision string) {
	m.policyMu.Lock()
	m.policyInfo.Reset()
	m.policyInfo.WithLabelValues(revision).Set(1)
	m.policyMu.Unlock()
	m.policyLoads.Inc()
}

// PolicyReloadError counts a policy reload that failed.
func (m *Metrics) PolicyReloadError() { m.policyReloadErrors.Inc() }

// upstream returns the pre-resolved series of an upstream, creating them
// the first time it is seen. Beyond maxUpstreams distinct names, further
// names share the "other" series.
func (m *Metrics) upstream(name string) *upstreamSeries {
	if s, ok := (*m.upstreams.Load())[name]; ok {
		return s
	}
	return m.addUpstream(name)
}

func (m *Metrics) addUpstream(name string) *upstreamSeries {
	m.upstreamsMu.Lock()
	defer m.upstreamsMu.Unlock()
	cur := *m.upstreams.Load()
	if s, ok := cur[name]; ok {
		return s
	}
	label := name
	switch {
	case name == "":
		label = gatewayUpstream
	case len(cur) >= maxUpstreams:
		label = other
	}
	// Names mapping to the same label ("gateway", "other") share its
	// series: WithLabelValues returns the same children.
	s := &upstreamSeries{
		name:            label,
		requestDuration: m.requestDuration.WithLabelValues(label),
		upstreamLatency: m.upstreamLatency.WithLabelValues(label),
	}
	for i, c := range statusClasses {
		if c != "1xx" { // rare: created on first use, not exported at zero
			s.codes[i] = m.requests.WithLabelValues(label, c)
		}
	}
	for i, k := range errorKinds {
		s.errors[i] = m.upstreamErrors.WithLabelValues(label, k)
	}
	next := make(map[string]*upstreamSeries, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = s
	m.upstreams.Store(&next)
	return s
}

func resultIndex(s string) int {
	switch s {
	case "allow":
		return 0
	case "deny":
		return 1
	case "error":
		return 2
	}
	return -1
}

func reasonIndex(s string) int {
	switch s {
	case "route":
		return 0
	case "no_route":
		return 1
	case "object":
		return 2
	case "error":
		return 3
	case "other":
		return 4
	}
	return -1
}

func backendIndex(s string) int {
	switch s {
	case "session":
		return 0
	case "bearer":
		return 1
	case "basic":
		return 2
	case "remote_user":
		return 3
	case "none":
		return 4
	}
	return -1
}

func outcomeIndex(s string) int {
	switch s {
	case "authenticated":
		return 0
	case "anonymous":
		return 1
	case "invalid":
		return 2
	case "error":
		return 3
	}
	return -1
}

// validLabel reports whether s is a plausible command name: short, lower
// case letters, digits, '_' and '-'. Anything else is reported as "other".
func validLabel(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0
}
