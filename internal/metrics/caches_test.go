package metrics

import (
	"testing"
	"time"

	"github.com/djangate/gateway/internal/principalcache"
)

func TestCacheMetrics(t *testing.T) {
	m := New()
	c := principalcache.New(principalcache.Options{MaxEntries: 10, TTL: time.Minute, MaxStaleness: time.Second})
	m.RegisterPrincipalCache(c)
	m.RegisterPrincipalCache(nil) // no cache: nothing registered, no panic
	m.RegisterDecisionMemo(func() (uint64, uint64, int) { return 7, 3, 5 })
	c.Get("absent")
	c.Invalidate("u 1")
	checkSeries(t, scrape(t, m), map[string]float64{
		"gateway_principal_cache_hits_total":          0,
		"gateway_principal_cache_misses_total":        1,
		"gateway_principal_cache_invalidations_total": 1,
		"gateway_principal_cache_entries":             0,
		"gateway_principal_cache_live":                0, // not subscribed
		"gateway_decision_memo_hits_total":            7,
		"gateway_decision_memo_misses_total":          3,
		"gateway_decision_memo_entries":               5,
	})
}
