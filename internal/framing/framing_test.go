package framing

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// feedConn is a net.Conn whose reads return input in pieces of size step.
type feedConn struct {
	net.Conn
	in   []byte
	step int
}

func (f *feedConn) Read(p []byte) (int, error) {
	if len(f.in) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), f.step, len(f.in))
	copy(p, f.in[:n])
	f.in = f.in[n:]
	return n, nil
}

func (f *feedConn) Write(p []byte) (int, error)      { return len(p), nil }
func (f *feedConn) Close() error                     { return nil }
func (f *feedConn) SetReadDeadline(time.Time) error  { return nil }
func (f *feedConn) SetWriteDeadline(time.Time) error { return nil }

// through returns what the server would read of input, fed step bytes at a time.
func through(input string, step, maxHead int) string {
	c := &Conn{Conn: &feedConn{in: []byte(input), step: step}, maxHead: maxHead}
	out, _ := io.ReadAll(c)
	return string(out)
}

func rejected(reason string) string { return string(rejectLine(reason)) }

func TestConn(t *testing.T) {
	const get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	post := func(h, body string) string { return "POST /a HTTP/1.1\r\nHost: x\r\n" + h + "\r\n" + body }
	tests := []struct {
		name, in, want string
	}{
		{"plain GET", get, get},
		{"pipelined", get + get + get, get + get + get},
		{"Content-Length body", post("Content-Length: 3\r\n", "abc") + get, post("Content-Length: 3\r\n", "abc") + get},
		{"body looking like a bad head is not a head", post("Content-Length: 12\r\n", "X\nY: a\n\n\r\n\r\n") + get, post("Content-Length: 12\r\n", "X\nY: a\n\n\r\n\r\n") + get},
		{"chunked with extension and trailer", post("Transfer-Encoding: chunked\r\n", "3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n") + get,
			post("Transfer-Encoding: chunked\r\n", "3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n") + get},
		{"Content-Length with whitespace", post("Content-Length:  3 \r\n", "abc"), post("Content-Length:  3 \r\n", "abc")},
		{"CL and TE", post("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), rejected("Content-Length-with-Transfer-Encoding")},
		{"TE and CL", post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"), rejected("Content-Length-with-Transfer-Encoding")},
		{"duplicate equal CL", post("Content-Length: 3\r\nContent-Length: 3\r\n", "abc"), rejected("duplicate-Content-Length")},
		{"CL list", post("Content-Length: 3, 3\r\n", "abc"), rejected("invalid-Content-Length")},
		{"CL plus sign", post("Content-Length: +3\r\n", "abc"), rejected("invalid-Content-Length")},
		{"CL hex", post("Content-Length: 0x3\r\n", "abc"), rejected("invalid-Content-Length")},
		{"CL huge", post("Content-Length: 99999999999999999999\r\n", ""), rejected("invalid-Content-Length")},
		{"bare LF head", "GET / HTTP/1.1\nHost: x\n\n", rejected("bare-LF")},
		{"bare LF in one line", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", rejected("bare-LF")},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", rejected("bare-CR")},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", rejected("obs-fold")},
		{"obs-fold tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\n", rejected("obs-fold")},
		{"bad chunk size with the head (in one piece)", post("Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n"), rejected("bad-chunk")},
		{"chunk size with bare LF (in one piece)", post("Transfer-Encoding: chunked\r\n", "3\nabc\r\n0\r\n\r\n"), rejected("bad-chunk")},
		{"chunk data too long (in one piece)", post("Transfer-Encoding: chunked\r\n", "3\r\nabcd\r\n0\r\n\r\n"), rejected("bad-chunk")},
		{"negative chunk (in one piece)", post("Transfer-Encoding: chunked\r\n", "-3\r\nabc\r\n0\r\n\r\n"), rejected("bad-chunk")},
		{"second pipelined request bad", get + "GET / HTTP/1.1\nHost: x\n\n", get + rejected("bare-LF")},
		{"smuggled request after a CL+TE body", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /admin/ HTTP/1.1\r\n\r\n"), rejected("Content-Length-with-Transfer-Encoding")},
		{"other codings left to the server", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n\n\n"), post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n\n\n")},
		{"an upgrade refused keeps checking", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n" + "GET / HTTP/1.1\nHost: x\n\n",
			"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n" + rejected("bare-LF")},
		{"incomplete head handed on at EOF", "GET / HTTP/1.1\r\nHo", "GET / HTTP/1.1\r\nHo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// However the bytes arrive, the verdict is the same.
			steps := []int{1, 2, 3, 7, 4096}
			if strings.HasSuffix(tc.name, "(in one piece)") {
				// A head is handed on once complete (a client may wait for
				// 100 Continue before sending its body), so a bad chunk
				// line rejects the head only when it came with it; after,
				// see TestBadChunkAfterTheHead.
				steps = []int{4096}
			}
			for _, step := range steps {
				if got := through(tc.in, step, 1<<16); got != tc.want {
					t.Fatalf("step %d:\n got %q\nwant %q", step, got, tc.want)
				}
			}
		})
	}
}

func TestBadChunkAfterTheHead(t *testing.T) {
	// The head went on before the body arrived: the bad line is replaced
	// so the server's chunked reader fails, and nothing follows.
	head := "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	c := &Conn{Conn: &feedConn{in: []byte(head + "3\r\nabc\r\nzz\r\n0\r\n\r\n"), step: len(head)}, maxHead: 1 << 16}
	out, _ := io.ReadAll(c)
	if want := head + "3\r\nabc\r\nzz\r\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	c = &Conn{Conn: &feedConn{in: []byte(head + "3\r\nabc\r\nq\r\nGET /x HTTP/1.1\r\n\r\n"), step: len(head)}, maxHead: 1 << 16}
	out, _ = io.ReadAll(c)
	if strings.Contains(string(out), "GET /x") {
		t.Fatalf("bytes after a bad chunk line were handed on: %q", out)
	}
}

func TestHugeHeadPassesThrough(t *testing.T) {
	in := "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 200) + "\r\n\r\n"
	if got := through(in, 16, 64); got != in {
		t.Fatalf("a head over the buffer limit must reach the server (431), got %q", got)
	}
}

// FuzzConn: whatever arrives, the server gets either exactly the input,
// or a prefix of it followed by a rejection; never anything else, and the
// result does not depend on how the bytes were split.
func FuzzConn(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\n\n",
		"GET / HTTP/1.1\r\nX: 1\r\n y\r\n\r\n",
	} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, step uint8) {
		whole := through(in, 1<<20, 1<<12)
		split := through(in, int(step%16)+1, 1<<12)
		if (whole == in) != (split == in) {
			t.Fatalf("verdict depends on splitting:\n   in %q\nwhole %q\nsplit %q", in, whole, split)
		}
		for _, out := range []string{whole, split} {
			if !prefixPlusRejection(in, out) {
				t.Fatalf("output is neither the input nor a prefix plus a rejection:\n in %q\nout %q", in, out)
			}
		}
	})
}

// prefixPlusRejection reports whether out is in, or a prefix of in
// followed by a rejected request line or an invalid chunk line.
func prefixPlusRejection(in, out string) bool {
	if out == in {
		return true
	}
	if body, ok := strings.CutSuffix(out, "zz\r\n"); ok && strings.HasPrefix(in, body) {
		return true
	}
	if i := strings.LastIndex(out, "X / HTTP/rejected-"); i >= 0 && strings.HasSuffix(out, "\r\n\r\n") && strings.HasPrefix(in, out[:i]) {
		return true
	}
	return false
}

// timeoutConn fails its first read with a timeout, as a read deadline in
// the past does, then reads normally.
type timeoutConn struct {
	feedConn
	timedOut bool
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (c *timeoutConn) Read(p []byte) (int, error) {
	if !c.timedOut {
		c.timedOut = true
		return 0, timeoutErr{}
	}
	return c.feedConn.Read(p)
}

// TestDeadlineIsNotTheEnd: net/http interrupts its background read with a
// deadline in the past and then reads the next request; the connection
// must go on.
func TestDeadlineIsNotTheEnd(t *testing.T) {
	const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	c := &Conn{Conn: &timeoutConn{feedConn: feedConn{in: []byte(get), step: 4096}}, maxHead: 1 << 16}
	buf := make([]byte, 100)
	if _, err := c.Read(buf); err == nil {
		t.Fatal("the timeout was not reported")
	}
	out, err := io.ReadAll(c)
	if err != nil || string(out) != get {
		t.Fatalf("after the timeout: %q, %v", out, err)
	}
}

// TestSwitchedProtocols: after the server answers an upgrade request with
// 101, the connection carries WebSocket frames, passed on unchecked.
func TestSwitchedProtocols(t *testing.T) {
	head := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	frames := "\x81\x05\n\nhi GET / HTTP/1.1\n\n"
	c := &Conn{Conn: &feedConn{in: []byte(head + frames), step: len(head)}, maxHead: 1 << 16}
	got := make([]byte, len(head))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != head {
		t.Fatalf("head: %q %v", got, err)
	}
	if _, err := c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(c)
	if string(rest) != frames {
		t.Fatalf("frames after the 101: %q, want %q", rest, frames)
	}
}

// BenchmarkConn: the cost the check adds to reading pipelined requests.
func BenchmarkConn(b *testing.B) {
	req := "GET /editors/doc HTTP/1.1\r\nHost: gw\r\nCookie: gateway_sessionid=0123456789abcdef0123456789abcdef0123456789a\r\nAccept: */*\r\n\r\n"
	in := []byte(strings.Repeat(req, 64))
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for range b.N {
		c := &Conn{Conn: &feedConn{in: in, step: 4096}, maxHead: 1 << 16}
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
	}
}
