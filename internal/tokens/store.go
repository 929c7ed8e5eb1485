package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
)

// Store keeps refresh tokens and revocations in Redis.
//
// Key layout, with P the configured prefix. Every key carries the {auth}
// hash tag of the identity store (authn.KeyBase), so that one script can
// check a token and load its user's principal in a Redis Cluster too:
//
//	P{auth}:rt:<sha256 hex of token>  HASH fam (family id), st ("cur": the
//	                                  family's current token, "used": it
//	                                  was exchanged); expires with the
//	                                  family (the current token possibly
//	                                  earlier, see Rotate)
//	P{auth}:rf:<family>               HASH uid, abd (auth binding), cur
//	                                  (sha256 hex of the current token),
//	                                  created, exp (Unix ms); expires at exp
//	P{auth}:user:<uid>:rfams          ZSET the user's families scored by
//	                                  expiry (Unix ms); pruned on writes,
//	                                  expires with its last member
//	P{auth}:rj:<jti>                  STRING a revoked access token; expires
//	                                  after the token would have
//
// A refresh token is "rt1." followed by 32 random bytes, base64url; only
// its SHA-256 is stored. A family is a chain of refresh tokens started by
// one login (IssueRefresh): its absolute lifetime is fixed at issue, and
// each Rotate replaces the current token by a new one. Exchanged tokens
// stay recorded as used until the family expires: presenting one again
// is reuse (the token was stolen, or the client is confused) and revokes
// the family (RFC 9700, section 4.14.2). Revoking a family deletes the
// family and its current token; the used tokens stay until they expire,
// so that presenting them still reports reuse.
type Store struct {
	rdb   redis.UniversalClient
	base  string // P{auth}:
	perms string // the known permissions, for LoadAccess's script
	now   func() time.Time
}

// NewStore returns a Store writing keys under keyPrefix + "{auth}:".
func NewStore(rdb redis.UniversalClient, keyPrefix string) *Store {
	base := authn.KeyBase(keyPrefix)
	return &Store{rdb: rdb, base: base, perms: authn.KnownPermsKey(base), now: time.Now}
}

// Rotation is the result of Rotate.
type Rotation struct {
	UserID   int64
	Family   string
	AuthBind string // the binding recorded at IssueRefresh
	Token    string // the new refresh token
	// ExpiresAt is when Token expires: the earlier of the family's
	// absolute expiry and Rotate's ttl from now.
	ExpiresAt time.Time
}

const (
	refreshPrefix = "rt1."
	refreshBytes  = 32
	familyBytes   = 16
	// revokeSlack keeps a revoked access token listed this long past its
	// exp, to cover the verifiers' clock-skew leeway.
	revokeSlack = 5 * time.Minute
	// maxJTILen bounds the jti RevokeAccess and LoadAccess accept.
	maxJTILen = 64
)

var refreshLen = len(refreshPrefix) + base64.RawURLEncoding.EncodedLen(refreshBytes)

// isB64URL reports whether s is made of base64url characters only.
func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validRefresh reports whether token has the shape of a refresh token
// this package issues; others are rejected without a Redis lookup.
func validRefresh(token string) bool {
	return len(token) == refreshLen && strings.HasPrefix(token, refreshPrefix) && isB64URL(token[len(refreshPrefix):])
}

// validFamily reports whether fam has the shape of a family id.
func validFamily(fam string) bool {
	return len(fam) == base64.RawURLEncoding.EncodedLen(familyBytes) && isB64URL(fam)
}

// validJTI reports whether jti is an acceptable token id: 1 to 64
// base64url characters (what Issuer.Access issues).
func validJTI(jti string) bool {
	return jti != "" && len(jti) <= maxJTILen && isB64URL(jti)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func randomB64(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

func newRefresh() (token, hash string, err error) {
	r, err := randomB64(refreshBytes)
	if err != nil {
		return "", "", fmt.Errorf("random refresh token: %w", err)
	}
	token = refreshPrefix + r
	return token, hashToken(token), nil
}

func (s *Store) rtKey(hash string) string  { return s.base + "rt:" + hash }
func (s *Store) famKey(fam string) string  { return s.base + "rf:" + fam }
func (s *Store) jtiKey(jti string) string  { return s.base + "rj:" + jti }
func (s *Store) userKey(uid int64) string  { return s.base + "user:" + strconv.FormatInt(uid, 10) }
func (s *Store) indexKey(uid int64) string { return s.userKey(uid) + ":rfams" }
func msStr(t time.Time) string             { return strconv.FormatInt(t.UnixMilli(), 10) }
func durMillis(d time.Duration) string     { return strconv.FormatInt(max(d.Milliseconds(), 0), 10) }
func scriptCode(err error, code string) bool {
	return err != nil && strings.HasPrefix(err.Error(), code)
}

// unavailable wraps a Redis failure in ErrUnavailable; redis.Nil never
// escapes.
func unavailable(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: unexpected nil reply: %w", op, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
}

// Lua shared by the scripts. expire_index makes a user's family index
// expire with its latest member; revoke_family deletes a family, its
// current token and its index entry, and returns 1 if it existed.
const luaFamilies = authn.LuaAnnounce + `
local function valid_uid(uid)
  return type(uid) == 'string' and #uid <= 19 and string.match(uid, '^[1-9][0-9]*$') ~= nil
end
local function expire_index(idx)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if #top == 2 then redis.call('PEXPIREAT', idx, string.format('%d', tonumber(top[2]))) end
end
local function revoke_family(base, fam)
  announce(base, 'f ' .. fam)
  local fk = base .. 'rf:' .. fam
  local f = redis.pcall('HMGET', fk, 'uid', 'cur')
  if f.err then return redis.call('DEL', fk) end
  if type(f[2]) == 'string' and string.match(f[2], '^[0-9a-f]+$') then redis.call('DEL', base .. 'rt:' .. f[2]) end
  if valid_uid(f[1]) then redis.pcall('ZREM', base .. 'user:' .. f[1] .. ':rfams', fam) end
  return redis.call('DEL', fk)
end
`

var (
	// issueScript: KEYS token, family, index; ARGV token hash, family,
	// uid, auth binding, now (ms), expiry (ms).
	issueScript = redis.NewScript(luaFamilies + `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('TOKENS_EXISTS')
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[2])
expire_index(KEYS[3])
redis.call('HSET', KEYS[2], 'uid', ARGV[3], 'abd', ARGV[4], 'cur', ARGV[1], 'created', ARGV[5], 'exp', ARGV[6])
redis.call('PEXPIREAT', KEYS[2], ARGV[6])
redis.call('HSET', KEYS[1], 'fam', ARGV[2], 'st', 'cur')
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1
`)

	// rotateScript: KEYS presented token, new token; ARGV base, presented
	// hash, new hash, now (ms), new token's lifetime (ms, 0 = the
	// family's). Returns {"ok", uid, family, abd, new expiry},
	// {"reused"} (the family is deleted now), {"none"} or {"corrupt"}.
	rotateScript = redis.NewScript(luaFamilies + `
local t = redis.pcall('HMGET', KEYS[1], 'fam', 'st')
if t.err then return {'corrupt'} end
local fam, st = t[1], t[2]
if not fam then return {'none'} end
if type(fam) ~= 'string' or not string.match(fam, '^[A-Za-z0-9_-]+$') then return {'corrupt'} end
if st == 'used' then
  revoke_family(ARGV[1], fam)
  return {'reused'}
end
if st ~= 'cur' then return {'corrupt'} end
local fk = ARGV[1] .. 'rf:' .. fam
local f = redis.pcall('HMGET', fk, 'uid', 'abd', 'cur', 'exp')
if f.err then return {'corrupt'} end
local uid, abd, cur, exp = f[1], f[2], f[3], tonumber(f[4])
if not uid then return {'none'} end -- revoked or expired
if not valid_uid(uid) or not abd or not exp then return {'corrupt'} end
local now = tonumber(ARGV[4])
if exp <= now then
  revoke_family(ARGV[1], fam)
  return {'none'}
end
if cur ~= ARGV[2] then
  -- marked current but superseded: treat as reuse
  revoke_family(ARGV[1], fam)
  return {'reused'}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('TOKENS_EXISTS') end
local texp = exp
local life = tonumber(ARGV[5])
if life > 0 and now + life < texp then texp = now + life end
exp = string.format('%d', exp)
texp = string.format('%d', texp)
redis.call('HSET', KEYS[1], 'st', 'used')
redis.call('PEXPIREAT', KEYS[1], exp)
redis.call('HSET', KEYS[2], 'fam', fam, 'st', 'cur')
redis.call('PEXPIREAT', KEYS[2], texp)
redis.call('HSET', fk, 'cur', ARGV[3])
return {'ok', uid, fam, abd, texp}
`)

	// revokeTokenScript: KEYS token; ARGV base. Deletes its family.
	revokeTokenScript = redis.NewScript(luaFamilies + `
local fam = redis.pcall('HGET', KEYS[1], 'fam')
if type(fam) ~= 'string' or not string.match(fam, '^[A-Za-z0-9_-]+$') then return 0 end
return revoke_family(ARGV[1], fam)
`)

	// revokeFamilyScript: KEYS family; ARGV base, family.
	revokeFamilyScript = redis.NewScript(luaFamilies + `
return revoke_family(ARGV[1], ARGV[2])
`)

	// revokeUserScript: KEYS index; ARGV base. Deletes every family of
	// the user and the index; returns how many families there were.
	revokeUserScript = redis.NewScript(luaFamilies + `
local n = 0
for _, fam in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + revoke_family(ARGV[1], fam)
end
redis.call('DEL', KEYS[1])
return n
`)

	// loadAccessScript: KEYS revoked jti, family, user, known perms;
	// ARGV base, uid. Returns {"ok", user hash, groups, direct perms,
	// groups' perms, known perms} (LuaLoadPrincipal), or {"revoked"},
	// {"mismatch"} (the family is another user's), {"nouser"}.
	loadAccessScript = redis.NewScript(authn.LuaLoadPrincipal + `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'revoked'} end
local uid = redis.pcall('HGET', KEYS[2], 'uid')
if type(uid) ~= 'string' then return {'revoked'} end
if uid ~= ARGV[2] then return {'mismatch'} end
local p = load_principal(KEYS[3], KEYS[4], ARGV[1])
if not p then return {'nouser'} end
return {'ok', p[1], p[2], p[3], p[4], p[5]}
`)
)

// IssueRefresh starts a new family for the user and returns its first
// refresh token. The family, and every token of it, expires ttl from now
// (its absolute lifetime; rotation does not extend it). authBind is the
// user's AuthBinding, returned by Rotate.
func (s *Store) IssueRefresh(ctx context.Context, userID int64, authBind string, ttl time.Duration) (token, family string, err error) {
	const op = "issue refresh token"
	switch {
	case userID <= 0:
		return "", "", fmt.Errorf("%s: user id must be positive, got %d", op, userID)
	case authBind == "":
		return "", "", errors.New(op + ": empty auth binding")
	case ttl < time.Millisecond:
		return "", "", fmt.Errorf("%s: lifetime must be positive, got %s", op, ttl)
	}
	token, hash, err := newRefresh()
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", op, err)
	}
	if family, err = randomB64(familyBytes); err != nil {
		return "", "", fmt.Errorf("%s: random family: %w", op, err)
	}
	now := s.now()
	keys := []string{s.rtKey(hash), s.famKey(family), s.indexKey(userID)}
	err = issueScript.Run(ctx, s.rdb, keys,
		hash, family, strconv.FormatInt(userID, 10), authBind, msStr(now), msStr(now.Add(ttl))).Err()
	if err != nil {
		if scriptCode(err, "TOKENS_EXISTS") { // 2^-128: a broken random source
			return "", "", errors.New(op + ": id collision; refusing to reuse an existing token")
		}
		return "", "", unavailable(op, err)
	}
	return token, family, nil
}

// Rotate exchanges a refresh token for a new one in the same family; the
// presented one becomes used. The new token expires ttl from now, but
// never after the family (ttl ≤ 0: with the family). Presenting a used
// token (reuse) revokes the whole family and returns an error wrapping
// ErrReused and ErrInvalidToken. Unknown, expired, revoked or malformed
// tokens are ErrInvalidToken. The result carries the family's user id
// and auth binding: the caller checks that the user still is active, with
// the same credentials.
//
// Concurrent Rotates of one token: exactly one wins; the others see a
// used token, so they are reuse: they get ErrReused and the family,
// including the winner's new token, is revoked.
func (s *Store) Rotate(ctx context.Context, token string, ttl time.Duration) (r Rotation, err error) {
	const op = "rotate refresh token"
	if !validRefresh(token) {
		return Rotation{}, invalid("malformed refresh token")
	}
	next, nextHash, err := newRefresh()
	if err != nil {
		return Rotation{}, fmt.Errorf("%s: %w", op, err)
	}
	hash := hashToken(token)
	res, err := rotateScript.Run(ctx, s.rdb, []string{s.rtKey(hash), s.rtKey(nextHash)},
		s.base, hash, nextHash, msStr(s.now()), durMillis(ttl)).Slice()
	if err != nil {
		if scriptCode(err, "TOKENS_EXISTS") {
			return Rotation{}, errors.New(op + ": id collision; refusing to reuse an existing token")
		}
		return Rotation{}, unavailable(op, err)
	}
	var status string
	if len(res) > 0 {
		status, _ = res[0].(string)
	}
	switch {
	case status == "none":
		return Rotation{}, invalid("unknown, expired or revoked refresh token")
	case status == "reused":
		return Rotation{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrReused)
	case status != "ok" || len(res) != 5:
		return Rotation{}, fmt.Errorf("%s: corrupt record: %w", op, ErrUnavailable)
	}
	uidS, _ := res[1].(string)
	fam, _ := res[2].(string)
	abd, _ := res[3].(string)
	expS, _ := res[4].(string)
	uid, ok := parseUserID(uidS)
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || fam == "" {
		return Rotation{}, fmt.Errorf("%s: corrupt record: %w", op, ErrUnavailable)
	}
	return Rotation{UserID: uid, Family: fam, AuthBind: abd, Token: next, ExpiresAt: time.UnixMilli(exp).UTC()}, nil
}

// RevokeRefresh revokes the family of a refresh token (logout, RFC 7009
// revocation). An unknown or malformed token is not an error.
func (s *Store) RevokeRefresh(ctx context.Context, token string) error {
	if !validRefresh(token) {
		return nil
	}
	if err := revokeTokenScript.Run(ctx, s.rdb, []string{s.rtKey(hashToken(token))}, s.base).Err(); err != nil {
		return unavailable("revoke refresh token", err)
	}
	return nil
}

// RevokeFamily revokes a family: its refresh tokens stop working and
// LoadAccess refuses the access tokens issued in it. An unknown or
// malformed family is not an error.
func (s *Store) RevokeFamily(ctx context.Context, family string) error {
	if !validFamily(family) {
		return nil
	}
	if err := revokeFamilyScript.Run(ctx, s.rdb, []string{s.famKey(family)}, s.base, family).Err(); err != nil {
		return unavailable("revoke token family", err)
	}
	return nil
}

// RevokeAccess lists the access token with that jti as revoked until exp
// (its expiry) plus a margin covering the verifiers' leeway. A jti that
// Issuer.Access could not have issued is an error wrapping
// ErrInvalidToken.
func (s *Store) RevokeAccess(ctx context.Context, jti string, exp time.Time) error {
	const op = "revoke access token"
	if !validJTI(jti) {
		return fmt.Errorf("%s: %w", op, invalid("malformed jti"))
	}
	until := exp.Add(revokeSlack)
	if !until.After(s.now()) {
		return nil // expired for good: nothing to revoke
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetArgs(ctx, s.jtiKey(jti), "1", redis.SetArgs{ExpireAt: until})
		p.Publish(ctx, authn.ChangesChannel(s.base), "j "+jti)
		return nil
	})
	if err != nil {
		return unavailable(op, err)
	}
	return nil
}

// RevokeUser revokes every family of the user.
func (s *Store) RevokeUser(ctx context.Context, userID int64) error {
	if userID <= 0 {
		return nil
	}
	if err := revokeUserScript.Run(ctx, s.rdb, []string{s.indexKey(userID)}, s.base).Err(); err != nil {
		return unavailable("revoke user's refresh tokens", err)
	}
	return nil
}

// LoadAccess is the per-request check of a verified access token: in one
// round trip (one script) it checks that the jti is not revoked and that
// the family still exists and belongs to the user, and loads the user's
// principal, as authn.Store.LoadPrincipal. A revoked jti or family wraps
// ErrInvalidToken and ErrRevoked; a missing user wraps ErrInvalidToken
// and authn.ErrUserNotFound; a Redis failure or corrupt record wraps
// ErrUnavailable. Checking the user's is_active and auth binding is the
// caller's.
func (s *Store) LoadAccess(ctx context.Context, userID int64, jti, family, backend string) (*authn.Principal, error) {
	const op = "load access token"
	switch {
	case userID <= 0:
		return nil, invalid("sub is not a user id")
	case !validJTI(jti):
		return nil, invalid("malformed jti")
	case !validFamily(family):
		return nil, invalid("malformed fam")
	}
	keys := []string{s.jtiKey(jti), s.famKey(family), s.userKey(userID), s.perms}
	res, err := loadAccessScript.Run(ctx, s.rdb, keys, s.base, strconv.FormatInt(userID, 10)).Slice()
	if err != nil {
		return nil, unavailable(op, err)
	}
	var status string
	if len(res) > 0 {
		status, _ = res[0].(string)
	}
	switch {
	case status == "revoked":
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrRevoked)
	case status == "mismatch":
		return nil, invalid("fam belongs to another user")
	case status == "nouser":
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, authn.ErrUserNotFound)
	case status != "ok" || len(res) != 6:
		return nil, fmt.Errorf("%s: unexpected reply: %w", op, ErrUnavailable)
	}
	p, err := authn.DecodePrincipal(userID, backend, res[1:])
	if err != nil {
		if errors.Is(err, authn.ErrUnavailable) {
			return nil, fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return p, nil
}
