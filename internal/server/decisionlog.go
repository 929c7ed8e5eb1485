package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/djangate/gateway/internal/authz"
	"github.com/djangate/gateway/internal/config"
)

// maskedValue replaces a field named in decision_log.mask.
const maskedValue = "***"

// Mask bits, one per maskable field (config.DecisionLogMaskable).
const (
	maskUser = 1 << iota
	maskPath
	maskClientIP
	maskReason
)

// decisionLog writes one JSON line per policy decision to its own writer,
// apart from the process log. A nil *decisionLog is disabled and costs
// nothing. It records only the fields below: never headers, cookies, the
// query string (it can hold tokens) or passwords; a failed decision's
// error is written as a fixed category, since evaluation errors can quote
// input values.
type decisionLog struct {
	log    *slog.Logger
	sample float64 // fraction of allowed decisions logged
	mask   int
}

// revisioner is implemented by deciders that can name the policy in
// force (authz.Engine).
type revisioner interface{ Revision() string }

// newDecisionLog returns nil when the decision log is disabled.
func newDecisionLog(cfg config.DecisionLog, w io.Writer) (*decisionLog, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if w == nil {
		return nil, errors.New("server: decision_log.enabled needs Options.DecisionLog")
	}
	l := &decisionLog{sample: 1}
	if cfg.SampleRate != nil {
		l.sample = *cfg.SampleRate
	}
	for _, m := range cfg.Mask {
		switch m {
		case "user":
			l.mask |= maskUser
		case "path":
			l.mask |= maskPath
		case "client_ip":
			l.mask |= maskClientIP
		case "reason":
			l.mask |= maskReason
		}
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{} // a decision line is its fields only
			}
			return a
		},
	})
	l.log = slog.New(h)
	return l, nil
}

// decisionEntry is what authorize knows about one decision.
type decisionEntry struct {
	requestID, user, method, path, clientIP, upstream string
	decision                                          authz.Decision
	err                                               error
	revision                                          string
	eval                                              time.Duration
}

// sampled reports whether a decision with this outcome is logged: every
// denial and failure, and sample of the allowed ones.
func (l *decisionLog) sampled(allow bool) bool {
	if l == nil {
		return false
	}
	return !allow || l.sample >= 1 || (l.sample > 0 && rand.Float64() < l.sample)
}

func (l *decisionLog) write(e *decisionEntry) {
	allow := e.err == nil && e.decision.Allow
	reason := e.decision.Reason
	attrs := [13]slog.Attr{
		slog.String("request_id", e.requestID),
		slog.String("user", l.masked(maskUser, e.user)),
		slog.String("method", e.method),
		slog.String("path", l.masked(maskPath, e.path)),
		slog.String("client_ip", l.masked(maskClientIP, e.clientIP)),
		slog.String("upstream", e.upstream),
		slog.Bool("allow", allow),
		slog.String("reason", l.masked(maskReason, reason)),
		slog.String("policy_revision", e.revision),
		slog.Float64("eval_ms", float64(e.eval.Microseconds())/1000),
	}
	n := 10
	if e.decision.Memoized {
		attrs[n] = slog.Bool("memoized", true)
		n++
	}
	if e.err != nil {
		attrs[n] = slog.String("error", errorCategory(e.err))
		n++
	}
	l.log.LogAttrs(context.Background(), slog.LevelInfo, "", attrs[:n]...)
}

func (l *decisionLog) masked(bit int, v string) string {
	if l.mask&bit != 0 {
		return maskedValue
	}
	return v
}

// errorCategory names a decision failure without its message, which can
// quote input values (a policy's built-in error, a malformed result).
func errorCategory(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, authz.ErrUndefined):
		return "undefined decision"
	case errors.Is(err, authz.ErrInvalidInput):
		return "invalid input"
	case errors.Is(err, authz.ErrPolicy):
		return "policy error"
	}
	return "error"
}
