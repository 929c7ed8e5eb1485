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
//	P{auth}:s:<key id>   HASH u (user id), b (backend), c and l (Unix ms:
//	                     creation and last recorded activity), ip, ua (the
//	                     user agent, at most MaxUserAgent bytes, split
//	                     into ua, ua2, ua3, ua4 of at most 64 bytes each
//	                     as needed), ah (the session auth hash); expires
//	                     when the session does
//	P{auth}:user:<uid>   the user's HASH (package authn) holds the user's
//	                     session index: a field s:<key id> per session,
//	                     valued with its expiry (Unix ms); expired entries
//	                     are pruned on every create, refresh, list and
//	                     revoke
//
// The key id is the SHA-256 of the session id, base64url without padding
// (43 characters). Every value stays at most 64 bytes, so that Redis keeps
// the session hash, and the user hash with its index, as compact listpacks
// (see authn.ListpackValueMax); the index costs no key of its own.
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
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// ErrNoUser means Create was given a user that does not exist
	// (deleted since the login, say); nothing was stored.
	ErrNoUser = errors.New("the session's user does not exist")
)

// idBytes is the entropy of a session id.
const idBytes = 32

// Id prefixes: List shows the first ShownPrefix characters of a session's
// key id (the base64url SHA-256 of the session id; never the id, nor its
// whole hash); Revoke accepts any prefix of at least MinPrefix of them.
// They are case-sensitive.
const (
	ShownPrefix = 12
	MinPrefix   = 6
)

// keyIDLen is the length of a key id: base64url SHA-256, no padding.
var keyIDLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// MaxUserAgent is the most of a client's User-Agent a session stores
// (after Sanitize): one client cannot make its session large.
const MaxUserAgent = 256

// uaFields are the fields the user agent is split into, each at most
// authn.ListpackValueMax bytes.
var uaFields = [...]string{"ua", "ua2", "ua3", "ua4"}

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
	return len(id) == base64.RawURLEncoding.EncodedLen(idBytes) && base64URL(id)
}

// base64URL reports whether s only holds base64url characters.
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// KeyID is the key id of a session id: its SHA-256, base64url without
// padding. Sessions are stored and indexed under it.
func KeyID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func hashID(id string) string { return KeyID(id) }

// SanitizeUserAgent makes ua fit for storing: valid UTF-8 whose control
// characters (and invalid bytes) are replaced by '?', at most MaxUserAgent
// bytes (cut at a character boundary).
func SanitizeUserAgent(ua string) string {
	if len(ua) > 4*MaxUserAgent {
		ua = ua[:4*MaxUserAgent] // the rest would be cut anyway
	}
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(ua, "?"))
	if len(ua) <= MaxUserAgent {
		return ua
	}
	n := MaxUserAgent
	for n > 0 && !utf8.RuneStart(ua[n]) {
		n--
	}
	return ua[:n]
}

// uaArgs are the field/value pairs storing ua (sanitized) in at most
// len(uaFields) parts of at most authn.ListpackValueMax bytes; "ua" is
// always written.
func uaArgs(ua string) []any {
	out := []any{}
	for i, f := range uaFields {
		n := min(len(ua), authn.ListpackValueMax)
		if i > 0 && n == 0 {
			break
		}
		out = append(out, f, ua[:n])
		ua = ua[n:]
	}
	return out
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

// Lua shared by the scripts. prune_index(userkey, h, now) deletes the
// index fields of the user hash userkey (h: its HGETALL) whose expiry has
// passed; it leaves a malformed one alone. index_members(h) lists the key
// ids and expiries of the index fields of h.
const luaIndex = `
local function prune_index(userkey, h, now)
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 's:' then
      local e = tonumber(h[i + 1])
      if e and e <= now then redis.call('HDEL', userkey, h[i]) end
    end
  end
end
local function index_members(h)
  local out = {}
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 's:' then
      out[#out + 1] = {string.sub(h[i], 3), h[i + 1]}
    end
  end
  return out
end
`

var (
	// createScript: KEYS session, user hash; ARGV key id, expiry (ms),
	// now (ms), field, value, ... Refuses an existing id, and a user that
	// does not exist (the index lives in the user hash, which it must
	// never create).
	createScript = redis.NewScript(luaIndex + `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('SESSION_EXISTS') end
local h = redis.call('HGETALL', KEYS[2])
if #h == 0 then return redis.error_reply('SESSION_NO_USER') end
prune_index(KEYS[2], h, tonumber(ARGV[3]))
redis.call('HSET', KEYS[2], 's:' .. ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
`)

	// loadScript: KEYS session, known permissions; ARGV base, key id,
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
local uid, created, last = f['u'], tonumber(f['c']), tonumber(f['l'])
if not uid or #uid > 15 or not string.match(uid, '^[1-9][0-9]*$') or not created or not last then
  return {'corrupt'}
end
local base, member = ARGV[1], ARGV[2]
local now, maxage, idle, refresh = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local userkey = base .. 'user:' .. uid
local deadline = created + maxage
if idle > 0 and last + idle < deadline then deadline = last + idle end
if now >= deadline then
  redis.call('DEL', KEYS[1])
  redis.pcall('HDEL', userkey, 's:' .. member)
  return {'expired'}
end
local p = load_principal(userkey, KEYS[2], base)
if not p then
  redis.call('DEL', KEYS[1])
  return {'nouser'}
end
local refreshed = 0
if now - last >= refresh then
  local exp = created + maxage
  if idle > 0 and now + idle < exp then exp = now + idle end
  exp = string.format('%d', exp)
  prune_index(userkey, p[1], now)
  redis.call('HSET', userkey, 's:' .. member, exp)
  redis.call('HSET', KEYS[1], 'l', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], exp)
  refreshed = 1
end
return {'ok', h, p[1], p[2], p[3], p[4], p[5], refreshed}
`)

	// deleteScript: KEYS session; ARGV base, key id. Deletes the session
	// and its index entry.
	deleteScript = redis.NewScript(authn.LuaAnnounce + `
local uid = redis.pcall('HGET', KEYS[1], 'u')
if type(uid) == 'string' and #uid <= 15 and string.match(uid, '^[1-9][0-9]*$') then
  redis.pcall('HDEL', ARGV[1] .. 'user:' .. uid, 's:' .. ARGV[2])
end
announce(ARGV[1], 's ' .. ARGV[2])
return redis.call('DEL', KEYS[1])
`)

	// listScript: KEYS user hash; ARGV base, now (ms). Prunes, then
	// returns {key id, expiry, session hash, ...} for the live sessions.
	listScript = redis.NewScript(luaIndex + `
local now = tonumber(ARGV[2])
local out = {}
for _, e in ipairs(index_members(redis.call('HGETALL', KEYS[1]))) do
  local m, exp = e[1], tonumber(e[2])
  local h = redis.pcall('HGETALL', ARGV[1] .. 's:' .. m)
  if h.err then h = {'corrupt', '1'} end -- listed, as corrupt
  if (exp and exp <= now) or #h == 0 then
    redis.call('HDEL', KEYS[1], 's:' .. m) -- gone: expired or deleted
  else
    out[#out + 1] = m
    out[#out + 1] = e[2]
    out[#out + 1] = h
  end
end
return out
`)

	// revokeScript: KEYS user hash; ARGV base, key id prefix ("" for
	// all), now (ms). Deletes the matching live sessions and returns how
	// many there were, or -n when a non-empty prefix matches n > 1
	// (nothing deleted).
	revokeScript = redis.NewScript(luaIndex + authn.LuaAnnounce + `
local h = redis.call('HGETALL', KEYS[1])
prune_index(KEYS[1], h, tonumber(ARGV[3]))
local match = {}
for _, e in ipairs(index_members(h)) do
  local exp = tonumber(e[2])
  if not (exp and exp <= tonumber(ARGV[3])) and string.sub(e[1], 1, #ARGV[2]) == ARGV[2] then
    match[#match + 1] = e[1]
  end
end
if ARGV[2] ~= '' and #match > 1 then return -#match end
local n = 0
for _, m in ipairs(match) do
  n = n + redis.call('DEL', ARGV[1] .. 's:' .. m)
  redis.call('HDEL', KEYS[1], 's:' .. m)
  announce(ARGV[1], 's ' .. m)
end
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
		"u", strconv.FormatInt(sess.UserID, 10), "b", sess.Backend,
		"c", ms(created), "l", ms(last),
		"ip", sess.ClientIP, "ah", sess.AuthHash,
	}
	args = append(args, uaArgs(SanitizeUserAgent(sess.UserAgent))...)
	keys := []string{authn.SessionKey(s.base, member), authn.UserKey(s.base, sess.UserID)}
	if err := createScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		var rerr redis.Error
		code := ""
		if errors.As(err, &rerr) {
			code = strings.TrimPrefix(rerr.Error(), "ERR ")
		}
		switch {
		case strings.HasPrefix(code, "SESSION_EXISTS"):
			// 2^-256: a broken random source, not bad luck
			return "", errors.New(op + ": id collision; refusing to reuse an existing session")
		case strings.HasPrefix(code, "SESSION_NO_USER"):
			return "", fmt.Errorf("%s: user %d: %w", op, sess.UserID, ErrNoUser)
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
	uid, err1 := strconv.ParseInt(f["u"], 10, 64)
	created, err2 := strconv.ParseInt(f["c"], 10, 64)
	last, err3 := strconv.ParseInt(f["l"], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || uid <= 0 || f["b"] == "" || f["ah"] == "" {
		return nil, ErrCorrupt
	}
	// The user agent's parts: each one but the last full, none missing
	// before a present one.
	var ua strings.Builder
	end := false
	for _, name := range uaFields {
		part, ok := f[name]
		switch {
		case !ok:
			end = true
		case end || ua.Len()%authn.ListpackValueMax != 0:
			return nil, ErrCorrupt
		default:
			ua.WriteString(part)
		}
	}
	if _, ok := f[uaFields[0]]; !ok {
		return nil, ErrCorrupt
	}
	return &Session{
		UserID: uid, Backend: f["b"],
		CreatedAt: time.UnixMilli(created).UTC(), LastActivity: time.UnixMilli(last).UTC(),
		ClientIP: f["ip"], UserAgent: ua.String(), AuthHash: f["ah"],
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
	// IDPrefix is the first ShownPrefix characters of the session's key
	// id (base64url SHA-256 of the session id): enough to revoke it,
	// useless as a cookie.
	IDPrefix string
	// Session is the stored session; nil when it is corrupt.
	Session   *Session
	ExpiresAt time.Time
}

// List returns the user's live sessions, oldest first, after pruning the
// index of expired and vanished ones.
func (s *Store) List(ctx context.Context, userID int64, now time.Time) ([]Info, error) {
	const op = "list sessions"
	res, err := listScript.Run(ctx, s.rdb, []string{authn.UserKey(s.base, userID)}, s.base, ms(now)).Slice()
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
// MinPrefix base64url characters, at most a whole key id.
func ValidPrefix(p string) bool {
	return len(p) >= MinPrefix && len(p) <= keyIDLen && base64URL(p)
}

// Revoke ends the user's session whose IDPrefix starts with prefix and
// returns 1; ErrNotFound when none does, ErrAmbiguous (nothing ended) when
// several do.
func (s *Store) Revoke(ctx context.Context, userID int64, prefix string) (int, error) {
	if !ValidPrefix(prefix) {
		return 0, fmt.Errorf("revoke session: id prefix must be %d to %d base64url characters (A-Z a-z 0-9 - _, case-sensitive), got %q", MinPrefix, keyIDLen, prefix)
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
	n, err := revokeScript.Run(ctx, s.rdb, []string{authn.UserKey(s.base, userID)}, s.base, prefix, ms(time.Now())).Int()
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
