// Package canonical computes the one canonical form of a request path.
//
// The gateway evaluates its policy on a path and then forwards the request
// to an upstream. If the two disagreed about what the path is (dot
// segments, percent-escapes, duplicate slashes, matrix parameters, ...),
// a request could be authorised as one resource and served as another.
// Path removes that gap: its output is what the policy sees and, byte for
// byte, what the upstream receives.
//
// Rules applied by [Path], in order:
//
//   - The input is the raw request-target (r.RequestURI). Origin-form
//     ("/a?x") is used as is; absolute-form ("http://host/a?x", http or
//     https) has its scheme and authority removed (an empty path becomes
//     "/"). Asterisk-form ("*") and authority-form ("host:443") are
//     rejected.
//   - A "#" anywhere is rejected: fragments never appear on the wire.
//   - Everything from the first "?" is dropped (the query is not part of
//     the path).
//   - The path must start with "/".
//   - Percent-escapes must be "%" followed by two hex digits.
//   - Escapes of unreserved characters (ALPHA DIGIT "-" "." "_" "~") are
//     decoded; every other escape is kept, with upper-case hex.
//   - Rejected outright, because upstream frameworks disagree on their
//     meaning: encoded "/" (%2F), encoded "\" (%5C), raw "\", %00, any
//     raw or encoded control character (0x00-0x1F, 0x7F), raw space, and
//     ";" raw or encoded (%3B, matrix parameters).
//   - Raw bytes >= 0x80 are accepted only if the raw path is valid UTF-8;
//     they are then percent-encoded. The fully decoded path must be valid
//     UTF-8 too (so "%FF" is rejected).
//   - Any other raw character that is not an RFC 3986 pchar or "/" (for
//     example `"` `<` `>` `[` `]` `^` "`" `{` `|` `}`) is percent-encoded
//     with upper-case hex. This rule, rather than rejection, is chosen
//     because browsers send some of these raw; since the escape is kept
//     as is, "/a%22" and `/a"` canonicalise to the same "/a%22".
//   - Repeated slashes are merged, then "." and ".." segments are removed
//     (after decoding, so "%2e%2E" is ".."), as in RFC 3986 section 5.2.4.
//     A ".." that would climb above the root is rejected rather than
//     clamped: no legitimate client sends one.
//   - A trailing slash is kept ("/a/" stays "/a/"), and a final "." or
//     ".." segment leaves one ("/a/." is "/a/", "/a/.." is "/").
//   - Case is preserved: paths are case-sensitive.
//
// Consequently a canonical path is idempotent under Path, starts with
// "/", and contains no "//", "/./", "/../", control bytes, raw non-ASCII
// bytes, or %2F/%5C/%00 escapes.
package canonical

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error Path returns. The wrapping error
// says what was wrong but never repeats the path itself, so it is safe to
// log and to show to clients.
var ErrInvalid = errors.New("invalid request path")

// pathError is a fixed reason; all values are package-level so Path does
// not allocate on rejection.
type pathError struct{ detail string }

func (e *pathError) Error() string { return ErrInvalid.Error() + ": " + e.detail }
func (e *pathError) Unwrap() error { return ErrInvalid }

var (
	errEmpty          = &pathError{"empty request target"}
	errAsterisk       = &pathError{"asterisk-form (*) is not a path"}
	errAuthorityForm  = &pathError{"authority-form is not a path"}
	errScheme         = &pathError{"absolute-form with unsupported scheme"}
	errNoAuthority    = &pathError{"absolute-form without authority"}
	errFragment       = &pathError{"fragment (#) is not allowed"}
	errNoSlash        = &pathError{`path must start with "/"`}
	errBadEscape      = &pathError{"malformed percent-escape"}
	errEncSlash       = &pathError{"encoded slash (%2F) is ambiguous"}
	errEncBackslash   = &pathError{"encoded backslash (%5C) is ambiguous"}
	errEncNUL         = &pathError{"encoded NUL (%00) is not allowed"}
	errEncControl     = &pathError{"encoded control character is not allowed"}
	errEncSemicolon   = &pathError{"encoded semicolon (%3B) is ambiguous"}
	errRawControl     = &pathError{"control character is not allowed"}
	errRawBackslash   = &pathError{`backslash ("\") is ambiguous`}
	errRawSpace       = &pathError{"space is not allowed"}
	errRawSemicolon   = &pathError{`semicolon (";", matrix parameter) is ambiguous`}
	errRawUTF8        = &pathError{"raw bytes are not valid UTF-8"}
	errDecodedUTF8    = &pathError{"decoded path is not valid UTF-8"}
	errAboveRoot      = &pathError{`".." climbs above the root`}
	errOutputTooLarge = &pathError{"path too long"}
)

// maxLen bounds the canonical output. Percent-encoding can triple the
// input; Go's server already limits the request line (MaxHeaderBytes), so
// this only guards direct callers.
const maxLen = 1 << 20

// Byte classes. A table keeps the hot loop to one lookup per byte.
const (
	clsLiteral   uint8 = iota // pchar kept raw: unreserved, sub-delims (not ";"), ":", "@"
	clsEncode                 // printable ASCII outside pchar: percent-encode
	clsHigh                   // >= 0x80: percent-encode (UTF-8 checked separately)
	clsControl                // 0x00-0x1F, 0x7F
	clsBackslash              // "\"
	clsSpace                  // " "
	clsSemicolon              // ";"
	clsPercent                // "%"
	clsSlash                  // "/"
)

// class is each byte's class; unreserved reports RFC 3986 unreserved
// characters, whose escapes are decoded. Both are constant tables.
var class, unreserved = byteTables()

func byteTables() (class [256]uint8, unreserved [256]bool) {
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20 || c == 0x7f:
			class[c] = clsControl
		case c >= 0x80:
			class[c] = clsHigh
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			class[c] = clsLiteral
			unreserved[c] = true
		default:
			switch c {
			case '-', '.', '_', '~':
				class[c] = clsLiteral
				unreserved[c] = true
			case '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
				class[c] = clsLiteral
			case '\\':
				class[c] = clsBackslash
			case ' ':
				class[c] = clsSpace
			case ';':
				class[c] = clsSemicolon
			case '%':
				class[c] = clsPercent
			case '/':
				class[c] = clsSlash
			default:
				class[c] = clsEncode
			}
		}
	}
	return class, unreserved
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Path returns the canonical form of the path of a raw request-target, or
// an error wrapping [ErrInvalid]. See the package documentation for the
// rules. An input that is already canonical is returned without
// allocating.
func Path(target string) (string, error) {
	p, err := extractPath(target)
	if err != nil {
		return "", err
	}
	return canonicalize(p)
}

// extractPath strips scheme, authority and query from a request-target.
func extractPath(target string) (string, error) {
	if target == "" {
		return "", errEmpty
	}
	if strings.IndexByte(target, '#') >= 0 {
		return "", errFragment
	}
	if target[0] != '/' {
		if target == "*" {
			return "", errAsterisk
		}
		rest, err := cutScheme(target)
		if err != nil {
			return "", err
		}
		end := strings.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			return "", errNoAuthority
		}
		rest = rest[end:]
		if rest == "" || rest[0] == '?' {
			return "/", nil
		}
		target = rest
	}
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	return target, nil
}

// cutScheme removes a leading "http://" or "https://" (any case).
func cutScheme(s string) (string, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !validScheme(scheme) {
		// Without "scheme://" it is authority-form (CONNECT) or
		// garbage; neither has a path.
		return "", errAuthorityForm
	}
	if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return "", errScheme
	}
	return rest, nil
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// canonicalize applies the path rules to p (no query, no fragment).
func canonicalize(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", errNoSlash
	}
	// Raw non-ASCII must be valid UTF-8 on its own; checked once up front
	// so the loop only needs to validate the decoded stream.
	for i := 0; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			if !utf8.ValidString(p) {
				return "", errRawUTF8
			}
			break
		}
	}

	var stack [256]byte
	out := stack[:0]
	var dec utf8Validator
	trailing := false

	i := 1 // p[0] == '/'
	for {
		// One segment: p[i:j] up to the next '/' or the end.
		segStart := len(out)
		out = append(out, '/')
		last := false
	scan:
		for {
			if i >= len(p) {
				last = true
				break
			}
			c := p[i]
			switch class[c] {
			case clsSlash:
				break scan
			case clsLiteral:
				out = append(out, c)
				dec.ascii()
				i++
			case clsEncode:
				out = append(out, '%', upperHex[c>>4], upperHex[c&15])
				dec.ascii()
				i++
			case clsHigh:
				out = append(out, '%', upperHex[c>>4], upperHex[c&15])
				if !dec.feed(c) {
					return "", errDecodedUTF8
				}
				i++
			case clsPercent:
				if i+2 >= len(p) {
					return "", errBadEscape
				}
				h, ok1 := unhex(p[i+1])
				l, ok2 := unhex(p[i+2])
				if !ok1 || !ok2 {
					return "", errBadEscape
				}
				b := h<<4 | l
				switch {
				case unreserved[b]:
					out = append(out, b)
				case b == '/':
					return "", errEncSlash
				case b == '\\':
					return "", errEncBackslash
				case b == 0:
					return "", errEncNUL
				case b < 0x20 || b == 0x7f:
					return "", errEncControl
				case b == ';':
					return "", errEncSemicolon
				default:
					out = append(out, '%', upperHex[b>>4], upperHex[b&15])
				}
				if !dec.feed(b) {
					return "", errDecodedUTF8
				}
				i += 3
			case clsControl:
				return "", errRawControl
			case clsBackslash:
				return "", errRawBackslash
			case clsSpace:
				return "", errRawSpace
			case clsSemicolon:
				return "", errRawSemicolon
			}
		}
		// A multi-byte sequence cannot span a '/'.
		if !dec.complete() {
			return "", errDecodedUTF8
		}
		seg := out[segStart+1:]
		switch {
		case len(seg) == 0, len(seg) == 1 && seg[0] == '.':
			// Empty (merged slash) or "." segment: drop it.
			out = out[:segStart]
			trailing = last
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			out = out[:segStart]
			if len(out) == 0 {
				return "", errAboveRoot
			}
			// Canonical output never contains an encoded '/', so the
			// previous segment starts at the last '/'.
			for len(out) > 0 && out[len(out)-1] != '/' {
				out = out[:len(out)-1]
			}
			out = out[:len(out)-1]
			trailing = last
		default:
			trailing = false
		}
		if len(out) > maxLen {
			return "", errOutputTooLarge
		}
		if last {
			break
		}
		i++ // skip '/'
	}
	if len(out) == 0 || trailing {
		out = append(out, '/')
	}
	if string(out) == p {
		return p, nil // no allocation for already-canonical input
	}
	return string(out), nil
}

// utf8Validator checks a byte stream incrementally, so the decoded path is
// validated without materialising it.
type utf8Validator struct {
	need   int  // continuation bytes still expected
	lo, hi byte // allowed range of the next continuation byte
}

func (v *utf8Validator) ascii() {
	// Only called for ASCII bytes; an ASCII byte inside a multi-byte
	// sequence is invalid, which complete() or the next feed reports.
	if v.need > 0 {
		v.need = -1
	}
}

func (v *utf8Validator) complete() bool { return v.need == 0 }

// feed reports whether b may follow the bytes fed so far.
func (v *utf8Validator) feed(b byte) bool {
	if v.need < 0 {
		return false
	}
	if v.need > 0 {
		if b < v.lo || b > v.hi {
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xBF
		return true
	}
	switch {
	case b < 0x80:
		return true
	case 0xC2 <= b && b <= 0xDF:
		v.need, v.lo, v.hi = 1, 0x80, 0xBF
	case b == 0xE0:
		v.need, v.lo, v.hi = 2, 0xA0, 0xBF
	case 0xE1 <= b && b <= 0xEC, b == 0xEE, b == 0xEF:
		v.need, v.lo, v.hi = 2, 0x80, 0xBF
	case b == 0xED: // excludes UTF-16 surrogates
		v.need, v.lo, v.hi = 2, 0x80, 0x9F
	case b == 0xF0:
		v.need, v.lo, v.hi = 3, 0x90, 0xBF
	case 0xF1 <= b && b <= 0xF3:
		v.need, v.lo, v.hi = 3, 0x80, 0xBF
	case b == 0xF4:
		v.need, v.lo, v.hi = 3, 0x80, 0x8F
	default:
		return false
	}
	return true
}

// Segments splits a canonical path into percent-decoded segments. The
// leading empty element is dropped; a trailing slash yields a trailing ""
// (so "/" is [""], "/a/b" is ["a" "b"], "/a/" is ["a" ""]). Decoded
// segments never contain "/" because canonical paths reject %2F. A
// malformed escape (impossible in Path's output) is left as is.
func Segments(canonical string) []string {
	s := strings.TrimPrefix(canonical, "/")
	parts := strings.Split(s, "/")
	for i, seg := range parts {
		if strings.IndexByte(seg, '%') >= 0 {
			parts[i] = unescape(seg)
		}
	}
	return parts
}

func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(h<<4 | l)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
