package authn

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestSetUserGroups(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	s := e.store
	mustCreate(t, s, "ana", "pw-ana-123", nil)
	for _, g := range []string{"editors", "staff", "ops"} {
		must(t, s.CreateGroup(ctx, g))
	}
	must(t, s.AddUserToGroup(ctx, "ana", "ops"))
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"replace, ignoring unknown and invalid groups", []string{"editors", "nosuch", "staff", ""}, []string{"editors", "staff"}},
		{"same again is a no-op", []string{"staff", "editors"}, []string{"editors", "staff"}},
		{"shrink", []string{"staff"}, []string{"staff"}},
		{"empty", nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SetUserGroups(ctx, "ana", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				got = []string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			// Both sides of each membership agree.
			for _, g := range []string{"editors", "staff", "ops"} {
				members, err := s.GroupMembers(ctx, g)
				if err != nil {
					t.Fatal(err)
				}
				in := false
				for _, w := range tc.want {
					in = in || w == g
				}
				if (len(members) == 1 && members[0] == "ana") != in {
					t.Fatalf("group %s members %q, want ana in it: %v", g, members, in)
				}
			}
		})
	}
	if _, err := s.SetUserGroups(ctx, "nobody", []string{"staff"}); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
