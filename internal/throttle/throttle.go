// Package throttle limits login attempts, as django-axes does for Django:
// failed logins are counted in Redis per username and per client IP over
// a sliding window, and a username or IP that reaches its limit is locked
// for a cool-off period, during which every login for it is refused before
// any password is checked.
//
// # Counting
//
// Each subject (a username, or a client IP) has a sorted set of failure
// timestamps in milliseconds. The window is exact at its edges: a failure
// at time t counts for every check at a time now with t > now - window,
// that is from t up to but excluding t + window (the set is trimmed with
// ZREMRANGEBYSCORE -inf (now - window) before counting).
//
// The failure that makes a subject's count reach its limit locks it for
// the cool-off and clears its count: once the lock ends, the subject
// starts from zero.
//
// Attempts still being checked are bounded too. An admitted attempt sits
// in a second sorted set (pending) until its outcome is known; while a
// subject's failures plus pending attempts fill its limit, further
// attempts are refused for a moment (Decision.Saturated, no lock), so a
// burst of concurrent guesses cannot slip past the limit while the
// password hasher is busy: at most limit passwords are checked for one
// subject before its failures lock it. Legitimate concurrent logins of one
// account are only delayed, never locked out: only failures lock.
//
// Usernames are NFKC-normalized, as the user store does, so Unicode
// variants of one name ("ﬁnn", "finn") share one count, and hashed
// (SHA-256) into the key: the key space never holds what people type into
// the username field (sometimes their password). IPv4 addresses count as
// themselves, IPv6 addresses by their /64, which one client usually holds
// entirely.
//
// Times come from the gateway's clock (keep instances NTP-synchronized).
// Every key of a check shares the hash tag {throttle}, so the scripts also
// run on Redis Cluster. A Redis error is returned wrapped in
// ErrUnavailable: the caller must fail closed.
package throttle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/config"
)

var (
	// ErrLocked is returned by Begin when the username or the client IP
	// is locked out.
	ErrLocked = errors.New("too many failed login attempts")
	// ErrUnavailable wraps a Redis failure: the lock state is unknown, so
	// the login must be refused.
	ErrUnavailable = errors.New("login throttle unavailable")
)

// Config are the limits.
type Config struct {
	// Window is how long a failed attempt counts.
	Window time.Duration
	// UsernameLimit and IPLimit are how many failures within Window lock
	// the username or the client IP.
	UsernameLimit, IPLimit int
	// Cooloff is how long a lock lasts.
	Cooloff time.Duration
}

// Scope names what a lock applies to.
type Scope string

// Scopes.
const (
	ScopeUsername Scope = "username"
	ScopeIP       Scope = "ip"
)

// Limiter counts login attempts in Redis.
type Limiter struct {
	rdb    redis.Scripter
	prefix string // redis.key_prefix + "{throttle}:"
	cfg    Config
	// Now is the clock; tests set it.
	Now func() time.Time
}

// New returns a Limiter over rdb with keys under keyPrefix.
func New(rdb redis.Scripter, keyPrefix string, cfg Config) *Limiter {
	return &Limiter{rdb: rdb, prefix: keyPrefix + "{throttle}:", cfg: cfg, Now: time.Now}
}

// subject is one counted thing: a username or a client IP.
type subject struct {
	scope Scope
	name  string // for messages: the normalized username, or the IP subject
	key   string // its keys are prefix + "f:" (failures), "p:" (pending), "l:" (lock) + key
	limit int
}

func (l *Limiter) user(username string) *subject {
	if username == "" {
		return nil
	}
	n := authn.NormalizeUsername(username)
	sum := sha256.Sum256([]byte(n))
	return &subject{scope: ScopeUsername, name: n, key: "u:" + hex.EncodeToString(sum[:16]), limit: l.cfg.UsernameLimit}
}

func (l *Limiter) ip(clientIP string) *subject {
	s, ok := IPSubject(clientIP)
	if !ok {
		return nil
	}
	return &subject{scope: ScopeIP, name: s, key: "ip:" + s, limit: l.cfg.IPLimit}
}

// IPSubject is what an address counts as: an IPv4 address (also when
// written IPv4-in-IPv6) as itself, an IPv6 address as its /64. ok is false
// when ip is not an address.
func IPSubject(ip string) (string, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String(), true
	}
	p, _ := a.Prefix(64)
	return p.String(), true
}

// keys are the (failures, pending, lock) triples of subs.
func (l *Limiter) keys(subs []*subject) []string {
	keys := make([]string, 0, 3*len(subs))
	for _, s := range subs {
		keys = append(keys, l.prefix+"f:"+s.key, l.prefix+"p:"+s.key, l.prefix+"l:"+s.key)
	}
	return keys
}

// maxPending is how long an attempt may stay pending: one whose gateway
// died mid-check stops counting as in flight after this (its failure, if
// it comes, is still counted).
const maxPending = time.Minute

func (l *Limiter) pendingAge() time.Duration { return min(l.cfg.Window, maxPending) }

// saturatedRetry is the Retry-After of an attempt refused because the
// limit is filled by attempts still being checked.
const saturatedRetry = time.Second

func nonNil(subs ...*subject) []*subject {
	out := subs[:0]
	for _, s := range subs {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// Decision is the outcome of Begin or Failed.
type Decision struct {
	// Locked: the login is refused.
	Locked bool
	// RetryAfter is how long until the longest lock in force ends (a
	// second when Saturated).
	RetryAfter time.Duration
	// Saturated: refused without a lock, because failures and attempts
	// still being checked fill a limit.
	Saturated bool
	// NewLocks are the subjects this call locked (a lockout started now).
	NewLocks []Lockout
}

// Lockout is a lock that just started.
type Lockout struct {
	Scope Scope
	// Subject is the normalized username or the IP subject.
	Subject string
	Cooloff time.Duration
}

// Attempt is one admitted login attempt, pending until its outcome is
// known. A nil *Attempt (throttling disabled) does nothing.
type Attempt struct {
	l      *Limiter
	subs   []*subject
	member string
}

// beginScript checks the locks, then the counts, then adds the attempt
// to the pending set. KEYS are (failures, pending, lock) triples; ARGV:
// now ms, window ms, cooloff ms, pending age ms, attempt id, then one
// limit per triple. Returns {refused (0, 1 locked, 2 saturated), wait ms,
// new-lock bit mask}.
var beginScript = redis.NewScript(`
local now, window, cooloff, pend = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #KEYS / 3
local wait = 0
for i = 1, n do
  local untl = tonumber(redis.call('GET', KEYS[3*i]) or '0') or 0
  if untl - now > wait then wait = untl - now end
end
if wait > 0 then return {1, wait, 0} end
local locked, busy = 0, 0
for i = 1, n do
  local f, p, limit = KEYS[3*i-2], KEYS[3*i-1], tonumber(ARGV[5+i])
  redis.call('ZREMRANGEBYSCORE', f, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', p, '-inf', now - pend)
  local failed = redis.call('ZCARD', f)
  if failed >= limit then
    -- Not locked when it got there (a lower limit since, or a lost reply).
    redis.call('SET', KEYS[3*i], now + cooloff, 'PX', cooloff)
    redis.call('DEL', f)
    locked = locked + 2^(i-1)
  elseif failed + redis.call('ZCARD', p) >= limit then
    busy = 1
  end
end
if locked > 0 then return {1, cooloff, locked} end
if busy > 0 then return {2, 0, 0} end
for i = 1, n do
  redis.call('ZADD', KEYS[3*i-1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[3*i-1], pend)
end
return {0, 0, 0}
`)

// failedScript moves the attempt from pending to failures and locks the
// subjects whose failures reached their limit. KEYS are (failures,
// pending, lock) triples; ARGV: now ms, window ms, cooloff ms, attempt id,
// then one limit per triple. Returns the new-lock bit mask.
var failedScript = redis.NewScript(`
local now, window, cooloff = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local locked = 0
for i = 1, #KEYS / 3 do
  local f, p, l = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  redis.call('ZREM', p, ARGV[4])
  redis.call('ZREMRANGEBYSCORE', f, '-inf', now - window)
  redis.call('ZADD', f, now, ARGV[4])
  redis.call('PEXPIRE', f, window)
  local untl = tonumber(redis.call('GET', l) or '0') or 0
  if untl <= now and redis.call('ZCARD', f) >= tonumber(ARGV[4+i]) then
    redis.call('SET', l, now + cooloff, 'PX', cooloff)
    redis.call('DEL', f)
    locked = locked + 2^(i-1)
  end
end
return locked
`)

// doneScript ends an attempt that did not fail: KEYS are (failures,
// pending, lock) triples, ARGV[1] the attempt id, ARGV[2] "1" to reset the
// failures of the first triple (the username, after a success).
var doneScript = redis.NewScript(`
for i = 1, #KEYS / 3 do
  redis.call('ZREM', KEYS[3*i-1], ARGV[1])
end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
return 0
`)

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Begin is called before a password is checked. It refuses (Decision.Locked,
// with ErrLocked) when the username or the client IP is locked, or, for a
// moment, when failures and attempts still being checked fill a limit;
// otherwise it records the attempt as pending and returns it. An empty
// username counts the IP only. Every admitted attempt must end with
// Failed, Succeeded or Abandon.
func (l *Limiter) Begin(ctx context.Context, username, clientIP string) (*Attempt, Decision, error) {
	subs := nonNil(l.user(username), l.ip(clientIP))
	if len(subs) == 0 {
		return &Attempt{}, Decision{}, nil
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	now := l.Now()
	member := strconv.FormatInt(now.UnixMilli(), 10) + "-" + hex.EncodeToString(id[:])
	args := []any{now.UnixMilli(), ms(l.cfg.Window), ms(l.cfg.Cooloff), ms(l.pendingAge()), member}
	for _, s := range subs {
		args = append(args, s.limit)
	}
	res, err := beginScript.Run(ctx, l.rdb, l.keys(subs), args...).Int64Slice()
	if err != nil {
		return nil, Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(res) != 3 {
		return nil, Decision{}, fmt.Errorf("%w: unexpected reply %v", ErrUnavailable, res)
	}
	switch res[0] {
	case 1:
		d := Decision{Locked: true, RetryAfter: time.Duration(res[1]) * time.Millisecond, NewLocks: l.lockouts(subs, res[2])}
		return nil, d, ErrLocked
	case 2:
		return nil, Decision{Locked: true, Saturated: true, RetryAfter: saturatedRetry}, ErrLocked
	}
	return &Attempt{l: l, subs: subs, member: member}, Decision{}, nil
}

func (l *Limiter) lockouts(subs []*subject, mask int64) []Lockout {
	var out []Lockout
	for i, s := range subs {
		if mask&(1<<i) != 0 {
			out = append(out, Lockout{Scope: s.scope, Subject: s.name, Cooloff: l.cfg.Cooloff})
		}
	}
	return out
}

// Failed is called when the password was wrong (or the user unknown or
// inactive): the attempt counts as a failure, and a subject whose failures
// reached its limit is locked now; the Decision says so (the caller should
// answer as for a locked login).
func (a *Attempt) Failed(ctx context.Context) (Decision, error) {
	if a == nil || a.l == nil {
		return Decision{}, nil
	}
	l := a.l
	args := []any{l.Now().UnixMilli(), ms(l.cfg.Window), ms(l.cfg.Cooloff), a.member}
	for _, s := range a.subs {
		args = append(args, s.limit)
	}
	mask, err := failedScript.Run(ctx, l.rdb, l.keys(a.subs), args...).Int64()
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if mask == 0 {
		return Decision{}, nil
	}
	return Decision{Locked: true, RetryAfter: l.cfg.Cooloff, NewLocks: l.lockouts(a.subs, mask)}, nil
}

// Succeeded is called when the password was right: the username's
// failures are forgotten; the IP's are not. Locks are left alone.
func (a *Attempt) Succeeded(ctx context.Context) error {
	return a.done(ctx, true)
}

// Abandon takes the attempt back without a verdict (the check could not
// complete: the store failed, the client went away).
func (a *Attempt) Abandon(ctx context.Context) error {
	return a.done(ctx, false)
}

func (a *Attempt) done(ctx context.Context, success bool) error {
	if a == nil || a.l == nil {
		return nil
	}
	reset := "0"
	if success && a.subs[0].scope == ScopeUsername {
		reset = "1"
	}
	if err := doneScript.Run(ctx, a.l.rdb, a.l.keys(a.subs), a.member, reset).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Cleared is what Unlock removed for one subject.
type Cleared struct {
	Scope   Scope
	Subject string
	// Failures is how many failures in the window were forgotten.
	Failures int64
	// Remaining is how much of a lock was left (0: not locked).
	Remaining time.Duration
}

// unlockScript returns {failures in window, lock ms left} and deletes
// the subject's keys. KEYS: failures, pending, lock; ARGV: now ms, window
// ms.
var unlockScript = redis.NewScript(`
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local n = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf')
local untl = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local left = untl - now
if left < 0 then left = 0 end
return {n, left}
`)

// UnlockUsername forgets the username's failures and lifts its lock.
func (l *Limiter) UnlockUsername(ctx context.Context, username string) (Cleared, error) {
	s := l.user(username)
	if s == nil {
		return Cleared{}, errors.New("empty username")
	}
	return l.unlock(ctx, s)
}

// UnlockIP forgets the IP's failures (an IPv6 address's /64) and lifts
// its lock.
func (l *Limiter) UnlockIP(ctx context.Context, ip string) (Cleared, error) {
	s := l.ip(ip)
	if s == nil {
		return Cleared{}, fmt.Errorf("%q is not an IP address", ip)
	}
	return l.unlock(ctx, s)
}

func (l *Limiter) unlock(ctx context.Context, s *subject) (Cleared, error) {
	res, err := unlockScript.Run(ctx, l.rdb, l.keys([]*subject{s}), l.Now().UnixMilli(), ms(l.cfg.Window)).Int64Slice()
	if err != nil {
		return Cleared{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(res) != 2 {
		return Cleared{}, fmt.Errorf("%w: unexpected reply %v", ErrUnavailable, res)
	}
	return Cleared{Scope: s.scope, Subject: s.name, Failures: res[0], Remaining: time.Duration(res[1]) * time.Millisecond}, nil
}

// ConfigFrom is the throttle section of the configuration as a Config.
func ConfigFrom(c config.Throttle) Config {
	return Config{Window: c.Window, UsernameLimit: c.UsernameLimit, IPLimit: c.IPLimit, Cooloff: c.Cooloff}
}
