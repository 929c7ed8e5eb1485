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

// cachedToken is a verified bearer token's principal: one of the
// gateway's access tokens (family set) or an identity provider's.
type cachedToken struct {
	p      *authn.Principal
	exp    time.Time
	family string // the refresh-token family of a gateway access token
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "t" + hex.EncodeToString(sum[:])
}

// cachedBearer returns the cached token under key, if any and not yet
// expired.
func (s *Server) cachedBearer(key string, now time.Time) (*cachedToken, bool) {
	v, ok := s.principals.Get(key)
	if !ok {
		return nil, false
	}
	ct := v.(*cachedToken)
	if !now.Before(ct.exp) {
		return nil, false
	}
	return ct, true
}

// cacheBearer keeps a verified token's principal until the token expires
// (at most the cache's TTL), dropped with any change to its user and by
// tags (a gateway token's family and jti).
func (s *Server) cacheBearer(key string, seq uint64, ct *cachedToken, now time.Time, tags ...string) {
	if ct.exp.IsZero() {
		return
	}
	tags = append(tags, "u "+strconv.FormatInt(ct.p.User.ID, 10))
	s.principals.Put(key, ct, ct.exp.Sub(now), seq, tags...)
}
