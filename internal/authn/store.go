package authn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/profile"
)

// Store keeps users, groups and permissions in Redis.
//
// Key layout, with P the configured prefix. Every key carries the {auth}
// hash tag so that all of them share one Redis Cluster slot and multi-key
// scripts stay legal there:
//
//	P{auth}:seq:user              INCR counter for user ids (never reused)
//	P{auth}:user:<id>             HASH username, email, first_name, last_name,
//	                              password + password2 (the encoded hash,
//	                              split after its 64th byte, see
//	                              passwordFields), is_active, is_staff,
//	                              is_superuser ("1"/"0"), date_joined,
//	                              last_login (RFC 3339 UTC, or ""),
//	                              auth_secret (see User.AuthSecret; absent
//	                              until the first password change), and
//	                              s:<session key id> -> expiry (Unix ms),
//	                              one per session of the user (the user's
//	                              session index, package sessionstore),
//	                              and p:<name> -> value as JSON, one per
//	                              custom field the user has a value for
//	                              (the user's profile, package profile,
//	                              see profileFields). Only the s: and p:
//	                              fields contain a colon.
//	P{auth}:usernames             HASH username -> id (case-sensitive, unique)
//	P{auth}:user:<id>:groups      SET of group names
//	P{auth}:user:<id>:perms       SET of direct permissions
//	P{auth}:groups                SET of group names
//	P{auth}:group:<name>:perms    SET of permissions
//	P{auth}:group:<name>:members  SET of user ids
//	P{auth}:perms                 SET of every known (declared) permission
//	P{auth}:models                HASH app_label.model -> Model (JSON)
//	P{auth}:s:<session key id>    HASH a login session (package sessionstore);
//	                              the key id is the base64url SHA-256 of the
//	                              session id
//
// Memory: Redis keeps a HASH whose values are all at most 64 bytes
// (hash-max-listpack-value) as a compact listpack, about three times
// smaller than the hashtable it converts to on the first longer value. The
// user record is laid out to stay a listpack for usual data: the password
// hash, always longer, is split in two fields; each profile value has a
// field of its own; the session index lives in the user hash rather than
// in a key of its own. See README.md, "Redis memory".
//
// Sessions live under the {auth} tag too, so that one script can read a
// session together with its user's record, groups and permissions (one
// round trip per request), and so that deactivating or deleting a user, or
// changing their password, ends their sessions in the same script as the
// change (sessions.go).
//
// Writes touching several keys run as Lua scripts (see scripts.go). Errors
// wrap the package's sentinel errors; anything Redis-side that is not a
// failed precondition wraps ErrUnavailable, so callers fail closed.
type Store struct {
	rdb     redis.UniversalClient
	hashers *Hashers
	base    string // P + "{auth}:"

	problems hashProblemLog // Authenticate's reports (hasher_report.go)
}

// NewStore returns a Store over rdb writing keys under keyPrefix, hashing
// passwords with hashers. It logs through slog.Default() until SetLogger.
func NewStore(rdb redis.UniversalClient, keyPrefix string, hashers *Hashers) *Store {
	return &Store{rdb: rdb, hashers: hashers, base: keyPrefix + "{auth}:"}
}

func (s *Store) seqKey() string          { return s.base + "seq:user" }
func (s *Store) usernamesKey() string    { return s.base + "usernames" }
func (s *Store) groupsKey() string       { return s.base + "groups" }
func (s *Store) permsKey() string        { return s.base + "perms" }
func (s *Store) userKey(id int64) string { return s.base + "user:" + strconv.FormatInt(id, 10) }

// storeError maps a Redis error to the package's errors: script
// precondition codes to their sentinels, everything else (connectivity,
// timeouts, cancelled contexts, server-side errors) to ErrUnavailable
// joined with the cause. redis.Nil never escapes.
func storeError(op string, err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := strings.TrimPrefix(rerr.Error(), "ERR ")
		code, _, _ := strings.Cut(msg, " ")
		var sentinel error
		switch code {
		case codeNoUser:
			sentinel = ErrUserNotFound
		case codeUserExists:
			sentinel = ErrUserExists
		case codeNoGroup:
			sentinel = ErrGroupNotFound
		case codeGroupExists:
			sentinel = ErrGroupExists
		case codeUndeclared:
			sentinel = ErrPermissionNotDeclared
		}
		if sentinel != nil {
			return fmt.Errorf("%s: %w", op, sentinel)
		}
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: unexpected nil reply: %w", op, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
}

// corrupt reports a stored value this package did not write. It fails
// closed like an outage: the record cannot be trusted.
func corrupt(op, what string) error {
	return fmt.Errorf("%s: corrupt record (%s): %w", op, what, ErrUnavailable)
}

func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func timeField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ListpackValueMax is the longest value Redis keeps in a compact
// (listpack) hash by default (hash-max-listpack-value): one longer value
// turns the whole hash into a hashtable, about three times larger.
const ListpackValueMax = 64

// passwordFields are the fields that store the encoded password hash:
// "password" holds its first ListpackValueMax bytes, "password2" the rest
// ("" when none), so that the hashes of Django's hashers (88 to about 130
// bytes) keep the user hash a listpack. Both are always written together,
// so no stale part can remain; parseUser and the scripts' get_password
// join them.
func passwordFields(enc string) []any {
	a, b := enc, ""
	if len(enc) > ListpackValueMax {
		a, b = enc[:ListpackValueMax], enc[ListpackValueMax:]
	}
	return []any{"password", a, "password2", b}
}

// SessionFieldPrefix starts the user-hash fields that index the user's
// sessions: "s:" + the session's key id, valued with its expiry (Unix
// ms). Only these and the profile fields (ProfileFieldPrefix) of the user
// hash contain a colon.
const SessionFieldPrefix = "s:"

// ProfileFieldPrefix starts the user-hash fields that hold the user's
// profile: "p:" + the field's name, valued with its value as JSON
// (profile.EncodeValue).
const ProfileFieldPrefix = "p:"

// legacyProfileField is where an early, unreleased layout kept the whole
// profile as one JSON object (a typical one is longer than
// ListpackValueMax, which turned the hash into a hashtable). parseUser
// treats a non-empty one as corrupt; writers of the profile delete it.
const legacyProfileField = "profile"

// profileFields are the fields that store the profile values:
// ProfileFieldPrefix + name -> profile.EncodeValue, sorted by name, none
// for no values. One field per value keeps a typical profile's fields
// within ListpackValueMax, so the user hash stays a listpack. Writers
// replace the whole set: they delete the profile fields not in it
// (staleProfileFields).
func profileFields(values profile.Values) ([]any, error) {
	if _, err := profile.Encode(values); err != nil { // checks each value and the size
		return nil, err
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	f := make([]any, 0, 2*len(names))
	for _, name := range names {
		enc, err := profile.EncodeValue(name, values[name])
		if err != nil {
			return nil, err
		}
		f = append(f, ProfileFieldPrefix+name, enc)
	}
	return f, nil
}

// staleProfileFields lists the fields of the stored user hash h that a
// write of the profile fields fields (flat, as userFields or
// profileFields) must delete: profile fields it does not write, and the
// legacy profile field.
func staleProfileFields(h map[string]string, fields []any) []string {
	keep := make(map[string]bool, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		keep[fields[i].(string)] = true
	}
	var out []string
	for k := range h {
		if (strings.HasPrefix(k, ProfileFieldPrefix) || k == legacyProfileField) && !keep[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// userFields is the hash of u without username (the scripts add it). It
// and parseUser are the one place that encodes and decodes the user
// record. u.Profile must encode (profileFields), which callers check
// first (encodeProfile); its fields are otherwise left out.
func userFields(u *User) []any {
	f := []any{
		"email", u.Email,
		"first_name", u.FirstName,
		"last_name", u.LastName,
	}
	f = append(f, passwordFields(u.Password)...)
	f = append(f,
		"is_active", boolField(u.IsActive),
		"is_staff", boolField(u.IsStaff),
		"is_superuser", boolField(u.IsSuperuser),
		"date_joined", timeField(u.DateJoined),
		"last_login", timeField(u.LastLogin),
	)
	if pf, err := profileFields(u.Profile); err == nil {
		f = append(f, pf...)
	}
	return f
}

// encodeProfile checks that u's profile can be stored (userFields would
// otherwise leave it out).
func encodeProfile(op string, u *User) error {
	if _, err := profileFields(u.Profile); err != nil {
		return fmt.Errorf("%s %q: %w", op, u.Username, err)
	}
	return nil
}

// parseUser decodes a user hash. It ignores the session index fields
// (SessionFieldPrefix) and collects the profile fields
// (ProfileFieldPrefix); a profile value that does not decode
// (profile.DecodeField), and a non-empty legacy profile field, make the
// record corrupt.
func parseUser(op string, id int64, m map[string]string) (*User, error) {
	u := &User{
		ID:        id,
		Username:  m["username"],
		Email:     m["email"],
		FirstName: m["first_name"],
		LastName:  m["last_name"],
		Password:  m["password"] + m["password2"],

		AuthSecret: m["auth_secret"],
	}
	if u.Username == "" {
		return nil, corrupt(op, "user "+strconv.FormatInt(id, 10)+" has no username")
	}
	if pw2, ok := m["password2"]; !ok || pw2 != "" && len(m["password"]) != ListpackValueMax {
		return nil, corrupt(op, "user "+strconv.FormatInt(id, 10)+" field password2")
	}
	if m[legacyProfileField] != "" {
		// The unreleased one-field layout: not read (README.md, "Redis
		// memory"); ignoring it would give the user defaults instead.
		return nil, corrupt(op, "user "+strconv.FormatInt(id, 10)+" field profile (an earlier layout)")
	}
	for k, v := range m {
		name, ok := strings.CutPrefix(k, ProfileFieldPrefix)
		if !ok {
			continue
		}
		x, err := profile.DecodeField(name, v)
		if err != nil {
			return nil, corrupt(op, "user "+strconv.FormatInt(id, 10)+" field "+k)
		}
		if u.Profile == nil {
			u.Profile = profile.Values{}
		}
		u.Profile[name] = x
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"is_active", &u.IsActive}, {"is_staff", &u.IsStaff}, {"is_superuser", &u.IsSuperuser}} {
		switch m[f.name] {
		case "1":
			*f.dst = true
		case "0":
			*f.dst = false
		default:
			return nil, corrupt(op, "user "+strconv.FormatInt(id, 10)+" field "+f.name)
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"date_joined", &u.DateJoined}, {"last_login", &u.LastLogin}} {
		v := m[f.name]
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, corrupt(op, "user "+strconv.FormatInt(id, 10)+" field "+f.name)
		}
		*f.dst = t.UTC()
	}
	return u, nil
}

// PairsToMap converts a flat HGETALL reply from a script (field, value,
// field, value, ...); ok is false for any other shape.
func PairsToMap(v any) (map[string]string, bool) {
	list, ok := v.([]any)
	if !ok || len(list)%2 != 0 {
		return nil, false
	}
	m := make(map[string]string, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		k, ok1 := list[i].(string)
		val, ok2 := list[i+1].(string)
		if !ok1 || !ok2 {
			return nil, false
		}
		m[k] = val
	}
	return m, true
}

// toStrings converts an array-of-strings script reply.
func toStrings(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		str, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, str)
	}
	return out, true
}

// sortedStrings converts a script reply and sorts it.
func sortedStrings(op string, v any) ([]string, error) {
	out, ok := toStrings(v)
	if !ok {
		return nil, corrupt(op, "unexpected reply shape")
	}
	slices.Sort(out)
	return out, nil
}

// CreateUser stores a new user and returns it with ID and DateJoined set;
// u itself is not modified. The username is NFKC-normalized and validated
// as in Django. The password is hashed with the preferred hasher, unless
// u.Password already holds an encoded hash (e.g. imported from Django), in
// which case password must be empty and the hash is stored as is. A zero
// u.DateJoined becomes now (UTC); a set one is kept, for imports. IsActive
// is stored as given (Django's default is true).
func (s *Store) CreateUser(ctx context.Context, u *User, password string) (*User, error) {
	const op = "create user"
	if u == nil {
		return nil, errors.New(op + ": nil user")
	}
	nu := *u
	nu.ID = 0
	nu.Username = NormalizeUsername(u.Username)
	if err := ValidateUsername(nu.Username); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case nu.Password != "" && password != "":
		return nil, fmt.Errorf("%s %q: give either a password or an encoded hash, not both", op, nu.Username)
	case nu.Password == "":
		enc, err := s.hashers.Make(password)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", op, nu.Username, err)
		}
		nu.Password = enc
	}
	if err := encodeProfile(op, &nu); err != nil {
		return nil, err
	}
	if nu.DateJoined.IsZero() {
		nu.DateJoined = time.Now()
	}
	// Round(0) drops the monotonic reading so the result equals what
	// GetUser later decodes.
	nu.DateJoined = nu.DateJoined.UTC().Round(0)
	if !nu.LastLogin.IsZero() {
		nu.LastLogin = nu.LastLogin.UTC().Round(0)
	}
	args := append([]any{s.base, nu.Username}, userFields(&nu)...)
	id, err := createUserScript.Run(ctx, s.rdb, []string{s.usernamesKey(), s.seqKey()}, args...).Int64()
	if err != nil {
		return nil, storeError(fmt.Sprintf("%s %q", op, nu.Username), err)
	}
	nu.ID = id
	return &nu, nil
}

// GetUser returns the user with that id, or ErrUserNotFound.
func (s *Store) GetUser(ctx context.Context, id int64) (*User, error) {
	op := "get user " + strconv.FormatInt(id, 10)
	if id <= 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrUserNotFound)
	}
	m, err := s.rdb.HGetAll(ctx, s.userKey(id)).Result()
	if err != nil {
		return nil, storeError(op, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrUserNotFound)
	}
	return parseUser(op, id, m)
}

// GetUserByUsername returns the user with exactly that username (no
// normalization, like Django's get_by_natural_key), or ErrUserNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	op := fmt.Sprintf("get user %q", username)
	if err := checkUsernameLookup(username); err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	res, err := getUserByUsernameScript.Run(ctx, s.rdb, []string{s.usernamesKey()}, s.base, username).Slice()
	if err != nil {
		return nil, storeError(op, err)
	}
	if len(res) != 2 {
		return nil, corrupt(op, "unexpected reply shape")
	}
	idStr, _ := res[0].(string)
	id, perr := strconv.ParseInt(idStr, 10, 64)
	m, ok := PairsToMap(res[1])
	if perr != nil || !ok {
		return nil, corrupt(op, "username index")
	}
	return parseUser(op, id, m)
}

// ListUsers returns every user sorted by username. It reads the username
// index, then all user hashes in one pipeline.
func (s *Store) ListUsers(ctx context.Context) ([]*User, error) {
	const op = "list users"
	index, err := s.rdb.HGetAll(ctx, s.usernamesKey()).Result()
	if err != nil {
		return nil, storeError(op, err)
	}
	ids := make([]int64, 0, len(index))
	for _, v := range index {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, corrupt(op, "username index")
		}
		ids = append(ids, id)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if len(ids) > 0 {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, s.userKey(id))
			}
			return nil
		})
		if err != nil {
			return nil, storeError(op, err)
		}
	}
	users := make([]*User, 0, len(ids))
	for i, id := range ids {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue // deleted between the two reads
		}
		u, err := parseUser(op, id, m)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b *User) int { return strings.Compare(a.Username, b.Username) })
	return users, nil
}

// updateUser sets fields of the named user in one script; with
// endSessions the same script ends all of the user's sessions.
func (s *Store) updateUser(ctx context.Context, op, username string, endSessions bool, fields ...any) error {
	if err := checkUsernameLookup(username); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	args := append([]any{s.base, username, boolField(endSessions)}, fields...)
	if err := updateUserScript.Run(ctx, s.rdb, []string{s.usernamesKey()}, args...).Err(); err != nil {
		return storeError(fmt.Sprintf("%s %q", op, username), err)
	}
	return nil
}

// SetPassword stores an already-encoded password hash (from
// Hashers.Make or MakeUnusable) for the named user. It is an explicit
// password change: in the same script it replaces the user's auth secret
// and ends all of the user's sessions (Django's session auth hash
// invalidation).
func (s *Store) SetPassword(ctx context.Context, username, encoded string) error {
	if encoded == "" {
		return fmt.Errorf("set password %q: %w", username, ErrEmptyPassword)
	}
	fields := append(passwordFields(encoded), "auth_secret", newAuthSecret())
	return s.updateUser(ctx, "set password", username, true, fields...)
}

// SetActive sets Django's is_active for the named user. Deactivating also
// ends all of the user's sessions, in the same script.
func (s *Store) SetActive(ctx context.Context, username string, active bool) error {
	return s.updateUser(ctx, "set active", username, !active, "is_active", boolField(active))
}

// SetFlags sets is_staff and/or is_superuser; a nil pointer leaves that
// flag unchanged.
func (s *Store) SetFlags(ctx context.Context, username string, staff, superuser *bool) error {
	var fields []any
	if staff != nil {
		fields = append(fields, "is_staff", boolField(*staff))
	}
	if superuser != nil {
		fields = append(fields, "is_superuser", boolField(*superuser))
	}
	return s.updateUser(ctx, "set flags", username, false, fields...)
}

// UpdateLastLogin records a login time. It never recreates a deleted user.
func (s *Store) UpdateLastLogin(ctx context.Context, id int64, t time.Time) error {
	op := "update last login of user " + strconv.FormatInt(id, 10)
	if id <= 0 {
		return fmt.Errorf("%s: %w", op, ErrUserNotFound)
	}
	if err := setUserFieldScript.Run(ctx, s.rdb, []string{s.userKey(id)}, s.base, id, "last_login", timeField(t)).Err(); err != nil {
		return storeError(op, err)
	}
	return nil
}

// rehash replaces the user's password hash with enc only if it still is
// old, so a password changed meanwhile is not overwritten. It reports
// whether it wrote. It is the same password in a better hash, not a
// password change: the auth secret stays, and so do the user's sessions.
func (s *Store) rehash(ctx context.Context, id int64, old, enc string) (bool, error) {
	op := "rehash password of user " + strconv.FormatInt(id, 10)
	args := append([]any{s.base, id, old}, passwordFields(enc)...)
	n, err := rehashScript.Run(ctx, s.rdb, []string{s.userKey(id)}, args...).Int64()
	if err != nil {
		return false, storeError(op, err)
	}
	return n == 1, nil
}

// DeleteUser removes the user, its username index entry, its direct
// permissions, its group memberships on both sides and its sessions,
// atomically. Its id is never reused, so a stale session can never
// resolve to another user.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	if err := checkUsernameLookup(username); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := deleteUserScript.Run(ctx, s.rdb, []string{s.usernamesKey()}, s.base, username).Err(); err != nil {
		return storeError(fmt.Sprintf("delete user %q", username), err)
	}
	return nil
}

// CreateGroup creates an empty group; ErrGroupExists if it exists.
func (s *Store) CreateGroup(ctx context.Context, name string) error {
	if err := ValidateGroupName(name); err != nil {
		return fmt.Errorf("create group: %w", err)
	}
	op := fmt.Sprintf("create group %q", name)
	n, err := s.rdb.SAdd(ctx, s.groupsKey(), name).Result()
	if err != nil {
		return storeError(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, ErrGroupExists)
	}
	return nil
}

// DeleteGroup removes the group from every member's groups, then its
// permission and member sets, atomically.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	if err := ValidateGroupName(name); err != nil {
		return fmt.Errorf("delete group: %w", err)
	}
	if err := deleteGroupScript.Run(ctx, s.rdb, []string{s.groupsKey()}, s.base, name).Err(); err != nil {
		return storeError(fmt.Sprintf("delete group %q", name), err)
	}
	return nil
}

// ListGroups returns every group name, sorted.
func (s *Store) ListGroups(ctx context.Context) ([]string, error) {
	names, err := s.rdb.SMembers(ctx, s.groupsKey()).Result()
	if err != nil {
		return nil, storeError("list groups", err)
	}
	slices.Sort(names)
	return names, nil
}

// groupSet reads a group's "perms" or "members" (as usernames).
func (s *Store) groupSet(ctx context.Context, op, name, which string) ([]string, error) {
	if err := ValidateGroupName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	op = fmt.Sprintf("%s %q", op, name)
	res, err := groupSetScript.Run(ctx, s.rdb, []string{s.groupsKey()}, s.base, name, which).Result()
	if err != nil {
		return nil, storeError(op, err)
	}
	return sortedStrings(op, res)
}

// GroupMembers returns the usernames of the group's members, sorted.
func (s *Store) GroupMembers(ctx context.Context, name string) ([]string, error) {
	return s.groupSet(ctx, "group members", name, "members")
}

// GroupPermissions returns the group's permissions, sorted.
func (s *Store) GroupPermissions(ctx context.Context, name string) ([]string, error) {
	return s.groupSet(ctx, "group permissions", name, "perms")
}

// membership adds or removes one membership on both sides.
func (s *Store) membership(ctx context.Context, op, username, group, how string) error {
	if err := checkUsernameLookup(username); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ValidateGroupName(group); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	keys := []string{s.usernamesKey(), s.groupsKey()}
	if err := membershipScript.Run(ctx, s.rdb, keys, s.base, username, group, how).Err(); err != nil {
		return storeError(fmt.Sprintf("%s %q, group %q", op, username, group), err)
	}
	return nil
}

// AddUserToGroup makes the user a member of the group (idempotent).
func (s *Store) AddUserToGroup(ctx context.Context, username, group string) error {
	return s.membership(ctx, "add to group: user", username, group, "add")
}

// RemoveUserFromGroup ends the membership (idempotent when not a member).
func (s *Store) RemoveUserFromGroup(ctx context.Context, username, group string) error {
	return s.membership(ctx, "remove from group: user", username, group, "rem")
}

// userPerm grants or revokes a direct permission.
func (s *Store) userPerm(ctx context.Context, op, username, perm, how string) error {
	if err := checkUsernameLookup(username); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ValidatePermission(perm); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	keys := []string{s.usernamesKey(), s.permsKey()}
	if err := userPermScript.Run(ctx, s.rdb, keys, s.base, username, perm, how).Err(); err != nil {
		err = storeError(fmt.Sprintf("%s %q to user %q", op, perm, username), err)
		if errors.Is(err, ErrPermissionNotDeclared) {
			return fmt.Errorf("%s to user %q: %w", op, username, s.undeclared(ctx, perm))
		}
		return err
	}
	return nil
}

// GrantUserPermission gives the user a direct permission. The permission
// must be declared (DeclareModels, RegisterPermissions), else the error
// wraps ErrPermissionNotDeclared.
func (s *Store) GrantUserPermission(ctx context.Context, username, perm string) error {
	return s.userPerm(ctx, "grant permission", username, perm, "add")
}

// RevokeUserPermission removes a direct permission (idempotent). Group
// permissions are unaffected.
func (s *Store) RevokeUserPermission(ctx context.Context, username, perm string) error {
	return s.userPerm(ctx, "revoke permission", username, perm, "rem")
}

// groupPerm grants or revokes a group permission.
func (s *Store) groupPerm(ctx context.Context, op, group, perm, how string) error {
	if err := ValidateGroupName(group); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ValidatePermission(perm); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	keys := []string{s.groupsKey(), s.permsKey()}
	if err := groupPermScript.Run(ctx, s.rdb, keys, s.base, group, perm, how).Err(); err != nil {
		err = storeError(fmt.Sprintf("%s %q to group %q", op, perm, group), err)
		if errors.Is(err, ErrPermissionNotDeclared) {
			return fmt.Errorf("%s to group %q: %w", op, group, s.undeclared(ctx, perm))
		}
		return err
	}
	return nil
}

// GrantGroupPermission gives the group a permission. The permission must
// be declared, else the error wraps ErrPermissionNotDeclared.
func (s *Store) GrantGroupPermission(ctx context.Context, group, perm string) error {
	return s.groupPerm(ctx, "grant permission", group, perm, "add")
}

// RevokeGroupPermission removes a group permission (idempotent).
func (s *Store) RevokeGroupPermission(ctx context.Context, group, perm string) error {
	return s.groupPerm(ctx, "revoke permission", group, perm, "rem")
}

// UserPermissions returns the user's direct permissions, sorted (not those
// from groups; see LoadPrincipal).
func (s *Store) UserPermissions(ctx context.Context, username string) ([]string, error) {
	if err := checkUsernameLookup(username); err != nil {
		return nil, fmt.Errorf("user permissions: %w", err)
	}
	op := fmt.Sprintf("user permissions %q", username)
	res, err := userPermsScript.Run(ctx, s.rdb, []string{s.usernamesKey()}, s.base, username).Result()
	if err != nil {
		return nil, storeError(op, err)
	}
	return sortedStrings(op, res)
}

// RegisterPermissions makes permissions known without granting them, as
// Django's migrations create Permission rows. Superusers have every known
// permission. All names are validated before anything is written.
func (s *Store) RegisterPermissions(ctx context.Context, perms ...string) error {
	if len(perms) == 0 {
		return nil
	}
	members := make([]any, len(perms))
	for i, p := range perms {
		if err := ValidatePermission(p); err != nil {
			return fmt.Errorf("register permissions: %w", err)
		}
		members[i] = p
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, s.permsKey(), members...)
		p.Publish(ctx, ChangesChannel(s.base), "*") // superusers hold them
		return nil
	})
	if err != nil {
		return storeError("register permissions", err)
	}
	return nil
}

// KnownPermissions returns every known permission, sorted.
func (s *Store) KnownPermissions(ctx context.Context) ([]string, error) {
	perms, err := s.rdb.SMembers(ctx, s.permsKey()).Result()
	if err != nil {
		return nil, storeError("known permissions", err)
	}
	slices.Sort(perms)
	return perms, nil
}

// LoadPrincipal loads the user with its groups and effective permissions
// in one round trip. An inactive user is returned with no permissions;
// note that Django's ModelBackend.get_user treats an inactive user's
// session as anonymous, which callers should mirror.
func (s *Store) LoadPrincipal(ctx context.Context, userID int64, backend string) (*Principal, error) {
	op := "load principal " + strconv.FormatInt(userID, 10)
	if userID <= 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrUserNotFound)
	}
	res, err := loadPrincipalScript.Run(ctx, s.rdb, []string{s.userKey(userID), s.permsKey()}, s.base).Slice()
	if err != nil {
		return nil, storeError(op, err)
	}
	return decodePrincipal(op, userID, backend, res)
}

// decodePrincipal builds a Principal from the reply of the Lua function
// LuaLoadPrincipal defines: {user hash, groups, direct perms, the groups'
// perms, known perms}.
func decodePrincipal(op string, userID int64, backend string, res []any) (*Principal, error) {
	if len(res) != 5 {
		return nil, corrupt(op, "unexpected reply shape")
	}
	m, ok := PairsToMap(res[0])
	if !ok {
		return nil, corrupt(op, "unexpected reply shape")
	}
	u, err := parseUser(op, userID, m)
	if err != nil {
		return nil, err
	}
	var sets [4][]string
	for i := range sets {
		if sets[i], ok = toStrings(res[i+1]); !ok {
			return nil, corrupt(op, "unexpected reply shape")
		}
	}
	groups, direct, groupPerms, known := sets[0], sets[1], sets[2], sets[3]
	slices.Sort(groups)
	return &Principal{
		User:        u,
		Groups:      groups,
		Permissions: EffectivePermissions(u, direct, groupPerms, known),
		Backend:     backend,
	}, nil
}

// EffectivePermissions is Django's ModelBackend.get_all_permissions: none
// for a missing or inactive user, every known permission for an active
// superuser, otherwise the direct permissions united with the groups'.
// The result is sorted, without duplicates, and never nil.
func EffectivePermissions(u *User, direct, groupPerms, known []string) []string {
	var out []string
	switch {
	case u == nil || !u.IsActive:
		return []string{}
	case u.IsSuperuser:
		out = slices.Clone(known)
	default:
		out = make([]string, 0, len(direct)+len(groupPerms))
		out = append(append(out, direct...), groupPerms...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// Authenticate is Django's ModelBackend.authenticate: it returns the user
// when the password matches and the user is active. Unknown users cost one
// hash like known ones; every refusal is ErrInvalidCredentials, so callers
// cannot tell which check failed. Store failures are ErrUnavailable: fail
// closed; so is ctx ending while the login waits for a password hashing
// slot (the error then also wraps ctx's). The username is NFKC-normalized
// as Django's login form does. A hash made with another algorithm than the
// preferred one or with outdated parameters is replaced after a successful
// check. A stored hash that can never verify (malformed, or its algorithm
// not enabled) is logged once per username, without the hash.
func (s *Store) Authenticate(ctx context.Context, username, password string) (*User, error) {
	const op = "authenticate"
	hashWait := func(err error) error {
		return fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
	}
	u, err := s.GetUserByUsername(ctx, NormalizeUsername(username))
	switch {
	case errors.Is(err, ErrUserNotFound) || errors.Is(err, ErrInvalidUsername):
		if err := s.hashers.DummyContext(ctx, password); err != nil {
			return nil, hashWait(err)
		}
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	res, err := s.hashers.CheckContext(ctx, password, u.Password)
	if err != nil {
		return nil, hashWait(err)
	}
	if res.Problem != nil {
		s.problems.report(u, res.Problem)
	}
	if !res.OK {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
	}
	if res.MustUpdate {
		enc, err := s.hashers.MakeContext(ctx, password)
		switch {
		case ctx.Err() != nil && err != nil:
			return nil, hashWait(err)
		case err != nil:
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		wrote, err := s.rehash(ctx, u.ID, u.Password, enc)
		switch {
		case errors.Is(err, ErrUserNotFound):
			return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials) // deleted meanwhile
		case err != nil:
			return nil, fmt.Errorf("%s: %w", op, err)
		case !wrote:
			// The password changed since we read it; the one we
			// checked is no longer the user's.
			return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
		}
		u.Password = enc
	}
	// Checked after the password, as Django's user_can_authenticate.
	if !u.IsActive {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCredentials)
	}
	return u, nil
}
