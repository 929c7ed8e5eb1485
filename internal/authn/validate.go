package authn

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// maxUsernameLength and maxGroupNameLength are Django's max_length
	// for auth.User.username and auth.Group.name, in characters.
	maxUsernameLength  = 150
	maxGroupNameLength = 150
	// maxPermissionLength bounds "app_label.codename" (Django allows 100
	// for app_label and 100 for codename; we cap the whole string).
	maxPermissionLength = 255
)

var (
	// usernameRE is Django's UnicodeUsernameValidator, ^[\w.@+-]+\Z.
	// Python's Unicode \w is "alphanumeric or underscore", where
	// alphanumeric means letter (L*) or number (N*); Go's \w is ASCII
	// only, hence the explicit classes.
	usernameRE = regexp.MustCompile(`^[\p{L}\p{N}_.@+-]+\z`)
	// appLabelRE and codenameRE are the two halves of a permission name.
	appLabelRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*\z`)
	codenameRE = regexp.MustCompile(`^[A-Za-z0-9_]+\z`)
)

// NormalizeUsername applies Unicode NFKC normalization, as Django's
// AbstractBaseUser.normalize_username (on create) and the login form's
// UsernameField (on login) do, so that visually identical names such as
// "ﬁnn" and "finn" are one account.
func NormalizeUsername(username string) string {
	return norm.NFKC.String(username)
}

// ValidateUsername applies Django's UnicodeUsernameValidator and the
// 150-character limit. The error wraps ErrInvalidUsername and names the
// problem, not the whole input.
func ValidateUsername(username string) error {
	if username == "" {
		return fmt.Errorf("%w: must not be empty", ErrInvalidUsername)
	}
	if !utf8.ValidString(username) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUsername)
	}
	if n := utf8.RuneCountInString(username); n > maxUsernameLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalidUsername, n, maxUsernameLength)
	}
	if !usernameRE.MatchString(username) {
		for i, r := range username {
			if !(unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("_.@+-", r)) {
				return fmt.Errorf("%w: character %q at byte %d is not allowed; use letters, digits and @/./+/-/_ only", ErrInvalidUsername, r, i)
			}
		}
		return fmt.Errorf("%w: use letters, digits and @/./+/-/_ only", ErrInvalidUsername)
	}
	return nil
}

// checkUsernameLookup is the light check for looking a user up: names that
// no user can have are refused without a round trip. It is deliberately
// looser than ValidateUsername because Django databases imported as is can
// hold names its validator never saw (create_user does not run it).
func checkUsernameLookup(username string) error {
	if username == "" {
		return fmt.Errorf("%w: must not be empty", ErrInvalidUsername)
	}
	if n := utf8.RuneCountInString(username); n > maxUsernameLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalidUsername, n, maxUsernameLength)
	}
	return nil
}

// ValidateGroupName checks a group name: 1..150 characters of valid UTF-8
// (Django's limit), no control characters, and none of ':', '{', '}'.
//
// Django allows any text, but here the name becomes part of Redis keys
// ("<prefix>{auth}:group:<name>:perms"). ':' is the key separator: a group
// named "a:perms" would make its keys prefixes or look-alikes of group "a"'s,
// so key patterns could no longer tell groups apart. '{' and '}' delimit
// Redis Cluster hash tags; keeping them out guarantees a name never takes
// part in choosing the slot that all identity keys must share. Control
// characters are refused because group names travel to upstreams in
// headers and show up in logs.
func ValidateGroupName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: must not be empty", ErrInvalidGroupName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidGroupName)
	}
	if n := utf8.RuneCountInString(name); n > maxGroupNameLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalidGroupName, n, maxGroupNameLength)
	}
	for i, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %q at byte %d", ErrInvalidGroupName, r, i)
		}
		if r == ':' || r == '{' || r == '}' {
			return fmt.Errorf("%w: character %q at byte %d is reserved for Redis keys", ErrInvalidGroupName, r, i)
		}
	}
	return nil
}

// ValidatePermission checks a permission name "app_label.codename" as
// Django's has_perm expects it: app_label matches ^[a-z_][a-z0-9_]*$,
// codename matches ^[A-Za-z0-9_]+$, at most 255 characters in total. The
// error wraps ErrInvalidPermission and names the bad part.
func ValidatePermission(name string) error {
	if name == "" {
		return fmt.Errorf("%w: must not be empty; want \"app_label.codename\"", ErrInvalidPermission)
	}
	if len(name) > maxPermissionLength {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidPermission, len(name), maxPermissionLength)
	}
	label, codename, ok := strings.Cut(name, ".")
	if !ok {
		return fmt.Errorf("%w %q: missing '.' between app_label and codename", ErrInvalidPermission, name)
	}
	if !appLabelRE.MatchString(label) {
		return fmt.Errorf("%w %q: app_label %q must match ^[a-z_][a-z0-9_]*$", ErrInvalidPermission, name, label)
	}
	if !codenameRE.MatchString(codename) {
		return fmt.Errorf("%w %q: codename %q must match ^[A-Za-z0-9_]+$", ErrInvalidPermission, name, codename)
	}
	return nil
}
