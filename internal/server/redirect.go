package server

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// safeRedirect reports whether target may be used as a post-login redirect:
// Django's url_has_allowed_host_and_scheme, ported rule for rule, plus one
// stricter rule (no control or whitespace characters anywhere, so the
// Location header cannot be bent by them).
func safeRedirect(target string, allowedHosts []string, requireHTTPS bool) bool {
	target = strings.TrimSpace(target)
	if target == "" {
		return false
	}
	for _, r := range target {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	// Chrome treats \ as / in paths, but \ may also be part of userinfo,
	// so both readings must be safe.
	return urlAllowed(target, allowedHosts, requireHTTPS) &&
		urlAllowed(strings.ReplaceAll(target, `\`, "/"), allowedHosts, requireHTTPS)
}

func urlAllowed(u string, allowedHosts []string, requireHTTPS bool) bool {
	// Chrome considers any URL with more than two slashes to be absolute.
	if strings.HasPrefix(u, "///") {
		return false
	}
	scheme, netloc, ok := splitSchemeNetloc(u)
	if !ok {
		return false
	}
	// Forbid URLs like http:///example.com: a scheme without a host. Also,
	// stricter than Django, "//" with an empty authority.
	if netloc == "" && (scheme != "" || strings.HasPrefix(u, "//")) {
		return false
	}
	// Scheme-relative URLs (//example.com/p) count as http.
	if scheme == "" && netloc != "" {
		scheme = "http"
	}
	if netloc != "" && !hostAllowed(netloc, allowedHosts) {
		return false
	}
	switch scheme {
	case "":
		return true
	case "https":
		return true
	case "http":
		return !requireHTTPS
	default:
		return false
	}
}

// hostAllowed reports whether a URL authority names an allowed host. An
// entry matches the authority exactly (case-insensitively), or, when it
// starts with ".", the domain and its subdomains on the default port. An
// authority with userinfo ("a@b") only ever matches exactly, as in Django.
func hostAllowed(netloc string, allowed []string) bool {
	for _, h := range allowed {
		if strings.EqualFold(netloc, h) {
			return true
		}
		if !strings.HasPrefix(h, ".") || strings.ContainsAny(netloc, "@:[]\\") {
			continue
		}
		n := strings.ToLower(netloc)
		if d := strings.ToLower(h); n == d[1:] || strings.HasSuffix(n, d) {
			return true
		}
	}
	return false
}

// splitSchemeNetloc follows Python's urllib.parse.urlsplit as Django uses it:
// a scheme is letters, digits, "+-." before the first ":" starting with a
// letter; the netloc follows "//" up to the first of "/?#". ok is false
// where Python raises ValueError (unbalanced IPv6 brackets).
func splitSchemeNetloc(u string) (scheme, netloc string, ok bool) {
	rest := u
	if i := strings.IndexByte(u, ':'); i > 0 && isASCIILetter(u[0]) {
		valid := true
		for j := 0; j < i; j++ {
			if !isSchemeChar(u[j]) {
				valid = false
				break
			}
		}
		if valid {
			scheme, rest = strings.ToLower(u[:i]), u[i+1:]
		}
	}
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		netloc = rest[:end]
		if strings.Contains(netloc, "[") != strings.Contains(netloc, "]") {
			return "", "", false
		}
	}
	return scheme, netloc, true
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isSchemeChar(c byte) bool {
	return isASCIILetter(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// locationHeader returns target with every byte outside printable ASCII
// percent-encoded, so a Location header means exactly what was validated.
func locationHeader(target string) string {
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c <= 0x20 || c >= 0x7f {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
