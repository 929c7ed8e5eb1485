// Package authn owns "who is this": users, groups and permissions with
// Django's semantics, password hashing, and the principal attached to each
// request. Authentication identifies and never rejects; authorization
// (package authz) decides.
package authn

import (
	"errors"
	"time"

	"github.com/djangate/gateway/internal/profile"
)

// Sentinel errors. Callers test them with errors.Is; storage errors from
// Redis are wrapped in ErrUnavailable so they never leak as redis.Nil.
var (
	ErrUserNotFound       = errors.New("user not found")
	ErrUserExists         = errors.New("a user with that username already exists")
	ErrGroupNotFound      = errors.New("group not found")
	ErrGroupExists        = errors.New("a group with that name already exists")
	ErrInvalidUsername    = errors.New("invalid username")
	ErrInvalidGroupName   = errors.New("invalid group name")
	ErrInvalidPermission  = errors.New("invalid permission name")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrEmptyPassword      = errors.New("password must not be empty")
	ErrUnavailable        = errors.New("identity store unavailable")
)

// User is Django's auth.User.
type User struct {
	ID          int64
	Username    string
	Email       string
	FirstName   string
	LastName    string
	Password    string // an encoded hash (Django format), or "!..." for unusable
	IsActive    bool
	IsStaff     bool
	IsSuperuser bool
	DateJoined  time.Time
	LastLogin   time.Time // zero when never logged in
	// AuthSecret is mixed into the hash that binds each session to the
	// user's credentials (SessionAuthHash). Every explicit password change
	// replaces it, which ends the user's other sessions; the automatic
	// re-hash at login does not. Empty until the first change.
	AuthSecret string
	// Profile holds the user's custom field values as stored (package
	// profile): what was set, whether or not it is still declared. The
	// store keeps them without a schema; profile.Schema.Effective gives
	// the profile the gateway acts on. nil when none.
	Profile profile.Values
}

// Principal is the identity attached to a request. A nil User means
// anonymous.
type Principal struct {
	User *User
	// Groups are the names of the user's groups, sorted.
	Groups []string
	// Permissions are the effective permissions with Django's semantics,
	// sorted: none for inactive users, every known permission for an
	// active superuser, otherwise the user's direct permissions united
	// with those of their groups.
	Permissions []string
	// Backend names the authentication backend that identified the user
	// ("session").
	Backend string
	// Profile is the user's effective profile (profile.Schema.Effective
	// of User.Profile): declared fields with their typed values or
	// defaults. The server fills it in once it has identified the user;
	// policies, identity headers, the upstream assertion and /me read it.
	Profile profile.Values
}

// Anonymous is the principal of a request without credentials.
var Anonymous = &Principal{}

// IsAuthenticated reports whether the principal is a known user.
func (p *Principal) IsAuthenticated() bool { return p != nil && p.User != nil }

// HasPerm reports Django's user.has_perm(perm) for the principal.
func (p *Principal) HasPerm(perm string) bool {
	if !p.IsAuthenticated() || !p.User.IsActive {
		return false
	}
	if p.User.IsSuperuser {
		return true
	}
	for _, q := range p.Permissions {
		if q == perm {
			return true
		}
	}
	return false
}

// Username is the user's name, or "" for anonymous.
func (p *Principal) Username() string {
	if !p.IsAuthenticated() {
		return ""
	}
	return p.User.Username
}
