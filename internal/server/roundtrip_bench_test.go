package server_test

import (
	"io/fs"
	"net/http"
	"testing"

	"github.com/djangate/gateway/internal/config"
)

// BenchmarkAuthenticatedRoundTrips measures an authenticated, allowed,
// proxied request and reports how many Redis round trips it makes
// (commands plus pipelines, counted by a go-redis hook): none in steady
// state with the principal cache (the default), one without it (the
// session and the principal read by one script, with the write-back of
// activity inside it when session.refresh_interval is due).
//
//	go test -run '^$' -bench AuthenticatedRoundTrips -benchmem ./internal/server
func BenchmarkAuthenticatedRoundTrips(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []func(*config.Config, *fs.FS)
	}{
		{"cached", nil},
		{"uncached", []func(*config.Config, *fs.FS){withoutCache}},
	} {
		g := newGatewayB(b, tc.opts...)
		cookie := &http.Cookie{Name: g.cfg.Session.CookieName, Value: g.login(b, "alice")}
		benchGet(b, g.URL+"/editors/", cookie, 200) // warm up: connections, script cache, principal cache
		hook := &roundTrips{}
		g.rdb.AddHook(hook)
		b.Run("session-allowed-"+tc.name, func(b *testing.B) {
			hook.n.Store(0)
			benchGet(b, g.URL+"/editors/", cookie, 200)
			b.ReportMetric(float64(hook.n.Load())/float64(b.N), "roundtrips/op")
		})
	}
}
