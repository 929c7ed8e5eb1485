package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/textproto"
	"strings"
)

// errMultipartOverride is a multipart body carrying a "_method" field: it
// cannot be removed without rewriting (and re-framing) the whole body, so
// the request is refused instead, before that part reaches the app.
var errMultipartOverride = errors.New(`a multipart body may not carry a "_method" field (method override)`)

// maxPartHeader bounds one part's header block.
const maxPartHeader = 16 << 10

// multipartTripwire passes a multipart/form-data body through unchanged,
// parsing its part headers as they go by, and fails (before handing on
// any byte of it) at a part named "_method". Bytes are released only once
// they are known not to belong to such a part's header, so however the
// body arrives the part is never forwarded whole.
type multipartTripwire struct {
	r      io.Reader
	delim  []byte // "\n--" + boundary
	buf    []byte // read, not yet released (buf[0] is a virtual "\n" at the start)
	start  bool   // buf begins with the virtual "\n"
	out    []byte
	err    error
	closed bool // past the close delimiter
}

func newMultipartTripwire(r io.Reader, boundary string) *multipartTripwire {
	return &multipartTripwire{r: r, delim: []byte("\n--" + boundary), buf: []byte{'\n'}, start: true}
}

func (m *multipartTripwire) Read(p []byte) (int, error) {
	for len(m.out) == 0 {
		if m.err != nil {
			return 0, m.err
		}
		var chunk [4096]byte
		n, err := m.r.Read(chunk[:])
		m.buf = append(m.buf, chunk[:n]...)
		if verr := m.scan(err != nil); verr != nil {
			m.err, m.out = verr, nil
			return 0, verr
		}
		if err != nil {
			m.out = append(m.out, m.take(len(m.buf))...)
			m.err = err
		}
	}
	n := copy(p, m.out)
	m.out = m.out[n:]
	return n, nil
}

// take removes n bytes from the front of buf, dropping the virtual "\n".
func (m *multipartTripwire) take(n int) []byte {
	b := m.buf[:n]
	m.buf = m.buf[n:]
	if m.start && n > 0 {
		m.start = false
		b = b[1:]
	}
	return append([]byte(nil), b...)
}

// scan releases what is safe and checks every complete part header.
func (m *multipartTripwire) scan(atEOF bool) error {
	if m.closed {
		m.out = append(m.out, m.take(len(m.buf))...)
		return nil
	}
	for {
		i := bytes.Index(m.buf, m.delim)
		if i < 0 {
			// Keep what could be the start of a delimiter.
			keep := min(len(m.buf), len(m.delim)-1)
			if atEOF {
				keep = 0
			}
			m.out = append(m.out, m.take(len(m.buf)-keep)...)
			return nil
		}
		hdrStart := i + len(m.delim)
		if len(m.buf)-hdrStart < 2 && !atEOF {
			m.out = append(m.out, m.take(i)...)
			return nil // cannot tell a part from the close delimiter yet
		}
		if bytes.HasPrefix(m.buf[hdrStart:], []byte("--")) {
			// The close delimiter: no part follows; the rest is epilogue.
			m.out = append(m.out, m.take(len(m.buf))...)
			m.closed = true
			return nil
		}
		end := bytes.Index(m.buf[hdrStart:], []byte("\r\n\r\n"))
		if end < 0 {
			if len(m.buf)-hdrStart > maxPartHeader {
				return errBadRequest
			}
			m.out = append(m.out, m.take(i)...)
			return nil // wait for the whole header
		}
		block := m.buf[hdrStart : hdrStart+end+4]
		if partNamedMethod(block) {
			return errMultipartOverride
		}
		m.out = append(m.out, m.take(hdrStart+end+4)...)
	}
}

// partNamedMethod reports whether a part header block (after the
// delimiter: transport padding, CRLF, header lines, CRLF CRLF) names the
// form field "_method".
func partNamedMethod(block []byte) bool {
	_, rest, ok := bytes.Cut(block, []byte("\r\n"))
	if !ok {
		return false
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(rest))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return false
	}
	for _, cd := range h.Values("Content-Disposition") {
		_, params, err := mime.ParseMediaType(cd)
		if err != nil {
			// Unparseable: look for the name the lenient way apps do.
			if strings.Contains(strings.ToLower(cd), "_method") {
				return true
			}
			continue
		}
		if params["name"] == "_method" {
			return true
		}
	}
	return false
}
