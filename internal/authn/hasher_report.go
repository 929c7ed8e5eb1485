package authn

import (
	"log/slog"
	"sync"
)

// maxReportedHashProblems bounds the usernames remembered as already
// reported, so a flood of logins cannot grow memory.
const maxReportedHashProblems = 10_000

// hashProblemLog logs stored password hashes that can never verify
// (malformed, or of an algorithm not enabled), once per username.
type hashProblemLog struct {
	mu       sync.Mutex
	log      *slog.Logger        // nil: slog.Default()
	reported map[string]struct{} // usernames already reported
	full     bool                // said that no more are reported
}

// SetLogger sets the logger for problems Authenticate finds: a stored
// password hash that is malformed or of an algorithm not enabled. Until
// then the Store logs through slog.Default().
func (s *Store) SetLogger(l *slog.Logger) {
	s.problems.mu.Lock()
	defer s.problems.mu.Unlock()
	s.problems.log = l
}

// report logs one warning per username naming the reason, never the hash.
// Once maxReportedHashProblems usernames were reported it says so once and
// reports no more.
func (p *hashProblemLog) report(u *User, problem error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, done := p.reported[u.Username]; done || p.full {
		return
	}
	log := p.log
	if log == nil {
		log = slog.Default()
	}
	if len(p.reported) >= maxReportedHashProblems {
		p.full = true
		log.Warn("stored password hash problems: too many users to report, further ones are not logged", "limit", maxReportedHashProblems)
		return
	}
	if p.reported == nil {
		p.reported = make(map[string]struct{})
	}
	p.reported[u.Username] = struct{}{}
	log.Warn("stored password hash can never verify; the user cannot log in with a password until it is reset",
		"username", u.Username, "user_id", u.ID, "reason", problem.Error())
}
