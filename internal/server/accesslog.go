package server

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// statusWriter records the status and size of a response for the access
// log and metrics. It keeps the optional interfaces the proxy and gin use
// (Flush, Hijack, Unwrap for http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one line per request, after it is answered: method,
// canonical path (never the query), status, bytes, duration, request id,
// user, backend, client address and upstream. Never headers, cookies or
// tokens.
func (s *Server) accessLog(next http.Handler) http.Handler {
	on := s.cfg.Log.AccessOn()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		st := state(r)
		d := time.Since(start)
		if sw.status == 0 && r.Context().Err() != nil {
			sw.status = 499 // nothing written: the client went away (nginx's "client closed request")
		}
		upstream := ""
		if st.upstream != nil {
			upstream = st.upstream.Name()
		}
		if s.metrics != nil {
			s.metrics.Request(upstream, sw.status, d)
		}
		if !on {
			return
		}
		path := st.path
		if path == "" {
			path = "(not canonical)"
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "access",
			slog.String("request_id", st.id), slog.String("method", r.Method), slog.String("path", path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes), slog.Duration("duration", d),
			slog.String("user", st.principal.Username()), slog.String("backend", st.principal.Backend),
			slog.String("client_ip", clientIP(r)), slog.String("upstream", upstream))
	})
}

// validRequestID accepts a trusted proxy's request id: 1 to 128 bytes of
// letters, digits, "-", "_", ".", ":".
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// requestID gives every request an id, carried on the response and to
// the upstream: a trusted proxy's X-Request-Id (so one id follows the
// request end to end), or 128 random bits.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if v := r.Header.Values("X-Request-Id"); len(v) == 1 && validRequestID(v[0]) {
			if a, err := netip.ParseAddr(peerIP(r)); err == nil && s.proxies.trusts(a) {
				id = v[0]
			}
		}
		if id == "" {
			buf := make([]byte, 16)
			_, _ = rand.Read(buf)
			id = hex.EncodeToString(buf)
		}
		st := &reqState{id: id, principal: anonymous()}
		w.Header().Set("X-Request-Id", st.id)
		r.Header.Set("X-Request-Id", st.id) // replaces any other value on its way upstream
		next.ServeHTTP(w, r.WithContext(withState(r.Context(), st)))
	})
}
