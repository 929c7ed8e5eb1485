package config

import (
	"net/netip"
	"strings"
	"time"
	"unicode"
)

// Bounds of the throttle and audit settings.
const (
	// MaxThrottleLimit bounds throttle.username_limit and throttle.ip_limit.
	MaxThrottleLimit = 1000000
	// MaxAuditStreamLength bounds the length of audit.stream.
	MaxAuditStreamLength = 200
)

func (v *validator) trustedProxies(list []string) {
	for i, s := range list {
		if msg := checkTrustedProxy(s); msg != "" {
			v.add(indexPath("trusted_proxies", i), "%s", msg)
		}
	}
}

// checkTrustedProxy checks a trusted_proxies entry: an IP address or a
// CIDR prefix without host bits, and not one that trusts everybody.
func checkTrustedProxy(s string) string {
	const want = `must be an IP address or a CIDR prefix like "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32"`
	if s == "" {
		return "must not be empty; " + want
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			return want + ", got " + quoteValue(s)
		case a.Zone() != "":
			return "must not have a zone (%...), got " + quoteValue(s)
		}
		return ""
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return want + ", got " + quoteValue(s)
	case p.Bits() == 0:
		return "trusts every address, so any client could choose its own address with X-Forwarded-For; list your proxies' addresses, got " + quoteValue(s)
	case p.Masked() != p:
		return "has bits set beyond the prefix length; did you mean " + quoteValue(p.Masked().String()) + "? got " + quoteValue(s)
	}
	return ""
}

func (v *validator) throttle(t *Throttle) {
	v.positive("throttle.window", t.Window)
	v.positive("throttle.cooloff", t.Cooloff)
	for _, l := range []struct {
		key string
		n   int
	}{{"throttle.username_limit", t.UsernameLimit}, {"throttle.ip_limit", t.IPLimit}} {
		if l.n < 1 || l.n > MaxThrottleLimit {
			v.add(l.key, "must be a number of failed logins from 1 to %d, got %d", MaxThrottleLimit, l.n)
		}
	}
	// Redis keeps times in milliseconds.
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"throttle.window", t.Window}, {"throttle.cooloff", t.Cooloff}} {
		if d.d > 0 && d.d < time.Millisecond {
			v.add(d.key, "must be at least 1ms, got %s", d.d)
		}
	}
}

func (v *validator) audit(a *Audit) {
	switch {
	case a.Stream == "":
		v.add("audit.stream", "required, e.g. %q", DefaultAuditStream)
	case len(a.Stream) > MaxAuditStreamLength:
		v.add("audit.stream", "must be at most %d bytes, got %d", MaxAuditStreamLength, len(a.Stream))
	case strings.IndexFunc(a.Stream, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.add("audit.stream", "must not contain spaces or control characters, got %s", quoteValue(a.Stream))
	}
	if a.MaxLen < 1 {
		v.add("audit.max_len", "must be 1 or more, got %d", a.MaxLen)
	}
}
