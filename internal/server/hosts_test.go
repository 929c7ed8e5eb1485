package server

import "testing"

func TestHostAllowlist(t *testing.T) {
	l := hostAllowlist{"app.example.com", ".corp.example", "api.example.com:8443", "[::1]", "192.0.2.7"}
	tests := []struct {
		host string
		want bool
	}{
		{"app.example.com", true},
		{"APP.Example.COM", true},
		{"app.example.com:8080", true},
		{"app.example.com.", true},
		{"corp.example", true},
		{"a.b.corp.example:443", true},
		{"api.example.com:8443", true},
		{"api.example.com", false},
		{"api.example.com:443", false},
		{"[::1]:8080", true},
		{"192.0.2.7", true},
		{"evil.com", false},
		{"app.example.com.evil.com", false},
		{"evilcorp.example", false},
		{"app.example.com@evil.com", false},
		{"evil.com/app.example.com", false},
		{"", false},
		{"app.example.com, evil.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := l.allows(tc.host); got != tc.want {
				t.Fatalf("allows(%q) = %v, want %v", tc.host, got, tc.want)
			}
		})
	}
	if !(hostAllowlist{}).allows("anything") {
		t.Fatal("an empty list allows any host")
	}
}
