# METADATA
# title: Django auth semantics
# description: |
#   A small library that answers the questions Django's auth system answers,
#   over input.user (see policies/README.md for the schema):
#
#     is_authenticated          user.is_authenticated
#     is_active                 an authenticated user with is_active
#     is_active_staff           an active user with is_staff (the admin check)
#     is_active_superuser       an active user with is_superuser
#     has_perm(p)               user.has_perm(p)
#     has_perms(ps)             user.has_perms(ps) (all of them; [] is satisfied)
#     has_module_perms(app)     user.has_module_perms(app)
#     in_group(name)            an active member of the group
#     in_any_group(names)       an active member of any of the groups
#
#   The rules of ModelBackend apply: an inactive user has no permissions,
#   an active superuser has every permission, an anonymous user has none.
#   input.user.permissions is the set of the user's effective permissions
#   (direct ones and those of their groups), computed by the gateway.
package gateway.django

# The user's standing, decided once per query from input.user:
#   "anonymous"  not authenticated
#   "inactive"   authenticated, is_active not set
#   "superuser"  active, with is_superuser
#   "active"     active, not a superuser
# Every predicate below derives from it. (Rules with `else` stop at the
# first body that holds, which keeps this library cheap to call; see
# "Keeping a policy fast" in policies/README.md.)
standing := "anonymous" if {
	not input.user.is_authenticated == true
} else := "inactive" if {
	not input.user.is_active == true
} else := "superuser" if {
	input.user.is_superuser == true
} else := "active"

# user.is_authenticated: false for the anonymous user.
is_authenticated := standing != "anonymous"

# An authenticated user whose is_active flag is set. Inactive users are
# treated like Django's ModelBackend does: no permissions at all.
is_active := standing in {"superuser", "active"}

# An active user with is_staff: what Django's admin site requires
# (AdminSite.has_permission). is_superuser alone does not make a user staff.
is_active_staff if {
	is_active
	input.user.is_staff == true
} else := false

# An active superuser: has every permission.
is_active_superuser := standing == "superuser"

# user.has_perm(perm): true for an active superuser, or for an active user
# whose effective permissions contain perm ("app_label.codename").
has_perm(perm) if {
	standing == "superuser"
} else if {
	standing == "active"
	perm in input.user.permissions
} else := false

# user.has_perms(perms): every permission in the list (or set) perms.
# Like Django, an empty list is satisfied, for anyone.
has_perms(perms) if {
	is_collection(perms)
	count(perms) == 0
} else if {
	standing == "superuser"
	is_collection(perms)
} else if {
	standing == "active"
	is_collection(perms)
	count([p | some p in perms; not p in input.user.permissions]) == 0
} else := false

is_collection(x) if is_array(x)

is_collection(x) if is_set(x)

# user.has_module_perms(app_label): an active superuser, or an active user
# with at least one permission in the app.
has_module_perms(app_label) if {
	standing == "superuser"
} else if {
	standing == "active"
	prefix := concat("", [app_label, "."])
	some p in input.user.permissions
	startswith(p, prefix)
} else := false

# An active user who belongs to the group called name. Django has no such
# method; this mirrors user.groups.filter(name=name).exists() on an active
# user. Being a superuser does not imply membership.
in_group(name) if {
	is_active
	name in input.user.groups
} else := false

# An active user who belongs to at least one of the groups in names.
in_any_group(names) if {
	some name in names
	in_group(name)
} else := false
