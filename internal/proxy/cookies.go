package proxy

import (
	"net/http"
	"strings"
)

// stripCookies removes the gateway's cookies from h's Cookie headers.
//
// Pairs are split on every ";" with no regard for quotes: that is what
// Go, Django and most frameworks do, so a value like `a="x; sessionid=y"`
// is treated as containing a sessionid pair (and that pair is removed)
// rather than smuggled through. A pair's name is the text before its
// first "=" (the whole pair when there is none, as Go reads it), trimmed
// of the whitespace Python's str.strip removes from latin-1 text, and is
// compared case-insensitively. Kept pairs are copied verbatim, in order;
// empty pairs are dropped; several Cookie headers are joined into one
// with "; " (RFC 9113 section 8.2.3).
func (p *Proxy) stripCookies(h http.Header) {
	vals := h["Cookie"]
	if len(vals) == 0 {
		return
	}
	if len(vals) == 1 && !p.hasGatewayCookie(vals[0]) {
		return // common case: nothing to do, no allocation
	}
	var b strings.Builder
	for _, v := range vals {
		b.Grow(len(v))
		for pair := range strings.SplitSeq(v, ";") {
			pair = trimCookieSpace(pair)
			if pair == "" || p.isGatewayCookie(pair) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(pair)
		}
	}
	if b.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{b.String()}
}

func (p *Proxy) hasGatewayCookie(v string) bool {
	for pair := range strings.SplitSeq(v, ";") {
		if p.isGatewayCookie(pair) {
			return true
		}
	}
	return false
}

func (p *Proxy) isGatewayCookie(pair string) bool {
	name, _, _ := strings.Cut(pair, "=")
	name = trimCookieSpace(name)
	for _, s := range p.stripCookie {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// isCookieSpace covers ASCII whitespace plus the latin-1 bytes Python
// treats as whitespace (WSGI decodes headers as latin-1), so an upstream
// that strips more than Go cannot see a name the gateway did not match.
func isCookieSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}

func trimCookieSpace(s string) string {
	for len(s) > 0 && isCookieSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isCookieSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// dropGatewaySetCookies removes Set-Cookie headers with which an upstream
// would set or overwrite one of the gateway's cookies: an app behind the
// gateway must not be able to plant a session id (fixation) or a CSRF
// token in the browser.
func (p *Proxy) dropGatewaySetCookies(h http.Header) {
	vals := h["Set-Cookie"]
	kept := vals[:0]
	for _, v := range vals {
		if !p.isGatewayCookie(v) {
			kept = append(kept, v)
		}
	}
	switch {
	case len(kept) == len(vals):
	case len(kept) == 0:
		delete(h, "Set-Cookie")
	default:
		h["Set-Cookie"] = kept
	}
}
