package server

import (
	"net"
	"net/http"
	"strings"
)

// hostAllowlist is server.hosts: the hosts the gateway answers to.
type hostAllowlist []string

// allows reports whether a Host header value names a listed host. An
// entry with a port matches that host and port; one without, the host on
// any port; one starting with "." the domain and its subdomains on any
// port. Comparison is case-insensitive and ignores a trailing dot.
func (l hostAllowlist) allows(hostport string) bool {
	if len(l) == 0 {
		return true
	}
	if hostport == "" || strings.ContainsAny(hostport, "@/\\ \t,") {
		return false
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	full := strings.ToLower(hostport)
	for _, e := range l {
		e = strings.ToLower(e)
		switch {
		case strings.HasPrefix(e, "."):
			if host == e[1:] || strings.HasSuffix(host, e) {
				return true
			}
		default:
			if _, _, err := net.SplitHostPort(e); err == nil { // with a port
				if full == e {
					return true
				}
			} else if host == strings.Trim(e, "[]") {
				return true
			}
		}
	}
	return false
}

// checkHost refuses requests for a host not in server.hosts, before any
// of the request is read.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if len(s.hosts) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts.allows(r.Host) {
			s.log.Info("refused a request for a host not in server.hosts", "request_id", state(r).id, "host", truncate(r.Host, 100))
			s.writeError(w, r, errHostNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
