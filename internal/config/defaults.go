package config

import (
	"strconv"
	"time"
)

// Defaults. ApplyDefaults is the only place they are applied.
const (
	DefaultListen           = ":8080"
	DefaultPrefix           = "/_gateway"
	DefaultLoginRedirectURL = "/"

	DefaultRedisAddr         = "127.0.0.1:6379"
	DefaultRedisKeyPrefix    = "gw:"
	DefaultRedisDialTimeout  = 2 * time.Second
	DefaultRedisReadTimeout  = 1 * time.Second
	DefaultRedisWriteTimeout = 1 * time.Second

	DefaultSessionCookieName = "gateway_sessionid"
	// DefaultSessionMaxAge is Django's SESSION_COOKIE_AGE: two weeks.
	DefaultSessionMaxAge   = 1209600 * time.Second
	DefaultSessionSameSite = "lax"
	// DefaultSessionIdleTimeout is 0: no idle timeout, as in Django.
	DefaultSessionIdleTimeout     = 0
	DefaultSessionRefreshInterval = time.Minute

	DefaultIdentityHeaderUser   = "X-Remote-User"
	DefaultIdentityHeaderEmail  = "X-Remote-Email"
	DefaultIdentityHeaderGroups = "X-Remote-Groups"

	// DefaultPolicyDir is empty: use the policies embedded in the binary.
	// DefaultPolicyBundle is empty: no bundle.
	DefaultPolicyDir     = ""
	DefaultPolicyBundle  = ""
	DefaultPolicyQuery   = "data.gateway.authz.decision"
	DefaultPolicyTimeout = 250 * time.Millisecond

	DefaultLogLevel  = "info"
	DefaultLogFormat = "json"

	DefaultDecisionLogSampleRate = 1.0
	DefaultDecisionLogOutput     = "stderr"

	DefaultThrottleWindow        = 15 * time.Minute
	DefaultThrottleUsernameLimit = 5
	DefaultThrottleIPLimit       = 50
	DefaultThrottleCooloff       = 15 * time.Minute

	// DefaultAuditStream is the audit stream's name; its key is
	// redis.key_prefix + this, "gw:audit" by default.
	DefaultAuditStream = "audit"
	DefaultAuditMaxLen = 100000

	DefaultUpstreamDialTimeout           = 5 * time.Second
	DefaultUpstreamResponseHeaderTimeout = 30 * time.Second
	DefaultUpstreamIdleTimeout           = 90 * time.Second
)

// Default returns an empty configuration with defaults applied. It has no
// secret key and no upstreams, so it does not validate until the caller
// (the demo mode) fills those in.
func Default() *Config {
	c := &Config{}
	c.ApplyDefaults()
	return c
}

// ApplyDefaults fills every unset setting with its default. A setting is
// unset when it has its zero value: an empty string, a zero number or
// duration, an empty list, or a nil *bool. (So "iterations: 0" or
// "timeout: 0s" also mean the default.) session.secure stays nil: nil
// means true, see Session.SessionSecure; throttle.enabled and
// audit.enabled are set to true when nil. decision_log.sample_rate is a
// *float64 so that 0 can be set; nil becomes 1. An empty password_hashers
// becomes Django's PASSWORD_HASHERS and AUTH_PASSWORD_VALIDATORS defaults (see
// applyPasswordDefaults).
// Upstreams without a name are named "upstream<i>" after their index.
func (c *Config) ApplyDefaults() {
	setString(&c.Listen, DefaultListen)
	setString(&c.Prefix, DefaultPrefix)
	setString(&c.LoginRedirectURL, DefaultLoginRedirectURL)

	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		setString(&u.Name, "upstream"+strconv.Itoa(i))
		setDuration(&u.Timeouts.Dial, DefaultUpstreamDialTimeout)
		setDuration(&u.Timeouts.ResponseHeader, DefaultUpstreamResponseHeaderTimeout)
		setDuration(&u.Timeouts.Idle, DefaultUpstreamIdleTimeout)
	}

	setString(&c.Redis.Mode, DefaultRedisMode)
	setString(&c.Redis.Addr, DefaultRedisAddr)
	setString(&c.Redis.KeyPrefix, DefaultRedisKeyPrefix)
	setDuration(&c.Redis.DialTimeout, DefaultRedisDialTimeout)
	setDuration(&c.Redis.ReadTimeout, DefaultRedisReadTimeout)
	setDuration(&c.Redis.WriteTimeout, DefaultRedisWriteTimeout)

	setString(&c.Session.CookieName, DefaultSessionCookieName)
	setDuration(&c.Session.MaxAge, DefaultSessionMaxAge)
	setDuration(&c.Session.IdleTimeout, DefaultSessionIdleTimeout)
	setDuration(&c.Session.RefreshInterval, DefaultSessionRefreshInterval)
	setString(&c.Session.SameSite, DefaultSessionSameSite)

	setString(&c.IdentityHeaders.User, DefaultIdentityHeaderUser)
	setString(&c.IdentityHeaders.Email, DefaultIdentityHeaderEmail)
	setString(&c.IdentityHeaders.Groups, DefaultIdentityHeaderGroups)

	setString(&c.Policy.Dir, DefaultPolicyDir)
	setString(&c.Policy.Bundle, DefaultPolicyBundle)
	setString(&c.Policy.Query, DefaultPolicyQuery)
	setDuration(&c.Policy.Timeout, DefaultPolicyTimeout)

	c.applyPasswordDefaults()

	setString(&c.Log.Level, DefaultLogLevel)
	setString(&c.Log.Format, DefaultLogFormat)

	if c.DecisionLog.SampleRate == nil {
		r := DefaultDecisionLogSampleRate
		c.DecisionLog.SampleRate = &r
	}
	setString(&c.DecisionLog.Output, DefaultDecisionLogOutput)

	setBool(&c.Throttle.Enabled, true)
	setDuration(&c.Throttle.Window, DefaultThrottleWindow)
	setInt(&c.Throttle.UsernameLimit, DefaultThrottleUsernameLimit)
	setInt(&c.Throttle.IPLimit, DefaultThrottleIPLimit)
	setDuration(&c.Throttle.Cooloff, DefaultThrottleCooloff)

	setBool(&c.Audit.Enabled, true)
	setString(&c.Audit.Stream, DefaultAuditStream)
	setInt(&c.Audit.MaxLen, DefaultAuditMaxLen)

	c.applyAuthDefaults()
	c.applyServerDefaults()
	c.applyCacheDefaults()
}

func setBool(p **bool, def bool) {
	if *p == nil {
		*p = &def
	}
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setDuration(p *time.Duration, def time.Duration) {
	if *p == 0 {
		*p = def
	}
}
