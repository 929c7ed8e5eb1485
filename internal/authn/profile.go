package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/profile"
)

// ErrConcurrentUpdate reports a change that lost to concurrent changes of
// the same record more times than it retries.
var ErrConcurrentUpdate = errors.New("the record kept changing concurrently; try again")

// setProfileScript: KEYS user hash; ARGV base, user id, n, then the
// expected profile fields (n values: field, value, ...; see
// profileFields), then the new ones. Compare and set: returns 0 without
// writing unless the stored profile fields (ProfileFieldPrefix) are
// exactly the expected ones; otherwise deletes every stored profile field
// not among the new ones (and the legacy profile field), writes the new
// ones and announces the change.
var setProfileScript = redis.NewScript(LuaAnnounce + `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('AUTHN_NO_USER') end
local n = tonumber(ARGV[3])
local want, new, stale = {}, {}, {'profile'}
for i = 4, 3 + n, 2 do want[ARGV[i]] = ARGV[i + 1] end
for i = 4 + n, #ARGV, 2 do new[ARGV[i]] = true end
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 2) == 'p:' then
    if want[h[i]] ~= h[i + 1] then return 0 end
    want[h[i]] = nil
    if not new[h[i]] then stale[#stale + 1] = h[i] end
  end
end
if next(want) ~= nil then return 0 end
redis.call('HDEL', KEYS[1], unpack(stale))
if #ARGV >= 4 + n then redis.call('HSET', KEYS[1], unpack(ARGV, 4 + n)) end
announce(ARGV[1], 'u ' .. ARGV[2])
return 1
`)

// maxProfileRetries bounds UpdateProfile's compare-and-set attempts.
const maxProfileRetries = 5

// UpdateProfile changes the named user's stored profile: update receives
// the stored values (a copy it may modify; nil when none) and returns the
// values to store. The write is a compare and set on the stored profile
// (all its fields), retried when another change came in between, so
// concurrent updates of different fields never undo each other. It
// replaces the profile: fields of values no longer there are deleted.
// update may run more than once; its error is returned as is. Validating
// the values against the schema is the caller's job
// (profile.Schema.Validate); the store only checks that they encode.
// Returns the values stored.
func (s *Store) UpdateProfile(ctx context.Context, username string, update func(profile.Values) (profile.Values, error)) (profile.Values, error) {
	const op = "update profile"
	u, err := s.GetUserByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	key := s.userKey(u.ID)
	for range maxProfileRetries {
		h, err := s.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, storeError(fmt.Sprintf("%s %q", op, username), err)
		}
		if len(h) == 0 {
			return nil, fmt.Errorf("%s %q: %w", op, username, ErrUserNotFound)
		}
		cur, err := parseUser(op, u.ID, h)
		if err != nil {
			return nil, err
		}
		next, err := update(cur.Profile)
		if err != nil {
			return nil, err
		}
		fields, err := profileFields(next)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", op, username, err)
		}
		args := []any{s.base, u.ID, 0}
		for k, v := range h {
			if strings.HasPrefix(k, ProfileFieldPrefix) {
				args = append(args, k, v)
			}
		}
		args[2] = len(args) - 3
		args = append(args, fields...)
		ok, err := setProfileScript.Run(ctx, s.rdb, []string{key}, args...).Int()
		if err != nil {
			return nil, storeError(fmt.Sprintf("%s %q", op, username), err)
		}
		if ok == 1 {
			return next, nil
		}
	}
	return nil, fmt.Errorf("%s %q: %w", op, username, ErrConcurrentUpdate)
}
