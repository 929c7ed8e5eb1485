// Package framing checks the raw HTTP/1.1 framing of every request before
// Go's HTTP server parses it, and rejects what a lenient parser would
// accept but another parser in the chain could read differently (request
// smuggling, RFC 9112 section 11.2).
//
// Go's server is strict about most of the head, but some forms it accepts
// and normalizes, losing the evidence: a request with both Content-Length
// and Transfer-Encoding (Go drops the Content-Length), repeated identical
// Content-Length headers, bare LF line endings, obs-fold continuation
// lines. A [Listener] sees the bytes first. Each request head is read
// whole before any of it is handed to the server, checked, and either
// passed on unchanged or replaced by a request line Go rejects with
// "400 Bad Request: malformed HTTP version "HTTP/rejected-<reason>"", after
// which the connection ends. A rejected request is never authorized and
// never forwarded. Bodies are followed (Content-Length, chunked) so that
// each pipelined request's head is checked too; chunk-size lines and the
// chunked trailer are checked as they pass, and a malformed chunk line
// already buffered with its head rejects that head.
//
// Rejected, with the reason shown:
//
//   - bare-LF, bare-CR: a line not ended by CRLF;
//   - obs-fold: a header line starting with a space or tab;
//   - duplicate-Content-Length, invalid-Content-Length (not 1*DIGIT or
//     too large), Content-Length-with-Transfer-Encoding;
//   - bad-chunk: a malformed chunk-size line, chunk not followed by CRLF,
//     or an obs-fold/bare-LF trailer.
//
// Transfer codings other than a single "chunked" are left to the server
// (which answers 501), and so are heads larger than the limit (431). After
// the server answers a request that asked to upgrade with 101 Switching
// Protocols, the connection is no longer HTTP/1.1 and checking stops; any
// other answer keeps it checked.
package framing

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
)

// Listener returns ln with every accepted connection checked. maxHead
// bounds how much of a head is buffered (use the server's MaxHeaderBytes
// plus some slack); a longer head is passed through for the server to
// refuse.
func Listener(ln net.Listener, maxHead int) net.Listener {
	return &listener{Listener: ln, maxHead: maxHead}
}

type listener struct {
	net.Listener
	maxHead int
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, maxHead: l.maxHead}, nil
}

// Conn is a checked connection.
type Conn struct {
	net.Conn
	maxHead int

	in    []byte // read from the connection, not yet checked
	ready []byte // checked, not yet handed out
	rerr  error  // the connection's read error, once seen

	st        state
	remaining int64       // stateBody: body bytes left; stateChunkData: chunk bytes left (+2 for CRLF)
	done      bool        // a request was rejected: no more bytes after ready
	passthru  atomic.Bool // checking stopped (switched protocols, unknown framing, huge head)
	upgrading atomic.Bool // the last head asked to upgrade: watch for a 101
	scratch   [4096]byte
}

type state int

const (
	stateHead state = iota
	stateBody
	stateChunkSize
	stateChunkData
	stateTrailer
)

// Reject is the request line a rejected head is replaced with.
func rejectLine(reason string) []byte {
	return []byte("X / HTTP/rejected-" + reason + "\r\n\r\n")
}

// Write watches the responses for a protocol switch: after a 101 to a
// request that asked to upgrade, the connection carries another protocol
// (WebSocket frames) and checking stops. A request that asked to upgrade
// but got any other answer is followed by more HTTP/1.1, checked as usual.
func (c *Conn) Write(p []byte) (int, error) {
	if c.upgrading.Load() && bytes.HasPrefix(p, []byte("HTTP/1.1 101 ")) {
		c.passthru.Store(true)
	}
	return c.Conn.Write(p)
}

// Read hands out checked bytes.
func (c *Conn) Read(p []byte) (int, error) {
	for len(c.ready) == 0 {
		if c.done {
			return 0, io.EOF
		}
		if c.passthru.Load() && len(c.in) == 0 {
			if c.rerr != nil {
				return 0, c.rerr
			}
			return c.Conn.Read(p)
		}
		if c.passthru.Load() {
			c.ready, c.in = c.in, nil
			break
		}
		if c.step() {
			continue
		}
		if c.rerr != nil {
			// The client stopped mid-request: hand out what there is; the
			// server sees an incomplete request and the error.
			if len(c.in) > 0 {
				c.ready, c.in = c.in, nil
				break
			}
			return 0, c.rerr
		}
		n, err := c.Conn.Read(c.scratch[:])
		c.in = append(c.in, c.scratch[:n]...)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			// A deadline, not the end: the server sets one in the past to
			// interrupt its background read, then reads on. Report it once.
			if n == 0 {
				return 0, err
			}
		default:
			c.rerr = err
		}
	}
	n := copy(p, c.ready)
	c.ready = c.ready[n:]
	return n, nil
}

// step moves checked bytes from in to ready; it reports whether it made
// progress (false: more input is needed).
func (c *Conn) step() bool {
	switch c.st {
	case stateHead:
		return c.stepHead()
	case stateBody:
		if len(c.in) == 0 {
			return false
		}
		n := int64(len(c.in))
		if n > c.remaining {
			n = c.remaining
		}
		c.emit(int(n))
		c.remaining -= n
		if c.remaining == 0 {
			c.st = stateHead
		}
		return true
	default:
		return c.stepChunked()
	}
}

func (c *Conn) emit(n int) {
	if len(c.ready) == 0 {
		// Hand the checked bytes out where they are, without a copy; the
		// capped slice keeps appends to ready off the bytes still in in.
		c.ready = c.in[:n:n]
	} else {
		c.ready = append(c.ready, c.in[:n]...)
	}
	c.in = c.in[n:]
}

// reject replaces the current head (the first n bytes of in) with a
// request line the server refuses, and ends the connection after it.
func (c *Conn) reject(reason string) {
	c.ready = append(c.ready, rejectLine(reason)...)
	c.in = nil
	c.done = true
}

func (c *Conn) stepHead() bool {
	end, bad := headEnd(c.in)
	if end < 0 {
		if len(c.in) > c.maxHead {
			c.passthru.Store(true) // too large: the server answers 431
			return true
		}
		return false
	}
	if bad != "" {
		c.reject(bad)
		return true
	}
	h, reason := checkHead(c.in[:end])
	if reason != "" {
		c.reject(reason)
		return true
	}
	switch {
	case h.chunked:
		// Check the chunk lines that came with the head before letting
		// the head through: a request arriving in one piece is then
		// rejected whole.
		if _, reason := scanChunked(chunkCursor{st: stateChunkSize}, c.in[end:]); reason != "" {
			c.reject(reason)
			return true
		}
		c.st = stateChunkSize
	case h.length > 0:
		c.st, c.remaining = stateBody, h.length
	}
	c.emit(end)
	if h.unchecked {
		c.passthru.Store(true)
	}
	c.upgrading.Store(h.upgrade)
	return true
}

// headEnd finds the end of the head at the start of b: the index after
// its empty line, or -1 if it is incomplete. bad names a line-ending
// violation that ends the head early (a bare LF).
func headEnd(b []byte) (end int, bad string) {
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lflf := bytes.Index(b, []byte("\n\n"))
	switch {
	case lflf >= 0 && (crlf < 0 || lflf < crlf):
		return lflf + 2, "bare-LF"
	case crlf >= 0:
		return crlf + 4, ""
	}
	return -1, ""
}

// head is what the framing of one request head says.
type head struct {
	length    int64 // Content-Length, 0 when absent
	chunked   bool  // Transfer-Encoding: chunked
	unchecked bool  // stop checking after this request (other codings: the server refuses them)
	upgrade   bool  // the request asks to upgrade: checking stops if the server answers 101
}

// maxContentLength bounds a Content-Length value (the server has its own
// body limit; this only keeps the arithmetic sane).
const maxContentLength = 1 << 50

func checkHead(b []byte) (head, string) {
	var h head
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return h, "bare-LF"
			}
		case '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return h, "bare-CR"
			}
		}
	}
	// The header lines, after the request line, up to the empty line.
	_, rest, _ := bytes.Cut(b[:len(b)-4], []byte("\r\n"))
	var cl, te int
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			return h, "obs-fold"
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue // the server rejects a line without a colon
		}
		value = bytes.Trim(value, " \t")
		switch {
		case asciiEqualFold(name, "content-length"):
			cl++
			if cl > 1 {
				return h, "duplicate-Content-Length"
			}
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || n > maxContentLength || !allDigits(value) {
				return h, "invalid-Content-Length"
			}
			h.length = n
		case asciiEqualFold(name, "transfer-encoding"):
			te++
			if te == 1 && asciiEqualFold(value, "chunked") {
				h.chunked = true
			} else {
				h.chunked, h.unchecked = false, true // the server refuses other codings (501)
			}
		case asciiEqualFold(name, "upgrade"):
			h.upgrade = true
		}
	}
	if cl > 0 && te > 0 {
		return h, "Content-Length-with-Transfer-Encoding"
	}
	return h, ""
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// chunkCursor is where a chunked body is: in a size line, in chunk data
// (remaining bytes, including the CRLF after them), or in the trailer.
type chunkCursor struct {
	st        state
	remaining int64
}

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4096

// scanChunked advances cur over b as far as b holds complete elements and
// returns the bytes consumed; reason is non-empty at a violation. When the
// body ends (after the trailer), cur.st is stateHead.
func scanChunked(cur chunkCursor, b []byte) (int, string) {
	n, _, reason := advanceChunked(&cur, b)
	return n, reason
}

func advanceChunked(cur *chunkCursor, b []byte) (consumed int, progressed bool, reason string) {
	for cur.st != stateHead {
		rest := b[consumed:]
		switch cur.st {
		case stateChunkSize:
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if len(rest) > maxChunkLine {
					return consumed, progressed, "bad-chunk"
				}
				return consumed, progressed, ""
			}
			if i == 0 || rest[i-1] != '\r' {
				return consumed, progressed, "bad-chunk"
			}
			size, ok := parseChunkSize(rest[:i-1])
			if !ok {
				return consumed, progressed, "bad-chunk"
			}
			consumed += i + 1
			progressed = true
			if size == 0 {
				cur.st = stateTrailer
			} else {
				cur.st, cur.remaining = stateChunkData, size+2
			}
		case stateChunkData:
			if len(rest) == 0 {
				return consumed, progressed, ""
			}
			if cur.remaining <= 2 {
				// The CRLF after the chunk's data.
				want := "\r\n"[2-cur.remaining:]
				n := min(len(rest), len(want))
				if string(rest[:n]) != want[:n] {
					return consumed, progressed, "bad-chunk"
				}
				consumed += n
				cur.remaining -= int64(n)
				progressed = true
				if cur.remaining == 0 {
					cur.st = stateChunkSize
				}
				continue
			}
			n := int64(len(rest))
			if n > cur.remaining-2 {
				n = cur.remaining - 2
			}
			consumed += int(n)
			cur.remaining -= n
			progressed = true
		case stateTrailer:
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if len(rest) > maxChunkLine {
					return consumed, progressed, "bad-chunk"
				}
				return consumed, progressed, ""
			}
			if i == 0 || rest[i-1] != '\r' || bytes.IndexByte(rest[:i-1], '\r') >= 0 || rest[0] == ' ' || rest[0] == '\t' {
				return consumed, progressed, "bad-chunk"
			}
			consumed += i + 1
			progressed = true
			if i == 1 { // the empty line: the request is complete
				cur.st = stateHead
			}
		}
	}
	return consumed, progressed, ""
}

// parseChunkSize parses 1*HEXDIG with optional ";" extensions.
func parseChunkSize(line []byte) (int64, bool) {
	size, _, _ := bytes.Cut(line, []byte(";"))
	size = bytes.TrimRight(size, " \t")
	if len(size) == 0 || len(size) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range size {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// stepChunked passes a chunked body through, checking its framing as it
// goes. A violation found after the head was handed on cannot unsend the
// request: the bytes from the bad line on are replaced by an invalid
// chunk-size line, so the server's chunked reader fails, the request body
// never completes, and the connection ends.
func (c *Conn) stepChunked() bool {
	cur := chunkCursor{st: c.st, remaining: c.remaining}
	n, progressed, reason := advanceChunked(&cur, c.in)
	if reason != "" {
		c.emit(n)
		c.ready = append(c.ready, "zz\r\n"...)
		c.in = nil
		c.done = true
		return true
	}
	if !progressed {
		return false
	}
	c.emit(n)
	c.st, c.remaining = cur.st, cur.remaining
	return true
}

// NetConn is the connection being checked (a *tls.Conn when TLS is
// terminated below the check).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Wrap checks one connection; Listener does it for every accepted one.
func Wrap(conn net.Conn, maxHead int) *Conn { return &Conn{Conn: conn, maxHead: maxHead} }
