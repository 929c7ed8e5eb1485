package config

import "time"

// Server configures the gateway's HTTP server: limits and timeouts that
// bound what one client can hold, and request rules at the edge.
type Server struct {
	// ReadHeaderTimeout bounds reading a request's head; a slow client
	// is cut off (slowloris). Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included; 0 is no
	// limit beyond ReadHeaderTimeout (uploads may be slow). Default 0.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response; 0 is no limit (streamed
	// responses and WebSockets last). Default 0.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's head (request line and headers);
	// larger heads get 431. Default 65536.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds request bodies; a larger Content-Length gets 413
	// before anything is forwarded, a longer streamed body is cut off.
	// Default 33554432 (32 MiB); -1 is no limit.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxConnections bounds the connections served at once; further ones
	// wait in the kernel's accept queue. Default 10000; -1 is no limit.
	MaxConnections int `yaml:"max_connections"`
	// Hosts lists the host names the gateway answers to: "example.com"
	// (any port), "example.com:8443", or ".example.com" for the domain
	// and its subdomains. A request for any other Host (or, in
	// forward-auth mode, X-Forwarded-Host) is refused with 400 before
	// anything reads it, so a forged Host never reaches redirects, the
	// policy or the app. Empty: any host (fine behind a proxy that
	// checks it; set it when clients reach the gateway directly).
	Hosts []string `yaml:"hosts"`
	// TLS serves HTTPS (and HTTP/2) on listen instead of plain HTTP.
	TLS ServeTLS `yaml:"tls"`
	// ShutdownGrace is how long in-flight requests may finish after
	// SIGTERM or SIGINT before the gateway exits. Default 15s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// MethodOverride honours X-HTTP-Method-Override, X-HTTP-Method,
	// X-Method-Override and a "_method" parameter: the overriding method
	// is the one authorized (and the override reaches the app). Off by
	// default: they are removed, so an app that honours them cannot be
	// made to run a method the policy did not see.
	MethodOverride bool `yaml:"method_override"`
}

// Defaults of the server section.
const (
	DefaultServerReadHeaderTimeout = 10 * time.Second
	DefaultServerIdleTimeout       = 120 * time.Second
	DefaultServerMaxHeaderBytes    = 64 << 10
	DefaultServerMaxBodyBytes      = 32 << 20
	DefaultServerMaxConnections    = 10000
	// MinServerMaxHeaderBytes is the smallest max_header_bytes accepted:
	// below it ordinary browsers' heads (cookies!) are refused.
	MinServerMaxHeaderBytes = 4 << 10
	// MaxServerMaxHeaderBytes bounds max_header_bytes.
	MaxServerMaxHeaderBytes = 1 << 20
)

func (c *Config) applyServerDefaults() {
	s := &c.Server
	setDuration(&s.ReadHeaderTimeout, DefaultServerReadHeaderTimeout)
	setDuration(&s.IdleTimeout, DefaultServerIdleTimeout)
	setInt(&s.MaxHeaderBytes, DefaultServerMaxHeaderBytes)
	setInt(&s.MaxBodyBytes, DefaultServerMaxBodyBytes)
	setInt(&s.MaxConnections, DefaultServerMaxConnections)
	setDuration(&s.ShutdownGrace, DefaultShutdownGrace)
	setBool(&c.Log.Access, true)
}

func (v *validator) server(s *Server) {
	v.positive("server.read_header_timeout", s.ReadHeaderTimeout)
	v.positive("server.idle_timeout", s.IdleTimeout)
	v.positive("server.shutdown_grace", s.ShutdownGrace)
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"server.read_timeout", s.ReadTimeout}, {"server.write_timeout", s.WriteTimeout}} {
		if d.d < 0 {
			v.add(d.key, "must be 0 (no limit) or more, got %s", d.d)
		}
	}
	if s.ReadTimeout > 0 && s.ReadTimeout < s.ReadHeaderTimeout {
		v.add("server.read_timeout", "must be 0 (no limit) or at least server.read_header_timeout (%s), got %s", s.ReadHeaderTimeout, s.ReadTimeout)
	}
	if s.MaxHeaderBytes < MinServerMaxHeaderBytes || s.MaxHeaderBytes > MaxServerMaxHeaderBytes {
		v.add("server.max_header_bytes", "must be from %d to %d, got %d", MinServerMaxHeaderBytes, MaxServerMaxHeaderBytes, s.MaxHeaderBytes)
	}
	if s.MaxBodyBytes < -1 || s.MaxBodyBytes == 0 {
		v.add("server.max_body_bytes", "must be a number of bytes (1 or more) or -1 for no limit, got %d", s.MaxBodyBytes)
	}
	v.serveTLS(s.TLS)
	for i, h := range s.Hosts {
		if msg := checkAllowedHost(h); msg != "" {
			v.add(indexPath("server.hosts", i), "%s", msg)
		}
	}
	if s.MaxConnections < -1 || s.MaxConnections == 0 {
		v.add("server.max_connections", "must be 1 or more, or -1 for no limit, got %d", s.MaxConnections)
	}
}

// ServeTLS configures TLS serving. Both files or neither.
type ServeTLS struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the leaf.
	KeyFile string `yaml:"key_file"`
}

// On reports whether TLS serving is configured.
func (t ServeTLS) On() bool { return t.CertFile != "" || t.KeyFile != "" }

func (v *validator) serveTLS(t ServeTLS) {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add("server.tls.key_file", "required with server.tls.cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		v.add("server.tls.cert_file", "required with server.tls.key_file")
	}
}
