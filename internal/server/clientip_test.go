package server

import "testing"

func TestTrustedProxiesClient(t *testing.T) {
	tp, err := parseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: its forwarded header is ignored", "198.51.100.1", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer without header", "10.1.1.1", nil, "10.1.1.1"},
		{"trusted peer", "10.1.1.1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"right-most untrusted wins over what the client wrote", "10.1.1.1", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops are skipped", "192.0.2.7", []string{"203.0.113.9, 10.2.2.2, 10.3.3.3"}, "203.0.113.9"},
		{"several header lines are one list", "10.1.1.1", []string{"1.1.1.1", "203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"all hops trusted: the left-most", "10.1.1.1", []string{"10.9.9.9, 10.2.2.2"}, "10.9.9.9"},
		{"port and brackets", "10.1.1.1", []string{"[2001:db9::1]:443"}, "2001:db9::1"},
		{"IPv4 with port", "10.1.1.1", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"mapped IPv4 hop", "10.1.1.1", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk at the peer", "10.1.1.1", []string{"203.0.113.9, unknown"}, "10.1.1.1"},
		{"empty hop stops the walk", "10.1.1.1", []string{"203.0.113.9,"}, "10.1.1.1"},
		{"garbage left of the client does not matter", "10.1.1.1", []string{"<script>, 203.0.113.9"}, "203.0.113.9"},
		{"IPv6 trusted peer", "2001:db8::5", []string{"198.51.100.3"}, "198.51.100.3"},
		{"mapped IPv4 peer is trusted by its IPv4 prefix", "::ffff:10.0.0.9", []string{"198.51.100.3"}, "198.51.100.3"},
		{"mapped prefix in the config", "172.16.3.4", []string{"198.51.100.4"}, "198.51.100.4"},
		{"a peer that is not an address", "@", []string{"198.51.100.4"}, "@"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tp.client(tc.peer, tc.xff); got != tc.want {
				t.Errorf("client(%q, %q) = %q, want %q", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
	if got := (trustedProxies{}).client("10.1.1.1", []string{"203.0.113.9"}); got != "10.1.1.1" {
		t.Errorf("no trusted proxies: client = %q, want the peer", got)
	}
}
