package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/authz"
)

// healthTimeout bounds the Redis PING of one health check.
const healthTimeout = time.Second

// PolicyStatus reports the policy in force and the outcome of its last
// reload (authz.Engine).
type PolicyStatus interface {
	Status() authz.Status
}

// RedisPinger checks that Redis answers. For a go-redis client:
// PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }).
type RedisPinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to RedisPinger.
type PingFunc func(ctx context.Context) error

// Ping calls f.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// healthReport is the document GET {prefix}/healthz answers. A part whose
// source was not given in Options is left out.
type healthReport struct {
	Status string        `json:"status"` // "ok" or "unavailable"
	Redis  *redisHealth  `json:"redis,omitempty"`
	Policy *policyHealth `json:"policy,omitempty"`
}

type redisHealth struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

type policyHealth struct {
	Revision        string `json:"revision"`
	LoadedAt        string `json:"loaded_at"`
	LastReloadAt    string `json:"last_reload_at"`
	LastReloadError string `json:"last_reload_error"`
}

// healthz answers GET and HEAD {prefix}/healthz without identifying the
// client or asking the policy: 200 when Redis answers a PING within
// healthTimeout, 503 otherwise, with the policy revision in force and the
// outcome of the last reload. A failed reload does not make the gateway
// unhealthy: the previous policy keeps serving. The report holds no
// secret (the Redis password is removed from any error).
func (s *Server) healthz(c *gin.Context) {
	rep := healthReport{Status: "ok"}
	if s.redisPing != nil {
		rh := &redisHealth{OK: true}
		if err := s.pingRedis(c.Request.Context()); err != nil {
			rh.OK, rh.Error = false, s.redact(err.Error())
			rep.Status = "unavailable"
		}
		rep.Redis = rh
	}
	if s.policyStatus != nil {
		st := s.policyStatus.Status()
		rep.Policy = &policyHealth{
			Revision:        st.Revision,
			LoadedAt:        rfc3339(st.LoadedAt),
			LastReloadAt:    rfc3339(st.LastReloadAt),
			LastReloadError: st.LastReloadError,
		}
	}
	code := http.StatusOK
	if rep.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(c.Writer, code, rep)
}

// pingRedis pings within healthTimeout. The ping runs apart so that a
// client that does not honour the context deadline cannot hold the
// health check longer.
func (s *Server) pingRedis(ctx context.Context) (err error) {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- errors.New("redis ping failed")
			}
		}()
		done <- s.redisPing.Ping(ctx)
	}()
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return errors.New("redis did not answer PING within " + healthTimeout.String())
	}
}

// redact removes the Redis password from msg, should a client ever
// include it in an error.
func (s *Server) redact(msg string) string {
	if pw := s.cfg.Redis.Password; pw != "" {
		msg = strings.ReplaceAll(msg, pw, "***")
	}
	return msg
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
