package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/djangate/gateway/internal/audit"
	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/throttle"
)

// Throttle limits login attempts (throttle.Limiter).
type Throttle interface {
	Begin(ctx context.Context, username, clientIP string) (*throttle.Attempt, throttle.Decision, error)
}

// userLookup finds a user by name, to put the user id of a failed login
// in its audit event (authn.Store has it).
type userLookup interface {
	GetUserByUsername(ctx context.Context, username string) (*authn.User, error)
}

// lockedMessage is the one answer to a locked login, whoever the user and
// whatever the password.
const lockedMessage = "Too many failed sign-in attempts. Try again later."

// beginLogin checks the login throttle before any password is checked. A
// locked username or client IP is answered 429 with Retry-After, the same
// answer whether the password is right or the user exists; the hasher is
// not run at all. So is, for a second, an attempt while failures and
// other attempts still being checked fill a limit. If the throttle cannot tell (Redis down), the login is
// refused (503): it fails closed. ok is false when the request has been
// answered.
func (s *Server) beginLogin(c *gin.Context, username string) (att *throttle.Attempt, ok bool) {
	if s.throttle == nil {
		return nil, true
	}
	r := c.Request
	att, d, err := s.throttle.Begin(r.Context(), username, clientIP(r))
	switch {
	case errors.Is(err, throttle.ErrLocked):
		reason := "locked_out"
		if d.Saturated {
			// Failures and attempts still being checked fill a limit: a
			// burst of guesses waits for their outcome (no lock).
			reason = "attempts_in_progress"
		}
		s.refuseLocked(c, username, d, reason)
		return nil, false
	case err != nil:
		s.log.Error("login refused: the login throttle cannot reach Redis", "request_id", state(r).id, "error", err)
		s.fail(c, err)
		return nil, false
	}
	return att, true
}

// loginFailed counts a wrong password (unknown or inactive user). When
// that reaches a limit, the login is answered as locked and answered is
// true; otherwise the caller answers, then calls recordLoginFailed.
func (s *Server) loginFailed(c *gin.Context, att *throttle.Attempt, username string) (answered bool) {
	r := c.Request
	d, err := att.Failed(r.Context())
	if err != nil {
		// The attempt is already counted; the next one locks if due.
		s.log.Warn("login throttle: could not check the limits after a failed login", "request_id", state(r).id, "error", err)
	}
	if !d.Locked {
		return false
	}
	s.refuseLocked(c, username, d, "invalid_credentials")
	return true
}

// refuseLocked answers 429 and records the refused login and the
// lockouts that start now.
func (s *Server) refuseLocked(c *gin.Context, username string, d throttle.Decision, reason string) {
	r := c.Request
	secs := int64((d.RetryAfter + time.Second - 1) / time.Second)
	c.Header("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	s.fail(c, throttle.ErrLocked)
	s.recordLoginFailed(c, username, reason)
	for _, lo := range d.NewLocks {
		if s.metrics != nil {
			s.metrics.Lockout()
		}
		s.log.Warn("login locked out", "request_id", state(r).id, "scope", string(lo.Scope), "subject", lo.Subject, "cooloff", lo.Cooloff.String())
		s.record(r, audit.LockedOut, username, 0, map[string]string{
			"scope": string(lo.Scope), "subject": lo.Subject, "cooloff_seconds": strconv.FormatInt(int64(lo.Cooloff/time.Second), 10),
		})
	}
}

// recordLoginFailed records a failed login after its answer is sent, so
// looking up the user id (for a wrong password of an existing user) adds
// nothing to the answer's timing. A locked attempt does not look.
func (s *Server) recordLoginFailed(c *gin.Context, username, reason string) {
	r := c.Request
	if s.metrics != nil {
		if reason == "invalid_credentials" {
			s.metrics.Login("failure")
		} else {
			s.metrics.Login("locked")
		}
	}
	c.Writer.Flush()
	var id int64
	if lu, ok := s.users.(userLookup); ok && reason == "invalid_credentials" && username != "" && len(username) <= 150 {
		if u, err := lu.GetUserByUsername(r.Context(), authn.NormalizeUsername(username)); err == nil {
			id = u.ID
		}
	}
	s.record(r, audit.LoginFailed, username, id, map[string]string{"reason": reason})
}

// loginSucceeded resets the username's failure count (the IP's stays).
func (s *Server) loginSucceeded(c *gin.Context, att *throttle.Attempt) {
	if s.metrics != nil {
		s.metrics.Login("success")
	}
	if err := att.Succeeded(c.Request.Context()); err != nil {
		s.log.Warn("login throttle: could not reset the failure count after a login", "request_id", state(c.Request).id, "error", err)
	}
}

// abandonLogin takes back an attempt whose check could not complete.
func (s *Server) abandonLogin(c *gin.Context, att *throttle.Attempt) {
	if err := att.Abandon(c.Request.Context()); err != nil {
		s.log.Warn("login throttle: could not take back an unfinished attempt", "request_id", state(c.Request).id, "error", err)
	}
}

// record records an audit event about r: client IP, user agent and
// request id come from the request. fields are event-specific and never
// hold secrets (passwords, hashes, session ids, tokens).
func (s *Server) record(r *http.Request, name, username string, userID int64, fields map[string]string) {
	s.audit.Record(r.Context(), audit.Event{
		Name: name, Username: username, UserID: userID,
		ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: state(r).id,
		Source: audit.SourceServer, Fields: fields,
	})
}

// loginGuards wires the throttle, the auditor and the trusted proxies.
func (s *Server) loginGuards(o Options) error {
	s.audit = o.Audit
	if s.audit == nil {
		s.audit = audit.Nop{}
	}
	if o.Config.Throttle.On() {
		if o.Throttle == nil {
			return errors.New("server: throttle.enabled needs Options.Throttle")
		}
		s.throttle = o.Throttle
	}
	p, err := parseTrustedProxies(o.Config.TrustedProxies)
	if err != nil {
		return errors.New("server: " + err.Error())
	}
	s.proxies = p
	return nil
}
