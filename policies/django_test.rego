package gateway.django_test

import data.gateway.django

# Users, shaped like the gateway's input.user.

anonymous := {
	"is_authenticated": false,
	"is_anonymous": true,
	"username": "",
	"is_active": false,
	"is_staff": false,
	"is_superuser": false,
	"groups": [],
	"permissions": set(),
}

alice := {
	"is_authenticated": true,
	"is_anonymous": false,
	"username": "alice",
	"is_active": true,
	"is_staff": false,
	"is_superuser": false,
	"groups": ["editors", "writers"],
	"permissions": {"blog.view_post", "blog.change_post", "reports.view_report"},
}

# alice after her account was deactivated: the gateway may still send her
# permissions; the library must ignore them.
inactive_alice := object.union(alice, {"is_active": false})

root := object.union(alice, {"username": "root", "is_superuser": true, "groups": [], "permissions": set()})

inactive_root := object.union(root, {"is_active": false})

staff := object.union(alice, {"username": "sam", "is_staff": true})

inactive_staff := object.union(staff, {"is_active": false})

# A superuser without is_staff is not staff (Django's admin requires is_staff).
root_not_staff := root

# A malformed input: is_active without is_authenticated never counts.
ghost := object.union(anonymous, {"is_active": true, "is_superuser": true, "permissions": {"blog.view_post"}})

test_is_authenticated[name] if {
	some name, tc in {
		"anonymous": {"user": anonymous, "want": false},
		"active user": {"user": alice, "want": true},
		"inactive user": {"user": inactive_alice, "want": true},
		"no user at all": {"user": null, "want": false},
	}
	django.is_authenticated == tc.want with input.user as tc.user
}

test_is_active[name] if {
	some name, tc in {
		"anonymous": {"user": anonymous, "want": false},
		"active user": {"user": alice, "want": true},
		"inactive user": {"user": inactive_alice, "want": false},
		"active flag without authentication": {"user": ghost, "want": false},
	}
	django.is_active == tc.want with input.user as tc.user
}

test_is_active_staff[name] if {
	some name, tc in {
		"anonymous": {"user": anonymous, "want": false},
		"plain user": {"user": alice, "want": false},
		"staff": {"user": staff, "want": true},
		"inactive staff": {"user": inactive_staff, "want": false},
		"superuser without is_staff": {"user": root_not_staff, "want": false},
	}
	django.is_active_staff == tc.want with input.user as tc.user
}

test_is_active_superuser[name] if {
	some name, tc in {
		"anonymous": {"user": anonymous, "want": false},
		"plain user": {"user": alice, "want": false},
		"superuser": {"user": root, "want": true},
		"inactive superuser": {"user": inactive_root, "want": false},
		"superuser flag without authentication": {"user": ghost, "want": false},
	}
	django.is_active_superuser == tc.want with input.user as tc.user
}

test_has_perm[name] if {
	some name, tc in {
		"user with the permission": {"user": alice, "perm": "blog.change_post", "want": true},
		"user without the permission": {"user": alice, "perm": "blog.delete_post", "want": false},
		"inactive user with the permission": {"user": inactive_alice, "perm": "blog.change_post", "want": false},
		"active superuser: everything": {"user": root, "perm": "anything.at_all", "want": true},
		"inactive superuser: nothing": {"user": inactive_root, "perm": "blog.view_post", "want": false},
		"anonymous: nothing": {"user": anonymous, "perm": "blog.view_post", "want": false},
		"unauthenticated input with permissions: nothing": {"user": ghost, "perm": "blog.view_post", "want": false},
	}
	django.has_perm(tc.perm) == tc.want with input.user as tc.user
}

# JSON input (opa eval -i) can't carry sets: a permissions array works too.
test_has_perm_permissions_as_array if {
	django.has_perm("blog.view_post") with input.user as object.union(alice, {"permissions": ["blog.view_post"]})
}

test_has_perms[name] if {
	some name, tc in {
		"all present": {"user": alice, "perms": ["blog.view_post", "blog.change_post"], "want": true},
		"one missing": {"user": alice, "perms": ["blog.view_post", "blog.delete_post"], "want": false},
		"a set": {"user": alice, "perms": {"blog.view_post", "blog.change_post"}, "want": true},
		"empty list, user": {"user": alice, "perms": [], "want": true},
		"empty list, anonymous (Django: all([]) is True)": {"user": anonymous, "perms": [], "want": true},
		"empty list, inactive": {"user": inactive_alice, "perms": [], "want": true},
		"inactive user": {"user": inactive_alice, "perms": ["blog.view_post"], "want": false},
		"active superuser": {"user": root, "perms": ["x.a", "y.b"], "want": true},
		"inactive superuser": {"user": inactive_root, "perms": ["x.a"], "want": false},
		"anonymous": {"user": anonymous, "perms": ["blog.view_post"], "want": false},
		"a string is not a list (Django raises ValueError)": {"user": root, "perms": "blog.view_post", "want": false},
	}
	django.has_perms(tc.perms) == tc.want with input.user as tc.user
}

test_has_module_perms[name] if {
	some name, tc in {
		"user with a perm in the app": {"user": alice, "app": "reports", "want": true},
		"user without perms in the app": {"user": alice, "app": "shop", "want": false},
		"app label is not a prefix match": {"user": alice, "app": "blo", "want": false},
		"inactive user": {"user": inactive_alice, "app": "blog", "want": false},
		"active superuser": {"user": root, "app": "shop", "want": true},
		"inactive superuser": {"user": inactive_root, "app": "shop", "want": false},
		"anonymous": {"user": anonymous, "app": "blog", "want": false},
	}
	django.has_module_perms(tc.app) == tc.want with input.user as tc.user
}

test_in_group[name] if {
	some name, tc in {
		"member": {"user": alice, "group": "editors", "want": true},
		"not a member": {"user": alice, "group": "admins", "want": false},
		"inactive member": {"user": inactive_alice, "group": "editors", "want": false},
		"superuser is not implicitly a member": {"user": root, "group": "editors", "want": false},
		"anonymous": {"user": anonymous, "group": "editors", "want": false},
	}
	django.in_group(tc.group) == tc.want with input.user as tc.user
}

test_in_any_group[name] if {
	some name, tc in {
		"member of one": {"user": alice, "groups": ["admins", "writers"], "want": true},
		"member of none": {"user": alice, "groups": ["admins", "sales"], "want": false},
		"empty list": {"user": alice, "groups": [], "want": false},
		"inactive member": {"user": inactive_alice, "groups": ["editors"], "want": false},
	}
	django.in_any_group(tc.groups) == tc.want with input.user as tc.user
}
