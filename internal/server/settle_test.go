package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djangate/gateway/internal/authn"
	"github.com/djangate/gateway/internal/principalcache"
	"github.com/djangate/gateway/internal/profile"
	"github.com/djangate/gateway/internal/sessionstore"
)

// A change the tests make through the stores reaches the gateway's
// principal cache through Redis's changes channel: within milliseconds,
// but not synchronously, exactly as a change made by the CLI in another
// process. Tests that change the store and then expect the gateway to
// act on it at once wait for the change to be applied: settle publishes
// a marker after the change and waits until the gateway's cache has
// received it (announcements arrive in order, so the change's own
// announcement was applied before). The wrappers below settle after
// every change.

var settleSeq atomic.Int64

// settler waits until cache has applied every announcement published
// on rdb so far. A nil cache (caching off) needs no wait.
type settler struct {
	t       testing.TB
	rdb     redis.UniversalClient
	channel string
	cache   *principalcache.Cache
}

func (s settler) settle() {
	if s.cache == nil || !s.cache.Live() {
		// Not subscribed: the cache serves and stores nothing, and is
		// emptied when it subscribes again.
		return
	}
	s.t.Helper()
	marker := fmt.Sprintf("test-marker %d", settleSeq.Add(1))
	if err := s.rdb.Publish(context.Background(), s.channel, marker).Err(); err != nil {
		return // Redis is down: nothing is cached either
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.cache.LastAnnouncement() != marker && s.cache.Live() {
		if time.Now().After(deadline) {
			s.t.Fatalf("the gateway's cache did not receive %q within 5s", marker)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// settlingUsers is the user store, settling after every change.
type settlingUsers struct {
	*authn.Store
	settler
}

func (u *settlingUsers) done(err error) error { u.settle(); return err }

func (u *settlingUsers) SetActive(ctx context.Context, username string, active bool) error {
	return u.done(u.Store.SetActive(ctx, username, active))
}
func (u *settlingUsers) SetFlags(ctx context.Context, username string, staff, superuser *bool) error {
	return u.done(u.Store.SetFlags(ctx, username, staff, superuser))
}
func (u *settlingUsers) SetPassword(ctx context.Context, username, encoded string) error {
	return u.done(u.Store.SetPassword(ctx, username, encoded))
}
func (u *settlingUsers) DeleteUser(ctx context.Context, username string) error {
	return u.done(u.Store.DeleteUser(ctx, username))
}
func (u *settlingUsers) DeleteGroup(ctx context.Context, name string) error {
	return u.done(u.Store.DeleteGroup(ctx, name))
}
func (u *settlingUsers) AddUserToGroup(ctx context.Context, username, group string) error {
	return u.done(u.Store.AddUserToGroup(ctx, username, group))
}
func (u *settlingUsers) RemoveUserFromGroup(ctx context.Context, username, group string) error {
	return u.done(u.Store.RemoveUserFromGroup(ctx, username, group))
}
func (u *settlingUsers) GrantUserPermission(ctx context.Context, username, perm string) error {
	return u.done(u.Store.GrantUserPermission(ctx, username, perm))
}
func (u *settlingUsers) RevokeUserPermission(ctx context.Context, username, perm string) error {
	return u.done(u.Store.RevokeUserPermission(ctx, username, perm))
}
func (u *settlingUsers) GrantGroupPermission(ctx context.Context, group, perm string) error {
	return u.done(u.Store.GrantGroupPermission(ctx, group, perm))
}
func (u *settlingUsers) RevokeGroupPermission(ctx context.Context, group, perm string) error {
	return u.done(u.Store.RevokeGroupPermission(ctx, group, perm))
}
func (u *settlingUsers) ChangePassword(ctx context.Context, usr *authn.User, newPassword string) (*authn.User, error) {
	v, err := u.Store.ChangePassword(ctx, usr, newPassword)
	return v, u.done(err)
}
func (u *settlingUsers) SetUserGroups(ctx context.Context, username string, groups []string) ([]string, error) {
	v, err := u.Store.SetUserGroups(ctx, username, groups)
	return v, u.done(err)
}
func (u *settlingUsers) UpdateProfile(ctx context.Context, username string, update func(profile.Values) (profile.Values, error)) (profile.Values, error) {
	v, err := u.Store.UpdateProfile(ctx, username, update)
	return v, u.done(err)
}
func (u *settlingUsers) Import(ctx context.Context, set authn.ImportSet, prior *authn.ImportState) (*authn.ImportResult, error) {
	v, err := u.Store.Import(ctx, set, prior)
	return v, u.done(err)
}

// settlingSessions is the session store, settling after every change.
type settlingSessions struct {
	*sessionstore.Store
	settler
}

func (s *settlingSessions) Delete(ctx context.Context, id string) error {
	err := s.Store.Delete(ctx, id)
	s.settle()
	return err
}
func (s *settlingSessions) Revoke(ctx context.Context, userID int64, prefix string) (int, error) {
	n, err := s.Store.Revoke(ctx, userID, prefix)
	s.settle()
	return n, err
}
func (s *settlingSessions) RevokeAll(ctx context.Context, userID int64) (int, error) {
	n, err := s.Store.RevokeAll(ctx, userID)
	s.settle()
	return n, err
}
