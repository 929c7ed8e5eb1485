package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/principalcache"
	"github.com/djangate/gateway/internal/sessionstore"
	"github.com/djangate/gateway/internal/tokens"
)

// The principal cache (package principalcache) spares a session or an
// access token in steady state its Redis round trip, and an access token
// its signature check. Entries are tagged with what they were built from,
// so that the stores' announcements drop them: a session with "s
// <member>" and "u <uid>", an access token with "u <uid>", "f <family>"
// and "j <jti>".

// cachedSessions is a Sessions whose Load answers from the principal
// cache while it is live.
type cachedSessions struct {
	Sessions
	cache *principalcache.Cache
}

type cachedSession struct {
	sess *sessionstore.Session
	p    *authn.Principal
}

func sessionKey(member string) string { return "s" + member }

func (c cachedSessions) Load(ctx context.Context, id string, now time.Time, lt sessionstore.Lifetime) (*sessionstore.Session, *authn.Principal, error) {
	member := sessionstore.Member(id)
	key := sessionKey(member)
	if v, ok := c.cache.Get(key); ok {
		cs := v.(*cachedSession)
		if now.Before(lt.Expiry(cs.sess.CreatedAt, cs.sess.LastActivity)) {
			return cs.sess, cs.p, nil
		}
		// Expired since: Redis says so and cleans up.
	}
	seq := c.cache.Begin()
	sess, p, err := c.Sessions.Load(ctx, id, now, lt)
	if err != nil {
		return sess, p, err
	}
	// Kept at most until the next write-back of last activity is due, so
	// the idle timeout is tracked as without the cache; never past the
	// session's end. A refresh interval of 0 writes on every request:
	// nothing is kept.
	ttl := min(lt.Refresh, lt.Expiry(sess.CreatedAt, sess.LastActivity).Sub(now))
	c.cache.Put(key, &cachedSession{sess: sess, p: p}, ttl, seq,
		"s "+member, "u "+strconv.FormatInt(sess.UserID, 10))
	return sess, p, nil
}

// Delete ends the session and drops it here at once; other gateways drop
// it when the store's announcement reaches them.
func (c cachedSessions) Delete(ctx context.Context, id string) error {
	c.cache.Remove(sessionKey(sessionstore.Member(id)))
	return c.Sessions.Delete(ctx, id)
}

// cachedToken is a verified gateway access token and its principal.
type cachedToken struct {
	claims *tokens.AccessClaims
	p      *authn.Principal
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "t" + hex.EncodeToString(sum[:])
}

// cachedAccess returns the cached claims and principal of tok, if any
// and not yet expired.
func (s *Server) cachedAccess(key string, now time.Time) (*cachedToken, bool) {
	v, ok := s.principals.Get(key)
	if !ok {
		return nil, false
	}
	ct := v.(*cachedToken)
	if ct.claims.ExpiresAt == nil || !now.Before(ct.claims.ExpiresAt.Time) {
		return nil, false
	}
	return ct, true
}

// cacheAccess keeps a verified token's principal until the token expires
// (at most the cache's TTL).
func (s *Server) cacheAccess(key string, seq uint64, c *tokens.AccessClaims, p *authn.Principal, now time.Time) {
	if c.ExpiresAt == nil {
		return
	}
	s.principals.Put(key, &cachedToken{claims: c, p: p}, c.ExpiresAt.Sub(now), seq,
		"u "+strconv.FormatInt(p.User.ID, 10), "f "+c.Family, "j "+c.ID)
}
