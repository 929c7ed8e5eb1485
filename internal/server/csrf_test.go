package server

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCSRFCheck(t *testing.T) {
	c := newCSRF(strings.Repeat("k", 40), "csrftoken", false, "")
	other := newCSRF(strings.Repeat("x", 40), "csrftoken", false, "")
	good := c.newToken()
	forged := other.newToken()
	cases := []struct {
		name   string
		cookie string
		form   string
		ok     bool
	}{
		{"matching signed pair", good, good, true},
		{"no cookie", "", good, false},
		{"form token missing", good, "", false},
		{"mismatch", good, c.newToken(), false},
		{"planted cookie signed with another key", forged, forged, false},
		{"unsigned value", "abc", "abc", false},
		{"tampered signature", good[:len(good)-2] + "AA", good[:len(good)-2] + "AA", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "csrftoken", Value: tc.cookie})
			}
			err := c.check(r, tc.form)
			if (err == nil) != tc.ok {
				t.Fatalf("check = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errCSRF) {
				t.Fatalf("error %v does not wrap errCSRF", err)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	cases := []struct {
		name, origin, referer, host string
		https, json                 bool
		ok                          bool
	}{
		{name: "absent, http", host: "gw.example", ok: true},
		{name: "same host", origin: "https://gw.example", host: "gw.example", ok: true},
		{name: "same host other case", origin: "https://GW.example", host: "gw.example", ok: true},
		{name: "allowed host", origin: "https://app.example", host: "gw.example", ok: true},
		{name: "cross site", origin: "https://evil.example", host: "gw.example", ok: false},
		{name: "null", origin: "null", host: "gw.example", ok: false},
		{name: "port differs", origin: "https://gw.example:8443", host: "gw.example", ok: false},
		{name: "http origin on https", origin: "http://gw.example", host: "gw.example", https: true, ok: false},
		{name: "https origin on https", origin: "https://gw.example", host: "gw.example", https: true, ok: true},
		// Django's Referer rules for HTTPS requests without Origin.
		{name: "https without origin or referer", host: "gw.example", https: true, ok: false},
		{name: "https same-host referer", referer: "https://gw.example/_gateway/login", host: "gw.example", https: true, ok: true},
		{name: "https allowed-host referer", referer: "https://app.example/x", host: "gw.example", https: true, ok: true},
		{name: "https cross-site referer", referer: "https://evil.example/", host: "gw.example", https: true, ok: false},
		{name: "https insecure referer", referer: "http://gw.example/", host: "gw.example", https: true, ok: false},
		{name: "https malformed referer", referer: "::not a url", host: "gw.example", https: true, ok: false},
		{name: "http ignores referer", referer: "https://evil.example/", host: "gw.example", ok: true},
		// JSON cannot be sent cross-site without a preflight: programs over
		// HTTPS need no Referer, but a cross-site or insecure Origin is still refused.
		{name: "https JSON without origin or referer", host: "gw.example", https: true, json: true, ok: true},
		{name: "https JSON cross-site origin", origin: "https://evil.example", host: "gw.example", https: true, json: true, ok: false},
		{name: "https JSON http origin", origin: "http://gw.example", host: "gw.example", https: true, json: true, ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.Host = tc.host
			if tc.https {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.json {
				r.Header.Set("Content-Type", "application/json")
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			err := checkOrigin(r, []string{"app.example"})
			if (err == nil) != tc.ok {
				t.Fatalf("checkOrigin = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errCSRF) {
				t.Fatalf("error %v does not wrap errCSRF", err)
			}
		})
	}
}
