package server_test

import (
	"net/http"
	"testing"
)

// BenchmarkAuthenticatedRoundTrips measures an authenticated, allowed,
// proxied request and reports how many Redis round trips it makes
// (commands plus pipelines, counted by a go-redis hook): one in steady
// state, the session and the principal read by one script, with the
// write-back of activity inside it when session.refresh_interval is due.
//
//	go test -run '^$' -bench AuthenticatedRoundTrips -benchmem ./internal/server
func BenchmarkAuthenticatedRoundTrips(b *testing.B) {
	g := newGatewayB(b)
	cookie := &http.Cookie{Name: g.cfg.Session.CookieName, Value: g.login(b, "alice")}
	benchGet(b, g.URL+"/editors/", cookie, 200) // warm up: connections, script cache
	hook := &roundTrips{}
	g.rdb.AddHook(hook)
	b.Run("session-allowed", func(b *testing.B) {
		hook.n.Store(0)
		benchGet(b, g.URL+"/editors/", cookie, 200)
		b.ReportMetric(float64(hook.n.Load())/float64(b.N), "roundtrips/op")
	})
}
