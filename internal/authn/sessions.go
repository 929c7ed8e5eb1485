package authn

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// What this package knows about sessions: where they live (they share the
// {auth} hash tag with the users, see the key layout in store.go), how a
// session is bound to the user's credentials, and how the scripts that
// change a user end that user's sessions. Package sessionstore stores and
// reads them.

// KeyBase is the prefix of every identity and session key: keyPrefix
// (redis.key_prefix) followed by the {auth} hash tag.
func KeyBase(keyPrefix string) string { return keyPrefix + "{auth}:" }

// SessionKey is the key of the session whose key id (the SHA-256 of its
// id, base64url without padding; package sessionstore) is keyID.
func SessionKey(base, keyID string) string { return base + "s:" + keyID }

// UserKey is the key of a user's hash, which also holds the user's session
// index: a field SessionFieldPrefix + key id per session, valued with the
// session's expiry (Unix ms).
func UserKey(base string, userID int64) string {
	return base + "user:" + strconv.FormatInt(userID, 10)
}

// SessionAuthKey derives the key of SessionAuthHash from secret_key, so
// that the secret is never used raw and never for two purposes.
func SessionAuthKey(secretKey string) []byte {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write([]byte("gateway session auth hash v1"))
	return m.Sum(nil)
}

// SessionAuthHash is what a session records to stay bound to the user's
// credentials, as Django's get_session_auth_hash: HMAC-SHA256 under key
// (SessionAuthKey) of the user id and the user's auth secret, its first
// 128 bits base64url (22 characters; like tokens' AuthBinding). A session
// whose hash no longer matches the user's (their password was changed
// since) is dead. Compare hashes with hmac.Equal.
func SessionAuthHash(key []byte, userID int64, authSecret string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.FormatInt(userID, 10)))
	m.Write([]byte{0})
	m.Write([]byte(authSecret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// newAuthSecret returns a fresh random auth secret: 256 bits, base64url
// (43 characters).
func newAuthSecret() string {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux ≥ 3.17
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

// DecodePrincipal decodes the reply of the Lua function LuaLoadPrincipal
// defines for the user userID. A malformed record wraps ErrUnavailable:
// it cannot be trusted, so callers fail closed.
func DecodePrincipal(userID int64, backend string, reply []any) (*Principal, error) {
	return decodePrincipal("load principal "+strconv.FormatInt(userID, 10), userID, backend, reply)
}

// ChangePassword is an explicit password change by the user (the
// gateway's password change page): it hashes newPassword with the
// preferred hasher (waiting for a hashing slot like logins) and, in one
// script, stores it only if the stored hash still is u.Password (the one
// just verified), replaces the auth secret and ends all of the user's
// sessions. It returns the user with the new hash and secret. If the
// password was changed meanwhile it writes nothing and the error wraps
// ErrInvalidCredentials; a deleted user is ErrUserNotFound. Password
// validation is the caller's (Validators).
func (s *Store) ChangePassword(ctx context.Context, u *User, newPassword string) (*User, error) {
	const op = "change password"
	if u == nil || u.ID <= 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrUserNotFound)
	}
	if newPassword == "" {
		return nil, fmt.Errorf("%s: %w", op, ErrEmptyPassword)
	}
	enc, err := s.hashers.MakeContext(ctx, newPassword)
	switch {
	case ctx.Err() != nil && err != nil:
		return nil, fmt.Errorf("%s: %w", op, errors.Join(ErrUnavailable, err))
	case err != nil:
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	secret := newAuthSecret()
	id := strconv.FormatInt(u.ID, 10)
	args := append([]any{s.base, id, u.Password, secret}, passwordFields(enc)...)
	n, err := changePasswordScript.Run(ctx, s.rdb, []string{s.userKey(u.ID)}, args...).Int64()
	if err != nil {
		return nil, storeError(fmt.Sprintf("%s of user %s", op, id), err)
	}
	if n != 1 {
		return nil, fmt.Errorf("%s: the password was changed meanwhile: %w", op, ErrInvalidCredentials)
	}
	nu := *u
	nu.Password, nu.AuthSecret = enc, secret
	return &nu, nil
}

// KnownPermsKey is the key of the set of every known permission, which
// scripts reading a principal need (LuaLoadPrincipal's permskey).
func KnownPermsKey(base string) string { return base + "perms" }
