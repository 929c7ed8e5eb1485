package server

import (
	"net/http"
	"net/http/pprof"
	"time"
)

// Metrics records what the gateway does (internal/metrics.Metrics).
type Metrics interface {
	Request(upstream string, status int, d time.Duration)
	Decision(result, reasonClass string, d time.Duration)
	Authn(backend, outcome string, d time.Duration)
	Upstream(upstream string, d time.Duration)
	UpstreamError(upstream, kind string)
	Login(outcome string)
	Lockout()
	SessionCreated()
	SessionRevoked(n int)
	// Handler serves the metrics in Prometheus's text format.
	Handler() http.Handler
}

// OpsHandler serves the operations listener (ops.listen), apart from the
// traffic: GET /healthz (the process answers), GET /readyz (Redis answers
// a PING within a second and a policy is loaded: 200, else 503 with the
// reason), GET /metrics (when Options.Metrics is set) and, with
// ops.pprof, Go's profiles under /debug/pprof/.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics.Handler())
	}
	if s.cfg.Ops.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// readyz is ready when Redis answers and a policy is loaded; otherwise
// 503 with what is missing (never a secret: errors are redacted).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rep := map[string]any{"status": "ready"}
	code := http.StatusOK
	if s.redisPing != nil {
		if err := s.pingRedis(r.Context()); err != nil {
			rep["redis"], rep["status"], code = s.redact(err.Error()), "not_ready", http.StatusServiceUnavailable
		}
	}
	if s.policyStatus != nil {
		if st := s.policyStatus.Status(); st.Revision == "" && st.LoadedAt.IsZero() {
			rep["policy"], rep["status"], code = "no policy loaded", "not_ready", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, rep)
}
