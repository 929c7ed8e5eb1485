package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/djangate/gateway/internal/config"
)

func newBareProxy(tb testing.TB, upstreamURL string) *Proxy {
	tb.Helper()
	p, err := New([]config.Upstream{upstreamConfig("app", upstreamURL)}, testHeaders, gatewayCookies, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// isGatewayName is an independent reference for the names the gateway
// owns, as Python (str.strip on latin-1 text) or Go would read them.
func isGatewayName(name string) bool {
	const space = " \t\n\v\f\r\x1c\x1d\x1e\x1f\x85\xa0" // bytes, not runes
	for len(name) > 0 && strings.IndexByte(space, name[0]) >= 0 {
		name = name[1:]
	}
	for len(name) > 0 && strings.IndexByte(space, name[len(name)-1]) >= 0 {
		name = name[:len(name)-1]
	}
	for _, g := range gatewayCookies {
		if strings.EqualFold(name, g) {
			return true
		}
	}
	return false
}

func FuzzStripCookies(f *testing.F) {
	for _, s := range []string{
		"", "sessionid=a", "a=1; sessionid=x; b=2", `a="x; sessionid=y"; b="q"`,
		";;;", " sessionid ", "SESSIONID=1;csrftoken=2", "a=1;b=2", "\xa0sessionid\xa0=x; a=b=c",
		"a=1; a=1; sessionid", "=sessionid; sessionid=; csrftoken",
	} {
		f.Add(s, "b=2; csrftoken=x")
	}
	p := newBareProxy(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		in := []string{h1, h2}
		h := http.Header{"Cookie": append([]string(nil), in...)}
		p.stripCookies(h)
		out := h["Cookie"]

		// Other non-empty pairs survive, trimmed, in order.
		var want []string
		for _, v := range in {
			for pair := range strings.SplitSeq(v, ";") {
				pair = trimCookieSpace(pair)
				name, _, _ := strings.Cut(pair, "=")
				if pair != "" && !isGatewayName(name) {
					want = append(want, pair)
				}
			}
		}
		if len(want) == 0 {
			if out != nil {
				t.Fatalf("stripCookies(%q) = %q, want no Cookie header", in, out)
			}
			return
		}
		if len(out) != 1 {
			t.Fatalf("stripCookies(%q) = %q, want one header", in, out)
		}
		if got := strings.Split(out[0], "; "); !reflect.DeepEqual(got, want) {
			t.Fatalf("stripCookies(%q) = %q, want pairs %q", in, out, want)
		}
		// No parser sees a gateway cookie: neither Go's nor a
		// Django-style split on ";" and "=".
		for _, c := range (&http.Request{Header: h}).Cookies() {
			if isGatewayName(c.Name) {
				t.Fatalf("stripCookies(%q) = %q: Go parses gateway cookie %q", in, out, c.Name)
			}
		}
		for pair := range strings.SplitSeq(out[0], ";") {
			name, _, _ := strings.Cut(pair, "=")
			if isGatewayName(name) {
				t.Fatalf("stripCookies(%q) = %q: gateway cookie %q survives", in, out, name)
			}
		}
	})
}

// BenchmarkSanitizeHeaders measures the per-request header work of
// Rewrite (spoofed-header removal, identity headers, cookie stripping) on
// a browser-like header set.
func BenchmarkSanitizeHeaders(b *testing.B) {
	p := newBareProxy(b, "http://127.0.0.1:1")
	tmpl := http.Header{
		"Accept":           {"text/html,application/xhtml+xml"},
		"Accept-Encoding":  {"gzip, deflate, br"},
		"Accept-Language":  {"en-GB,en;q=0.9"},
		"User-Agent":       {"Mozilla/5.0 (X11; Linux x86_64)"},
		"Referer":          {"https://gateway.test/app/"},
		"Cookie":           {"_ga=GA1.2.3; sessionid=abcdef0123456789; theme=dark; csrftoken=xyz"},
		"X-Remote-User":    {"mallory"},
		"X_remote_user":    {"mallory"},
		"X-Requested-With": {"XMLHttpRequest"},
		"Sec-Fetch-Mode":   {"navigate"},
		"Sec-Fetch-Site":   {"same-origin"},
		"Cache-Control":    {"no-cache"},
	}
	id := testUsers["alice"]
	h := make(http.Header, 32)
	b.ReportAllocs()
	for b.Loop() {
		clear(h)
		for k, v := range tmpl {
			h[k] = v
		}
		p.sanitizeHeaders(h)
		p.setIdentity(h, id)
		p.stripCookies(h)
	}
}

type discardResponseWriter struct{ h http.Header }

func (w *discardResponseWriter) Header() http.Header         { return w.h }
func (w *discardResponseWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardResponseWriter) WriteHeader(int)             {}

// BenchmarkForward is one full forward over loopback to a real upstream.
func BenchmarkForward(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	p := newBareProxy(b, up.URL)
	defer p.CloseIdleConnections()
	u, _ := p.Select("gateway.test", "/app/x")
	id := testUsers["alice"]
	req := httptest.NewRequest("GET", "http://gateway.test/app/x?page=2", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set("Cookie", "sessionid=abc; theme=dark")
	req.Header.Set("Accept", "text/html")
	w := &discardResponseWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		p.Forward(w, req, u, id, "/app/x", "")
	}
}

// FuzzSanitize: whatever header names and values a client sends, after
// sanitizing and setting the identity no header that any upstream stack
// could read as an identity, forwarding or override header is left but
// the gateway's own, each exactly once.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"X-Remote-User", "x_remote_user", "X.Remote.Groups", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "X-Original-URL", "x-remote-email ", "X-Remote-User\x00"} {
		f.Add(s, "root", "X-Other", "v")
	}
	p := newBareProxy(f, "http://127.0.0.1:1")
	owned := []string{"x-remote-user", "x-remote-email", "x-remote-groups", "forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-uri", "x-original-method"}
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		h := http.Header{}
		h[n1] = []string{v1}
		h[n2] = append(h[n2], v2)
		h.Add(n1, v2)
		p.sanitizeHeaders(h)
		p.setIdentity(h, &Identity{Username: "alice", Email: "a@example.com", Groups: []string{"g"}})
		counts := map[string]int{}
		for k, vs := range h {
			n := normalize(k)
			if strings.HasPrefix(n, "x-forwarded-") {
				t.Fatalf("client header %q survived sanitizing", k)
			}
			for _, o := range owned {
				if n == o {
					counts[o] += len(vs)
					if !strings.HasPrefix(o, "x-remote-") {
						t.Fatalf("client header %q survived sanitizing", k)
					}
				}
			}
		}
		for _, o := range []string{"x-remote-user", "x-remote-email", "x-remote-groups"} {
			if counts[o] != 1 {
				t.Fatalf("%s appears %d times after sanitize+identity (names %q, %q)", o, counts[o], n1, n2)
			}
		}
		if got := h.Get(testHeaders.User); got != "alice" {
			t.Fatalf("identity header = %q", got)
		}
	})
}
