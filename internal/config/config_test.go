package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

const testSecret = "0123456789abcdefghijklmnopqrstuvwxyzABCD" // 40 chars, test only

// lines splits an error into its lines; nil gives nil.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func assertLines(t *testing.T, err error, want []string) {
	t.Helper()
	got := lines(err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems mismatch\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func ptr[T any](v T) *T { return &v }

// validConfig is a minimal configuration that validates, defaults applied.
func validConfig() *Config {
	c := &Config{
		SecretKey: testSecret,
		Upstreams: []Upstream{{URL: "http://127.0.0.1:8000"}},
	}
	c.ApplyDefaults()
	return c
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown top-level key", "listn: :8080\n", []string{
			`config.yaml: listn: unknown key (line 1)`,
		}},
		{"unknown nested key with index", "upstreams:\n  - url: http://a\n  - name: b\n    urll: http://b\n", []string{
			`config.yaml: upstreams[1].urll: unknown key (line 4)`,
		}},
		{"unknown key deep", "upstreams:\n  - match:\n      path: /x\n", []string{
			`config.yaml: upstreams[0].match.path: unknown key (line 3)`,
		}},
		{"string where int expected", "redis:\n  db: x\n", []string{
			`config.yaml: redis.db: must be an integer, got "x" (line 2)`,
		}},
		{"quoted number where int expected", "redis:\n  db: \"3\"\n", []string{
			`config.yaml: redis.db: must be an integer, got "3" (a quoted string) (line 2)`,
		}},
		{"float where int expected", "redis:\n  pool_size: 1.5\n", []string{
			`config.yaml: redis.pool_size: must be an integer, got "1.5" (line 2)`,
		}},
		{"int overflow", "redis:\n  db: 99999999999999999999\n", []string{
			`config.yaml: redis.db: must be an integer, got "99999999999999999999" (line 2)`,
		}},
		{"list where int expected", "redis:\n  db: [1]\n", []string{
			`config.yaml: redis.db: must be an integer, got a list (line 2)`,
		}},
		{"string where bool expected", "redis:\n  tls:\n    enabled: yes\n", []string{
			`config.yaml: redis.tls.enabled: must be a boolean (true or false), got "yes" (line 3)`,
		}},
		{"quoted bool where *bool expected", "session:\n  secure: \"true\"\n", []string{
			`config.yaml: session.secure: must be a boolean (true or false), got "true" (a quoted string) (line 2)`,
		}},
		{"int where bool expected", "redis:\n  tls:\n    insecure_skip_verify: 1\n", []string{
			`config.yaml: redis.tls.insecure_skip_verify: must be a boolean (true or false), got "1" (line 3)`,
		}},
		{"bool where string expected", "listen: true\n", []string{
			`config.yaml: listen: must be a string, got true (quote it if you mean the text) (line 1)`,
		}},
		{"mapping where string expected", "listen: {a: b}\n", []string{
			`config.yaml: listen: must be a string, got a mapping (line 1)`,
		}},
		{"unsupported tag", "listen: !env PORT\n", []string{
			`config.yaml: listen: must be a string, got a value tagged "!env" (line 1)`,
		}},
		{"mapping where list expected", "upstreams:\n  url: http://a\n", []string{
			`config.yaml: upstreams: must be a list, got a mapping (line 2)`,
		}},
		{"scalar list element where mapping expected", "upstreams:\n  - http://a\n", []string{
			`config.yaml: upstreams[0]: must be a mapping, got "http://a" (line 2)`,
		}},
		{"list where mapping expected", "redis: [a, b]\n", []string{
			`config.yaml: redis: must be a mapping, got a list (line 1)`,
		}},
		{"scalar where string list expected", "allowed_hosts: a.example\n", []string{
			`config.yaml: allowed_hosts: must be a list of strings, got "a.example" (line 1)`,
		}},
		{"mapping in string list", "allowed_hosts:\n  - a.example\n  - {b: c}\n", []string{
			`config.yaml: allowed_hosts[1]: must be a string, got a mapping (line 3)`,
		}},
		{"bare integer duration", "policy:\n  timeout: 250\n", []string{
			`config.yaml: policy.timeout: bare number "250" has no unit; write a duration with a unit, e.g. "5s", "250ms" or "336h" (line 2)`,
		}},
		{"bare float duration", "session:\n  max_age: 1.5\n", []string{
			`config.yaml: session.max_age: bare number "1.5" has no unit; write a duration with a unit, e.g. "5s", "250ms" or "336h" (line 2)`,
		}},
		{"bad duration", "redis:\n  dial_timeout: 2 seconds\n", []string{
			`config.yaml: redis.dial_timeout: must be a duration such as "5s", "250ms" or "336h", got "2 seconds" (line 2)`,
		}},
		{"day unit is not a duration", "session:\n  max_age: 14d\n", []string{
			`config.yaml: session.max_age: must be a duration such as "5s", "250ms" or "336h", got "14d" (line 2)`,
		}},
		{"list where duration expected", "upstreams:\n  - timeouts:\n      dial: [5s]\n", []string{
			`config.yaml: upstreams[0].timeouts.dial: must be a duration such as "5s", "250ms" or "336h", got a list (line 3)`,
		}},
		{"duplicate key", "redis:\n  addr: a:1\n  addr: b:2\n", []string{
			`config.yaml: redis.addr: duplicate key; first set at line 2 (line 3)`,
		}},
		{"document is a list", "- a\n- b\n", []string{
			`config.yaml: must be a mapping, got a list (line 1)`,
		}},
		{"document is a scalar", "hello\n", []string{
			`config.yaml: must be a mapping, got "hello" (line 1)`,
		}},
		{"syntax error", "listen: :8080\n  prefix: /x\n", []string{
			`config.yaml: invalid YAML: mapping values are not allowed in this context (line 2)`,
		}},
		{"two documents", "listen: :8080\n---\nlisten: :9090\n", []string{
			`config.yaml: invalid YAML: more than one document; the file must hold exactly one (line 2)`,
		}},
		{"complex key", "? [a]\n: b\n", []string{
			`config.yaml: keys must be plain names, got a list (line 1)`,
		}},
		{"merge of a scalar", "redis:\n  <<: x\n", []string{
			`config.yaml: redis: merge key "<<" must refer to a mapping or a list of mappings, got "x" (line 2)`,
		}},
		{"anchors must live under known keys", "base: &b {dial: 1s}\nupstreams: [{url: http://a, timeouts: *b}]\n", []string{
			`config.yaml: base: unknown key (line 1)`,
		}},
		{"unknown key through merge", "upstreams:\n  - url: http://a\n    match: &m {host: a, porth: /x}\n  - <<: *m\n", []string{
			`config.yaml: upstreams[0].match.porth: unknown key (line 3)`,
			`config.yaml: upstreams[1].host: unknown key (line 3)`,
			`config.yaml: upstreams[1].porth: unknown key (line 3)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Decode("config.yaml", []byte(tt.yaml))
			if cfg != nil {
				t.Errorf("Decode returned a config along with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error", err)
			}
			assertLines(t, err, tt.want)
		})
	}
}

func TestDecodeValid(t *testing.T) {
	src := `
listen: "127.0.0.1:9000"
secret_key: 12345678901234567890123456789012345
allowed_hosts: [a.example, ".b.example"]
upstreams:
  - name: api
    url: http://api:9000
    match: {host: api.example, path_prefix: /api}
    timeouts: &timeouts
      dial: 1s
  - url: http://legacy:8000
    timeouts:
      <<: *timeouts
      idle: 2m
redis:
  db: 3
  pool_size: 1_000
  tls:
    enabled: true
session:
  secure: false
  max_age: 336h
  domain: ~
password_hashers:
  - algorithm: pbkdf2_sha256
    iterations: 600000
decision_log:
  enabled: true
  sample_rate: 0
  mask: [user, client_ip]
`
	got, err := Decode("c.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := &Config{
		Listen:       "127.0.0.1:9000",
		SecretKey:    "12345678901234567890123456789012345",
		AllowedHosts: []string{"a.example", ".b.example"},
		Upstreams: []Upstream{
			{Name: "api", URL: "http://api:9000", Match: Match{Host: "api.example", PathPrefix: "/api"},
				Timeouts: UpstreamTimeouts{Dial: time.Second}},
			{URL: "http://legacy:8000", Timeouts: UpstreamTimeouts{Dial: time.Second, Idle: 2 * time.Minute}},
		},
		Redis:           Redis{DB: 3, PoolSize: 1000, TLS: RedisTLS{Enabled: true}},
		Session:         Session{Secure: ptr(false), MaxAge: 336 * time.Hour},
		PasswordHashers: []PasswordHasher{{Algorithm: "pbkdf2_sha256", Iterations: 600000}},
		DecisionLog:     DecisionLog{Enabled: true, SampleRate: ptr(0.0), Mask: []string{"user", "client_ip"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for name, src := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n\n",
		"null document": "---\n",
		"explicit null": "~\n",
		"null sections": "redis:\nsession:\nupstreams:\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode("config.yaml", []byte(src))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, &Config{}) {
				t.Errorf("Decode = %+v, want zero Config", got)
			}
		})
	}
}

func TestDecodeReportsManyProblemsAtOnce(t *testing.T) {
	src := `listen: 8080
secrt_key: x
upstreams:
  - url: http://a
    urll: http://b
    timeouts:
      dial: 5
  - url: ftp://c
    match: /api
redis:
  db: one
  tls:
    enabled: "yes"
session:
  max_age: 2w
log:
  level: [info]
`
	_, err := Decode("config.yaml", []byte(src))
	assertLines(t, err, []string{
		`config.yaml: secrt_key: unknown key (line 2)`,
		`config.yaml: upstreams[0].urll: unknown key (line 5)`,
		`config.yaml: upstreams[0].timeouts.dial: bare number "5" has no unit; write a duration with a unit, e.g. "5s", "250ms" or "336h" (line 7)`,
		`config.yaml: upstreams[1].match: must be a mapping, got "/api" (line 9)`,
		`config.yaml: redis.db: must be an integer, got "one" (line 11)`,
		`config.yaml: redis.tls.enabled: must be a boolean (true or false), got "yes" (a quoted string) (line 13)`,
		`config.yaml: session.max_age: must be a duration such as "5s", "250ms" or "336h", got "2w" (line 15)`,
		`config.yaml: log.level: must be a string, got a list (line 17)`,
	})
}

func TestDecodeBoundsWork(t *testing.T) {
	var b strings.Builder
	b.WriteString("upstreams:\n  - url: http://a\n    match: &m {")
	for i := range 300 {
		fmt.Fprintf(&b, "k%d: x, ", i)
	}
	b.WriteString("host: a}\n")
	for range 1000 {
		b.WriteString("  - <<: *m\n")
	}
	start := time.Now()
	_, err := Decode("bomb.yaml", []byte(b.String()))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, want *Error", err)
	}
	if n := len(e.Problems); n != maxDecodeProblems+1 {
		t.Errorf("got %d problems, want %d", n, maxDecodeProblems+1)
	}
	if last := e.Problems[len(e.Problems)-1].String(); last != "bomb.yaml: too many problems; stopped here after 100, fix these first (line 3)" {
		t.Errorf("last problem = %q", last)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("decode took %s", d)
	}

	// Without problems to stop at, the node budget stops it.
	b.Reset()
	b.WriteString("upstreams:\n  - url: http://a\n    timeouts: &t {dial: 1s}\n")
	for range 20000 {
		b.WriteString("  - {timeouts: *t, url: http://b}\n")
	}
	_, err = Decode("big.yaml", []byte(b.String()))
	if got := lines(err); len(got) != 1 || !strings.HasPrefix(got[0], "big.yaml: document too large or too deeply aliased (line ") {
		t.Errorf("problems = %q", got)
	}
}

func TestEnvName(t *testing.T) {
	for path, want := range map[string]string{
		"redis.addr":                             "GATEWAY_REDIS_ADDR",
		"upstreams[0].url":                       "GATEWAY_UPSTREAMS_0_URL",
		"upstreams[0].match.path_prefix":         "GATEWAY_UPSTREAMS_0_MATCH_PATH_PREFIX",
		"session.secure":                         "GATEWAY_SESSION_SECURE",
		"password_hashers[0].iterations":         "GATEWAY_PASSWORD_HASHERS_0_ITERATIONS",
		"upstreams[12].timeouts.response_header": "GATEWAY_UPSTREAMS_12_TIMEOUTS_RESPONSE_HEADER",
		"secret_key":                             "GATEWAY_SECRET_KEY",
	} {
		if got := EnvName(path); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, want)
		}
	}
}

// Every key path must be reachable through its EnvName and nothing else,
// however the names of keys and sections run into each other.
func TestEnvNamesResolveToTheirKey(t *testing.T) {
	seen := map[string]string{}
	for _, p := range leafPaths() {
		concrete := strings.ReplaceAll(p, "[i]", "[3]")
		name := EnvName(concrete)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s share the variable %s", p, other, name)
		}
		seen[name] = p
		s, msg := resolveEnv(name)
		if msg != "" || s.path != concrete {
			t.Errorf("resolveEnv(%s) = %q, %q; want %q", name, s.path, msg, concrete)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		check   func(t *testing.T, c *Config)
		want    []string // exact error lines; nil for success
	}{
		{
			name:    "string",
			environ: []string{"GATEWAY_REDIS_ADDR=redis.internal:6380"},
			check: func(t *testing.T, c *Config) {
				if c.Redis.Addr != "redis.internal:6380" {
					t.Errorf("redis.addr = %q", c.Redis.Addr)
				}
			},
		},
		{
			name:    "key with underscores",
			environ: []string{"GATEWAY_SESSION_SAME_SITE=strict", "GATEWAY_SESSION_COOKIE_NAME=sid", "GATEWAY_REDIS_TLS_INSECURE_SKIP_VERIFY=true"},
			check: func(t *testing.T, c *Config) {
				if c.Session.SameSite != "strict" || c.Session.CookieName != "sid" || !c.Redis.TLS.InsecureSkipVerify {
					t.Errorf("session = %+v, tls = %+v", c.Session, c.Redis.TLS)
				}
			},
		},
		{
			name:    "decision log",
			environ: []string{"GATEWAY_DECISION_LOG_ENABLED=true", "GATEWAY_DECISION_LOG_SAMPLE_RATE=0.25", "GATEWAY_DECISION_LOG_MASK=user, path"},
			check: func(t *testing.T, c *Config) {
				want := DecisionLog{Enabled: true, SampleRate: ptr(0.25), Mask: []string{"user", "path"}}
				if !reflect.DeepEqual(c.DecisionLog, want) {
					t.Errorf("decision_log = %+v, want %+v", c.DecisionLog, want)
				}
			},
		},
		{
			name:    "decision log sample rate not a number",
			environ: []string{"GATEWAY_DECISION_LOG_SAMPLE_RATE=half"},
			want:    []string{`GATEWAY_DECISION_LOG_SAMPLE_RATE (decision_log.sample_rate): must be a finite number, got "half"`},
		},
		{
			name:    "policy bundle",
			environ: []string{"GATEWAY_POLICY_BUNDLE=/srv/policy/bundle.tar.gz"},
			check: func(t *testing.T, c *Config) {
				if c.Policy.Bundle != "/srv/policy/bundle.tar.gz" || c.Policy.Dir != "" {
					t.Errorf("policy = %+v", c.Policy)
				}
			},
		},
		{
			name:    "int and duration",
			environ: []string{"GATEWAY_REDIS_DB=4", "GATEWAY_POLICY_TIMEOUT=1s", "GATEWAY_PASSWORD_HASHERS_0_ITERATIONS=600000"},
			check: func(t *testing.T, c *Config) {
				if c.Redis.DB != 4 || c.Policy.Timeout != time.Second {
					t.Errorf("redis.db = %d, policy.timeout = %s", c.Redis.DB, c.Policy.Timeout)
				}
				if want := []PasswordHasher{{Iterations: 600000}}; !reflect.DeepEqual(c.PasswordHashers, want) {
					t.Errorf("password_hashers = %+v, want %+v", c.PasswordHashers, want)
				}
			},
		},
		{
			name:    "bool overrides file, *bool set",
			yaml:    "session:\n  secure: true\n",
			environ: []string{"GATEWAY_SESSION_SECURE=false"},
			check: func(t *testing.T, c *Config) {
				if c.Session.Secure == nil || *c.Session.Secure {
					t.Errorf("session.secure = %v, want false", c.Session.Secure)
				}
			},
		},
		{
			name:    "comma list, spaces and empty items dropped",
			yaml:    "allowed_hosts: [old.example]\n",
			environ: []string{"GATEWAY_ALLOWED_HOSTS=a.example, b.example,,"},
			check: func(t *testing.T, c *Config) {
				if want := []string{"a.example", "b.example"}; !reflect.DeepEqual(c.AllowedHosts, want) {
					t.Errorf("allowed_hosts = %q, want %q", c.AllowedHosts, want)
				}
			},
		},
		{
			name:    "override an existing list entry",
			yaml:    "upstreams:\n  - name: legacy\n    url: http://127.0.0.1:8000\n",
			environ: []string{"GATEWAY_UPSTREAMS_0_URL=http://app:8000"},
			check: func(t *testing.T, c *Config) {
				if want := []Upstream{{Name: "legacy", URL: "http://app:8000"}}; !reflect.DeepEqual(c.Upstreams, want) {
					t.Errorf("upstreams = %+v", c.Upstreams)
				}
			},
		},
		{
			name: "append by index from env alone, in any order",
			environ: []string{
				"GATEWAY_UPSTREAMS_1_URL=http://legacy:8000",
				"GATEWAY_UPSTREAMS_10_URL=http://ten",
				"GATEWAY_UPSTREAMS_0_MATCH_PATH_PREFIX=/api",
				"GATEWAY_UPSTREAMS_0_URL=http://api:9000",
				"GATEWAY_UPSTREAMS_2_URL=http://two", "GATEWAY_UPSTREAMS_3_URL=http://three",
				"GATEWAY_UPSTREAMS_4_URL=http://four", "GATEWAY_UPSTREAMS_5_URL=http://five",
				"GATEWAY_UPSTREAMS_6_URL=http://six", "GATEWAY_UPSTREAMS_7_URL=http://seven",
				"GATEWAY_UPSTREAMS_8_URL=http://eight", "GATEWAY_UPSTREAMS_9_URL=http://nine",
			},
			check: func(t *testing.T, c *Config) {
				if len(c.Upstreams) != 11 {
					t.Fatalf("got %d upstreams, want 11", len(c.Upstreams))
				}
				if u := c.Upstreams[0]; u.URL != "http://api:9000" || u.Match.PathPrefix != "/api" {
					t.Errorf("upstreams[0] = %+v", u)
				}
				if c.Upstreams[1].URL != "http://legacy:8000" || c.Upstreams[10].URL != "http://ten" {
					t.Errorf("upstreams = %+v", c.Upstreams)
				}
			},
		},
		{
			name:    "append after file entries",
			yaml:    "upstreams:\n  - url: http://a\n",
			environ: []string{"GATEWAY_UPSTREAMS_1_URL=http://b"},
			check: func(t *testing.T, c *Config) {
				if len(c.Upstreams) != 2 || c.Upstreams[1].URL != "http://b" {
					t.Errorf("upstreams = %+v", c.Upstreams)
				}
			},
		},
		{
			name:    "gap is an error",
			yaml:    "upstreams:\n  - url: http://a\n",
			environ: []string{"GATEWAY_UPSTREAMS_2_URL=http://c"},
			want:    []string{`GATEWAY_UPSTREAMS_2_URL (upstreams[2].url): index 2 leaves a gap: upstreams has 1 entry, so the next new entry is upstreams[1]`},
		},
		{
			name:    "gap in an empty list",
			environ: []string{"GATEWAY_PASSWORD_HASHERS_1_ALGORITHM=pbkdf2_sha256"},
			want:    []string{`GATEWAY_PASSWORD_HASHERS_1_ALGORITHM (password_hashers[1].algorithm): index 1 leaves a gap: password_hashers has 0 entries, so the next new entry is password_hashers[0]`},
		},
		{
			name:    "unknown variable with suggestion",
			environ: []string{"GATEWAY_REDIS_ADR=x"},
			want:    []string{`GATEWAY_REDIS_ADR: does not match any setting; did you mean GATEWAY_REDIS_ADDR?`},
		},
		{
			name:    "unknown variable in a list entry",
			environ: []string{"GATEWAY_UPSTREAMS_0_URLL=http://a"},
			want:    []string{`GATEWAY_UPSTREAMS_0_URLL: does not match any setting; did you mean GATEWAY_UPSTREAMS_0_URL?`},
		},
		{
			name:    "unknown variable without suggestion",
			environ: []string{"GATEWAY_FROBNICATE=1"},
			want:    []string{`GATEWAY_FROBNICATE: does not match any setting`},
		},
		{
			name:    "naive splitting does not apply",
			environ: []string{"GATEWAY_SESSION_SAME=lax"},
			want:    []string{`GATEWAY_SESSION_SAME: does not match any setting; did you mean GATEWAY_SESSION_SAME_SITE?`},
		},
		{
			name:    "non-canonical index",
			environ: []string{"GATEWAY_UPSTREAMS_01_URL=http://a"},
			want:    []string{`GATEWAY_UPSTREAMS_01_URL: does not match any setting; did you mean GATEWAY_UPSTREAMS_1_URL?`},
		},
		{
			name:    "index on a string list",
			environ: []string{"GATEWAY_ALLOWED_HOSTS_0=a.example"},
			want:    []string{`GATEWAY_ALLOWED_HOSTS_0: does not match any setting; did you mean GATEWAY_ALLOWED_HOSTS?`},
		},
		{
			name:    "section instead of setting",
			environ: []string{"GATEWAY_UPSTREAMS_0_MATCH=/api"},
			want:    []string{`GATEWAY_UPSTREAMS_0_MATCH: upstreams[0].match is a section; set its keys one by one, e.g. GATEWAY_UPSTREAMS_0_MATCH_HOST`},
		},
		{
			name:    "CLI variables and other variables are not settings",
			environ: []string{"GATEWAY_CONFIG=/etc/gw.yaml", "GATEWAY_SUPERUSER_PASSWORD=pw", "PATH=/bin", "gateway_redis_addr=x", "GATEWAY_NOVALUE", "=C:=C:\\"},
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c, &Config{}) {
					t.Errorf("config changed: %+v", c)
				}
			},
		},
		{
			name:    "last occurrence wins",
			environ: []string{"GATEWAY_LOG_LEVEL=debug", "GATEWAY_LOG_LEVEL=warn"},
			check: func(t *testing.T, c *Config) {
				if c.Log.Level != "warn" {
					t.Errorf("log.level = %q, want warn", c.Log.Level)
				}
			},
		},
		{
			name: "parse errors name variable and key path",
			environ: []string{
				"GATEWAY_REDIS_DB=x",
				"GATEWAY_SESSION_SECURE=yes",
				"GATEWAY_REDIS_TLS_ENABLED=",
				"GATEWAY_POLICY_TIMEOUT=250",
				"GATEWAY_SESSION_MAX_AGE=2 weeks",
			},
			want: []string{
				`GATEWAY_REDIS_DB (redis.db): must be an integer, got "x"`,
				`GATEWAY_REDIS_TLS_ENABLED (redis.tls.enabled): must be a boolean (true or false), got ""`,
				`GATEWAY_SESSION_MAX_AGE (session.max_age): must be a duration such as "5s", "250ms" or "336h", got "2 weeks"`,
				`GATEWAY_SESSION_SECURE (session.secure): must be a boolean (true or false), got "yes"`,
				`GATEWAY_POLICY_TIMEOUT (policy.timeout): bare number "250" has no unit; write a duration with a unit, e.g. "5s", "250ms" or "336h"`,
			},
		},
		{
			name:    "good variables apply even when others fail",
			environ: []string{"GATEWAY_REDIS_DB=x", "GATEWAY_LISTEN=:9000"},
			want:    []string{`GATEWAY_REDIS_DB (redis.db): must be an integer, got "x"`},
			check: func(t *testing.T, c *Config) {
				if c.Listen != ":9000" {
					t.Errorf("listen = %q", c.Listen)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode("config.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = c.ApplyEnv(tt.environ)
			if tt.want == nil && err != nil {
				t.Fatalf("ApplyEnv: %v", err)
			}
			if tt.want != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error is %T, want *Error", err)
				}
				assertLines(t, err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	got := Default()
	want := &Config{
		Listen:           ":8080",
		Prefix:           "/_gateway",
		LoginRedirectURL: "/",
		Redis: Redis{
			Mode: "standalone", Addr: "127.0.0.1:6379", KeyPrefix: "gw:",
			DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		},
		Session:         Session{CookieName: "gateway_sessionid", MaxAge: 1209600 * time.Second, RefreshInterval: time.Minute, SameSite: "lax"},
		IdentityHeaders: IdentityHeaders{User: "X-Remote-User", Email: "X-Remote-Email", Groups: "X-Remote-Groups"},
		Policy:          Policy{Query: "data.gateway.authz.decision", Timeout: 250 * time.Millisecond},
		PasswordHashers: []PasswordHasher{
			{Algorithm: "pbkdf2_sha256", Iterations: 1500000},
			{Algorithm: "pbkdf2_sha1", Iterations: 1500000},
			{Algorithm: "argon2", TimeCost: 2, MemoryCost: 102400, Parallelism: 8},
			{Algorithm: "bcrypt_sha256", Rounds: 12},
			{Algorithm: "scrypt", WorkFactor: 16384, BlockSize: 8, Parallelism: 5},
		},
		PasswordValidators: []PasswordValidator{
			{Name: "UserAttributeSimilarityValidator", MaxSimilarity: 0.7, UserAttributes: []string{"username", "first_name", "last_name", "email"}},
			{Name: "MinimumLengthValidator", MinLength: 8},
			{Name: "CommonPasswordValidator"},
			{Name: "NumericPasswordValidator"},
		},
		PasswordHashConcurrency: max(1, runtime.NumCPU()/2),
		Log:                     Log{Level: "info", Format: "json", Access: ptr(true)},
		DecisionLog:             DecisionLog{SampleRate: ptr(1.0), Output: "stderr"},
		Throttle:                Throttle{Enabled: ptr(true), Window: 15 * time.Minute, UsernameLimit: 5, IPLimit: 50, Cooloff: 15 * time.Minute},
		Audit:                   Audit{Enabled: ptr(true), Stream: "audit", MaxLen: 100000},
		Authentication: Authentication{
			Backends:   []string{"session"},
			Basic:      BasicAuth{Realm: "gateway"},
			RemoteUser: RemoteUser{Header: "Remote-User"},
		},
		Tokens:            Tokens{Issuer: "djangate", Audience: "djangate", AccessTTL: 5 * time.Minute, RefreshTTL: 720 * time.Hour, Leeway: 30 * time.Second},
		UpstreamAssertion: UpstreamAssertion{Header: "X-Gateway-Assertion", TTL: time.Minute},
		Server: Server{ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 65536,
			MaxBodyBytes: 32 << 20, MaxConnections: 10000, ShutdownGrace: 15 * time.Second},
		Cache: Cache{Enabled: ptr(true), Decisions: 100000, Principals: 100000, TTL: 30 * time.Second, MaxStaleness: time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Default():\n got %+v\nwant %+v", got, want)
	}
	if !got.Session.SessionSecure() {
		t.Error("session cookie must default to Secure")
	}

	c := &Config{
		Listen:          "127.0.0.1:1",
		Upstreams:       []Upstream{{URL: "http://a"}, {Name: "named", Timeouts: UpstreamTimeouts{Dial: time.Second}}},
		Session:         Session{Secure: ptr(false), SameSite: "strict"},
		PasswordHashers: []PasswordHasher{{Iterations: 5000}, {Algorithm: "pbkdf2_sha256"}, {Algorithm: "argon2"}},
	}
	c.DecisionLog.SampleRate = ptr(0.0)
	c.ApplyDefaults()
	if *c.DecisionLog.SampleRate != 0 {
		t.Errorf("decision_log.sample_rate 0 overwritten with %v", *c.DecisionLog.SampleRate)
	}
	if c.Listen != "127.0.0.1:1" || c.Session.SameSite != "strict" || *c.Session.Secure {
		t.Errorf("explicit values overwritten: %+v", c)
	}
	wantUps := []Upstream{
		{Name: "upstream0", URL: "http://a", Timeouts: UpstreamTimeouts{Dial: 5 * time.Second, ResponseHeader: 30 * time.Second, Idle: 90 * time.Second}},
		{Name: "named", Timeouts: UpstreamTimeouts{Dial: time.Second, ResponseHeader: 30 * time.Second, Idle: 90 * time.Second}},
	}
	if !reflect.DeepEqual(c.Upstreams, wantUps) {
		t.Errorf("upstreams:\n got %+v\nwant %+v", c.Upstreams, wantUps)
	}
	wantHashers := []PasswordHasher{
		{Algorithm: "pbkdf2_sha256", Iterations: 5000},
		{Algorithm: "pbkdf2_sha256", Iterations: DefaultPBKDF2Iterations},
		{Algorithm: "argon2", TimeCost: 2, MemoryCost: 102400, Parallelism: 8},
	}
	if !reflect.DeepEqual(c.PasswordHashers, wantHashers) {
		t.Errorf("password_hashers = %+v, want %+v", c.PasswordHashers, wantHashers)
	}
}

func TestValidateValid(t *testing.T) {
	tests := map[string]func(c *Config){
		"minimal":           func(c *Config) {},
		"listen on IPv6":    func(c *Config) { c.Listen = "[::1]:8443" },
		"listen on a name":  func(c *Config) { c.Listen = "localhost:8080" },
		"absolute redirect": func(c *Config) { c.LoginRedirectURL = "https://app.example/home?x=1" },
		"path redirect":     func(c *Config) { c.LoginRedirectURL = "/dashboard/?tab=1" },
		"allowed hosts": func(c *Config) {
			c.AllowedHosts = []string{"example.com", ".example.org", "example.net:8443", "10.0.0.1", "[::1]", "[::1]:8080", "my_service"}
		},
		"routed upstreams": func(c *Config) {
			c.Upstreams = []Upstream{
				{Name: "api", URL: "https://api.internal:9443/base", Match: Match{PathPrefix: "/api"}},
				{Name: "apiary", URL: "http://10.0.0.2", Match: Match{PathPrefix: "/apiary"}},
				{Name: "admin", URL: "http://[::1]:8000", Match: Match{Host: "admin.example"}},
				{Name: "rest", URL: "http://127.0.0.1:8000"},
			}
			c.ApplyDefaults()
		},
		"same_site none with secure default": func(c *Config) { c.Session.SameSite = "none" },
		"insecure cookie for local testing":  func(c *Config) { c.Session.Secure = ptr(false) },
		"host cookie prefix":                 func(c *Config) { c.Session.CookieName = "__Host-sid" },
		"cookie domain":                      func(c *Config) { c.Session.Domain = ".example.com" },
		"redis mutual TLS": func(c *Config) {
			c.Redis.TLS = RedisTLS{Enabled: true, CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "redis.internal"}
		},
		"redis TLS without verification": func(c *Config) { c.Redis.TLS = RedisTLS{Enabled: true, InsecureSkipVerify: true} },
		"custom identity headers": func(c *Config) {
			c.IdentityHeaders = IdentityHeaders{User: "Remote-User", Email: "Remote-Email", Groups: "Remote-Groups"}
		},
		"minimum iterations":  func(c *Config) { c.PasswordHashers[0].Iterations = 1000 },
		"one minute sessions": func(c *Config) { c.Session.MaxAge = time.Minute },
		"one second sessions": func(c *Config) { c.Session.MaxAge = time.Second },
		"idle timeout": func(c *Config) {
			c.Session.IdleTimeout, c.Session.RefreshInterval, c.Session.ExpireAtBrowserClose = 30*time.Minute, 15*time.Minute, true
		},
		"short idle timeout":   func(c *Config) { c.Session.IdleTimeout, c.Session.RefreshInterval = time.Second, 500*time.Millisecond },
		"text debug logs":      func(c *Config) { c.Log = Log{Level: "debug", Format: "text"} },
		"policy bracket query": func(c *Config) { c.Policy.Query = `data.gateway["authz"].decision` },
		"policy bundle file":   func(c *Config) { c.Policy.Bundle = "/etc/gateway/bundle.tar.gz" },
		"policy bundle dir":    func(c *Config) { c.Policy.Bundle = "bundle/" },
		"decision log": func(c *Config) {
			c.DecisionLog = DecisionLog{Enabled: true, SampleRate: ptr(0.0), Mask: []string{"user", "path", "client_ip", "reason"}, Output: "stdout"}
		},
		"decision log sample rate 1": func(c *Config) { c.DecisionLog.SampleRate = ptr(1.0) },
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
}

func TestValidateProblems(t *testing.T) {
	const keyHint = `set GATEWAY_SECRET_KEY to a random value, e.g. the output of "openssl rand -base64 48"`
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"listen without port", func(c *Config) { c.Listen = "8080" },
			[]string{`listen: must be host:port, e.g. ":8080" or "127.0.0.1:8080"; got "8080"`}},
		{"listen port out of range", func(c *Config) { c.Listen = ":65536" },
			[]string{`listen: port must be a number from 1 to 65535, got ":65536"`}},
		{"listen port zero", func(c *Config) { c.Listen = ":0" },
			[]string{`listen: port must be a number from 1 to 65535, got ":0"`}},
		{"listen named port", func(c *Config) { c.Listen = ":http" },
			[]string{`listen: port must be a number from 1 to 65535, got ":http"`}},
		{"listen bad host", func(c *Config) { c.Listen = "bad host:80" },
			[]string{`listen: host must be a host name or IP address, got "bad host:80"`}},
		{"secret key missing", func(c *Config) { c.SecretKey = "" },
			[]string{`secret_key: required; ` + keyHint}},
		{"secret key short", func(c *Config) { c.SecretKey = "0123456789abcdefghijklmnopqrstu" },
			[]string{`secret_key: must be at least 32 characters, got 31; ` + keyHint}},
		{"secret key django-insecure", func(c *Config) { c.SecretKey = "django-insecure-" + testSecret },
			[]string{`secret_key: is a development key (it starts with "django-insecure-"); ` + keyHint}},
		{"prefix empty", func(c *Config) { c.Prefix = "" },
			[]string{`prefix: required, e.g. "/_gateway"`}},
		{"prefix root", func(c *Config) { c.Prefix = "/" },
			[]string{`prefix: must not be "/": the gateway's endpoints need their own path, e.g. "/_gateway"`}},
		{"prefix relative", func(c *Config) { c.Prefix = "_gateway" },
			[]string{`prefix: must start with "/", got "_gateway"`}},
		{"prefix trailing slash", func(c *Config) { c.Prefix = "/_gateway/" },
			[]string{`prefix: must not end with "/", got "/_gateway/"`}},
		{"prefix bad characters", func(c *Config) { c.Prefix = "/gate way" },
			[]string{`prefix: may contain only letters, digits and . _ ~ / -, got "/gate way"`}},
		{"prefix dot segment", func(c *Config) { c.Prefix = "/a/../b" },
			[]string{`prefix: must not contain empty, "." or ".." segments, got "/a/../b"`}},
		{"prefix double slash", func(c *Config) { c.Prefix = "//gw" },
			[]string{`prefix: must not contain empty, "." or ".." segments, got "//gw"`}},
		{"redirect scheme-relative", func(c *Config) { c.LoginRedirectURL = "//evil.example/" },
			[]string{`login_redirect_url: must not start with "//" (browsers read it as a URL on another host), got "//evil.example/"`}},
		{"redirect backslash", func(c *Config) { c.LoginRedirectURL = `/\evil.example` },
			[]string{`login_redirect_url: must not contain backslashes, got "/\\evil.example"`}},
		{"redirect relative", func(c *Config) { c.LoginRedirectURL = "home" },
			[]string{`login_redirect_url: must be a path starting with "/" or an absolute http or https URL, got "home"`}},
		{"redirect javascript", func(c *Config) { c.LoginRedirectURL = "javascript:alert(1)" },
			[]string{`login_redirect_url: scheme must be http or https, got "javascript"`}},
		{"redirect without host", func(c *Config) { c.LoginRedirectURL = "https:///x" },
			[]string{`login_redirect_url: must have a host, got "https:///x"`}},
		{"redirect with space", func(c *Config) { c.LoginRedirectURL = "/a b" },
			[]string{`login_redirect_url: must not contain spaces or control characters`}},
		{"allowed hosts", func(c *Config) {
			c.AllowedHosts = []string{"*", "https://a.example", "", "a.example:0", ".10.0.0.1", "::1", "a..example", "-a.example", "*.example.com"}
		}, []string{
			`allowed_hosts[0]: wildcards are not allowed: they would let login redirects go anywhere; list the hosts, or use ".example.com" for a domain and its subdomains; got "*"`,
			`allowed_hosts[1]: must be a host like "example.com", ".example.com" (with subdomains) or "example.com:8443", not a URL; got "https://a.example"`,
			`allowed_hosts[2]: must not be empty`,
			`allowed_hosts[3]: port must be a number from 1 to 65535, got "a.example:0"`,
			`allowed_hosts[4]: a leading "." (subdomains) needs a domain name, not an IP address; got ".10.0.0.1"`,
			`allowed_hosts[5]: IPv6 addresses must be in brackets, e.g. "[::1]"; got "::1"`,
			`allowed_hosts[6]: must be a host like "example.com", ".example.com" (with subdomains) or "example.com:8443", got "a..example"`,
			`allowed_hosts[7]: must be a host like "example.com", ".example.com" (with subdomains) or "example.com:8443", got "-a.example"`,
			`allowed_hosts[8]: wildcards are not allowed: they would let login redirects go anywhere; list the hosts, or use ".example.com" for a domain and its subdomains; got "*.example.com"`,
		}},
		{"no upstreams", func(c *Config) { c.Upstreams = nil },
			[]string{`upstreams: at least one upstream is required`}},
		{"upstream url problems", func(c *Config) {
			c.Upstreams = []Upstream{
				{Name: "a", URL: ""},
				{Name: "b", URL: "ftp://files.example"},
				{Name: "c", URL: "127.0.0.1:8000"},
				{Name: "d", URL: "http://user:hunter2@app.example"},
				{Name: "e", URL: "http://app.example/?debug=1#top"},
				{Name: "f", URL: "http:///path"},
				{Name: "g", URL: "http://app.example:99999"},
				{Name: "h", URL: "http://[::1"},
			}
			for i := range c.Upstreams {
				c.Upstreams[i].Match.PathPrefix = "/" + c.Upstreams[i].Name
			}
			c.ApplyDefaults()
		}, []string{
			`upstreams[0].url: required, e.g. "http://127.0.0.1:8000"`,
			`upstreams[1].url: scheme must be http or https, got "ftp"`,
			`upstreams[2].url: must be an absolute URL like "http://127.0.0.1:8000", got "127.0.0.1:8000"`,
			`upstreams[3].url: must not contain user info (user:password@); the gateway does not send credentials upstream`,
			`upstreams[4].url: must not have a query ("?...")`,
			`upstreams[4].url: must not have a fragment ("#...")`,
			`upstreams[5].url: must have a host, got "http:///path"`,
			`upstreams[6].url: port must be a number from 1 to 65535, got "99999"`,
			`upstreams[7].url: invalid URL: missing ']' in host`,
		}},
		{"upstream match, names and timeouts", func(c *Config) {
			c.Upstreams = []Upstream{
				{Name: "api", URL: "http://a", Match: Match{Host: "api.example:443", PathPrefix: "api"}},
				{Name: "api", URL: "http://b", Match: Match{Host: "*.example", PathPrefix: "/b"}},
				{Name: "c", URL: "http://c", Match: Match{PathPrefix: "/c"}, Timeouts: UpstreamTimeouts{Dial: -time.Second}},
			}
			c.ApplyDefaults()
		}, []string{
			`upstreams[0].match.host: must be a host name or IP address without port or scheme, e.g. "app.example.com", got "api.example:443"`,
			`upstreams[0].match.path_prefix: must start with "/", got "api"`,
			`upstreams[1].name: duplicate name "api" (also upstreams[0].name)`,
			`upstreams[1].match.host: must be a host name or IP address without port or scheme, e.g. "app.example.com", got "*.example"`,
			`upstreams[2].timeouts.dial: must be greater than 0, got -1s`,
		}},
		{"upstream timeouts unset", func(c *Config) { c.Upstreams[0].Timeouts = UpstreamTimeouts{} },
			[]string{
				`upstreams[0].timeouts.dial: must be greater than 0, got 0s`,
				`upstreams[0].timeouts.response_header: must be greater than 0, got 0s`,
				`upstreams[0].timeouts.idle: must be greater than 0, got 0s`,
			}},
		{"upstream shadowed", func(c *Config) {
			c.Upstreams = []Upstream{
				{Name: "all", URL: "http://a"},
				{Name: "api", URL: "http://b", Match: Match{PathPrefix: "/api"}},
			}
			c.ApplyDefaults()
		}, []string{
			`upstreams[1].match: never receives a request: upstreams[0] ("all") comes first and matches everything this one matches; put the more specific upstream first`,
		}},
		{"upstream shadowed by a shorter prefix", func(c *Config) {
			c.Upstreams = []Upstream{
				{Name: "api", URL: "http://a", Match: Match{PathPrefix: "/api"}},
				{Name: "v2", URL: "http://b", Match: Match{Host: "x.example", PathPrefix: "/api/v2"}},
			}
			c.ApplyDefaults()
		}, []string{
			`upstreams[1].match: never receives a request: upstreams[0] ("api") comes first and matches everything this one matches; put the more specific upstream first`,
		}},
		{"redis", func(c *Config) {
			c.Redis.Addr = "redis://localhost:6379"
			c.Redis.DB = -1
			c.Redis.KeyPrefix = ""
			c.Redis.DialTimeout = 0
			c.Redis.ReadTimeout = -time.Millisecond
			c.Redis.PoolSize = -1
		}, []string{
			`redis.addr: must be host:port, not a URL, e.g. "127.0.0.1:6379"; got "redis://localhost:6379"`,
			`redis.db: must be 0 or more, got -1`,
			`redis.key_prefix: required, e.g. "gw:"`,
			`redis.dial_timeout: must be greater than 0, got 0s`,
			`redis.read_timeout: must be greater than 0, got -1ms`,
			`redis.pool_size: must be 0 (go-redis's default) or more, got -1`,
		}},
		{"redis addr without host", func(c *Config) { c.Redis.Addr = ":6379" },
			[]string{`redis.addr: must be host:port with a host, e.g. "127.0.0.1:6379"; got ":6379"`}},
		{"redis addr without port", func(c *Config) { c.Redis.Addr = "localhost" },
			[]string{`redis.addr: must be host:port, e.g. "127.0.0.1:6379"; got "localhost"`}},
		{"redis TLS settings while disabled", func(c *Config) {
			c.Redis.TLS = RedisTLS{CAFile: "ca.pem", ServerName: "r", InsecureSkipVerify: true}
		}, []string{
			`redis.tls.ca_file: is set but redis.tls.enabled is false; enable TLS or remove it`,
			`redis.tls.server_name: is set but redis.tls.enabled is false; enable TLS or remove it`,
			`redis.tls.insecure_skip_verify: is only allowed when redis.tls.enabled is true`,
		}},
		{"redis TLS cert without key", func(c *Config) { c.Redis.TLS = RedisTLS{Enabled: true, CertFile: "c.pem"} },
			[]string{`redis.tls.key_file: required when redis.tls.cert_file is set`}},
		{"redis TLS key without cert", func(c *Config) { c.Redis.TLS = RedisTLS{Enabled: true, KeyFile: "k.pem"} },
			[]string{`redis.tls.cert_file: required when redis.tls.key_file is set`}},
		{"redis TLS bad server name", func(c *Config) { c.Redis.TLS = RedisTLS{Enabled: true, ServerName: "redis:6379"} },
			[]string{`redis.tls.server_name: must be a host name or IP address without port or scheme, e.g. "app.example.com", got "redis:6379"`}},
		{"session", func(c *Config) {
			c.Session.CookieName = "my session"
			c.Session.MaxAge = 999 * time.Millisecond
			c.Session.SameSite = "Lax"
			c.Session.Domain = "example.com:443"
		}, []string{
			"session.cookie_name: must be a cookie name of letters, digits and !#$%&'*+-.^_`|~, got \"my session\"",
			`session.max_age: must be at least 1s, got 999ms`,
			`session.same_site: must be one of "lax", "strict", "none", got "Lax"`,
			`session.domain: must be a domain name like "example.com" (no port, no scheme), got "example.com:443"`,
		}},
		{"session idle timeout too short", func(c *Config) { c.Session.IdleTimeout = 500 * time.Millisecond },
			[]string{`session.idle_timeout: must be 0 (no idle timeout) or at least 1s, got 500ms`}},
		{"session negative durations", func(c *Config) { c.Session.IdleTimeout, c.Session.RefreshInterval = -time.Second, -time.Second },
			[]string{
				`session.idle_timeout: must be 0 (no idle timeout) or at least 1s, got -1s`,
				`session.refresh_interval: must be positive, got -1s`,
			}},
		{"session refresh longer than half the idle timeout", func(c *Config) { c.Session.IdleTimeout = time.Minute },
			[]string{`session.refresh_interval: must be at most half of session.idle_timeout (30s), so that a session in use is never ended as idle; got 1m0s`}},
		{"same_site none requires secure", func(c *Config) {
			c.Session.SameSite = "none"
			c.Session.Secure = ptr(false)
		}, []string{
			`session.same_site: "none" requires session.secure to be true (browsers reject SameSite=None cookies that are not Secure)`,
		}},
		{"cookie prefixes", func(c *Config) {
			c.Session.CookieName = "__Host-sid"
			c.Session.Secure = ptr(false)
			c.Session.Domain = "example.com"
		}, []string{
			`session.cookie_name: a name starting with "__Host-" requires session.secure to be true`,
			`session.domain: must be empty when session.cookie_name starts with "__Host-"`,
		}},
		{"session empty cookie name", func(c *Config) { c.Session.CookieName = "" },
			[]string{`session.cookie_name: required, e.g. "gateway_sessionid"`}},
		{"identity headers reserved and bad", func(c *Config) {
			c.IdentityHeaders = IdentityHeaders{User: "authorization", Email: "X Email", Groups: "x-forwarded-for"}
		}, []string{
			`identity_headers.user: must not be Authorization: that header belongs to HTTP or the gateway`,
			"identity_headers.email: must be a header name of letters, digits and !#$%&'*+-.^_`|~, got \"X Email\"",
			`identity_headers.groups: must not be X-Forwarded-For: that header belongs to HTTP or the gateway`,
		}},
		{"identity headers duplicate case-insensitively", func(c *Config) {
			c.IdentityHeaders = IdentityHeaders{User: "X-Remote-User", Email: "x-remote-user", Groups: "X-REMOTE-USER"}
		}, []string{
			`identity_headers.email: same header as identity_headers.user (header names are case-insensitive)`,
			`identity_headers.groups: same header as identity_headers.user (header names are case-insensitive)`,
		}},
		{"identity headers empty", func(c *Config) { c.IdentityHeaders.Groups = "" },
			[]string{`identity_headers.groups: required`}},
		{"identity header X-Real-Ip", func(c *Config) { c.IdentityHeaders.User = "X-Real-IP" },
			[]string{`identity_headers.user: must not be X-Real-Ip: that header belongs to HTTP or the gateway`}},
		{"policy", func(c *Config) {
			c.Policy.Query = "gateway.authz.decision"
			c.Policy.Timeout = 0
		}, []string{
			`policy.query: must be a reference into data, starting with "data.", got "gateway.authz.decision"`,
			`policy.timeout: must be greater than 0, got 0s`,
		}},
		{"policy dir and bundle both set", func(c *Config) {
			c.Policy.Dir = "policies"
			c.Policy.Bundle = "bundle.tar.gz"
		}, []string{
			`policy.bundle: cannot be set together with policy.dir ("policies"); set only one of policy.dir and policy.bundle`,
		}},
		{"policy query bare data", func(c *Config) { c.Policy.Query = "data." },
			[]string{`policy.query: must be a reference into data, starting with "data.", got "data."`}},
		{"policy query with space", func(c *Config) { c.Policy.Query = "data.a b" },
			[]string{`policy.query: must not contain spaces or control characters, got "data.a b"`}},
		{"no password hashers", func(c *Config) { c.PasswordHashers = nil },
			[]string{`password_hashers: at least one hasher is required`}},
		{"password hashers", func(c *Config) {
			c.PasswordHashers = []PasswordHasher{
				{Algorithm: "pbkdf2_sha256", Iterations: 999},
				{Algorithm: "argon3"},
				{Algorithm: ""},
				{Algorithm: "pbkdf2_sha256", Iterations: 1000000},
			}
		}, []string{
			`password_hashers[0].iterations: must be from 1000 to 100000000, got 999; fewer make stolen hashes cheap to crack`,
			`password_hashers[1].algorithm: unsupported algorithm "argon3"; supported: pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt, scrypt, sha1, md5, unsalted_sha1, unsalted_md5`,
			`password_hashers[2].algorithm: required; supported: pbkdf2_sha256, pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt, scrypt, sha1, md5, unsalted_sha1, unsalted_md5`,
			`password_hashers[3].algorithm: duplicate of password_hashers[0]; list each algorithm once`,
		}},
		{"hasher parameters", func(c *Config) {
			c.PasswordHashers = []PasswordHasher{
				{Algorithm: "md5"},
				{Algorithm: "argon2", TimeCost: 2, MemoryCost: 8, Parallelism: 8, Rounds: 12},
				{Algorithm: "bcrypt", Rounds: 40},
				{Algorithm: "scrypt", WorkFactor: 1000, BlockSize: 8, Parallelism: 1},
				{Algorithm: "sha1", Iterations: 5},
				{Algorithm: "scrypt", WorkFactor: 1 << 22, BlockSize: 8, Parallelism: 1},
			}
		}, []string{
			`password_hashers[0].algorithm: md5 can only verify old hashes; list a hasher for new passwords first, e.g. pbkdf2_sha256`,
			`password_hashers[1].rounds: does not apply to argon2 (it takes time_cost, memory_cost, parallelism)`,
			`password_hashers[1].memory_cost: must be from 64 to 4194304, got 8 KiB (at least 8 per lane)`,
			`password_hashers[2].rounds: must be from 4 to 18, got 40 (bcrypt's log2 cost)`,
			`password_hashers[3].work_factor: must be a power of two greater than 1, got 1000`,
			`password_hashers[4].iterations: sha1 takes no parameters`,
			`password_hashers[5].algorithm: duplicate of password_hashers[3]; list each algorithm once`,
			`password_hashers[5].work_factor: 128·work_factor·block_size·parallelism is 4294967296 bytes, more than the 1073741824 allowed`,
		}},
		{"password validators", func(c *Config) {
			c.PasswordValidators = []PasswordValidator{
				{Name: "MinimumLengthValidator", MinLength: 0, MaxSimilarity: 0.5},
				{Name: "UserAttributeSimilarityValidator", MaxSimilarity: 0.05, UserAttributes: []string{"username", "phone"}},
				{Name: "CommonPasswordValidator", MinLength: 3},
				{Name: "EntropyValidator"},
			}
			c.PasswordHashConcurrency = -1
		}, []string{
			`password_validators[0].min_length: must be at least 1, got 0`,
			`password_validators[0].max_similarity: does not apply to MinimumLengthValidator`,
			`password_validators[1].max_similarity: must be from 0.1 to 1, got 0.05`,
			`password_validators[1].user_attributes[1]: unknown attribute "phone"; use username, first_name, last_name, email`,
			`password_validators[2].min_length: does not apply to CommonPasswordValidator`,
			`password_validators[3].name: unknown validator "EntropyValidator"; use UserAttributeSimilarityValidator, MinimumLengthValidator, CommonPasswordValidator or NumericPasswordValidator`,
			`password_hash_concurrency: must be 0 (half the CPUs) or more, got -1`,
		}},
		{"log", func(c *Config) { c.Log = Log{Level: "warning", Format: "JSON"} }, []string{
			`log.level: must be one of "debug", "info", "warn", "error", got "warning"`,
			`log.format: must be one of "json", "text", got "JSON"`,
		}},
		{"decision log sample rate negative", func(c *Config) { c.DecisionLog.SampleRate = ptr(-0.1) },
			[]string{`decision_log.sample_rate: must be a number from 0 to 1, got -0.1`}},
		{"decision log sample rate above 1", func(c *Config) { c.DecisionLog.SampleRate = ptr(1.5) },
			[]string{`decision_log.sample_rate: must be a number from 0 to 1, got 1.5`}},
		{"decision log sample rate unset", func(c *Config) { c.DecisionLog.SampleRate = nil },
			[]string{`decision_log.sample_rate: required, a number from 0 to 1`}},
		{"decision log mask unknown", func(c *Config) { c.DecisionLog.Mask = []string{"user", "password"} },
			[]string{`decision_log.mask[1]: must be one of "user", "path", "client_ip", "reason", got "password"`}},
		{"decision log mask duplicate", func(c *Config) { c.DecisionLog.Mask = []string{"path", "path"} },
			[]string{`decision_log.mask[1]: duplicate field "path" (also decision_log.mask[0])`}},
		{"decision log output", func(c *Config) { c.DecisionLog.Output = "file" },
			[]string{`decision_log.output: must be one of "stderr", "stdout", got "file"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T (%v), want *ValidationError", err, err)
			}
			assertLines(t, err, tt.want)
		})
	}
}

func TestValidateZeroConfigReportsEverything(t *testing.T) {
	err := (&Config{}).Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, want *ValidationError", err)
	}
	if len(ve.Problems) < 15 {
		t.Errorf("got %d problems, want every empty setting reported:\n%v", len(ve.Problems), err)
	}
	for _, p := range ve.Problems {
		if p.Path == "" || p.Message == "" {
			t.Errorf("problem without path or message: %+v", p)
		}
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	const secret = "hunter2hunter2"
	c := validConfig()
	c.SecretKey = secret
	c.Redis.Password = secret
	c.Upstreams[0].URL = "ftp://admin:" + secret + "@files.example"
	c.Upstreams = append(c.Upstreams, Upstream{Name: "x", URL: "admin:" + secret + "@files.example", Match: Match{PathPrefix: "/x"}})
	c.LoginRedirectURL = "https://admin:" + secret + "@app.example/"
	c.ApplyDefaults()
	err := c.Validate()
	if err == nil {
		t.Fatal("expected problems")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error reveals a secret:\n%v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadExampleConfig(t *testing.T) {
	c, err := Load("../../config.yaml", []string{"GATEWAY_SECRET_KEY=" + testSecret})
	if err != nil {
		t.Fatalf("Load(config.yaml):\n%v", err)
	}
	if len(c.Upstreams) != 1 || c.Upstreams[0].URL != "http://127.0.0.1:8000" {
		t.Errorf("upstreams = %+v", c.Upstreams)
	}
	if c.Redis.Addr != "127.0.0.1:6379" || c.Policy.Dir != "policies" {
		t.Errorf("redis.addr = %q, policy.dir = %q", c.Redis.Addr, c.Policy.Dir)
	}
	if c.SecretKey != testSecret {
		t.Error("secret key not taken from the environment")
	}
	// The example sets every key to its default except policy.dir and the
	// upstream, so it must equal Default() with those filled in.
	want := Default()
	want.SecretKey = testSecret
	want.AllowedHosts = []string{}
	want.DecisionLog.Mask = []string{}
	want.TrustedProxies = []string{}
	want.Authentication.RemoteUser.TrustedProxies = []string{}
	want.Authentication.Bearer.Issuers = []BearerIssuer{}
	want.Tokens.Keys = []SigningKey{}
	want.Server.Hosts = []string{}
	want.Redis.Addrs = []string{}
	want.Policy.Dir = "policies"
	want.Upstreams = []Upstream{{Name: "legacy", URL: "http://127.0.0.1:8000"}}
	want.ApplyDefaults()
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example config differs from the defaults it documents:\n got %+v\nwant %+v", c, want)
	}

	_, err = Load("../../config.yaml", nil)
	assertLines(t, err, []string{
		`../../config.yaml: secret_key: required; set GATEWAY_SECRET_KEY to a random value, e.g. the output of "openssl rand -base64 48"`,
	})
}

// policy.bundle from the environment over the example config, which sets
// policy.dir: both set is an error naming both keys; emptying policy.dir
// in the environment switches to the bundle.
func TestPolicyBundleOverExampleConfig(t *testing.T) {
	env := []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_POLICY_BUNDLE=/srv/policy.tar.gz"}
	_, err := Load("../../config.yaml", env)
	assertLines(t, err, []string{
		`GATEWAY_POLICY_BUNDLE (policy.bundle): cannot be set together with policy.dir ("policies"); set only one of policy.dir and policy.bundle`,
	})
	c, err := Load("../../config.yaml", append(env, "GATEWAY_POLICY_DIR="))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy.Bundle != "/srv/policy.tar.gz" || c.Policy.Dir != "" {
		t.Errorf("policy = %+v", c.Policy)
	}
}

func TestLoad(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		path := writeFile(t, "#"+strings.Repeat("x", MaxFileSize)+"\n")
		if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err = %v, want size error", err)
		}
	})
	t.Run("env only", func(t *testing.T) {
		c, err := Load("", []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_UPSTREAMS_0_URL=http://app:8000"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Upstreams[0].Name != "upstream0" || c.Upstreams[0].Timeouts.Dial != DefaultUpstreamDialTimeout {
			t.Errorf("defaults not applied to env upstream: %+v", c.Upstreams[0])
		}
	})
	t.Run("env only with problems has no file prefix", func(t *testing.T) {
		_, err := Load("", []string{"GATEWAY_SECRET_KEY=" + testSecret})
		assertLines(t, err, []string{`upstreams: at least one upstream is required`})
	})
	t.Run("password_hashers iterations from env", func(t *testing.T) {
		path := writeFile(t, "upstreams: [{url: http://a}]\n")
		c, err := Load(path, []string{"GATEWAY_SECRET_KEY=" + testSecret, "GATEWAY_PASSWORD_HASHERS_0_ITERATIONS=600000"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []PasswordHasher{{Algorithm: "pbkdf2_sha256", Iterations: 600000}}; !reflect.DeepEqual(c.PasswordHashers, want) {
			t.Errorf("password_hashers = %+v, want %+v", c.PasswordHashers, want)
		}
	})
	t.Run("all problems of all steps at once", func(t *testing.T) {
		path := writeFile(t, `listen: ":8080"
upstreams:
  - urll: http://a
  - url: ftp://b
    match: {path_prefix: /b}
redis:
  db: x
session:
  same_site: none
  secure: false
allowed_hosts: example.com
`)
		_, err := Load(path, []string{
			"GATEWAY_SECRET_KEY=" + testSecret,
			"GATEWAY_REDIS_ADDR=localhost",
			"GATEWAY_REDIS_DB=y",
			"GATEWAY_LOG_LEVL=debug",
		})
		assertLines(t, err, []string{
			path + `: upstreams[0].urll: unknown key (line 3)`,
			path + `: redis.db: must be an integer, got "x" (line 7)`,
			path + `: allowed_hosts: must be a list of strings, got "example.com" (line 11)`,
			`GATEWAY_LOG_LEVL: does not match any setting; did you mean GATEWAY_LOG_LEVEL?`,
			`GATEWAY_REDIS_DB (redis.db): must be an integer, got "y"`,
			path + `: upstreams[0].url: required, e.g. "http://127.0.0.1:8000"`,
			path + `: upstreams[1].url: scheme must be http or https, got "ftp"`,
			path + `: upstreams[1].match: never receives a request: upstreams[0] ("upstream0") comes first and matches everything this one matches; put the more specific upstream first`,
			`GATEWAY_REDIS_ADDR (redis.addr): must be host:port, e.g. "127.0.0.1:6379"; got "localhost"`,
			path + `: session.same_site: "none" requires session.secure to be true (browsers reject SameSite=None cookies that are not Secure)`,
		})
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error is %T, want *Error", err)
		}
		if p := e.Problems[0]; p.File != path || p.Line != 3 || p.Path != "upstreams[0].urll" || p.Message != "unknown key" {
			t.Errorf("first problem = %+v", p)
		}
	})
	t.Run("syntax error suppresses validation", func(t *testing.T) {
		path := writeFile(t, "listen: [\n")
		_, err := Load(path, []string{"GATEWAY_NOPE=1"})
		assertLines(t, err, []string{
			path + `: invalid YAML: did not find expected node content (line 1)`,
			`GATEWAY_NOPE: does not match any setting`,
		})
	})
}

// Every field of Config must be a kind the decoder and the environment
// understand, and carry a yaml tag.
func TestSchemaSupported(t *testing.T) {
	var walk func(t2 reflect.Type, path string)
	walk = func(t2 reflect.Type, path string) {
		for i := range t2.NumField() {
			sf := t2.Field(i)
			if _, ok := sf.Tag.Lookup("yaml"); !ok {
				t.Errorf("%s.%s has no yaml tag", path, sf.Name)
			}
		}
		for _, f := range fieldsOf(t2) {
			switch f.kind {
			case kindUnsupported:
				t.Errorf("%s: unsupported type %s", joinPath(path, f.name), f.typ)
			case kindStruct:
				walk(f.typ, joinPath(path, f.name))
			case kindStructs:
				walk(f.typ.Elem(), joinPath(path, f.name)+"[i]")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

// The reference must mention every key and its variable.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../README.md")
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatal("README.md not found")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range leafPaths() {
		if !strings.Contains(string(doc), "`"+p+"`") {
			t.Errorf("README.md does not list `%s`", p)
		}
		env := strings.ReplaceAll(EnvName(strings.ReplaceAll(p, "[i]", "[I]")), "_I_", "_<i>_")
		if !strings.Contains(string(doc), "`"+env+"`") {
			t.Errorf("README.md does not list `%s`", env)
		}
	}
}

func FuzzDecode(f *testing.F) {
	if example, err := os.ReadFile("../../config.yaml"); err == nil {
		f.Add(example)
	}
	for _, seed := range []string{
		"",
		"listen: :8080\n",
		"upstreams:\n  - url: http://a\n    match: {host: a, path_prefix: /}\n",
		"a: &a {dial: 1s}\nupstreams: [{timeouts: *a}, {timeouts: {<<: *a}}]\n",
		"redis:\n  <<: [*x]\n",
		"? [a]\n: b\n",
		"session: {secure: true, max_age: 5}\n",
		"- a\n- b\n",
		"allowed_hosts: [a, {b: c}, ~]\n",
		"password_hashers: [{iterations: 1_000}]\n---\n",
		"redis: {db: 0x10, pool_size: -1}\n",
		"listen: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode("fuzz.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T without problems: %v", err, err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
		c.ApplyDefaults()
		_ = c.Validate()
	})
}

func TestLoadOptional(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("upstreams:\n  - url: http://127.0.0.1:9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "secret_key: required") {
		t.Fatalf("Load without a secret: err = %v, want secret_key required", err)
	}
	c, err := LoadOptional(path, nil, "secret_key")
	if err != nil {
		t.Fatalf("LoadOptional(secret_key): %v", err)
	}
	if c.SecretKey != "" {
		t.Fatalf("LoadOptional invented a secret: %q", c.SecretKey)
	}
	// Other problems are still reported, and so is a secret of the wrong type.
	if err := os.WriteFile(path, []byte("secret_key: [1]\nupstreams:\n  - url: ftp://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadOptional(path, nil, "secret_key")
	if err == nil || !strings.Contains(err.Error(), "upstreams[0].url") || !strings.Contains(err.Error(), "secret_key") {
		t.Fatalf("LoadOptional: err = %v, want the url and the mistyped secret_key reported", err)
	}
}
