package authn

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewModel(t *testing.T) {
	cases := []struct {
		name  string
		spec  ModelSpec
		perms []string // PermissionNames, when no error
		names []string // Permission names, when given
		err   string
	}{
		{name: "defaults", spec: ModelSpec{Label: "blog.post"},
			perms: []string{"blog.add_post", "blog.change_post", "blog.delete_post", "blog.view_post"},
			names: []string{"Can add post", "Can change post", "Can delete post", "Can view post"}},
		{name: "custom and verbose name", spec: ModelSpec{Label: "blog.post", VerboseName: "blog post", Permissions: map[string]string{"can_publish": "Can publish posts"}},
			perms: []string{"blog.add_post", "blog.can_publish", "blog.change_post", "blog.delete_post", "blog.view_post"},
			names: []string{"Can add blog post", "Can publish posts", "Can change blog post", "Can delete blog post", "Can view blog post"}},
		{name: "no default permissions", spec: ModelSpec{Label: "shop.order", DefaultPermissions: []string{}, Permissions: map[string]string{"refund_order": "Can refund"}},
			perms: []string{"shop.refund_order"}},
		{name: "chosen defaults", spec: ModelSpec{Label: "shop.order", DefaultPermissions: []string{"view", "export"}},
			perms: []string{"shop.export_order", "shop.view_order"}},
		{name: "no dot", spec: ModelSpec{Label: "blogpost"}, err: `model "blogpost": want "app_label.model"`},
		{name: "upper case model", spec: ModelSpec{Label: "blog.Post"}, err: `model "blog.Post": want "app_label.model" in lower case`},
		{name: "bad action", spec: ModelSpec{Label: "blog.post", DefaultPermissions: []string{"Add"}}, err: `default permission action "Add" must match`},
		{name: "bad codename", spec: ModelSpec{Label: "blog.post", Permissions: map[string]string{"can-publish": "x"}}, err: `codename "can-publish" must match`},
		{name: "custom clashes with default", spec: ModelSpec{Label: "blog.post", Permissions: map[string]string{"add_post": "again"}}, err: `permission "add_post" declared twice`},
		{name: "empty human name", spec: ModelSpec{Label: "blog.post", Permissions: map[string]string{"can_publish": " "}}, err: `permission "can_publish" needs a human-readable name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewModel(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.PermissionNames(); !slices.Equal(got, tc.perms) {
				t.Errorf("permissions %v, want %v", got, tc.perms)
			}
			if tc.names != nil {
				var names []string
				for _, p := range m.Permissions {
					names = append(names, p.Name)
				}
				if !slices.Equal(names, tc.names) {
					t.Errorf("names %v, want %v", names, tc.names)
				}
			}
		})
	}
}

func TestBuiltinModelsCoverUserManagement(t *testing.T) {
	var all []string
	for _, m := range BuiltinModels() {
		all = append(all, m.PermissionNames()...)
	}
	for _, p := range []string{"auth.add_user", "auth.change_user", "auth.delete_user", "auth.view_user",
		"auth.add_group", "auth.change_group", "auth.delete_group", "auth.view_group",
		"auth.view_permission", "contenttypes.view_contenttype"} {
		if !slices.Contains(all, p) {
			t.Errorf("built-in models lack %s", p)
		}
	}
	if len(all) != 16 {
		t.Errorf("%d built-in permissions, want 16 (4 models x 4), as Django creates", len(all))
	}
}

// TestGrantRequiresDeclaration: like Django, where a Permission row must
// exist before it is granted, only declared permissions can be granted;
// declaring is additive and idempotent, and superusers hold exactly the
// declared permissions.
func TestGrantRequiresDeclaration(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	s := env.store
	mustCreate(t, s, "alice", "pw-alice-123", nil)
	root := mustCreate(t, s, "root", "pw-root-123", func(u *User) { u.IsSuperuser = true })
	if err := s.CreateGroup(ctx, "editors"); err != nil {
		t.Fatal(err)
	}

	err := s.GrantUserPermission(ctx, "alice", "blog.can_publsh")
	if !errors.Is(err, ErrPermissionNotDeclared) {
		t.Fatalf("grant of an undeclared permission: %v, want ErrPermissionNotDeclared", err)
	}
	for _, want := range []string{`"blog.can_publsh"`, `app "blog" declares no permissions`, "gateway.models", "import-django"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := s.GrantGroupPermission(ctx, "editors", "blog.view_post"); !errors.Is(err, ErrPermissionNotDeclared) {
		t.Fatalf("group grant of an undeclared permission: %v", err)
	}

	post, err := NewModel(ModelSpec{Label: "blog.post", Permissions: map[string]string{"can_publish": "Can publish posts"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := s.DeclareModels(ctx, append(BuiltinModels(), post)...); err != nil {
			t.Fatal(err)
		}
	}
	err = s.GrantUserPermission(ctx, "alice", "blog.can_publsh")
	if err == nil || !strings.Contains(err.Error(), "blog.add_post, blog.can_publish, blog.change_post") {
		t.Fatalf("typo after declaring: %v, want the app's declared permissions listed", err)
	}
	if err := s.GrantUserPermission(ctx, "alice", "blog.can_publish"); err != nil {
		t.Fatal(err)
	}
	if err := s.GrantGroupPermission(ctx, "editors", "auth.change_user"); err != nil {
		t.Fatal(err)
	}
	// Revoking never needs a declaration.
	if err := s.RevokeUserPermission(ctx, "alice", "never.declared"); err != nil {
		t.Fatal(err)
	}

	models, err := s.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, m := range models {
		labels = append(labels, m.Label())
	}
	if want := []string{"auth.group", "auth.permission", "auth.user", "blog.post", "contenttypes.contenttype"}; !slices.Equal(labels, want) {
		t.Errorf("models %v, want %v", labels, want)
	}

	p, err := s.LoadPrincipal(ctx, root.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Permissions) != 21 || !slices.Contains(p.Permissions, "blog.can_publish") {
		t.Errorf("superuser has %d permissions %v, want the 21 declared", len(p.Permissions), p.Permissions)
	}
}

// TestDeclareModelsMerges: declaring a model again adds its new
// permissions and keeps the first names, so the policy data and a Django
// import never undo each other.
func TestDeclareModelsMerges(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	first, _ := NewModel(ModelSpec{Label: "blog.post", DefaultPermissions: []string{"view"}})
	second, _ := NewModel(ModelSpec{Label: "blog.post", VerboseName: "blog post", Permissions: map[string]string{"can_publish": "Can publish"}})
	must(t, env.store.DeclareModels(ctx, first))
	must(t, env.store.DeclareModels(ctx, second))
	must(t, env.store.DeclareModels(ctx, first)) // no undoing
	models, err := env.store.Models(ctx)
	must(t, err)
	if len(models) != 1 {
		t.Fatalf("models %+v", models)
	}
	var got []string
	for _, p := range models[0].Permissions {
		got = append(got, p.Codename+"="+p.Name)
	}
	want := []string{"add_post=Can add blog post", "can_publish=Can publish", "change_post=Can change blog post",
		"delete_post=Can delete blog post", "view_post=Can view post"}
	if !slices.Equal(got, want) {
		t.Errorf("merged record %v, want %v", got, want)
	}
}
