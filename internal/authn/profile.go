package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/profile"
)

// ErrConcurrentUpdate reports a change that lost to concurrent changes of
// the same record more times than it retries.
var ErrConcurrentUpdate = errors.New("the record kept changing concurrently; try again")

// setProfileScript: KEYS user hash; ARGV expected profile ("" for none),
// new profile ("" deletes the field), base, user id. Compare and set:
// returns 0 without writing when the stored profile is not the expected
// one.
var setProfileScript = redis.NewScript(LuaAnnounce + `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('AUTHN_NO_USER') end
local cur = redis.call('HGET', KEYS[1], 'profile') or ''
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'profile') else redis.call('HSET', KEYS[1], 'profile', ARGV[2]) end
announce(ARGV[3], 'u ' .. ARGV[4])
return 1
`)

// maxProfileRetries bounds UpdateProfile's compare-and-set attempts.
const maxProfileRetries = 5

// UpdateProfile changes the named user's stored profile: update receives
// the stored values (a copy it may modify; nil when none) and returns the
// values to store. The write is a compare and set on the stored profile,
// retried when another change came in between, so concurrent updates of
// different fields never undo each other. update may run more than once;
// its error is returned as is. Validating the values against the schema is
// the caller's job (profile.Schema.Validate); the store only checks that
// they encode. Returns the values stored.
func (s *Store) UpdateProfile(ctx context.Context, username string, update func(profile.Values) (profile.Values, error)) (profile.Values, error) {
	const op = "update profile"
	u, err := s.GetUserByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	key := s.userKey(u.ID)
	for range maxProfileRetries {
		cur, err := s.rdb.HGet(ctx, key, "profile").Result()
		if errors.Is(err, redis.Nil) {
			cur, err = "", nil
		}
		if err != nil {
			return nil, storeError(fmt.Sprintf("%s %q", op, username), err)
		}
		old, err := profile.Decode(cur)
		if err != nil {
			return nil, corrupt(op, fmt.Sprintf("user %d field profile", u.ID))
		}
		next, err := update(old)
		if err != nil {
			return nil, err
		}
		enc, err := profile.Encode(next)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", op, username, err)
		}
		ok, err := setProfileScript.Run(ctx, s.rdb, []string{key}, cur, enc, s.base, u.ID).Int()
		if err != nil {
			return nil, storeError(fmt.Sprintf("%s %q", op, username), err)
		}
		if ok == 1 {
			return next, nil
		}
	}
	return nil, fmt.Errorf("%s %q: %w", op, username, ErrConcurrentUpdate)
}
