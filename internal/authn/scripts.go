package authn

import "github.com/redis/go-redis/v9"

// Lua scripts for every operation that reads or writes more than one key.
// Redis runs a script atomically, so a precondition check and the writes
// that depend on it can never interleave with another client, and a crash
// of the gateway mid-operation cannot leave half a write behind.
//
// Conventions: ARGV[1] is the key base "<prefix>{auth}:"; KEYS carry the
// fixed keys the script touches. Keys derived from data (a user's hash from
// its id, a group's sets from its name) are built inside the script; they
// share the {auth} hash tag with KEYS, so they live in the same Redis
// Cluster slot. Failed preconditions return error replies whose first word
// is one of the codes below (mapped to sentinel errors by scriptError).
const (
	codeNoUser      = "AUTHN_NO_USER"
	codeUserExists  = "AUTHN_USER_EXISTS"
	codeNoGroup     = "AUTHN_NO_GROUP"
	codeGroupExists = "AUTHN_GROUP_EXISTS"
	codeUndeclared  = "AUTHN_UNDECLARED_PERM"
)

// luaUserSessions defines user_sessions(base, id), which reads the
// user's session index (the s:<key id> fields of the user hash, see the
// key layout in store.go), and end_sessions(base, id, members), which
// deletes those sessions and their index fields. Scripts call the first
// before their first write, so that a wrongly typed key fails the script
// before it has changed anything.
const luaUserSessions = `
local function user_sessions(base, id)
  local h = redis.call('HGETALL', base .. 'user:' .. id)
  local out = {}
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 's:' then out[#out + 1] = string.sub(h[i], 3) end
  end
  return out
end
local function end_sessions(base, id, members)
  local key = base .. 'user:' .. id
  for _, m in ipairs(members) do
    redis.call('DEL', base .. 's:' .. m)
    redis.call('HDEL', key, 's:' .. m)
  end
end
`

// luaPassword defines get_password(key), the stored encoded password hash
// of the user hash key: its two fields joined (passwordFields).
const luaPassword = `
local function get_password(key)
  local p = redis.call('HMGET', key, 'password', 'password2')
  return (p[1] or '') .. (p[2] or '')
end
`

var (
	// createUserScript: KEYS usernames, seq; ARGV base, username,
	// field, value, ... Returns the new id.
	createUserScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return redis.error_reply('AUTHN_USER_EXISTS')
end
local id, key
repeat -- skip ids still in use should the counter ever be reset
  id = redis.call('INCR', KEYS[2])
  key = ARGV[1] .. 'user:' .. id
until redis.call('EXISTS', key) == 0
redis.call('HSET', key, 'username', ARGV[2], unpack(ARGV, 3))
redis.call('HSET', KEYS[1], ARGV[2], id)
return id
`)

	// updateUserScript: KEYS usernames; ARGV base, username, end
	// sessions ("1"/"0"), field, value, ... (possibly none, to check
	// existence). Returns the id.
	updateUserScript = redis.NewScript(luaUserSessions + LuaAnnounce + `
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
local key = ARGV[1] .. 'user:' .. id
if redis.call('EXISTS', key) == 0 then return redis.error_reply('AUTHN_NO_USER') end
local sessions = {}
if ARGV[3] == '1' then sessions = user_sessions(ARGV[1], id) end
if #ARGV > 3 then redis.call('HSET', key, unpack(ARGV, 4)) end
if ARGV[3] == '1' then end_sessions(ARGV[1], id, sessions) end
if #ARGV > 3 or ARGV[3] == '1' then announce(ARGV[1], 'u ' .. id) end
return id
`)

	// changePasswordScript: KEYS user hash; ARGV base, id, expected
	// password hash, new auth secret, then the new hash's fields
	// (passwordFields). Compare and set: writes only if the stored hash
	// still is the expected one (returns 0 otherwise), then ends all of
	// the user's sessions.
	changePasswordScript = redis.NewScript(luaUserSessions + luaPassword + LuaAnnounce + `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('AUTHN_NO_USER') end
if get_password(KEYS[1]) ~= ARGV[3] then return 0 end
local sessions = user_sessions(ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], 'auth_secret', ARGV[4], unpack(ARGV, 5))
end_sessions(ARGV[1], ARGV[2], sessions)
announce(ARGV[1], 'u ' .. ARGV[2])
return 1
`)

	// rehashScript: KEYS user hash; ARGV base, id, expected password
	// hash, then the new hash's fields (passwordFields). Compare and set:
	// writes only if the stored hash still is the expected one, returns 0
	// otherwise. Never creates a missing user.
	rehashScript = redis.NewScript(luaPassword + LuaAnnounce + `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('AUTHN_NO_USER') end
if get_password(KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
announce(ARGV[1], 'u ' .. ARGV[2])
return 1
`)

	// setUserFieldScript: KEYS user hash; ARGV base, id, field, value.
	// Never creates a missing user.
	setUserFieldScript = redis.NewScript(LuaAnnounce + `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('AUTHN_NO_USER') end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
announce(ARGV[1], 'u ' .. ARGV[2])
return 1
`)

	// getUserByUsernameScript: KEYS usernames; ARGV base, username.
	// Returns {id, HGETALL of the user}.
	getUserByUsernameScript = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
local h = redis.call('HGETALL', ARGV[1] .. 'user:' .. id)
if #h == 0 then return redis.error_reply('AUTHN_NO_USER') end
return {id, h}
`)

	// deleteUserScript: KEYS usernames; ARGV base, username. Removes the
	// user from each group's member set, then its hash, sets, index
	// entry and sessions.
	deleteUserScript = redis.NewScript(luaUserSessions + LuaAnnounce + `
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
local key = ARGV[1] .. 'user:' .. id
local sessions = user_sessions(ARGV[1], id)
for _, g in ipairs(redis.call('SMEMBERS', key .. ':groups')) do
  redis.call('SREM', ARGV[1] .. 'group:' .. g .. ':members', id)
end
end_sessions(ARGV[1], id, sessions)
redis.call('DEL', key, key .. ':groups', key .. ':perms')
redis.call('HDEL', KEYS[1], ARGV[2])
announce(ARGV[1], 'u ' .. id)
return 1
`)

	// deleteGroupScript: KEYS groups; ARGV base, name. Removes the group
	// from each member's group set, then its own sets. Permissions stay
	// known, as Django's Permission rows outlive groups.
	deleteGroupScript = redis.NewScript(LuaAnnounce + `
if redis.call('SREM', KEYS[1], ARGV[2]) == 0 then return redis.error_reply('AUTHN_NO_GROUP') end
local g = ARGV[1] .. 'group:' .. ARGV[2]
for _, id in ipairs(redis.call('SMEMBERS', g .. ':members')) do
  redis.call('SREM', ARGV[1] .. 'user:' .. id .. ':groups', ARGV[2])
end
redis.call('DEL', g .. ':members', g .. ':perms')
announce(ARGV[1], '*')
return 1
`)

	// membershipScript: KEYS usernames, groups; ARGV base, username,
	// group, "add"|"rem". Writes both sides of the membership.
	membershipScript = redis.NewScript(LuaAnnounce + `
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return redis.error_reply('AUTHN_NO_GROUP') end
local ug = ARGV[1] .. 'user:' .. id .. ':groups'
local gm = ARGV[1] .. 'group:' .. ARGV[3] .. ':members'
if ARGV[4] == 'add' then
  redis.call('SADD', ug, ARGV[3])
  redis.call('SADD', gm, id)
else
  redis.call('SREM', ug, ARGV[3])
  redis.call('SREM', gm, id)
end
announce(ARGV[1], 'u ' .. id)
return 1
`)

	// userPermScript: KEYS usernames, known perms; ARGV base, username,
	// perm, "add"|"rem". Only a known (declared) permission is granted.
	userPermScript = redis.NewScript(LuaAnnounce + `
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
local k = ARGV[1] .. 'user:' .. id .. ':perms'
if ARGV[4] == 'add' then
  if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return redis.error_reply('AUTHN_UNDECLARED_PERM') end
  redis.call('SADD', k, ARGV[3])
else
  redis.call('SREM', k, ARGV[3])
end
announce(ARGV[1], 'u ' .. id)
return 1
`)

	// groupPermScript: KEYS groups, known perms; ARGV base, group, perm,
	// "add"|"rem". Only a known (declared) permission is granted.
	groupPermScript = redis.NewScript(LuaAnnounce + `
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then return redis.error_reply('AUTHN_NO_GROUP') end
local k = ARGV[1] .. 'group:' .. ARGV[2] .. ':perms'
if ARGV[4] == 'add' then
  if redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return redis.error_reply('AUTHN_UNDECLARED_PERM') end
  redis.call('SADD', k, ARGV[3])
else
  redis.call('SREM', k, ARGV[3])
end
announce(ARGV[1], '*')
return 1
`)

	// userPermsScript: KEYS usernames; ARGV base, username. Returns the
	// user's direct permissions.
	userPermsScript = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[2])
if not id then return redis.error_reply('AUTHN_NO_USER') end
return redis.call('SMEMBERS', ARGV[1] .. 'user:' .. id .. ':perms')
`)

	// groupSetScript: KEYS groups; ARGV base, group, "perms"|"members".
	// Returns the group's permissions, or its members' usernames.
	groupSetScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then return redis.error_reply('AUTHN_NO_GROUP') end
local g = ARGV[1] .. 'group:' .. ARGV[2]
if ARGV[3] == 'perms' then return redis.call('SMEMBERS', g .. ':perms') end
local names = {}
for _, id in ipairs(redis.call('SMEMBERS', g .. ':members')) do
  local n = redis.call('HGET', ARGV[1] .. 'user:' .. id, 'username')
  if n then names[#names + 1] = n end
end
return names
`)

	// loadPrincipalScript: KEYS user hash, known perms; ARGV base.
	// Returns load_principal's reply (LuaLoadPrincipal).
	loadPrincipalScript = redis.NewScript(LuaLoadPrincipal + `
local p = load_principal(KEYS[1], KEYS[2], ARGV[1])
if not p then return redis.error_reply('AUTHN_NO_USER') end
return p
`)
)

// LuaLoadPrincipal defines the Lua function load_principal(userkey,
// permskey, base) for scripts that read a principal: userkey is the user's
// hash, permskey the known permissions (P{auth}:perms), base "P{auth}:".
// It returns nil when the user does not exist, else {user hash (flat, with
// its session index fields),
// groups, direct perms, union of the groups' perms, known perms (only for
// an active superuser, else empty)}, which DecodePrincipal decodes.
// Package sessionstore composes it into its per-request script, so that a
// request reads its session and its principal in one round trip.
const LuaLoadPrincipal = `
local function load_principal(userkey, permskey, base)
  local h = redis.call('HGETALL', userkey)
  if #h == 0 then return nil end
  local groups = redis.call('SMEMBERS', userkey .. ':groups')
  local direct = redis.call('SMEMBERS', userkey .. ':perms')
  local seen, gperms = {}, {}
  for _, g in ipairs(groups) do
    for _, p in ipairs(redis.call('SMEMBERS', base .. 'group:' .. g .. ':perms')) do
      if not seen[p] then
        seen[p] = true
        gperms[#gperms + 1] = p
      end
    end
  end
  local known = {}
  if redis.call('HGET', userkey, 'is_active') == '1' and redis.call('HGET', userkey, 'is_superuser') == '1' then
    known = redis.call('SMEMBERS', permskey)
  end
  return {h, groups, direct, gperms, known}
end
`
