// Package tokens issues and verifies the gateway's own JSON Web Tokens
// (access tokens, upstream identity assertions), publishes the public
// signing keys as a JWKS, and keeps refresh tokens and revocation state
// in Redis.
//
// Every verification failure wraps ErrInvalidToken; store failures wrap
// ErrUnavailable so callers can fail closed. Error messages never contain
// token text, which is a credential.
package tokens

import "errors"

// Sentinel errors.
var (
	ErrInvalidToken = errors.New("invalid token") // malformed, bad signature, expired, wrong iss/aud/alg/kid, revoked...
	ErrRevoked      = errors.New("token revoked") // wrap together with ErrInvalidToken: fmt.Errorf("%w: %w", ErrInvalidToken, ErrRevoked)
	ErrReused       = errors.New("refresh token reused; its family is revoked")
	ErrUnavailable  = errors.New("token store unavailable") // Redis / network failures: callers fail closed (503)
)
