package authn

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestChangesAnnounced: every store operation that changes what a
// principal is built from announces it on the changes channel with the
// tag that names what changed (package principalcache drops cached
// principals by it), and reads announce nothing.
func TestChangesAnnounced(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	must(t, s.RegisterPermissions(ctx, "blog.view_post", "blog.add_post"))
	alice := mustCreate(t, s, "alice", "correct horse battery", nil)
	must(t, s.CreateGroup(ctx, "editors"))
	uid := "u " + strconv.FormatInt(alice.ID, 10)

	ps := e.rdb.Subscribe(ctx, ChangesChannel(s.base))
	defer ps.Close()
	if _, err := ps.ReceiveTimeout(ctx, 2*time.Second); err != nil { // the subscription
		t.Fatal(err)
	}
	// next returns the tags announced by op (read until a quiet spell).
	next := func(op func() error) []string {
		t.Helper()
		must(t, op())
		var tags []string
		for {
			msg, err := ps.ReceiveTimeout(ctx, 150*time.Millisecond)
			if err != nil {
				return tags
			}
			if m, ok := msg.(*redis.Message); ok {
				tags = append(tags, m.Payload)
			}
		}
	}
	f, tr := false, true
	cases := []struct {
		name string
		op   func() error
		want []string
	}{
		{"add to group", func() error { return s.AddUserToGroup(ctx, "alice", "editors") }, []string{uid}},
		{"grant user permission", func() error { return s.GrantUserPermission(ctx, "alice", "blog.view_post") }, []string{uid}},
		{"revoke user permission", func() error { return s.RevokeUserPermission(ctx, "alice", "blog.view_post") }, []string{uid}},
		{"grant group permission", func() error { return s.GrantGroupPermission(ctx, "editors", "blog.add_post") }, []string{"*"}},
		{"revoke group permission", func() error { return s.RevokeGroupPermission(ctx, "editors", "blog.add_post") }, []string{"*"}},
		{"set flags", func() error { return s.SetFlags(ctx, "alice", &tr, &f) }, []string{uid}},
		{"deactivate", func() error { return s.SetActive(ctx, "alice", false) }, []string{uid}},
		{"activate", func() error { return s.SetActive(ctx, "alice", true) }, []string{uid}},
		{"last login", func() error { return s.UpdateLastLogin(ctx, alice.ID, time.Now()) }, []string{uid}},
		{"set groups, changed", func() error { _, err := s.SetUserGroups(ctx, "alice", nil); return err }, []string{uid}},
		{"set groups, unchanged", func() error { _, err := s.SetUserGroups(ctx, "alice", nil); return err }, nil},
		{"change password", func() error {
			u, err := s.GetUserByUsername(ctx, "alice")
			if err != nil {
				return err
			}
			_, err = s.ChangePassword(ctx, u, "another long passphrase")
			return err
		}, []string{uid}},
		{"register permissions", func() error { return s.RegisterPermissions(ctx, "blog.delete_post") }, []string{"*"}},
		{"declare models", func() error { return s.DeclareModels(ctx, BuiltinModels()...) }, []string{"*"}},
		{"reads", func() error {
			_, err := s.LoadPrincipal(ctx, alice.ID, "session")
			if err == nil {
				_, err = s.GroupMembers(ctx, "editors")
			}
			return err
		}, nil},
		{"delete group", func() error { return s.DeleteGroup(ctx, "editors") }, []string{"*"}},
		{"delete user", func() error { return s.DeleteUser(ctx, "alice") }, []string{uid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := next(tc.op); !slices.Equal(got, tc.want) {
				t.Fatalf("announced %q, want %q", got, tc.want)
			}
		})
	}
}
