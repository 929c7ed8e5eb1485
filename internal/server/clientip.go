package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client's address is decided once per request, by clientAddr, before
// sanitize removes the forwarding headers. Everything that needs it — the
// login throttle, the audit events, the session record, the policy's
// input.request.client_ip, the decision log and the app's X-Forwarded-For
// — reads that one value through clientIP.

// trustedProxies are the proxies whose X-Forwarded-For is believed
// (config trusted_proxies). Empty: nobody's.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads trusted_proxies entries: addresses or CIDR
// prefixes (config.Validate has checked them).
func parseTrustedProxies(list []string) (trustedProxies, error) {
	out := make(trustedProxies, 0, len(list))
	for i, s := range list {
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
			}
			a = a.Unmap().WithZone("")
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client is the client's address for a connection from peer that sent
// the X-Forwarded-For lines xff. A peer that is not a trusted proxy is
// the client, whatever it sent. A trusted proxy's X-Forwarded-For is read
// from the right, each hop appended by the proxy before it, and the first
// address that is not a trusted proxy is the client: whatever a client
// puts on the left of the list cannot move it. When every hop is trusted,
// the left-most is the client. A hop that is not an address (garbled by a
// proxy) stops the walk, and the peer is used rather than a guess.
func (t trustedProxies) client(peer string, xff []string) string {
	if len(t) == 0 || len(xff) == 0 {
		return peer
	}
	pa, err := netip.ParseAddr(peer)
	if err != nil || !t.trusts(pa) {
		return peer
	}
	var hops []string
	for _, line := range xff {
		for h := range strings.SplitSeq(line, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return peer
		}
		if !t.trusts(a) {
			return a.String()
		}
		last = a
	}
	if last.IsValid() {
		return last.String()
	}
	return peer
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or IPv6 brackets.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// clientAddr decides the client's address (see trustedProxies.client).
// When a trusted proxy forwarded the request, RemoteAddr is rewritten to
// the client's, so the app's X-Forwarded-For names the client, not the
// proxy.
func (s *Server) clientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := peerIP(r)
		ip := s.proxies.client(peer, r.Header.Values("X-Forwarded-For"))
		setTLS(r) // TLS terminated below the framing checks (tlsserve.go)
		st := state(r)
		st.clientIP = ip
		st.secure = r.TLS != nil
		if a, err := netip.ParseAddr(peer); err == nil && !st.secure && s.proxies.trusts(a.Unmap()) {
			// The last X-Forwarded-Proto is the one the trusted proxy set.
			if v := r.Header.Values("X-Forwarded-Proto"); len(v) > 0 {
				st.secure = strings.EqualFold(strings.TrimSpace(v[len(v)-1]), "https")
			}
		}
		if ip != peer {
			r.RemoteAddr = net.JoinHostPort(ip, "0")
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the client's address as clientAddr decided it.
func clientIP(r *http.Request) string {
	if ip := state(r).clientIP; ip != "" {
		return ip
	}
	return peerIP(r)
}

// peerIP is the connection's peer address.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
