# METADATA
# title: Gateway authorization decision
# description: |
#   The gateway evaluates data.gateway.authz.decision for every request and
#   enforces its "allow". Routes live in data (policies/data.yaml,
#   data.gateway.routes): the first route that matches the request's path
#   (and method, when the route lists methods) decides, and its requirement
#   is checked with the Django semantics of data.gateway.django.
#   See policies/README.md.
package gateway.authz

import data.gateway.django

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

# The decision object. Always defined: a request no route matches is denied.
# It is the route table's decision (route_decision), narrowed by the
# profile rules (profile_denials, below): an allow that a profile rule
# objects to becomes a deny.
default decision := {"allow": false, "reason": "no route matches"}

decision := {"allow": false, "reason": concat("", [d.reason, "; denied by profile rule: ", reasons[0]])} if {
	d := route_decision
	d.allow == true
	reasons := sort(profile_denials)
	count(reasons) > 0
} else := route_decision

# The route table's decision.
default route_decision := {"allow": false, "reason": "no route matches"}

# The fast paths come first: the most common allows, checked with as few
# steps as possible. Each gives exactly what the general rule at the end
# gives for the same request (it is only a shortcut through verdict), so
# reading the general rule is enough to know what the policy decides.
route_decision := {"allow": true, "reason": concat("", [info.label, required.has])} if {
	# An active user (not a superuser) holding the model permission for
	# the method.
	info := route_info[route_index]
	required := info.need.by_method[input.request.method]
	django.standing == "active"
	count([p | some p in required.perms; not p in input.user.permissions]) == 0
} else := {"allow": true, "reason": concat("", [info.label, info.need.has])} if {
	# An active user (not a superuser) holding every permission listed.
	info := route_info[route_index]
	info.need.kind == "permissions"
	django.standing == "active"
	count(info.need.perms) > 0
	count([p | some p in info.need.perms; not p in input.user.permissions]) == 0
} else := {"allow": true, "reason": concat("", [info.label, "public"])} if {
	# A public route.
	info := route_info[route_index]
	info.need.kind == "public"
} else := {"allow": true, "reason": concat("", [info.label, "logged in"])} if {
	# A login route and an active user.
	info := route_info[route_index]
	info.need.kind == "login"
	django.standing in {"active", "superuser"}
} else := {"allow": v.allow, "reason": concat("", [info.label, v.reason])} if {
	# The general rule.
	info := route_info[route_index]
	v := verdict(info.need)
}

# ---------------------------------------------------------------------------
# Route selection: the first route (lowest index) that matches wins.
# ---------------------------------------------------------------------------

# Indexes of every route that matches the request's path and method.
#
# Written as one loop over the table, which is how `opa test` and `opa eval`
# evaluate it. The gateway instead partially evaluates it once per policy
# load (custom.precompute): with the table known, each route becomes one
# rule with constant conditions, e.g.
#
#   matching_routes contains 4 if startswith(input.request.path, "/reports/")
#
# and OPA's rule index picks the rules whose conditions can hold, so the
# cost of a request does not grow with the table. Keep these bodies to
# the conditions the index understands (==, startswith, glob.match with
# a constant pattern, `in` a constant list); see "Keeping a policy fast"
# in policies/README.md.
#
# METADATA
# custom:
#   precompute: true
matching_routes contains i if {
	some i, r in route_objects
	input.request.path == r.path
	method_matches(r)
}

matching_routes contains i if {
	some i, r in route_objects
	startswith(input.request.path, r.prefix)
	method_matches(r)
}

matching_routes contains i if {
	some i, r in route_objects
	glob.match(r.glob, ["/"], input.request.path)
	method_matches(r)
}

# A route without methods matches the standard methods only; any other
# method (PROPFIND, TRACE, a lower-case "get", ...) matches only a route
# that lists it. Methods are compared case-sensitively, as HTTP does.
method_matches(r) if {
	not "methods" in object.keys(r)
	input.request.method in standard_methods
}

method_matches(r) if input.request.method in r.methods

standard_methods := {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# The index of the route that decides; undefined when none matches.
route_index := min(matching_routes)

# The route that decides.
route := data.gateway.routes[route_index]

route_label(r) := sprintf("path %s", [r.path]) if {
	is_string(r.path)
} else := sprintf("prefix %s", [r.prefix]) if {
	is_string(r.prefix)
} else := sprintf("glob %s", [r.glob]) if {
	is_string(r.glob)
} else := "no matcher"

# ---------------------------------------------------------------------------
# Requirements.
#
# route_info[i] is what the policy needs to know about route i, prepared
# from data once (custom.precompute): the reason's prefix and the route's
# requirement ("need") in a form that is cheap to check per request.
# verdict(need) is {"allow": bool, "reason": string}.
# ---------------------------------------------------------------------------

# METADATA
# custom:
#   precompute: true
route_info[i] := {"label": sprintf("route %d (%s): ", [i, route_label(r)]), "need": route_need(r)} if {
	some i, r in route_objects
}

route_need(r) := {"kind": "public"} if r.public == true

route_need(r) := {"kind": "login"} if r.login == true

route_need(r) := {"kind": "staff"} if r.staff == true

route_need(r) := {"kind": "permissions", "perms": perms, "has": has_reason(perms)} if {
	is_string_or_array(r.permission)
	perms := as_list(r.permission)
}

route_need(r) := {"kind": "groups", "groups": as_list(r.group)} if is_string_or_array(r.group)

# A model route's permission for each method it allows.
route_need(r) := {"kind": "model", "model": r.model, "by_method": {method: {"perms": [perm], "has": has_reason([perm])} |
	some method, action in model_actions
	perm := model_permission(r.model, action)
}} if is_string(r.model)

has_reason(perms) := concat("", ["has ", concat(", ", perms)])

# Django model permissions by HTTP method (the "action" in
# app_label.<action>_<model>).
model_actions := {
	"GET": "view",
	"HEAD": "view",
	"POST": "add",
	"PUT": "change",
	"PATCH": "change",
	"DELETE": "delete",
}

# The route's own verdict, widened by an object-level rule (object_grants,
# below) when one grants this request. It only ever turns a deny of a
# `model:` route into an allow, for an active user, when a grant names the
# route's model and the method's action; every other verdict is the route's
# own.
verdict(need) := object_verdict(need, need_verdict(need))

object_verdict(need, v) := {"allow": true, "reason": sprintf("object rule: %s (route alone: %s)", [reasons[0], v.reason])} if {
	v.allow == false
	need.kind == "model"
	action := model_actions[input.request.method]
	django.is_active
	reasons := sort([g.reason |
		some g in object_grants
		g.model == need.model
		g.action == action
	])
	count(reasons) > 0
} else := v

need_verdict(need) := {"allow": true, "reason": "public"} if {
	need.kind == "public"
} else := {"allow": false, "reason": sprintf("method %s is not allowed on model %s (GET, HEAD, POST, PUT, PATCH, DELETE are)", [input.request.method, need.model])} if {
	need.kind == "model"
	not need.by_method[input.request.method]
} else := {"allow": false, "reason": "login required"} if {
	django.standing == "anonymous"
} else := {"allow": false, "reason": "user is inactive"} if {
	django.standing == "inactive"
} else := v if {
	v := active_verdict(need)
} else := {"allow": false, "reason": "route has no valid requirement"}

# From here on the user is authenticated and active.

active_verdict(need) := permissions_verdict(need.by_method[input.request.method]) if {
	need.kind == "model"
} else := permissions_verdict(need) if {
	need.kind == "permissions"
} else := {"allow": true, "reason": "logged in"} if {
	need.kind == "login"
} else := group_verdict(need.groups) if {
	need.kind == "groups"
} else := staff_verdict if {
	need.kind == "staff"
}

staff_verdict := {"allow": true, "reason": "staff"} if {
	django.is_active_staff
} else := {"allow": false, "reason": "staff only"}

# required is {"perms": [...], "has": "has ..."} (precomputed).
permissions_verdict(required) := {"allow": true, "reason": required.has} if {
	count(required.perms) > 0
	django.has_perms(required.perms)
} else := {"allow": false, "reason": concat("", ["missing permission ", concat(", ", missing)])} if {
	missing := [p | some p in required.perms; not django.has_perm(p)]
	count(missing) > 0
} else := {"allow": false, "reason": "empty permission list"}

group_verdict(groups) := {"allow": true, "reason": concat("", ["member of ", member[0]])} if {
	member := [g | some g in groups; django.in_group(g)]
	count(member) > 0
} else := {"allow": false, "reason": concat("", ["not a member of ", concat(" or ", groups)])}

# "blog.post", "change" -> "blog.change_post"
model_permission(model, action) := concat("", [parts[0], ".", action, "_", parts[1]]) if {
	parts := split(model, ".")
	count(parts) == 2
}

as_list(x) := [x] if is_string(x)

as_list(x) := x if is_array(x)

is_string_or_array(x) if is_string(x)

is_string_or_array(x) if is_array(x)

# ---------------------------------------------------------------------------
# Object-level rules (EXAMPLE: edit or replace this section).
#
# Rules about one specific object named in the path, added to the route
# table. Django's ModelBackend grants nothing for a specific object
# (has_perm(perm, obj) is False for every obj); object permissions come only
# from an extra backend. object_grants is that extra backend: verdict(r)
# above consults it only when all of these hold (see "Object-level rules" in
# policies/README.md):
#   * the route that decides (first match wins) is a `model:` route, its own
#     requirement denied the request, and the grant's model is that route's
#     model;
#   * the grant's action is the method's model action (PUT/PATCH -> change,
#     DELETE -> delete, ...);
#   * the user is authenticated and active.
# So it can only ADD requests on the object routes it names.
#
# The example: PUT/PATCH/DELETE /api/blog/post/<id>/ is allowed to the post's
# author, the owner taken from data.gateway.objects.blog.post[<id>]
# (policies/objects.yaml, an example file to replace or feed from a bundle).
# Everybody else still needs blog.change_post / blog.delete_post (route 7).
# ---------------------------------------------------------------------------

# A grant is {"model": "app_label.model", "action": "change" | ..., "reason": string}.
# Add rules to this set for other objects; keep each one tied to a path shape.
object_grants contains {"model": "blog.post", "action": action, "reason": sprintf("author of blog.post %s", [id])} if {
	django.is_active
	action := post_actions[input.request.method]
	id := post_id
	author := data.gateway.objects.blog.post[id].author
	is_string(author)
	author != ""
	author == input.user.username
}

# The actions an author may take on their own post.
post_actions := {"PUT": "change", "PATCH": "change", "DELETE": "delete"}

# The post id of /api/blog/post/<id>/ (trailing slash required, nothing
# after it), from the percent-decoded segments. Only canonical positive
# integers ("3", not "03", "3.0", "..", "3/4" from an encoded slash) count,
# and the canonical path must spell the same id, so a hand-made input whose
# path and parsed_path disagree never matches.
post_id := id if {
	["api", "blog", "post", id, ""] = input.request.parsed_path
	is_string(id)
	regex.match(`^[1-9][0-9]{0,18}$`, id)
	input.request.path == concat("", ["/api/blog/post/", id, "/"])
}

# ---------------------------------------------------------------------------
# Profile rules (EXAMPLE: edit or replace this section).
#
# Rules on the custom user fields ops declare in config.yaml
# (profile_fields), read as input.user.profile.<name> with their declared
# types (see "Profile fields" in policies/README.md). profile_denials can
# only NARROW the route table: each element is a reason to deny a request
# the routes allow; it never allows anything.
#
# A field a user has no value for (and no default) is absent from
# input.user.profile, so write these rules with `not` around the positive
# condition, as below: an absent value then denies instead of making the
# rule undefined.
#
# The example: department reports, /reports/departments/<department>/...,
# are readable only by users whose profile field "department" is that
# department, on top of route 4's reports.view_report (superusers too: a
# department is not a permission). It needs a declared string field named
# department; without one every such request is denied.
# ---------------------------------------------------------------------------

profile_denials contains sprintf("reports of department %q are for members of that department only", [dept]) if {
	dept := report_department
	not user_in_department(dept)
}

# The department of /reports/departments/<department>/..., from the
# percent-decoded segments; undefined for other paths.
report_department := dept if {
	["reports", "departments", dept] = array.slice(input.request.parsed_path, 0, 3)
	is_string(dept)
	dept != ""
}

user_in_department(dept) if input.user.profile.department == dept

# ---------------------------------------------------------------------------
# Route data validation. The gateway refuses to load a policy whose
# config_errors is not empty (and keeps the previous one), so a typo in
# data.yaml can't silently open or close a route. One message per problem,
# naming the route by its 0-based index in data.gateway.routes.
# ---------------------------------------------------------------------------

matcher_keys := ["glob", "path", "prefix"]

requirement_keys := ["group", "login", "model", "permission", "public", "staff"]

known_keys := {"methods"} | ({k | some k in matcher_keys} | {k | some k in requirement_keys})

# The same rules as the gateway's user store (authn.ValidatePermission).
permission_pattern := `^[a-z_][a-z0-9_]*\.[A-Za-z0-9_]+$`

model_pattern := `^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$`

method_pattern := `^[A-Z]+$`

config_errors contains "data.gateway.routes must be a list of routes" if {
	not is_array(data.gateway.routes)
}

config_errors contains msg if {
	some i, r in data.gateway.routes
	not is_object(r)
	msg := sprintf("route %d: must be a mapping (path/prefix/glob, optional methods, one requirement), got %v", [i, r])
}

config_errors contains msg if {
	some i, r in route_objects
	found := [k | some k in matcher_keys; k in object.keys(r)]
	count(found) != 1
	msg := sprintf("route %d: needs exactly one matcher of path, prefix, glob; found %d%s", [i, count(found), listing(found)])
}

config_errors contains msg if {
	some i, r in route_objects
	found := [k | some k in requirement_keys; k in object.keys(r)]
	count(found) != 1
	msg := sprintf("route %d: needs exactly one requirement of public, login, staff, permission, group, model; found %d%s", [i, count(found), listing(found)])
}

config_errors contains msg if {
	some i, r in route_objects
	some k, _ in r
	not k in known_keys
	msg := sprintf("route %d: unknown key %q (known: %s)", [i, k, concat(", ", sort(known_keys))])
}

config_errors contains msg if {
	some i, r in route_objects
	some k in matcher_keys
	pattern := r[k]
	not absolute(pattern)
	msg := sprintf("route %d: %s must be a string starting with \"/\", got %v", [i, k, pattern])
}

config_errors contains msg if {
	some i, r in route_objects
	absolute(r.glob)
	not valid_glob(r.glob)
	msg := sprintf("route %d: invalid glob pattern %q", [i, r.glob])
}

config_errors contains msg if {
	some i, r in route_objects
	"methods" in object.keys(r)
	not non_empty_array(r.methods)
	msg := sprintf("route %d: methods must be a non-empty list of upper-case HTTP methods such as [GET, HEAD], got %v", [i, r.methods])
}

config_errors contains msg if {
	some i, r in route_objects
	is_array(r.methods)
	some m in r.methods
	not matches(method_pattern, m)
	msg := sprintf("route %d: method %v must be an upper-case HTTP method such as GET", [i, m])
}

config_errors contains msg if {
	some i, r in route_objects
	some k in ["public", "login", "staff"]
	value := r[k]
	value != true
	msg := sprintf("route %d: %s must be true, got %v (remove the key and pick another requirement instead)", [i, k, value])
}

config_errors contains msg if {
	some i, r in route_objects
	"permission" in object.keys(r)
	not string_or_non_empty_array(r.permission)
	msg := sprintf("route %d: permission must be \"app_label.codename\" or a non-empty list of them, got %v", [i, r.permission])
}

config_errors contains msg if {
	some i, r in route_objects
	some p in as_list(r.permission)
	not matches(permission_pattern, p)
	msg := sprintf("route %d: malformed permission %v (want \"app_label.codename\", e.g. \"blog.change_post\")", [i, p])
}

config_errors contains msg if {
	some i, r in route_objects
	"group" in object.keys(r)
	not string_or_non_empty_array(r.group)
	msg := sprintf("route %d: group must be a group name or a non-empty list of them, got %v", [i, r.group])
}

config_errors contains msg if {
	some i, r in route_objects
	some g in as_list(r.group)
	not non_empty_string(g)
	msg := sprintf("route %d: malformed group name %v (want a non-empty string)", [i, g])
}

config_errors contains msg if {
	some i, r in route_objects
	"model" in object.keys(r)
	not matches(model_pattern, r.model)
	msg := sprintf("route %d: malformed model %v (want \"app_label.model\" with the model name in lower case, e.g. \"blog.post\")", [i, r.model])
}

# ---------------------------------------------------------------------------
# Route warnings. The gateway logs config_warnings at load (they never block
# it): requirements naming a permission or model that no declared model
# (data.gateway.models, policies/models.yaml, or Django's built-in auth and
# contenttypes models) provides. Models imported with `gateway import-django`
# live in the store, which the policy cannot see: declare them in
# models.yaml too to silence the warning.
# ---------------------------------------------------------------------------

builtin_models := {"auth.permission", "auth.group", "auth.user", "contenttypes.contenttype"}

model_declarations := data.gateway.models if is_object(data.gateway.models)

else := {}

declared_models := builtin_models | {m | some m, _ in model_declarations}

# Every permission the declared models provide, as "app_label.codename".
declared_permissions contains perm if {
	some model in declared_models
	some action in model_default_actions(model)
	perm := model_permission(model, action)
}

declared_permissions contains perm if {
	some model, decl in model_declarations
	some codename, _ in object.get(decl, "permissions", {})
	perm := concat("", [split(model, ".")[0], ".", codename])
}

model_default_actions(model) := model_declarations[model].default_permissions if {
	is_array(model_declarations[model].default_permissions)
} else := ["add", "change", "delete", "view"]

config_warnings contains msg if {
	some i, r in route_objects
	some p in as_list(r.permission)
	not p in declared_permissions
	msg := sprintf("route %d: permission %s is not declared by any model in data.gateway.models; only superusers can hold it until it is declared or imported", [i, p])
}

config_warnings contains msg if {
	some i, r in route_objects
	is_string(r.model)
	not r.model in declared_models
	msg := sprintf("route %d: model %s is not declared in data.gateway.models; only superusers can hold its permissions until it is declared or imported", [i, r.model])
}

# The routes that are objects, by index.
route_objects[i] := r if {
	some i, r in data.gateway.routes
	is_object(r)
}

listing(found) := "" if count(found) == 0

listing(found) := sprintf(" (%s)", [concat(", ", found)]) if count(found) > 0

absolute(s) if {
	is_string(s)
	startswith(s, "/")
}

# glob.match fails (undefined) on a pattern it can't compile.
valid_glob(pattern) if {
	_ := glob.match(pattern, ["/"], "/")
}

matches(pattern, s) if {
	is_string(s)
	regex.match(pattern, s)
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

non_empty_array(a) if {
	is_array(a)
	count(a) > 0
}

string_or_non_empty_array(x) if is_string(x)

string_or_non_empty_array(x) if non_empty_array(x)
