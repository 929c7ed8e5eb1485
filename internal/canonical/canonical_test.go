package canonical

import (
	"errors"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"
)

// reject marks a case that must fail; detail is a substring of the error.
type pathCase struct {
	name   string
	in     string
	want   string // canonical output; empty when the input is rejected
	detail string // expected error detail substring when rejected
}

var pathCases = []pathCase{
	// Plain and already-canonical paths.
	{name: "root", in: "/", want: "/"},
	{name: "simple", in: "/a/b", want: "/a/b"},
	{name: "trailing slash kept", in: "/a/", want: "/a/"},
	{name: "case preserved", in: "/Admin/Users", want: "/Admin/Users"},
	{name: "query dropped", in: "/a/b?x=1&y=2", want: "/a/b"},
	{name: "query with slash and dots dropped", in: "/a?next=/../x", want: "/a"},
	{name: "empty query", in: "/a?", want: "/a"},
	{name: "sub-delims kept", in: "/a!$&'()*+,=:@b", want: "/a!$&'()*+,=:@b"},
	{name: "unreserved kept", in: "/a-b.c_d~e", want: "/a-b.c_d~e"},
	{name: "dots inside names kept", in: "/a..b/.c/..d/...", want: "/a..b/.c/..d/..."},

	// Dot segments and slashes.
	{name: "dotdot", in: "/a/../b", want: "/b"},
	{name: "dotdot deeper", in: "/a/b/c/../../d", want: "/a/d"},
	{name: "encoded dotdot lower", in: "/a/%2e%2e/b", want: "/b"},
	{name: "encoded dotdot upper", in: "/a/%2E%2E/b", want: "/b"},
	{name: "mixed dotdot", in: "/a/.%2E/b", want: "/b"},
	{name: "mixed dotdot 2", in: "/a/%2e./b", want: "/b"},
	{name: "encoded dot", in: "/a/%2e/b", want: "/a/b"},
	{name: "dot", in: "/a/./b", want: "/a/b"},
	{name: "dot trailing", in: "/a/.", want: "/a/"},
	{name: "dotdot trailing", in: "/a/..", want: "/"},
	{name: "dotdot trailing deeper", in: "/a/b/..", want: "/a/"},
	{name: "dot slash trailing", in: "/admin/./", want: "/admin/"},
	{name: "dotdot to root slash", in: "/a/../", want: "/"},
	{name: "only dot", in: "/.", want: "/"},
	{name: "double slash prefix", in: "//admin", want: "/admin"},
	{name: "many slashes", in: "///admin//x", want: "/admin/x"},
	{name: "slashes trailing", in: "/a//", want: "/a/"},
	{name: "only slashes", in: "////", want: "/"},
	{name: "dotdot after double slash", in: "/a//../b", want: "/b"},
	{name: "dotdot above root", in: "/..", detail: "climbs above the root"},
	{name: "encoded dotdot above root", in: "/%2e%2e/etc", detail: "climbs above the root"},
	{name: "dotdot above root later", in: "/a/../../etc/passwd", detail: "climbs above the root"},
	{name: "dotdot above root via slashes", in: "//../x", detail: "climbs above the root"},

	// Percent-escapes.
	{name: "escape of A decoded", in: "/%41", want: "/A"},
	{name: "escape of tilde decoded", in: "/%7E", want: "/~"},
	{name: "escape of tilde lower decoded", in: "/%7e", want: "/~"},
	{name: "escape of hyphen decoded", in: "/%2D", want: "/-"},
	{name: "escape of underscore decoded", in: "/%5f", want: "/_"},
	{name: "escape of digit decoded", in: "/v%31", want: "/v1"},
	{name: "reserved escape kept upper", in: "/a%3a%40b", want: "/a%3A%40b"},
	{name: "escaped percent kept", in: "/100%25", want: "/100%25"},
	{name: "escaped space kept", in: "/a%20b", want: "/a%20b"},
	{name: "escaped question kept", in: "/a%3Fb", want: "/a%3Fb"},
	{name: "escaped hash kept", in: "/a%23b", want: "/a%23b"},
	{name: "escaped sub-delim kept", in: "/a%21", want: "/a%21"},
	{name: "upper and lower hex agree", in: "/caf%c3%a9", want: "/caf%C3%A9"},
	{name: "utf8 escapes", in: "/caf%C3%A9", want: "/caf%C3%A9"},
	{name: "raw utf8 encoded", in: "/café", want: "/caf%C3%A9"},
	{name: "raw utf8 4-byte", in: "/😀", want: "/%F0%9F%98%80"},
	{name: "raw and escaped utf8 agree", in: "/é/%c3%a9", want: "/%C3%A9/%C3%A9"},
	{name: "malformed escape zz", in: "/a%zz", detail: "malformed percent-escape"},
	{name: "truncated escape", in: "/a%2", detail: "malformed percent-escape"},
	{name: "bare percent", in: "/a%", detail: "malformed percent-escape"},
	{name: "half hex escape", in: "/a%g1", detail: "malformed percent-escape"},
	{name: "truncated escape before query", in: "/a%4?x", detail: "malformed percent-escape"},

	// Ambiguous characters.
	{name: "encoded slash", in: "/a%2fb", detail: "encoded slash (%2F)"},
	{name: "encoded slash upper", in: "/a%2Fb", detail: "encoded slash (%2F)"},
	{name: "encoded backslash", in: "/a%5cb", detail: "encoded backslash (%5C)"},
	{name: "raw backslash", in: `/a\b`, detail: "backslash"},
	{name: "raw backslash traversal", in: `/a\..\b`, detail: "backslash"},
	{name: "encoded NUL", in: "/a%00", detail: "encoded NUL"},
	{name: "encoded newline", in: "/a%0a", detail: "encoded control"},
	{name: "encoded DEL", in: "/a%7F", detail: "encoded control"},
	{name: "raw NUL", in: "/a\x00", detail: "control character"},
	{name: "raw tab", in: "/a\tb", detail: "control character"},
	{name: "raw CR", in: "/a\rb", detail: "control character"},
	{name: "raw DEL", in: "/a\x7fb", detail: "control character"},
	{name: "raw space", in: "/a b", detail: "space"},
	{name: "matrix param", in: "/a;x=1/b", detail: "semicolon"},
	{name: "matrix jsessionid", in: "/admin;jsessionid=1", detail: "semicolon"},
	{name: "encoded semicolon", in: "/a%3bx", detail: "encoded semicolon (%3B)"},
	{name: "encoded semicolon upper", in: "/a%3Bx", detail: "encoded semicolon (%3B)"},

	// UTF-8.
	{name: "invalid utf8 escape FF", in: "/%FF", detail: "not valid UTF-8"},
	{name: "lone continuation", in: "/%80", detail: "not valid UTF-8"},
	{name: "truncated sequence", in: "/caf%C3", detail: "not valid UTF-8"},
	{name: "truncated sequence before slash", in: "/caf%C3/%A9", detail: "not valid UTF-8"},
	{name: "sequence broken by ascii", in: "/%C3a%A9", detail: "not valid UTF-8"},
	{name: "overlong slash", in: "/%C0%AF", detail: "not valid UTF-8"},
	{name: "overlong dot", in: "/%C0%AE%C0%AE/x", detail: "not valid UTF-8"},
	{name: "surrogate", in: "/%ED%A0%80", detail: "not valid UTF-8"},
	{name: "above max rune", in: "/%F4%90%80%80", detail: "not valid UTF-8"},
	{name: "raw invalid utf8", in: "/a\xff", detail: "not valid UTF-8"},
	{name: "raw lead plus escaped tail", in: "/\xc3%A9", detail: "not valid UTF-8"},

	// Characters outside pchar are percent-encoded.
	{name: "quote encoded", in: `/a"b`, want: "/a%22b"},
	{name: "angle brackets encoded", in: "/<script>", want: "/%3Cscript%3E"},
	{name: "caret backtick encoded", in: "/a^`", want: "/a%5E%60"},
	{name: "braces pipe encoded", in: "/{a|b}", want: "/%7Ba%7Cb%7D"},
	{name: "square brackets encoded", in: "/[x]", want: "/%5Bx%5D"},
	{name: "raw and escaped quote agree", in: `/"%22`, want: "/%22%22"},

	// Request-target forms.
	{name: "absolute form", in: "http://evil/admin", want: "/admin"},
	{name: "absolute form https query", in: "HTTPS://Host:8443/a/../b?x=1", want: "/b"},
	{name: "absolute form no path", in: "http://host", want: "/"},
	{name: "absolute form query only", in: "http://host?x=/admin", want: "/"},
	{name: "absolute form double slash path", in: "http://host//admin", want: "/admin"},
	{name: "absolute form empty authority", in: "http:///admin", detail: "without authority"},
	{name: "absolute form other scheme", in: "ftp://host/a", detail: "unsupported scheme"},
	{name: "asterisk form", in: "*", detail: "asterisk-form"},
	{name: "authority form", in: "example.com:443", detail: "authority-form"},
	{name: "relative path", in: "a/b", detail: "authority-form"},
	{name: "empty", in: "", detail: "empty"},
	{name: "fragment", in: "/a#b", detail: "fragment"},
	{name: "fragment in query", in: "/a?b#c", detail: "fragment"},
	{name: "fragment in absolute form", in: "http://h/a#x", detail: "fragment"},
}

func TestPath(t *testing.T) {
	if len(pathCases) < 60 {
		t.Fatalf("only %d cases", len(pathCases))
	}
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Path(tc.in)
			if tc.detail != "" {
				if err == nil {
					t.Fatalf("Path(%q) = %q, want error containing %q", tc.in, got, tc.detail)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "invalid request path: ") || !strings.Contains(msg, tc.detail) {
					t.Errorf("error %q, want detail %q", msg, tc.detail)
				}
				if p, _ := extractPath(tc.in); len(p) > 1 && strings.Contains(msg, p) {
					t.Errorf("error %q echoes the path", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Path(%q): unexpected error %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Path(%q) = %q, want %q", tc.in, got, tc.want)
			}
			checkCanonical(t, tc.in, got)
		})
	}
}

func TestPathCanonicalInputDoesNotAllocate(t *testing.T) {
	in := "/app/users/42/edit/"
	allocs := testing.AllocsPerRun(100, func() {
		if out, err := Path(in); err != nil || out != in {
			t.Fatalf("Path(%q) = %q, %v", in, out, err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
}

func TestPathLong(t *testing.T) {
	// Longer than the stack buffer: exercises growth.
	in := strings.Repeat("/segment%c3%a9", 200)
	got, err := Path(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("/segment%C3%A9", 200); got != want {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"root", "/", []string{""}},
		{"one", "/a", []string{"a"}},
		{"two", "/a/b", []string{"a", "b"}},
		{"trailing slash", "/a/", []string{"a", ""}},
		{"decoded", "/caf%C3%A9/a%20b/100%25", []string{"café", "a b", "100%"}},
		{"escaped question", "/a%3Fb", []string{"a?b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Segments(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Segments(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// checkCanonical asserts the invariants every accepted output has.
func checkCanonical(t *testing.T, in, out string) {
	t.Helper()
	if !strings.HasPrefix(out, "/") {
		t.Fatalf("Path(%q) = %q: no leading slash", in, out)
	}
	for _, bad := range []string{"//", "/./", "/../"} {
		if strings.Contains(out, bad) {
			t.Fatalf("Path(%q) = %q: contains %q", in, out, bad)
		}
	}
	if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
		t.Fatalf("Path(%q) = %q: ends in a dot segment", in, out)
	}
	upper := strings.ToUpper(out)
	for _, bad := range []string{"%2F", "%5C", "%00", ";", "\\", " ", "%3B"} {
		if strings.Contains(upper, bad) {
			t.Fatalf("Path(%q) = %q: contains %q", in, out, bad)
		}
	}
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 || c >= 0x7f {
			t.Fatalf("Path(%q) = %q: byte %#x", in, out, c)
		}
	}
	again, err := Path(out)
	if err != nil || again != out {
		t.Fatalf("not idempotent: Path(%q) = %q, %v", out, again, err)
	}
	// Canonicalisation must not change meaning: the decoded, cleaned input
	// names the same resource as the decoded output.
	raw, _ := extractPath(in)
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		t.Fatalf("accepted %q but url.PathUnescape fails: %v", in, err)
	}
	if want, got := path.Clean(decoded), path.Clean("/"+strings.Join(Segments(out), "/")); want != got {
		t.Fatalf("Path(%q) = %q: means %q, input means %q", in, out, got, want)
	}
}

func FuzzPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.in)
	}
	f.Add("/a/%2e%2e%2f")
	f.Add("/%c3%a9/../%e2%82%ac/./x//")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Path(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		checkCanonical(t, in, out)
	})
}

func BenchmarkPath(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"canonical", "/app/users/42/edit/"},
		{"query", "/app/users/42/edit/?page=2&sort=name"},
		{"dirty", "//app/./users/%2e%2e/users/42/caf%c3%a9/%7Eedit/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Path(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
