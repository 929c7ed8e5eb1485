package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Bulk import: making many users, groups and models equal to a given
// description in one atomic write, as `gateway import-django` does with a
// Django dump. It happens in two steps:
//
//  1. ReadImportState reads the part of the store the set touches (the
//     set's users, groups, models and permissions). The caller compares it
//     with the set to tell what will change (package djangoimport does).
//  2. Import writes the set in one Lua script. The script first checks that
//     everything ReadImportState read is still as it was read, then makes
//     the store equal to the set. If anything changed in between (a login
//     updating last_login, an admin granting a permission), it writes
//     nothing and the error wraps ErrImportConflict: read again and retry.
//
// The script checks every precondition, and reads every key it will write
// with a command of the key's type, before its first write; after that no
// command can fail (and Redis neither lets a script that has written be
// killed nor refuses its later writes for lack of memory), so an import is
// applied completely or not at all.

// ErrImportConflict reports that the store changed between ReadImportState
// and Import. Nothing was written; read the state again and retry.
var ErrImportConflict = errors.New("the identity store changed while the import was prepared")

const codeImportConflict = "AUTHN_IMPORT_CONFLICT"

// ImportSet is the desired state of the objects an import touches. Objects
// not in the set are left alone.
type ImportSet struct {
	// Models are declared as DeclareModels does: a model's record is
	// replaced (when it differs) and its permissions become known; no
	// permission is ever removed from the known set.
	Models []Model
	// Groups are created when missing; their permissions become exactly
	// the given ones. Their members are not touched, except for the
	// memberships of the set's users.
	Groups []ImportGroup
	// Users are matched by username: a missing user is created with the
	// store's next id, an existing one keeps its id and gets the given
	// fields. Their groups and direct permissions become exactly the
	// given ones (a membership of a group outside the set is ended on both
	// sides).
	Users []ImportUser
}

// ImportGroup is a group of an ImportSet.
type ImportGroup struct {
	Name string
	// Permissions ("app_label.codename") must be declared by the set's
	// models.
	Permissions []string
}

// ImportUser is a user of an ImportSet.
type ImportUser struct {
	// User holds the fields. ID is ignored; Username must be valid and
	// NFKC-normalized; Password is stored verbatim (an encoded hash, or
	// an unusable "!..." one).
	User User
	// Groups are names of the set's groups.
	Groups []string
	// Permissions are direct permissions, declared by the set's models.
	Permissions []string
}

// ImportState is what ReadImportState read: the current state of the
// objects an ImportSet names.
type ImportState struct {
	// Models holds the declared models among the set's labels.
	Models map[string]Model
	// Known tells, for every permission of the set's models, whether it
	// is already known.
	Known map[string]bool
	// Groups holds every group of the set, existing or not.
	Groups map[string]ImportGroupState
	// Users holds the existing users among the set's usernames.
	Users map[string]ImportUserState

	// What was read, byte for byte, for Import's check that it is still
	// so: the stored model records and user hashes.
	base      string
	modelRaw  map[string]string
	userHash  map[string]map[string]string
	usernames map[string]bool // every username asked about
}

// ImportGroupState is a group as ReadImportState found it.
type ImportGroupState struct {
	Exists      bool
	Permissions []string // sorted
}

// ImportUserState is an existing user as ReadImportState found it.
type ImportUserState struct {
	User        *User
	Groups      []string // sorted
	Permissions []string // sorted
}

// ImportResult is what Import did beyond the set itself.
type ImportResult struct {
	// Created maps the username of each user created to its new id.
	Created map[string]int64
}

// validateImportSet checks names and references; the error wraps the
// sentinel of the first problem found.
func validateImportSet(set ImportSet) error {
	declared := map[string]bool{}
	labels := map[string]bool{}
	for _, m := range set.Models {
		if _, err := NewModel(ModelSpec{Label: m.Label(), DefaultPermissions: []string{}}); err != nil {
			return err
		}
		if labels[m.Label()] {
			return fmt.Errorf("model %q listed twice", m.Label())
		}
		labels[m.Label()] = true
		codenames := map[string]bool{}
		for _, p := range m.Permissions {
			name := m.AppLabel + "." + p.Codename
			if err := ValidatePermission(name); err != nil {
				return fmt.Errorf("model %q: %w", m.Label(), err)
			}
			if codenames[p.Codename] {
				return fmt.Errorf("model %q: permission %q listed twice", m.Label(), p.Codename)
			}
			codenames[p.Codename] = true
			declared[name] = true
		}
	}
	checkPerms := func(what string, perms []string) error {
		for _, p := range perms {
			if err := ValidatePermission(p); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if !declared[p] {
				return fmt.Errorf("%s: %w: %q is not a permission of the imported models", what, ErrPermissionNotDeclared, p)
			}
		}
		return nil
	}
	groups := map[string]bool{}
	for _, g := range set.Groups {
		if err := ValidateGroupName(g.Name); err != nil {
			return err
		}
		if groups[g.Name] {
			return fmt.Errorf("group %q: %w (listed twice)", g.Name, ErrGroupExists)
		}
		groups[g.Name] = true
		if err := checkPerms(fmt.Sprintf("group %q", g.Name), g.Permissions); err != nil {
			return err
		}
	}
	users := map[string]bool{}
	for _, iu := range set.Users {
		name := iu.User.Username
		if err := ValidateUsername(name); err != nil {
			return fmt.Errorf("user %q: %w", name, err)
		}
		if n := NormalizeUsername(name); n != name {
			return fmt.Errorf("user %q: %w: not in Unicode NFKC form (would be %q)", name, ErrInvalidUsername, n)
		}
		if users[name] {
			return fmt.Errorf("user %q: %w (listed twice)", name, ErrUserExists)
		}
		users[name] = true
		if err := encodeProfile("user", &iu.User); err != nil {
			return err
		}
		for _, g := range iu.Groups {
			if !groups[g] {
				return fmt.Errorf("user %q: group %q: %w among the imported groups", name, g, ErrGroupNotFound)
			}
		}
		if err := checkPerms(fmt.Sprintf("user %q", name), iu.Permissions); err != nil {
			return err
		}
	}
	return nil
}

// Permissions is every permission of the set's models, sorted, without
// duplicates (two models of one app may share a codename).
func (set ImportSet) Permissions() []string { return importPerms(set) }

func importPerms(set ImportSet) []string {
	var out []string
	for _, m := range set.Models {
		out = append(out, m.PermissionNames()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ReadImportState reads the current state of everything set names, in two
// pipelined round trips. The set is validated first.
func (s *Store) ReadImportState(ctx context.Context, set ImportSet) (*ImportState, error) {
	const op = "read import state"
	if err := validateImportSet(set); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	st := &ImportState{
		Models:    map[string]Model{},
		Known:     map[string]bool{},
		Groups:    map[string]ImportGroupState{},
		Users:     map[string]ImportUserState{},
		base:      s.base,
		modelRaw:  map[string]string{},
		userHash:  map[string]map[string]string{},
		usernames: map[string]bool{},
	}
	labels := make([]string, len(set.Models))
	for i, m := range set.Models {
		labels[i] = m.Label()
	}
	perms := importPerms(set)
	usernames := make([]string, len(set.Users))
	for i, u := range set.Users {
		usernames[i] = u.User.Username
		st.usernames[u.User.Username] = true
	}
	var (
		modelsCmd, idsCmd *redis.SliceCmd
		knownCmds         = make([]*redis.BoolCmd, len(perms))
		groupCmds         = make([]*redis.BoolCmd, len(set.Groups))
		groupPermCmds     = make([]*redis.StringSliceCmd, len(set.Groups))
	)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(labels) > 0 {
			modelsCmd = p.HMGet(ctx, s.modelsKey(), labels...)
		}
		if len(usernames) > 0 {
			idsCmd = p.HMGet(ctx, s.usernamesKey(), usernames...)
		}
		for i, perm := range perms {
			knownCmds[i] = p.SIsMember(ctx, s.permsKey(), perm)
		}
		for i, g := range set.Groups {
			groupCmds[i] = p.SIsMember(ctx, s.groupsKey(), g.Name)
			groupPermCmds[i] = p.SMembers(ctx, s.base+"group:"+g.Name+":perms")
		}
		return nil
	})
	if err != nil {
		return nil, storeError(op, err)
	}
	if modelsCmd != nil {
		for i, v := range modelsCmd.Val() {
			if v == nil {
				continue
			}
			raw, ok := v.(string)
			if !ok {
				return nil, corrupt(op, "models")
			}
			m, err := decodeModel(labels[i], raw)
			if err != nil {
				return nil, corrupt(op, fmt.Sprintf("model %q", labels[i]))
			}
			st.Models[labels[i]] = m
			st.modelRaw[labels[i]] = raw
		}
	}
	for i, perm := range perms {
		st.Known[perm] = knownCmds[i].Val()
	}
	for i, g := range set.Groups {
		gp := groupPermCmds[i].Val()
		slices.Sort(gp)
		st.Groups[g.Name] = ImportGroupState{Exists: groupCmds[i].Val(), Permissions: gp}
	}
	if idsCmd == nil {
		return st, nil
	}
	type found struct {
		name         string
		id           int64
		hash         *redis.MapStringStringCmd
		groups, uprm *redis.StringSliceCmd
	}
	var existing []*found
	for i, v := range idsCmd.Val() {
		if v == nil {
			continue
		}
		str, _ := v.(string)
		id, err := strconv.ParseInt(str, 10, 64)
		if err != nil || id <= 0 {
			return nil, corrupt(op, "username index")
		}
		existing = append(existing, &found{name: usernames[i], id: id})
	}
	if len(existing) == 0 {
		return st, nil
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, f := range existing {
			key := s.userKey(f.id)
			f.hash = p.HGetAll(ctx, key)
			f.groups = p.SMembers(ctx, key+":groups")
			f.uprm = p.SMembers(ctx, key+":perms")
		}
		return nil
	})
	if err != nil {
		return nil, storeError(op, err)
	}
	for _, f := range existing {
		h := f.hash.Val()
		if len(h) == 0 {
			return nil, corrupt(op, fmt.Sprintf("username index names user %d for %q, which does not exist", f.id, f.name))
		}
		u, err := parseUser(op, f.id, h)
		if err != nil {
			return nil, err
		}
		if u.Username != f.name {
			return nil, corrupt(op, fmt.Sprintf("username index names user %d for %q, which is named %q", f.id, f.name, u.Username))
		}
		groups, perms := f.groups.Val(), f.uprm.Val()
		slices.Sort(groups)
		slices.Sort(perms)
		st.Users[f.name] = ImportUserState{User: u, Groups: groups, Permissions: perms}
		// The session index fields are not the user's record: a login
		// meanwhile is no conflict (the script compares the rest).
		for k := range h {
			if strings.HasPrefix(k, SessionFieldPrefix) {
				delete(h, k)
			}
		}
		st.userHash[f.name] = h
	}
	return st, nil
}

// decodeModel parses a stored model record, as Models does.
func decodeModel(label, raw string) (Model, error) {
	var m Model
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Label() != label {
		return Model{}, errors.New("bad model record")
	}
	return m, nil
}

// encodeModel is the record DeclareModels writes.
func encodeModel(m Model) (string, error) {
	raw, err := json.Marshal(m)
	return string(raw), err
}

// SameModel reports whether two models declare the same thing: label,
// and permissions with their names in the same order (an empty list
// equals a missing one).
func SameModel(a, b Model) bool {
	return a.AppLabel == b.AppLabel && a.Name == b.Name && slices.Equal(a.Permissions, b.Permissions)
}

// PasswordHashProblem says why a stored password hash could never verify
// with the configured hashers: malformed, or of an algorithm that is not
// enabled. It is nil for a hash that can verify and for an unusable
// password (which is meant not to). The error never contains the hash.
func (s *Store) PasswordHashProblem(encoded string) error {
	h, problem := s.hashers.identify(encoded)
	if h == nil {
		return problem
	}
	return nil
}

// Import makes the store equal to set, atomically, provided it still is
// as prior (from ReadImportState for this set) found it; otherwise it
// writes nothing and the error wraps ErrImportConflict. Invalid sets are
// refused before anything is sent; a Redis failure wraps ErrUnavailable.
func (s *Store) Import(ctx context.Context, set ImportSet, prior *ImportState) (*ImportResult, error) {
	const op = "import"
	if err := validateImportSet(set); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if prior == nil || prior.base != s.base {
		return nil, fmt.Errorf("%s: the prior state was not read from this store with ReadImportState", op)
	}
	for _, u := range set.Users {
		if !prior.usernames[u.User.Username] {
			return nil, fmt.Errorf("%s: the prior state was read for another set (user %q)", op, u.User.Username)
		}
	}
	var b payload
	// Models: label, had, stored record, record to write ("" for none).
	b.int(len(set.Models))
	for _, m := range set.Models {
		raw, had := prior.modelRaw[m.Label()]
		old, ok := prior.Models[m.Label()]
		if had != ok {
			return nil, fmt.Errorf("%s: the prior state was read for another set (model %q)", op, m.Label())
		}
		write := ""
		if had {
			m = MergeModels(old, m) // declarations only add
		}
		if !had || !SameModel(old, m) {
			enc, err := encodeModel(m)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			write = enc
		}
		b.str(m.Label()).flag(had).str(raw).str(write)
	}
	// Known permissions: perm, was known.
	perms := importPerms(set)
	b.int(len(perms))
	for _, p := range perms {
		known, ok := prior.Known[p]
		if !ok {
			return nil, fmt.Errorf("%s: the prior state was read for another set (permission %q)", op, p)
		}
		b.str(p).flag(known)
	}
	// Groups: name, existed, stored permissions, wanted permissions.
	b.int(len(set.Groups))
	for _, g := range set.Groups {
		gs, ok := prior.Groups[g.Name]
		if !ok {
			return nil, fmt.Errorf("%s: the prior state was read for another set (group %q)", op, g.Name)
		}
		b.str(g.Name).flag(gs.Exists).list(gs.Permissions).list(g.Permissions)
	}
	// Users: username, stored id ("" when new), stored hash (flat),
	// stored groups, stored permissions, fields, fields to delete, groups,
	// permissions, end sessions. Replacing an existing user's password hash is a password
	// change: the user gets a new auth secret and their sessions end (the
	// gateway cannot tell whether the new hash is of the same password).
	b.int(len(set.Users))
	for _, iu := range set.Users {
		name := iu.User.Username
		var id string
		var hash []string
		var groups, uperms []string
		replaced := false
		if us, ok := prior.Users[name]; ok {
			replaced = us.User.Password != iu.User.Password
			id = strconv.FormatInt(us.User.ID, 10)
			h := prior.userHash[name]
			fields := make([]string, 0, len(h))
			for k := range h {
				fields = append(fields, k)
			}
			slices.Sort(fields)
			for _, k := range fields {
				hash = append(hash, k, h[k])
			}
			groups, uperms = us.Groups, us.Permissions
		}
		u := iu.User
		fields := userFields(&u)
		flat := make([]string, len(fields))
		for i, f := range fields {
			flat[i] = f.(string)
		}
		// The set's profile replaces the stored one, even when empty: the
		// stored profile fields it does not write are deleted (the script
		// checks first that the stored hash is still prior's).
		del := staleProfileFields(prior.userHash[name], fields)
		if replaced {
			flat = append(flat, "auth_secret", newAuthSecret())
		}
		b.str(name).str(id).list(hash).list(groups).list(uperms).list(flat).list(del).list(iu.Groups).list(iu.Permissions).flag(replaced)
	}

	keys := []string{s.usernamesKey(), s.seqKey(), s.groupsKey(), s.permsKey(), s.modelsKey()}
	res, err := importScript.Run(ctx, s.rdb, keys, s.base, b.String()).Result()
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) {
			if what, ok := strings.CutPrefix(rerr.Error(), codeImportConflict+" "); ok {
				return nil, fmt.Errorf("%s: %w (%s changed); nothing was written", op, ErrImportConflict, what)
			}
		}
		return nil, storeError(op, err)
	}
	created, ok := toStrings(res)
	if !ok || len(created)%2 != 0 {
		return nil, corrupt(op, "unexpected reply shape")
	}
	out := &ImportResult{Created: map[string]int64{}}
	for i := 0; i < len(created); i += 2 {
		id, err := strconv.ParseInt(created[i+1], 10, 64)
		if err != nil {
			return nil, corrupt(op, "unexpected reply shape")
		}
		out.Created[created[i]] = id
	}
	return out, nil
}

// payload encodes the script's input as one string of netstring-like
// tokens, "<length>:<bytes>", so that any bytes pass unchanged and the
// number of Redis arguments stays two however large the import.
type payload struct{ strings.Builder }

func (b *payload) str(s string) *payload {
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
	return b
}

func (b *payload) int(n int) *payload { return b.str(strconv.Itoa(n)) }

func (b *payload) flag(v bool) *payload { return b.str(boolField(v)) }

func (b *payload) list(l []string) *payload {
	b.int(len(l))
	for _, s := range l {
		b.str(s)
	}
	return b
}

// importScript: KEYS usernames, seq, groups, perms, models; ARGV base,
// payload (see Import for its layout). Returns {username, id, ...} for the
// users it created. Every check, and a typed read of every key it writes,
// comes before the first write.
var importScript = redis.NewScript(luaUserSessions + LuaAnnounce + `
local base, s, pos = ARGV[1], ARGV[2], 1
local function nxt()
  local c = string.find(s, ':', pos, true)
  local n = tonumber(string.sub(s, pos, c - 1))
  local v = string.sub(s, c + 1, c + n)
  pos = c + n + 1
  return v
end
local function num() return tonumber(nxt()) end
local function list()
  local t = {}
  for k = 1, num() do t[k] = nxt() end
  return t
end
local function toset(l)
  local t = {}
  for _, v in ipairs(l) do t[v] = true end
  return t
end
local function sameset(key, l)
  if redis.call('SCARD', key) ~= #l then return false end
  for _, v in ipairs(l) do
    if redis.call('SISMEMBER', key, v) == 0 then return false end
  end
  return true
end
local function conflict(what)
  return redis.error_reply('AUTHN_IMPORT_CONFLICT ' .. what)
end

-- Check: everything is as it was read.
local models = {}
for k = 1, num() do
  local m = {label = nxt(), had = nxt() == '1', raw = nxt(), write = nxt()}
  local cur = redis.call('HGET', KEYS[5], m.label)
  if (cur ~= false) ~= m.had or (cur and cur ~= m.raw) then return conflict('model ' .. m.label) end
  models[k] = m
end
local perms = {}
for k = 1, num() do
  local p, had = nxt(), nxt() == '1'
  if (redis.call('SISMEMBER', KEYS[4], p) == 1) ~= had then return conflict('permission ' .. p) end
  perms[k] = p
end
local groups = {}
for k = 1, num() do
  local g = {name = nxt(), had = nxt() == '1', old = list(), want = list()}
  if (redis.call('SISMEMBER', KEYS[3], g.name) == 1) ~= g.had or
     not sameset(base .. 'group:' .. g.name .. ':perms', g.old) then
    return conflict('group ' .. g.name)
  end
  groups[k] = g
end
local users, creates = {}, false
for k = 1, num() do
  local u = {name = nxt(), id = nxt(), hash = list(), oldgroups = list(), oldperms = list(),
             fields = list(), del = list(), groups = list(), perms = list(), endsessions = nxt() == '1'}
  if (redis.call('HGET', KEYS[1], u.name) or '') ~= u.id then return conflict('user ' .. u.name) end
  if u.id == '' then
    creates = true
  else
    local key = base .. 'user:' .. u.id
    local n, cur = 0, redis.call('HGETALL', key)
    for j = 1, #cur, 2 do
      if string.sub(cur[j], 1, 2) ~= 's:' then n = n + 1 end
    end
    if n * 2 ~= #u.hash then return conflict('user ' .. u.name) end
    for j = 1, #u.hash, 2 do
      if redis.call('HGET', key, u.hash[j]) ~= u.hash[j + 1] then return conflict('user ' .. u.name) end
    end
    if not sameset(key .. ':groups', u.oldgroups) or not sameset(key .. ':perms', u.oldperms) then
      return conflict('user ' .. u.name)
    end
    if u.endsessions then u.sessions = user_sessions(base, u.id) end
  end
  for _, l in ipairs({u.oldgroups, u.groups}) do
    for _, g in ipairs(l) do redis.call('SCARD', base .. 'group:' .. g .. ':members') end
  end
  users[k] = u
end
if creates then
  local seq = redis.call('GET', KEYS[2])
  if seq and not string.match(seq, '^%d+$') then return redis.error_reply('ERR corrupt user id counter') end
end

-- Write.
for _, m in ipairs(models) do
  if m.write ~= '' then redis.call('HSET', KEYS[5], m.label, m.write) end
end
for _, p in ipairs(perms) do redis.call('SADD', KEYS[4], p) end
for _, g in ipairs(groups) do
  redis.call('SADD', KEYS[3], g.name)
  local key, want = base .. 'group:' .. g.name .. ':perms', toset(g.want)
  for _, p in ipairs(g.old) do
    if not want[p] then redis.call('SREM', key, p) end
  end
  for _, p in ipairs(g.want) do redis.call('SADD', key, p) end
end
local created = {}
for _, u in ipairs(users) do
  local id, key = u.id
  if id == '' then
    repeat -- skip ids still in use should the counter ever be reset
      id = tostring(redis.call('INCR', KEYS[2]))
      key = base .. 'user:' .. id
    until redis.call('EXISTS', key, key .. ':groups', key .. ':perms') == 0
    redis.call('HSET', key, 'username', u.name, unpack(u.fields))
    redis.call('HSET', KEYS[1], u.name, id)
    created[#created + 1] = u.name
    created[#created + 1] = id
  else
    key = base .. 'user:' .. id
    redis.call('HSET', key, unpack(u.fields))
    if #u.del > 0 then redis.call('HDEL', key, unpack(u.del)) end
    if u.endsessions then end_sessions(base, id, u.sessions) end
  end
  local want = toset(u.groups)
  for _, g in ipairs(u.oldgroups) do
    if not want[g] then
      redis.call('SREM', key .. ':groups', g)
      redis.call('SREM', base .. 'group:' .. g .. ':members', id)
    end
  end
  for _, g in ipairs(u.groups) do
    redis.call('SADD', key .. ':groups', g)
    redis.call('SADD', base .. 'group:' .. g .. ':members', id)
  end
  want = toset(u.perms)
  for _, p in ipairs(u.oldperms) do
    if not want[p] then redis.call('SREM', key .. ':perms', p) end
  end
  for _, p in ipairs(u.perms) do redis.call('SADD', key .. ':perms', p) end
end
announce(base, '*')
return created
`)
