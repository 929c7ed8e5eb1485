// Package sessionstore keeps login sessions in Redis. A session id is a
// 256-bit random value given to the client in a cookie; Redis stores the
// session under the SHA-256 of the id, so a dump of Redis yields no usable
// cookie.
//
// Key layout, with P the configured prefix (redis.key_prefix). Sessions
// share the {auth} hash tag with the identity keys of package authn (see
// authn.Store), so that they live in the same Redis Cluster slot: the
// per-request script below reads a session together with its user's
// record, groups and permissions, and authn's scripts end a user's
// sessions in the same script that deactivates or deletes the user or
// changes their password. Both are legal in a Cluster only because every
// key they touch carries that tag.
//
//	P{auth}:s:<sha256 hex of id>   HASH uid, backend, created, last (Unix ms:
//	                               creation and last recorded activity), ip,
//	                               ua, ah (the session auth hash); expires
//	                               when the session does
//	P{auth}:user:<uid>:sessions    ZSET the user's sessions: the sha256 hex of
//	                               each id, scored by its expiry (Unix ms);
//	                               expired members are pruned on every write
//	                               and list, and the key expires with its
//	                               last member
//
// A session has an absolute lifetime (Lifetime.MaxAge from its creation)
// and optionally an idle timeout (Lifetime.Idle from its last recorded
// activity). Last activity is written back at most every Lifetime.Refresh,
// by the same script that reads the session, so keeping a session alive
// costs no extra round trip and, within the interval, no write at all.
package sessionstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
)

// Sentinel errors. Redis's own errors never leak past this package.
var (
	// ErrNotFound means no live session has that id (expired, deleted,
	// ended, never issued, or its user no longer exists).
	ErrNotFound = errors.New("session not found")
	// ErrUnavailable means Redis could not be reached or answered with an
	// error; callers must fail closed.
	ErrUnavailable = errors.New("session store unavailable")
	// ErrCorrupt means the stored session could not be decoded.
	ErrCorrupt = errors.New("stored session is corrupt")
	// ErrAmbiguous means an id prefix names more than one session.
	ErrAmbiguous = errors.New("the id prefix matches more than one session")
)

// idBytes is the entropy of a session id.
const idBytes = 32

// Id prefixes: List shows ShownPrefix hex digits of the SHA-256 of a
// session id (never the id, nor its whole hash); Revoke accepts any
// prefix of at least MinPrefix of them.
const (
	ShownPrefix = 12
	MinPrefix   = 6
)

// Session is what the gateway remembers about one login.
type Session struct {
	UserID  int64
	Backend string
	// CreatedAt is when the user logged in; the absolute lifetime counts
	// from it. LastActivity is the last activity written back (at most
	// every Lifetime.Refresh); the idle timeout counts from it.
	CreatedAt    time.Time
	LastActivity time.Time
	ClientIP     string
	UserAgent    string
	// AuthHash binds the session to the user's credentials
	// (authn.SessionAuthHash); the caller compares it on every request.
	AuthHash string
}

// Lifetime bounds sessions (the session.* settings).
type Lifetime struct {
	// MaxAge is the absolute lifetime, from CreatedAt. Required.
	MaxAge time.Duration
	// Idle ends a session whose last activity is older; 0 turns it off.
	Idle time.Duration
	// Refresh is how often at most last activity (and with Idle the
	// expiry) is written back; 0 writes on every read.
	Refresh time.Duration
}

// Expiry is when a session created at created, last active at last, ends.
func (l Lifetime) Expiry(created, last time.Time) time.Time {
	exp := created.Add(l.MaxAge)
	if l.Idle > 0 {
		if idle := last.Add(l.Idle); idle.Before(exp) {
			exp = idle
		}
	}
	return exp
}

// Store reads and writes sessions in Redis.
type Store struct {
	rdb   redis.UniversalClient
	base  string // P{auth}:
	perms string // the known permissions, for the per-request script
}

// New returns a Store writing keys under keyPrefix + "{auth}:".
func New(rdb redis.UniversalClient, keyPrefix string) *Store {
	base := authn.KeyBase(keyPrefix)
	return &Store{rdb: rdb, base: base, perms: authn.KnownPermsKey(base)}
}

// ValidID reports whether id has the shape of an id this package issues.
// Cookies that fail it are treated as absent without a Redis lookup.
func ValidID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (s *Store) key(id string) string { return authn.SessionKey(s.base, hashID(id)) }

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func durMS(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 0), 10) }

// unavailable wraps a Redis failure in ErrUnavailable. redis.Nil (which
// no script here returns) never escapes.
func unavailable(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: unexpected nil reply: %w", op, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
}

// Lua shared by the scripts. expire_index makes the index expire with its
// latest member, so the index of a user whose sessions all expire on their
// own disappears too.
const luaIndex = `
local function expire_index(idx)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if #top == 2 then redis.call('PEXPIREAT', idx, string.format('%d', tonumber(top[2]))) end
end
`

var (
	// createScript: KEYS session, index; ARGV member, expiry (ms), now
	// (ms), field, value, ... Refuses an existing id.
	createScript = redis.NewScript(luaIndex + `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('SESSION_EXISTS') end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
expire_index(KEYS[2])
return 1
`)

	// loadScript: KEYS session, known permissions; ARGV base, member,
	// now, max age, idle timeout, refresh interval (all ms). Returns
	// {"ok", session hash, user hash, groups, direct perms, groups' perms,
	// known perms, refreshed (0/1)}, or {"none"}, {"expired"} (deleted
	// now), {"nouser"} (the user is gone; deleted now), {"corrupt"}.
	loadScript = redis.NewScript(authn.LuaLoadPrincipal + luaIndex + `
local h = redis.pcall('HGETALL', KEYS[1])
if h.err then return {'corrupt'} end
if #h == 0 then return {'none'} end
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
local uid, created, last = f['uid'], tonumber(f['created']), tonumber(f['last'])
if not uid or #uid > 15 or not string.match(uid, '^[1-9][0-9]*$') or not created or not last then
  return {'corrupt'}
end
local base, member = ARGV[1], ARGV[2]
local now, maxage, idle, refresh = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local idx = base .. 'user:' .. uid .. ':sessions'
local deadline = created + maxage
if idle > 0 and last + idle < deadline then deadline = last + idle end
if now >= deadline then
  redis.call('DEL', KEYS[1])
  redis.pcall('ZREM', idx, member)
  return {'expired'}
end
local p = load_principal(base .. 'user:' .. uid, KEYS[2], base)
if not p then
  redis.call('DEL', KEYS[1])
  redis.pcall('ZREM', idx, member)
  return {'nouser'}
end
local refreshed = 0
if now - last >= refresh then
  local exp = created + maxage
  if idle > 0 and now + idle < exp then exp = now + idle end
  exp = string.format('%d', exp)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', ARGV[3])
  redis.call('ZADD', idx, exp, member)
  expire_index(idx)
  redis.call('HSET', KEYS[1], 'last', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], exp)
  refreshed = 1
end
return {'ok', h, p[1], p[2], p[3], p[4], p[5], refreshed}
`)

	// deleteScript: KEYS session; ARGV base, member. Deletes the session
	// and its index entry.
	deleteScript = redis.NewScript(`
local uid = redis.pcall('HGET', KEYS[1], 'uid')
if type(uid) == 'string' and #uid <= 15 and string.match(uid, '^[1-9][0-9]*$') then
  redis.pcall('ZREM', ARGV[1] .. 'user:' .. uid .. ':sessions', ARGV[2])
end
return redis.call('DEL', KEYS[1])
`)

	// listScript: KEYS index; ARGV base, now (ms). Prunes, then returns
	// {member, expiry, session hash, ...} for the live sessions.
	listScript = redis.NewScript(luaIndex + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local out = {}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local m = members[i]
  local h = redis.pcall('HGETALL', ARGV[1] .. 's:' .. m)
  if h.err then h = {'corrupt', '1'} end -- listed, as corrupt
  if #h == 0 then
    redis.call('ZREM', KEYS[1], m) -- gone: expired or deleted
  else
    out[#out + 1] = m
    out[#out + 1] = members[i + 1]
    out[#out + 1] = h
  end
end
expire_index(KEYS[1])
return out
`)

	// revokeScript: KEYS index; ARGV base, id-hash prefix ("" for all),
	// now (ms). Deletes the matching sessions and returns how many there
	// were, or -n when a non-empty prefix matches n > 1 (nothing deleted).
	revokeScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local match = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, #ARGV[2]) == ARGV[2] then match[#match + 1] = m end
end
if ARGV[2] ~= '' and #match > 1 then return -#match end
local n = 0
for _, m in ipairs(match) do
  n = n + redis.call('DEL', ARGV[1] .. 's:' .. m)
  redis.call('ZREM', KEYS[1], m)
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return n
`)
)

// Create stores sess under a fresh random id and returns the id. It never
// reuses an id a client brought. A zero CreatedAt means now, a zero
// LastActivity means CreatedAt. The session expires at lt.Expiry; it is
// added to its user's index, whose expired members are pruned.
func (s *Store) Create(ctx context.Context, sess *Session, lt Lifetime) (string, error) {
	const op = "create session"
	if sess == nil || sess.UserID <= 0 {
		return "", errors.New(op + ": no user")
	}
	if lt.MaxAge <= 0 {
		return "", fmt.Errorf("%s: max age must be positive, got %s", op, lt.MaxAge)
	}
	now := time.Now()
	created := sess.CreatedAt
	if created.IsZero() {
		created = now
	}
	last := sess.LastActivity
	if last.IsZero() {
		last = created
	}
	exp := lt.Expiry(created, last)
	if !exp.After(now) {
		return "", fmt.Errorf("%s: it would already have expired at %s", op, exp.UTC().Format(time.RFC3339))
	}
	buf := make([]byte, idBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("%s: random id: %w", op, err)
	}
	id := base64.RawURLEncoding.EncodeToString(buf)
	member := hashID(id)
	args := []any{
		member, ms(exp), ms(now),
		"uid", strconv.FormatInt(sess.UserID, 10), "backend", sess.Backend,
		"created", ms(created), "last", ms(last),
		"ip", sess.ClientIP, "ua", sess.UserAgent, "ah", sess.AuthHash,
	}
	keys := []string{authn.SessionKey(s.base, member), authn.UserSessionsKey(s.base, sess.UserID)}
	if err := createScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "SESSION_EXISTS") {
			// 2^-256: a broken random source, not bad luck
			return "", errors.New(op + ": id collision; refusing to reuse an existing session")
		}
		return "", unavailable(op, err)
	}
	return id, nil
}

// Load is the per-request read: in one Redis round trip (one script) it
// reads the session with that id, checks its lifetimes against now, loads
// its user's principal (record, groups, effective permissions) and, when
// lt.Refresh has passed since the last write-back, records now as the last
// activity and extends the expiry (with lt.Idle). An expired session, or
// one whose user no longer exists, is deleted and is ErrNotFound; a
// malformed one is ErrCorrupt. A malformed user record wraps
// authn.ErrUnavailable, as authn.Store.LoadPrincipal. Checking the
// session's AuthHash and the user's is_active is the caller's.
func (s *Store) Load(ctx context.Context, id string, now time.Time, lt Lifetime) (*Session, *authn.Principal, error) {
	const op = "load session"
	if !ValidID(id) {
		return nil, nil, ErrNotFound
	}
	member := hashID(id)
	res, err := loadScript.Run(ctx, s.rdb, []string{authn.SessionKey(s.base, member), s.perms},
		s.base, member, ms(now), durMS(lt.MaxAge), durMS(lt.Idle), durMS(lt.Refresh)).Slice()
	if err != nil {
		return nil, nil, unavailable(op, err)
	}
	var status string
	if len(res) > 0 {
		status, _ = res[0].(string)
	}
	switch {
	case status == "none":
		return nil, nil, ErrNotFound
	case status == "expired":
		return nil, nil, fmt.Errorf("%s: expired: %w", op, ErrNotFound)
	case status == "nouser":
		return nil, nil, fmt.Errorf("%s: its user no longer exists: %w", op, ErrNotFound)
	case status != "ok" || len(res) != 8:
		return nil, nil, fmt.Errorf("%s: %w", op, ErrCorrupt)
	}
	sess, err := parseSession(res[1])
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if n, _ := res[7].(int64); n == 1 {
		sess.LastActivity = time.UnixMilli(now.UnixMilli()).UTC()
	}
	p, err := authn.DecodePrincipal(sess.UserID, sess.Backend, res[2:7])
	if err != nil {
		return nil, nil, err
	}
	return sess, p, nil
}

// parseSession decodes a session hash (a flat field/value list).
func parseSession(v any) (*Session, error) {
	f, ok := authn.PairsToMap(v)
	if !ok {
		return nil, ErrCorrupt
	}
	return sessionFromMap(f)
}

func sessionFromMap(f map[string]string) (*Session, error) {
	uid, err1 := strconv.ParseInt(f["uid"], 10, 64)
	created, err2 := strconv.ParseInt(f["created"], 10, 64)
	last, err3 := strconv.ParseInt(f["last"], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || uid <= 0 || f["backend"] == "" || f["ah"] == "" {
		return nil, ErrCorrupt
	}
	return &Session{
		UserID: uid, Backend: f["backend"],
		CreatedAt: time.UnixMilli(created).UTC(), LastActivity: time.UnixMilli(last).UTC(),
		ClientIP: f["ip"], UserAgent: f["ua"], AuthHash: f["ah"],
	}, nil
}

// Get returns the stored session with that id, ErrNotFound, ErrCorrupt or
// ErrUnavailable. It only reads: it neither checks the lifetimes (Load
// does) nor records activity. For tools and tests.
func (s *Store) Get(ctx context.Context, id string) (*Session, error) {
	const op = "get session"
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	m, err := s.rdb.HGetAll(ctx, s.key(id)).Result()
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "WRONGTYPE") {
			return nil, fmt.Errorf("%s: %w", op, ErrCorrupt)
		}
		return nil, unavailable(op, err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	sess, err := sessionFromMap(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return sess, nil
}

// Delete removes the session and its index entry; deleting a missing
// session is not an error.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return nil
	}
	member := hashID(id)
	if err := deleteScript.Run(ctx, s.rdb, []string{authn.SessionKey(s.base, member)}, s.base, member).Err(); err != nil {
		return unavailable("delete session", err)
	}
	return nil
}

// TTL returns the remaining lifetime of the session in Redis (for tests
// and tools).
func (s *Store) TTL(ctx context.Context, id string) (time.Duration, error) {
	if !ValidID(id) {
		return 0, ErrNotFound
	}
	d, err := s.rdb.PTTL(ctx, s.key(id)).Result()
	if err != nil {
		return 0, unavailable("session ttl", err)
	}
	if d < 0 {
		return 0, ErrNotFound
	}
	return d, nil
}

// Info is one session of a user, as List shows it.
type Info struct {
	// IDPrefix is the first ShownPrefix hex digits of the SHA-256 of the
	// session id: enough to revoke it, useless as a cookie.
	IDPrefix string
	// Session is the stored session; nil when it is corrupt.
	Session   *Session
	ExpiresAt time.Time
}

// List returns the user's live sessions, oldest first, after pruning the
// index of expired and vanished ones.
func (s *Store) List(ctx context.Context, userID int64, now time.Time) ([]Info, error) {
	const op = "list sessions"
	res, err := listScript.Run(ctx, s.rdb, []string{authn.UserSessionsKey(s.base, userID)}, s.base, ms(now)).Slice()
	if err != nil {
		return nil, unavailable(op, err)
	}
	if len(res)%3 != 0 {
		return nil, fmt.Errorf("%s: unexpected reply: %w", op, ErrCorrupt)
	}
	out := make([]Info, 0, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		member, _ := res[i].(string)
		score, _ := res[i+1].(string)
		expMS, _ := strconv.ParseFloat(score, 64)
		info := Info{IDPrefix: member[:min(len(member), ShownPrefix)], ExpiresAt: time.UnixMilli(int64(expMS)).UTC()}
		if sess, err := parseSession(res[i+2]); err == nil {
			info.Session = sess
		}
		out = append(out, info)
	}
	slices.SortStableFunc(out, func(a, b Info) int {
		switch {
		case a.Session == nil && b.Session == nil:
			return 0
		case a.Session == nil: // corrupt ones last
			return 1
		case b.Session == nil:
			return -1
		default:
			return a.Session.CreatedAt.Compare(b.Session.CreatedAt)
		}
	})
	return out, nil
}

// ValidPrefix reports whether p can name a session for Revoke: at least
// MinPrefix lower-case hex digits, at most a whole SHA-256.
func ValidPrefix(p string) bool {
	if len(p) < MinPrefix || len(p) > 2*sha256.Size {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Revoke ends the user's session whose IDPrefix starts with prefix and
// returns 1; ErrNotFound when none does, ErrAmbiguous (nothing ended) when
// several do.
func (s *Store) Revoke(ctx context.Context, userID int64, prefix string) (int, error) {
	if !ValidPrefix(prefix) {
		return 0, fmt.Errorf("revoke session: id prefix must be %d to %d lower-case hex digits, got %q", MinPrefix, 2*sha256.Size, prefix)
	}
	return s.revoke(ctx, userID, prefix)
}

// RevokeAll ends all of the user's sessions and returns how many there
// were.
func (s *Store) RevokeAll(ctx context.Context, userID int64) (int, error) {
	return s.revoke(ctx, userID, "")
}

func (s *Store) revoke(ctx context.Context, userID int64, prefix string) (int, error) {
	const op = "revoke session"
	n, err := revokeScript.Run(ctx, s.rdb, []string{authn.UserSessionsKey(s.base, userID)}, s.base, prefix, ms(time.Now())).Int()
	switch {
	case err != nil:
		return 0, unavailable(op, err)
	case n < 0:
		return 0, fmt.Errorf("%s: %d sessions start with %q: %w", op, -n, prefix, ErrAmbiguous)
	case n == 0 && prefix != "":
		return 0, fmt.Errorf("%s: no session starts with %q: %w", op, prefix, ErrNotFound)
	}
	return n, nil
}
