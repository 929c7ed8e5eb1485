package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestThrottleAuditProxiesValid(t *testing.T) {
	tests := map[string]func(c *Config){
		"defaults": func(c *Config) {},
		"trusted proxies": func(c *Config) {
			c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "172.16.0.0/12", "192.0.2.0/32"}
		},
		"throttle off": func(c *Config) { c.Throttle.Enabled = ptr(false) },
		"short throttle": func(c *Config) {
			c.Throttle = Throttle{Enabled: ptr(true), Window: time.Second, UsernameLimit: 1, IPLimit: 1, Cooloff: time.Millisecond}
		},
		"largest limits":        func(c *Config) { c.Throttle.UsernameLimit, c.Throttle.IPLimit = MaxThrottleLimit, MaxThrottleLimit },
		"audit off":             func(c *Config) { c.Audit.Enabled = ptr(false) },
		"audit stream and cap":  func(c *Config) { c.Audit.Stream, c.Audit.MaxLen = "events:{audit}", 1 },
		"audit stream unicode":  func(c *Config) { c.Audit.Stream = "journal-é" },
		"throttle enabled nil":  func(c *Config) { c.Throttle.Enabled = nil },
		"audit enabled nil":     func(c *Config) { c.Audit.Enabled = nil },
		"ipv4-mapped proxy":     func(c *Config) { c.TrustedProxies = []string{"::ffff:10.0.0.1"} },
		"long window, cool-off": func(c *Config) { c.Throttle.Window, c.Throttle.Cooloff = 24*time.Hour, 720*time.Hour },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			mutate(c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate:\n%v", err)
			}
		})
	}
	if !Default().Throttle.On() || !Default().Audit.On() || (Throttle{}).On() != true || (Throttle{Enabled: ptr(false)}).On() {
		t.Error("throttle and audit must default to on, and false must turn them off")
	}
}

func TestThrottleAuditProxiesProblems(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"trusted proxies", func(c *Config) {
			c.TrustedProxies = []string{"", "proxy.internal", "10.0.0.1/8", "0.0.0.0/0", "::/0", "fe80::1%eth0", "10.0.0.0/33", "10.0.0.0/8 "}
		}, []string{
			`trusted_proxies[0]: must not be empty; must be an IP address or a CIDR prefix like "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32"`,
			`trusted_proxies[1]: must be an IP address or a CIDR prefix like "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32", got "proxy.internal"`,
			`trusted_proxies[2]: has bits set beyond the prefix length; did you mean "10.0.0.0/8"? got "10.0.0.1/8"`,
			`trusted_proxies[3]: trusts every address, so any client could choose its own address with X-Forwarded-For; list your proxies' addresses, got "0.0.0.0/0"`,
			`trusted_proxies[4]: trusts every address, so any client could choose its own address with X-Forwarded-For; list your proxies' addresses, got "::/0"`,
			`trusted_proxies[5]: must not have a zone (%...), got "fe80::1%eth0"`,
			`trusted_proxies[6]: must be an IP address or a CIDR prefix like "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32", got "10.0.0.0/33"`,
			`trusted_proxies[7]: must be an IP address or a CIDR prefix like "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32", got "10.0.0.0/8 "`,
		}},
		{"throttle negative", func(c *Config) {
			c.Throttle = Throttle{Window: -time.Second, UsernameLimit: -1, IPLimit: MaxThrottleLimit + 1, Cooloff: -time.Minute}
		}, []string{
			`throttle.window: must be greater than 0, got -1s`,
			`throttle.cooloff: must be greater than 0, got -1m0s`,
			`throttle.username_limit: must be a number of failed logins from 1 to 1000000, got -1`,
			`throttle.ip_limit: must be a number of failed logins from 1 to 1000000, got 1000001`,
		}},
		{"throttle below a millisecond", func(c *Config) { c.Throttle.Window, c.Throttle.Cooloff = time.Microsecond, 999*time.Microsecond }, []string{
			`throttle.window: must be at least 1ms, got 1µs`,
			`throttle.cooloff: must be at least 1ms, got 999µs`,
		}},
		{"audit", func(c *Config) { c.Audit.Stream, c.Audit.MaxLen = "my audit", -5 }, []string{
			`audit.stream: must not contain spaces or control characters, got "my audit"`,
			`audit.max_len: must be 1 or more, got -5`,
		}},
		{"audit stream too long", func(c *Config) { c.Audit.Stream = strings.Repeat("a", 201) },
			[]string{`audit.stream: must be at most 200 bytes, got 201`}},
		{"audit unset", func(c *Config) { c.Audit.Stream, c.Audit.MaxLen = "", 0 }, []string{
			`audit.stream: required, e.g. "audit"`,
			`audit.max_len: must be 1 or more, got 0`,
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

func TestThrottleAuditProxiesFromFileAndEnv(t *testing.T) {
	path := writeFile(t, `upstreams: [{url: "http://a"}]
trusted_proxies: [10.0.0.0/8]
throttle:
  enabled: false
  window: 5m
  username_limit: 3
audit:
  stream: events
`)
	c, err := Load(path, []string{
		"GATEWAY_SECRET_KEY=" + testSecret,
		"GATEWAY_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.7",
		"GATEWAY_THROTTLE_IP_LIMIT=20",
		"GATEWAY_THROTTLE_COOLOFF=1h",
		"GATEWAY_AUDIT_ENABLED=false",
		"GATEWAY_AUDIT_MAX_LEN=500",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.7"}) {
		t.Errorf("trusted_proxies = %q", c.TrustedProxies)
	}
	wantT := Throttle{Enabled: ptr(false), Window: 5 * time.Minute, UsernameLimit: 3, IPLimit: 20, Cooloff: time.Hour}
	if !reflect.DeepEqual(c.Throttle, wantT) {
		t.Errorf("throttle = %+v, want %+v", c.Throttle, wantT)
	}
	wantA := Audit{Enabled: ptr(false), Stream: "events", MaxLen: 500}
	if !reflect.DeepEqual(c.Audit, wantA) {
		t.Errorf("audit = %+v, want %+v", c.Audit, wantA)
	}

	_, err = Load(path, []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_THROTTLE_WINDOW=30", "GATEWAY_TRUSTED_PROXIES=0.0.0.0/0"})
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_THROTTLE_WINDOW (throttle.window)") {
		t.Errorf("bad duration not reported by variable and key: %v", err)
	}
	_, err = Load(path, []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_TRUSTED_PROXIES=0.0.0.0/0"})
	if err == nil || !strings.Contains(err.Error(), "trusted_proxies[0]: trusts every address") {
		t.Errorf("a catch-all trusted proxy is not refused: %v", err)
	}
}
