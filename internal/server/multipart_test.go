package server

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// slowReader returns at most step bytes per Read.
type slowReader struct {
	s    string
	step int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := min(len(p), r.step, len(r.s))
	copy(p, r.s[:n])
	r.s = r.s[n:]
	return n, nil
}

func TestMultipartTripwire(t *testing.T) {
	part := func(disposition, body string) string {
		return "--XyZ\r\nContent-Disposition: " + disposition + "\r\n\r\n" + body + "\r\n"
	}
	const end = "--XyZ--\r\n"
	tests := []struct {
		name string
		body string
		bad  bool
	}{
		{"ordinary fields and a file", part(`form-data; name="title"`, "hi") + part(`form-data; name="f"; filename="a.txt"`, "--XyZ-not-a-delimiter\r\n\r\nx") + end, false},
		{"preamble and epilogue", "preamble\r\n" + part(`form-data; name="a"`, "1") + end + "epilogue " + strings.Repeat("e", 20000), false},
		{"a field whose value mentions _method", part(`form-data; name="note"`, `name="_method"`) + end, false},
		{"_method first", part(`form-data; name="_method"`, "DELETE") + part(`form-data; name="a"`, "1") + end, true},
		{"_method last", part(`form-data; name="a"`, "1") + part(`form-data; name="_method"`, "DELETE") + end, true},
		{"_method unquoted", part(`form-data; name=_method`, "DELETE") + end, true},
		{"_method in another case of header", "--XyZ\r\ncontent-disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n" + end, true},
		{"_method with transport padding", "--XyZ  \r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n" + end, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 3, 17, 4096} {
				out, err := io.ReadAll(newMultipartTripwire(&slowReader{tc.body, step}, "XyZ"))
				if tc.bad {
					if !errors.Is(err, errMultipartOverride) {
						t.Fatalf("step %d: err %v, want errMultipartOverride", step, err)
					}
					if strings.Contains(string(out), `_method"`) || strings.Contains(string(out), "name=_method") {
						t.Fatalf("step %d: the _method part header was handed on: %q", step, out)
					}
					continue
				}
				if err != nil || string(out) != tc.body {
					t.Fatalf("step %d: err %v, body changed:\n got %q\nwant %q", step, err, out, tc.body)
				}
			}
		})
	}
}

// FuzzMultipartTripwire: a body passes unchanged, or is refused because
// it names "_method"; how it arrives does not matter.
func FuzzMultipartTripwire(f *testing.F) {
	f.Add("--B\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nX\r\n--B--\r\n", uint8(3))
	f.Add("pre\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\nepi", uint8(1))
	f.Fuzz(func(t *testing.T, body string, step uint8) {
		whole, err1 := io.ReadAll(newMultipartTripwire(&slowReader{body, 1 << 20}, "B"))
		split, err2 := io.ReadAll(newMultipartTripwire(&slowReader{body, int(step%32) + 1}, "B"))
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("verdict depends on splitting: %v vs %v", err1, err2)
		}
		for _, r := range []struct {
			out []byte
			err error
		}{{whole, err1}, {split, err2}} {
			switch {
			case r.err == nil && string(r.out) != body:
				t.Fatalf("body changed: %q -> %q", body, r.out)
			case r.err != nil && !strings.Contains(strings.ToLower(body), "_method") && !errors.Is(r.err, errBadRequest):
				t.Fatalf("refused a body without _method: %v", r.err)
			case r.err != nil && !strings.HasPrefix(body, string(r.out)):
				t.Fatalf("refused, but handed on bytes not in the body: %q", r.out)
			}
		}
	})
}

func TestWithoutParam(t *testing.T) {
	tests := []struct{ in, rest, value string }{
		{"a=1&_method=DELETE&b=2", "a=1&b=2", "DELETE"},
		{"_%6Dethod=PUT", "", "PUT"},
		{"%5Fmethod=PUT&x", "x", "PUT"},
		{"_method=A&_method=B", "", "A"},
		{"a=1&b=_method", "a=1&b=_method", ""},
		{"_methods=1", "_methods=1", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		rest, value, found := withoutParam(tc.in, "_method")
		if rest != tc.rest || value != tc.value || found != (tc.value != "") {
			t.Errorf("withoutParam(%q) = %q, %q, %v", tc.in, rest, value, found)
		}
	}
}
