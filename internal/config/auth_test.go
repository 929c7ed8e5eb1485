package config

import (
	"testing"
	"time"
)

func TestAuthenticationValid(t *testing.T) {
	tests := map[string]func(c *Config){
		"defaults": func(c *Config) {},
		"every backend": func(c *Config) {
			c.Authentication.Backends = []string{"bearer", "session", "basic", "remote_user"}
			c.Authentication.RemoteUser.TrustedProxies = []string{"10.0.0.0/8"}
			c.Tokens.Enabled = true
			c.Tokens.Keys = []SigningKey{{ID: "2026-11", File: "keys/ed25519.pem"}, {ID: "2026-05", File: "keys/old.pem"}}
		},
		"bearer with a third-party issuer only": func(c *Config) {
			c.Authentication.Backends = []string{"bearer"}
			c.Authentication.Bearer.Issuers = []BearerIssuer{{
				Issuer: "https://idp.example.com/", JWKSURL: "https://idp.example.com/jwks", Audience: []string{"gw"},
				Algorithms: []string{"RS256", "EdDSA"}, Leeway: MaxLeeway, Claims: ClaimMapping{Username: "preferred_username", Groups: "groups"},
				CreateUsers: true, SyncGroups: true,
			}}
		},
		"jwks file, loopback http url": func(c *Config) {
			c.Authentication.Bearer.Issuers = []BearerIssuer{
				{Issuer: "a", JWKSFile: "jwks.json", Audience: []string{"gw"}, Algorithms: []string{"ES256"}, Claims: ClaimMapping{Username: "sub"}},
				{Issuer: "b", JWKSURL: "http://127.0.0.1:9999/jwks", Audience: []string{"gw"}, Algorithms: []string{"ES256"}, Claims: ClaimMapping{Username: "sub"}},
			}
		},
		"assertion only": func(c *Config) {
			c.UpstreamAssertion.Enabled = true
			c.Tokens.Keys = []SigningKey{{ID: "k", File: "k.pem"}}
		},
		"remote user header equal to an identity header while unused": func(c *Config) {
			c.Authentication.RemoteUser.Header = c.IdentityHeaders.User
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			mutate(c)
			c.ApplyDefaults()
			if err := c.Validate(); err != nil {
				t.Errorf("Validate:\n%v", err)
			}
		})
	}
}

func TestAuthenticationProblems(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"backends", func(c *Config) {
			c.Authentication.Backends = []string{"session", "cookie", "session", "bearer"}
		}, []string{
			`authentication.backends[1]: must be one of "session", "bearer", "basic", "remote_user", got "cookie"`,
			`authentication.backends[2]: duplicate backend "session" (also authentication.backends[0])`,
			`authentication.backends: bearer accepts no token: enable tokens (tokens.enabled) or list an issuer under authentication.bearer.issuers`,
		}},
		{"remote user without proxies, bad header", func(c *Config) {
			c.Authentication.Backends = []string{"remote_user"}
			c.Authentication.RemoteUser.Header = "x-remote-user"
			c.Authentication.RemoteUser.TrustedProxies = nil
		}, []string{
			`authentication.remote_user.header: must differ from X-Remote-User, which the gateway sets for upstreams`,
			`authentication.remote_user.trusted_proxies: required when remote_user is a backend: list the addresses of the proxy that sets x-remote-user, or anyone could name any user`,
		}},
		{"remote user proxies and reserved header", func(c *Config) {
			c.Authentication.Backends = []string{"remote_user"}
			c.Authentication.RemoteUser.Header = "Authorization"
			c.Authentication.RemoteUser.TrustedProxies = []string{"0.0.0.0/0"}
		}, []string{
			`authentication.remote_user.header: must not be Authorization: that header belongs to HTTP or the gateway`,
			`authentication.remote_user.trusted_proxies[0]: trusts every address, so any client could choose its own address with X-Forwarded-For; list your proxies' addresses, got "0.0.0.0/0"`,
		}},
		{"basic realm", func(c *Config) { c.Authentication.Basic.Realm = `a"b` }, []string{
			`authentication.basic.realm: must be a non-empty name without quotes, backslashes or line breaks, got "a\"b"`,
		}},
		{"issuers", func(c *Config) {
			c.Tokens.Enabled = true
			c.Tokens.Keys = []SigningKey{{ID: "k", File: "k.pem"}}
			c.Authentication.Bearer.Issuers = []BearerIssuer{
				{Issuer: "djangate", JWKSURL: "http://idp.example.com/jwks", JWKSFile: "", Algorithms: []string{"HS256", "none"}, Leeway: time.Hour, SyncGroups: true},
				{Issuer: "x", JWKSURL: "ftp://idp/jwks", Audience: []string{""}},
				{Issuer: "x", JWKSURL: "https://a/jwks", JWKSFile: "f", Audience: []string{"a"}},
				{},
			}
		}, []string{
			`authentication.bearer.issuers[0].issuer: is the gateway's own issuer (tokens.issuer); give the provider's`,
			`authentication.bearer.issuers[0].jwks_url: must be https (keys fetched over plain HTTP could be replaced on the way), got "http://idp.example.com/jwks"`,
			`authentication.bearer.issuers[0].audience: required: the "aud" values meant for this gateway`,
			`authentication.bearer.issuers[0].algorithms[0]: must be one of "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", got "HS256"`,
			`authentication.bearer.issuers[0].algorithms[1]: must be one of "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", got "none"`,
			`authentication.bearer.issuers[0].leeway: must be from 0s to 5m0s, got 1h0m0s`,
			`authentication.bearer.issuers[0].claims.username: required, e.g. "preferred_username" or "sub"`,
			`authentication.bearer.issuers[0].sync_groups: needs claims.groups: the claim that lists the groups`,
			`authentication.bearer.issuers[1].jwks_url: must be an https URL, got "ftp://idp/jwks"`,
			`authentication.bearer.issuers[1].audience[0]: must not be empty`,
			`authentication.bearer.issuers[1].claims.username: required, e.g. "preferred_username" or "sub"`,
			`authentication.bearer.issuers[2]: has both jwks_url and jwks_file; keep one`,
			`authentication.bearer.issuers[2].claims.username: required, e.g. "preferred_username" or "sub"`,
			`authentication.bearer.issuers[2].issuer: duplicate issuer "x" (also authentication.bearer.issuers[1])`,
			`authentication.bearer.issuers[3].issuer: required: the exact "iss" of the provider's tokens`,
			`authentication.bearer.issuers[3]: needs jwks_url or jwks_file`,
			`authentication.bearer.issuers[3].audience: required: the "aud" values meant for this gateway`,
			`authentication.bearer.issuers[3].claims.username: required, e.g. "preferred_username" or "sub"`,
		}},
		{"tokens", func(c *Config) {
			c.Tokens = Tokens{Enabled: true, Keys: []SigningKey{{ID: "a b"}, {ID: "k", File: "f"}, {ID: "k", File: "g"}},
				AccessTTL: 2 * time.Hour, RefreshTTL: time.Hour, Leeway: -time.Second}
			c.UpstreamAssertion = UpstreamAssertion{Enabled: true, Header: "X-Remote-Groups", TTL: 0}
		}, []string{
			`tokens.keys[0].id: must be at most 64 printable ASCII characters without spaces or quotes, got "a b"`,
			`tokens.keys[0].file: required: a PEM private key file`,
			`tokens.keys[2].id: duplicate key id "k" (also tokens.keys[1])`,
			`tokens.issuer: required`,
			`tokens.audience: required`,
			`tokens.access_ttl: must be at most 1h (access tokens are meant to be short-lived; clients refresh), got 2h0m0s`,
			`tokens.refresh_ttl: must be at least tokens.access_ttl (2h0m0s), got 1h0m0s`,
			`tokens.leeway: must be from 0s to 5m0s, got -1s`,
			`upstream_assertion.header: must differ from X-Remote-Groups, which the gateway sets for upstreams`,
			`upstream_assertion.ttl: must be greater than 0, got 0s`,
		}},
		{"keys needed", func(c *Config) { c.UpstreamAssertion.Enabled = true }, []string{
			`tokens.keys: required when tokens.enabled or upstream_assertion.enabled: list at least one {id, file} PEM private key`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			assertLines(t, c.Validate(), tt.want)
		})
	}
}

func TestServerSection(t *testing.T) {
	valid := validConfig()
	valid.Server = Server{ReadHeaderTimeout: time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Hour, IdleTimeout: time.Second,
		MaxHeaderBytes: MinServerMaxHeaderBytes, MaxBodyBytes: -1, MaxConnections: -1, MethodOverride: true, ShutdownGrace: time.Second}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	c := validConfig()
	c.Server = Server{ReadHeaderTimeout: 0, ReadTimeout: time.Millisecond, WriteTimeout: -time.Second, IdleTimeout: -1,
		MaxHeaderBytes: 100, MaxBodyBytes: 0, MaxConnections: -2}
	assertLines(t, c.Validate(), []string{
		`server.read_header_timeout: must be greater than 0, got 0s`,
		`server.idle_timeout: must be greater than 0, got -1ns`,
		`server.shutdown_grace: must be greater than 0, got 0s`,
		`server.write_timeout: must be 0 (no limit) or more, got -1s`,
		`server.max_header_bytes: must be from 4096 to 1048576, got 100`,
		`server.max_body_bytes: must be a number of bytes (1 or more) or -1 for no limit, got 0`,
		`server.max_connections: must be 1 or more, or -1 for no limit, got -2`,
	})
}

func TestServerHostsValidation(t *testing.T) {
	c := validConfig()
	c.Server.Hosts = []string{"app.example.com", ".example.com", "example.com:8443", "*", "http://x"}
	assertLines(t, c.Validate(), []string{
		`server.hosts[3]: wildcards are not allowed: they would let login redirects go anywhere; list the hosts, or use ".example.com" for a domain and its subdomains; got "*"`,
		`server.hosts[4]: must be a host like "example.com", ".example.com" (with subdomains) or "example.com:8443", not a URL; got "http://x"`,
	})
}

func TestOpsSection(t *testing.T) {
	c := validConfig()
	c.Ops = Ops{Listen: "127.0.0.1:9090", Pprof: true}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	c.Ops = Ops{Listen: c.Listen, Pprof: false}
	assertLines(t, c.Validate(), []string{`ops.listen: must differ from listen (` + c.Listen + `): operations endpoints stay off the traffic port`})
	c.Ops = Ops{Listen: "http://x:1", Pprof: false}
	assertLines(t, c.Validate(), []string{`ops.listen: must be host:port, not a URL, e.g. "127.0.0.1:9090"; got "http://x:1"`})
	c.Ops = Ops{Pprof: true}
	assertLines(t, c.Validate(), []string{`ops.pprof: needs ops.listen: profiles are only served on the operations listener`})
}
