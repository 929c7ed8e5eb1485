package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// benchGet drives GET url with one keep-alive client per goroutine and
// reports failures; the figure to read is ns/op and allocs/op.
func benchGet(b *testing.B, target string, cookie *http.Cookie, want int) {
	b.Helper()
	benchGetWith(b, target, func(req *http.Request) {
		if cookie != nil {
			req.AddCookie(cookie)
		}
	}, want)
}

// benchGetWith is benchGet with a function that adds credentials.
func benchGetWith(b *testing.B, target string, auth func(*http.Request), want int) {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", target, nil)
			auth(req)
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("status %d, want %d", resp.StatusCode, want)
				return
			}
		}
	})
}

// BenchmarkRequestPath measures whole requests over loopback HTTP: the
// bare reverse proxy as the floor, then the gateway anonymous on a public
// route, authenticated and allowed, and authenticated and denied.
func BenchmarkRequestPath(b *testing.B) {
	g := newGatewayB(b)
	bare := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { u, _ := url.Parse(g.up.URL); pr.SetURL(u); pr.SetXForwarded() },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	})
	defer bare.Close()
	cookie := &http.Cookie{Name: g.cfg.Session.CookieName, Value: g.login(b, "alice")}

	b.Run("bare-proxy", func(b *testing.B) { benchGet(b, bare.URL+"/editors/", nil, 200) })
	b.Run("anonymous-public", func(b *testing.B) { benchGet(b, g.URL+"/public/", nil, 200) })
	b.Run("session-allowed", func(b *testing.B) { benchGet(b, g.URL+"/editors/", cookie, 200) })
	b.Run("session-model-allowed", func(b *testing.B) { benchGet(b, g.URL+"/api/blog/post/7/", cookie, 200) })
	b.Run("session-denied", func(b *testing.B) { benchGet(b, g.URL+"/reports/", cookie, 403) })
}
