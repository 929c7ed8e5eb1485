package server

import (
	"strings"
	"testing"
)

// The URL lists below are Django's own (tests/utils_tests/test_http.py,
// URLHasAllowedHostAndSchemeTests) with allowed host "testserver".
func TestSafeRedirectDjangoVectors(t *testing.T) {
	bad := []string{
		"http://example.com", "http:///example.com", "https://example.com",
		"ftp://example.com", `\\example.com`, `\\\example.com`, `/\\/example.com`,
		`\\//example.com`, `/\/example.com`, `\/example.com`, `/\example.com`,
		`http:/\//example.com`, `http:\/example.com`, `http:/\example.com`,
		`javascript:alert("XSS")`, "\njavascript:alert(x)", "\x08//example.com",
		`http://otherserver\@example.com`, `http:\\testserver\@example.com`,
		`http://testserver\me:pass@example.com`, `http://testserver\@example.com`,
		`http:\\testserver\confirm\me@example.com`, "http:999999999", "ftp:9999999999",
		"\n", "http://[2001:cdba:0000:0000:0000:0000:3257:9652/",
		"http://2001:cdba:0000:0000:0000:0000:3257:9652]/",
		// Stricter than Django: control or space characters anywhere.
		"/ok\r\nSet-Cookie: x=1", "/a b", "/tab\there", "", "   ", "//", "//?x",
	}
	good := []string{
		"/view/?param=http://example.com", "/view/?param=https://example.com",
		"/view?param=ftp://example.com", "view/?param=//example.com",
		"https://testserver/", "HTTPS://testserver/", "//testserver/",
		"http://testserver/confirm?email=me@example.com", "/url%20with%20spaces/",
		"path/http:2222222222",
	}
	hosts := []string{"testserver"}
	for _, u := range bad {
		if safeRedirect(u, hosts, false) {
			t.Errorf("safeRedirect(%q) = true, want false", u)
		}
	}
	for _, u := range good {
		if !safeRedirect(u, hosts, false) {
			t.Errorf("safeRedirect(%q) = false, want true", u)
		}
	}
}

func TestSafeRedirectRequireHTTPS(t *testing.T) {
	cases := []struct {
		name  string
		url   string
		https bool
		want  bool
	}{
		{"https allowed when required", "https://testserver/p", true, true},
		{"http refused when https required", "http://testserver/p", true, false},
		{"scheme-relative counts as http", "//testserver/p", true, false},
		{"relative path fine", "/p", true, true},
		{"http fine when not required", "http://testserver/p", false, true},
		{"port must match exactly", "https://testserver:8443/p", false, false},
		{"subdomain entry allows the domain", "https://example.org/p", false, true},
		{"subdomain entry allows a subdomain", "https://app.Example.org/p", false, true},
		{"subdomain entry needs a dot boundary", "https://badexample.org/p", false, false},
		{"subdomain entry refuses userinfo", "https://x@app.example.org/p", false, false},
		{"subdomain entry refuses other ports", "https://app.example.org:8443/p", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := safeRedirect(tc.url, []string{"testserver", ".example.org"}, tc.https); got != tc.want {
				t.Fatalf("safeRedirect(%q, https=%v) = %v, want %v", tc.url, tc.https, got, tc.want)
			}
		})
	}
}

func TestLocationHeaderEncodes(t *testing.T) {
	if got := locationHeader("/caf\u00e9?x=1"); got != "/caf%C3%A9?x=1" {
		t.Fatalf("got %q", got)
	}
}

func FuzzSafeRedirect(f *testing.F) {
	for _, s := range []string{"/", "//evil", `/\evil`, "https://testserver/", "http:evil", "\x00/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if !safeRedirect(u, []string{"testserver"}, false) {
			return
		}
		// Whatever is accepted must not lead off-site once a browser
		// reads it: a relative reference, or an absolute one to testserver.
		// Host names are case-insensitive (RFC 3986 3.2.2), so "TestServer"
		// is the same site.
		v := strings.ReplaceAll(strings.TrimSpace(u), `\`, "/")
		if strings.HasPrefix(v, "//") && !strings.EqualFold(strings.SplitN(strings.SplitN(v[2:], "/", 2)[0], "?", 2)[0], "testserver") &&
			!strings.HasPrefix(strings.ToLower(v), "//testserver#") {
			t.Fatalf("accepted scheme-relative off-site URL %q", u)
		}
		scheme, netloc, _ := splitSchemeNetloc(v)
		if netloc != "" && !strings.EqualFold(netloc, "testserver") {
			t.Fatalf("accepted %q with host %q", u, netloc)
		}
		if scheme != "" && scheme != "http" && scheme != "https" {
			t.Fatalf("accepted %q with scheme %q", u, scheme)
		}
		loc := locationHeader(u)
		if strings.ContainsAny(loc, "\r\n\x00 ") {
			t.Fatalf("location %q carries control characters", loc)
		}
	})
}
