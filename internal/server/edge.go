package server

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/djangate/gateway/internal/proxy"
)

// Request rules at the edge, applied before anything reads the request
// for a decision: body size, upgrades, and method overrides.

var (
	errTooLarge       = errors.New("request body too large")
	errUpgradeRefused = errors.New("upgrade refused: only WebSocket upgrades are forwarded")
)

// methodOverrideHeaders are the headers frameworks read an overriding
// method from (Rails, Laravel, Express's method-override, ASP.NET, ...),
// normalized (see proxy.HeaderNameIs).
var methodOverrideHeaders = []string{"x-http-method-override", "x-http-method", "x-method-override"}

// maxOverrideForm bounds the urlencoded body read to find a "_method"
// field; a larger urlencoded body is refused (413) rather than forwarded
// unread. Multipart bodies are not inspected (see the README).
const maxOverrideForm = 1 << 20

// edgeRules enforces server.max_body_bytes, refuses upgrades other than
// WebSocket (an h2c upgrade would let a client talk HTTP/2 to the app
// behind the gateway's back), and removes or honours method overrides.
func (s *Server) edgeRules(next http.Handler) http.Handler {
	maxBody := int64(s.cfg.Server.MaxBodyBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if maxBody > 0 {
			if r.ContentLength > maxBody {
				s.writeError(w, r, errTooLarge)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
		}
		if up := r.Header.Values("Upgrade"); len(up) > 0 {
			if !onlyWebSocket(up) {
				s.log.Info("refused an upgrade", "request_id", state(r).id, "upgrade", strings.Join(up, ", "))
				s.writeError(w, r, errUpgradeRefused)
				return
			}
		}
		if err := s.methodOverride(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &recordingBody{ReadCloser: r.Body, st: state(r)}
		}
		next.ServeHTTP(w, r)
	})
}

// onlyWebSocket reports whether the Upgrade header values name exactly
// one protocol, websocket.
func onlyWebSocket(values []string) bool {
	n := 0
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			n++
			name, _, _ := strings.Cut(p, "/")
			if !strings.EqualFold(name, "websocket") {
				return false
			}
		}
	}
	return n == 1
}

// methodOverride removes every method override from r: the headers in
// any spelling, "_method" in the query, and "_method" in a urlencoded
// POST body. With server.method_override the first one found instead
// becomes r.Method (what the policy authorizes) and stays for the app.
func (s *Server) methodOverride(r *http.Request) error {
	honour := s.cfg.Server.MethodOverride
	var override string
	for k, v := range r.Header {
		for _, h := range methodOverrideHeaders {
			if proxy.HeaderNameIs(k, h) {
				if override == "" && len(v) > 0 {
					override = v[0]
				}
				if !honour {
					delete(r.Header, k)
				}
			}
		}
	}
	if q, v, found := withoutParam(r.URL.RawQuery, "_method"); found {
		if override == "" {
			override = v
		}
		if !honour {
			r.URL.RawQuery = q
			r.RequestURI = stripQuery(r.RequestURI) + queryPart(q)
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		ct := r.Header.Get("Content-Type")
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil && len(ct) >= 10 && strings.EqualFold(ct[:10], "multipart/") {
			// An app may parse what Go cannot; its _method would go unseen.
			return errBadRequest
		}
		if err == nil && mt == "multipart/form-data" {
			if params["boundary"] == "" {
				return errBadRequest
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{newMultipartTripwire(r.Body, params["boundary"]), r.Body}
		}
	}
	if r.Method == http.MethodPost && hasMediaType(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxOverrideForm+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return errTooLarge
			}
			return errors.Join(errBadRequest, err)
		}
		if len(body) > maxOverrideForm {
			return errTooLarge
		}
		if b, v, found := withoutParam(string(body), "_method"); found {
			if override == "" {
				override = v
			}
			if !honour {
				body = []byte(b)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Del("Transfer-Encoding")
		r.TransferEncoding = nil
	}
	st := state(r)
	st.override = override
	if honour && override != "" {
		// Only POST is overridden, as every framework does: a DELETE that
		// says "I am a GET" would be authorized as a GET and run as a
		// DELETE by an app that ignores overrides on other methods.
		if r.Method != http.MethodPost {
			return errBadRequest
		}
		m := strings.TrimSpace(override)
		if m == "" || len(m) > 32 || !isToken(m) {
			return errBadRequest
		}
		r.Method = m
	}
	return nil
}

// withoutParam removes every name=value pair whose decoded name is name
// from a query string or urlencoded body, keeping the other pairs exactly
// as sent. value is the first removed pair's decoded value.
func withoutParam(q, name string) (rest, value string, found bool) {
	if !strings.Contains(q, "method") && !strings.Contains(q, "%") { // fast path: no spelling of "_method" possible
		return q, "", false
	}
	parts := strings.Split(q, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil || dk != name {
			kept = append(kept, p)
			continue
		}
		if !found {
			value, _ = url.QueryUnescape(v)
		}
		found = true
	}
	if !found {
		return q, "", false
	}
	return strings.Join(kept, "&"), value, true
}

func stripQuery(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

func queryPart(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// recordingBody notes a failure reading the client's body, so that a
// forwarding error it causes is answered as the client's fault (400/413),
// not the upstream's (502).
type recordingBody struct {
	io.ReadCloser
	st *reqState
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.st.bodyErr == nil { //nolint:errorlint // io.EOF is returned unwrapped by contract
		b.st.bodyErr = err
	}
	return n, err
}
