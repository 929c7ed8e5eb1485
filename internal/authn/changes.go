package authn

// The changes channel: every script that changes what a cached principal
// was built from announces it there, in the same script as the change, so
// that every gateway drops what it cached (package principalcache). The
// message is a tag naming what changed:
//
//	u <user id>        a user's record, groups or direct permissions
//	s <session hash>   one session (the SHA-256 member of the index)
//	f <family>         one refresh-token family and its access tokens
//	j <jti>            one access token
//	*                  anything that can change many principals: a group's
//	                   permissions or deletion, declared models, an import

// ChangesChannel is the pub/sub channel of the changes announced under
// base (KeyBase). Pub/sub channels are not keys: in a Redis Cluster a
// PUBLISH reaches subscribers on every node.
func ChangesChannel(base string) string { return base + "changes" }

// LuaAnnounce defines announce(base, tag) for the scripts: it publishes
// tag on ChangesChannel(base).
const LuaAnnounce = `
local function announce(base, tag)
  redis.call('PUBLISH', base .. 'changes', tag)
end
`
