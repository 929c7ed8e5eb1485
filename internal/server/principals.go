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

// ready completes a principal just loaded from the store, before anyone
// else sees it (cached principals are shared by concurrent requests and
// never modified): the profile every later step reads (policy, headers,
// assertion, /me), declared fields, typed, with defaults. It returns p.
func (s *Server) ready(p *authn.Principal) *authn.Principal {
	if p.IsAuthenticated() {
		p.Profile = s.profile.Effective(p.User.Profile)
	}
	return p
}

// cachedSessions is a Sessions that drops a session from the principal
// cache as it deletes it, so that this gateway never serves it again
// even before the store's announcement arrives.
type cachedSessions struct {
	Sessions
	cache *principalcache.Cache
}

func (c cachedSessions) Delete(ctx context.Context, id string) error {
	c.cache.Remove(sessionKey(sessionstore.Member(id)))
	return c.Sessions.Delete(ctx, id)
}

// cachedSession is a live session whose auth hash was checked, and its
// ready principal.
type cachedSession struct {
	sess *sessionstore.Session
	p    *authn.Principal
}

func sessionKey(member string) string { return "s" + member }

// cachedSession returns the cached session under key unless it ended
// since (its idle or absolute deadline passed: Redis then says so and
// cleans up).
func (s *Server) cachedSession(key string, now time.Time, lt sessionstore.Lifetime) (*cachedSession, bool) {
	v, ok := s.principals.Get(key)
	if !ok {
		return nil, false
	}
	cs := v.(*cachedSession)
	if !now.Before(lt.Expiry(cs.sess.CreatedAt, cs.sess.LastActivity)) {
		return nil, false
	}
	return cs, true
}

// cacheSession keeps a session until the next write-back of its last
// activity is due (LastActivity + session.refresh_interval: the request
// after that reads Redis, which writes it back), so last activity and
// the idle timeout are tracked exactly as without the cache; and never
// past the session's end. A refresh interval of 0 writes on every
// request: nothing is kept.
func (s *Server) cacheSession(key, member string, seq uint64, sess *sessionstore.Session, p *authn.Principal, now time.Time, lt sessionstore.Lifetime) {
	ttl := min(sess.LastActivity.Add(lt.Refresh).Sub(now), lt.Expiry(sess.CreatedAt, sess.LastActivity).Sub(now))
	s.principals.Put(key, &cachedSession{sess: sess, p: p}, ttl, seq,
		"s "+member, "u "+strconv.FormatInt(sess.UserID, 10))
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

// cachedExternal returns the principal of an identity provider's token
// (see cacheExternal).
func (s *Server) cachedExternal(key string, now time.Time) (*authn.Principal, bool) {
	v, ok := s.principals.Get(key)
	if !ok {
		return nil, false
	}
	ce := v.(*cachedExternalToken)
	if !now.Before(ce.exp) {
		return nil, false
	}
	return ce.p, true
}

type cachedExternalToken struct {
	p   *authn.Principal
	exp time.Time
}

// cacheExternal keeps an identity provider's token's principal until the
// token expires (at most the cache's TTL), dropped with any change to
// its user.
func (s *Server) cacheExternal(key string, seq uint64, p *authn.Principal, exp, now time.Time) {
	if exp.IsZero() {
		return
	}
	s.principals.Put(key, &cachedExternalToken{p: p, exp: exp}, exp.Sub(now), seq,
		"u "+strconv.FormatInt(p.User.ID, 10))
}
