package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/djangate/gateway/internal/principalcache"
)

// RegisterPrincipalCache exports the principal cache's counters, read at
// scrape time: hits, misses, invalidations received, entries, and
// whether the changes channel is live (only then is the cache used).
func (m *Metrics) RegisterPrincipalCache(c *principalcache.Cache) {
	if c == nil {
		return
	}
	stat := func(f func(principalcache.Stats) float64) func() float64 {
		return func() float64 { return f(c.Stats()) }
	}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: namespace, Subsystem: "principal_cache", Name: name, Help: help}
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("hits_total", "Requests whose session or token was answered from the principal cache.")),
			stat(func(s principalcache.Stats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("misses_total", "Lookups the principal cache could not answer (absent, expired, or the changes channel not live).")),
			stat(func(s principalcache.Stats) float64 { return float64(s.Misses) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("invalidations_total", "Changes announced on the changes channel (and resets on resubscription).")),
			stat(func(s principalcache.Stats) float64 { return float64(s.Invalidations) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("entries", "Sessions and tokens in the principal cache.")),
			stat(func(s principalcache.Stats) float64 { return float64(s.Entries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("live", "1 while the changes channel has shown a sign of life within cache.max_staleness (the cache is used), else 0.")),
			stat(func(s principalcache.Stats) float64 {
				if s.Live {
					return 1
				}
				return 0
			})),
	)
}

// RegisterDecisionMemo exports the decision memo's counters (authz.Engine
// MemoStats), read at scrape time.
func (m *Metrics) RegisterDecisionMemo(stats func() (hits, misses uint64, entries int)) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: namespace, Subsystem: "decision_memo", Name: name, Help: help}
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("hits_total", "Decisions answered from the decision memo.")),
			func() float64 { h, _, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("misses_total", "Decisions the policy evaluated although the memo is on.")),
			func() float64 { _, mi, _ := stats(); return float64(mi) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("entries", "Decisions in the memo of the policy in force.")),
			func() float64 { _, _, n := stats(); return float64(n) }),
	)
}
