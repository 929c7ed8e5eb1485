package authn

import (
	"context"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// setGroupsScript: KEYS usernames, groups; ARGV base, username, group...
// Makes the user's memberships exactly the listed groups that exist
// (both sides of each membership), ignoring the others. Returns the
// groups the user is now a member of.
var setGroupsScript = redis.NewScript(LuaAnnounce + `
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
local ug = ARGV[1] .. 'user:' .. id .. ':groups'
local want = {}
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 1 then want[ARGV[i]] = true end
end
local changed = 0
for _, g in ipairs(redis.call('SMEMBERS', ug)) do
  if not want[g] then
    changed = changed + redis.call('SREM', ug, g)
    redis.call('SREM', ARGV[1] .. 'group:' .. g .. ':members', id)
  end
end
local out = {}
for g in pairs(want) do
  changed = changed + redis.call('SADD', ug, g)
  redis.call('SADD', ARGV[1] .. 'group:' .. g .. ':members', id)
  out[#out + 1] = g
end
if changed > 0 then announce(ARGV[1], 'u ' .. id) end
return out
`)

// SetUserGroups makes the user's group memberships exactly groups,
// restricted to the groups that exist (others are ignored, as an identity
// provider may know groups the gateway does not), in one script. It
// returns the groups the user is now in, sorted.
func (s *Store) SetUserGroups(ctx context.Context, username string, groups []string) ([]string, error) {
	const op = "set groups of user"
	if err := checkUsernameLookup(username); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	args := []any{s.base, username}
	for _, g := range groups {
		if ValidateGroupName(g) == nil {
			args = append(args, g)
		}
	}
	res, err := setGroupsScript.Run(ctx, s.rdb, []string{s.usernamesKey(), s.groupsKey()}, args...).Result()
	if err != nil {
		return nil, storeError(fmt.Sprintf("%s %q", op, username), err)
	}
	out, ok := toStrings(res)
	if !ok {
		return nil, corrupt(op, "groups reply")
	}
	sort.Strings(out)
	return out, nil
}
